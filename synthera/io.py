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
transaction, so an interrupted run never leaves a half-written result. An
existing SQL table is replaced only when asked (``replace=True``). New files
never get a looser mode than the strictest local source read in this process,
and every message passes through :func:`synthera._secrets.redact`, so a
database password never reaches the screen.

Examples
--------
>>> from synthera.io import read_table, write_table
>>> df = read_table("dataset:adult")
>>> write_table(df.head(100), "/tmp/adult-head.parquet")  # doctest: +SKIP
"""

from __future__ import annotations

import errno
import functools
import os
import re
import shutil
import sqlite3
import stat
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pandas as pd

from synthera._secrets import redact, secrets_in
from synthera.errors import DataError, ModelFileError, SyntheraError, SyntheraWarning, UserInputError

__all__ = [
    "READ_FORMATS",
    "STALE_TEMP_SECONDS",
    "WRITE_FORMATS",
    "atomic_folder",
    "atomic_path",
    "check_writable",
    "default_file_mode",
    "is_url",
    "detect_format",
    "note_source_mode",
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
#: A temporary file left beside a target is removed by a later write once it is this old (seconds);
#: a younger one may belong to a writer still at work.
STALE_TEMP_SECONDS = 3600
#: Permission bits every new file is limited to: the AND of the modes of the local sources read so far.
_source_mode_mask = 0o777


# --------------------------------------------------------------------------- helpers


def is_url(source) -> bool:
    """Whether a table location is a database URL (``postgresql://…``, ``sqlite:///…``) rather than a file."""
    return "://" in str(source)


def _redact(url: str) -> str:
    """Render a database URL without its password (in the authority or the query), for messages."""
    try:
        from urllib.parse import unquote

        from sqlalchemy.engine import make_url

        # decoded, so that a password inside an encoded parameter (odbc_connect=...%3BPWD%3D...) is seen too
        return redact(unquote(make_url(url).render_as_string(hide_password=True)), known=secrets_in(url))
    except Exception:  # noqa: BLE001 - a malformed URL must still be shown safely
        return url.split("://", 1)[0] + "://…"


def _redacted_errors(func):
    """Pass the message of every Synthera error ``func`` raises through :func:`redact`.

    Messages name sources and targets, which may be database URLs or libpq
    strings with a password; the driver's own error (kept as ``__cause__``)
    may quote the connection string too, so it is dropped when it holds one.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SyntheraError as exc:
            known = [s for a in (*args, *kwargs.values()) if isinstance(a, (str, os.PathLike))
                     for s in secrets_in(os.fspath(a))]
            message = str(exc)
            cause = exc.__cause__
            leaky_cause = cause is not None and redact(str(cause), known=known) != str(cause)
            if redact(message, known=known) == message and not leaky_cause:
                raise
            try:
                clean = type(exc)(redact(message, known=known))
            except TypeError:  # a subclass with another signature
                clean = UserInputError(redact(message, known=known))
            clean.__cause__ = None if leaky_cause else cause
            clean.__suppress_context__ = True
            raise clean.with_traceback(exc.__traceback__) from clean.__cause__

    return wrapper


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
    """The mode for a new file: what ``open(..., "w")`` gives under the umask, never looser than a source.

    The umask's mode is AND-ed with the permission bits of every local source
    file read in this process (see :func:`note_source_mode`), so a table kept
    ``0600`` yields ``0600`` synthetic data, metadata and models.
    """
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask & _source_mode_mask


def note_source_mode(path: str | os.PathLike) -> None:
    """Remember the permission bits of a local file that was read, so outputs keep the stricter mode.

    :func:`read_table` calls it for every local file; other readers (model
    folders, metadata files) call it for the files they read. A path that
    cannot be stat'ed is ignored.
    """
    global _source_mode_mask
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return
    if stat.S_ISREG(mode):
        # group and other bits only: a read-only source must not make the outputs read-only
        _source_mode_mask &= stat.S_IMODE(mode) | 0o700


def _cannot_write(target: os.PathLike | str, reason: str) -> UserInputError:
    return UserInputError(f"cannot write to {target}: {reason}; pick another output path")


def _os_reason(exc: OSError) -> str:
    return {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "read-only file system",
        errno.EISDIR: "it is a folder",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.ENAMETOOLONG: "the name is too long",
    }.get(exc.errno, "").strip()


def check_writable(target: str | os.PathLike, *, folder: bool = False) -> None:
    """Raise a one-line :class:`UserInputError` unless a file (or, with ``folder``, a folder) can go at ``target``.

    Missing parent folders are fine when the nearest existing one is a
    writable folder (they are created on write). Database URLs are not
    checked here: the database answers for itself.
    """
    text = os.fspath(target)
    if is_url(text):
        return
    path = Path(text).expanduser()
    if path.is_dir() and not folder:
        raise _cannot_write(text, "it is a folder")
    if path.exists() and not path.is_dir() and folder:
        raise _cannot_write(text, "it is a file, not a folder")
    ancestor = path.parent if not path.is_dir() else path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise _cannot_write(text, f"{ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        with suppress(OSError, AttributeError):
            if os.statvfs(ancestor).f_flag & os.ST_RDONLY:
                raise _cannot_write(text, "read-only file system")
        raise _cannot_write(text, "permission denied")


def _remove_stale_temps(target: Path) -> None:
    """Delete temporary files an interrupted write left beside ``target`` (only those past the age guard)."""
    pattern = re.compile(re.escape(f".{target.name}.") + r"[a-z0-9_]{8}\.tmp(?:-journal|-wal|-shm)?")
    cutoff = time.time() - STALE_TEMP_SECONDS
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        if pattern.fullmatch(entry.name):
            with suppress(OSError):
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place on success.

    The parent folder is created if needed, and temporary files that an
    interrupted earlier write left for the same target are removed once they
    are :data:`STALE_TEMP_SECONDS` old. If the block raises (or the process is
    interrupted), the temporary file is removed and ``target`` is left as it
    was. A target that cannot be written (permission, read-only file system,
    a folder in the way, a full disk) is a one-line :class:`UserInputError`.
    """
    target = Path(target)
    check_writable(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(target)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise _cannot_write(target, _os_reason(exc) or "permission denied") from None
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, default_file_mode())  # mkstemp makes 0600; give the usual (or the source's) mode
            os.replace(tmp, target)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOSPC, errno.EDQUOT):
                raise
            raise _cannot_write(target, _os_reason(exc)) from None
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; swap it into place on success.

    An existing ``target`` is moved aside first and deleted only once the new
    folder is in place; if the block raises, the temporary folder is removed
    and the old ``target`` is put back.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    old = None
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not target.exists():
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@_redacted_errors
def write_text(text: str, target: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically and return the path."""
    target = Path(target)
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


# --------------------------------------------------------------------------- reading


@_redacted_errors
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

    Notes
    -----
    Nested values (Parquet lists, structs and maps, JSON arrays and objects)
    come back as JSON text, with a :class:`~synthera.errors.SyntheraWarning`
    naming the columns: they are modelled as text. The permission bits of a
    local source are remembered (:func:`note_source_mode`) so that outputs
    are never more readable than it.
    """
    source_str = os.fspath(source)
    if source_str.startswith(_DATASET_PREFIX):
        return _read_dataset(source_str[len(_DATASET_PREFIX) :])
    if is_url(source_str):
        df = _check_columns(_read_sql(source_str, table), f"table '{table}' in {_redact(source_str)}")
        return _nested_to_json(df, _redact(source_str))

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
            "or .jsonl suffix, or pass format"
        )
    if table is not None and fmt != "sqlite":
        raise UserInputError(f"table only applies to SQLite files and database URLs, not {fmt} files; drop it")
    if fmt in ("csv", "tsv"):
        df = _read_delimited(path, "\t" if fmt == "tsv" else _sniff_delimiter(path, encoding), encoding)
    elif fmt == "parquet":
        df = _read_parquet(path)
    elif fmt == "jsonl":
        df = _read_jsonl(path)
    else:
        with open(path, "rb") as fh:
            if not fh.read(16).startswith(_SQLITE_MAGIC):
                raise DataError(f"{source_str} is not a SQLite database; check the file or pass format")
        df = _read_sql(f"sqlite:///{path.resolve()}", table, shown=source_str)
    note_source_mode(path)
    return _nested_to_json(_check_columns(df, source_str), source_str)


