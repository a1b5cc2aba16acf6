"""Within-row order relations (``low <= high``) found in the real rows and kept in the synthetic ones.

A relation is proposed when it holds in every real row where both values are
present, the two columns' ranges overlap (otherwise the bounds alone keep it),
and enough rows back it. Each is a plain dict ``{"low": a, "high": b}`` so a
user can read, drop or add relations (``SequenceSynthesizer(constraints=[...])``).

>>> import pandas as pd
>>> df = pd.DataFrame({"part": [1, 2, 3, 5] * 5, "whole": [2, 2, 4, 9] * 5})
>>> detect_constraints(df, ["part", "whole"])
[{'low': 'part', 'high': 'whole'}]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from synthera.errors import UserInputError

__all__ = ["check_constraints", "count_violations", "detect_constraints", "enforce_constraints"]

#: fewest rows with both values present for a relation to be proposed
MIN_SUPPORT = 20


def _as_numbers(series: pd.Series) -> np.ndarray | None:
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_datetime64_any_dtype(series):
        ts = pd.to_datetime(series)
        return np.where(ts.isna(), np.nan, ts.astype("int64").to_numpy(np.float64))
    if pd.api.types.is_numeric_dtype(series):
        return pd.to_numeric(series, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    return None


def detect_constraints(frame: pd.DataFrame, columns: Iterable[str]) -> list[dict]:
    """Relations ``low <= high`` between numeric (or datetime) columns that every row of ``frame`` satisfies."""
    numbers = {}
    for name in columns:
        values = _as_numbers(frame[name])
        if values is not None and np.isfinite(values).sum() >= MIN_SUPPORT:
            numbers[name] = values
    names = list(numbers)
    kinds = {n: pd.api.types.is_datetime64_any_dtype(frame[n]) for n in names}
    found = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if kinds[a] != kinds[b]:
                continue
            x, y = numbers[a], numbers[b]
            both = np.isfinite(x) & np.isfinite(y)
            if both.sum() < MIN_SUPPORT:
                continue
            x, y = x[both], y[both]
            for low, high, u, v in ((a, b, x, y), (b, a, y, x)):
                if np.all(u <= v) and np.any(u < v) and u.max() > v.min():
                    found.append({"low": low, "high": high})
    return found


def check_constraints(constraints, columns: Iterable[str]) -> list[dict]:
    """Validate user-given relations; one :class:`UserInputError` line for the first bad one."""
    known = set(columns)
    out = []
    for item in constraints:
        if not isinstance(item, dict) or set(item) != {"low", "high"}:
            raise UserInputError(f"a constraint must be {{'low': column, 'high': column}}; got {item!r}")
        for side in ("low", "high"):
            if item[side] not in known:
                raise UserInputError(f"constraint column '{item[side]}' is not a column of the table")
        out.append({"low": item["low"], "high": item["high"]})
    return out


def count_violations(frame: pd.DataFrame, constraints: list[dict]) -> int:
    """Rows breaking at least one relation (rows with a missing value in a pair are not counted)."""
    bad = np.zeros(len(frame), dtype=bool)
    for c in constraints:
        x, y = _as_numbers(frame[c["low"]]), _as_numbers(frame[c["high"]])
        if x is None or y is None:
            continue
        with np.errstate(invalid="ignore"):
            bad |= x > y
    return int(bad.sum())


def enforce_constraints(frame: pd.DataFrame, constraints: list[dict], *, fixed: Iterable[str] = ()) -> pd.DataFrame:
    """Make every row satisfy every relation: where ``low > high``, ``low`` is lowered to ``high``
    (or ``high`` raised to ``low`` when ``low`` is ``fixed``, e.g. the sequence index).

    Clipping, not swapping: the two columns may measure different things on different scales.
    A few passes settle chains (a <= b <= c).
    """
    fixed = set(fixed)
    frame = frame.copy()
    for _ in range(4):
        changed = False
        for c in constraints:
            low, high = c["low"], c["high"]
            x, y = _as_numbers(frame[low]), _as_numbers(frame[high])
            if x is None or y is None:
                continue
            with np.errstate(invalid="ignore"):
                bad = x > y
            if not bad.any():
                continue
            changed = True
            if low in fixed:
                frame[high] = _set(frame[high], bad, frame[low], np.ceil)
            else:
                frame[low] = _set(frame[low], bad, frame[high], np.floor)
        if not changed:
            break
    return frame


def _set(target: pd.Series, rows: np.ndarray, source: pd.Series, rounding) -> pd.Series:
    """``target`` with ``rows`` taken from ``source``, kept in ``target``'s dtype (whole numbers rounded safely)."""
    out = target.copy()
    values = source[rows]
    if pd.api.types.is_integer_dtype(target) and not pd.api.types.is_integer_dtype(source):
        values = rounding(pd.to_numeric(values).astype(float)).astype(target.dtype)
    elif pd.api.types.is_datetime64_any_dtype(target):
        values = pd.to_datetime(values)
    out[rows] = values.to_numpy()
    return out
