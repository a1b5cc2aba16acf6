"""Privacy: does the synthetic table give away the people in the real one?

Distances are Euclidean on the encoding of :meth:`EvalData.matrix` with
``distance=True``: numbers in units of the real range, one unit of squared
distance per mismatched category or null flag. To compare like with like, the
real (training) table is subsampled to the holdout's size (``n_reference``), and
at most :data:`MAX_SYNTHETIC_ROWS` synthetic rows are used.

``exact_copy_rate``
    Share of synthetic rows equal, in every evaluated column, to some real row.
``dcr_share``
    Share of synthetic rows nearer to the training sample than to the holdout
    (ties count half). About 0.5 is ideal; near 1.0 the generator reproduces
    its training rows.
``dcr_median_synthetic`` / ``dcr_median_holdout``
    Median distance to the closest training row, from synthetic rows and from
    holdout rows (the distance a genuinely new row has).
``nndr``
    Median ratio of a synthetic row's closest to second-closest training row;
    values near 0 mean synthetic rows sit on top of single training rows.
``replayed_values``
    Per column (ids, personal data, text, numbers, dates, categories): how many
    synthetic cells hold exactly a real value, and how many a *rare* real value
    (held by fewer than :data:`RARE_K` real rows), against the share chance
    gives (holdout rows, else the share of the value grid the rare values
    occupy). A column is ``flagged`` when it replays personal data or ids, or,
    being high-cardinality, replays rare values far beyond chance.
``mia_auc``
    A membership-inference attack: score each training and holdout row by how
    near its closest synthetic row is, and measure the ROC AUC of telling the
    two apart. 0.5 is ideal.

The three risks follow the definitions of Giomi et al., "A Unified Framework
for Quantifying Privacy Risk in Synthetic Data" (PoPETs 2023, the basis of the
``anonymeter`` package). Each attack is run against the training rows and,
identically, against the holdout rows it never saw; the risk is
``max(0, (attack - control) / (1 - control))``. ``anonymeter`` itself pins
``numpy<1.27`` and ``pyarrow<22``, which this environment cannot take, so
these are vectorised re-implementations of the definitions:

``singling_out_risk``
    Multivariate queries: a synthetic row's values on 3 random columns
    (numbers as exact values when they take at most 64 values, otherwise as
    one of 20 quantile bins) that match exactly one synthetic row. Success:
    the query matches exactly one row of the attacked table.
``linkability_risk``
    The columns are split at random into two halves; for each attacked row the
    closest synthetic row is found on each half. Success: both halves lead to
    the same synthetic row.
``inference_risk``
    For each secret column (the target and sensitive columns, else up to three
    categorical columns), guess an attacked row's secret from the closest
    synthetic row on all other columns. Success: the right label (numbers:
    within 5%). The reported risk is the largest over secrets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthera.evaluate._data import EvalData
from synthera.evaluate.registry import register_metric

__all__ = [
    "MAX_SYNTHETIC_ROWS",
    "N_ATTACKS",
    "distance_to_closest_record",
    "exact_copy_rate",
    "inference_risk",
    "linkability_risk",
    "replayed_values",
    "singling_out_risk",
]

MAX_SYNTHETIC_ROWS = 20_000
MAX_REFERENCE_ROWS = 20_000
N_ATTACKS = 2_000
_CHUNK = 2_048


def _risk(attack: float, control: float) -> float:
    if control >= 1.0:
        return 0.0
    return float(max(0.0, (attack - control) / (1.0 - control)))


def _subsample(data: EvalData, n: int, limit: int, salt: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(data.rng(salt).choice(n, limit, replace=False))


def _samples(data: EvalData) -> dict:
    """Row indices used by the attacks: equal-size train and holdout, capped synthetic."""

    def compute():
        n = min(len(data.real), len(data.holdout), MAX_REFERENCE_ROWS)
        return {
            "real": _subsample(data, len(data.real), n, 11),
            "holdout": _subsample(data, len(data.holdout), n, 12),
            "synthetic": _subsample(data, len(data.synthetic), MAX_SYNTHETIC_ROWS, 13),
        }

    return data.cached(("privacy-samples",), compute)


def _nearest(queries: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance to, and index of, each query's nearest reference row (chunked BLAS)."""
    ref_sq = np.einsum("ij,ij->i", reference, reference)
    dist = np.empty(len(queries), dtype=np.float64)
    index = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), _CHUNK):
        q = queries[start : start + _CHUNK]
        d2 = q @ reference.T
        d2 *= -2.0
        d2 += ref_sq[None, :]  # + |q|² is constant per row: added after the argmin
        idx = np.argmin(d2, axis=1)
        best = d2[np.arange(len(q)), idx] + np.einsum("ij,ij->i", q, q)
        dist[start : start + len(q)] = np.sqrt(np.maximum(best, 0.0))
        index[start : start + len(q)] = idx
    return dist, index


