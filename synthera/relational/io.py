"""Read and write whole databases: a SQLite file, any SQLAlchemy URL, or a folder of CSV/Parquet files.

Reading returns ``(tables, schema)``: a dict of DataFrames and the
:class:`~synthera.relational.schema.Schema` with the keys the database
declares, or guessed from the data where it declares none
(:func:`~synthera.relational.inference.infer_schema`).

Writing keeps the table definitions: tables are created from the schema with
their primary and foreign keys, parents before children, and the whole
database is written or nothing is:

* a SQLite file is built as a temporary file beside the target and renamed
  over it (an existing file is copied first, so its other tables stay);
* a database URL is written in one transaction: on PostgreSQL (tested in CI
  through ``SYNTHERA_TEST_POSTGRES_URL``) a failure anywhere, a deferred
  foreign key checked at commit included, leaves no table behind; engines that
  commit ``CREATE TABLE`` on their own (MySQL) keep the data all or nothing but
  may keep the empty tables;
* a folder of Parquet files (plus ``schema.json``) is built beside the
  target and renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

import pandas as pd

from synthera._secrets import redact
from synthera.errors import DataError, UserInputError
from synthera.relational.schema import ForeignKey, Schema, TableSchema

__all__ = ["database_tables", "read_database", "write_database"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}
SCHEMA_FILE = "schema.json"


def _is_url(source: str) -> bool:
    return "://" in source


def read_database(source, *, tables: list[str] | None = None,
                  schema: Schema | Mapping | str | os.PathLike | None = None) -> tuple[dict[str, pd.DataFrame], Schema]:
    """Every table of a database and its schema.

    Parameters
    ----------
    source
        A SQLite file, a SQLAlchemy URL, or a folder of ``.csv``/``.parquet``
        files (one table each, named by the file's stem) with an optional
        ``schema.json``.
    tables
        Only these tables (foreign keys to other tables are left out).
    schema
        A schema (object, dict or JSON path) that replaces the declared or
        guessed one, e.g. one the user edited.

    Raises
    ------
    UserInputError
        Missing source, unknown table, or a schema that does not fit the data.
    """
    text = os.fspath(source)
    if _is_url(text):
        frames, found = _read_sql(text, redact(text), tables)
    else:
        path = Path(text).expanduser()
        if not path.exists():
            raise DataError(f"database not found: {text}; check the path")
        if path.is_dir():
            frames, found = _read_folder(path, tables)
        elif _is_sqlite(path):
            frames, found = _read_sql(f"sqlite:///{path.resolve()}", text, tables)
        else:
            raise DataError(f"{text} is neither a SQLite database nor a folder of tables; pass one of those")
    if schema is not None:
        given = _as_schema(schema)
        unknown = [n for n in given.tables if n not in frames]
        if unknown and tables is None:
            raise UserInputError(f"the schema names table '{unknown[0]}', which {text} does not hold; "
                                 "fix the schema or the source")
        found = given.subset([n for n in given.tables if n in frames])
        for n in frames:
            found.tables.setdefault(n, TableSchema())
    found.check(frames)
    return frames, found


def database_tables(source) -> list[str] | None:
    """The table names of ``source`` when it is a database, else None (one table file, a missing path).

    A database is a SQLite file, a SQLAlchemy URL, or a folder holding ``schema.json``
    (a folder without it is a dataset of one table's part files).
    """
    text = os.fspath(source)
    if _is_url(text):
        from sqlalchemy import create_engine, inspect

        try:
            engine = create_engine(text)
            try:
                with engine.connect() as conn:
                    return list(inspect(conn).get_table_names())
            finally:
                engine.dispose()
        except Exception:  # noqa: BLE001 - not readable as a database here; the single-table path explains
            return None
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / SCHEMA_FILE).is_file():
            return None
        sampled = _sampled_manifest(path)
        if sampled is not None:
            return list(sampled.get("tables") or {})
        return [f.stem for f in sorted(path.iterdir()) if f.suffix.lower() in _TABLE_SUFFIXES and f.is_file()]
    if path.is_file() and _is_sqlite(path):
        import sqlite3

        try:
            with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
                rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                    "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
            return [r[0] for r in rows]
        except sqlite3.Error:
            return None
    return None


def _as_schema(schema) -> Schema:
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, Mapping):
        return Schema.from_dict(schema)
    return Schema.load(schema)


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == _SQLITE_MAGIC
    except OSError:
        return False


def _pick(available: list[str], tables: list[str] | None, shown: str) -> list[str]:
    if tables is None:
        return available
    unknown = [t for t in tables if t not in available]
    if unknown:
        listing = ", ".join(available[:10]) + (", …" if len(available) > 10 else "")
        raise UserInputError(f"unknown table '{unknown[0]}' in tables; {shown} holds: {listing}", param="tables")
    return list(tables)


#: the ``format`` of the manifest that :func:`synthera.distributed.sample_database` writes last
SAMPLED_DATABASE_FORMAT = "synthera-database-sample"


def _sampled_manifest(path: Path) -> dict | None:
    """The manifest of a database folder sampled in blocks on Dask (one Parquet dataset per table), else None."""
    import json

    try:
        manifest = json.loads((path / "_manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == SAMPLED_DATABASE_FORMAT else None


def _read_folder(path: Path, tables: list[str] | None) -> tuple[dict[str, pd.DataFrame], Schema]:
    from synthera.io import read_table
    from synthera.relational.inference import infer_schema

    if _sampled_manifest(path) is not None:
        from synthera.distributed.relational import read_sampled_database

        return read_sampled_database(path, tables=tables)

    files = {f.stem: f for f in sorted(path.iterdir()) if f.suffix.lower() in _TABLE_SUFFIXES and f.is_file()}
    if not files:
        raise DataError(f"{path} holds no .csv or .parquet files; put one file per table in the folder")
    names = _pick(list(files), tables, str(path))
    frames = {n: read_table(files[n]) for n in names}
    declared = None
    if (path / SCHEMA_FILE).is_file():
        full = Schema.load(path / SCHEMA_FILE)
        declared = full.subset([n for n in full.tables if n in frames])
    return frames, infer_schema(frames, declared=declared) if declared is None else _complete(declared, frames)


def _complete(declared: Schema, frames: Mapping[str, pd.DataFrame]) -> Schema:
    for n in frames:
        declared.tables.setdefault(n, TableSchema())
    return declared


def _read_sql(url: str, shown: str, tables: list[str] | None) -> tuple[dict[str, pd.DataFrame], Schema]:
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import SQLAlchemyError

    from synthera.io import _restore_sql_types
    from synthera.relational.inference import infer_schema

    try:
        engine = create_engine(url)
    except Exception as exc:  # noqa: BLE001 - any driver/URL problem is one line
        raise UserInputError(f"cannot open database {shown} ({type(exc).__name__}); check the URL") from None
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            names = _pick(insp.get_table_names(), tables, shown)
            frames, schema = {}, Schema()
            for name in names:
                df = pd.read_sql_table(name, conn)
                columns = insp.get_columns(name)
                _restore_sql_types(df, columns)
                frames[name] = df
                pk = insp.get_pk_constraint(name).get("constrained_columns") or []
                schema.tables[name] = TableSchema(primary_key=list(pk))
                nullable = {c["name"]: bool(c.get("nullable", True)) for c in columns}
                for fk in insp.get_foreign_keys(name):
                    if fk.get("referred_table") not in names:
                        continue
                    cols = list(fk["constrained_columns"])
                    schema.foreign_keys.append(ForeignKey(
                        child=name, columns=cols, parent=fk["referred_table"],
                        parent_columns=list(fk["referred_columns"]),
                        nullable=any(nullable.get(c, True) and (df[c].isna().any() or _self_reference(name, fk))
                                     for c in cols)))
    except SQLAlchemyError as exc:
        first = (str(getattr(exc, "orig", exc)).splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot read database {shown} ({redact(first)}); check the URL and that it is "
                        "running") from None
    finally:
        engine.dispose()
    if not schema.foreign_keys and not any(t.primary_key for t in schema.tables.values()):
        schema = infer_schema(frames)
    return frames, schema


def _self_reference(name: str, fk: dict) -> bool:
    return fk.get("referred_table") == name


# --------------------------------------------------------------------------- writing


def write_database(tables: Mapping[str, pd.DataFrame], schema: Schema, target, *, replace: bool = False) -> str:
    """Write ``tables`` with their keys to a SQLite file, a database URL, or a folder of Parquet files.

    The format comes from ``target``: a URL, a name ending in ``.db``/``.sqlite``
    (or an existing SQLite file), else a folder. Existing tables (or an
    existing folder) are refused unless ``replace=True``. Returns where it wrote
    (a URL without its password).
    """
    text = os.fspath(target)
    order = [n for n in schema.order() if n in tables] + [n for n in tables if n not in schema.tables]
    if _is_url(text):
        _write_sql(tables, schema, order, text, redact(text), replace)
        return redact(text)
    path = Path(text).expanduser()
    if path.suffix.lower() in _SQLITE_SUFFIXES or (path.is_file() and _is_sqlite(path)):
        _write_sqlite_file(tables, schema, order, path, replace)
    else:
        _write_folder(tables, schema, path, replace)
    return str(path)


def _write_sqlite_file(tables, schema: Schema, order: list[str], path: Path, replace: bool) -> None:
    from synthera.io import check_writable

    check_writable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if path.exists():
            shutil.copyfile(path, tmp)
        else:
            tmp.unlink()
        _write_sql(tables, schema, order, f"sqlite:///{tmp.resolve()}", str(path), replace)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        from synthera.io import default_file_mode

        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _write_folder(tables, schema: Schema, path: Path, replace: bool) -> None:
    from synthera.io import atomic_folder, check_writable

    if path.exists() and not replace:
        raise UserInputError(f"{path} already exists; pass replace=True to overwrite it, "
                             "or pick another output folder")
    if path.exists() and not path.is_dir():
        raise UserInputError(f"{path} is a file; pick a folder name for a folder of Parquet files")
    check_writable(path, folder=True)
    with atomic_folder(path) as tmp:  # built beside the target, swapped in whole
        for name, df in tables.items():
            _plain_frame(df).to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / SCHEMA_FILE).write_text(schema.to_json(), encoding="utf-8")


def _plain_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            kinds = {type(v) for v in out[c].dropna().head(1000)}
            if len(kinds) > 1:
                out[c] = out[c].map(lambda v: v if v is None or pd.isna(v) else str(v))
    return out


def _sql_type(series: pd.Series):
    from sqlalchemy import BigInteger, Boolean, DateTime, Float, Text

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return Boolean()
    if pd.api.types.is_integer_dtype(dtype):
        return BigInteger()
    if pd.api.types.is_float_dtype(dtype):
        return Float()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return DateTime()
    return Text()


def _table_definitions(tables, schema: Schema, order: list[str], meta):
    """SQLAlchemy tables with their primary and foreign keys; keys that cycles or self-references need later
    are deferrable (checked at commit)."""
    from sqlalchemy import Column, ForeignKeyConstraint, PrimaryKeyConstraint, String, Table

    late = set(schema.broken_edges()) if schema.foreign_keys else set()
    out = {}
    for name in order:
        df = tables[name]
        ts = schema.tables.get(name, TableSchema())
        key_cols = set(ts.primary_key) | {c for fk in schema.parents_of(name) for c in fk.columns}
        key_cols |= {c for fk in schema.children_of(name) for c in fk.parent_columns}
        cols = []
        for c in df.columns:
            typ = _sql_type(df[c])
            if c in key_cols and type(typ).__name__ == "Text":
                typ = String(255)  # MySQL and others cannot index TEXT
            cols.append(Column(c, typ, nullable=c not in ts.primary_key))
        constraints = []
        if ts.primary_key:
            constraints.append(PrimaryKeyConstraint(*ts.primary_key))
        for fk in schema.parents_of(name):
            if fk.parent not in tables:
                continue
            deferred = fk.name in late or fk.parent == fk.child
            constraints.append(ForeignKeyConstraint(
                fk.columns, [f"{fk.parent}.{c}" for c in fk.parent_columns], name=_constraint_name(fk),
                use_alter=fk.name in late, deferrable=True if deferred else None,
                initially="DEFERRED" if deferred else None))
        out[name] = Table(name, meta, *cols, *constraints)
    return out


def _constraint_name(fk: ForeignKey) -> str:
    raw = f"fk_{fk.child}_{'_'.join(fk.columns)}"
    return raw[:60]


def _write_sql(tables, schema: Schema, order: list[str], url: str, shown: str, replace: bool) -> None:
    from sqlalchemy import MetaData, create_engine, inspect
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        from synthera.io import _transactional_sqlite

        _transactional_sqlite(engine)
    try:
        with engine.begin() as conn:  # one transaction: the whole database or nothing
            existing = set(inspect(conn).get_table_names())
            clash = [n for n in order if n in existing]
            if clash and not replace:
                raise UserInputError(f"table '{clash[0]}' already exists in {shown}; pass replace=True "
                                     "to overwrite it, or write elsewhere")
            meta = MetaData()
            defs = _table_definitions(tables, schema, order, meta)
            if clash:
                old = MetaData()
                old.reflect(conn, only=clash)
                old.drop_all(conn)
            meta.create_all(conn)
            for name in order:
                df = tables[name]
                if len(df):
                    conn.execute(defs[name].insert(), _records(df))
    except SQLAlchemyError as exc:
        first = (str(getattr(exc, "orig", exc)).splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot write the database to {shown} ({redact(first)}); check the target and "
                        "permissions") from None
    finally:
        engine.dispose()


def _records(df: pd.DataFrame) -> list[dict]:
    out = df.astype(object).where(df.notna(), None)
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(df[c].dtype):
            out[c] = [None if pd.isna(v) else pd.Timestamp(v).to_pydatetime() for v in df[c]]
    return out.to_dict("records")
