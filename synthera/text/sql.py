"""SQLite databases from tables, and a SQL executor with a timeout.

These are the two plain functions every Text-to-SQL step shares:

* :func:`database_from_tables` writes data frames into a new SQLite file
  (atomically), with typed ``CREATE TABLE`` statements and optional primary
  and foreign keys, so a schema can be shown to a model;
* :func:`execute_sql` runs one query against a SQLite file (or any SQLAlchemy
  URL) read-only, stops it after ``timeout_s`` seconds and returns the rows.
  Execution accuracy compares such row lists with :func:`results_match`.

>>> import pandas as pd
>>> from synthera.text.sql import database_from_tables, execute_sql
>>> db = database_from_tables({"people": pd.DataFrame({"age": [30, 40]})}, "/tmp/people.db")  # doctest: +SKIP
>>> execute_sql(db, "SELECT MAX(age) FROM people")  # doctest: +SKIP
[(40,)]
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from synthera.errors import DataError, SyntheraError, UserInputError

__all__ = [
    "Column",
    "ColumnValues",
    "ForeignKey",
    "SQLExecutionError",
    "Schema",
    "Table",
    "column_values",
    "database_from_tables",
    "execute_sql",
    "quote_identifier",
    "read_schema",
    "results_match",
    "schema_prompt",
    "sqlite_path",
]

_PLAIN_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Words that need quoting as identifiers in SQLite or the common dialects.
_RESERVED = frozenset(
    ["abort", "action", "add", "after", "all", "alter", "analyze", "and", "as", "asc", "attach", "autoincrement", "before", "begin", "between", "by", "cascade", "case", "cast", "check", "collate", "column", "commit", "conflict", "constraint", "create", "cross", "current", "current_date", "current_time", "current_timestamp", "database", "default", "deferrable", "deferred", "delete", "desc", "detach", "distinct", "do", "drop", "each", "else", "end", "escape", "except", "exclusive", "exists", "explain", "fail", "filter", "for", "foreign", "from", "full", "glob", "group", "groups", "having", "if", "ignore", "immediate", "in", "index", "indexed", "initially", "inner", "insert", "instead", "intersect", "into", "is", "isnull", "join", "key", "last", "left", "like", "limit", "match", "natural", "no", "not", "nothing", "notnull", "null", "nulls", "of", "offset", "on", "or", "order", "others", "outer", "over", "partition", "plan", "pragma", "primary", "query", "raise", "range", "recursive", "references", "regexp", "reindex", "release", "rename", "replace", "restrict", "right", "rollback", "row", "rows", "savepoint", "select", "set", "table", "temp", "temporary", "then", "ties", "to", "transaction", "trigger", "unbounded", "union", "unique", "update", "user", "using", "vacuum", "values", "view", "virtual", "when", "where", "window", "with", "without", "true", "false", "start", "end"]
)


class SQLExecutionError(SyntheraError):
    """A query failed to run: a syntax error, a missing column, or the timeout."""


def quote_identifier(name: str) -> str:
    """Quote a table or column name for SQL when it needs it.

    Plain names (letters, digits, underscores, not a keyword) stay bare so the
    SQL reads naturally; anything else (``education-num``, ``first name``,
    ``order``) is wrapped in double quotes with inner quotes doubled.

    >>> quote_identifier("age"), quote_identifier("education-num"), quote_identifier('a"b')
    ('age', '"education-num"', '"a""b"')
    """
    if _PLAIN_IDENTIFIER.match(name) and name.lower() not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------- schema


@dataclass
class Column:
    """One column: its name, SQL type and (for sampling) whether it is text or a number."""

    name: str
    type: str
    primary_key: bool = False

    @property
    def kind(self) -> str:
        """``"numeric"`` for INTEGER/REAL-like types, ``"text"`` otherwise."""
        t = self.type.upper()
        if any(k in t for k in ("INT", "REAL", "FLOA", "DOUB", "NUM", "DEC")):
            return "numeric"
        if "BOOL" in t:
            return "boolean"
        return "text"


@dataclass(frozen=True)
class ForeignKey:
    """``table.column`` references ``ref_table.ref_column``."""

    table: str
    column: str
    ref_table: str
    ref_column: str


@dataclass
class Table:
    name: str
    columns: list[Column]
    create_sql: str

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


@dataclass
class Schema:
    """Tables, their ``CREATE TABLE`` statements and the foreign keys between them."""

    tables: list[Table]
    foreign_keys: list[ForeignKey] = field(default_factory=list)

    def table(self, name: str) -> Table:
        for tbl in self.tables:
            if tbl.name == name:
                return tbl
        raise KeyError(name)

    def ddl(self, values: Mapping[str, Mapping[str, ColumnValues]] | None = None) -> str:
        """All ``CREATE TABLE`` statements, separated by blank lines, each ending in ``;``.

        ``values`` (from :func:`column_values`) adds what a column holds as a
        comment on its line, ``sex TEXT -- values: 'Female', 'Male'``, so a
        model can write the stored spelling of a value the question words
        differently ("women", "more than 50K").
        """
        values = values or {}
        return "\n\n".join(_annotated(t, values.get(t.name, {})) for t in self.tables)


@dataclass(frozen=True)
class ColumnValues:
    """The most common values of a column, and how many distinct values it has in all."""

    top: tuple
    distinct: int

    def comment(self, width: int = 80) -> str:
        """``values: 'a', 'b'`` when every value fits in about ``width`` characters, else ``e.g. 'a', …``."""
        literals = [_literal(v) for v in self.top]
        shown = literals[:1]
        for lit in literals[1:]:
            if sum(len(x) + 2 for x in shown) + len(lit) > width:
                break
            shown.append(lit)
        text = ", ".join(shown)
        return f"values: {text}" if len(shown) >= self.distinct else f"e.g. {text}, …"


def _format_number(value) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _literal(value) -> str:
    """A value as a SQL literal: strings quoted with inner quotes doubled, numbers plainly."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return _format_number(value)


