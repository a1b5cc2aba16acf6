"""Scores of a classifier on labelled rows: accuracy, F1 and ROC AUC.

The convention is that of :mod:`synthera.evaluate.utility`: with two classes
F1 and ROC AUC are about the *positive label* (the rarer class of the real
training table); with more classes they are macro averages, ROC AUC one
against the rest over the classes present.
"""

from __future__ import annotations

import numpy as np

__all__ = ["classification_scores", "log_loss", "positive_class"]


def positive_class(codes: np.ndarray, n_classes: int) -> int | None:
    """The rarer of two classes (ties: the later one), or ``None`` for more than two."""
    if n_classes != 2:
        return None
    counts = np.bincount(np.asarray(codes, dtype=int), minlength=2)
    return 0 if counts[0] < counts[1] else 1


def log_loss(codes: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes (probabilities clipped at 1e-12)."""
    codes = np.asarray(codes, dtype=int)
    picked = np.clip(proba[np.arange(len(codes)), codes], 1e-12, 1.0)
    return float(-np.log(picked).mean())


def classification_scores(codes: np.ndarray, proba: np.ndarray, *, positive: int | None = None) -> dict:
    """``{"accuracy", "f1", "roc_auc"}`` for true class codes and predicted probabilities.

    Parameters
    ----------
    codes : array of int
        True classes as indices into ``proba``'s columns; negative codes
        (labels the model never saw) count as wrong predictions.
    proba : array, shape (rows, classes)
        Predicted class probabilities.
    positive : int, optional
        The positive class for two classes; ``None`` gives macro averages.
        ``roc_auc`` is ``None`` when the rows hold a single class.

    Examples
    --------
    >>> import numpy as np
    >>> classification_scores(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), positive=1)
    {'accuracy': 0.6666666666666666, 'f1': 0.6666666666666666, 'roc_auc': 1.0}
    """
    from sklearn.metrics import f1_score, roc_auc_score

    codes = np.asarray(codes, dtype=int)
    pred = proba.argmax(axis=1)
    out = {"accuracy": float(np.mean(pred == codes))}
    if proba.shape[1] == 2 and positive is not None:
        truth = codes == positive
        out["f1"] = float(f1_score(truth, pred == positive, zero_division=0.0))
        out["roc_auc"] = float(roc_auc_score(truth, proba[:, positive])) if 0 < truth.sum() < len(truth) else None
        return out
    known = codes >= 0
    out["f1"] = float(f1_score(codes, pred, average="macro", zero_division=0.0))
    present = np.unique(codes[known])
    if present.size < 2:
        out["roc_auc"] = None
    elif present.size == 2:
        out["roc_auc"] = float(roc_auc_score(codes[known] == present[1], proba[known][:, present[1]]))
    else:
        p = proba[known][:, present]
        p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
        out["roc_auc"] = float(roc_auc_score(codes[known], p, multi_class="ovr", labels=present))
    return out
