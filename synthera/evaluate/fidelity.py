"""Fidelity: does the synthetic table look like the real one?

Definitions follow SDMetrics' quality report so that scores are comparable:

``column_shapes``
    Mean over columns of the KS complement (``1 - D`` of the two-sample
    Kolmogorov-Smirnov statistic on non-null values; numbers and dates) or the
    TV complement (``1 - ½·Σ|p - q|`` over the labels' shares among non-null
    values; categories and booleans).
``column_pair_trends``
    Mean over all column pairs of the correlation similarity
    ``1 - |r_real - r_syn| / 2`` (Pearson on rows where both are present) for two
    continuous columns, or the contingency similarity ``1 - ½·Σ|P - Q|`` of the
    joint frequency tables otherwise (nulls are a label). A continuous column in a
    mixed pair is first cut into 10 equal-width bins, each table with its own
    bins, exactly as SDMetrics does. Pairs whose correlation is undefined (a
    constant or empty column) get no score and are left out of the mean. This is
    SDMetrics' ``ColumnPairTrends`` property with its default (no) thresholds.
    A table with more than :data:`MAX_PAIRS` pairs is scored on a uniform random
    sample of that many (``column_pairs_summary`` says so).
``column_pairs`` / ``column_pairs_summary``
    Every scored pair when there are at most :data:`MAX_JSON_PAIRS`; otherwise
    the worst and best of them, with the distribution of all scores in the
    summary. The report folder's ``column_pairs.parquet`` holds every pair.
``column_pair_trends_strong``
    The same mean over only the pairs that are clearly related in the real
    table (``|r| > 0.5``, or Cramér's V ``> 0.3``), which is what SDMetrics'
    ``QualityReport`` (0.32) reports as "Column Pair Trends". ``None`` when no
    pair is that strongly related.
``per_column``
    Each column's kind, metric, score and null shares.
``detection_auc``
    Cross-validated ROC AUC of a gradient-boosting classifier that tells real
    rows from synthetic ones. 0.5 means it cannot; 1.0 means every row gives
    itself away. Below 0.5 is chance too (a synthetic table that copies real
    rows drives cross-validated AUC under 0.5, since each held-out row's twin was
    trained with the other label), so it is reported as 0.5, with the raw value
    in ``detection_auc_raw``; copies show up in the privacy section instead.
``datetime_step_match``
    Per datetime column, the calendar step the real values all sit on
    (``year``, ``month``, ``day``, ``hour``, ``minute`` or ``second``; the
    metadata's ``datetime_step`` when it has one) and the share of synthetic
    values that sit on it too. Monthly dates with random days score near 0,
    which KS cannot see.

Two degenerate cases differ from SDMetrics, which returns no score: a column
that is entirely null in both tables scores 1.0 (when the metadata names its
kind; without metadata it is listed under ``skipped_columns``), and one that is
null in only one table scores 0.0.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from synthera.evaluate._data import EvalData
from synthera.evaluate.models import PROBE_TREES, gradient_boosting
from synthera.evaluate.registry import register_metric

__all__ = [
    "column_pair_trends",
    "column_shapes",
    "contingency_similarity",
    "cramers_v",
    "datetime_step",
    "datetime_step_match",
    "detection_auc",
    "ks_complement",
    "tv_complement",
]

_KS_DECIMALS = 14  # SDMetrics rounds to float precision minus one digit before the KS test
_PAIR_BINS = 10


def ks_complement(real: np.ndarray, synthetic: np.ndarray) -> float:
    """``1 - D`` of the two-sample KS test, on the non-null values.

    >>> round(ks_complement(np.array([1.0, 2, 3]), np.array([1.0, 2, 3])), 3)
    1.0
    """
    x = np.sort(np.round(real[~np.isnan(real)], _KS_DECIMALS))
    y = np.sort(np.round(synthetic[~np.isnan(synthetic)], _KS_DECIMALS))
    if x.size == 0 or y.size == 0:
        return 1.0 if x.size == y.size else 0.0
    grid = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, grid, side="right") / x.size
    cdf_y = np.searchsorted(y, grid, side="right") / y.size
    return float(1.0 - np.abs(cdf_x - cdf_y).max())


def tv_complement(real_codes: np.ndarray, synthetic_codes: np.ndarray, n_labels: int) -> float:
    """``1 - ½·Σ|p - q|`` over label shares among non-null codes (``-1`` is null)."""
    r = real_codes[real_codes >= 0]
    s = synthetic_codes[synthetic_codes >= 0]
    if r.size == 0 or s.size == 0:
        return 1.0 if r.size == s.size else 0.0
    p = np.bincount(r, minlength=n_labels) / r.size
    q = np.bincount(s, minlength=n_labels) / s.size
    return float(1.0 - 0.5 * np.abs(p - q).sum())


def _shape_scores(data: EvalData) -> dict:
    out = {}
    for col in data.columns:
        real, syn = data.values("real", col), data.values("synthetic", col)
        if data.is_continuous(col):
            score, metric = ks_complement(real, syn), "KSComplement"
            null_real, null_syn = np.isnan(real).mean(), np.isnan(syn).mean()
        else:
            score, metric = tv_complement(real, syn, len(data.categories(col))), "TVComplement"
            null_real, null_syn = (real < 0).mean(), (syn < 0).mean()
        out[col] = {
            "kind": data.kind(col),
            "metric": metric,
            "score": score,
            "null_share_real": float(null_real),
            "null_share_synthetic": float(null_syn),
        }
    return out


@register_metric("column_shapes", section="fidelity", keys=("column_shapes", "per_column"))
def column_shapes(data: EvalData) -> dict:
    """Mean KS / TV complement over columns (1.0: every column's distribution matches)."""
    per_column = _shape_scores(data)
    scores = [c["score"] for c in per_column.values()]
    plot = {}
    for col in data.columns:
        if data.is_continuous(col):
            plot[col] = {"kind": "continuous", "real": data.values("real", col),
                         "synthetic": data.values("synthetic", col)}
        else:
            plot[col] = {
                "kind": "discrete",
                "labels": data.categories(col),
                "real": data.values("real", col),
                "synthetic": data.values("synthetic", col),
            }
    return {"column_shapes": float(np.mean(scores)), "per_column": per_column, "_plot": plot}


# --------------------------------------------------------------------------- pairs


def _binned(x: np.ndarray) -> np.ndarray:
    """SDMetrics' discretisation: 10 equal-width bins of this table's own values."""
    finite = x[~np.isnan(x)]
    edges = np.histogram_bin_edges(finite, bins=_PAIR_BINS) if finite.size else np.linspace(0, 1, _PAIR_BINS + 1)
    return np.digitize(x, edges)  # 0 .. 11; NaN lands in 11 with the maximum, as in SDMetrics


def _pair_codes(data: EvalData, frame: str, col: str) -> tuple[np.ndarray, int]:
    if data.is_continuous(col):
        return _binned(data.values(frame, col)).astype(np.int64), _PAIR_BINS + 2
    codes = data.values(frame, col)
    n = len(data.categories(col))
    return np.where(codes < 0, n, codes), n + 1  # null is a label of its own


def _joint_shares(a: np.ndarray, b: np.ndarray, nb: int, size: int) -> np.ndarray | dict:
    key = a * nb + b
    if size <= 4_000_000:
        return np.bincount(key, minlength=size) / key.size
    uniq, counts = np.unique(key, return_counts=True)
    return dict(zip(uniq.tolist(), (counts / key.size).tolist(), strict=True))


def contingency_similarity(ra, rb, sa, sb, na: int, nb: int) -> float:
    """``1 - ½·Σ|P - Q|`` of two joint frequency tables given as integer codes."""
    size = na * nb
    p = _joint_shares(ra, rb, nb, size)
    q = _joint_shares(sa, sb, nb, size)
    if isinstance(p, dict):
        keys = set(p) | set(q)
        tv = sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in keys)
    else:
        tv = np.abs(p - q).sum()
    return float(1.0 - 0.5 * tv)


