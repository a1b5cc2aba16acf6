"""Fit a synthesizer on a table larger than memory, in three passes over its parts.

1. Statistics of every part, merged by addition (rows, nulls per column) or by
   min/max (bounds of numeric columns): the whole table, read once, in batches.
2. A fixed-seed sample of at most ``sample_rows`` rows, spread over the parts in
   proportion to their rows (``SeedSequence(seed, spawn_key=(part,))`` picks the
   rows of each part). The model is fitted on that sample with metadata whose
   bounds, null shares and row count come from pass 1, so synthetic values span
   the whole table's range, not the sample's.

3. A cascade's leaf frequencies re-counted over every row (:mod:`synthera.distributed.recount`):
   the trees keep the structure grown on the sample, and each leaf's code frequencies become
   the counts of all the rows that reach it, added up part by part. A share is then learnt
   from every row that holds it, not with the sample's error of about ``sqrt(p(1-p)/sample_rows)``.

What this does not do yet: the codes (categories, point masses, quantile bin
edges) come from the sample, so a category held only by rows outside the sample
has no code (those rows are skipped in pass 3 and counted in ``skipped_rows``;
a category with share ``p`` is missed with probability ``(1-p)^sample_rows``),
and bin edges carry the sample's quantile error. Differentially private models
take no bounds from pass 1 and no re-count (either would spend no ε); they fit
on the sample with the declared metadata.

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

from synthera.distributed._parts import allocate, batches, list_parts, sample_part
from synthera.distributed.executor import run_tasks
from synthera.errors import UserInputError

__all__ = ["DEFAULT_FIT_SAMPLE", "fit_dataset", "part_stats"]

#: Rows the model is fitted on, at most (the sample is bounded, whatever the table's size).
DEFAULT_FIT_SAMPLE = 1_000_000


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

    if isinstance(sample_rows, bool) or not isinstance(sample_rows, (int, np.integer)) or sample_rows < 1:
        raise UserInputError(f"sample_rows must be a whole number >= 1; got {sample_rows!r}",
                             param="sample_rows")
    parts = list_parts(source)
    stats = merge_stats(run_tasks(part_stats, [(p,) for p in parts], client=client, name="synthera-stats"))
    quotas = allocate(stats["part_rows"], int(sample_rows))
    calls = [(p, i, rows, take, int(seed)) for i, (p, rows, take) in enumerate(zip(parts, stats["part_rows"], quotas,
                                                                                  strict=True)) if take]
    sample = pd.concat(run_tasks(sample_part, calls, client=client, name="synthera-sample"), ignore_index=True)
    hints = Metadata.from_dict(dict(metadata)) if isinstance(metadata, dict) else metadata
    if not synthesizer.differentially_private:
        hints = _whole_table_metadata(sample, hints, stats)
    synthesizer.fit(sample, metadata=hints, progress=progress, domain_is_public=domain_is_public)
    del sample
    counted = {"rows": 0, "skipped_rows": 0}
    if recount and can_recount(synthesizer):
        counted = recount_leaves(synthesizer, parts, client=client)
    return synthesizer, {"rows": stats["rows"], "parts": len(parts), "sample_rows": int(sum(quotas)),
                         "seed": int(seed), "recounted_rows": counted["rows"],
                         "skipped_rows": counted["skipped_rows"]}


def part_stats(_shared, path: str) -> dict:
    """Task: rows, nulls per column and the bounds of numeric columns of one part."""
    rows, nulls, low, high = 0, {}, {}, {}
    for frame in batches(path):
        rows += len(frame)
        for name in frame.columns:
            series = frame[name]
            nulls[name] = nulls.get(name, 0) + int(series.isna().sum())
            numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
            if numeric and series.notna().any():
                low[name] = min(low.get(name, np.inf), float(series.min()))
                high[name] = max(high.get(name, -np.inf), float(series.max()))
    return {"rows": rows, "nulls": nulls, "min": low, "max": high}


def merge_stats(parts: list[dict]) -> dict:
    """Add up the per-part statistics (rows, nulls) and take the extremes of the bounds."""
    out = {"rows": 0, "nulls": {}, "min": {}, "max": {}, "part_rows": []}
    for part in parts:
        out["rows"] += part["rows"]
        out["part_rows"].append(part["rows"])
        for name, count in part["nulls"].items():
            out["nulls"][name] = out["nulls"].get(name, 0) + count
        for name, value in part["min"].items():
            out["min"][name] = min(out["min"].get(name, np.inf), value)
        for name, value in part["max"].items():
            out["max"][name] = max(out["max"].get(name, -np.inf), value)
    if out["rows"] == 0:
        raise UserInputError("the table has no rows; give a dataset with data")
    return out


def _whole_table_metadata(sample: pd.DataFrame, hints: Any, stats: dict):
    """Metadata inferred on the sample, with bounds and null shares widened to the whole table's."""
    from synthera.metadata import infer_metadata

    md = infer_metadata(sample, hints=hints)
    declared = set(hints.columns) if hints is not None else set()
    for name, col in md.columns.items():
        if name in declared:
            continue  # what the user declared stands
        nulls = stats["nulls"].get(name, 0)
        if nulls:
            col.nullable, col.null_fraction = True, nulls / stats["rows"]
        if col.kind == "numerical" and name in stats["min"] and col.min is not None:
            low, high = stats["min"][name], stats["max"][name]
            col.min = int(low) if col.integer else low
            col.max = int(high) if col.integer else high
    return md
