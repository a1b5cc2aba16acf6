"""Evaluate tables larger than memory: shapes and pair trends from counts merged by addition.

Two passes over the parts of both tables (each part read in batches):

1. bounds: the min and max of every number and date column, per table;
2. counts: per column, label counts (categories, booleans) or value counts of
   numbers and dates (exact while a column has at most :data:`EXACT_VALUES`
   distinct values in a part, else a histogram of :data:`HIST_BINS` bins over
   the shared range); per pair, joint label counts (a number binned into 10
   equal-width bins of its own table's range, as in-memory) or the sums of a
   Pearson correlation.

Merged by addition, these give the in-memory ``column_shapes`` and
``column_pair_trends`` (:mod:`synthera.evaluate.fidelity`): exactly for labels,
pairs and columns with few distinct values; for a histogrammed column the KS
statistic is within ``ks_error_bound`` (the largest share of one bin) of the
exact one, and that bound is reported. Every other metric (detection, privacy
distances, utility) runs in memory on fixed-seed samples of ``sample_rows`` rows
of each table, whose sizes are reported under ``sampled``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from synthera.distributed._parts import allocate, batches, list_parts, row_count_task, sample_part, text_columns
from synthera.distributed.executor import run_tasks

__all__ = ["DEFAULT_EVAL_SAMPLE", "EXACT_VALUES", "HIST_BINS", "evaluate_dataset", "full_data_fidelity"]

DEFAULT_EVAL_SAMPLE = 50_000
EXACT_VALUES = 20_000
HIST_BINS = 1 << 14
_PAIR_BINS = 10
_NULL = "\x00null"


def evaluate_dataset(real: Any, synthetic: Any, *, holdout: Any = None, target: str | None = None,
                     sensitive: tuple[str, ...] = (), metadata: Any = None, seed: int = 0,
                     sample_rows: int = DEFAULT_EVAL_SAMPLE, client: Any = None, sampled_metrics: bool = True):
    """Evaluate tables of any size: a :class:`~synthera.evaluate.report.Report` (or, without
    ``sampled_metrics``, the full-data dict of :func:`full_data_fidelity`).

    Every metric runs in memory on fixed-seed samples of ``sample_rows`` rows per table; then
    ``column_shapes``, ``per_column`` scores and ``column_pair_trends`` are replaced by their values
    over all rows (the sample's stay as ``*_sampled``), and ``results["scale"]`` records the row
    counts, the parts and the sample sizes.
    """
    from synthera.evaluate import evaluate as evaluate_in_memory

    tables = {"real": list_parts(real), "synthetic": list_parts(synthetic)}
    if holdout is not None:
        tables["holdout"] = list_parts(holdout)
    samples = {name: _sample(parts, sample_rows, seed, client) for name, parts in tables.items()}
    full = full_data_fidelity(tables, samples["real"], metadata=metadata, client=client)
    full["sampled_rows"] = {name: len(frame) for name, frame in samples.items()}
    full["seed"] = int(seed)
    if not sampled_metrics:
        return full
    report = evaluate_in_memory(samples["real"], samples["synthetic"], holdout=samples.get("holdout"),
                                target=target, sensitive=sensitive, metadata=metadata, seed=seed)
    fidelity = report.results.get("fidelity", {})
    for key in ("column_shapes", "column_pair_trends"):
        if key in fidelity:
            fidelity[f"{key}_sampled"] = fidelity[key]
            fidelity[key] = full[key]
    for name, entry in (fidelity.get("per_column") or {}).items():
        if name in full["per_column"]:
            entry["score_sampled"], entry["score"] = entry["score"], full["per_column"][name]["score"]
    report.results["scale"] = {k: v for k, v in full.items() if k not in ("column_pairs",)}
    return report


def full_data_fidelity(tables: dict[str, list[str]], real_sample: pd.DataFrame, *, metadata: Any = None,
                       client: Any = None) -> dict:
    """``column_shapes``, ``per_column`` and ``column_pair_trends`` over every row of the real and synthetic parts."""
    from synthera.metadata import Metadata, infer_metadata

    tables = {k: v for k, v in tables.items() if k in ("real", "synthetic")}
    hints = Metadata.from_dict(dict(metadata)) if isinstance(metadata, dict) else metadata
    md = infer_metadata(real_sample, hints=hints)
    continuous = [c for c, col in md.columns.items() if col.kind in ("numerical", "datetime")]
    discrete = [c for c, col in md.columns.items() if col.kind in ("categorical", "boolean")]
    spec = {"metadata": md.to_dict(), "continuous": continuous, "discrete": discrete}
    text = {name: text_columns(parts) for name, parts in tables.items()}
    bounds = {name: _merge_bounds(run_tasks(bounds_task, [(p, text[name]) for p in parts], client=client,
                                            shared=spec, name="synthera-bounds")) for name, parts in tables.items()}
    spec["bounds"] = bounds
    spec["grid"] = {c: _grid(bounds, c) for c in continuous}
    counts = {name: _merge_counts(run_tasks(counts_task, [(p, name, text[name]) for p in parts], client=client,
                                            shared=spec, name="synthera-counts")) for name, parts in tables.items()}
    shapes = {c: _shape(c, c in continuous, counts) for c in continuous + discrete}
    columns = [c for c in md.columns if c in shapes]
    pairs = [_pair(a, b, spec, counts) for a, b in itertools.combinations(columns, 2)]
    scores = [p["score"] for p in pairs if p["score"] is not None]
    return {
        "rows": {name: counts[name]["rows"] for name in tables},
        "parts": {name: len(parts) for name, parts in tables.items()},
        "column_shapes": float(np.mean([s["score"] for s in shapes.values()])) if shapes else None,
        "per_column": shapes,
        "column_pair_trends": float(np.mean(scores)) if scores else None,
        "column_pairs": pairs,
    }


def _sample(parts: list[str], rows: int, seed: int, client) -> pd.DataFrame:
    counts = [r["rows"] for r in run_tasks(row_count_task, [(p,) for p in parts], client=client, name="synthera-rows")]
    text = text_columns(parts)
    calls = [(p, i, n, take, int(seed), text)
             for i, (p, n, take) in enumerate(zip(parts, counts, allocate(counts, rows), strict=True)) if take]
    return pd.concat(run_tasks(sample_part, calls, client=client, name="synthera-sample"), ignore_index=True)


def _encoded(spec: dict, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Numbers and dates as float64 (dates in seconds; NaN is null), categories as text labels."""
    from synthera._columns import to_seconds
    from synthera.metadata import Metadata

    md = spec.setdefault("_md", Metadata.from_dict(spec["metadata"]))
    out = {}
    for c in spec["continuous"]:
        col = md[c]
        if col.kind == "datetime":
            out[c] = np.asarray(to_seconds(frame[c], col), dtype=float)
        else:
            out[c] = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    for c in spec["discrete"]:
        series = frame[c]
        out[c] = np.where(series.isna().to_numpy(), _NULL, series.astype(str).to_numpy()).astype(object)
    return out


def bounds_task(spec: dict, path: str, text: list[str] = ()) -> dict:
    """Task: the min and max of each number and date column of one part."""
    low, high = {}, {}
    for frame in batches(path, text=text):
        values = _encoded({**spec, "discrete": []}, frame)
        for c, x in values.items():
            finite = x[~np.isnan(x)]
            if finite.size:
                low[c] = min(low.get(c, np.inf), float(finite.min()))
                high[c] = max(high.get(c, -np.inf), float(finite.max()))
    return {"min": low, "max": high}


def _merge_bounds(parts: list[dict]) -> dict:
    low, high = {}, {}
    for part in parts:
        for c, v in part["min"].items():
            low[c] = min(low.get(c, np.inf), v)
        for c, v in part["max"].items():
            high[c] = max(high.get(c, -np.inf), v)
    return {"min": low, "max": high}


def _grid(bounds: dict, c: str) -> list[float]:
    lows = [b["min"][c] for b in bounds.values() if c in b["min"]]
    highs = [b["max"][c] for b in bounds.values() if c in b["max"]]
    low, high = (min(lows), max(highs)) if lows else (0.0, 1.0)
    return [low, high if high > low else low + 1.0]


def _pair_edges(spec: dict, table: str, c: str) -> np.ndarray:
    """The in-memory pair bins: 10 equal-width bins over this table's own range."""
    b = spec["bounds"][table]
    if c not in b["min"]:
        return np.linspace(0, 1, _PAIR_BINS + 1)
    return np.histogram_bin_edges(np.array([b["min"][c], b["max"][c]]), bins=_PAIR_BINS)


def counts_task(spec: dict, path: str, table: str, text: list[str] = ()) -> dict:
    """Task: per-column and per-pair counts (and correlation sums) of one part of ``table``."""
    out: dict = {"rows": 0, "labels": {}, "values": {}, "hist": {}, "joint": {}, "sums": {}}
    cont = set(spec["continuous"])
    columns = [c for c in spec["metadata"]["columns"] if c in cont or c in spec["discrete"]]
    for frame in batches(path, text=text):
        out["rows"] += len(frame)
        enc = _encoded(spec, frame)
        keys = {}  # column -> (integer codes, their labels): pairs are counted on integers, labelled once
        for c in columns:
            if c in cont:
                _count_continuous(out, c, enc[c], spec["grid"][c])
                keys[c] = _factorized(np.digitize(enc[c], _pair_edges(spec, table, c)))
            else:
                keys[c] = _factorized(enc[c])
                _add_labels(out["labels"].setdefault(c, {}), *keys[c])
        for a, b in itertools.combinations(columns, 2):
            if a in cont and b in cont:
                _add_sums(out["sums"].setdefault(f"{a}\x01{b}", [0.0] * 6), enc[a], enc[b], spec["grid"][a],
                          spec["grid"][b])
            else:
                _add_pairs(out["joint"].setdefault(f"{a}\x01{b}", {}), keys[a], keys[b])
    return out


def _factorized(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of ``values`` and their labels as text (numbers as numpy writes them)."""
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int64), np.asarray(uniques).astype(str).astype(object)


def _add_labels(counter: dict, codes: np.ndarray, labels: np.ndarray) -> None:
    """Add the rows of every label present to ``counter``."""
    n = np.bincount(codes)
    present = np.flatnonzero(n)
    for label, count in zip(labels[present].tolist(), n[present].tolist(), strict=True):
        counter[label] = counter.get(label, 0) + count


def _add_pairs(counter: dict, a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> None:
    """Add the rows of every (label of a, label of b) pair present to ``counter``, keyed ``"la\\x01lb"``."""
    (ca, la), (cb, lb) = a, b
    joint, n = np.unique(ca * len(lb) + cb, return_counts=True)
    for code, count in zip(joint.tolist(), n.tolist(), strict=True):
        label = f"{la[code // len(lb)]}\x01{lb[code % len(lb)]}"
        counter[label] = counter.get(label, 0) + count


def _add(counter: dict, labels: np.ndarray) -> None:
    uniq, n = np.unique(labels, return_counts=True)
    for label, count in zip(uniq.tolist(), n.tolist(), strict=True):
        counter[label] = counter.get(label, 0) + count


def _count_continuous(out: dict, c: str, x: np.ndarray, grid: list[float]) -> None:
    finite = np.round(x[~np.isnan(x)], 14)
    hist, _ = np.histogram(finite, bins=HIST_BINS, range=(grid[0], grid[1]))
    out["hist"][c] = out["hist"].get(c, 0) + hist
    values = out["values"].get(c, {})
    if values is not None:
        _add(values, finite)
        out["values"][c] = values if len(values) <= EXACT_VALUES else None


def _add_sums(acc: list, x: np.ndarray, y: np.ndarray, gx: list, gy: list) -> None:
    both = ~(np.isnan(x) | np.isnan(y))
    dx, dy = x[both] - (gx[0] + gx[1]) / 2, y[both] - (gy[0] + gy[1]) / 2
    for i, v in enumerate((dx.size, dx.sum(), dy.sum(), (dx * dx).sum(), (dy * dy).sum(), (dx * dy).sum())):
        acc[i] += float(v)


def _merge_counts(parts: list[dict]) -> dict:
    out: dict = {"rows": 0, "labels": {}, "values": {}, "hist": {}, "joint": {}, "sums": {}}
    for part in parts:
        out["rows"] += part["rows"]
        for kind in ("labels", "joint"):
            for key, counter in part[kind].items():
                merged = out[kind].setdefault(key, {})
                for label, n in counter.items():
                    merged[label] = merged.get(label, 0) + n
        for c, hist in part["hist"].items():
            out["hist"][c] = out["hist"].get(c, 0) + hist
        for c, values in part["values"].items():
            merged = out["values"].get(c, {})
            if values is None or merged is None:
                out["values"][c] = None
                continue
            for v, n in values.items():
                merged[v] = merged.get(v, 0) + n
            out["values"][c] = merged if len(merged) <= 4 * EXACT_VALUES else None
        for key, sums in part["sums"].items():
            acc = out["sums"].setdefault(key, [0.0] * 6)
            for i, v in enumerate(sums):
                acc[i] += v
    return out


def _shape(c: str, continuous: bool, counts: dict) -> dict:
    """KS complement (exact from value counts, or from histograms with its error bound) or TV complement."""
    real, syn = counts["real"], counts["synthetic"]
    if not continuous:
        p, q = ({k: v for k, v in t["labels"].get(c, {}).items() if k != _NULL} for t in (real, syn))
        tot_p, tot_q = sum(p.values()), sum(q.values())
        if not tot_p or not tot_q:
            return {"metric": "TVComplement", "score": 1.0 if tot_p == tot_q else 0.0}
        tv = sum(abs(p.get(k, 0) / tot_p - q.get(k, 0) / tot_q) for k in set(p) | set(q))
        return {"metric": "TVComplement", "score": float(1.0 - 0.5 * tv)}
    exact = real["values"].get(c) is not None and syn["values"].get(c) is not None
    if exact:
        grid = np.array(sorted(set(real["values"][c]) | set(syn["values"][c])))
        cdf = [np.cumsum([t["values"][c].get(v, 0) for v in grid.tolist()]) for t in (real, syn)]
        bound = 0.0
    else:
        cdf = [np.cumsum(np.asarray(t["hist"].get(c, np.zeros(HIST_BINS)))) for t in (real, syn)]
        bound = max(float((np.diff(np.concatenate([[0], f])) / max(f[-1], 1)).max()) for f in cdf)
    if not cdf[0].size or cdf[0][-1] == 0 or cdf[1][-1] == 0:
        both_empty = (not cdf[0].size or cdf[0][-1] == 0) and (not cdf[1].size or cdf[1][-1] == 0)
        return {"metric": "KSComplement", "score": 1.0 if both_empty else 0.0, "ks_error_bound": 0.0}
    d = float(np.abs(cdf[0] / cdf[0][-1] - cdf[1] / cdf[1][-1]).max())
    return {"metric": "KSComplement", "score": 1.0 - d, "ks_error_bound": bound, "exact": exact}


def _pearson(sums: list) -> float:
    n, sx, sy, sxx, syy, sxy = sums
    if n < 2:
        return float("nan")
    vx, vy = sxx - sx * sx / n, syy - sy * sy / n
    if vx <= 0 or vy <= 0:
        return float("nan")
    return float(np.clip((sxy - sx * sy / n) / np.sqrt(vx * vy), -1.0, 1.0))


def _pair(a: str, b: str, spec: dict, counts: dict) -> dict:
    key, entry = f"{a}\x01{b}", {"column_1": a, "column_2": b}
    if key in counts["real"]["sums"] or key in counts["synthetic"]["sums"]:
        constant = any(t["min"].get(c) is None or t["min"].get(c) == t["max"].get(c)
                       for t in spec["bounds"].values() for c in (a, b))
        r = [_pearson(counts[t]["sums"].get(key, [0.0] * 6)) for t in ("real", "synthetic")]
        ok = not constant and all(np.isfinite(r))
        entry.update(metric="CorrelationSimilarity", score=1.0 - abs(r[0] - r[1]) / 2.0 if ok else None,
                     real=r[0] if np.isfinite(r[0]) else None, synthetic=r[1] if np.isfinite(r[1]) else None)
        return entry
    p, q = counts["real"]["joint"].get(key, {}), counts["synthetic"]["joint"].get(key, {})
    tot_p, tot_q = max(sum(p.values()), 1), max(sum(q.values()), 1)
    tv = sum(abs(p.get(k, 0) / tot_p - q.get(k, 0) / tot_q) for k in set(p) | set(q))
    entry.update(metric="ContingencySimilarity", score=float(1.0 - 0.5 * tv))
    return entry
