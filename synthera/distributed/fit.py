"""Fit a synthesizer on a table larger than memory, in three passes over its parts.

1. Statistics of every part (:func:`part_stats`), merged by addition or by min/max, so the
   result is the same however the table is split into parts or workers: rows; nulls per
   column; bounds of number columns; exact value counts of every column with at most
   :data:`~synthera.distributed.sketch.EXACT_VALUES` distinct values in the whole table; and a
   quantile sketch of every number and datetime column (:mod:`synthera.distributed.sketch`).
2. A fixed-seed sample of at most ``sample_rows`` rows, spread over the parts in
   proportion to their rows (``SeedSequence(seed, spawn_key=(part,))`` picks the
   rows of each part). Kinds are inferred on the sample; everything pass 1 measured
   replaces what the sample would say (:func:`dataset_metadata`), and the model is fitted
   on the sample inside :func:`~synthera.tabular.transforms.whole_table`, so its codes are
   the whole table's.
3. A cascade's leaf frequencies re-counted over every row (:mod:`synthera.distributed.recount`):
   the trees keep the structure grown on the sample, and each leaf's code frequencies become
   the counts of all the rows that reach it, added up part by part. A share is then learnt
   from every row that holds it, not with the sample's error of about ``sqrt(p(1-p)/sample_rows)``.

Exact, from every row: the row count, null shares, bounds of number columns, and the
categories of every column with at most ``EXACT_VALUES`` distinct values, with their
counts (so a category outside the sample has its code, and a category is merged into
"other" when fewer than ``RARE_COUNT`` rows *of the table* hold it). The codes of a number
or datetime column (point masses and quantile bins) come from its whole-table values: exactly
(as an in-memory fit on all rows would make them, up to float rounding) when it has at most
``EXACT_VALUES`` distinct values, else from its sketch, where each bin edge and within-bin
quantile is the value at its exact rank up to the width of the sketch cell holding it,
``(1 + |x|) / CELLS_PER_UNIT`` (0.2% of ``|x|`` above 1). Approximate there: a value that
shares its cell with other values is binned, never replayed as a point mass; such cells count
as rare values (k-anonymity's side, so their bins decode uniformly between edges).

From the sample: kinds and formats, decimal places, and columns with more distinct values
than ``EXACT_VALUES`` (ids, text, high-cardinality labels): there a category outside the sample
has no code unless the column has an "other" code, and its rows are skipped in pass 3 and
counted in ``skipped_rows`` (a category with share ``p`` is missed with probability
``(1-p)^sample_rows``). A number column written as text (``1,234.56``) and dates stored as
text keep the sample's codes. Differentially private models take nothing from pass 1 and no
re-count (either would spend no ε); they fit on the sample with the declared metadata.

Examples
--------
>>> from synthera.distributed import cluster, fit_dataset
>>> from synthera.tabular import get_synthesizer
>>> with cluster(workers=4) as client:   # doctest: +SKIP
...     model, info = fit_dataset("big/", get_synthesizer("cascade")(), client=client)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from synthera.distributed import sketch
from synthera.distributed._parts import allocate, batches, list_parts, sample_part, text_columns
from synthera.distributed.executor import run_tasks
from synthera.errors import UserInputError

__all__ = ["DEFAULT_FIT_SAMPLE", "DEFAULT_INSPECT_SAMPLE", "dataset_metadata", "fit_dataset", "infer_dataset_metadata",
           "merge_stats", "part_stats", "table_stats"]

#: Rows the model is fitted on, at most (the sample is bounded, whatever the table's size).
DEFAULT_FIT_SAMPLE = 1_000_000
#: Rows kinds are inferred on by :func:`infer_dataset_metadata`, at most.
DEFAULT_INSPECT_SAMPLE = 100_000


def fit_dataset(source: Any, synthesizer: Any, *, metadata: Any = None, sample_rows: int = DEFAULT_FIT_SAMPLE,
                seed: int = 0, client: Any = None, domain_is_public: bool = False,
                progress: bool = False, recount: bool = True) -> tuple[Any, dict]:
    """Fit ``synthesizer`` on the table at ``source`` (a Parquet dataset, a folder or glob of files).

    Returns the fitted model and what it was fitted on: ``rows`` (all), ``parts``,
    ``sample_rows`` (the rows the model saw), ``seed``, and ``recounted_rows`` and
    ``skipped_rows`` (pass 3: the rows whose leaves were counted, and those with a category
    or null the model has no code for; both 0 without ``recount`` or for a model that has
    no leaves to re-count).
    """
    from synthera.distributed.recount import can_recount, recount_leaves
    from synthera.metadata import Metadata
    from synthera.tabular.transforms import WholeTable, whole_table

    parts, stats, sample = _stats_and_sample(source, sample_rows, seed, client)
    hints = Metadata.from_dict(dict(metadata)) if isinstance(metadata, dict) else metadata
    summary = WholeTable()
    if not synthesizer.differentially_private:
        hints = dataset_metadata(sample, hints, stats)
        if len(sample) < stats["rows"]:  # a sample of every row is the table: an in-memory fit, as it is
            summary = whole_table_summary(hints, stats)
    with whole_table(summary):
        synthesizer.fit(sample, metadata=hints, progress=progress, domain_is_public=domain_is_public)
    sampled = len(sample)
    del sample
    counted = {"rows": 0, "skipped_rows": 0}
    if recount and can_recount(synthesizer):
        counted = recount_leaves(synthesizer, parts, client=client)
    return synthesizer, {"rows": stats["rows"], "parts": len(parts), "sample_rows": sampled,
                         "seed": int(seed), "recounted_rows": counted["rows"],
                         "skipped_rows": counted["skipped_rows"]}


def infer_dataset_metadata(source: Any, *, hints: Any = None, sample_rows: int = DEFAULT_INSPECT_SAMPLE,
                           seed: int = 0, client: Any = None) -> tuple[Any, dict]:
    """Metadata of the table at ``source`` without loading it: pass 1's statistics plus a bounded sample.

    Kinds are inferred on a fixed-seed sample of at most ``sample_rows`` rows; the row count,
    null shares, bounds and categories (with their rare count) come from every row, as in
    :func:`fit_dataset`. Returns the metadata and ``rows``, ``parts``, ``sample_rows`` and
    ``category_rows`` (for each categorical column counted exactly: ``{category: rows}``).
    """
    from synthera.metadata import Metadata

    parts, stats, sample = _stats_and_sample(source, sample_rows, seed, client)
    hints = Metadata.from_dict(dict(hints)) if isinstance(hints, dict) else hints
    md = dataset_metadata(sample, hints, stats)
    md.n_rows = stats["rows"]
    rows = {name: {key[1]: n for key, n in stats["counts"][name].items()} for name, col in md.columns.items()
            if col.kind == "categorical" and stats["counts"].get(name) is not None}
    return md, {"rows": stats["rows"], "parts": len(parts), "sample_rows": len(sample), "category_rows": rows}


def table_stats(source: Any, *, client: Any = None) -> dict:
    """Pass 1 alone: the merged :func:`part_stats` of every part of ``source`` (see :func:`merge_stats`)."""
    parts = list_parts(source)
    text = text_columns(parts)
    return merge_stats(run_tasks(part_stats, [(p, text) for p in parts], client=client, name="synthera-stats"))


def _stats_and_sample(source: Any, sample_rows: Any, seed: int, client: Any) -> tuple[list[str], dict, pd.DataFrame]:
    """Passes 1 and 2: the parts, their merged statistics, and the fixed-seed sample."""
    if isinstance(sample_rows, bool) or not isinstance(sample_rows, (int, np.integer)) or sample_rows < 1:
        raise UserInputError(f"sample_rows must be a whole number >= 1; got {sample_rows!r}",
                             param="sample_rows")
    parts = list_parts(source)
    text = text_columns(parts)
    stats = merge_stats(run_tasks(part_stats, [(p, text) for p in parts], client=client, name="synthera-stats"))
    quotas = allocate(stats["part_rows"], int(sample_rows))
    calls = [(p, i, rows, take, int(seed), text)
             for i, (p, rows, take) in enumerate(zip(parts, stats["part_rows"], quotas, strict=True)) if take]
    sample = pd.concat(run_tasks(sample_part, calls, client=client, name="synthera-sample"), ignore_index=True)
    return parts, stats, sample


def part_stats(_shared, path: str, text: list[str] = ()) -> dict:
    """Task: rows, nulls per column, bounds of number columns, capped value counts and sketches of one part."""
    rows, nulls, low, high, counts, sketches = 0, {}, {}, {}, {}, {}
    for frame in batches(path, text=text):
        rows += len(frame)
        for name in frame.columns:
            series = frame[name]
            nulls[name] = nulls.get(name, 0) + int(series.isna().sum())
            numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
            if numeric and series.notna().any():
                low[name] = min(low.get(name, np.inf), float(series.min()))
                high[name] = max(high.get(name, -np.inf), float(series.max()))
            numbers = sketch.numeric_values(series)
            if numbers is not None:
                batch = sketch.numeric_sketch(numbers)
                sketches[name] = sketch.merge_sketches([sketches[name], batch]) if name in sketches else batch
            if counts.get(name, {}) is not None:
                counts[name] = sketch.merge_counts([counts.get(name, {}), sketch.value_counts(series, numbers)])
    return {"rows": rows, "nulls": nulls, "min": low, "max": high, "counts": counts, "sketches": sketches}


def merge_stats(parts: list[dict]) -> dict:
    """Add up the per-part statistics (rows, nulls, counts, sketch cells) and take the extremes of the bounds.

    Counts are merged part by part and sketches cell by cell, so the driver holds one merged
    summary per column, not every part's.
    """
    out = {"rows": 0, "nulls": {}, "min": {}, "max": {}, "part_rows": [], "counts": {}, "sketches": {}}
    for part in parts:
        out["rows"] += part["rows"]
        out["part_rows"].append(part["rows"])
        for name, count in part["nulls"].items():
            out["nulls"][name] = out["nulls"].get(name, 0) + count
        for name, value in part["min"].items():
            out["min"][name] = min(out["min"].get(name, np.inf), value)
        for name, value in part["max"].items():
            out["max"][name] = max(out["max"].get(name, -np.inf), value)
        for name, counted in part.get("counts", {}).items():
            if out["counts"].get(name, {}) is not None:
                out["counts"][name] = sketch.merge_counts([out["counts"].get(name, {}), counted])
        for name, cells in part.get("sketches", {}).items():
            held = out["sketches"].get(name)
            out["sketches"][name] = cells if held is None else sketch.merge_sketches([held, cells])
    if out["rows"] == 0:
        raise UserInputError("the table has no rows; give a dataset with data")
    return out


def dataset_metadata(sample: pd.DataFrame, hints: Any, stats: dict):
    """Metadata inferred on the sample, with what pass 1 measured on every row in place of the sample's.

    Null shares, number bounds and the categories of columns whose distinct values were all
    counted (with their rare count) are the whole table's; a column inferred boolean on the
    sample that holds more than two values in the table becomes categorical (or numerical,
    for numbers). What the user declared stands.
    """
    from synthera.metadata import infer_metadata

    md = infer_metadata(sample, hints=hints)
    declared = set(hints.columns) if hints is not None else set()
    for name, col in md.columns.items():
        if name in declared:
            continue  # what the user declared stands
        nulls = stats["nulls"].get(name, 0)
        if nulls:
            col.nullable, col.null_fraction = True, round(nulls / stats["rows"], 6)
        counts = stats.get("counts", {}).get(name)
        if col.kind == "boolean" and counts is not None and len(counts) > 2:
            col = md.columns[name] = _beyond_boolean(col, name, stats)
        if col.kind == "numerical" and name in stats["min"] and col.min is not None:
            low, high = stats["min"][name], stats["max"][name]
            col.min = int(low) if col.integer else low
            col.max = int(high) if col.integer else high
        if col.kind == "categorical" and counts is not None:
            _whole_categories(col, counts)
    return md


def _beyond_boolean(col: Any, name: str, stats: dict) -> Any:
    """A column with two values in the sample and more in the table: numerical (numbers) or categorical."""
    from synthera.metadata import ColumnMetadata

    base = {"dtype": col.dtype, "nullable": col.nullable, "null_fraction": col.null_fraction}
    if name in stats["sketches"] and name in stats["min"]:
        low, high = stats["min"][name], stats["max"][name]
        integral = all(float(key[1]).is_integer() for key in stats["counts"][name])
        return ColumnMetadata(kind="numerical", integer=integral, precision=0 if integral else None,
                              min=int(low) if integral else low, max=int(high) if integral else high, **base)
    out = ColumnMetadata(kind="categorical", categories=[], **base)
    _whole_categories(out, stats["counts"][name])
    return out


def _whole_categories(col: Any, counts: dict) -> None:
    """The categories of every row, ordered as inference orders them, and how many are rare in the table.

    Left as inferred when a category of the sample is not among the table's values as read
    (inference turned the column's values into text, say).
    """
    from synthera._columns import category_key
    from synthera.metadata import RARE_COUNT

    if not all(category_key(c) in counts for c in col.categories or []):
        return
    col.categories = sorted((key[1] for key in counts), key=lambda v: (str(type(v)), v))
    col.rare_categories = sum(1 for c in counts.values() if c < RARE_COUNT) or None


def whole_table_summary(md: Any, stats: dict) -> Any:
    """What the encoder takes from every row: counts of categorical columns, value runs of continuous ones."""
    from synthera.tabular.transforms import WholeTable

    counts, runs = {}, {}
    for name, col in md.columns.items():
        held = stats.get("counts", {}).get(name)
        if col.kind == "categorical" and held is not None:
            counts[name] = held
        continuous = (col.kind == "numerical" and col.number_format is None) or col.kind == "datetime"
        if continuous and name in stats.get("sketches", {}):
            runs[name] = sketch.value_runs(held, stats["sketches"][name], stats["nulls"].get(name, 0))
    return WholeTable(counts=counts, runs=runs)
