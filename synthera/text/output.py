"""Write and read SynthGen datasets: JSONL (FLock format), Parquet, a Hugging Face dataset, a manifest.

For ``--out data/sql.jsonl`` the files are:

* ``data/sql.jsonl``: one record per line, FLock's conversation format
  ``{"system": ..., "conversations": [{"role": "user", ...}, {"role": "assistant", ...}], "meta": {...}}``
  (FLock's loaders read ``system`` and ``conversations`` and ignore ``meta``);
* ``data/sql.parquet``: the same records as columns ``system``,
  ``conversations`` and ``meta`` (a JSON text);
* ``data/sql.hf/``: a :class:`datasets.Dataset` saved with ``save_to_disk``
  (columns ``system``, ``conversations``, ``meta``);
* ``data/sql.manifest.json``: config, model, seed, counts kept and dropped
  by reason, distributions and throughput;
* ``data/sql.db``: for Text-to-SQL over a synthetic database, a copy of it
  (``meta.db`` names it).

Every file appears only when complete (atomic writes).

>>> from synthera.text.output import load_dataset
>>> ds = load_dataset("data/sql.jsonl")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from synthera._extras import require
from synthera.errors import DataError, UserInputError

__all__ = ["load_dataset", "output_paths", "read_records", "write_dataset"]


def output_paths(out: str | os.PathLike) -> dict[str, Path]:
    """The files written for the ``.jsonl`` path ``out``."""
    out = Path(out)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return {
        "jsonl": out,
        "parquet": out.with_name(stem + ".parquet"),
        "hf": out.with_name(stem + ".hf"),
        "manifest": out.with_name(stem + ".manifest.json"),
        "db": out.with_name(stem + ".db"),
        "cache": out.with_name(stem + ".cache.jsonl"),
    }


def _check_record(rec: dict, i: int) -> None:
    conv = rec.get("conversations")
    if not isinstance(conv, list) or len(conv) < 2:
        raise ValueError(f"record {i} has no conversation")
    roles = {m.get("role") for m in conv}
    if not {"user", "assistant"} <= roles or any(not str(m.get("content", "")).strip() for m in conv):
        raise ValueError(f"record {i} lacks a non-empty user or assistant turn")


def write_dataset(records: list[dict], manifest: dict, out: str | os.PathLike, *, database=None) -> list[Path]:
    """Write JSONL, Parquet, a Hugging Face dataset folder and the manifest beside ``out``.

    Parameters
    ----------
    records
        FLock conversation records (checked: every one has a non-empty user
        and assistant turn; a placeholder row is a bug, so it raises).
    manifest
        The run's manifest; the output paths are added to it.
    out
        The ``.jsonl`` path.
    database
        A SQLite file to copy beside the output as ``FILE.db``.

    Returns
    -------
    list of pathlib.Path
        The files and folders written; the manifest last.
    """
    import pandas as pd

    from synthera.io import atomic_path, write_text

    paths = output_paths(out)
    for i, rec in enumerate(records):
        _check_record(rec, i)
    written = []
    with atomic_path(paths["jsonl"]) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    written.append(paths["jsonl"])

    flat = [{"system": r["system"], "conversations": r["conversations"],
             "meta": json.dumps(r.get("meta", {}), ensure_ascii=False)} for r in records]
    frame = pd.DataFrame(flat, columns=["system", "conversations", "meta"])
    with atomic_path(paths["parquet"]) as tmp:
        frame.to_parquet(tmp, index=False)
    written.append(paths["parquet"])

    _save_hf(flat, paths["hf"])
    written.append(paths["hf"])

    if database is not None:
        if Path(database).resolve() != paths["db"].resolve():
            with atomic_path(paths["db"]) as tmp:
                shutil.copyfile(database, tmp)
        written.append(paths["db"])

    manifest = dict(manifest)
    manifest["outputs"] = {k: p.name for k, p in paths.items()
                           if k != "db" or database is not None}
    write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n", paths["manifest"])
    written.append(paths["manifest"])
    return written


def _save_hf(rows: list[dict], target: Path) -> None:
    """``datasets.Dataset.save_to_disk`` into a temporary folder, then swap it into place."""
    from synthera.io import atomic_folder

    datasets = require("datasets", "text")
    Dataset, Features, Value = datasets.Dataset, datasets.Features, datasets.Value
    hf_utils = require("datasets.utils", "text")
    disable_progress_bars, enable_progress_bars = hf_utils.disable_progress_bars, hf_utils.enable_progress_bars
    is_progress_bar_enabled = hf_utils.is_progress_bar_enabled

    features = Features({
        "system": Value("string"),
        "conversations": [{"role": Value("string"), "content": Value("string")}],
        "meta": Value("string"),
    })
    ds = Dataset.from_list(rows, features=features) if rows else Dataset.from_dict(
        {"system": [], "conversations": [], "meta": []}, features=features)
    bars = is_progress_bar_enabled()
    disable_progress_bars()
    try:
        with atomic_folder(target) as tmp:
            ds.save_to_disk(str(tmp))
    finally:
        if bars:
            enable_progress_bars()


def read_records(path: str | os.PathLike) -> list[dict]:
    """Read a SynthGen ``.jsonl`` file back into records."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file not found: {path}; check the path")
    out = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                raise DataError(f"{path} line {i} is not valid JSON; regenerate the file") from None
    return out


def load_dataset(path: str | os.PathLike):
    """Load a SynthGen dataset as a :class:`datasets.Dataset`.

    ``path`` is the ``.jsonl`` file, its ``.hf`` folder or its ``.parquet``
    file. The ``meta`` column holds JSON text (``json.loads`` it for the
    task's fields, e.g. ``sql`` and ``difficulty``).
    """
    datasets = require("datasets", "text")
    Dataset, load_from_disk = datasets.Dataset, datasets.load_from_disk

    path = Path(path)
    if path.is_dir():
        return load_from_disk(str(path))
    if path.suffix == ".jsonl":
        hf = output_paths(path)["hf"]
        if hf.is_dir():
            return load_from_disk(str(hf))
        rows = [{"system": r.get("system", ""), "conversations": r["conversations"],
                 "meta": json.dumps(r.get("meta", {}), ensure_ascii=False)} for r in read_records(path)]
        return Dataset.from_list(rows)
    if path.suffix == ".parquet":
        return Dataset.from_parquet(str(path))
    raise UserInputError(f"cannot load {path}; pass a SynthGen .jsonl file, its .parquet file or its .hf folder")
