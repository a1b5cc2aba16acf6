"""Sample a whole synthetic database by blocks of root entities, here or on Dask workers, with the same bytes.

The relational model (:class:`~synthera.relational.RelationalSynthesizer`) builds a
database parents first. To spread it over workers, the database is cut into
*blocks of root entities*: the root table (the largest table with no parent that
generates it, e.g. ``customers``) gets ``roots_per_block`` rows per block (the last
block the rest), and each block is one call of the model's own ``sample`` at the
matching scale, with a seed derived from ``(seed, b)`` only
(``SeedSequence(seed, spawn_key=(b,))``). A block therefore holds its roots and all
their descendants; the other tables without a parent (e.g. ``products``, a second
parent of ``items``) are drawn in every block at the same scale, so that second
parents, self-references and cycles are matched inside the block too. Every block
is a self-contained, key-consistent slice of the database, and the output is the
same, byte for byte, for any number of workers, on any cluster, and in this process.
It depends on ``roots_per_block`` (the blocks are smaller databases), as the rows
of a table model depend on its seed.

Keys are made unique across blocks by one rule, applied to every generated primary
key and to every foreign key column that copies one (transitively): a whole number
``k`` of block ``b`` becomes ``b * key_stride + k``, and a text key ``prefix<k>``
becomes ``prefix<b * key_stride + k>`` (block 0 keeps the keys of a plain sample).
``key_stride`` is a power of ten well above the rows a block draws; a block that
outgrows it is refused. Public tables (reference data the model copies, keys
included) are written once, and their keys are left as they are. A schema whose
keys this rule cannot make unique (a composite primary key with no generated or
inherited key column, a foreign key to such columns) is refused in one line: sample
it in one process.

The output folder ``out/`` holds ``schema.json``, one Parquet dataset per table
(``out/<table>/part-<block>.parquet``, plus that table's ``_manifest.json`` and
``_SUCCESS``), then ``_manifest.json`` (tables, rows, parts with their SHA-256,
seed, model hash) and ``_SUCCESS``, written last. Parts are written by the tasks
under temporary names and renamed; the folder is built as a hidden sibling of
``out`` and renamed into place, so a failed or killed run leaves no ``out``.
:func:`read_sampled_database` reads it back.

Examples
--------
>>> from synthera.distributed import cluster, sample_database
>>> with cluster(workers=2) as client:   # doctest: +SKIP
...     sample_database("shop-model/", scale=100, seed=0, out="synthetic/", client=client)["tables"]["orders"]["rows"]
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthera.distributed.executor import run_tasks
from synthera.distributed.sample import DATASET_FORMAT, _fsync, _fsync_file, _swap_in, _write_small, load_once
from synthera.errors import UserInputError
from synthera.io import file_sha256 as _sha256
from synthera.relational.io import SAMPLED_DATABASE_FORMAT

__all__ = ["DATABASE_FORMAT", "read_sampled_database", "sample_database", "write_block"]

DATABASE_FORMAT = SAMPLED_DATABASE_FORMAT
_MANIFEST = "_manifest.json"
_SUCCESS = "_SUCCESS"
_SCHEMA = "schema.json"
_MODEL_FILES = ("manifest.json", "arrays.npz")
_NUMBERED = re.compile(r"^(.*?)(\d+)$")
#: worker-side cache: model hash -> loaded relational model (one load per worker process)


def sample_database(model_dir: str | os.PathLike, *, scale: float = 1.0, seed: int | None = None,
                    out: str | os.PathLike, client: Any = None, roots_per_block: int = 10_000,
                    conditions: Mapping[str, Mapping[str, Any]] | None = None, replace: bool = False,
                    progress: bool = False) -> dict:
    """Write a synthetic database sampled by blocks of root entities to the folder ``out``; return its manifest.

    Parameters
    ----------
    model_dir
        A folder written by :meth:`RelationalSynthesizer.save` (``synthera fit`` on a database).
    scale
        The root table gets ``scale`` times its real rows, as in :meth:`RelationalSynthesizer.sample`.
    seed
        Same seed (and ``roots_per_block``), same bytes; ``None`` draws fresh entropy once and records it.
    roots_per_block
        Root rows per block (one task each); every other table follows.
    client
        A Dask client (see :func:`synthera.distributed.cluster`); ``None`` runs here.
    conditions
        ``{table: {column: value}}`` as in :meth:`RelationalSynthesizer.sample`, applied in every block.
    replace
        Replace an existing folder at ``out`` (only once the new one is complete).
    progress
        Draw a bar of the blocks written (on stderr).
    """
    from synthera._progress import progress_bar
    from synthera.tabular.base import seed_entropy

    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not np.isfinite(scale) or scale <= 0:
        raise UserInputError(f"scale must be a number above 0; got {scale!r}", param="scale")
    if isinstance(roots_per_block, bool) or not isinstance(roots_per_block, (int, np.integer)) or roots_per_block < 1:
        raise UserInputError(f"roots_per_block must be a whole number >= 1; got {roots_per_block!r}",
                             param="roots_per_block")
    target = Path(out).expanduser().absolute()
    if target.exists() and not replace:
        raise UserInputError(f"{target} already exists; pick another out folder or pass replace=True")
    files, model_hash = _read_files(Path(model_dir))
    model = _load(files, model_hash)
    plan = block_plan(model, scale=scale, roots_per_block=int(roots_per_block))
    plan["conditions"] = {t: {c: v for c, v in cond.items()} for t, cond in (conditions or {}).items()}
    entropy = seed_entropy(seed)
    schemas, public = _probe(model, plan, entropy)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        for t in plan["tables"]:
            (staging / t).mkdir()
        calls = [(str(staging), b, plan, entropy, schemas, model_hash) for b in range(len(plan["roots"]))]
        with progress_bar(len(calls), f"Sampling {len(calls)} block(s) of '{plan['root']}'",
                          enabled=progress) as advance:
            blocks = run_tasks(write_block, calls, client=client, shared=files, name="synthera-db-block",
                               on_result=lambda _: advance(1))
        manifest = _finish(staging, model, plan, blocks, (schemas, public), entropy, seed is not None, model_hash)
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def block_plan(model, *, scale: float, roots_per_block: int) -> dict:
    """The blocks (root rows each), the key stride, and the key columns renumbered per table (JSON-able)."""
    plans, primary = model.plans_, model.primary_
    public = [t for t in model.order_ if "public" in plans[t]]
    roots = [t for t in model.order_ if t not in public and primary[t] is None and "sequence" not in plans[t]]
    if not roots:
        raise UserInputError("this database model has no root table to cut into blocks; sample it in one process "
                             "(without workers)")
    root = max(roots, key=lambda t: (plans[t]["n_rows"], -model.order_.index(t)))
    n_root = int(plans[root]["n_rows"])
    total = int(round(scale * n_root))
    if n_root == 0 or total == 0:
        raise UserInputError(f"scale {scale} gives no rows of the root table '{root}'; pick a larger scale",
                             param="scale")
    sizes = [min(roots_per_block, total - start) for start in range(0, total, roots_per_block)]
    renumbered = _renumbered_columns(model, public)
    expected = max(plans[t]["n_rows"] for t in model.order_ if t not in public) * roots_per_block / n_root
    stride = 10 ** len(str(int(8 * expected) + 100))
    return {"root": root, "root_rows": n_root, "roots": sizes, "roots_per_block": roots_per_block,
            "key_stride": stride, "public": public,
            "tables": list(model.order_), "renumbered": {t: sorted(c) for t, c in renumbered.items()}}


def _renumbered_columns(model, public: list[str]) -> dict[str, set[str]]:
    """Per table, the columns whose keys are renumbered per block; one line for a schema the rule cannot cover."""
    schema, plans = model.schema_, model.plans_
    out: dict[str, set[str]] = {t: set() for t in model.order_}
    for t in model.order_:
        if t not in public and plans[t]["generated_key"] is not None:
            out[t].add(plans[t]["generated_key"])
    changed = True
    while changed:  # a foreign key column copying a renumbered column is renumbered too, transitively
        changed = False
        for fk in schema.foreign_keys:
            if fk.parent in public:
                continue
            for c, pc in zip(fk.columns, fk.parent_columns, strict=True):
                if pc in out[fk.parent] and c not in out[fk.child]:
                    out[fk.child].add(c)
                    changed = True
    for t in model.order_:
        pk = plans[t]["primary_key"]
        if t not in public and pk and not set(pk) & out[t]:
            raise UserInputError(f"table '{t}' has a primary key ({', '.join(pk)}) with no generated or inherited "
                                 "key column, so blocks would repeat its keys; sample this model in one process "
                                 "(without workers)")
    for fk in schema.foreign_keys:
        if fk.parent not in public and not set(fk.parent_columns) & out[fk.parent]:
            raise UserInputError(f"foreign key {fk.name} points at columns that are not block-unique keys; sample "
                                 "this model in one process (without workers)")
    return out


def write_block(files: dict[str, bytes], staging: str, block: int, plan: dict, seed: int, schemas: dict[str, bytes],
                model_hash: str) -> dict:
    """Task: sample block ``block`` and write its part of every table; return the parts' manifests.

    Pure: the files' bytes depend only on the arguments, so any worker, or a rerun, writes the same files.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = _load(files, model_hash)
    tables = sample_block(model, block, plan, seed)
    parts = {}
    for t, df in tables.items():
        if t in plan["public"]:
            continue
        schema = pa.ipc.read_schema(pa.py_buffer(schemas[t]))
        name = f"part-{block:05d}.parquet"
        final = Path(staging) / t / name
        tmp = final.with_name(f".{name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
                writer.write_table(pa.Table.from_pandas(_plain(df), schema=schema, preserve_index=False))
            _fsync_file(tmp)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        parts[t] = {"file": name, "rows": len(df), "block": block, "bytes": final.stat().st_size,
                    "sha256": _sha256(final)}
    return {"block": block, "parts": parts}


def sample_block(model, block: int, plan: dict, seed: int) -> dict[str, pd.DataFrame]:
    """Block ``block`` of the database: the model's sample at the block's scale, its keys renumbered."""
    block_seed = int(np.random.SeedSequence(seed, spawn_key=(block,)).generate_state(1, dtype=np.uint64)[0])
    tables = model.sample(scale=plan["roots"][block] / plan["root_rows"], seed=block_seed,
                          conditions=plan.get("conditions") or None)
    stride = plan["key_stride"]
    for t, columns in plan["renumbered"].items():
        for c in columns:
            if c in tables[t].columns:
                tables[t][c] = _renumber(tables[t][c], block, stride, t)
    return tables


def _renumber(values: pd.Series, block: int, stride: int, table: str) -> pd.Series:
    """Block ``block``'s keys: ``k`` -> ``block * stride + k``; text ``prefix<k>`` -> ``prefix<block * stride + k>``."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        local = values.dropna()
        if len(local) and (local.min() < 0 or local.max() >= stride):
            raise _outgrown(table)
        return values + block * stride

    def one(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return v
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            if not 0 <= v < stride:
                raise _outgrown(table)
            return v + block * stride
        match = _NUMBERED.match(str(v))
        if match is None:
            return f"{v}-b{block}"
        if int(match.group(2)) >= stride:
            raise _outgrown(table)
        return f"{match.group(1)}{block * stride + int(match.group(2))}"

    return pd.Series([one(v) for v in values], index=values.index, dtype=object)


def _outgrown(table: str) -> UserInputError:
    return UserInputError(f"a block of table '{table}' drew more keys than the key stride holds; pass a smaller "
                          "roots_per_block", param="roots_per_block")


def read_sampled_database(path: str | os.PathLike, *, tables: list[str] | None = None
                          ) -> tuple[dict[str, pd.DataFrame], Any]:
    """``(tables, schema)`` of a complete folder written by :func:`sample_database`; refuses an incomplete one.

    ``tables`` reads only these (the schema keeps only the keys between them).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synthera.relational.schema import Schema

    folder = Path(path)
    if not (folder / _SUCCESS).is_file() or not (folder / _MANIFEST).is_file():
        raise UserInputError(f"{folder} is not a complete synthetic database (no {_SUCCESS}); sample it again")
    manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("format") != DATABASE_FORMAT:
        raise UserInputError(f"{folder}/{_MANIFEST} is not a synthetic database manifest")
    names = list(manifest["tables"]) if tables is None else list(tables)
    unknown = [t for t in names if t not in manifest["tables"]]
    if unknown:
        raise UserInputError(f"unknown table '{unknown[0]}' in tables; {folder} holds: "
                             f"{', '.join(manifest['tables'])}", param="tables")
    frames = {}
    for t in names:
        parts = [pq.read_table(folder / t / p["file"]) for p in manifest["tables"][t]["parts"]]
        frames[t] = pa.concat_tables(parts).to_pandas() if parts else pd.DataFrame()
    schema = Schema.load(folder / _SCHEMA)
    return frames, schema if tables is None else schema.subset(names)


# -- steps ----------------------------------------------------------------------------------


def _read_files(folder: Path) -> tuple[dict[str, bytes], str]:
    missing = [n for n in _MODEL_FILES if not (folder / n).is_file()]
    if missing:
        raise UserInputError(f"{folder} is not a saved relational model (no {missing[0]}); fit one first")
    files = {name: (folder / name).read_bytes() for name in _MODEL_FILES}
    manifest = json.loads(files["manifest.json"])
    if manifest.get("format") != "synthera-relational-model":
        raise UserInputError(f"{folder} is not a database model; sample it with sample_to_parquet")
    return files, str(manifest.get("manifest_sha256"))


def _load(files: dict[str, bytes], model_hash: str):
    """The model, loaded once per process from its files (checksums verified by ``load``)."""
    from synthera.relational import RelationalSynthesizer

    return load_once(files, model_hash, RelationalSynthesizer.load)


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns holding several Python types (text keys with numbers) written as text."""
    out = df
    for c in df.columns:
        if df[c].dtype == object and len({type(v) for v in df[c].dropna().head(1000)}) > 1:
            out = out.copy() if out is df else out
            out[c] = df[c].map(lambda v: v if v is None or pd.isna(v) else str(v))
    return out


_NULL_TYPES = (("int", "int64"), ("uint", "int64"), ("float", "float64"), ("bool", "bool_"),
               ("datetime64", "timestamp"))


def _probe(model, plan: dict, seed: int) -> tuple[dict[str, bytes], dict[str, pd.DataFrame]]:
    """Every table's Arrow schema, read off block 0 (a column with no value there takes its real dtype's type),
    and the public tables (the same in every block)."""
    import pyarrow as pa

    first = sample_block(model, 0, plan, seed)
    out = {}
    for t, df in first.items():
        schema = pa.Schema.from_pandas(_plain(df), preserve_index=False)
        dtypes = model.plans_[t]["dtypes"]
        for i, field in enumerate(schema):
            if pa.types.is_null(field.type):
                dtype = dtypes.get(field.name, "object").lower()
                kind = next((k for p, k in _NULL_TYPES if dtype.startswith(p)), "string")
                arrow = pa.timestamp("ns") if kind == "timestamp" else getattr(pa, kind)()
                schema = schema.set(i, field.with_type(arrow))
        out[t] = schema.serialize().to_pybytes()
    return out, {t: first[t] for t in plan["public"]}


def _write_public(staging: Path, t: str, df: pd.DataFrame, schema: bytes) -> dict:
    """A public table (copied by the model, the same in every block), written once as one part."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.ipc.read_schema(pa.py_buffer(schema))
    final = staging / t / "part-00000.parquet"
    with pq.ParquetWriter(final, arrow, compression="snappy") as writer:
        writer.write_table(pa.Table.from_pandas(_plain(df), schema=arrow, preserve_index=False))
    _fsync_file(final)
    return {"file": final.name, "rows": len(df), "block": None, "bytes": final.stat().st_size,
            "sha256": _sha256(final)}


