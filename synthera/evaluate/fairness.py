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

Columns with more than :data:`MAX_GROUPS` groups are refused with a message:
bin them first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthera.errors import UserInputError
from synthera.evaluate._data import MAX_GROUPS, EvalData, check_group_column
from synthera.evaluate.registry import register_metric
from synthera.evaluate.utility import fitted_models, task

__all__ = ["FAIRNESS_MODEL", "MAX_GROUPS", "check_group_column", "fairness", "finite_or_none", "group_disparity",
           "group_labels"]

FAIRNESS_MODEL = "lightgbm"


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
    """Demographic parity, equalized odds, selection rates and representation per group."""
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
        by_model = {}
        for source in ("real", "synthetic"):
            got = fitted.get((source, FAIRNESS_MODEL))
            if got is None:
                entry[f"trained_on_{source}"] = {"error": fitted["errors"][source, FAIRNESS_MODEL]}
                continue
            y_pred = (got["pred"].astype(int) == pos).astype(int)
            summary, table = group_disparity(y_true, y_pred, pd.Series(groups_test, name=name))
            for group, rates in summary["by_group"].items():
                rates["holdout_rows"] = int(sizes.get(group, 0))
            entry[f"trained_on_{source}"] = {
                "demographic_parity_difference": summary["demographic_parity_difference"],
                "equalized_odds_difference": summary["equalized_odds_difference"],
                "selection_rate_by_group": summary["by_group"],
            }
            by_model[source] = table["selection_rate"]
        real_groups = pd.Series(group_labels(data, "real", cols)).value_counts(normalize=True)
        syn_groups = pd.Series(group_labels(data, "synthetic", cols)).value_counts(normalize=True)
        both = real_groups.index.union(syn_groups.index)
        real_groups, syn_groups = real_groups.reindex(both, fill_value=0.0), syn_groups.reindex(both, fill_value=0.0)
        entry["representation_by_group"] = {
            str(g): {"real": float(real_groups[g]), "synthetic": float(syn_groups[g])}
            for g in real_groups.sort_values(ascending=False).index
        }
        entry["largest_representation_gap"] = float((real_groups - syn_groups).abs().max())
        results[name] = entry
        plot[name] = {"selection": by_model, "representation": (real_groups, syn_groups)}
    return {"positive_label": spec["labels"][pos], "groups": results, "_plot": plot}


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
