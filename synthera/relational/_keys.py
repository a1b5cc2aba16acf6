"""Keys of synthetic tables: fresh primary keys, foreign keys matched to synthetic parents, integrity.

Nothing here copies a real key: primary keys are new values (``1..n``, or text
like ``cus_1``), and a foreign key takes the key of a *synthetic* parent row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthera.relational.schema import ForeignKey, key_codes, key_in

__all__ = [
    "allocate", "assign_foreign_key", "count_model", "draw_counts", "enforce_integrity", "fresh_keys", "key_style",
    "make_unique",
]


def key_style(series: pd.Series, table: str) -> dict:
    """How fresh keys for ``series`` look: whole numbers, or text with a prefix."""
    values = series.dropna()
    if pd.api.types.is_integer_dtype(series.dtype) or (
        pd.api.types.is_float_dtype(series.dtype) and len(values) and bool((values == np.round(values)).all())
    ):
        return {"kind": "int", "dtype": str(series.dtype)}
    prefix = "".join(ch for ch in table.lower() if ch.isalnum())[:3] or "k"
    return {"kind": "text", "prefix": prefix + "_", "dtype": str(series.dtype)}


def fresh_keys(style: dict, n: int, *, start: int = 1) -> pd.Series:
    """``n`` new distinct keys in ``style``."""
    numbers = np.arange(start, start + n, dtype=np.int64)
    if style["kind"] == "int":
        dtype = style.get("dtype", "int64")
        return pd.Series(numbers, dtype="Int64" if dtype == "Int64" else ("float64" if "float" in dtype else "int64"))
    return pd.Series([f"{style['prefix']}{i}" for i in numbers], dtype=object)


def allocate(quotas: np.ndarray, total: int, rng: np.random.Generator, upper: np.ndarray | None = None) -> np.ndarray:
    """Whole numbers proportional to ``quotas`` that sum to ``total`` (largest remainders, ties at random)."""
    q = np.clip(np.nan_to_num(np.asarray(quotas, dtype=np.float64)), 0, None)
    if q.size == 0:
        return q.astype(np.int64)
    if q.sum() <= 0:
        q = np.ones_like(q)
    x = q * total / q.sum()
    base = np.floor(x).astype(np.int64)
    left = int(total - base.sum())
    if left > 0:
        frac = x - base + rng.random(q.size) * 1e-9
        base[np.argsort(-frac, kind="stable")[:left]] += 1
    if upper is not None:
        cap = np.maximum(np.asarray(upper, dtype=np.int64), 0)
        typical = max(int(round(float(x[q > 0].mean()))), 1)
        for _ in range(8):  # move what exceeds a parent's bound to parents below theirs
            excess = int(np.clip(base - cap, 0, None).sum())
            room = np.clip(cap - base, 0, None)
            if excess == 0 or room.sum() == 0:
                break
            base = np.minimum(base, cap)
            wanted = np.where(room > 0, q, 0.0)
            if wanted.sum() > 0:  # in proportion to the quotas of the parents that have room
                base += allocate(wanted, min(excess, int(room.sum())), rng)
            else:  # every parent with a quota is full: more parents of the typical size, not a thin spread
                base += _fill(room, excess, typical, rng)
    return base


def _fill(room: np.ndarray, total: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``total`` spread over parents taken in random order, ``size`` each (at most their ``room``)."""
    out = np.zeros(room.size, dtype=np.int64)
    for i in rng.permutation(np.flatnonzero(room > 0)):
        if total <= 0:
            break
        out[i] = min(int(room[i]), size, total)
        total -= out[i]
    return out


def _sort_keys(child: pd.DataFrame, parent: pd.DataFrame, pairs: list[tuple[str, str]]):
    """Comparable sort keys for the child's wanted parent attributes and the parents' actual ones."""
    ck, pk = [], []
    for ccol, pcol in pairs:
        a, b = child[ccol], parent[pcol]
        if pd.api.types.is_numeric_dtype(a.dtype) and pd.api.types.is_numeric_dtype(b.dtype):
            av = pd.to_numeric(a, errors="coerce").to_numpy(dtype=np.float64)
            bv = pd.to_numeric(b, errors="coerce").to_numpy(dtype=np.float64)
        else:
            sa, sb = a.astype(str), b.astype(str)
            levels = {v: i for i, v in enumerate(sorted(set(sa.unique()) | set(sb.unique())))}
            av, bv = sa.map(levels).to_numpy(dtype=np.float64), sb.map(levels).to_numpy(dtype=np.float64)
        ck.append(np.nan_to_num(av, nan=np.inf))
        pk.append(np.nan_to_num(bv, nan=np.inf))
    return ck, pk


