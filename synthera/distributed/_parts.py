"""Reading a table larger than memory: its part files, their rows in bounded batches, and fixed-seed samples.

A source is a Parquet dataset or a folder of files (``*.parquet``, else ``*.csv``),
a glob, or one file. A dataset written by :func:`sample_to_parquet` is read through
its manifest only. Each task reads one part in batches of :data:`BATCH_ROWS`
rows, so a worker never holds more than one batch of the data.

CSV parts carry no types, and pandas reads ``02134`` as 2134. Which columns hold codes
with leading zeros is decided once per source (:func:`text_columns`, by the rule
single files are read with, on the first CSV part's first :data:`PROBE_ROWS` rows), and
every task reads those columns as text, so every part and batch agrees.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from synthera.errors import UserInputError

__all__ = ["BATCH_ROWS", "allocate", "batches", "list_parts", "sample_part", "text_columns"]

BATCH_ROWS = 1 << 20
PROBE_ROWS = 100_000  # rows of the first CSV part that decide which columns are codes with leading zeros
_TABLE_SUFFIXES = (".parquet", ".csv")


def list_parts(source: str | Path) -> list[str]:
    """The part files of ``source``, sorted, as absolute paths; one line naming the fix when there are none."""
    text = str(source)
    path = Path(text).expanduser()
    if any(ch in text for ch in "*?["):
        files = sorted(str(Path(p).absolute()) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    elif path.is_file():
        files = [str(path.absolute())]
    elif path.is_dir():
        manifest = path / "_manifest.json"
        if (path / "_SUCCESS").is_file() and manifest.is_file():
            return [str((path / p["file"]).absolute()) for p in json.loads(manifest.read_text())["parts"]]
        files = []
        for suffix in _TABLE_SUFFIXES:
            files = sorted(str(p.absolute()) for p in path.rglob(f"*{suffix}")
                           if not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts))
            if files:
                break
    else:
        raise UserInputError(f"{text} does not exist; give a Parquet dataset folder, a folder of files or a glob")
    files = [f for f in files if f.endswith(_TABLE_SUFFIXES)]
    if not files:
        raise UserInputError(f"{text} holds no .parquet or .csv file; give a Parquet dataset folder or a glob")
    return files


def text_columns(parts: list[str]) -> list[str]:
    """Columns of a CSV source that hold whole numbers with leading zeros, to be read as text (module docstring).

    Parquet parts store their types: none.
    """
    from synthera.io import keeps_leading_zeros

    first = next((p for p in parts if p.endswith(".csv")), None)
    if first is None:
        return []
    head = pd.read_csv(first, dtype=str, nrows=PROBE_ROWS)
    out = []
    for name in head.columns:
        values = head[name].dropna()
        if values.empty or not values.str.fullmatch(r"[+-]?[0-9]+").all():
            continue
        widths = values.str.len()
        if keeps_leading_zeros(int(values.str.match(r"[+-]?0[0-9]").sum()), len(values), widths.min(), widths.max()):
            out.append(name)
    return out


def batches(path: str, columns: list[str] | None = None, text: list[str] = ()) -> Iterator[pd.DataFrame]:
    """The rows of one part file, :data:`BATCH_ROWS` at a time; a CSV part's ``text`` columns read as text."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        with pq.ParquetFile(path) as handle:
            for batch in handle.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                yield batch.to_pandas()
        return
    yield from pd.read_csv(path, chunksize=BATCH_ROWS, usecols=columns, dtype=dict.fromkeys(text, str) or None)


def count_rows(path: str) -> int:
    """Rows of one part (Parquet: from its footer, without reading the data)."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return sum(len(b) for b in batches(path))


def allocate(counts: list[int], total: int) -> list[int]:
    """Split a sample of ``total`` rows over parts in proportion to their row counts (largest remainder)."""
    rows = sum(counts)
    if total >= rows:
        return list(counts)
    exact = np.asarray(counts, dtype=float) * total / rows
    quota = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: total - int(quota.sum())]] += 1
    return [int(q) for q in quota]


def sample_part(_shared, path: str, index: int, rows: int, take: int, seed: int, text: list[str] = ()) -> pd.DataFrame:
    """Task: ``take`` of the ``rows`` rows of part ``index``, chosen by ``SeedSequence(seed, spawn_key=(index,))``."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
    chosen = np.sort(rng.choice(rows, size=take, replace=False)) if take < rows else np.arange(rows)
    kept, first = [], 0
    for frame in batches(path, text=text):
        lo, hi = np.searchsorted(chosen, [first, first + len(frame)])
        if hi > lo:
            kept.append(frame.iloc[chosen[lo:hi] - first])
        first += len(frame)
    if not kept:
        return next(batches(path, text=text)).iloc[:0]
    return pd.concat(kept, ignore_index=True)


def row_count_task(_shared, path: str) -> dict:
    """Task: the row count of one part."""
    return {"path": path, "rows": count_rows(path)}
