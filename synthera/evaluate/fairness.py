"""Fairness: are groups treated alike by models trained on synthetic data?

For each sensitive column (and, when several are given, for their
intersection, e.g. ``sex & race``), the LightGBM models of
:mod:`synthera.evaluate.utility` (trained once on the real table and once on
the synthetic table) are scored on the holdout with Fairlearn's
``MetricFrame``. A prediction counts as *selected* when it is the task's
positive label (the real table's rarer class, or a boolean's true value).

``demographic_parity_difference``
    Largest gap in selection rate between groups (0 is equal treatment).
``equalized_odds_difference``
    Largest gap in true- or false-positive rate between groups.
``selection_rate_by_group``
    Selection rate per group, with group sizes in the holdout.
``representation_by_group``
    Each group's share of the real and of the synthetic table: a synthetic
    table that drops a minority cannot serve it.
``disparity_noise``
    For each of ``demographic_parity_difference`` and
    ``equalized_odds_difference``: the real-trained and the synthetic-trained
    model's value with a 95% interval over Bayesian-bootstrap resamples of the
    holdout rows (the real data's own sampling noise; see
    :func:`bootstrap_disparity`), ``amplification`` (synthetic
    minus real) with the interval of that paired difference, and ``amplified``:
    true when the synthetic-trained value lies above the real-trained value's
    interval. ``groups_moved`` names the groups whose selection rate under the
    synthetic-trained model falls outside their own interval under the
    real-trained model.
``by_group``
    Group-conditional fidelity, one entry per group: ``real_rows``,
    ``synthetic_rows``, ``holdout_rows``; ``column_shapes`` (mean KS / TV
    complement over the other columns, within the group; ``None`` under
    :data:`MIN_GROUP_ROWS` real or synthetic rows); ``holdout_column_shapes``
    (the same score between the real rows and the holdout's rows of the group:
    the real data's own sampling ceiling, which a small group cannot beat by
    much, whatever the model; ``None`` under :data:`MIN_GROUP_ROWS` holdout
    rows); ``target_rate``
    (``real`` with its 95% Jeffreys interval ``real_interval``, which stays
    open at a rate of 0 or 1, ``synthetic`` and
    ``within_interval``); ``tstr_gap`` (holdout accuracy of the real-trained
    model ``trtr``, of the synthetic-trained one ``tstr``, and ``gap`` =
    trtr - tstr, within the group; for a binary target, ``auc`` holds the
    same three for ROC AUC within the group where its holdout rows hold both
    classes: how well each model ranks the group's own people, which
    accuracy hides when a group's rate is low).

The headline names the sensitive columns whose disparity the synthetic data
amplifies beyond that noise, and the groups involved.

Columns with more than :data:`MAX_GROUPS` groups are refused with a message:
bin them first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthera.errors import UserInputError
from synthera.evaluate._data import MAX_GROUPS, EvalData, check_group_column
from synthera.evaluate.fidelity import ks_complement, tv_complement
from synthera.evaluate.registry import register_metric
from synthera.evaluate.utility import N_BOOTSTRAP, fitted_models, task

__all__ = ["DISPARITIES", "FAIRNESS_MODEL", "MAX_GROUPS", "MIN_GROUP_ROWS", "bootstrap_disparity",
           "check_group_column", "fairness", "finite_or_none", "group_disparity", "group_labels", "jeffreys_interval"]

FAIRNESS_MODEL = "lightgbm"
MIN_GROUP_ROWS = 20  # fewer real or synthetic rows in a group: no per-group column shapes
DISPARITIES = ("demographic_parity_difference", "equalized_odds_difference")


def group_labels(data: EvalData, frame: str, columns: tuple[str, ...]) -> np.ndarray:
    """One string label per row: the group of ``columns`` (joined by `` & ``)."""
    parts = []
    for col in columns:
        if data.is_continuous(col):
            raise UserInputError(
                f"sensitive column '{col}' is numerical; fairness needs groups: bin it into a categorical column first"
            )
        labels = np.array([*map(str, data.categories(col)), "<null>"], dtype=object)
        parts.append(labels[data.values(frame, col)])  # code -1 picks "<null>"
    out = parts[0]
    for p in parts[1:]:
        out = out + " & " + p
    return out


def _group_sets(data: EvalData) -> list[tuple[str, ...]]:
    sets = [(c,) for c in data.sensitive]
    if len(data.sensitive) > 1:
        sets.append(tuple(data.sensitive))
    return sets


@register_metric(
    "fairness", section="fairness", keys=("positive_label", "groups"), needs=("holdout", "target", "sensitive"),
    min_rows=("real", "synthetic", "holdout"),
)
def fairness(data: EvalData) -> dict:
    """Disparity with its bootstrap noise, selection rates, representation and fidelity per group."""
    spec = task(data)
    if spec["kind"] != "classification":
        raise UserInputError(
            f"fairness needs a categorical target; '{data.target}' is numerical; pick a categorical target"
        )
    for col in data.sensitive:
        n = len(data.categories(col)) if not data.is_continuous(col) else None
        if n is not None and n > MAX_GROUPS:
            raise UserInputError(
                f"sensitive column '{col}' has {n} groups; fairness compares at most {MAX_GROUPS}: "
                "merge rare groups first"
            )
    fitted = fitted_models(data)
    pos = spec["positive"]
    y_true = (fitted["y_test"] == pos).astype(int)
    results, plot = {}, {}
    for cols in _group_sets(data):
        name = " & ".join(cols)
        groups_test = group_labels(data, "holdout", cols)[fitted["test_index"]]
        sizes = pd.Series(groups_test).value_counts()
        entry = {"columns": list(cols)}
        by_model, preds, scores = {}, {}, {}
        for source in ("real", "synthetic"):
            got = fitted.get((source, FAIRNESS_MODEL))
            if got is None:
                entry[f"trained_on_{source}"] = {"error": fitted["errors"][source, FAIRNESS_MODEL]}
                continue
            y_pred = (got["pred"].astype(int) == pos).astype(int)
            preds[source] = y_pred
            if got.get("proba") is not None and spec["binary"]:
                scores[source] = got["proba"][:, pos]
            summary, table = group_disparity(y_true, y_pred, pd.Series(groups_test, name=name))
            for group, rates in summary["by_group"].items():
                rates["holdout_rows"] = int(sizes.get(group, 0))
            entry[f"trained_on_{source}"] = {
                "demographic_parity_difference": summary["demographic_parity_difference"],
                "equalized_odds_difference": summary["equalized_odds_difference"],
                "selection_rate_by_group": summary["by_group"],
            }
            by_model[source] = table["selection_rate"]
        if len(preds) == 2:
            entry["disparity_noise"] = _disparity_noise(entry, y_true, preds, groups_test, data.seed)
        real_groups, syn_groups = _representation(data, cols)
        entry["representation_by_group"] = {
            str(g): {"real": float(real_groups[g]), "synthetic": float(syn_groups[g])}
            for g in real_groups.sort_values(ascending=False).index
        }
        entry["largest_representation_gap"] = float((real_groups - syn_groups).abs().max())
        entry["by_group"] = _by_group(data, cols, pos, y_true, preds, groups_test, scores)
        results[name] = entry
        plot[name] = {"selection": by_model, "representation": (real_groups, syn_groups)}
    return {"positive_label": spec["labels"][pos], "groups": results, "_plot": plot}


def _representation(data: EvalData, cols: tuple[str, ...]) -> tuple[pd.Series, pd.Series]:
    real = pd.Series(group_labels(data, "real", cols)).value_counts(normalize=True)
    syn = pd.Series(group_labels(data, "synthetic", cols)).value_counts(normalize=True)
    both = real.index.union(syn.index)
    return real.reindex(both, fill_value=0.0), syn.reindex(both, fill_value=0.0)


def _interval(values: np.ndarray) -> list[float | None]:
    values = values[np.isfinite(values)]
    return [float(v) for v in np.quantile(values, [0.025, 0.975])] if values.size else [None, None]


def _disparity_noise(entry: dict, y_true: np.ndarray, preds: dict, groups: np.ndarray, seed: int) -> dict:
    """Bootstrap intervals of each disparity for both models, the paired amplification, and the moved groups."""
    draws = bootstrap_disparity(y_true, preds, groups, seed)
    out = {}
    for metric in DISPARITIES:
        real = entry["trained_on_real"][metric]
        syn = entry["trained_on_synthetic"][metric]
        real_iv = _interval(draws["real"][metric])
        out[metric] = {
            "real": finite_or_none(real), "real_interval": real_iv,
            "synthetic": finite_or_none(syn), "synthetic_interval": _interval(draws["synthetic"][metric]),
            "amplification": finite_or_none(syn - real),
            "amplification_interval": _interval(draws["synthetic"][metric] - draws["real"][metric]),
            "amplified": bool(real_iv[1] is not None and np.isfinite(syn) and syn > real_iv[1]),
        }
    moved = []
    for g, real_rates in draws["real"]["selection_rate"].items():
        lo, hi = _interval(real_rates)
        syn_rate = entry["trained_on_synthetic"]["selection_rate_by_group"].get(g, {}).get("selection_rate")
        if lo is not None and syn_rate is not None and not lo <= syn_rate <= hi:
            moved.append(g)
    out["groups_moved"] = moved
    return out


def bootstrap_disparity(y_true, preds: dict, groups, seed: int, n_boot: int = N_BOOTSTRAP) -> dict:
    """Disparities of several models' 0/1 predictions over the same Bayesian-bootstrap resamples of the test rows.

    Returns ``{model: {"demographic_parity_difference": draws, "equalized_odds_difference": draws,
    "selection_rate": {group: draws}}}``; paired draws, so ``a - b`` is the bootstrap of a difference.

    Each resample weighs the rows by Exponential(1) draws (Rubin's Bayesian bootstrap) and gives every
    group's three rates a Jeffreys Beta(1/2, 1/2) prior: one hit and one miss pseudo-row of Gamma(1/2)
    weight each, so a rate's draws follow its Beta(hits + 1/2, misses + 1/2) posterior. A plain bootstrap
    cannot move a rate of 0 or 1: a small group whose five positives were all found keeps a true-positive
    rate of 1 in every resample, and an intersection's equalized-odds interval then claimed a certainty
    that five people cannot give (Adult, race & sex: [0.61, 1.00] around 0.87, set by one such group).
    The row and prior weights are shared by every model. A group without positives (negatives) among the
    test rows is left out of the true- (false-) positive-rate gap.
    """
    y = np.asarray(y_true, dtype=np.float64)
    labels, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    onehot = np.zeros((y.size, labels.size))
    onehot[np.arange(y.size), inverse] = 1.0
    rng = np.random.default_rng([seed, 83])
    weights = [rng.exponential(size=(min(25, n_boot - i), y.size)) for i in range(0, n_boot, 25)]
    # pseudo-row weights (hit, miss) of the selection, true- and false-positive rates, per resample and group
    prior = rng.gamma(0.5, size=(6, n_boot, labels.size))
    has_pos, has_neg = onehot.T @ y > 0, onehot.T @ (1.0 - y) > 0

    def rate(hits, total, hit_prior, miss_prior, defined):
        return np.where(defined, (hits + hit_prior) / (total + hit_prior + miss_prior), np.nan)

    out = {}
    for name, pred in preds.items():
        p = np.asarray(pred, dtype=np.float64)
        parts = {k: [] for k in ("rows", "sel", "pos", "tp")}
        for w in weights:
            parts["rows"].append(w @ onehot)
            parts["sel"].append(w @ (onehot * p[:, None]))
            parts["pos"].append(w @ (onehot * y[:, None]))
            parts["tp"].append(w @ (onehot * (p * y)[:, None]))
        rows, sel, pos, tp = (np.concatenate(parts[k]) for k in ("rows", "sel", "pos", "tp"))
        selection = rate(sel, rows, prior[0], prior[1], True)
        tpr = rate(tp, pos, prior[2], prior[3], has_pos)
        fpr = rate(sel - tp, rows - pos, prior[4], prior[5], has_neg)
        eo = np.fmax(_spread(tpr), _spread(fpr))
        out[name] = {"demographic_parity_difference": _spread(selection), "equalized_odds_difference": eo,
                     "selection_rate": {str(g): selection[:, i] for i, g in enumerate(labels)}}
    return out


def _spread(rates: np.ndarray) -> np.ndarray:
    """Largest minus smallest finite rate of every row (NaN where a row has none)."""
    finite = np.isfinite(rates)
    hi = np.where(finite, rates, -np.inf).max(axis=1)
    lo = np.where(finite, rates, np.inf).min(axis=1)
    return np.where(finite.any(axis=1), hi - lo, np.nan)


def _by_group(data: EvalData, cols: tuple[str, ...], pos: int, y_true: np.ndarray, preds: dict,
              groups_test: np.ndarray, scores: dict | None = None) -> dict:
    """Group-conditional fidelity: column shapes, target rate with its bootstrap interval, TSTR gap."""
    from sklearn.metrics import roc_auc_score

    scores = scores or {}
    real_g, syn_g = group_labels(data, "real", cols), group_labels(data, "synthetic", cols)
    hold_g = group_labels(data, "holdout", cols)
    y_real = data.values("real", data.target)
    y_syn = data.values("synthetic", data.target)
    others = [c for c in data.columns if c not in cols]
    out = {}
    for g in pd.Series(real_g).value_counts().index:
        in_real, in_syn, in_test = real_g == g, syn_g == g, groups_test == g
        row = {"real_rows": int(in_real.sum()), "synthetic_rows": int(in_syn.sum()), "holdout_rows": int(in_test.sum())}
        small = min(row["real_rows"], row["synthetic_rows"]) < MIN_GROUP_ROWS
        row["column_shapes"] = None if small else _group_shapes(data, others, in_real, in_syn)
        in_hold = hold_g == g
        row["holdout_column_shapes"] = (None if row["real_rows"] < MIN_GROUP_ROWS or in_hold.sum() < MIN_GROUP_ROWS
                                        else _group_shapes(data, others, in_real, in_hold, other="holdout"))
        known = y_real[in_real] >= 0
        hits = (y_real[in_real][known] == pos)
        rate = float(hits.mean()) if hits.size else None
        interval = jeffreys_interval(int(hits.sum()), hits.size)
        syn_known = y_syn[in_syn][y_syn[in_syn] >= 0]
        syn_rate = float((syn_known == pos).mean()) if syn_known.size else None
        row["target_rate"] = {"real": rate, "real_interval": interval, "synthetic": syn_rate,
                              "within_interval": None if syn_rate is None or rate is None
                              else bool(interval[0] <= syn_rate <= interval[1])}
        if len(preds) == 2 and in_test.any():
            acc = {s: float((preds[s][in_test] == y_true[in_test]).mean()) for s in ("real", "synthetic")}
            row["tstr_gap"] = {"trtr": acc["real"], "tstr": acc["synthetic"], "gap": acc["real"] - acc["synthetic"]}
            if len(scores) == 2 and np.unique(y_true[in_test]).size == 2:
                auc = {s: float(roc_auc_score(y_true[in_test], scores[s][in_test])) for s in ("real", "synthetic")}
                row["tstr_gap"]["auc"] = {"trtr": auc["real"], "tstr": auc["synthetic"],
                                          "gap": auc["real"] - auc["synthetic"]}
        out[str(g)] = row
    return out


def jeffreys_interval(hits: int, n: int, level: float = 0.95) -> list[float | None]:
    """The Jeffreys interval of a proportion ``hits / n`` (Beta(hits + 1/2, n - hits + 1/2) quantiles).

    Unlike a bootstrap of the rows, it stays open at 0 and 1 (0 of 30 rows: [0, 0.08]); there its bound
    on that side is 0 (or 1), as Brown, Cai and DasGupta (2001) recommend. ``[None, None]`` when ``n`` is 0.
    """
    from scipy.stats import beta

    if n <= 0:
        return [None, None]
    tail = (1.0 - level) / 2
    lo = 0.0 if hits == 0 else float(beta.ppf(tail, hits + 0.5, n - hits + 0.5))
    hi = 1.0 if hits == n else float(beta.ppf(1.0 - tail, hits + 0.5, n - hits + 0.5))
    return [lo, hi]


def _group_shapes(data: EvalData, columns: list[str], in_real: np.ndarray, in_other: np.ndarray, *,
                  other: str = "synthetic") -> float | None:
    """Mean KS / TV complement over ``columns`` between the real rows ``in_real`` and ``other``'s rows ``in_other``."""
    scores = []
    for col in columns:
        real, syn = data.values("real", col)[in_real], data.values(other, col)[in_other]
        if data.is_continuous(col):
            scores.append(ks_complement(real, syn))
        else:
            scores.append(tv_complement(real, syn, len(data.categories(col))))
    return float(np.mean(scores)) if scores else None


def group_disparity(y_true, y_pred, groups: pd.Series) -> tuple[dict, pd.DataFrame]:
    """Fairlearn's ``MetricFrame`` on 0/1 labels and predictions, one group label per row.

    Returns the summary (``demographic_parity_difference``: the between-group
    gap in selection rate; ``equalized_odds_difference``: the larger of the
    true- and false-positive-rate gaps; ``by_group``: the three rates per
    group, ``None`` where undefined) and Fairlearn's ``by_group`` table.
    ``synthera evaluate`` and ``synthera bias`` both measure disparity here.
    """
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

    frame = MetricFrame(
        metrics={"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
                 "false_positive_rate": false_positive_rate},
        y_true=y_true, y_pred=y_pred, sensitive_features=groups,
    )
    gap = frame.difference(method="between_groups")
    odds = [v for v in (float(gap["true_positive_rate"]), float(gap["false_positive_rate"])) if np.isfinite(v)]
    summary = {
        "demographic_parity_difference": float(gap["selection_rate"]),
        "equalized_odds_difference": max(odds) if odds else float("nan"),
        "by_group": {str(g): {k: finite_or_none(v) for k, v in row.items()} for g, row in frame.by_group.iterrows()},
    }
    return summary, frame.by_group


def finite_or_none(value) -> float | None:
    """``value`` as a float, or ``None`` when it is NaN or infinite (JSON has no NaN)."""
    value = float(value)
    return value if np.isfinite(value) else None
