"""Marginal accuracy: 1 - total-variation distance over all 1-way and 2-way marginals.

The definition follows MOSTLY AI's open-source ``mostlyai-qa`` "accuracy", so
numbers are comparable with the ones MOSTLY AI and others publish:

* every column is discretised with bins fixed on the *real* table:

  - numbers (and datetimes): with at most ``bins`` distinct values, one bin
    per value; otherwise ``bins`` quantile bins, whose edges are real values
    found by a greedy search over evenly spaced order statistics (so a point
    mass such as ``capital_gain == 0`` takes one bin instead of ten empty
    ones). Edges are shortened to the fewest decimals that keep them
    distinct; synthetic values are clipped into the real range first;
  - categories: the ``bins`` most frequent labels held by at least 5 real rows
    keep their own bin, every other label falls into ``(other)``;
  - missing values get their own ``(n/a)`` bin in every column;

* a marginal's accuracy is ``1 - TV = 1 - ½·Σ|p_real - p_synthetic|`` over
  its bins (or pairs of bins);
* ``univariate`` is the mean over columns, ``bivariate`` the mean over all
  column pairs, and ``overall`` the mean of those two, as mostlyai-qa reports
  it. ``pooled`` is the plain mean over all 1-way and 2-way marginals together
  (``k + k(k-1)/2`` of them), the other reading of "mean over all 1-way and
  2-way marginals".

Booleans are binned as labels here (mostlyai-qa would bin them as numbers;
with two values the result is the same). Datetime columns are binned as
seconds since 1970 UTC (:func:`synthera._columns.to_seconds`).

The registered fidelity metric ``marginal_accuracy`` runs this on the
evaluated columns, numbers and dates read as :class:`EvalData` reads them:
``marginal_accuracy`` is ``overall``, with ``marginal_accuracy_univariate``
and ``marginal_accuracy_bivariate`` beside it. It is the score the DP
benchmark (``benchmarks/dp_synth.py``) reports.

Examples
--------
>>> import pandas as pd
>>> real = pd.DataFrame({"x": range(100), "c": ["a", "b"] * 50})
>>> marginal_accuracy(real, real).overall
1.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from synthera._columns import to_seconds
from synthera.evaluate._data import EvalData
from synthera.evaluate.registry import register_metric

__all__ = ["MarginalAccuracy", "bin_like_real", "marginal_accuracy", "marginal_accuracy_metric"]

NA_BIN = "(n/a)"
OTHER_BIN = "(other)"
EMPTY_BIN = "(empty)"
MIN_CATEGORY_ROWS = 5


@dataclass
class MarginalAccuracy:
    """Result of :func:`marginal_accuracy` (all values in [0, 1], 1 is a perfect match)."""

    overall: float
    univariate: float
    bivariate: float
    pooled: float
    per_column: dict[str, float] = field(default_factory=dict)
    per_pair: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "overall": self.overall,
            "univariate": self.univariate,
            "bivariate": self.bivariate,
            "pooled": self.pooled,
            "per_column": dict(self.per_column),
            "per_pair": dict(self.per_pair),
        }

    def worst_pairs(self, k: int = 5) -> list[tuple[str, float]]:
        return sorted(self.per_pair.items(), key=lambda kv: kv[1])[:k]


def _is_numeric(series: pd.Series) -> bool:
    return (
        pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    ) or pd.api.types.is_datetime64_any_dtype(series)


def _as_float(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series):
        return to_seconds(series, None)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _numeric_breaks(values: np.ndarray, bins: int) -> list[float]:
    """Bin edges on the real values: one per distinct value, or greedy quantile edges."""
    x = np.sort(values[~np.isnan(values)])
    if x.size == 0:
        return [-1e10, 1e10]
    distinct = np.unique(x)
    if distinct.size <= bins:
        return [*distinct.tolist(), float(distinct[-1]) + 1.0]
    # the fewest evenly spaced order statistics that give bins + 1 distinct edges
    breaks = distinct.tolist()
    for count in range(bins, max(bins + 1, min(1000, x.size + 1))):
        picked = np.unique(x[np.linspace(0, x.size - 1, count).astype(int)])
        if picked.size >= bins + 1:
            breaks = picked.tolist()
            break
    # shorten inner edges to the fewest decimals that keep them distinct
    for places in range(20):
        scale = 10.0**places
        floored = [np.floor(b * scale) / scale for b in breaks]
        if len(set(floored)) == len(breaks):
            breaks = floored[:-1] + [breaks[-1]]
            break
    return breaks


def _bin_numeric(values: np.ndarray, breaks: list[float]) -> np.ndarray:
    low, high = breaks[0], breaks[-1]
    edges = np.asarray(breaks[:-1] + [breaks[-1] + 1.0])
    nan = np.isnan(values)
    clipped = np.clip(np.where(nan, low, values), low, high)
    idx = np.searchsorted(edges, clipped, side="right") - 1
    idx = np.clip(idx, 0, len(edges) - 2)
    labels = np.array([f">={b:g}" for b in breaks[:-1]] + [NA_BIN], dtype=object)
    return labels[np.where(nan, len(edges) - 1, idx)]


def _labels(series: pd.Series) -> np.ndarray:
    text = series.astype(object).where(series.notna(), None).to_numpy()
    out = np.array([NA_BIN if v is None else (EMPTY_BIN if str(v) == "" else str(v)) for v in text], dtype=object)
    return out


def _category_bins(series: pd.Series, bins: int) -> list[str]:
    labels = pd.Series(_labels(series))
    counts = labels[labels != NA_BIN].value_counts()
    counts = counts[counts >= MIN_CATEGORY_ROWS].head(bins)
    return sorted(counts.index)


def _bin_categorical(series: pd.Series, keep: list[str]) -> np.ndarray:
    labels = _labels(series)
    keep_set = set(keep) | {NA_BIN}
    return np.array([v if v in keep_set else OTHER_BIN for v in labels], dtype=object)


def bin_like_real(real: pd.DataFrame, synthetic: pd.DataFrame, *, bins: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables as bin labels, with the bins fixed on ``real``."""
    out_real, out_syn = {}, {}
    for name in real.columns:
        if _is_numeric(real[name]):
            breaks = _numeric_breaks(_as_float(real[name]), bins)
            out_real[name] = _bin_numeric(_as_float(real[name]), breaks)
            out_syn[name] = _bin_numeric(_as_float(synthetic[name]), breaks)
        else:
            keep = _category_bins(real[name], bins)
            out_real[name] = _bin_categorical(real[name], keep)
            out_syn[name] = _bin_categorical(synthetic[name], keep)
    return pd.DataFrame(out_real), pd.DataFrame(out_syn)


