"""Utility: do models trained on synthetic data work on real data?

Train-on-synthetic, test-on-real (TSTR) against train-on-real, test-on-real
(TRTR): three models (logistic regression, random forest, LightGBM; linear
regression instead of logistic for a numerical target) are each fitted once on
the real table and once on the synthetic table and scored on the holdout.

Classification reports ``accuracy``, ``f1`` and ``roc_auc``; regression ``r2``.
For two classes F1 and ROC AUC are about the *positive label*, the real table's
rarer class (or a boolean's ``true_value``); for more classes they are macro
averages (ROC AUC one-vs-rest). ``ratio`` is TSTR / TRTR per score.
``trtr_interval`` / ``tstr_interval`` give 95% bootstrap intervals of
accuracy, two-class ROC AUC and R² (:data:`N_BOOTSTRAP` resamples of the
holdout predictions, the same resamples for both; no model is refitted).

Features are every evaluated column but the target, encoded as in
:class:`synthera.evaluate._data.EvalData` (numbers standardised, the 30 most
frequent labels one-hot). Training tables above :data:`MAX_TRAIN_ROWS` rows are
subsampled, uniformly and with a fixed seed.
"""

from __future__ import annotations

import numpy as np

from synthera.evaluate._data import EvalData
from synthera.evaluate.models import TASK_TREES, gradient_boosting
from synthera.evaluate.registry import register_metric

__all__ = ["MAX_TRAIN_ROWS", "MODELS", "fitted_models", "task", "utility"]

MAX_TRAIN_ROWS = 50_000
N_BOOTSTRAP = 200
_BOOTSTRAP_CHUNK = 25
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

    return data.cached(("task",), compute)


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
        return cls(n_estimators=50, min_samples_leaf=2, max_features="sqrt",
                   max_samples=min(1.0, 10_000 / max(n_rows, 1)),
                   n_jobs=2, random_state=seed)
    return gradient_boosting(n_rows, seed, classification=classification, n_estimators=TASK_TREES)


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

    return data.cached(("models",), compute)


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


def _resample_weights(n: int, rng: np.random.Generator):
    """Chunks of bootstrap weights: how often each holdout row is drawn, per resample."""
    for start in range(0, N_BOOTSTRAP, _BOOTSTRAP_CHUNK):
        b = min(_BOOTSTRAP_CHUNK, N_BOOTSTRAP - start)
        draws = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def _weighted_auc(weights: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC AUC per row of ``weights`` (ties count half), from one sort of the scores."""
    order = np.argsort(score, kind="stable")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    w = weights[:, order]
    pos = np.add.reduceat(w * positive[order], starts, axis=1)
    neg = np.add.reduceat(w * ~positive[order], starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))


def _bootstrap(spec: dict, y: np.ndarray, got: dict, seed: int) -> dict:
    """95% intervals of accuracy and two-class ROC AUC (or R²) over resamples of the holdout predictions."""
    rng = np.random.default_rng([seed, 71])  # the same resamples for every model and source
    n = len(y)
    draws: dict[str, list] = {}
    for w in _resample_weights(n, rng):
        if spec["kind"] == "regression":
            pred = got["pred"].astype(float)
            mean = (w @ y) / n
            total = w @ (y * y) - n * mean**2
            with np.errstate(invalid="ignore", divide="ignore"):
                draws.setdefault("r2", []).append(1.0 - (w @ (y - pred) ** 2) / total)
            continue
        draws.setdefault("accuracy", []).append((w @ (got["pred"].astype(int) == y)) / n)
        if spec["binary"] and got["proba"] is not None:
            positive = y == spec["positive"]
            draws.setdefault("roc_auc", []).append(_weighted_auc(w, positive, got["proba"][:, spec["positive"]]))
    out = {}
    for key, parts in draws.items():
        values = np.concatenate(parts)
        values = values[np.isfinite(values)]
        out[key] = [float(v) for v in np.quantile(values, [0.025, 0.975])] if values.size else [None, None]
    return out


@register_metric(
    "utility", section="utility", keys=("task", "models"), needs=("holdout", "target"),
    min_rows=("real", "synthetic", "holdout"),
)
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
                row[f"{label}_interval"] = _bootstrap(spec, fitted["y_test"], got, data.seed)
            else:
                row[label] = None
                row[f"{label}_error"] = fitted["errors"][source, name]
        if row.get("trtr") and row.get("tstr"):
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