def _finish(staging: Path, model, plan: dict, blocks: list[dict], probe: tuple, seed: int, seed_given: bool,
            model_hash: str) -> dict:
    """Each table's manifest and ``_SUCCESS``, ``schema.json``, then the database manifest and ``_SUCCESS``."""
    schemas, public = probe
    tables = {}
    for t in plan["tables"]:
        if t in plan["public"]:
            parts = [_write_public(staging, t, public[t], schemas[t])]
        else:
            parts = [b["parts"][t] for b in blocks]
        rows = sum(p["rows"] for p in parts)
        table_manifest = {"format": DATASET_FORMAT, "format_version": 1, "rows": rows, "seed": seed,
                          "seed_given": seed_given, "model_sha256": model_hash, "table": t, "parts": parts}
        _write_small(staging / t / _MANIFEST, json.dumps(table_manifest, indent=1) + "\n")
        _write_small(staging / t / _SUCCESS, "")
        _fsync(staging / t)
        tables[t] = {"rows": rows, "parts": parts}
    _write_small(staging / _SCHEMA, model.schema_.to_json())
    manifest = {"format": DATABASE_FORMAT, "format_version": 1, "seed": seed, "seed_given": seed_given,
                "model_sha256": model_hash, "root_table": plan["root"], "roots": sum(plan["roots"]),
                "roots_per_block": plan["roots_per_block"], "blocks": len(plan["roots"]),
                "key_stride": plan["key_stride"], "public": plan["public"],
                "conditions": {t: {c: str(v) for c, v in cond.items()} for t, cond in plan["conditions"].items()},
                "tables": tables}
    _write_small(staging / _MANIFEST, json.dumps(manifest, indent=1) + "\n")
    _write_small(staging / _SUCCESS, "")
    _fsync(staging)
    return manifest