def _annotated(table: Table, values: Mapping[str, ColumnValues]) -> str:
    """A table's ``CREATE TABLE`` with value comments on the lines that declare the columns.

    A column whose line cannot be found (a statement on one line) gets its
    comment after the statement instead.
    """
    lines = table.create_sql.rstrip().rstrip(";").split("\n")
    lines[-1] += ";"
    leftover = []
    for name, vals in values.items():
        starts = (quote_identifier(name) + " ", name + " ", f'"{name}" ', f"`{name}` ", f"[{name}] ")
        at = next((i for i, line in enumerate(lines[1:], 1) if line.lstrip().startswith(starts)), None)
        if at is None:
            leftover.append(f"-- {table.name}.{name} {vals.comment()}")
            continue
        line = lines[at]
        end = ");" if at == len(lines) - 1 and line.endswith(");") else ""
        lines[at] = f"{line[: len(line) - len(end)].rstrip()} -- {vals.comment()}" + (f"\n{end}" if end else "")
    return "\n".join(lines + leftover)


def column_values(
    db: str | os.PathLike | sqlite3.Connection,
    schema: Schema,
    *,
    max_distinct: int = 50,
    shown: int = 8,
    timeout_s: float = 10.0,
) -> dict[str, dict[str, ColumnValues]]:
    """The values worth showing a model next to each column, per table.

    A text column qualifies when it holds at most ``max_distinct`` distinct
    values and no more than half as many as the table has rows, so names,
    identifiers, dates and free text are never shown; a numeric column when
    it is a flag or code with at most three values. The ``shown`` most
    common values come first (ties by value), so the result is the same on
    every run.
    """
    out: dict[str, dict[str, ColumnValues]] = {}
    for tbl in schema.tables:
        qt = quote_identifier(tbl.name)
        rows = execute_sql(db, f"SELECT COUNT(*) FROM {qt}", timeout_s=timeout_s)[0][0]
        found = {}
        for col in tbl.columns:
            if col.primary_key:
                continue
            qc = quote_identifier(col.name)
            distinct = execute_sql(db, f"SELECT COUNT(DISTINCT {qc}) FROM {qt}", timeout_s=timeout_s)[0][0]
            limit = max_distinct if col.kind == "text" else 3
            if not 2 <= distinct <= limit or 2 * distinct > rows:
                continue
            top = tuple(r[0] for r in execute_sql(
                db, f"SELECT {qc} FROM {qt} WHERE {qc} IS NOT NULL GROUP BY {qc} ORDER BY COUNT(*) DESC, {qc} "
                f"LIMIT {int(shown)}", timeout_s=timeout_s))
            if col.kind == "text":
                if not all(isinstance(v, str) for v in top):
                    continue  # mixed storage: the stored spelling is not one thing
                top = tuple(v for v in top if 0 < len(v) <= 60 and "\n" not in v)  # dropped ones make it "e.g."
            if top:
                found[col.name] = ColumnValues(top, int(distinct))
        if found:
            out[tbl.name] = found
    return out