def _nested_cell(value) -> bool:
    import numpy as np

    return isinstance(value, (list, tuple, dict, np.ndarray))


def _to_json_text(value):
    """One nested cell as JSON text (arrays become lists, maps' key/value pairs become objects)."""
    import json

    import numpy as np

    def plain(v):
        if isinstance(v, np.ndarray):
            return [plain(x) for x in v.tolist()]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            if v and all(isinstance(x, tuple) and len(x) == 2 for x in v):  # an Arrow map
                return {str(k): plain(x) for k, x in v}
            return [plain(x) for x in v]
        if isinstance(v, np.generic):
            return v.item()
        return v

    return json.dumps(plain(value), ensure_ascii=False, default=str)


def _nested_to_json(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """Turn cells holding lists, records or maps into JSON text, and say which columns (with counts)."""
    converted = []
    for name in df.columns:
        col = df[name]
        if col.dtype != object or pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty", "bytes"):
            continue
        nested = col.map(_nested_cell)
        count = int(nested.sum())
        if count:
            df[name] = col.where(~nested, col[nested].map(_to_json_text))
            converted.append(f"'{name}' ({count:,} cells)")
    if converted:
        warnings.warn(
            f"{where}: column{'s' if len(converted) > 1 else ''} {', '.join(converted)} hold nested values "
            "(lists, records or maps); they are read as JSON text and modelled as text",
            SyntheraWarning,
            stacklevel=4,
        )
    return df


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
    for field, col in zip(tbl.schema, tbl.columns, strict=True):
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


PADDED_SHARE = 0.01  # values with leading zeros that keep a column of numbers as text


def keeps_leading_zeros(padded: int, values: int, min_width: int, max_width: int) -> bool:
    """Whether a column of ``values`` whole numbers written as text, ``padded`` of them with leading zeros
    and ``min_width`` to ``max_width`` characters wide, stays text (see :func:`_numbers_unless_padded`)."""
    return padded > 0 and (padded >= PADDED_SHARE * values or min_width == max_width)


def _numbers_unless_padded(tbl, names: list[str]):
    """The columns ``names`` (read as text) as numbers, except those holding a number with leading zeros.

    Arrow reads ``02134`` as the integer 2134: a zip code, an account or product code would lose its
    zeros, and the synthetic file would not look like the real one. Such columns stay text (inference then
    treats them as categories or identifiers): those where at least :data:`PADDED_SHARE` of the values
    have leading zeros, or every value has the same width and some do (codes of a fixed width). A stray
    ``0042`` among numbers of every width is a number. The others become integers, or floats, as Arrow
    would have read them, and text where some cell is no number at all.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in names:
        i = tbl.schema.get_field_index(name)
        column = tbl.column(i)
        padded = pc.sum(pc.match_substring_regex(column, r"^[+-]?0[0-9]")).as_py() or 0
        if padded:
            widths = pc.min_max(pc.utf8_length(column)).as_py()
            if keeps_leading_zeros(padded, len(column) - column.null_count, widths["min"], widths["max"]):
                continue
        for kind in (pa.int64(), pa.float64()):
            try:
                tbl = tbl.set_column(i, name, pc.cast(column, kind))
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
    return tbl


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
        as_text = _text_temporal_to_string(probe)
        # integers are read as text first: a code with leading zeros (a zip code, '007') must stay text
        whole = [f.name for f in probe if pa.types.is_integer(f.type)]
        convert_opts.column_types = as_text | dict.fromkeys(whole, pa.string())
        tbl = _numbers_unless_padded(pacsv.read_csv(path, read_options=read_opts, parse_options=parse_opts,
                                                    convert_options=convert_opts), whole)
    except LookupError as exc:
        raise UserInputError(f"unknown encoding '{encoding}'; use e.g. utf-8 or latin-1") from exc
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DataError(_csv_error_message(path, str(exc))) from exc
    for field in tbl.schema:
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            raise DataError(
                f"{path} is not valid {encoding} text (column '{field.name}'); "
                "pass the file's encoding, e.g. encoding='latin-1'"
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
            "fix that row, quote values that contain the delimiter, or pick format='tsv'"
        )
    if "invalid UTF8" in first or "UTF-8" in first or "codec" in first:
        return f"{path} is not valid UTF-8 text; pass the file's encoding, e.g. encoding='latin-1'"
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
        engine = create_engine(url)
    except NoSuchModuleError as exc:
        raise UserInputError(
            f"no database driver for {shown}; check the URL scheme (e.g. postgresql://, sqlite:///)"
        ) from exc
    except (ArgumentError, ValueError):
        raise UserInputError(
            f"malformed database URL {shown}; expected dialect://user:password@host:port/database"
        ) from None
    except ModuleNotFoundError as exc:
        raise UserInputError(
            f"the Python driver '{exc.name}' for {shown} is not installed; pip install it "
            "(the PostgreSQL driver psycopg ships with synthera)"
        ) from exc
    if engine.dialect.name == "sqlite":
        _transactional_sqlite(engine)
    return engine


def _transactional_sqlite(engine) -> None:
    """Make SQLite run DDL inside the transaction too, so a failed replace keeps the old table.

    Python's sqlite3 module opens a transaction only before INSERT/UPDATE/
    DELETE, so ``DROP TABLE``/``CREATE TABLE`` would commit on their own; the
    driver is told to leave transactions alone and SQLAlchemy emits BEGIN.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN")


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
    if db_file:
        note_source_mode(db_file)
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
                        f"{shown} holds {len(available)} tables ({listing}); pass table NAME"
                    )
                name = available[0]
            elif name not in available:
                raise DataError(f"table '{table}' not found in {shown}; {_table_hint(name, available)}")
            df = pd.read_sql_table(name, conn, schema=schema or None)
            _restore_sql_types(df, insp.get_columns(name, schema=schema or None))
    except (SQLAlchemyError, sqlite3.DatabaseError) as exc:
        reason, cause = _db_reason(exc, url)
        raise DataError(
            f"cannot read from database {shown} ({reason}); check the URL, the credentials and "
            "that the server is running"
        ) from cause
    finally:
        engine.dispose()
    return df