_STRONG_CORRELATION = 0.5  # SDMetrics' QualityReport thresholds on the real table
_STRONG_ASSOCIATION = 0.3


def _dense_codes(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes renumbered 0..k-1 over the labels present, and k."""
    x = np.asarray(x, dtype=np.int64)
    if x.size and x.min() >= 0 and x.max() < 4 * x.size + 1024:
        present = np.bincount(x) > 0
        return (np.cumsum(present) - 1)[x], int(present.sum())
    uniq, inverse = np.unique(x, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), len(uniq)


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V (no continuity correction) of two integer-coded columns.

    Uses chi² = n·(Σ O²/(R·C) − 1) over the observed cells only, so tables
    with thousands of labels never become dense.
    """
    a, na = _dense_codes(a)
    b, nb = _dense_codes(b)
    if min(na, nb) < 2:
        return float("nan")
    key = a * nb + b
    if na * nb <= 1 << 20:  # a bincount is far cheaper than sorting, as long as the table is small
        cells = np.bincount(key, minlength=na * nb)
        key = np.flatnonzero(cells)
        counts = cells[key]
    else:
        key, counts = np.unique(key, return_counts=True)
    rows = np.bincount(a, minlength=na).astype(float)
    cols = np.bincount(b, minlength=nb).astype(float)
    n = float(a.size)
    chi2 = n * ((counts.astype(float) ** 2 / (rows[key // nb] * cols[key % nb])).sum() - 1.0)
    return float(np.sqrt(max(chi2, 0.0) / (n * (min(na, nb) - 1))))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    both = ~(np.isnan(x) | np.isnan(y))
    x, y = x[both], y[both]
    if x.size < 2:
        return float("nan")
    x = x - x.mean()
    y = y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    if denom == 0 or not np.isfinite(denom):
        return float("nan")
    return float(np.clip((x * y).sum() / denom, -1.0, 1.0))


def _constant(x: np.ndarray) -> bool:
    finite = x[~np.isnan(x)]
    return finite.size == 0 or finite.min() == finite.max()


MAX_PAIRS = 20_000  # pairs scored at most; beyond, a uniform random sample of this size is scored
MAX_JSON_PAIRS = 200  # pairs listed in results.json: the worst and best halves; all go to column_pairs.parquet
HEATMAP_COLUMNS = 40  # the report's heatmap shows the pairs among the first this many columns


def _pair_entry(data: EvalData, codes: dict, a: str, b: str) -> dict:
    entry = {"column_1": a, "column_2": b}
    if data.is_continuous(a) and data.is_continuous(b):
        ra, rb = data.values("real", a), data.values("real", b)
        sa, sb = data.values("synthetic", a), data.values("synthetic", b)
        entry["metric"] = "CorrelationSimilarity"
        if any(_constant(v) for v in (ra, rb, sa, sb)):
            entry.update(score=None, real=None, synthetic=None,
                         note="a column is constant or empty: correlation undefined")
            return entry
        r_real, r_syn = _pearson(ra, rb), _pearson(sa, sb)
        ok = np.isfinite(r_real) and np.isfinite(r_syn)
        entry.update(
            score=1.0 - abs(r_real - r_syn) / 2.0 if ok else None,
            real=r_real if np.isfinite(r_real) else None,
            synthetic=r_syn if np.isfinite(r_syn) else None,
            strong=bool(np.isfinite(r_real) and abs(r_real) > _STRONG_CORRELATION),
        )
        if not ok:
            entry["note"] = "too few rows with both values: correlation undefined"
        return entry
    (ra, na), (rb, nb) = codes["real", a], codes["real", b]
    (sa, _), (sb, _) = codes["synthetic", a], codes["synthetic", b]
    entry["metric"] = "ContingencySimilarity"
    entry["score"] = contingency_similarity(ra, rb, sa, sb, na, nb)
    v = cramers_v(ra, rb)
    entry["real_association"] = v if np.isfinite(v) else None
    entry["strong"] = bool(np.isfinite(v) and v > _STRONG_ASSOCIATION)
    return entry


def _pair_plan(data: EvalData) -> tuple[list[tuple[int, int]], list[tuple[int, int]], int]:
    """Pairs (as column positions) to score for the mean, extra pairs for the heatmap, and the total."""
    n = len(data.columns)
    total = n * (n - 1) // 2
    shown = min(n, HEATMAP_COLUMNS)
    heat = [(i, j) for i in range(shown) for j in range(i + 1, shown)]
    if total <= MAX_PAIRS:
        return list(itertools.combinations(range(n), 2)), [], total
    rng = data.rng(3)
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < MAX_PAIRS:
        i, j = rng.integers(0, n, size=(2, 2 * (MAX_PAIRS - len(chosen))))
        for a, b in zip(np.minimum(i, j).tolist(), np.maximum(i, j).tolist(), strict=True):
            if a != b and len(chosen) < MAX_PAIRS:
                chosen.add((a, b))
    sample = sorted(chosen)
    return sample, [p for p in heat if p not in chosen], total


def _pair_summary(pairs: list[dict], sample_size: int, total: int) -> dict:
    scores = np.array([p["score"] for p in pairs[:sample_size] if p["score"] is not None], dtype=float)
    stats = {}
    if scores.size:
        q = np.quantile(scores, [0.05, 0.25, 0.5, 0.75, 0.95])
        stats = {"mean": float(scores.mean()), "min": float(scores.min()), "p5": q[0], "p25": q[1], "median": q[2],
                 "p75": q[3], "p95": q[4], "max": float(scores.max())}
    return {
        "pairs_total": total, "pairs_scored": sample_size, "sampled": sample_size < total,
        "pairs_with_a_score": int(scores.size), "pairs_listed": min(len(pairs), MAX_JSON_PAIRS),
        "listed": "all" if len(pairs) <= MAX_JSON_PAIRS else f"the {MAX_JSON_PAIRS // 2} worst and best scored pairs",
        "full_detail": "column_pairs.parquet", "score": {k: float(v) for k, v in stats.items()},
    }


def _listed_pairs(pairs: list[dict]) -> list[dict]:
    if len(pairs) <= MAX_JSON_PAIRS:
        return pairs
    scored = sorted((p for p in pairs if p["score"] is not None), key=lambda p: p["score"])
    half = MAX_JSON_PAIRS // 2
    return scored[:half] + scored[-half:] if len(scored) > MAX_JSON_PAIRS else scored


@register_metric(
    "column_pair_trends", section="fidelity",
    keys=("column_pair_trends", "column_pair_trends_strong", "column_pairs", "column_pairs_summary"),
)
def column_pair_trends(data: EvalData) -> dict:
    """Mean correlation / contingency similarity over all column pairs (a random sample of a wide table's)."""
    codes = {}
    for frame in ("real", "synthetic"):
        for col in data.columns:
            codes[frame, col] = _pair_codes(data, frame, col)
    sample, extra, total = _pair_plan(data)
    cols = data.columns
    pairs = [_pair_entry(data, codes, cols[i], cols[j]) for i, j in [*sample, *extra]]
    scored = pairs[: len(sample)]  # the heatmap's extra pairs stay out of the mean: it is over a uniform sample
    scores = [p["score"] for p in scored if p["score"] is not None]
    strong = [p["score"] for p in scored if p["score"] is not None and p.get("strong")]
    shown = set(cols[:HEATMAP_COLUMNS])
    return {
        "column_pair_trends": float(np.mean(scores)) if scores else None,
        "column_pair_trends_strong": float(np.mean(strong)) if strong else None,
        "column_pairs": _listed_pairs(pairs),
        "column_pairs_summary": _pair_summary(pairs, len(sample), total),
        "_plot": {"pairs": [p for p in pairs if p["column_1"] in shown and p["column_2"] in shown],
                  "columns": cols[:HEATMAP_COLUMNS], "all_columns": len(cols)},
        "_tables": {"column_pairs": pd.DataFrame(pairs)} if pairs else {},
    }


# --------------------------------------------------------------------------- datetime step

STEPS = ("year", "month", "day", "hour", "minute", "second")  # coarsest first


def _on_step(times: pd.Series) -> dict[str, np.ndarray]:
    """For each step, whether each (non-null) time sits on it."""
    dt = times.dt
    second = ((dt.microsecond == 0) & (dt.nanosecond == 0)).to_numpy()
    minute = second & (dt.second == 0).to_numpy()
    hour = minute & (dt.minute == 0).to_numpy()
    day = hour & (dt.hour == 0).to_numpy()
    month = day & (dt.day == 1).to_numpy()
    year = month & (dt.month == 1).to_numpy()
    return {"year": year, "month": month, "day": day, "hour": hour, "minute": minute, "second": second}


def datetime_step(times: pd.Series) -> str | None:
    """The coarsest calendar step every non-null time sits on, or ``None`` (finer than seconds, or no values)."""
    times = times.dropna()
    if times.empty:
        return None
    on = _on_step(times)
    return next((step for step in STEPS if on[step].all()), None)


def _wall_times(data: EvalData, frame: str, column: str) -> pd.Series:
    from synthera.evaluate._data import parse_datetimes

    meta = data.metadata[column]
    parsed = parse_datetimes(data.frame(frame)[column], meta.datetime_format, column=column, frame=frame, wall=True)
    return parsed.dropna()


@register_metric("datetime_step_match", section="fidelity")
def datetime_step_match(data: EvalData) -> dict:
    """Per datetime column: share of synthetic values on the real data's step (month, day, hour ...)."""
    out = {}
    for col in data.columns:
        if data.kind(col) != "datetime":
            continue
        step = getattr(data.metadata[col], "datetime_step", None) or datetime_step(_wall_times(data, "real", col))
        syn = _wall_times(data, "synthetic", col)
        share = float(_on_step(syn)[step].mean()) if step in STEPS and len(syn) else None
        out[col] = {"step": step, "share": share, "synthetic_values": len(syn)}
    return {"datetime_step_match": out}


# --------------------------------------------------------------------------- detection

_DETECTION_ROWS = 20_000  # rows per table the detector sees at most


@register_metric(
    "detection_auc", section="fidelity", keys=("detection_auc", "detection_auc_raw"), min_rows=("real", "synthetic")
)
def detection_auc(data: EvalData) -> dict:
    """Cross-validated AUC of a classifier telling real rows from synthetic (0.5 is ideal)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    rng = data.rng(1)
    parts = []
    for label, frame in enumerate(("real", "synthetic")):
        x = data.matrix(frame)
        if len(x) > _DETECTION_ROWS:
            x = x[rng.choice(len(x), _DETECTION_ROWS, replace=False)]
        parts.append((x, np.full(len(x), label)))
    x = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=data.seed)
    proba = np.empty(len(y))
    for train, test in folds.split(x, y):
        model = gradient_boosting(len(train), data.seed, n_estimators=PROBE_TREES)
        model.fit(x[train], y[train])
        proba[test] = model.predict_proba(x[test])[:, 1]
    auc = float(roc_auc_score(y, proba))
    return {"detection_auc": max(auc, 0.5), "detection_auc_raw": auc}
