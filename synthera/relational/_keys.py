"""Keys of synthetic tables: fresh primary keys, foreign keys matched to synthetic parents, integrity.

Nothing here copies a real key: primary keys are new values (``1..n``, or text
like ``cus_1``), and a foreign key takes the key of a *synthetic* parent row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthera.relational.schema import ForeignKey, key_codes, key_in

__all__ = ["allocate", "assign_foreign_key", "enforce_integrity", "fresh_keys", "key_style", "make_unique"]


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


def _match(child_idx: np.ndarray, slots: np.ndarray, child: pd.DataFrame, parent: pd.DataFrame,
           pairs: list[tuple[str, str]], rng: np.random.Generator) -> np.ndarray:
    """Parent row for each child row: slots paired with children in the order of the wanted attributes."""
    slots = rng.permutation(slots)
    if not pairs or len(child_idx) == 0:
        return slots
    ck, pk = _sort_keys(child.iloc[child_idx], parent.iloc[slots], pairs)
    # lexsort sorts by the last key first; a random last tie-break keeps ties shuffled
    child_order = np.lexsort([rng.random(len(child_idx))] + ck[::-1])
    slot_order = np.lexsort([rng.random(len(slots))] + pk[::-1])
    out = np.empty(len(child_idx), dtype=np.int64)
    out[child_order] = slots[slot_order]
    return out


def assign_foreign_key(child: pd.DataFrame, parent: pd.DataFrame, fk: ForeignKey, *, need: np.ndarray,
                       fixed: list[str], quotas: np.ndarray | None, pairs: list[tuple[str, str]],
                       rng: np.random.Generator, upper: int | None = None) -> np.ndarray:
    """Index of the parent row for each child row (-1 for none).

    Rows where ``need`` is true get a parent; ``fixed`` child columns (set by
    another foreign key already) must agree with the parent's, so matching runs
    within their groups. Parents receive children in proportion to ``quotas``
    (their sampled child counts), and within a group children and parents are
    paired in the order of the ``pairs`` attributes (the child's wanted parent
    attributes against the parent's actual ones).
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
        counts = allocate(q[members], len(block), rng, cap)
        slots = np.repeat(members, counts)
        out[block] = _match(block, slots, child, parent, pairs, rng)
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