def schema_prompt(db: str | os.PathLike | sqlite3.Connection, schema: Schema | None = None) -> str:
    """The schema a Text-to-SQL prompt shows: ``CREATE TABLE`` statements with value comments.

    SynthGen's training examples and ``synthera text evaluate`` both build
    their prompts with it, so a model is tested on the prompt it learnt from.
    """
    if schema is None:
        if isinstance(db, sqlite3.Connection):
            raise TypeError("pass the schema along with an open connection")
        schema = read_schema(db)
    return schema.ddl(column_values(db, schema))


def _sql_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "INTEGER"
    if pd.api.types.is_integer_dtype(series):
        return "INTEGER"
    if pd.api.types.is_float_dtype(series):
        return "REAL"
    return "TEXT"


def _python_value(value):
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str, bytes)):
        return value
    return str(value)


def sqlite_path(db: str | os.PathLike) -> Path | None:
    """The file behind ``db`` when it is a SQLite file or ``sqlite:///`` URL, else ``None``."""
    text = os.fspath(db)
    if text.startswith("sqlite:///"):
        return Path(text[len("sqlite:///"):]).expanduser()
    if "://" in text:
        return None
    return Path(text).expanduser()


def database_from_tables(
    tables: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    *,
    primary_keys: Mapping[str, str] | None = None,
    foreign_keys: Iterable[ForeignKey | tuple[str, str, str, str]] = (),
    overwrite: bool = True,
) -> Path:
    """Write data frames into a new SQLite database file, atomically.

    Parameters
    ----------
    tables
        Table name to frame. Column names are kept exactly (quoted in SQL
        when they hold hyphens, spaces or keywords).
    path
        The ``.db`` file to write. It appears only once complete.
    primary_keys
        Optional table name to primary-key column.
    foreign_keys
        ``(table, column, ref_table, ref_column)`` links, written as
        ``REFERENCES`` clauses so join sampling can find them.
    overwrite
        Replace an existing file (default) or refuse.

    Returns
    -------
    pathlib.Path
        The database file.
    """
    from synthera.io import atomic_path

    if not tables:
        raise UserInputError("no tables to write; pass at least one data frame")
    path = Path(path).expanduser()
    if path.exists() and not overwrite:
        raise UserInputError(f"{path} already exists; remove it or pass overwrite=True")
    primary_keys = dict(primary_keys or {})
    fks = [fk if isinstance(fk, ForeignKey) else ForeignKey(*fk) for fk in foreign_keys]
    for fk in fks:
        for tbl, col in ((fk.table, fk.column), (fk.ref_table, fk.ref_column)):
            if tbl not in tables or col not in tables[tbl].columns:
                raise UserInputError(f"foreign key names {tbl}.{col}, which is not among the tables' columns")
    with atomic_path(path) as tmp:
        tmp.unlink()  # sqlite wants to create the file itself
        conn = sqlite3.connect(tmp)
        try:
            for name, frame in tables.items():
                if frame.columns.duplicated().any():
                    raise DataError(f"table '{name}' has duplicated column names; rename them first")
                if len(frame.columns) == 0:
                    raise DataError(f"table '{name}' has no columns")
                lines = []
                for col in frame.columns:
                    line = f"  {quote_identifier(str(col))} {_sql_type(frame[col])}"
                    if primary_keys.get(name) == col:
                        line += " PRIMARY KEY"
                    lines.append(line)
                for fk in fks:
                    if fk.table == name:
                        lines.append(
                            f"  FOREIGN KEY ({quote_identifier(fk.column)}) REFERENCES "
                            f"{quote_identifier(fk.ref_table)} ({quote_identifier(fk.ref_column)})"
                        )
                conn.execute(f"CREATE TABLE {quote_identifier(name)} (\n" + ",\n".join(lines) + "\n)")
                marks = ", ".join("?" for _ in frame.columns)
                rows = (tuple(_python_value(v) for v in row) for row in frame.itertuples(index=False, name=None))
                conn.executemany(f"INSERT INTO {quote_identifier(name)} VALUES ({marks})", rows)
            conn.commit()
        finally:
            conn.close()
    return path


