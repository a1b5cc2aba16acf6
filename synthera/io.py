"""Read and write tables: CSV/TSV, Parquet, JSON Lines and SQL.

Sources are named by a single string so that the CLI and the Python API
accept the same things:

* a file path: ``data.csv``, ``data.tsv``, ``data.csv.gz``, ``data.parquet``,
  ``data.jsonl``, or a SQLite file ``data.db`` / ``.sqlite`` / ``.sqlite3``
  (with ``table=``);
* a SQLAlchemy URL plus ``table=``: ``postgresql://user@host/db``,
  ``sqlite:///data.db``, ...;
* a bundled dataset: ``dataset:adult`` (train split) or ``dataset:adult:test``.

Every write is atomic: files are written beside the target under a temporary
name and renamed into place, and SQL tables are written inside one
transaction, so an interrupted run never leaves a half-written result.

Examples
--------
>>> from synthera.io import read_table, write_table
>>> df = read_table("dataset:adult")
>>> write_table(df.head(100), "/tmp/adult-head.parquet")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pandas as pd

from synthera.errors import DataError, ModelFileError, UserInputError

__all__ = [
    "READ_FORMATS",
    "WRITE_FORMATS",
    "atomic_path",
    "detect_format",
    "read_table",
    "write_table",
    "write_text",
]

READ_FORMATS = ("csv", "tsv", "parquet", "jsonl", "sqlite")
WRITE_FORMATS = READ_FORMATS

_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".db": "sqlite",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
}
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zst", ".lz4")
_DATASET_PREFIX = "dataset:"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_PARQUET_MAGIC = b"PAR1"


# --------------------------------------------------------------------------- helpers


def _is_url(source: str) -> bool:
    return "://" in source


def _redact(url: str) -> str:
    """Render a database URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL must still be shown safely
        return url.split("://", 1)[0] + "://…"


def detect_format(path: str | os.PathLike) -> str | None:
    """Return the table format implied by a file name, or ``None`` if unknown.

    Compression suffixes are looked through: ``data.csv.gz`` is ``"csv"``.
    """
    name = Path(path).name.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return _SUFFIX_FORMATS.get(Path(name).suffix)


def _sniff_format(path: Path) -> str | None:
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    return None


def _check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in READ_FORMATS:
        raise UserInputError(
            f"unknown format '{fmt}'; use one of: {', '.join(READ_FORMATS)}"
        )
    return fmt


def _check_columns(df: pd.DataFrame, where: str) -> pd.DataFrame:
    dupes = df.columns[df.columns.duplicated()].unique().tolist()
    if dupes:
        names = ", ".join(repr(str(d)) for d in dupes[:5])
        raise DataError(f"{where} has duplicated column names ({names}); rename them so each is unique")
    return df


# --------------------------------------------------------------------------- atomic writes


def default_file_mode() -> int:
    """The mode a plain ``open(..., "w")`` would give a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place on success.

    The parent folder is created if needed. If the block raises (or the
    process is interrupted), the temporary file is removed and ``target`` is
    left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, default_file_mode())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text(text: str, target: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically and return the path."""
    target = Path(target)
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


# --------------------------------------------------------------------------- reading


