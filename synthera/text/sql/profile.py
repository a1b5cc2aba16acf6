"""A profile of a database's values: what each column holds, for the query grammar to pick from."""

from __future__ import annotations

import math
import re
import sqlite3
from dataclasses import dataclass

from synthera.text.sql.schema import Schema, quote_identifier

__all__ = ["ColumnProfile", "TableProfile", "profile_database", "usable_value"]


@dataclass
class ColumnProfile:
    table: str
    name: str
    kind: str  # numeric | text
    distinct: int
    nulls: float
    top: list  # most frequent non-null values
    quantiles: list  # numeric: 10..90% values
    primary_key: bool = False
    foreign_key: bool = False  # part of a declared foreign key: a link, not a quantity to ask about

    @property
    def categorical(self) -> bool:
        return 2 <= self.distinct <= (16 if self.kind == "numeric" else 40)

    @property
    def measure(self) -> bool:
        return self.kind == "numeric" and self.distinct >= 3 and not self.primary_key

    @property
    def id_like(self) -> bool:
        named = re.search(r"(^|_)(id|key|number|no)$", self.name.lower()) is not None
        return self.primary_key or self.foreign_key or named


@dataclass
class TableProfile:
    name: str
    rows: int
    columns: dict[str, ColumnProfile]
    sample: list[dict]


def profile_database(conn: sqlite3.Connection, schema: Schema, sample_rows: int) -> dict[str, TableProfile]:
    """Per table: its row count, the first ``sample_rows`` rows, and a :class:`ColumnProfile` per column."""
    out = {}
    links = {(fk.table, c) for fk in schema.foreign_keys for c in fk.columns}
    for tbl in schema.tables:
        qt = quote_identifier(tbl.name)
        rows = int(conn.execute(f"SELECT COUNT(*) FROM {qt}").fetchone()[0])
        cur = conn.execute(f"SELECT * FROM {qt} LIMIT {int(sample_rows)}")
        names = [d[0] for d in cur.description]
        sample = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        cols = {col.name: _column_profile(conn, tbl.name, col, rows, sample) for col in tbl.columns}
        for name, col in cols.items():
            col.foreign_key = (tbl.name, name) in links
        out[tbl.name] = TableProfile(tbl.name, rows, cols, sample)
    return out


def _column_profile(conn: sqlite3.Connection, table: str, col, rows: int, sample: list[dict]) -> ColumnProfile:
    """Kind, distinct count, NULL share, the 40 most common usable values, and deciles of the sample."""
    qt, qc = quote_identifier(table), quote_identifier(col.name)
    distinct, nulls = conn.execute(f"SELECT COUNT(DISTINCT {qc}), SUM({qc} IS NULL) FROM {qt}").fetchone()
    top = [r[0] for r in conn.execute(
        f"SELECT {qc} FROM {qt} WHERE {qc} IS NOT NULL GROUP BY {qc} ORDER BY COUNT(*) DESC, {qc} LIMIT 40"
    )]
    top = [v for v in top if usable_value(v)]
    kind = "numeric" if col.kind in ("numeric", "boolean") else "text"
    if kind == "text" and top and all(isinstance(v, (int, float)) for v in top):
        kind = "numeric"
    quantiles = []
    if kind == "numeric" and rows:
        values = sorted(v for v in (r[col.name] for r in sample) if _finite_number(v))
        if values:
            quantiles = sorted({values[min(len(values) - 1, int(q * len(values)))] for q in
                                (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)})
    primary = col.primary_key or (rows > 20 and distinct == rows and kind == "numeric" and "id" in col.name.lower())
    return ColumnProfile(table, col.name, kind, int(distinct or 0), float(nulls or 0) / max(rows, 1), top, quantiles,
                         primary)


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not (isinstance(value, float) and not math.isfinite(value))


def usable_value(value) -> bool:
    """A value a query may name: not NULL, finite, not bytes, short one-line text without outer spaces."""
    if value is None:
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if isinstance(value, bytes):
        return False
    if isinstance(value, str):
        return 0 < len(value) <= 40 and "\n" not in value and value.strip() == value and value != ""
    return True
