"""What a database holds: tables, columns, keys, and the schema text a prompt shows.

* :func:`read_schema` reads tables, ``CREATE TABLE`` statements and foreign
  keys from a SQLite file or any SQLAlchemy URL;
* :func:`column_values` finds the values worth showing next to each column,
  and :func:`schema_prompt` writes the ``CREATE TABLE`` statements with them
  as comments (``sex TEXT -- values: 'Female', 'Male'``).

>>> quote_identifier("age"), quote_identifier("education-num")
('age', '"education-num"')
>>> sql_literal("O'Neil"), format_number(2.50)
("'O''Neil'", '2.5')
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field

from synthera.errors import DataError
from synthera.text.sql.execute import connect_readonly, execute_sql, sqlite_path

__all__ = [
    "Column",
    "ColumnValues",
    "ForeignKey",
    "Schema",
    "Table",
    "column_values",
    "format_number",
    "quote_identifier",
    "read_schema",
    "schema_prompt",
    "sql_literal",
]

_PLAIN_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Words that need quoting as identifiers in SQLite or the common dialects.
_RESERVED = frozenset(
    [
        "abort", "action", "add", "after", "all", "alter", "analyze", "and", "as", "asc", "attach", "autoincrement",
        "before", "begin", "between", "by", "cascade", "case", "cast", "check", "collate", "column", "commit",
        "conflict", "constraint", "create", "cross", "current", "current_date", "current_time", "current_timestamp",
        "database", "default", "deferrable", "deferred", "delete", "desc", "detach", "distinct", "do", "drop", "each",
        "else", "end", "escape", "except", "exclusive", "exists", "explain", "fail", "filter", "for", "foreign",
        "from", "full", "glob", "group", "groups", "having", "if", "ignore", "immediate", "in", "index", "indexed",
        "initially", "inner", "insert", "instead", "intersect", "into", "is", "isnull", "join", "key", "last", "left",
        "like", "limit", "match", "natural", "no", "not", "nothing", "notnull", "null", "nulls", "of", "offset", "on",
        "or", "order", "others", "outer", "over", "partition", "plan", "pragma", "primary", "query", "raise", "range",
        "recursive", "references", "regexp", "reindex", "release", "rename", "replace", "restrict", "right",
        "rollback", "row", "rows", "savepoint", "select", "set", "table", "temp", "temporary", "then", "ties", "to",
        "transaction", "trigger", "unbounded", "union", "unique", "update", "user", "using", "vacuum", "values",
        "view", "virtual", "when", "where", "window", "with", "without", "true", "false", "start", "end",
    ]
)


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
    """``table.column`` references ``ref_table.ref_column``.

    A composite key names its columns as tuples, in the order they pair up:
    ``ForeignKey("returns", ("order_id", "line"), "order_items", ("order_id", "line"))``;
    a join over it must match every pair (:attr:`pairs`). A one-column tuple is stored as its name.

    >>> ForeignKey("returns", ("order_id", "line"), "items", ("order_id", "line")).label()
    'returns.(order_id, line) -> items.(order_id, line)'
    """

    table: str
    column: str | tuple[str, ...]
    ref_table: str
    ref_column: str | tuple[str, ...]

    def __post_init__(self):
        for name in ("column", "ref_column"):
            value = getattr(self, name)
            if not isinstance(value, str):
                value = tuple(value)
                object.__setattr__(self, name, value[0] if len(value) == 1 else value)
        if len(self.columns) != len(self.ref_columns):
            raise ValueError(f"foreign key {self.table} -> {self.ref_table} pairs {len(self.columns)} columns "
                             f"with {len(self.ref_columns)}; name as many on each side")

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) if isinstance(self.column, str) else self.column

    @property
    def ref_columns(self) -> tuple[str, ...]:
        return (self.ref_column,) if isinstance(self.ref_column, str) else self.ref_column

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """``(column, ref_column)`` for each column of the key."""
        return list(zip(self.columns, self.ref_columns, strict=True))

    @property
    def composite(self) -> bool:
        return len(self.columns) > 1

    def label(self) -> str:
        """``orders.customer_id -> customers.id``; a composite key lists its columns in brackets."""
        def side(table, cols):
            return f"{table}.{cols[0]}" if len(cols) == 1 else f"{table}.({', '.join(cols)})"
        return f"{side(self.table, self.columns)} -> {side(self.ref_table, self.ref_columns)}"


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
        literals = [sql_literal(v) for v in self.top]
        shown = literals[:1]
        for lit in literals[1:]:
            if sum(len(x) + 2 for x in shown) + len(lit) > width:
                break
            shown.append(lit)
        text = ", ".join(shown)
        return f"values: {text}" if len(shown) >= self.distinct else f"e.g. {text}, …"


def format_number(value) -> str:
    """A number as a question or a SQL literal writes it: integers plainly, others to 2 decimals."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def sql_literal(value) -> str:
    """A value as a SQL literal: strings quoted with inner quotes doubled, numbers plainly."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return format_number(value)


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


def read_schema(db: str | os.PathLike) -> Schema:
    """Read tables, columns, ``CREATE TABLE`` statements and foreign keys from a database.

    ``db`` is a SQLite file, a ``sqlite:///`` URL or another SQLAlchemy URL.
    """
    file = sqlite_path(db)
    if file is not None:
        if not file.is_file():
            raise DataError(f"database not found: {db}; check the path or build one with from_synthetic")
        conn = connect_readonly(file)
        try:
            names = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )]
            tables, fks = [], []
            for name in names:
                create = conn.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?",
                                      (name,)).fetchone()[0]
                cols = [
                    Column(r[1], (r[2] or "TEXT").upper(), bool(r[5]))
                    for r in conn.execute(f"PRAGMA table_info({quote_identifier(name)})")
                ]
                tables.append(Table(name, cols, create))
                fks += _sqlite_foreign_keys(conn, name)
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{db} is not a readable SQLite database ({exc}); check the file") from None
        finally:
            conn.close()
        if not tables:
            raise DataError(f"database {db} has no tables; load some data into it first")
        return Schema(tables, fks)
    return _read_schema_sqlalchemy(os.fspath(db))


def _sqlite_foreign_keys(conn: sqlite3.Connection, table: str) -> list[ForeignKey]:
    """The declared keys of ``table``: ``PRAGMA foreign_key_list`` gives one row per column, grouped by key id.

    A key that names no parent column (``REFERENCES parent``) points at the parent's primary key.
    """
    groups: dict[int, list] = {}
    for r in conn.execute(f"PRAGMA foreign_key_list({quote_identifier(table)})"):
        groups.setdefault(r[0], []).append(r)
    out = []
    for rows in groups.values():
        rows.sort(key=lambda r: r[1])
        parent = rows[0][2]
        refs = [r[4] for r in rows]
        if any(ref is None for ref in refs):
            info = conn.execute(f"PRAGMA table_info({quote_identifier(parent)})").fetchall()
            refs = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
            if len(refs) != len(rows):
                continue  # a broken declaration: no key to join on
        out.append(ForeignKey(table, tuple(r[3] for r in rows), parent, tuple(refs)))
    return out


def _read_schema_sqlalchemy(url: str) -> Schema:
    from sqlalchemy import MetaData, create_engine
    from sqlalchemy.schema import CreateTable

    from synthera._secrets import redact

    try:
        engine = create_engine(url)
        meta = MetaData()
        meta.reflect(bind=engine)
    except Exception as exc:  # noqa: BLE001 - drivers raise many types; the message must not leak the password
        raise DataError(f"cannot read the schema of {redact(url)} ({type(exc).__name__}); check the URL") from None
    tables, fks = [], []
    for tbl in meta.sorted_tables:
        cols = [Column(c.name, str(c.type).upper(), bool(c.primary_key)) for c in tbl.columns]
        tables.append(Table(tbl.name, cols, str(CreateTable(tbl).compile(engine)).strip()))
        for con in tbl.foreign_key_constraints:  # one per declared key, composite keys whole
            pairs = [(e.parent.name, e.column.name) for e in con.elements]
            fks.append(ForeignKey(tbl.name, tuple(p for p, _ in pairs), con.referred_table.name,
                                  tuple(r for _, r in pairs)))
    if not tables:
        raise DataError(f"database {redact(url)} has no tables; load some data into it first")
    return Schema(tables, fks)
