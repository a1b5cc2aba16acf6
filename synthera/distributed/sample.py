"""Sample a fitted model into a Parquet dataset, in this process or on Dask workers, with the same bytes.

Rows are drawn in seeded blocks (:data:`synthera.tabular.base.BLOCK_ROWS`; see
:meth:`Synthesizer.sample_rows`), so which process draws which rows changes
nothing. The dataset ``out/`` holds ``part-00000.parquet``, … (``rows_per_file``
rows each, snappy, one row group per seeded block the part touches),
``_manifest.json`` (parts with their rows and SHA-256, rows, seed, model hash)
and ``_SUCCESS``. The commit protocol:

1. every part is written under a temporary name and renamed, by the task that drew it;
2. the manifest, then ``_SUCCESS``, are written last, by the driver;
3. the whole folder is built as a hidden sibling of ``out`` and renamed into place.

A killed run therefore leaves no folder under ``out``; a task rerun after a
worker dies rewrites an identical part. Readers should trust only the parts
that ``_manifest.json`` lists. The driver holds the model and the small
per-part manifests, never the rows.

Examples
--------
>>> from synthera.distributed import cluster, sample_to_parquet
>>> with cluster(workers=2) as client:   # doctest: +SKIP
...     sample_to_parquet("model/", rows=20_000_000, out="synthetic/", seed=0, client=client)["rows"]
20000000
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from synthera.distributed.executor import run_tasks
from synthera.errors import UserInputError
from synthera.io import file_sha256 as _sha256

__all__ = ["DATASET_FORMAT", "read_manifest", "sample_to_parquet", "write_part"]

DATASET_FORMAT = "synthera-sample"
_MANIFEST = "_manifest.json"
_SUCCESS = "_SUCCESS"
_MODEL_FILES = ("manifest.json", "arrays.npz")
#: worker-side cache: model hash -> loaded model (one load per worker process)
_LOADED: dict[str, Any] = {}


def sample_to_parquet(model: Any, *, rows: int, out: str | os.PathLike, seed: int | None = None,
                      rows_per_file: int = 1_000_000, conditions: Mapping[str, Any] | None = None,
                      mitigation: Mapping[str, Any] | None = None, client: Any = None,
                      replace: bool = False) -> dict:
    """Write ``rows`` synthetic rows as a Parquet dataset at ``out``; return its manifest.

    Parameters
    ----------
    model
        A fitted synthesizer, or the folder ``synthera fit`` saved it in.
    rows, seed, conditions
        As in :meth:`~synthera.tabular.base.Synthesizer.sample`; ``seed=None`` draws
        fresh entropy once and records it in the manifest.
    rows_per_file
        Rows per part file. It moves file boundaries only: the rows, in order, are
        the same for any value (the file bytes differ, since the files do).
    mitigation
        Options of :class:`synthera.bias.MitigationOptions` (``balance``, ``parity``, …)
        applied to each seeded block of ``BLOCK_ROWS`` rows.
    client
        A Dask client (see :func:`synthera.distributed.cluster`); ``None`` runs here.
    replace
        Replace an existing dataset at ``out`` (only once the new one is complete).
    """
    from synthera.tabular.base import seed_entropy

    _check_sizes(rows, rows_per_file)
    target = Path(out).expanduser().absolute()
    if target.exists() and not replace:
        raise UserInputError(f"{target} already exists; pick another out folder or pass replace=True")
    synth, files, model_hash = _model_source(model)
    entropy = seed_entropy(seed)
    conditions = dict(conditions or {})
    synth._encode_conditions(conditions)  # impossible conditions fail here, before any worker starts
    schema = _schema(synth, entropy, conditions, rows)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        calls = [(str(staging), i, start, min(start + rows_per_file, rows), rows, entropy, conditions,
                  dict(mitigation) if mitigation else None, schema, model_hash)
                 for i, start in enumerate(range(0, rows, rows_per_file))]
        parts = run_tasks(write_part, calls, client=client, shared=files, name="synthera-part")
        manifest = {"format": DATASET_FORMAT, "format_version": 1, "rows": rows, "seed": entropy,
                    "seed_given": seed is not None, "rows_per_file": rows_per_file, "block_rows": _block_rows(),
                    "model_sha256": model_hash, "conditions": {k: str(v) for k, v in conditions.items()},
                    "mitigation": dict(mitigation) if mitigation else None, "parts": parts}
        _write_small(staging / _MANIFEST, json.dumps(manifest, indent=1, default=str) + "\n")
        _write_small(staging / _SUCCESS, "")
        _fsync(staging)
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def write_part(files: dict[str, bytes], staging: str, index: int, start: int, stop: int, rows: int, seed: int,
               conditions: dict, mitigation: dict | None, schema: bytes, model_hash: str) -> dict:
    """Task: draw rows ``start..stop-1`` and write ``part-<index>.parquet`` in ``staging``; return its manifest.

    Pure: the file's bytes depend only on the arguments (one row group per seeded block the rows
    touch), so any worker, or a rerun, writes the same file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    synth = _load(files, model_hash)
    arrow_schema = pa.ipc.read_schema(pa.py_buffer(schema))
    name = f"part-{index:05d}.parquet"
    final = Path(staging) / name
    tmp = final.with_name(f".{name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with pq.ParquetWriter(tmp, arrow_schema, compression="snappy") as writer:
            for lo, hi in _block_ranges(start, stop):
                writer.write_table(_block_table(synth, lo, hi, rows, seed, conditions, mitigation, arrow_schema))
        _fsync_file(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"file": name, "rows": stop - start, "first_row": start, "bytes": final.stat().st_size,
            "sha256": _sha256(final)}


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of a complete dataset written by :func:`sample_to_parquet`; refuses an incomplete one."""
    folder = Path(path)
    if not (folder / _SUCCESS).is_file() or not (folder / _MANIFEST).is_file():
        raise UserInputError(f"{folder} is not a complete synthera sample (no {_SUCCESS}); sample it again")
    manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("format") != DATASET_FORMAT:
        raise UserInputError(f"{folder}/{_MANIFEST} is not a synthera sample manifest")
    return manifest


# -- steps ----------------------------------------------------------------------------------


def _block_rows() -> int:
    from synthera.tabular.base import BLOCK_ROWS

    return BLOCK_ROWS


def _check_sizes(rows: int, rows_per_file: int) -> None:
    for label, value in (("rows", rows), ("rows_per_file", rows_per_file)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise UserInputError(f"{label} must be a whole number >= 1; got {value!r}", param=label)


def _model_source(model: Any) -> tuple[Any, dict[str, bytes], str]:
    """The loaded model, its saved files as bytes (what the workers load), and its manifest hash."""
    from synthera.tabular import load_synthesizer

    if isinstance(model, (str, os.PathLike)):
        folder = Path(model)
        synth = load_synthesizer(folder)
        return synth, *_read_files(folder)
    with tempfile.TemporaryDirectory(prefix="synthera-model-") as tmp:
        model.save(Path(tmp) / "model")
        return model, *_read_files(Path(tmp) / "model")


def _read_files(folder: Path) -> tuple[dict[str, bytes], str]:
    files = {name: (folder / name).read_bytes() for name in _MODEL_FILES}
    return files, json.loads(files["manifest.json"])["manifest_sha256"]


def _load(files: dict[str, bytes], model_hash: str):
    """The model, loaded once per process from its files (checksums verified by ``load``)."""
    from synthera.tabular import load_synthesizer

    return load_once(files, model_hash, load_synthesizer)


def load_once(files: dict[str, bytes], model_hash: str, loader):
    """``loader(folder)`` on the model's files written to a temporary folder, once per process and model hash.

    A worker keeps only the last model it loaded, so a long-lived worker never accumulates them.
    """
    if model_hash not in _LOADED:
        with tempfile.TemporaryDirectory(prefix="synthera-model-") as tmp:
            for name, data in files.items():
                (Path(tmp) / name).write_bytes(data)
            _LOADED.clear()
            _LOADED[model_hash] = loader(tmp)
    return _LOADED[model_hash]


def _schema(synth, seed: int, conditions: dict, rows: int) -> bytes:
    """The Arrow schema every part uses, read off the first rows; columns with no value there become strings."""
    import pyarrow as pa

    from synthera.tabular.base import DRAW_ROWS

    frame = synth.sample_rows(0, min(rows, DRAW_ROWS), seed=seed, conditions=conditions or None)
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    for i, field in enumerate(schema):
        if pa.types.is_null(field.type):
            schema = schema.set(i, field.with_type(pa.string()))
    return schema.serialize().to_pybytes()


def _block_ranges(start: int, stop: int) -> list[tuple[int, int]]:
    """``[start, stop)`` cut at every multiple of ``BLOCK_ROWS``."""
    size = _block_rows()
    cuts = [start, *range((start // size + 1) * size, stop, size), stop]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def _block_table(synth, lo: int, hi: int, rows: int, seed: int, conditions: dict, mitigation: dict | None, schema):
    """Rows ``lo..hi-1`` (within one block) as one Arrow table, converted draw by draw.

    Plain sampling converts each ``DRAW_ROWS`` draw to Arrow as it comes, so a block is never held
    as one pandas frame (that concatenation, and its page faults, cost about 20% of the CPU).
    """
    import pyarrow as pa

    if mitigation:
        frame = _draw(synth, lo, hi, rows, seed, conditions, mitigation)
        return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    from synthera.tabular.base import DRAW_ROWS

    cuts = [lo, *range((lo // DRAW_ROWS + 1) * DRAW_ROWS, hi, DRAW_ROWS), hi]
    batches = [pa.RecordBatch.from_pandas(synth.sample_rows(a, b, seed=seed, conditions=conditions or None),
                                          schema=schema, preserve_index=False)
               for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return pa.Table.from_batches(batches, schema=schema)


def _draw(synth, lo: int, hi: int, rows: int, seed: int, conditions: dict, mitigation: dict | None):
    """Rows ``lo..hi-1`` (within one block) of the sample: plain, or the block's mitigated rows."""
    if not mitigation:
        return synth.sample_rows(lo, hi, seed=seed, conditions=conditions or None)
    from synthera.bias import MitigationOptions, mitigated_sample

    size = _block_rows()
    block = lo // size
    first = block * size
    block_seed = int(np.random.SeedSequence(seed, spawn_key=(block,)).generate_state(1)[0])
    options = MitigationOptions(**mitigation, conditions=conditions or None, seed=block_seed)
    frame, _ = mitigated_sample(synth, min(first + size, rows) - first, options)
    return frame.iloc[lo - first:hi - first].reset_index(drop=True)


def _write_small(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    _fsync_file(tmp)
    os.replace(tmp, path)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_in(staging: Path, target: Path) -> None:
    """Rename the finished ``staging`` folder to ``target``; an old ``target`` goes only once the new one is there."""
    if not target.exists():
        os.rename(staging, target)
    else:
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:12]}"
        os.rename(target, old)
        os.rename(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    _fsync(target.parent)