def _space(child: pd.DataFrame, parent: pd.DataFrame, pairs: list[tuple[str, str]]):
    """Children's wanted and parents' actual attributes as points for a nearest-parent search.

    Numbers are scaled by the parents' spread; a category (or a missing value) is set
    so far apart that a parent of the wanted category is always nearer than one of another.
    """
    ck, pk = _sort_keys(child, parent, pairs)
    cx, px = [], []
    for (ccol, pcol), a, b in zip(pairs, ck, pk, strict=True):
        numeric = pd.api.types.is_numeric_dtype(child[ccol].dtype) and pd.api.types.is_numeric_dtype(
            parent[pcol].dtype)
        finite = b[np.isfinite(b)]
        spread = float(finite.std()) if numeric and finite.size > 1 else 0.0
        scale = 1.0 / spread if numeric and spread > 0 else 1e3
        cx.append(np.where(np.isfinite(a), a * scale, -1e9))
        px.append(np.where(np.isfinite(b), b * scale, -1e9))
    return np.column_stack(cx), np.column_stack(px)


def _take(cand: np.ndarray, room: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Which rows get their candidate parent: at most ``room[p]`` rows per parent ``p``, at random; updates room."""
    order = np.lexsort((rng.random(cand.size), cand))
    sorted_cand = cand[order]
    starts = np.r_[0, np.flatnonzero(sorted_cand[1:] != sorted_cand[:-1]) + 1]
    rank = np.arange(cand.size) - np.repeat(starts, np.diff(np.r_[starts, cand.size]))
    ok = np.zeros(cand.size, dtype=bool)
    ok[order] = rank < room[sorted_cand]
    np.subtract.at(room, cand[ok], 1)
    return ok


def _first_open(near: np.ndarray, open_: np.ndarray) -> np.ndarray:
    """Per row of ``near`` (neighbour lists), the first neighbour still open; -1 where none is."""
    ok = open_[near]
    first = ok.argmax(axis=1)
    return np.where(ok.any(axis=1), near[np.arange(len(near)), first], -1)


def _match(child_idx: np.ndarray, members: np.ndarray, quotas: np.ndarray, child: pd.DataFrame,
           parent: pd.DataFrame, pairs: list[tuple[str, str]], rng: np.random.Generator,
           cap: np.ndarray | None) -> np.ndarray:
    """Parent row for each child row of ``child_idx``, among ``members`` taking children in proportion to ``quotas``.

    With ``pairs`` (the child's wanted parent attributes, against the parents' actual
    ones), the sampled sizes (largest first) go to the parents most children want:
    the largest to the parent nearest to most children, which seats them, and so on
    for the next largest among the children left (the first :data:`_GREEDY` sizes of
    at least 1% of the children; the rest by how many children want each parent). Each child left then takes its
    nearest parent with room (up to 16 tried), and the last ones take the free places.
    """
    n, m = len(child_idx), members.size
    sizes = allocate(quotas, n, rng, cap)
    if not pairs or n == 0:
        return rng.permutation(np.repeat(members, sizes))
    from scipy.spatial import cKDTree

    cx, px = _space(child.iloc[child_idx], parent.iloc[members], pairs)
    k = min(16, m)
    near = cKDTree(px).query(cx, k=k)[1].reshape(n, k)
    ranked = np.sort(sizes)[::-1]
    open_ = np.ones(m, dtype=bool)
    room = np.zeros(m, dtype=np.int64)
    out = np.full(n, -1, dtype=np.int64)
    given = 0  # sizes handed out so far
    for size in ranked[: min(_GREEDY, int((ranked * 100 >= n).sum()))]:  # sizes of 1% of the children or more
        todo = np.flatnonzero(out < 0)
        cand = _first_open(near[todo], open_)
        votes = np.bincount(cand[cand >= 0], minlength=m)
        if votes.max() == 0:
            break
        p = int(rng.choice(np.flatnonzero(votes == votes.max())))
        wanting = rng.permutation(todo[cand == p])[:size]
        out[wanting] = p
        room[p], open_[p] = size - wanting.size, False
        given += 1
    rest = np.flatnonzero(open_)
    if rest.size:  # the smaller sizes: the most wanted open parents first
        cand = _first_open(near[out < 0], open_)
        demand = np.bincount(cand[cand >= 0], minlength=m)[rest]
        order = rest[np.lexsort((rng.random(rest.size), demand))[::-1]]
        left = ranked[given:][: order.size]
        room[order[: left.size]] = left
    for j in range(k):
        todo = np.flatnonzero(out < 0)
        if todo.size == 0:
            break
        ok = _take(near[todo, j], room, rng)
        out[todo[ok]] = near[todo[ok], j]
    todo = np.flatnonzero(out < 0)
    free = rng.permutation(np.repeat(np.arange(m), np.maximum(room, 0)))[: todo.size]
    out[todo] = np.r_[free, rng.integers(0, m, todo.size - free.size)]  # padding only if every parent is full
    return members[out]


def assign_foreign_key(child: pd.DataFrame, parent: pd.DataFrame, fk: ForeignKey, *, need: np.ndarray,
                       fixed: list[str], quotas: np.ndarray | None, pairs: list[tuple[str, str]],
                       rng: np.random.Generator, upper: int | None = None) -> np.ndarray:
    """Index of the parent row for each child row (-1 for none).

    Rows where ``need`` is true get a parent; ``fixed`` child columns (set by
    another foreign key already) must agree with the parent's, so matching runs
    within their groups. Parents receive children in proportion to ``quotas``
    (their sampled child counts); within a group, each child takes the nearest
    parent with room left on the ``pairs`` attributes (the child's wanted parent
    attributes against the parent's actual ones), the most wanted parents taking
    the largest quotas (see :func:`_match`).
    """
    n = len(child)
    out = np.full(n, -1, dtype=np.int64)
    if len(parent) == 0:
        return out
    q = np.ones(len(parent)) if quotas is None else np.asarray(quotas, dtype=np.float64)
    pcols = [fk.parent_columns[fk.columns.index(c)] for c in fixed]
    if fixed:
        cgroups = key_codes(child[fixed])
        pgroups = key_codes(parent[pcols])
    else:
        cgroups = np.zeros(n, dtype=object)
        pgroups = np.zeros(len(parent), dtype=object)
    by_group: dict = {}
    for i, g in enumerate(pgroups):
        by_group.setdefault(g, []).append(i)
    need_idx = np.flatnonzero(need)
    if fixed:
        order = np.argsort(cgroups[need_idx], kind="stable")
        need_idx = need_idx[order]
        bounds = np.flatnonzero(np.r_[True, cgroups[need_idx][1:] != cgroups[need_idx][:-1], True])
        blocks = [need_idx[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    else:
        blocks = [need_idx]
    for block in blocks:
        if len(block) == 0:
            continue
        members = np.asarray(by_group.get(cgroups[block[0]], []), dtype=np.int64)
        if members.size == 0:
            continue
        cap = None if upper is None else np.full(members.size, upper)
        out[block] = _match(block, members, q[members], child, parent, pairs, rng, cap)
    return out


def make_unique(df: pd.DataFrame, key: list[str], movable: dict[str, float]) -> pd.DataFrame:
    """``df`` with ``key`` unique: duplicates move ``movable`` columns by their step, the rest are dropped.

    ``movable`` maps numeric (or datetime64) key columns to the step that keeps them on their grid.
    """
    if not key or len(df) == 0:
        return df
    df = df.copy()
    for col, step in movable.items():
        for attempt in range(64):
            dup = df.duplicated(subset=key).to_numpy()
            if not dup.any():
                break
            shift = step * (attempt // 2 + 1) * (1 if attempt % 2 == 0 else -1)
            if pd.api.types.is_datetime64_any_dtype(df[col].dtype):
                df.loc[dup, col] = df.loc[dup, col] + pd.to_timedelta(shift, unit="s")
            else:
                df.loc[dup, col] = df.loc[dup, col] + shift
    keep = ~df.duplicated(subset=key).to_numpy() & ~df[key].isna().any(axis=1).to_numpy()
    return df[keep].reset_index(drop=True)


def enforce_integrity(tables: dict[str, pd.DataFrame], fks: list[ForeignKey]) -> dict[str, int]:
    """Null (nullable keys) or drop (others) child rows whose key has no parent row; repeat until stable.

    Returns the rows changed per foreign key; the sampler builds keys that join,
    so this is a guard that should find nothing.
    """
    fixed: dict[str, int] = {}
    for _ in range(len(fks) + 2):
        changed = False
        for fk in fks:
            child = tables[fk.child]
            if len(child) == 0 or fk.orphans == "unmatched":
                continue
            values = child[fk.columns]
            present = ~values.isna().any(axis=1).to_numpy()
            ok = key_in(values, tables[fk.parent][fk.parent_columns])
            bad = present & ~ok
            if not bad.any():
                continue
            changed = True
            fixed[fk.name] = fixed.get(fk.name, 0) + int(bad.sum())
            if fk.nullable:
                child = child.copy()
                for c in fk.columns:
                    child[c] = child[c].astype(object) if not pd.api.types.is_float_dtype(child[c].dtype) else child[c]
                    child.loc[bad, c] = None
                tables[fk.child] = child
            else:
                tables[fk.child] = child[~bad].reset_index(drop=True)
        if not changed:
            break
    return fixed


# ------------------------------------------------------------------------------- child counts

_GREEDY = 64  # sizes given one at a time to the parent most children want (then by demand)
MIN_GROUP = 5  # a count value held by fewer parents is never stored: it is pooled with its neighbours


def count_model(counts: np.ndarray, min_group: int = MIN_GROUP) -> list[list[float]]:
    """The children-per-parent distribution, stored without any count held by fewer than ``min_group`` parents.

    Returns ``[[lo, hi, weight, shape], ...]`` in increasing order: a count held by
    ``min_group`` or more parents is a point (``lo == hi``); the other counts are pooled,
    in order, into runs of at least ``min_group`` parents, drawn between ``lo`` and ``hi``
    as ``lo + (hi - lo) * u ** shape`` with ``shape`` matching the run's mean. A run's
    bounds are midpoints between neighbouring parents' counts (the real minimum and
    maximum, which the model keeps anyway, close the first and last runs). A shorter
    run (fewer rare counts between two common ones) keeps no mean: it is drawn uniformly.
    """
    c = np.sort(np.asarray(counts, dtype=np.float64))
    n = c.size
    if n == 0:
        return []
    values, freq = np.unique(c, return_counts=True)
    common = set(values[freq >= min_group].tolist())
    runs: list[list[int]] = []  # [start, stop) positions into c, rare runs and common points
    i = 0
    while i < n:
        if c[i] in common:
            j = int(np.searchsorted(c, c[i], side="right"))
            runs.append([i, j, 1])
        else:
            j = i
            while j < n and c[j] not in common and (j - i < min_group or c[j] == c[j - 1]):
                j += 1  # a run never splits parents that share a count
            runs.append([i, j, 0])
        i = j
    _pool_short_runs(runs, min_group)
    out = []
    for k, (a, b, point) in enumerate(runs):
        lo = c[a] if k == 0 or point else (c[a - 1] + c[a]) / 2
        hi = c[b - 1] if k == len(runs) - 1 or point else (c[b - 1] + c[b]) / 2
        mean = float(c[a:b].mean())
        flat = hi <= lo or b - a < min_group
        shape = 1.0 if flat else float(np.clip((hi - lo) / max(mean - lo, 1e-9) - 1, 0.1, 10.0))
        out.append([float(lo), float(hi), (b - a) / n, shape])
    return out


def _pool_short_runs(runs: list[list[int]], k: int) -> None:
    """Merge each rare run shorter than ``k`` with a rare neighbour, in place (one between points stays short)."""
    idx = 0
    while idx < len(runs):
        a, b, point = runs[idx]
        nbs = [j for j in (idx - 1, idx + 1) if 0 <= j < len(runs) and not runs[j][2]]
        if point or b - a >= k or not nbs:
            idx += 1
            continue
        lo, hi = min(idx, nbs[0]), max(idx, nbs[0])
        runs[lo:hi + 1] = [[runs[lo][0], runs[hi][1], 0]]
        idx = lo


def draw_counts(model: list[list[float]], order: np.ndarray, low: int, high: int) -> np.ndarray:
    """Counts for ``len(order)`` parents from :func:`count_model`, given to them in the rank of ``order``.

    The counts are the stratified quantiles of the model (one per ``1/n`` of
    probability), so their distribution matches it as closely as ``n`` parents allow;
    the parent ranked highest by ``order`` (e.g. the count its own model sampled) gets the largest.
    """
    n = len(order)
    if n == 0 or not model:
        return np.zeros(n, dtype=np.int64)
    u = (np.arange(n) + 0.5) / n
    weights = np.asarray([g[2] for g in model])
    cum = np.r_[0.0, np.cumsum(weights) / weights.sum()]
    g = np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(model) - 1)
    lo, hi, shape = (np.asarray([m[i] for m in model])[g] for i in (0, 1, 3))
    v = np.clip((u - cum[g]) / np.maximum(cum[g + 1] - cum[g], 1e-12), 0, 1)
    values = np.clip(np.round(lo + (hi - lo) * v ** shape), low, high).astype(np.int64)
    out = np.empty(n, dtype=np.int64)
    out[np.argsort(np.asarray(order, dtype=np.float64), kind="stable")] = values
    return out