def read_table(
    source: str | os.PathLike,
    *,
    table: str | None = None,
    format: str | None = None,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a table from a file, a database or the bundled datasets.

    Parameters
    ----------
    source
        A file path, a SQLAlchemy URL, or ``dataset:NAME[:SPLIT]``.
    table
        Table name for SQLite files and database URLs (``schema.table`` is
        accepted). Optional when the database holds exactly one table.
    format
        Force a format (``csv``, ``tsv``, ``parquet``, ``jsonl``, ``sqlite``)
        instead of guessing it from the file name.
    encoding
        Text encoding of CSV/TSV files.

    Returns
    -------
    pandas.DataFrame
        Integers with missing values come back as pandas ``Int64`` and
        booleans with missing values as ``boolean``, so a round trip keeps
        ``1`` as ``1`` rather than ``1.0``. Date and time strings in text
        files stay strings; :func:`synthera.metadata.infer_metadata` detects
        their format so that synthetic output can keep it.

    Raises
    ------
    DataError
        The file is missing, empty, malformed, or the table is unknown.
    """
    source_str = os.fspath(source)
    if source_str.startswith(_DATASET_PREFIX):
        return _read_dataset(source_str[len(_DATASET_PREFIX) :])
    if _is_url(source_str):
        return _check_columns(_read_sql(source_str, table), f"table '{table}'")

    path = Path(source_str).expanduser()
    if not path.exists():
        raise DataError(f"file not found: {source_str}; check the path")
    if path.is_dir():
        raise DataError(f"{source_str} is a folder, not a table file; pass a file inside it")

    fmt = _check_format(format) if format else (detect_format(path) or _sniff_format(path))
    if fmt is None and path.suffix.lower() in (".xlsx", ".xls", ".ods"):
        raise DataError(f"{source_str} is a spreadsheet, which is not read directly; save the sheet as CSV first")
    if fmt is None:
        raise DataError(
            f"cannot tell the format of {source_str}; rename it with a .csv, .tsv, .parquet, "
            "or .jsonl suffix, or pass --format"
        )
    if table is not None and fmt != "sqlite":
        raise UserInputError(f"--table only applies to SQLite files and database URLs, not {fmt} files; drop it")
    if fmt in ("csv", "tsv"):
        df = _read_delimited(path, "\t" if fmt == "tsv" else _sniff_delimiter(path, encoding), encoding)
    elif fmt == "parquet":
        df = _read_parquet(path)
    elif fmt == "jsonl":
        df = _read_jsonl(path)
    else:
        with open(path, "rb") as fh:
            if not fh.read(16).startswith(_SQLITE_MAGIC):
                raise DataError(f"{source_str} is not a SQLite database; check the file or pass --format")
        df = _read_sql(f"sqlite:///{path.resolve()}", table, shown=source_str)
    return _check_columns(df, source_str)


def _read_dataset(spec: str) -> pd.DataFrame:
    from synthera import datasets

    name, _, split = spec.partition(":")
    frames = datasets.load(name)
    split = split or "train"
    if split not in ("train", "test"):
        raise UserInputError(f"unknown split '{split}' in dataset:{spec}; use dataset:{name}:train or :test")
    return getattr(frames, split)


def _arrow_to_pandas(tbl) -> pd.DataFrame:
    """Convert an Arrow table, keeping integers and booleans with nulls exact.

    Plain pandas turns an integer column with a gap into floats (``3`` is
    written back as ``3.0``); such columns become ``Int64``/``boolean``.
    """
    import pyarrow as pa

    def nullable(arrow_type):
        if pa.types.is_integer(arrow_type):
            return pd.Int64Dtype()
        if pa.types.is_boolean(arrow_type):
            return pd.BooleanDtype()
        return None

    df = tbl.to_pandas(types_mapper=nullable)
    for field, col in zip(tbl.schema, tbl.columns):
        if col.null_count == 0 and nullable(field.type) is not None:
            df[field.name] = df[field.name].astype("int64" if pa.types.is_integer(field.type) else "bool")
    return df


def _text_temporal_to_string(schema) -> dict:
    """Arrow infers dates and timestamps from text; keep them as strings."""
    import pyarrow as pa

    return {
        f.name: pa.string()
        for f in schema
        if pa.types.is_temporal(f.type)
    }


def _sniff_delimiter(path: Path, encoding: str) -> str:
    """Comma, unless the header clearly uses ';' or '|' (common in European exports)."""
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding=encoding, errors="replace") as fh:
            header = fh.readline()
    except (OSError, LookupError, EOFError):
        return ","  # the reader reports the real problem
    counts = {d: header.count(d) for d in (",", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > counts[","] else ","


def _read_delimited(path: Path, delimiter: str, encoding: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read_opts = pacsv.ReadOptions(encoding=encoding, block_size=1 << 22)
    parse_opts = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    convert_opts = pacsv.ConvertOptions(strings_can_be_null=True)
    try:
        # The first block tells us the header and the inferred types cheaply.
        probe = pacsv.open_csv(path, read_options=read_opts, parse_options=parse_opts,
                               convert_options=convert_opts).schema
        names = probe.names
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise DataError(
                f"{path} has duplicated column names ({', '.join(map(repr, dupes[:5]))}); "
                "rename them so each is unique"
            )
        convert_opts.column_types = _text_temporal_to_string(probe)
        tbl = pacsv.read_csv(path, read_options=read_opts, parse_options=parse_opts,
                             convert_options=convert_opts)
    except LookupError as exc:
        raise UserInputError(f"unknown encoding '{encoding}'; use e.g. utf-8 or latin-1") from exc
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DataError(_csv_error_message(path, str(exc))) from exc
    for field in tbl.schema:
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            raise DataError(
                f"{path} is not valid {encoding} text (column '{field.name}'); "
                "pass the file's encoding, e.g. --encoding latin-1"
            )
    return _arrow_to_pandas(tbl)


def _csv_error_message(path: Path, raw: str) -> str:
    # Arrow quotes the offending row after the last colon; that row may hold
    # personal data, so only the reason is repeated.
    first = raw.splitlines()[0] if raw else "unreadable file"
    if first.startswith("Empty CSV file"):
        return f"{path} is empty; it needs a header row and at least one data row"
    if "Expected" in first and "columns" in first:
        reason = first.split(":", 2)[1].strip() if first.count(":") >= 2 else first
        return (
            f"malformed CSV {path}: a row has the wrong number of fields ({reason}); "
            "fix that row, quote values that contain the delimiter, or pick --format tsv"
        )
    if "invalid UTF8" in first or "UTF-8" in first or "codec" in first:
        return f"{path} is not valid UTF-8 text; pass the file's encoding, e.g. --encoding latin-1"
    return f"cannot read {path} as CSV ({first[:120]}); check that it is a delimited text file"


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        tbl = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read {path} as Parquet ({str(exc).splitlines()[0][:120]}); check the file") from exc
    return _arrow_to_pandas(tbl)


def _read_jsonl(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.json as pajson

    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; it needs one JSON object per line")
    try:
        tbl = pajson.read_json(path)
        as_text = _text_temporal_to_string(tbl.schema)
        if as_text:
            schema = pa.schema([pa.field(f.name, as_text.get(f.name, f.type)) for f in tbl.schema])
            tbl = pajson.read_json(path, parse_options=pajson.ParseOptions(explicit_schema=schema))
        return _arrow_to_pandas(tbl)
    except pa.ArrowInvalid as exc:
        if "changed from" not in str(exc):
            raise DataError(
                f"malformed JSON Lines file {path} ({str(exc).splitlines()[0][:120]}); "
                "each line must be one JSON object"
            ) from exc
    # A column whose type changes between rows: let pandas keep mixed objects.
    try:
        return pd.read_json(path, lines=True, dtype=False, convert_dates=False)
    except ValueError as exc:
        raise DataError(f"malformed JSON Lines file {path}; each line must be one JSON object") from exc


def _engine(url: str, shown: str):
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        return create_engine(url)
    except NoSuchModuleError as exc:
        raise UserInputError(
            f"no database driver for {shown}; check the URL scheme (e.g. postgresql://, sqlite:///)"
        ) from exc
    except ArgumentError as exc:
        raise UserInputError(
            f"malformed database URL {shown}; expected dialect://user:password@host:port/database"
        ) from exc
    except ModuleNotFoundError as exc:
        raise UserInputError(
            f"the Python driver '{exc.name}' for {shown} is not installed; pip install it "
            "(the PostgreSQL driver psycopg ships with synthera)"
        ) from exc


def _sqlite_file(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    db = parsed.database
    return None if not db or db == ":memory:" else db


def _read_sql(url: str, table: str | None, *, shown: str | None = None) -> pd.DataFrame:
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    shown = shown or _redact(url)
    db_file = None
    with suppress(Exception):  # a malformed URL is reported by _engine below
        db_file = _sqlite_file(url)
    if db_file and not Path(db_file).exists():
        raise DataError(f"database file not found: {db_file}; check the path in the URL")
    engine = _engine(url, shown)
    try:
        with engine.connect() as conn:
            schema, _, name = table.rpartition(".") if table else ("", "", "")
            insp = inspect(conn)
            available = insp.get_table_names(schema=schema or None) + insp.get_view_names(schema=schema or None)
            if not table:
                if len(available) != 1:
                    listing = ", ".join(available[:10]) or "none"
                    raise UserInputError(
                        f"{shown} holds {len(available)} tables ({listing}); pass --table NAME"
                    )
                name = available[0]
            elif name not in available:
                raise DataError(f"table '{table}' not found in {shown}; {_table_hint(name, available)}")
            df = pd.read_sql_table(name, conn, schema=schema or None)
            _restore_sql_types(df, insp.get_columns(name, schema=schema or None))
    except (SQLAlchemyError, sqlite3.DatabaseError) as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:160]
        raise DataError(
            f"cannot read from database {shown} ({reason}); check the URL, the credentials and "
            "that the server is running"
        ) from exc
    finally:
        engine.dispose()
    return df


def _table_hint(name: str, available: list[str], shown: int = 10) -> str:
    """The tables to suggest for a name that is not there: near spellings first, then the rest."""
    import difflib

    if not available:
        return "the database holds no tables"
    near = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
    if near:
        total = "the only table" if len(available) == 1 else f"{len(available)} tables in all"
        return f"did you mean {', '.join(near)}? ({total})"
    listing = ", ".join(sorted(available)[:shown])
    more = f", … ({len(available)} in all)" if len(available) > shown else ""
    return f"available tables: {listing}{more}"


def _restore_sql_types(df: pd.DataFrame, columns: list[dict]) -> None:
    """pandas reads nullable INTEGER/BOOLEAN columns as floats/objects; undo that."""
    from sqlalchemy import types

    for col in columns:
        name = col["name"]
        if name not in df.columns or not df[name].isna().any():
            continue
        if isinstance(col["type"], types.Boolean):
            df[name] = df[name].astype("boolean")
        elif isinstance(col["type"], types.Integer) and pd.api.types.is_float_dtype(df[name].dtype):
            df[name] = df[name].astype("Int64")


# --------------------------------------------------------------------------- writing


def write_table(
    df: pd.DataFrame,
    target: str | os.PathLike,
    *,
    table: str | None = None,
    format: str | None = None,
    if_exists: str = "replace",
) -> str:
    """Write ``df`` to a file or database table, atomically.

    Parameters
    ----------
    df
        The table to write.
    target
        A file path (format from its suffix: ``.csv``, ``.tsv``, ``.parquet``,
        ``.jsonl``, ``.db``/``.sqlite``) or a SQLAlchemy URL.
    table
        Table name for SQLite files and URLs; defaults to the file's stem
        for SQLite files and is required for URLs.
    format
        Force a format instead of guessing it from the suffix.
    if_exists
        For SQL tables: ``"replace"`` (default) or ``"fail"``.

    Returns
    -------
    str
        Where the table was written (a URL is returned without its password).
    """
    if if_exists not in ("replace", "fail"):
        raise UserInputError(f"if_exists must be 'replace' or 'fail'; got {if_exists!r}")
    target_str = os.fspath(target)
    if _is_url(target_str):
        if not table:
            raise UserInputError("writing to a database URL needs a table name; pass --table NAME")
        _write_sql(df, target_str, table, if_exists)
        return _redact(target_str)

    path = Path(target_str).expanduser()
    fmt = _check_format(format) if format else detect_format(path)
    if fmt is None:
        raise UserInputError(
            f"cannot tell which format to write {target_str} in; use a .csv, .tsv, .parquet, "
            ".jsonl or .db suffix, or pass --format"
        )
    if path.is_dir():
        raise UserInputError(f"{target_str} is a folder; pass a file name inside it")
    if fmt == "sqlite":
        _write_sqlite_file(df, path, table or path.stem, if_exists)
        return str(path)
    with atomic_path(path) as tmp:
        if fmt in ("csv", "tsv"):
            compression = "infer" if path.name.lower().endswith(_COMPRESSION_SUFFIXES) else None
            # the temporary name has no compression suffix, so say it explicitly
            if compression:
                compression = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}.get(
                    "." + path.name.lower().rsplit(".", 1)[-1]
                )
            df.to_csv(tmp, index=False, sep="," if fmt == "csv" else "\t", compression=compression)
        elif fmt == "parquet":
            df.to_parquet(tmp, index=False, compression="zstd")
        else:
            df.to_json(tmp, orient="records", lines=True, date_format="iso", force_ascii=False)
    return str(path)


def _write_sqlite_file(df: pd.DataFrame, path: Path, table: str, if_exists: str) -> None:
    if path.exists():
        # An existing database may hold other tables: one transaction keeps it whole.
        _write_sql(df, f"sqlite:///{path.resolve()}", table, if_exists, shown=str(path))
        return
    with atomic_path(path) as tmp:
        tmp.unlink()  # let SQLite create a fresh database file
        _write_sql(df, f"sqlite:///{tmp.resolve()}", table, if_exists, shown=str(path))


def _write_sql(df: pd.DataFrame, url: str, table: str, if_exists: str, *, shown: str | None = None) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    shown = shown or _redact(url)
    schema, _, name = table.rpartition(".")
    engine = _engine(url, shown)
    try:
        with engine.begin() as conn:  # one transaction: all rows or none
            df.to_sql(name, conn, schema=schema or None, if_exists=if_exists, index=False, chunksize=10_000)
    except ValueError as exc:
        if "already exists" in str(exc):
            raise UserInputError(f"table '{table}' already exists in {shown}; pick another name or allow replacing it") from exc
        raise
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:160]
        raise DataError(f"cannot write table '{table}' to {shown} ({reason}); check the URL and permissions") from exc
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- saved-model folders


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (checks saved weights against their manifest)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_folder(path: str | os.PathLike) -> Path:
    """The folder a model is saved in, created if missing; a file in its place is a user error."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UserInputError(f"{folder} is a file; pass a folder to save the model in")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def read_manifest(folder: Path, name: str, *, max_bytes: int, how_to_make: str) -> dict:
    """The JSON object saved as ``folder/name``, or a :class:`ModelFileError` that says what is wrong.

    Checks only that the folder and file exist, that the file is small enough
    to be a manifest and that it holds valid JSON; each model kind then checks
    its own format fields. ``how_to_make`` completes "check the path or ...".
    """
    path = folder / name
    if not folder.exists():
        raise ModelFileError(f"model folder not found: {folder}; check the path or {how_to_make}")
    if not path.is_file():
        raise ModelFileError(f"{folder} has no {name}; it is not a Synthera model folder")
    if path.stat().st_size > max_bytes:
        raise ModelFileError(f"{path} is too large to be a Synthera manifest")
    try:
        import json

        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} is not valid JSON ({exc}); the model folder is damaged, save it again") from None