def _closest_both_ways(a: np.ndarray, b: np.ndarray, *, second: bool = False):
    """For every row of ``a`` its closest (and second-closest) row of ``b``, and vice versa.

    One pass over the ``a × b`` distance matrix, in chunks of ``a`` rows.
    """
    a_sq = np.einsum("ij,ij->i", a, a)
    b_sq = np.einsum("ij,ij->i", b, b)
    a_min = np.empty(len(a))
    a_second = np.empty(len(a)) if second else None
    b_min = np.full(len(b), np.inf)
    for start in range(0, len(a), _CHUNK):
        q = a[start : start + _CHUNK]
        rows = np.arange(len(q))
        d2 = q @ b.T
        d2 *= -2.0
        d2 += b_sq[None, :]
        d2 += a_sq[start : start + len(q), None]
        np.maximum(d2, 0.0, out=d2)
        np.minimum(b_min, d2.min(axis=0), out=b_min)
        idx = np.argmin(d2, axis=1)
        a_min[start : start + len(q)] = d2[rows, idx]
        if second:
            d2[rows, idx] = np.inf
            a_second[start : start + len(q)] = d2.min(axis=1)
    out = [np.sqrt(a_min), np.sqrt(b_min)]
    if second:
        out.append(np.sqrt(a_second))
    return out


def _row_keys(data: EvalData, frame: str) -> np.ndarray:
    cols = []
    for col in data.columns:
        v = data.values(frame, col)
        cols.append(pd.Series(v.astype(np.float64)))
    return pd.util.hash_pandas_object(pd.concat(cols, axis=1), index=False).to_numpy()


@register_metric("exact_copy_rate", section="privacy")
def exact_copy_rate(data: EvalData) -> dict:
    """Share of synthetic rows that copy a real row exactly (0 is ideal)."""
    real = _row_keys(data, "real")
    syn = _row_keys(data, "synthetic")
    return {"exact_copy_rate": float(np.isin(syn, real).mean())}


@register_metric(
    "distance_to_closest_record",
    section="privacy",
    keys=("dcr_share", "dcr_median_synthetic", "dcr_median_holdout", "nndr", "mia_auc", "n_reference"),
    needs=("holdout",),
    min_rows=("real", "synthetic", "holdout"),
)
def distance_to_closest_record(data: EvalData) -> dict:
    """DCR share, DCR medians, NNDR and a distance-based membership attack."""
    from sklearn.metrics import roc_auc_score

    idx = _samples(data)
    train = data.matrix("real", distance=True)[idx["real"]]
    hold = data.matrix("holdout", distance=True)[idx["holdout"]]
    syn = data.matrix("synthetic", distance=True)[idx["synthetic"]]
    nearest, member, second = _closest_both_ways(syn, train, second=True)
    syn_to_hold, outsider = _closest_both_ways(syn, hold)
    hold_to_train, _ = _closest_both_ways(hold, train)
    share = float(np.mean(np.where(nearest == syn_to_hold, 0.5, nearest < syn_to_hold)))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(second > 0, nearest / second, np.where(nearest > 0, 1.0, 0.0))
    labels = np.r_[np.ones(len(member)), np.zeros(len(outsider))]
    auc = float(roc_auc_score(labels, -np.r_[member, outsider]))
    return {
        "dcr_share": share,
        "dcr_median_synthetic": float(np.median(nearest)),
        "dcr_median_holdout": float(np.median(hold_to_train)),
        "nndr": float(np.median(ratio)),
        "mia_auc": auc,
        "n_reference": len(train),
        "_plot": {"dcr_synthetic": nearest, "dcr_holdout": hold_to_train},
    }


