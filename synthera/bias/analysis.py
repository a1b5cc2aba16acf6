"""Where does bias come from? Group representation, base rates, model disparity and proxy features.

:func:`analyze_bias` looks at one table (real or synthetic) with a target and
one or more sensitive columns, and returns a :class:`BiasReport` in the
format of ``synthera evaluate`` (``results.json`` + ``report.html``):

``representation``
    rows and share of each group (each sensitive column, and their
    intersection when there are several);
``base_rates``
    the rate of the positive label per group, the largest gap, and the
    disparate-impact ratio (lowest rate / highest; below 0.8 fails the
    "four-fifths rule" of US employment law);
``model``
    a LightGBM model trained on the table to predict the target (tested on
    ``holdout`` when given, else 5-fold cross-validated predictions):
    accuracy, ROC AUC, and Fairlearn's selection rate, true- and
    false-positive rate per group, demographic parity and equalized odds
    differences;
``proxies``
    for each sensitive column, which other columns carry its information:
    the uncertainty coefficient ``I(S; X) / H(S)`` of each feature (the share
    of the sensitive attribute's entropy the feature explains; numbers are
    cut into 10 quantile bins), and how well a LightGBM model predicts the
    sensitive column from all the others (cross-validated ROC AUC), with each
    feature's share of that model's split gain.

``amplification`` (when ``synthetic`` is given: a synthetic table learned
    from this one)
    the same model trained once on this table and once on the synthetic one,
    both tested on the same rows (the holdout, else this table, the real model
    by cross-validation); per group set and per disparity metric
    (``demographic_parity_difference``, ``equalized_odds_difference``):
    ``real``, ``synthetic``, ``amplification`` (synthetic minus real) with its
    95% bootstrap ``interval`` over paired resamples of the test rows (a Bayesian
    bootstrap with a Jeffreys prior on each group's rates, see
    :func:`~synthera.evaluate.fairness.bootstrap_disparity`),
    ``real_interval`` (the real model's own bootstrap noise), and
    ``amplified``: true when the whole interval of the amplification lies
    above 0.

The positive label is the target's rarer class (a boolean's true value),
as in ``synthera evaluate``, unless ``positive`` names it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from synthera._columns import to_seconds
from synthera.errors import DataError, UserInputError
from synthera.evaluate._data import MAX_GROUPS, check_group_column
from synthera.evaluate.models import PROBE_TREES, TASK_TREES, gradient_boosting
from synthera.evaluate.report import Report
from synthera.metadata import Metadata, infer_metadata

__all__ = ["MAX_GROUPS", "MAX_ROWS", "BiasReport", "analyze_bias"]

MAX_ROWS = 100_000
_BINS = 10
_FOLDS = 5
_TOP_PROXIES = 10


class BiasReport(Report):
    """What :func:`analyze_bias` returns; ``to_json`` as in evaluate, ``to_html`` a bias page."""

    def to_html(self) -> str:
        from synthera.bias.report import render

        return render(self.results)


def analyze_bias(
    data: pd.DataFrame,
    *,
    target: str,
    sensitive: Sequence[str],
    metadata: Metadata | None = None,
    holdout: pd.DataFrame | None = None,
    positive: Any = None,
    seed: int = 0,
    synthetic: pd.DataFrame | None = None,
) -> BiasReport:
    """Analyse the bias of ``data`` towards the groups of ``sensitive`` on ``target`` (see the module docstring).

    Examples
    --------
    >>> from synthera import datasets
    >>> train, test = datasets.load("adult")
    >>> report = analyze_bias(train, target="income", sensitive=["sex"], holdout=test)   # doctest: +SKIP
    >>> report["base_rates"]["sex"]["rate"]   # doctest: +SKIP
    {'Female': 0.109..., 'Male': 0.305...}
    """
    from synthera import __version__

    sensitive = list(dict.fromkeys(sensitive))
    data, holdout, md = _check(data, target, sensitive, metadata, holdout)
    if synthetic is not None:
        synthetic = _check_synthetic(data, synthetic, target)
    if len(data) > MAX_ROWS:
        data = data.sample(MAX_ROWS, random_state=seed).reset_index(drop=True)
    classes, pos = _positive(data, md, target, positive)
    timings: dict[str, float] = {}
    results: dict = {
        "synthera_version": __version__, "kind": "bias", "rows": {"data": len(data)},
        "target": target, "positive_label": str(classes[pos]), "sensitive": sensitive,
        "errors": [], "skipped": [], "timings_s": timings,
    }
    if holdout is not None:
        results["rows"]["holdout"] = len(holdout)
    if synthetic is not None:
        results["rows"]["synthetic"] = len(synthetic)
    sets = [[c] for c in sensitive] + ([sensitive] if len(sensitive) > 1 else [])
    labels = {" & ".join(cols): _groups(data, cols) for cols in sets}
    y = (data[target].astype(str) == str(classes[pos])).to_numpy().astype(int)

    start = time.perf_counter()
    results["representation"] = {name: _representation(g) for name, g in labels.items()}
    results["base_rates"] = {name: _base_rates(g, y) for name, g in labels.items()}
    timings["representation_and_base_rates"] = round(time.perf_counter() - start, 3)

    shared: dict = {}
    sections = [("model", lambda: _model(data, holdout, md, target, classes, pos, sets, seed, shared)),
                ("proxies", lambda: _proxies(data, md, target, sensitive, seed))]
    if synthetic is not None:
        sections.append(("amplification", lambda: _amplification(synthetic, md, target, classes, pos, sets, seed,
                                                                 shared)))
    for section, fn in sections:
        start = time.perf_counter()
        try:
            results[section] = fn()
        except UserInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - one failing part is a row in errors, not a crash
            results[section] = {}
            results["errors"].append({"metric": section, "section": section,
                                      "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"})
        timings[section] = round(time.perf_counter() - start, 3)
    results["headline"] = headline(results)
    return BiasReport(results)


# --------------------------------------------------------------------------- checks


def _check(data, target, sensitive, metadata, holdout):
    if not isinstance(data, pd.DataFrame):
        raise UserInputError(f"the data must be a pandas DataFrame; got {type(data).__name__}")
    if len(data) == 0:
        raise DataError("the table has no rows; bias analysis needs data")
    if not sensitive:
        raise UserInputError("name at least one sensitive column (pass sensitive COLUMN)")
    md = infer_metadata(data, hints=metadata) if metadata is not None else infer_metadata(data)
    for col in [target, *sensitive]:
        if col not in data.columns:
            raise UserInputError(f"unknown column '{col}'; the columns are: {', '.join(map(str, data.columns))}")
    if target in sensitive:
        raise UserInputError(f"'{target}' cannot be both the target and a sensitive column; pick one")
    if md[target].kind not in ("categorical", "boolean"):
        raise UserInputError(f"the target '{target}' is {md[target].kind}; bias analysis needs a categorical target "
                             "(bin a numerical one first, e.g. income > 50K)")
    for col in sensitive:
        check_group_column(data, md, col)
    data = data[data[target].notna()].reset_index(drop=True)
    if data[target].nunique() < 2:
        raise DataError(f"the target '{target}' has fewer than two classes; pick another target")
    if holdout is not None:
        missing = [c for c in data.columns if c not in holdout.columns]
        if missing:
            raise UserInputError(f"the holdout table lacks column(s) {', '.join(map(str, missing[:5]))}; "
                                 "it must have the same columns as the data")
        holdout = holdout[holdout[target].notna()].reset_index(drop=True)
        if len(holdout) == 0:
            raise DataError(f"the holdout table has no rows with a '{target}' value")
    return data, holdout, md


def _positive(data, md, target, positive):
    classes = sorted(data[target].astype(str).unique())
    if positive is not None:
        if str(positive) not in classes:
            raise UserInputError(f"positive {positive!r} is not a value of '{target}'; it takes {', '.join(classes)}")
        return classes, classes.index(str(positive))
    col = md[target]
    if col.kind == "boolean" and str(col.true_value) in classes:
        return classes, classes.index(str(col.true_value))
    counts = data[target].astype(str).value_counts()
    return classes, classes.index(min(classes, key=lambda c: (counts[c], c)))


def _groups(frame: pd.DataFrame, cols: list[str]) -> pd.Series:
    parts = [frame[c].map(lambda v: "<null>" if pd.isna(v) else str(v)) for c in cols]
    out = parts[0]
    for p in parts[1:]:
        out = out + " & " + p
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- representation, base rates


def _representation(groups: pd.Series) -> dict:
    counts = groups.value_counts()
    shares = counts / counts.sum()
    return {"groups": {str(g): {"rows": int(counts[g]), "share": float(shares[g])} for g in counts.index},
            "smallest_share": float(shares.min()), "largest_share": float(shares.max())}


def _base_rates(groups: pd.Series, y: np.ndarray) -> dict:
    rate = pd.Series(y).groupby(groups.to_numpy()).mean()
    rate = rate.sort_values(ascending=False)
    top, low = float(rate.max()), float(rate.min())
    return {"rate": {str(g): float(r) for g, r in rate.items()}, "overall": float(y.mean()),
            "difference": top - low, "ratio": low / top if top > 0 else None,
            "four_fifths_rule": bool(top == 0 or low / top >= 0.8)}


# --------------------------------------------------------------------------- model disparity


def _model(data, holdout, md, target, classes, pos, sets, seed, shared: dict | None = None) -> dict:
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from synthera.bias._features import MODELLED, feature_frame
    from synthera.evaluate.fairness import group_disparity

    features = [c for c in data.columns if c != target and md[c].kind in MODELLED]
    if not features:
        raise UserInputError("the table has no feature columns besides the target; a model needs at least one")
    y = (data[target].astype(str) == classes[pos]).to_numpy().astype(int)
    x = feature_frame(data, md, features)
    if holdout is not None:
        model = gradient_boosting(len(x), seed, n_estimators=TASK_TREES).fit(x, y)
        proba = model.predict_proba(feature_frame(holdout, md, features))[:, 1]
        y_test, test, how = (holdout[target].astype(str) == classes[pos]).to_numpy().astype(int), holdout, "holdout"
    else:
        n_splits = int(min(_FOLDS, np.bincount(y).min()))
        if n_splits < 2:
            raise DataError(f"the rarer class of '{target}' has fewer than 2 rows; a model cannot be cross-validated "
                            "(give a holdout)")
        proba = np.zeros(len(data))
        folds = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
        for train_idx, test_idx in folds.split(x, y):
            model = gradient_boosting(len(train_idx), seed, n_estimators=TASK_TREES)
            model.fit(x.iloc[train_idx], y[train_idx])
            proba[test_idx] = model.predict_proba(x.iloc[test_idx])[:, 1]
        y_test, test, how = y, data, f"{n_splits}-fold cross-validation"
    pred = (proba >= 0.5).astype(int)
    if shared is not None:  # amplification tests the synthetic-trained model on the same rows
        shared.update(features=features, test=test, y_test=y_test, pred=pred, how=how)
    out = {"model": "lightgbm", "tested_on": how, "test_rows": len(test),
           "accuracy": float(accuracy_score(y_test, pred)),
           "roc_auc": float(roc_auc_score(y_test, proba)) if len(set(y_test)) > 1 else None, "groups": {}}
    for cols in sets:
        name = " & ".join(cols)
        summary, _ = group_disparity(y_test, pred, _groups(test, cols).rename(name))
        out["groups"][name] = summary
    return out


# --------------------------------------------------------------------------- amplification


def _check_synthetic(data: pd.DataFrame, synthetic, target: str) -> pd.DataFrame:
    if not isinstance(synthetic, pd.DataFrame):
        raise UserInputError(f"the synthetic table must be a pandas DataFrame; got {type(synthetic).__name__}")
    missing = [c for c in data.columns if c not in synthetic.columns]
    if missing:
        raise UserInputError(f"the synthetic table lacks column(s) {', '.join(map(str, missing[:5]))}; "
                             "it must have the same columns as the data")
    synthetic = synthetic[synthetic[target].notna()].reset_index(drop=True)
    if synthetic[target].nunique() < 2:
        raise DataError(f"the synthetic table has fewer than two classes in '{target}'; a model cannot learn from it")
    return synthetic


def _amplification(synthetic, md, target, classes, pos, sets, seed, shared: dict) -> dict:
    """Disparity of a model trained on ``synthetic`` minus that of the same model trained on the data."""
    from synthera.bias._features import feature_frame
    from synthera.evaluate.fairness import DISPARITIES, bootstrap_disparity, finite_or_none, group_disparity

    if "pred" not in shared:
        raise RuntimeError("the real-trained model failed; nothing to compare with")
    features, test, y_test = shared["features"], shared["test"], shared["y_test"]
    y = (synthetic[target].astype(str) == classes[pos]).to_numpy().astype(int)
    model = gradient_boosting(len(synthetic), seed, n_estimators=TASK_TREES)
    model.fit(feature_frame(synthetic, md, features), y)
    preds = {"real": shared["pred"],
             "synthetic": (model.predict_proba(feature_frame(test, md, features))[:, 1] >= 0.5).astype(int)}
    out = {"model": "lightgbm", "tested_on": shared["how"], "test_rows": len(test), "groups": {}}
    for cols in sets:
        name = " & ".join(cols)
        groups = _groups(test, cols).rename(name)
        point = {k: group_disparity(y_test, p, groups)[0] for k, p in preds.items()}
        draws = bootstrap_disparity(y_test, preds, groups.to_numpy(), seed)
        entry = {}
        for metric in DISPARITIES:
            diff = draws["synthetic"][metric] - draws["real"][metric]
            interval = _quantiles(diff)
            real, syn = point["real"][metric], point["synthetic"][metric]
            entry[metric] = {"real": finite_or_none(real), "synthetic": finite_or_none(syn),
                             "amplification": finite_or_none(syn - real), "interval": interval,
                             "real_interval": _quantiles(draws["real"][metric]),
                             "amplified": bool(interval[0] is not None and interval[0] > 0)}
        out["groups"][name] = entry
    return out


def _quantiles(values: np.ndarray) -> list[float | None]:
    values = values[np.isfinite(values)]
    return [float(v) for v in np.quantile(values, [0.025, 0.975])] if values.size else [None, None]


# --------------------------------------------------------------------------- proxies


def _proxies(data, md, target, sensitive, seed) -> dict:
    from sklearn.metrics import mutual_info_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from synthera.bias._features import MODELLED, feature_frame

    out = {}
    for col in sensitive:
        features = [c for c in data.columns if c not in (col, target) and md[c].kind in MODELLED]
        s_codes, s_levels = pd.factorize(data[col].map(lambda v: "<null>" if pd.isna(v) else str(v)))
        entropy = _entropy(s_codes)
        scores = {}
        for f in features:
            codes = _discretise(data[f], md[f])
            mi = mutual_info_score(s_codes, codes)
            scores[f] = mi / entropy if entropy > 0 else 0.0
        entry: dict = {"uncertainty_coefficient": dict(sorted(scores.items(), key=lambda kv: -kv[1]))}
        if features and len(s_levels) > 1:
            x = feature_frame(data, md, features)
            counts = np.bincount(s_codes)
            n_splits = int(min(_FOLDS, counts.min()))
            if n_splits >= 2:
                proba = np.zeros((len(data), len(s_levels)))
                gain = np.zeros(len(features))
                for train_idx, test_idx in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(x, s_codes):
                    model = gradient_boosting(len(train_idx), seed, n_estimators=PROBE_TREES)
                    model.fit(x.iloc[train_idx], s_codes[train_idx])
                    proba[np.ix_(test_idx, model.classes_)] = model.predict_proba(x.iloc[test_idx])
                    gain += model.booster_.feature_importance(importance_type="gain")
                if len(s_levels) == 2:
                    auc = roc_auc_score(s_codes, proba[:, 1])
                else:
                    auc = roc_auc_score(s_codes, proba, multi_class="ovr", average="macro")
                share = gain / gain.sum() if gain.sum() > 0 else gain
                entry["predictability_auc"] = float(auc)
                entry["gain_share"] = dict(sorted(((f, float(v)) for f, v in zip(features, share, strict=True)),
                                                  key=lambda kv: -kv[1]))
            else:
                entry["predictability_note"] = f"a group of '{col}' has fewer than 2 rows; no model fitted"
        out[col] = entry
    return out


def _entropy(codes: np.ndarray) -> float:
    p = np.bincount(codes) / len(codes)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _discretise(series: pd.Series, col) -> np.ndarray:
    """Codes for mutual information: numbers and dates in quantile bins, labels as they are; nulls get their own."""
    kind = col.kind
    if kind in ("numerical", "datetime"):
        values = pd.to_numeric(series, errors="coerce") if kind == "numerical" else \
            pd.Series(to_seconds(series, col), index=series.index)
        binned = pd.qcut(values.rank(method="first"), _BINS, labels=False, duplicates="drop") \
            if values.notna().sum() >= _BINS else values
        return pd.factorize(binned.fillna(-1))[0]
    return pd.factorize(series.map(lambda v: "<null>" if pd.isna(v) else str(v)))[0]


# --------------------------------------------------------------------------- headline


def headline(results: dict) -> list[str]:
    """A few plain sentences, most important first."""
    lines = []
    pos = results["positive_label"]
    for name, rates in results["base_rates"].items():
        ordered = list(rates["rate"].items())
        hi, lo = ordered[0], ordered[-1]
        ratio = f"; ratio {rates['ratio']:.2f}{'' if rates['four_fifths_rule'] else ', below the four-fifths rule'}" \
            if rates["ratio"] is not None else ""
        lines.append(f"By {name}, '{pos}' rates run from {lo[1]:.1%} ({lo[0]}) to {hi[1]:.1%} ({hi[0]}){ratio}.")
    for name, rep in results["representation"].items():
        smallest = min(rep["groups"].items(), key=lambda kv: kv[1]["share"])
        lines.append(f"Smallest {name} group: {smallest[0]}, {smallest[1]['share']:.1%} of rows "
                     f"({smallest[1]['rows']:,}).")
    model = results.get("model") or {}
    for name, entry in (model.get("groups") or {}).items():
        lines.append(f"A model trained on this table ({model['tested_on']}) has demographic parity difference "
                     f"{entry['demographic_parity_difference']:.3f} and equalized odds difference "
                     f"{entry['equalized_odds_difference']:.3f} by {name}.")
    lines.extend(_amplification_lines(results.get("amplification") or {}))
    for col, entry in (results.get("proxies") or {}).items():
        top = list(entry["uncertainty_coefficient"].items())[:3]
        if not top:
            continue
        named = ", ".join(f"{f} ({v:.0%})" for f, v in top)
        auc = f"; the other columns predict {col} with AUC {entry['predictability_auc']:.2f}" \
            if "predictability_auc" in entry else ""
        lines.append(f"Strongest proxies of {col}: {named} of its information{auc}.")
    if results["errors"]:
        lines.append(f"{len(results['errors'])} part(s) could not be computed: "
                     + ", ".join(e["metric"] for e in results["errors"]) + " (see errors).")
    return lines


def _amplification_lines(amp: dict) -> list[str]:
    names = {"demographic_parity_difference": "demographic parity difference",
             "equalized_odds_difference": "equalized odds difference"}
    lines = []
    for name, entry in (amp.get("groups") or {}).items():
        for metric, label in names.items():
            e = entry[metric]
            if e["amplification"] is None or e["interval"][0] is None:
                continue
            verdict = "amplified" if e["amplified"] else \
                "reduced" if e["interval"][1] < 0 else "not amplified beyond sampling noise"
            lines.append(f"Bias amplification by {name}: {label} {e['synthetic']:.3f} when trained on the synthetic "
                         f"table against {e['real']:.3f} on this one ({e['amplification']:+.3f}, 95% interval "
                         f"{e['interval'][0]:+.3f} to {e['interval'][1]:+.3f}): {verdict}.")
    return lines
