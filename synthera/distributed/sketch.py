"""Mergeable per-part statistics of a table's columns: exact value counts (capped) and quantile sketches.

Each part of a table larger than memory is summarised on its own; summaries are merged by
addition (counts) and by min/max (the extremes of a sketch cell), so the merged result is the
same however the rows are split into parts or batches, in whatever order the parts are merged.

* :func:`value_counts`: the rows of each distinct value, exact, for a column with at most
  :data:`EXACT_VALUES` distinct values. A column with more (an id, free text, a continuous
  number) stops being counted: the merged result is None exactly when the whole table holds
  more than :data:`EXACT_VALUES` distinct values, whatever the split.
* :func:`numeric_sketch`: a number column as counts over a fixed grid of cells in
  ``t = sign(x) * log1p(|x|)``, :data:`CELLS_PER_UNIT` cells per unit of ``t`` (zero in a cell
  of its own), each cell with
  the smallest and largest value it holds. A cell holds the values within ``(1 + |x|) /
  CELLS_PER_UNIT`` of each other (0.2% of ``|x|`` above 1, 0.002 below), so a quantile read at
  its exact rank is off by at most that much; a cell holding one value (``low == high``) is that
  value, exactly. At most ``2 * 710 * CELLS_PER_UNIT`` cells (the float64 range); a column
  spanning 1e-3..1e9 fills about 11,000.

:func:`value_runs` turns the merged counts or sketch into the
:class:`~synthera.tabular.transforms.ValueRuns` a discretizer is fitted from.

Examples
--------
>>> import numpy as np
>>> a = numeric_sketch(np.array([0.0, 0.0, 1.5, 250.0]))
>>> b = numeric_sketch(np.array([0.0, 1.5000001, np.nan]))
>>> merged = merge_sketches([a, b])
>>> merged["counts"].tolist(), merged["lows"].tolist(), merged["highs"].tolist()
([3, 2, 1], [0.0, 1.5, 250.0], [0.0, 1.5000001, 250.0])
>>> merge_counts([{(False, "a"): 2}, {(False, "a"): 1, (False, "b"): 4}])
{(False, 'a'): 3, (False, 'b'): 4}
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from synthera._columns import _UNIFORM_KINDS, category_key

__all__ = ["CELLS_PER_UNIT", "EXACT_VALUES", "cell_of", "merge_counts", "merge_sketches", "numeric_sketch",
           "numeric_values", "value_counts", "value_runs"]

#: Distinct values a column's exact counts hold at most; above, the column is an id, text or continuous.
EXACT_VALUES = 4096
#: Sketch cells per unit of sign(x) * log1p(|x|): a cell spans at most (1 + |x|) / CELLS_PER_UNIT.
CELLS_PER_UNIT = 512


def cell_of(values: np.ndarray) -> np.ndarray:
    """The sketch cell of each (finite) value: ``floor(sign(x) * log1p(|x|) * CELLS_PER_UNIT)``, plus 1 above 0.

    Zero, the most common point mass, has a cell of its own (cell 0), shared with no other value.

    >>> cell_of(np.array([0.0, 1e-9, 0.001, -0.001, 1.0, 1.001])).tolist()
    [0, 1, 1, -1, 355, 356]
    """
    t = np.sign(values) * np.log1p(np.abs(values))
    return np.floor(t * CELLS_PER_UNIT).astype(np.int64) + (values > 0)


def numeric_values(series: pd.Series) -> np.ndarray | None:
    """A number or datetime column as float64 (datetimes: seconds since 1970, as encoders read them); else None."""
    from synthera._columns import to_seconds

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return None
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return to_seconds(series, None)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return None


def numeric_sketch(values: np.ndarray) -> dict:
    """Sketch of one batch of numbers: occupied cells (sorted) with their counts, smallest and largest values.

    Nulls and infinities are left out (nulls are counted elsewhere; infinities are refused at fit).
    """
    x = np.sort(values[np.isfinite(values)])
    cells = cell_of(x)
    starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]]) if x.size else np.zeros(0, dtype=np.int64)
    ends = np.r_[starts[1:], x.size].astype(np.int64)
    return {"cells": cells[starts], "counts": (ends - starts).astype(np.int64),
            "lows": x[starts], "highs": x[ends - 1] if x.size else x[:0]}


def merge_sketches(sketches: list[dict]) -> dict:
    """One sketch of all the values: counts of a cell added, its extremes the extremes of its parts'."""
    cells = np.concatenate([s["cells"] for s in sketches])
    order = np.argsort(cells, kind="stable")
    cells = cells[order]
    if not cells.size:
        return numeric_sketch(np.zeros(0))
    starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])

    def gather(key: str) -> np.ndarray:
        return np.concatenate([s[key] for s in sketches])[order]

    return {"cells": cells[starts], "counts": np.add.reduceat(gather("counts"), starts),
            "lows": np.minimum.reduceat(gather("lows"), starts), "highs": np.maximum.reduceat(gather("highs"), starts)}


def value_counts(series: pd.Series, numbers: np.ndarray | None = None, *, cap: int = EXACT_VALUES) -> dict | None:
    """Rows per distinct non-null value, keyed by :func:`~synthera._columns.category_key`; None above ``cap`` values.

    ``numbers`` (from :func:`numeric_values`) counts the column as the float values encoders read.
    """
    if numbers is not None:
        x = numbers[~np.isnan(numbers)] + 0.0  # + 0.0: -0.0 and 0.0 are one value, keyed alike in every part
        distinct, counts = np.unique(x, return_counts=True)
        if distinct.size > cap:
            return None
        return {(False, float(v)): int(c) for v, c in zip(distinct, counts, strict=True)}
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) not in _UNIFORM_KINDS:
        try:  # value by value: pandas would count True and 1 as one value
            counted = Counter(category_key(v) for v in series)
        except TypeError:  # unhashable cells (lists): not labels, nothing to count
            return None
        return _capped({key: n for key, n in counted.items() if key is not None}, cap)
    counted = series.value_counts(dropna=True, sort=False)
    counted = counted[counted > 0]  # a categorical dtype lists categories no row holds
    if len(counted) > cap:
        return None
    out: dict = {}
    for value, count in counted.items():
        key = category_key(value)
        if key is None:
            continue
        if isinstance(key[1], float):
            key = (key[0], key[1] + 0.0)
        out[key] = out.get(key, 0) + int(count)
    return _capped(out, cap)


def _capped(counts: dict, cap: int) -> dict | None:
    return counts if len(counts) <= cap else None


def merge_counts(counts: list[dict | None], *, cap: int = EXACT_VALUES) -> dict | None:
    """Counts added up; None if any part stopped counting or the merged values pass ``cap``."""
    out: dict = {}
    for part in counts:
        if part is None:
            return None
        for key, count in part.items():
            out[key] = out.get(key, 0) + count
        if len(out) > cap:
            return None
    return out


def value_runs(counts: dict | None, sketch: dict | None, nulls: int) -> Any:
    """The column's values as :class:`~synthera.tabular.transforms.ValueRuns`: exact counts if kept, else the sketch."""
    from synthera.tabular.transforms import ValueRuns

    if counts is not None:
        values = np.sort(np.asarray([key[1] for key in counts], dtype=np.float64))
        rows = np.asarray([counts[(False, float(v))] for v in values], dtype=np.int64)
        return ValueRuns(values, values.copy(), rows, int(nulls))
    if sketch is None:
        return None
    return ValueRuns(sketch["lows"], sketch["highs"], sketch["counts"], int(nulls))
