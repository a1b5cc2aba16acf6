"""Leaf frequencies of a fitted cascade re-counted over every row of a table larger than memory.

The trees are grown on a bounded sample (:func:`synthera.distributed.fit_dataset`); their
structure (splits, codes, bins) stays. What this pass replaces is what a leaf *holds*: each
row of every part is coded with the model's own encoder and discretizers, walked down every
tree, and counted as (leaf, code) pairs. The per-part counts are added, and each leaf's
frequencies become its counts over the whole table, so a share of 1e-6 is learnt from the
rows that hold it, not estimated from the handful the sample caught.

What stays as fitted on the sample: the codes themselves. A value replayed exactly holds at
least ``RARE_COUNT`` rows of the sample (so of the table); a category merged into "other"
in the sample stays merged; a category, or a null, that the sample never saw has no code,
and its rows are skipped and counted (``skipped_rows``), never guessed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from synthera.distributed._parts import batches, text_columns
from synthera.distributed.executor import run_tasks
from synthera.errors import DataError

__all__ = ["can_recount", "leaf_counts", "part_leaf_counts", "recount_leaves"]

#: parts per round of tasks: the driver holds at most this many parts' counts before adding them up
PARTS_PER_ROUND = 32


def can_recount(model: Any) -> bool:
    """A non-private cascade (trees over codes); differentially private models spend ε on their counts."""
    return hasattr(model, "trees_") and hasattr(model, "discretizers_") and not model.differentially_private


def recount_leaves(model: Any, parts: list[str], *, client: Any = None) -> dict:
    """Re-count ``model``'s leaf frequencies over every row of ``parts``, in place; returns what was counted."""
    from synthera.distributed.sample import _model_source

    _, files, model_hash = _model_source(model)
    text = text_columns(parts)  # as the fit read them (the same source, so the same columns)
    totals = [np.zeros(tree.leaf_probs.shape, dtype=np.int64) for _, tree in _trees(model)]
    rows = skipped = 0
    for first in range(0, len(parts), PARTS_PER_ROUND):
        calls = [(p, model_hash, text) for p in parts[first:first + PARTS_PER_ROUND]]
        for result in run_tasks(part_leaf_counts, calls, client=client, shared=files, name="synthera-recount"):
            rows, skipped = rows + result["rows"], skipped + result["skipped_rows"]
            for total, (flat, counts) in zip(totals, result["counts"], strict=True):
                np.add.at(total.reshape(-1), flat, counts)
    _set_frequencies(model, totals)
    return {"rows": rows, "skipped_rows": skipped}


def part_leaf_counts(files: dict[str, bytes], path: str, model_hash: str, text: list[str] = ()) -> dict:
    """Task: the (leaf, code) counts of every tree over one part, sparse: (flat indices, counts) per tree."""
    from synthera.distributed.sample import _load

    model = _load(files, model_hash)
    totals = [np.zeros(tree.leaf_probs.size, dtype=np.int64) for _, tree in _trees(model)]
    rows = skipped = 0
    for frame in batches(path, columns=list(model.encoder_.modelled), text=text):
        try:
            codes = _codes(model, frame)
        except DataError:  # a category or a null the model has no code for: count the other rows
            kept = _encodable(model, frame)
            skipped += len(frame) - int(kept.sum())
            codes = _codes(model, frame[kept])
        rows += codes.shape[1]
        for total, counts in zip(totals, _tree_counts(model, codes), strict=True):
            total += counts.reshape(-1)
    sparse = [(np.flatnonzero(t).astype(np.int64), t[t > 0]) for t in totals]
    return {"rows": rows, "skipped_rows": skipped, "counts": sparse}


def leaf_counts(model: Any, frame: pd.DataFrame) -> list[np.ndarray]:
    """Per tree (every tree of a column's forest in turn), a (nodes, codes) array: how many rows of ``frame``
    reach each leaf holding each code."""
    return _tree_counts(model, _codes(model, frame))


def _trees(model: Any) -> list[tuple[int, Any]]:
    """Every tree of the model with the column it predicts, column by column (a forest's members in turn)."""
    from synthera.tabular.cascade import tree_members

    return [(j, member) for j, tree in enumerate(model.trees_) for member in tree_members(tree)]


def _tree_counts(model: Any, codes: np.ndarray) -> list[np.ndarray]:
    out = []
    for j, tree in _trees(model):
        nodes, k = tree.leaf_probs.shape
        keys = tree.apply(codes).astype(np.int64) * k + codes[j].astype(np.int64)
        out.append(np.bincount(keys, minlength=nodes * k).reshape(nodes, k))
    return out


def _codes(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """The rows as the cascade sees them: codes, one row per column in the cascade's order (float32)."""
    encoded = model.encoder_.encode(frame)
    codes = np.zeros((len(model.columns_), len(frame)), dtype=np.float32)
    for j, name in enumerate(model.columns_):
        disc = model.discretizers_.get(name)
        codes[j] = disc.transform(encoded[name]) if disc is not None else encoded[name]
    return codes


def _encodable(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """Rows every modelled column can code: no category, and no null, that the fitted model has no code for."""
    from synthera._columns import category_codes

    kept = np.ones(len(frame), dtype=bool)
    md = model.metadata_
    for name in model.encoder_.modelled:
        col, series = md[name], frame[name]
        null = series.isna().to_numpy()
        if col.kind in ("categorical", "boolean"):
            levels = [col.false_value, col.true_value] if col.kind == "boolean" else col.categories
            unknown = (category_codes(series, levels) == -1) & ~null
            if not (col.kind == "categorical" and col.rare_categories):
                kept &= ~unknown
            if not col.nullable:
                kept &= ~null
        else:
            disc = model.discretizers_.get(name)
            if not col.nullable or (disc is not None and disc.null_code is None):
                kept &= ~null
    return kept


def _set_frequencies(model: Any, counts: list[np.ndarray]) -> None:
    """Leaves reached by rows get their counted frequencies; nodes no row ends in keep theirs.

    Each tree is rebuilt from its arrays, so nothing derived from the old frequencies (the
    sampling table) survives.
    """
    from synthera.tabular.cascade import tree_members, with_members

    counted = iter(counts)
    for j, column in enumerate(model.trees_):
        members = []
        for tree in tree_members(column):
            tree_counts = next(counted)
            totals = tree_counts.sum(axis=1)
            reached = totals > 0
            probs = tree.leaf_probs.copy()
            probs[reached] = tree_counts[reached] / totals[reached, None]
            members.append(type(tree)(tree.left, tree.right, tree.feature, tree.threshold, probs))
        model.trees_[j] = with_members(members)