def _db_reason(exc: BaseException, url: str) -> tuple[str, BaseException | None]:
    """The driver's first line, redacted, and the error to chain (none when its text holds a secret).

    Drivers quote parts of the connection string (psycopg names the host it
    could not resolve, which may hold the tail of a password with an "@").
    """
    known = secrets_in(url)
    full = str(exc)
    first = (str(getattr(exc, "orig", exc)).splitlines() or [type(exc).__name__])[0]
    return redact(first, known=known)[:160], (exc if redact(full, known=known) == full else None)


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


@_redacted_errors
def write_table(
    df: pd.DataFrame,
    target: str | os.PathLike,
    *,
    table: str | None = None,
    format: str | None = None,
    replace: bool = False,
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
    replace
        Replace an existing SQL table (in a SQLite file or a database). Without
        it such a table is left alone and a :class:`UserInputError` says so: it
        may hold real rows. Files (CSV, Parquet, JSON Lines) are always
        replaced, atomically.

    Returns
    -------
    str
        Where the table was written (a URL is returned without its password).
    """
    target_str = os.fspath(target)
    if is_url(target_str):
        if not table:
            raise UserInputError("writing to a database URL needs a table name; pass table NAME")
        _write_sql(df, target_str, table, replace)
        return _redact(target_str)

    path = Path(target_str).expanduser()
    fmt = _check_format(format) if format else detect_format(path)
    if fmt is None:
        raise UserInputError(
            f"cannot tell which format to write {target_str} in; use a .csv, .tsv, .parquet, "
            ".jsonl or .db suffix, or pass format"
        )
    if path.is_dir():
        raise UserInputError(f"{target_str} is a folder; pass a file name inside it")
    check_writable(path)
    if fmt == "sqlite":
        _write_sqlite_file(df, path, table or path.stem, replace)
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


def _write_sqlite_file(df: pd.DataFrame, path: Path, table: str, replace: bool) -> None:
    if path.exists():
        # An existing database may hold other tables: one transaction keeps it whole.
        _write_sql(df, f"sqlite:///{path.resolve()}", table, replace, shown=str(path))
        return
    with atomic_path(path) as tmp:
        tmp.unlink()  # let SQLite create a fresh database file
        _write_sql(df, f"sqlite:///{tmp.resolve()}", table, replace, shown=str(path))


def _write_sql(df: pd.DataFrame, url: str, table: str, replace: bool, *, shown: str | None = None) -> None:
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    shown = shown or _redact(url)
    schema, _, name = table.rpartition(".")
    engine = _engine(url, shown)
    try:
        with engine.begin() as conn:  # one transaction: all rows or none, the old table kept on failure
            if not replace and inspect(conn).has_table(name, schema=schema or None):
                raise UserInputError(
                    f"table '{table}' already exists in {shown}; pass replace=True to overwrite it, "
                    "or pick another table name"
                )
            df.to_sql(name, conn, schema=schema or None, if_exists="replace", index=False, chunksize=10_000)
    except (SQLAlchemyError, sqlite3.DatabaseError) as exc:
        reason, cause = _db_reason(exc, url)
        raise DataError(f"cannot write table '{table}' to {shown} ({reason}); check the URL and permissions") from cause
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
    check_writable(folder, folder=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(folder, _os_reason(exc) or "permission denied") from None
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
    note_source_mode(path)  # a model fitted on a private table keeps its samples private
    try:
        import json

        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} is not valid JSON ({exc}); the model folder is damaged, save it again") from None