def read_schema(db: str | os.PathLike) -> Schema:
    """Read tables, columns, ``CREATE TABLE`` statements and foreign keys from a database.

    ``db`` is a SQLite file, a ``sqlite:///`` URL or another SQLAlchemy URL.
    """
    file = sqlite_path(db)
    if file is not None:
        if not file.is_file():
            raise DataError(f"database not found: {db}; check the path or build one with --from-synthetic")
        conn = _connect_sqlite(file)
        try:
            names = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )]
            tables, fks = [], []
            for name in names:
                create = conn.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone()[0]
                cols = [
                    Column(r[1], (r[2] or "TEXT").upper(), bool(r[5]))
                    for r in conn.execute(f"PRAGMA table_info({quote_identifier(name)})")
                ]
                tables.append(Table(name, cols, create))
                for r in conn.execute(f"PRAGMA foreign_key_list({quote_identifier(name)})"):
                    fks.append(ForeignKey(name, r[3], r[2], r[4]))
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{db} is not a readable SQLite database ({exc}); check the file") from None
        finally:
            conn.close()
        if not tables:
            raise DataError(f"database {db} has no tables; load some data into it first")
        return Schema(tables, fks)
    return _read_schema_sqlalchemy(os.fspath(db))


def _read_schema_sqlalchemy(url: str) -> Schema:
    from sqlalchemy import MetaData, create_engine
    from sqlalchemy.schema import CreateTable

    from synthera.io import _redact

    try:
        engine = create_engine(url)
        meta = MetaData()
        meta.reflect(bind=engine)
    except Exception as exc:  # noqa: BLE001 - drivers raise many types; the message must not leak the password
        raise DataError(f"cannot read the schema of {_redact(url)} ({type(exc).__name__}); check the URL") from None
    tables, fks = [], []
    for tbl in meta.sorted_tables:
        cols = [Column(c.name, str(c.type).upper(), bool(c.primary_key)) for c in tbl.columns]
        tables.append(Table(tbl.name, cols, str(CreateTable(tbl).compile(engine)).strip()))
        for fk in tbl.foreign_keys:
            fks.append(ForeignKey(tbl.name, fk.parent.name, fk.column.table.name, fk.column.name))
    if not tables:
        raise DataError(f"database {_redact(url)} has no tables; load some data into it first")
    return Schema(tables, fks)


# --------------------------------------------------------------------------- execution


def _connect_sqlite(file: Path) -> sqlite3.Connection:
    uri = "file:" + str(file.resolve()).replace("?", "%3f").replace("#", "%23") + "?mode=ro"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