# --------------------------------------------------------------------------- attacks (Giomi et al.)


def _attack_codes(data: EvalData, frame: str, col: str) -> np.ndarray:
    """Integer codes for query matching: labels, exact small-domain numbers, or quantile bins."""

    def compute():
        if not data.is_continuous(col):
            return {f: data.values(f, col) for f in data.frames}
        real = data.values("real", col)
        finite = real[~np.isnan(real)]
        distinct = np.unique(finite)
        if distinct.size == 0:  # no values in the real table: only "null" and "something"
            return {f: np.where(np.isnan(data.values(f, col)), -1, 0) for f in data.frames}
        if distinct.size <= 64:
            edges = distinct
            out = {}
            for f in data.frames:
                v = data.values(f, col)
                pos = np.searchsorted(edges, v)
                exact = (pos < edges.size) & (edges[np.minimum(pos, edges.size - 1)] == v)
                out[f] = np.where(np.isnan(v), -1, np.where(exact, pos, edges.size + 1))
            return out
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, 21)[1:-1])) if finite.size else np.array([])
        return {f: np.where(np.isnan(v := data.values(f, col)), -1, np.searchsorted(edges, v)) for f in data.frames}

    return data.cached(("attack-codes", col), compute)[frame]


def _keys(data: EvalData, frame: str, cols: list[str], rows: np.ndarray) -> np.ndarray:
    key = np.zeros(len(rows), dtype=np.int64)
    for col in cols:
        c = _attack_codes(data, frame, col)[rows] + 1  # null (-1) becomes 0
        key = key * (int(max(_attack_codes(data, f, col).max() for f in data.frames)) + 2) + c
    return key


def _count_in(reference: np.ndarray, queries: np.ndarray) -> np.ndarray:
    uniq, counts = np.unique(reference, return_counts=True)
    pos = np.clip(np.searchsorted(uniq, queries), 0, max(len(uniq) - 1, 0))
    return np.where(uniq[pos] == queries, counts[pos], 0) if len(uniq) else np.zeros(len(queries), int)


@register_metric("singling_out_risk", section="privacy", keys=("singling_out_risk", "singling_out"), needs=("holdout",),
                 min_rows=("real", "synthetic", "holdout"))
