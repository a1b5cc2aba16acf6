"""Utility: do models trained on synthetic data work on real data?

Train-on-synthetic, test-on-real (TSTR) against train-on-real, test-on-real
(TRTR): three models (logistic regression, random forest, LightGBM; linear
regression instead of logistic for a numerical target) are each fitted once on
the real table and once on the synthetic table and scored on the holdout.

Classification reports ``accuracy``, ``f1`` and ``roc_auc``; regression ``r2``.
For two classes F1 and ROC AUC are about the *positive label*, the real table's
rarer class (or a boolean's ``true_value``); for more classes they are macro
averages (ROC AUC one-vs-rest). ``ratio`` is TSTR / TRTR per score.

Features are every evaluated column but the target, encoded as in
:class:`synthera.evaluate._data.EvalData` (numbers standardised, the 30 most
frequent labels one-hot). Training tables above :data:`MAX_TRAIN_ROWS` rows are
subsampled, uniformly and with a fixed seed.
"""

from __future__ import annotations

import numpy as np

from synthera.evaluate._data import EvalData
from synthera.evaluate.fidelity import _booster
from synthera.evaluate.registry import register_metric

__all__ = ["MAX_TRAIN_ROWS", "MODELS", "fitted_models", "task", "utility"]

MAX_TRAIN_ROWS = 50_000
MODELS = ("logistic_regression", "random_forest", "lightgbm")


def task(data: EvalData) -> dict:
    """What is learned: ``kind`` (classification/regression), labels and positive label."""

    def compute():
        col = data.target
        if data.is_continuous(col):
            return {"kind": "regression"}
        codes = data.values("real", col)
        labels = data.categories(col)
        counts = np.bincount(codes[codes >= 0], minlength=len(labels))
        present = [i for i in range(len(labels)) if counts[i] > 0]
        if len(present) < 2:
            from synthera.errors import DataError

            raise DataError(f"target column '{col}' has fewer than two classes in the real table; pick another target")
        meta = data.metadata[col]
        positive = None
        if meta.kind == "boolean" and meta.true_value is not None and str(meta.true_value) in labels:
            positive = labels.index(str(meta.true_value))
        if positive is None:
            positive = min(present, key=lambda i: (counts[i], i))
        return {"kind": "classification", "labels": labels, "positive": positive, "binary": len(present) == 2}

    return data._cached(("task",), compute)


def _xy(data: EvalData, frame: str, *, limit: int | None = None):
    x = data.matrix(frame, exclude=(data.target,))
    spec = task(data)
    if spec["kind"] == "regression":
        y = data.values(frame, data.target)
        keep = ~np.isnan(y)
    else:
        y = data.values(frame, data.target)
        keep = y >= 0
    idx = np.flatnonzero(keep)
    if limit is not None and idx.size > limit:
        idx = np.sort(data.rng(7).choice(idx, limit, replace=False))
    return x[idx], y[idx], idx


def _make(name: str, kind: str, n_rows: int, seed: int):
    classification = kind == "classification"
    if name == "logistic_regression":
        from sklearn.linear_model import LinearRegression, LogisticRegression

        return LogisticRegression(max_iter=200, tol=1e-3) if classification else LinearRegression()
    if name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if classification else RandomForestRegressor
        return cls(n_estimators=50, min_samples_leaf=2, max_features="sqrt", max_samples=min(1.0, 10_000 / max(n_rows, 1)),
                   n_jobs=2, random_state=seed)
    return _booster(n_rows, seed, classification=classification, n_estimators=200)


def fitted_models(data: EvalData) -> dict:
    """``{(source, model): predictions on the holdout}``, trained once and shared with fairness."""

    def compute():
        spec = task(data)
        x_test, y_test, test_idx = _xy(data, "holdout")
        out = {"y_test": y_test, "test_index": test_idx, "errors": {}}
        for source in ("real", "synthetic"):
            x, y, _ = _xy(data, source, limit=MAX_TRAIN_ROWS)
            for name in MODELS:
                try:
                    if spec["kind"] == "classification" and np.unique(y).size < 2:
                        raise ValueError(f"the {source} table has a single class in '{data.target}'; nothing to learn")
                    model = _make(name, spec["kind"], len(y), data.seed).fit(x, y)
                    if hasattr(model, "n_jobs") and name == "random_forest":
                        model.n_jobs = 1  # threads sum tree votes in random order: predict in one, reproducibly
                    pred = model.predict(x_test)
                    proba = None
                    if spec["kind"] == "classification":
                        proba = np.zeros((len(x_test), len(spec["labels"])))
                        proba[:, model.classes_.astype(int)] = model.predict_proba(x_test)
                    out[source, name] = {"pred": np.asarray(pred), "proba": proba}
                except Exception as exc:  # noqa: BLE001 - one model failing is a row, not a crash
                    out["errors"][source, name] = f"{type(exc).__name__}: {exc}"
        return out

    return data._cached(("models",), compute)


def _scores(spec: dict, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, r2_score, roc_auc_score

    if spec["kind"] == "regression":
        return {"r2": float(r2_score(y, pred))}
    pred = pred.astype(int)
    out = {"accuracy": float(accuracy_score(y, pred))}
    if spec["binary"]:
        pos = spec["positive"]
        out["f1"] = float(f1_score(y == pos, pred == pos))
        out["roc_auc"] = float(roc_auc_score(y == pos, proba[:, pos])) if np.unique(y == pos).size == 2 else None
    else:
        out["f1"] = float(f1_score(y, pred, average="macro"))
        present = np.unique(y)
        if present.size > 2:
            p = proba[:, present]
            p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
            out["roc_auc"] = float(roc_auc_score(y, p, multi_class="ovr", labels=present))
        else:
            out["roc_auc"] = None
    return out


@register_metric("utility", section="utility", keys=("task", "models"), needs=("holdout", "target"))
def utility(data: EvalData) -> dict:
    """TSTR against TRTR for three models on the holdout."""
    spec = task(data)
    fitted = fitted_models(data)
    models = {}
    for name in MODELS:
        row = {}
        for source, label in (("real", "trtr"), ("synthetic", "tstr")):
            if (source, name) in fitted:
                got = fitted[source, name]
                row[label] = _scores(spec, fitted["y_test"], got["pred"], got["proba"])
            else:
                row[label] = None
                row[f"{label}_error"] = fitted["errors"][source, name]
        if row["trtr"] and row["tstr"]:
            row["ratio"] = {
                k: (row["tstr"][k] / row["trtr"][k] if row["trtr"][k] and row["tstr"][k] is not None else None)
                for k in row["trtr"]
            }
        models[name] = row
    info = {"target": data.target, "kind": spec["kind"], "test_rows": len(fitted["y_test"])}
    if spec["kind"] == "classification":
        info["classes"] = len(spec["labels"])
        info["positive_label"] = spec["labels"][spec["positive"]]
    return {"task": info, "models": models, "_plot": {"models": models, "kind": spec["kind"]}}