def execute_sql(
    db: str | os.PathLike | sqlite3.Connection,
    sql: str,
    *,
    timeout_s: float = 5.0,
    max_rows: int | None = 10_000,
    reverse_unordered: bool = False,
) -> list[tuple]:
    """Run one query read-only and return its rows.

    Parameters
    ----------
    db
        A SQLite file, a ``sqlite:///`` URL, another SQLAlchemy URL, or an open
        :class:`sqlite3.Connection` (reused, e.g. for thousands of checks).
    sql
        One SQL statement.
    timeout_s
        Stop the query after this many seconds (exact for SQLite; best effort
        elsewhere, where the driver's own timeout applies).
    max_rows
        Return at most this many rows (``None``: all).
    reverse_unordered
        SQLite only: run with ``PRAGMA reverse_unordered_selects`` so that a
        query whose result depends on an unspecified row order shows it.

    Returns
    -------
    list of tuple
        The rows, as plain Python values.

    Raises
    ------
    SQLExecutionError
        The query failed or ran past ``timeout_s``.
    """
    if isinstance(db, sqlite3.Connection):
        return _execute_sqlite(db, sql, timeout_s, max_rows, reverse_unordered)
    file = sqlite_path(db)
    if file is not None:
        if not file.is_file():
            raise DataError(f"database not found: {db}; check the path")
        conn = _connect_sqlite(file)
        try:
            return _execute_sqlite(conn, sql, timeout_s, max_rows, reverse_unordered)
        finally:
            conn.close()
    return _execute_sqlalchemy(os.fspath(db), sql, timeout_s, max_rows)


def _execute_sqlite(conn, sql, timeout_s, max_rows, reverse_unordered) -> list[tuple]:
    deadline = time.monotonic() + timeout_s
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 2_000)
    try:
        if reverse_unordered:
            conn.execute("PRAGMA reverse_unordered_selects = ON")
        cur = conn.execute(sql)
        rows = cur.fetchall() if max_rows is None else cur.fetchmany(max_rows)
        cur.close()
        return rows
    except sqlite3.Warning as exc:  # e.g. several statements at once
        raise SQLExecutionError(str(exc)) from None
    except sqlite3.Error as exc:
        if time.monotonic() > deadline or "interrupted" in str(exc):
            raise SQLExecutionError(f"query ran past the {timeout_s:g} s timeout") from None
        raise SQLExecutionError(str(exc)) from None
    finally:
        conn.set_progress_handler(None, 0)
        if reverse_unordered:
            conn.execute("PRAGMA reverse_unordered_selects = OFF")


def _execute_sqlalchemy(url: str, sql: str, timeout_s: float, max_rows: int | None) -> list[tuple]:
    from sqlalchemy import create_engine, text

    from synthera.io import _redact

    args = {}
    if url.startswith(("postgresql", "postgres")):
        args = {"options": f"-c statement_timeout={int(timeout_s * 1000)}"}
    try:
        engine = create_engine(url, connect_args=args)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot open {_redact(url)} ({type(exc).__name__}); check the URL") from None
    try:
        with engine.connect() as conn:
            result = conn.execute(text(sql))
            rows = result.fetchall() if max_rows is None else result.fetchmany(max_rows)
            return [tuple(r) for r in rows]
    except Exception as exc:  # noqa: BLE001 - any driver error is a failed execution
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SQLExecutionError(first[:300]) from None
    finally:
        engine.dispose()


def _canonical(value, digits: int):
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return round(value, digits)
    if isinstance(value, bool):
        return int(value)
    return value


def results_match(a: Sequence[Sequence], b: Sequence[Sequence], *, ordered: bool = False, digits: int = 6) -> bool:
    """Whether two query results hold the same rows (execution accuracy).

    Floats are compared after rounding to ``digits`` decimals; ``ordered``
    compares row order too (use it when the gold SQL has ``ORDER BY``), else
    the rows are compared as multisets.
    """
    ca = [tuple(_canonical(v, digits) for v in row) for row in a]
    cb = [tuple(_canonical(v, digits) for v in row) for row in b]
    if ordered:
        return ca == cb
    return Counter(ca) == Counter(cb)