def _codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Shared integer codes of two columns of bin labels, and how many labels there are."""
    codes, labels = pd.factorize(pd.concat([real, synthetic], ignore_index=True))
    return codes[: len(real)], codes[len(real) :], len(labels)


def _accuracy(real_codes: np.ndarray, syn_codes: np.ndarray, size: int) -> float:
    """``1 - TV`` between the shares of the codes ``0..size-1`` in two tables."""
    p = np.bincount(real_codes, minlength=size) / max(len(real_codes), 1)
    q = np.bincount(syn_codes, minlength=size) / max(len(syn_codes), 1)
    return float(1.0 - 0.5 * np.abs(p - q).sum())


def marginal_accuracy(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    bins: int = 10,
    columns: list[str] | None = None,
) -> MarginalAccuracy:
    """1 - TV over every 1-way and 2-way marginal, binned the mostlyai-qa way.

    Parameters
    ----------
    real, synthetic
        The tables to compare; ``synthetic`` must hold every column of ``real``
        that is compared.
    bins
        Quantile bins per number and kept labels per category (mostlyai-qa: 10).
    columns
        Columns to compare (default: all of ``real``'s).

    Returns
    -------
    MarginalAccuracy
        ``overall`` (mean of the univariate and bivariate means, as
        mostlyai-qa), ``univariate``, ``bivariate``, ``pooled`` and the
        per-column / per-pair values (pairs keyed ``"a|b"``).
    """
    names = list(columns) if columns is not None else list(real.columns)
    missing = [c for c in names if c not in synthetic.columns]
    if missing:
        from synthera.errors import UserInputError

        raise UserInputError(f"the synthetic table lacks column '{missing[0]}'; compare tables with the same columns")
    real_bin, syn_bin = bin_like_real(real[names], synthetic[names], bins=bins)
    codes = {c: _codes(real_bin[c], syn_bin[c]) for c in names}
    per_column = {c: _accuracy(*codes[c]) for c in names}
    per_pair = {}
    for a, b in combinations(names, 2):
        (ra, sa, na), (rb, sb, nb) = codes[a], codes[b]
        per_pair[f"{a}|{b}"] = _accuracy(ra * nb + rb, sa * nb + sb, na * nb)
    uni = float(np.mean(list(per_column.values())))
    biv = float(np.mean(list(per_pair.values()))) if per_pair else uni
    pooled = float(np.mean(list(per_column.values()) + list(per_pair.values())))
    return MarginalAccuracy(
        overall=float(np.mean([uni, biv])), univariate=uni, bivariate=biv, pooled=pooled,
        per_column=per_column, per_pair=per_pair,
    )


# --------------------------------------------------------------------------- the registered metric


def _column(data: EvalData, frame: str, column: str) -> pd.Series:
    """A column as :class:`EvalData` reads it: floats (dates in seconds) or labels (``None`` for nulls)."""
    values = data.values(frame, column)
    if data.is_continuous(column):
        return pd.Series(values, dtype=np.float64)
    labels = np.array([*data.categories(column), None], dtype=object)
    return pd.Series(labels[values], dtype=object)  # code -1 picks None


@register_metric(
    "marginal_accuracy", section="fidelity",
    keys=("marginal_accuracy", "marginal_accuracy_univariate", "marginal_accuracy_bivariate"),
    min_rows=("real", "synthetic"),
)
def marginal_accuracy_metric(data: EvalData) -> dict:
    """1 - total-variation distance over the 1-way and 2-way marginals (mostlyai-qa's accuracy; 1 is ideal)."""
    frames = {f: pd.DataFrame({c: _column(data, f, c) for c in data.columns}) for f in ("real", "synthetic")}
    got = marginal_accuracy(frames["real"], frames["synthetic"])
    return {"marginal_accuracy": got.overall, "marginal_accuracy_univariate": got.univariate,
            "marginal_accuracy_bivariate": got.bivariate}