def singling_out_risk(data: EvalData) -> dict:
    """Risk that queries built from synthetic rows single out one training row."""
    rng = data.rng(21)
    idx = _samples(data)
    width = min(3, len(data.columns))
    n_subsets = 50
    per_subset = max(1, N_ATTACKS // n_subsets)
    hits_train = hits_control = queries = 0
    for _ in range(n_subsets):
        cols = list(rng.choice(data.columns, width, replace=False))
        syn = _keys(data, "synthetic", cols, idx["synthetic"])
        uniq, counts = np.unique(syn, return_counts=True)
        candidates = uniq[counts == 1]
        if candidates.size == 0:
            continue
        chosen = rng.choice(candidates, min(per_subset, candidates.size), replace=False)
        hits_train += int((_count_in(_keys(data, "real", cols, idx["real"]), chosen) == 1).sum())
        hits_control += int((_count_in(_keys(data, "holdout", cols, idx["holdout"]), chosen) == 1).sum())
        queries += chosen.size
    if queries == 0:
        note = "no query singles out a synthetic row"
        return {"singling_out_risk": 0.0, "singling_out": {"queries": 0, "note": note}}
    attack, control = hits_train / queries, hits_control / queries
    return {
        "singling_out_risk": _risk(attack, control),
        "singling_out": {"queries": queries, "attack_rate": attack, "control_rate": control,
                         "columns_per_query": width},
    }


def _targets(data: EvalData, salt: int) -> dict:
    idx = _samples(data)
    n = min(N_ATTACKS, len(idx["real"]))
    rng = data.rng(salt)
    return {f: np.sort(rng.choice(idx[f], n, replace=False)) for f in ("real", "holdout")}


@register_metric("linkability_risk", section="privacy", keys=("linkability_risk", "linkability"), needs=("holdout",),
                 min_rows=("real", "synthetic", "holdout"))
def linkability_risk(data: EvalData) -> dict:
    """Risk that two halves of a training row are linked through one synthetic row."""
    if len(data.columns) < 2:
        return {"linkability_risk": 0.0, "linkability": {"note": "needs at least two columns"}}
    rng = data.rng(31)
    order = list(rng.permutation(data.columns))
    halves = order[: len(order) // 2], order[len(order) // 2 :]
    targets = _targets(data, 32)
    syn_rows = _samples(data)["synthetic"]
    rates = {}
    for frame in ("real", "holdout"):
        links = []
        for half in halves:
            ref = data.matrix("synthetic", columns=half, distance=True)[syn_rows]
            q = data.matrix(frame, columns=half, distance=True)[targets[frame]]
            links.append(_nearest(q, ref)[1])
        rates[frame] = float(np.mean(links[0] == links[1]))
    return {
        "linkability_risk": _risk(rates["real"], rates["holdout"]),
        "linkability": {
            "attacks": len(targets["real"]),
            "attack_rate": rates["real"],
            "control_rate": rates["holdout"],
            "columns_a": halves[0],
            "columns_b": halves[1],
        },
    }


def _secrets(data: EvalData) -> list[str]:
    chosen = [c for c in (data.target, *data.sensitive) if c is not None]
    if chosen:
        return chosen
    return [c for c in data.columns if not data.is_continuous(c)][-3:] or data.columns[-1:]


@register_metric("inference_risk", section="privacy", keys=("inference_risk", "inference"), needs=("holdout",),
                 min_rows=("real", "synthetic", "holdout"))
def inference_risk(data: EvalData) -> dict:
    """Risk that a training row's secret column is inferred from its nearest synthetic row."""
    if len(data.columns) < 2:
        return {"inference_risk": 0.0, "inference": {"note": "needs at least two columns"}}
    targets = _targets(data, 41)
    syn_rows = _samples(data)["synthetic"]
    detail = {}
    for secret in _secrets(data):
        ref = data.matrix("synthetic", exclude=(secret,), distance=True)[syn_rows]
        guess_pool = data.values("synthetic", secret)[syn_rows]
        rates = {}
        for frame in ("real", "holdout"):
            q = data.matrix(frame, exclude=(secret,), distance=True)[targets[frame]]
            guess = guess_pool[_nearest(q, ref)[1]]
            truth = data.values(frame, secret)[targets[frame]]
            if data.is_continuous(secret):
                with np.errstate(invalid="ignore"):
                    ok = np.abs(guess - truth) <= 0.05 * np.abs(truth)
                ok |= np.isnan(guess) & np.isnan(truth)
            else:
                ok = guess == truth
            rates[frame] = float(np.mean(ok))
        detail[secret] = {
            "risk": _risk(rates["real"], rates["holdout"]),
            "attack_rate": rates["real"],
            "control_rate": rates["holdout"],
        }
    return {
        "inference_risk": max(d["risk"] for d in detail.values()),
        "inference": {"attacks": len(targets["real"]), "secrets": detail},
    }


# --------------------------------------------------------------------------- real values replayed

RARE_K = 5  # a real value held by fewer than this many real rows is rare: replaying it points at a person
_HIGH_CARDINALITY = 0.5  # distinct values per non-null real cell from which a column is high-cardinality
_MIN_DISTINCT = 20
_REPLAY_MARGIN = 0.01


def _cell_keys(data: EvalData, frame: str, column: str) -> np.ndarray:
    """Each non-null cell as one comparable key: the shared codes or numbers of an evaluated column, else text."""
    if column in data.columns:  # categories share codes across tables; numbers (1 and 1.0) and dates are floats
        values = data.values(frame, column)
        return values[~np.isnan(values)] if data.is_continuous(column) else values[values >= 0]
    series = data.frame(frame)[column].dropna()
    if pd.api.types.is_float_dtype(series):
        text = series.astype(str)
        whole = (series % 1 == 0) & (series.abs() < 2.0**63)
        series = text.mask(whole, series[whole].astype("int64").astype(str))
    return series.astype(str).str.strip().to_numpy(dtype=object)


def _grid_chance(data: EvalData, column: str, rare: np.ndarray) -> float:
    """Share of a number column's value grid that rare real values occupy: the replay rate of chance."""
    if not data.is_continuous(column) or rare.size == 0:
        return 0.0
    real = data.values("real", column)
    real = real[np.isfinite(real)]
    span = float(real.max() - real.min()) if real.size else 0.0
    if span == 0:
        return 1.0
    step = None
    for decimals in range(7):
        scaled = real * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            step = 10.0**-decimals
            break
    if data.kind(column) == "datetime":
        step = {"year": 3.15e7, "month": 2.6e6, "day": 86400.0, "hour": 3600.0, "minute": 60.0, "second": 1.0}.get(
            getattr(data.metadata[column], "datetime_step", None), step)
    if step is None:  # free floats: a fresh value meets a real one only by copying
        return 0.0
    return float(min(1.0, rare.size / (span / step + 1)))


def _replay_counts(real: np.ndarray, other: np.ndarray) -> dict:
    uniq, counts = np.unique(real, return_counts=True)
    rare = uniq[counts < RARE_K]
    rare_hit = np.isin(other, rare)
    return {
        "cells": len(other),
        "replayed_cells": int(np.isin(other, uniq).sum()),
        "rare_replayed_cells": int(rare_hit.sum()),
        "rare_values_replayed": int(np.unique(other[rare_hit]).size),
        "rare": rare,
        "distinct": len(uniq),
    }


def _replay_entry(data: EvalData, column: str) -> dict:
    meta = data.metadata[column]
    real = _cell_keys(data, "real", column)
    got = _replay_counts(real, _cell_keys(data, "synthetic", column))
    cells = got["cells"]
    entry = {
        "kind": meta.kind,
        "synthetic_cells": cells,
        "replayed_cells": got["replayed_cells"],
        "replayed_share": got["replayed_cells"] / cells if cells else 0.0,
        "rare_real_values": int(got["rare"].size),
        "rare_replayed_cells": got["rare_replayed_cells"],
        "rare_replayed_share": got["rare_replayed_cells"] / cells if cells else 0.0,
        "rare_values_replayed": got["rare_values_replayed"],
        "high_cardinality": bool(got["distinct"] >= max(_MIN_DISTINCT, _HIGH_CARDINALITY * len(real))),
    }
    if meta.pii_type:
        entry["pii_type"] = meta.pii_type
    if data.holdout is not None:
        control = _replay_counts(real, _cell_keys(data, "holdout", column))
        entry["chance_share"] = control["rare_replayed_cells"] / control["cells"] if control["cells"] else 0.0
        entry["chance_from"] = "holdout"
    else:
        entry["chance_share"] = _grid_chance(data, column, got["rare"])
        entry["chance_from"] = "value grid"
    entry["flagged"], entry["reason"] = _replay_verdict(data, column, real, entry)
    return entry


def _sequential_key(real: np.ndarray) -> bool:
    numbers = pd.to_numeric(pd.Series(real), errors="coerce")
    if numbers.isna().any() or numbers.empty or not (numbers % 1 == 0).all():
        return False
    return int(numbers.max() - numbers.min()) + 1 == numbers.nunique()


def _replay_verdict(data: EvalData, column: str, real: np.ndarray, entry: dict) -> tuple[bool, str | None]:
    kind = entry["kind"]
    beyond_chance = entry["rare_replayed_share"] > 2 * entry["chance_share"] + _REPLAY_MARGIN
    if kind == "id":
        if _sequential_key(real):
            return False, None  # row numbers 1..n identify no one
        if entry["rare_replayed_cells"]:
            return True, "real identifiers reappear in the synthetic rows"
        return False, None
    if kind == "pii":
        if entry.get("pii_type") == "person_name":
            hit = beyond_chance and entry["rare_replayed_cells"] > 0
        else:
            hit = entry["replayed_cells"] > 0
        return (True, "real personal data reappears in the synthetic rows") if hit else (False, None)
    if entry["high_cardinality"] and entry["rare_replayed_cells"] and beyond_chance:
        return True, f"values held by fewer than {RARE_K} real rows reappear far more often than chance"
    return False, None


@register_metric("replayed_values", section="privacy")
def replayed_values(data: EvalData) -> dict:
    """Per column: synthetic cells that replay real values, above all rare ones (held by fewer than 5 real rows)."""
    out = {}
    for column in data.real.columns:
        if data.metadata[column].kind == "boolean":
            continue
        if data.real[column].isna().all():
            continue
        out[column] = _replay_entry(data, column)
    return {"replayed_values": out}
