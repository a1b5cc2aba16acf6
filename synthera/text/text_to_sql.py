"""Text-to-SQL: sample SQL from a schema, verify it by execution, write the question.

The sampler reads the database's schema and a profile of its values, then
builds queries from a small grammar of query families (projections, filters,
aggregates, ``GROUP BY``/``HAVING``, ``ORDER BY``/``LIMIT``, joins over foreign
keys, nested queries and set operations). Each query's difficulty is computed
with Spider's hardness rules (:func:`spider_hardness`), so the requested shares
of easy/medium/hard/extra are met by counting, not by trusting the family.

Every query is normalised with ``sqlglot`` and then executed
(:meth:`SQLSampler.verify`): it must run without error inside the timeout,
return at least one non-NULL row, give the same rows when SQLite reverses the
order of unordered scans, and, under ``LIMIT``, not cut through a tie of the
ordering key. A grammar question is written with it; an LLM can rewrite that
question (back-translation) and the rewrite is kept only if it still mentions
every column and value the SQL uses (:func:`round_trip_ok`).

>>> from synthera.text.text_to_sql import spider_hardness
>>> spider_hardness("SELECT COUNT(*) FROM t WHERE a = 1")
'easy'
>>> spider_hardness("SELECT a FROM t WHERE x > (SELECT AVG(x) FROM t)")
'hard'
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from synthera.errors import DataError, UserInputError
from synthera.text.sql import (
    ForeignKey,
    Schema,
    SQLExecutionError,
    _connect_sqlite,
    _format_number,
    _literal,
    execute_sql,
    quote_identifier,
    read_schema,
    results_match,
    schema_prompt,
    sqlite_path,
)

__all__ = [
    "DEFAULT_SHARES",
    "LEVELS",
    "SQLCandidate",
    "SQLSampler",
    "VerifyResult",
    "mirror_database",
    "natural_name",
    "normalize_sql",
    "round_trip_ok",
    "spider_hardness",
    "spoken_value",
    "sql_features",
    "synthetic_database",
    "synthetic_database_path",
]

LEVELS = ("easy", "medium", "hard", "extra")
# Roughly Spider dev's mix (easy 24%, medium 43%, hard 17%, extra 16%), rounded.
DEFAULT_SHARES = {"easy": 0.25, "medium": 0.40, "hard": 0.20, "extra": 0.15}
_AGGS = ("COUNT", "AVG", "MIN", "MAX", "SUM")


# --------------------------------------------------------------------------- sqlglot helpers


def _sqlglot():
    import sqlglot
    from sqlglot import exp

    return sqlglot, exp


def normalize_sql(sql: str, *, dialect: str = "sqlite") -> str:
    """One canonical spelling of a query (keywords upper case, spacing, quoting) via ``sqlglot``.

    Raises ``ValueError`` if it does not parse.
    """
    sqlglot, _ = _sqlglot()
    from sqlglot.errors import SqlglotError

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
        return tree.sql(dialect=dialect)
    except SqlglotError as exc:
        raise ValueError(f"SQL does not parse: {str(exc).splitlines()[0]}") from None


def _dedup_key(normalized: str) -> str:
    """Identifiers are case-insensitive in SQL; string literals are not."""
    parts = re.split(r"('(?:[^']|'')*')", normalized)
    return "".join(p if p.startswith("'") else " ".join(p.lower().split()) for p in parts)


def _children_no_subquery(node):
    """Walk ``node`` without entering nested SELECTs (Spider counts only the top level)."""
    _, exp = _sqlglot()
    stack = [node]
    while stack:
        cur = stack.pop()
        yield cur
        for child in cur.iter_expressions():
            if isinstance(child, (exp.Select, exp.Subquery, exp.Union, exp.Intersect, exp.Except)):
                continue
            stack.append(child)


def _count(node, types) -> int:
    if node is None:
        return 0
    return sum(isinstance(n, types) for n in _children_no_subquery(node))


def _conditions(node) -> int:
    """Number of predicates in a WHERE/HAVING tree (AND/OR-separated)."""
    _, exp = _sqlglot()
    if node is None:
        return 0
    node = node.this if isinstance(node, (exp.Where, exp.Having)) else node
    node = node.unnest() if isinstance(node, exp.Paren) else node
    if isinstance(node, exp.Connector):
        return _conditions(node.left) + _conditions(node.right)
    return 1


def _nested(node) -> int:
    """Subqueries directly inside a WHERE/HAVING (not counting deeper levels)."""
    _, exp = _sqlglot()
    if node is None:
        return 0
    count = 0
    stack = [node]
    while stack:
        cur = stack.pop()
        for child in cur.iter_expressions():
            if isinstance(child, (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)):
                count += 1
            else:
                stack.append(child)
    return count


def sql_features(sql: str, *, dialect: str = "sqlite") -> dict:
    """The SQL components Spider's hardness counts, plus a list of feature names.

    Returns a dict with ``component1``, ``component2``, ``others`` (Spider's
    three counts) and ``features`` (e.g. ``["where", "group_by", "nested"]``).
    """
    sqlglot, exp = _sqlglot()
    tree = sqlglot.parse_one(sql, read=dialect)
    setop = None
    if isinstance(tree, (exp.Union, exp.Intersect, exp.Except)):
        setop = type(tree).__name__.lower()
        tree = tree.this
        while isinstance(tree, (exp.Union, exp.Intersect, exp.Except)):
            tree = tree.this
    if isinstance(tree, exp.Subquery):
        tree = tree.this
    if not isinstance(tree, exp.Select):
        raise ValueError("not a SELECT query")  # noqa: TRY004 - callers catch ValueError for any bad SQL
    where, having = tree.args.get("where"), tree.args.get("having")
    group, order, limit = tree.args.get("group"), tree.args.get("order"), tree.args.get("limit")
    joins = tree.args.get("joins") or []
    ors = _count(where, exp.Or) + _count(having, exp.Or)
    likes = _count(where, exp.Like) + _count(having, exp.Like)
    comp1 = sum(x is not None for x in (where, group, order, limit)) + len(joins) + ors + likes
    nested = _nested(where) + _nested(having)
    comp2 = nested + (1 if setop else 0)
    agg_types = exp.AggFunc
    aggs = sum(_count(e, agg_types) for e in tree.expressions) + _count(where, agg_types)
    aggs += _count(group, agg_types) + _count(order, agg_types) + _count(having, agg_types)
    others = int(aggs > 1) + int(len(tree.expressions) > 1) + int(_conditions(where) > 1)
    others += int(group is not None and len(group.expressions) > 1)
    features = []
    for name, present in (
        ("aggregate", aggs > 0), ("where", where is not None), ("group_by", group is not None),
        ("having", having is not None), ("order_by", order is not None), ("limit", limit is not None),
        ("join", bool(joins)), ("nested", nested > 0), ("like", likes > 0), ("or", ors > 0),
        ("distinct", tree.args.get("distinct") is not None), (setop or "", setop is not None),
    ):
        if present:
            features.append(name)
    return {"component1": comp1, "component2": comp2, "others": others, "features": features}


def spider_hardness(sql: str, *, dialect: str = "sqlite") -> str:
    """Spider's easy/medium/hard/extra level of a query (Yu et al., 2018, evaluation rules)."""
    f = sql_features(sql, dialect=dialect)
    c1, c2, o = f["component1"], f["component2"], f["others"]
    if c1 <= 1 and o == 0 and c2 == 0:
        return "easy"
    if (o <= 2 and c1 <= 1 and c2 == 0) or (c1 <= 2 and o < 2 and c2 == 0):
        return "medium"
    if (o > 2 and c1 <= 2 and c2 == 0) or (2 < c1 <= 3 and o <= 2 and c2 == 0) or (c1 <= 1 and o == 0 and c2 <= 1):
        return "hard"
    return "extra"


# --------------------------------------------------------------------------- naming and the round trip


def natural_name(name: str) -> str:
    """A column or table name as words: ``hours_per_week`` -> ``hours per week``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    text = re.sub(r"[_\-\.\s]+", " ", text)
    return text.strip().lower()


def _squash(text: str) -> str:
    return " " + " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split()) + " "


_SPOKEN_OPERATORS = (("<=", "{} or less"), (">=", "at least {}"), ("<", "less than {}"), (">", "more than {}"))


def spoken_value(value: str) -> str | None:
    """A stored code as a person would say it, or ``None`` when there is no plain way.

    ``'>50K'`` becomes ``'more than 50k'``, ``'Own-child'`` ``'own child'`` and
    ``'car (new)'`` ``'car new'``. Questions sometimes use this form so a model
    learns to write the stored spelling (shown in the schema) rather than
    copy the question's words.
    """
    text = value.strip()
    for op, form in _SPOKEN_OPERATORS:
        rest = text[len(op):].strip()
        if text.startswith(op) and rest[:1].isdigit():
            text = form.format(rest)
            break
    text = " ".join(re.sub(r"[-_/:()\[\]]+", " ", text).lower().split())
    return text if re.fullmatch(r"[a-z0-9 ]*[a-z][a-z0-9 ]*", text) else None


def _mentions_value(question: str, value) -> bool:
    q = question.lower()
    if isinstance(value, str):
        spoken = spoken_value(value)
        return value.lower() in q or (spoken is not None and _squash(spoken) in _squash(question))
    token = _format_number(value)
    return re.search(r"(?<![\d.])" + re.escape(token) + r"(?![\d])", q) is not None


def round_trip_ok(question: str, columns, values, implied: dict | None = None) -> tuple[bool, list[str]]:
    """Whether ``question`` mentions every column (by name or as words) and every value.

    ``implied`` maps a column to a value that only that column holds: a
    question naming the value ("how many are divorced?") then names the
    column too. Returns ``(ok, missing)`` with the names and values it leaves out.
    """
    squashed = _squash(question)
    implied = implied or {}
    missing = []
    for col in columns:
        words = _squash(natural_name(col))
        if words not in squashed and col.lower() not in question.lower():
            if col in implied and _mentions_value(question, implied[col]):
                continue
            missing.append(col)
    for value in values:
        if not _mentions_value(question, value):
            missing.append(repr(value))
    return not missing, missing


def _a(noun_phrase: str) -> str:
    """``"a"`` or ``"an"`` before a phrase."""
    return ("an " if noun_phrase[:1].lower() in "aeiou" else "a ") + noun_phrase


# --------------------------------------------------------------------------- profile


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

    @property
    def categorical(self) -> bool:
        return 2 <= self.distinct <= (16 if self.kind == "numeric" else 40)

    @property
    def measure(self) -> bool:
        return self.kind == "numeric" and self.distinct >= 3 and not self.primary_key

    @property
    def id_like(self) -> bool:
        return self.primary_key or re.search(r"(^|_)(id|key|number|no)$", self.name.lower()) is not None


@dataclass
class TableProfile:
    name: str
    rows: int
    columns: dict[str, ColumnProfile]
    sample: list[dict]


def _profile(conn: sqlite3.Connection, schema: Schema, sample_rows: int, rng: random.Random) -> dict[str, TableProfile]:
    out = {}
    for tbl in schema.tables:
        qt = quote_identifier(tbl.name)
        rows = conn.execute(f"SELECT COUNT(*) FROM {qt}").fetchone()[0]
        cur = conn.execute(f"SELECT * FROM {qt} LIMIT {int(sample_rows)}")
        names = [d[0] for d in cur.description]
        sample = [dict(zip(names, r)) for r in cur.fetchall()]
        cols = {}
        for col in tbl.columns:
            qc = quote_identifier(col.name)
            distinct, nulls = conn.execute(
                f"SELECT COUNT(DISTINCT {qc}), SUM({qc} IS NULL) FROM {qt}"
            ).fetchone()
            top = [r[0] for r in conn.execute(
                f"SELECT {qc} FROM {qt} WHERE {qc} IS NOT NULL GROUP BY {qc} ORDER BY COUNT(*) DESC, {qc} LIMIT 40"
            )]
            top = [v for v in top if _usable_value(v)]
            kind = "numeric" if col.kind in ("numeric", "boolean") else "text"
            if kind == "text" and top and all(isinstance(v, (int, float)) for v in top):
                kind = "numeric"
            quantiles = []
            if kind == "numeric" and rows:
                values = sorted(v for v in (r[col.name] for r in sample) if isinstance(v, (int, float)))
                if values:
                    quantiles = sorted({values[min(len(values) - 1, int(q * len(values)))] for q in
                                        (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)})
            cols[col.name] = ColumnProfile(
                tbl.name, col.name, kind, int(distinct or 0), float(nulls or 0) / max(rows, 1), top, quantiles,
                col.primary_key or (rows > 20 and distinct == rows and kind == "numeric" and "id" in col.name.lower()),
            )
        out[tbl.name] = TableProfile(tbl.name, int(rows), cols, sample)
    return out


def _usable_value(value) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if isinstance(value, bytes):
        return False
    if isinstance(value, str):
        return 0 < len(value) <= 40 and "\n" not in value and value.strip() == value and value != ""
    return True


# --------------------------------------------------------------------------- candidates


@dataclass
class SQLCandidate:
    """One sampled query with its grammar question and what the question must mention."""

    sql: str
    question: str
    family: str
    tables: list[str]
    columns: list[str] = field(default_factory=list)
    values: list = field(default_factory=list)
    difficulty: str = ""
    features: list[str] = field(default_factory=list)
    implied: dict = field(default_factory=dict)  # column -> value: the question names the value only


@dataclass
class VerifyResult:
    ok: bool
    reason: str = ""
    rows: list = field(default_factory=list)
    row_count: int = 0
    detail: str = ""


class _Phrases:
    """Small grammar for questions: several wordings per construct, picked by the RNG."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    @staticmethod
    def _value_only(f) -> str | None:
        """The value as the question should say it without its column ("how many are divorced?"),
        when the sampler chose that wording for this filter; otherwise ``None``."""
        return f[4] if len(f) > 4 else None

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def rows(self, table: str) -> str:
        t = natural_name(table)
        return self.pick(f"rows in the {t} table", f"{t} records", f"entries in {t}", f"records of the {t} table")

    def agg(self, fn: str) -> str:
        return {
            "AVG": self.pick("average", "mean"),
            "MIN": self.pick("minimum", "lowest", "smallest"),
            "MAX": self.pick("maximum", "highest", "largest"),
            "SUM": self.pick("total", "sum of"),
            "COUNT": "number of",
        }[fn]

    def op(self, op: str) -> str:
        return {
            ">": self.pick("greater than", "more than", "above"),
            "<": self.pick("less than", "below", "under"),
            ">=": self.pick("at least", "greater than or equal to"),
            "<=": self.pick("at most", "less than or equal to"),
            "=": self.pick("equal to", "of"),
            "!=": self.pick("other than", "not equal to"),
        }[op]

    def with_(self, f) -> str:
        """A condition that reads after "with" or "have": "age at least 30", "sex Female"."""
        col, op, value = f[1]
        alone = self._value_only(f)
        if alone is not None:
            return self.pick(f"{alone}", f"the value {alone}", f"{alone} recorded")
        c = natural_name(col)
        v = value if isinstance(value, str) else _format_number(value)
        if op == "=":
            return self.pick(f"{c} {v}", f"{c} equal to {v}", f"{c} = {v}", f"{c} of {v}")
        return self.pick(f"{c} {self.op(op)} {v}", f"{_a(c)} {self.op(op)} {v}", f"{c} value {self.op(op)} {v}")

    def where(self, f) -> str:
        """A condition that reads after "where": "the age is at least 30", "sex is Female"."""
        col, op, value = f[1]
        alone = self._value_only(f)
        if alone is not None:
            return self.pick(f"it is {alone}", f"the entry is {alone}", f"the value is {alone}")
        c = natural_name(col)
        v = value if isinstance(value, str) else _format_number(value)
        if op == "=":
            return self.pick(f"{c} is {v}", f"the {c} is {v}", f"{c} = {v}", f"{c} equals {v}")
        return self.pick(f"{c} is {self.op(op)} {v}", f"the {c} is {self.op(op)} {v}")

    def order(self, desc: bool) -> str:
        return self.pick("from highest to lowest", "in descending order") if desc else self.pick(
            "from lowest to highest", "in ascending order")


class SQLSampler:
    """Sample executable, verified SQL with Spider-style difficulty over one database.

    Parameters
    ----------
    db
        A SQLite file or ``sqlite:///`` URL (other SQLAlchemy URLs are
        profiled and executed through SQLAlchemy, more slowly).
    seed
        Seeds the sampler's random generator.
    timeout_s
        Execution timeout for each query.
    sample_rows
        Rows read per table to pick values from.

    Examples
    --------
    >>> sampler = SQLSampler("people.db", seed=0)          # doctest: +SKIP
    >>> cand = sampler.sample("medium")                      # doctest: +SKIP
    >>> sampler.verify(cand).ok                              # doctest: +SKIP
    True
    """

    def __init__(self, db: str | os.PathLike, *, seed: int = 0, timeout_s: float = 2.0, sample_rows: int = 1000):
        self.db = db
        self.seed = seed
        self.timeout_s = timeout_s
        self.sample_rows = sample_rows
        self.schema = read_schema(db)
        file = sqlite_path(db)
        if file is None:
            raise UserInputError(
                "SQLSampler verifies queries on SQLite; mirror the database first with "
                "synthera.text.text_to_sql.mirror_database(url, 'copy.db')"
            )
        self._conn = _connect_sqlite(file)
        self.rng = random.Random(seed)
        self.profile = _profile(self._conn, self.schema, sample_rows, self.rng)
        self.links = self._join_links()
        self.q = _Phrases(self.rng)
        self._implied: dict = {}  # columns the current question names by their value only
        # Which text columns hold each value (lower-cased): a value held by one column identifies it.
        self._owners: dict[str, dict[str, set[str]]] = {
            t: self._value_owners(p) for t, p in self.profile.items()}
        self._repeats: dict[str, int] = {}
        self._check_usable()

    def close(self) -> None:
        self._conn.close()

    def schema_prompt(self) -> str:
        """The schema as a prompt shows it, with the values each column holds (see :func:`schema_prompt`)."""
        return schema_prompt(self._conn, self.schema)

    # ------------------------------------------------------------------ schema facts

    def _join_links(self) -> list[ForeignKey]:
        links = [fk for fk in self.schema.foreign_keys
                 if fk.table in self.profile and fk.ref_table in self.profile]
        if links or len(self.schema.tables) < 2:
            return links
        # No declared keys: link same-named columns where one side is unique.
        for a in self.schema.tables:
            for b in self.schema.tables:
                if a.name >= b.name:
                    continue
                for col in a.columns:
                    if col.name not in self.profile[b.name].columns:
                        continue
                    pa, pb = self.profile[a.name].columns[col.name], self.profile[b.name].columns[col.name]
                    if pa.kind != pb.kind:
                        continue
                    if pb.distinct == self.profile[b.name].rows and pb.distinct > 0:
                        links.append(ForeignKey(a.name, col.name, b.name, col.name))
                    elif pa.distinct == self.profile[a.name].rows and pa.distinct > 0:
                        links.append(ForeignKey(b.name, col.name, a.name, col.name))
        return links

    def _check_usable(self) -> None:
        if not any(p.rows > 0 for p in self.profile.values()):
            raise UserInputError(f"every table in {self.db} is empty; load rows before generating questions")
        if not any(self._cats(t) or self._measures(t) for t in self.profile):
            raise UserInputError(
                f"no table in {self.db} has a categorical or numeric column to ask about; "
                "Text-to-SQL needs at least one"
            )

    def _tables(self) -> list[str]:
        return [t for t, p in self.profile.items() if p.rows > 0]

    def _cats(self, table: str) -> list[ColumnProfile]:
        return [c for c in self.profile[table].columns.values() if c.categorical and c.top and not c.id_like]

    def _measures(self, table: str) -> list[ColumnProfile]:
        return [c for c in self.profile[table].columns.values() if c.measure and c.quantiles and not c.id_like]

    def _labels(self, table: str) -> list[ColumnProfile]:
        return [c for c in self.profile[table].columns.values() if c.top and not c.primary_key]

    @staticmethod
    def _value_owners(profile) -> dict[str, set[str]]:
        owners: dict[str, set[str]] = {}
        for col in profile.columns.values():
            for v in col.top:
                if isinstance(v, str):
                    owners.setdefault(v.lower(), set()).add(col.name)
        return owners

    def _distinctive(self, table: str, column: str, value) -> bool:
        """A word-like text value that no other column of the table holds."""
        return (isinstance(value, str) and len(value) >= 3 and any(ch.isalpha() for ch in value)
                and self._owners[table].get(value.lower()) == {column})

    def _row(self, table: str) -> dict:
        return self.rng.choice(self.profile[table].sample)

    # ------------------------------------------------------------------ building blocks

    def _eq_filter(self, table: str, row: dict | None = None, exclude=(), alias: str = ""):
        cats = [c for c in self._cats(table) if c.name not in exclude]
        if row is not None:
            cats = [c for c in cats if _usable_value(row.get(c.name))]
        if not cats:
            return None
        col = self.rng.choice(cats)
        value = row[col.name] if row is not None else self.rng.choice(col.top[:20])
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        sql = f"{alias}{quote_identifier(col.name)} = {_literal(value)}"
        said = self._say(value)
        alone = None  # half the filters on a value only this column holds name the value alone
        if self._distinctive(table, col.name, value) and self.rng.random() < 0.5:
            alone = said.lower() if self.rng.random() < 0.5 else said
            self._implied[col.name] = value
        return sql, (col.name, "=", said), col.name, value, alone

    def _say(self, value) -> str | int | float:
        """How the question words a value: a third of the stored codes are said as a person would
        ("more than 50k" for '>50K'), the rest as stored; numbers as they are."""
        if isinstance(value, str):
            spoken = spoken_value(value)
            if spoken is not None and spoken != value.lower() and self.rng.random() < 1 / 3:
                return spoken
        return value

    def _num_filter(self, table: str, row: dict | None = None, exclude=(), alias: str = ""):
        cols = [c for c in self._measures(table) if c.name not in exclude]
        if row is not None:
            cols = [c for c in cols if isinstance(row.get(c.name), (int, float))]
        if not cols:
            return None
        col = self.rng.choice(cols)
        if row is not None:
            value = row[col.name]
            op = self.rng.choice([">=", "<="])
        else:
            value = self.rng.choice(col.quantiles)
            if value <= col.quantiles[0]:
                op = ">"  # the lowest decile may be the minimum: ">=" could keep every row
            elif value >= col.quantiles[-1]:
                op = "<"
            else:
                op = self.rng.choice([">", "<", ">=", "<="])
        value = float(value) if isinstance(value, float) and not value.is_integer() else int(value)
        if isinstance(value, float):
            value = round(value, 2)
        sql = f"{alias}{quote_identifier(col.name)} {op} {_literal(value)}"
        return sql, (col.name, op, value), col.name, value

    def _any_filter(self, table, row=None, exclude=(), alias=""):
        first, second = (self._eq_filter, self._num_filter) if self.rng.random() < 0.55 else (
            self._num_filter, self._eq_filter)
        return first(table, row, exclude, alias) or second(table, row, exclude, alias)

    # ------------------------------------------------------------------ query families

    def _families(self) -> dict[str, list]:
        fam = {
            "easy": [self._f_distinct, self._f_count_where, self._f_agg, self._f_agg_where, self._f_select_where,
                     self._f_count_distinct],
            "medium": [self._f_group_count, self._f_group_agg, self._f_count_two_filters, self._f_two_cols_where,
                       self._f_top_k, self._f_where_order, self._f_two_aggs_where, self._f_like, self._f_or],
            "hard": [self._f_above_average, self._f_where_top_k, self._f_group_top, self._f_group_count_order,
                     self._f_intersect, self._f_in_subquery_group],
            "extra": [self._f_group_having_order_limit, self._f_nested_and_filter, self._f_two_cols_filters_order,
                      self._f_group_having_nested, self._f_except_group],
        }
        if self.links:
            fam["medium"].append(self._j_filter)
            fam["hard"] += [self._j_group_order, self._j_in_subquery]
            fam["extra"].append(self._j_group_order_limit)
        return fam

    def sample(self, level: str) -> SQLCandidate | None:
        """One candidate aimed at ``level`` (its real level is computed later), or ``None``."""
        families = self._families()[level]
        # Families whose small space keeps yielding duplicates are tried less often.
        weights = [1.0 / (1 + self._repeats.get(f.__name__.lstrip("_"), 0)) for f in families]
        fn = self.rng.choices(families, weights=weights)[0]
        table = self.rng.choice(self._tables())
        self._implied = {}
        try:
            cand = fn(table)
        except (IndexError, ValueError):
            cand = None
        if cand is not None:
            cand.family = fn.__name__.lstrip("_")
        return cand

    def _cand(self, sql, question, tables, columns, values) -> SQLCandidate:
        question = question[0].upper() + question[1:]
        imperative = question.split(" ", 1)[0].lower().rstrip(",") in (
            "list", "show", "count", "give", "find", "return", "for", "among")
        if question.split(" ", 1)[0].lower() in ("for", "among"):
            # "For X, give ..." / "Among X, which ..." : the verb after the comma decides.
            after = question.split(", ", 1)[1].split(" ", 1)[0].lower() if ", " in question else ""
            imperative = after in ("list", "show", "count", "give", "find", "return")
        if not question.endswith(("?", ".")):
            question += "." if imperative else "?"
        return SQLCandidate(sql, question, "", list(tables), list(dict.fromkeys(columns)), list(values),
                            implied={c: v for c, v in self._implied.items() if c in columns and v in values})

    # easy
    def _f_distinct(self, t):
        c = self.rng.choice(self._cats(t))
        qc, qt = quote_identifier(c.name), quote_identifier(t)
        order = self.rng.random() < 0.5
        sql = f"SELECT DISTINCT {qc} FROM {qt}" + (f" ORDER BY {qc}" if order else "")
        q = self.q.pick(f"list the distinct values of {natural_name(c.name)} in {natural_name(t)}",
                        f"what different {natural_name(c.name)} values appear in the {natural_name(t)} table",
                        f"show every {natural_name(c.name)} found among {self.q.rows(t)}")
        if order:
            q += self.q.pick(", sorted alphabetically", ", in ascending order")
        return self._cand(sql, q, [t], [c.name], [])

    def _f_count_where(self, t):
        f = self._any_filter(t)
        sql = f"SELECT COUNT(*) FROM {quote_identifier(t)} WHERE {f[0]}"
        q = self.q.pick(f"how many {self.q.rows(t)} have {self.q.with_(f)}", f"count the {self.q.rows(t)} where {self.q.where(f)}",
                        f"what is the number of {self.q.rows(t)} with {self.q.with_(f)}")
        return self._cand(sql, q, [t], [f[2]], [f[3]])

    def _f_agg(self, t):
        m = self.rng.choice(self._measures(t))
        fn = self.rng.choice(("AVG", "MIN", "MAX", "SUM"))
        sql = f"SELECT {fn}({quote_identifier(m.name)}) FROM {quote_identifier(t)}"
        q = self.q.pick(f"what is the {self.q.agg(fn)} {natural_name(m.name)} across all {self.q.rows(t)}",
                        f"give the {self.q.agg(fn)} {natural_name(m.name)} in {natural_name(t)}")
        return self._cand(sql, q, [t], [m.name], [])

    def _f_agg_where(self, t):
        m = self.rng.choice(self._measures(t))
        f = self._eq_filter(t, exclude=(m.name,))
        if f is None:
            return None
        fn = self.rng.choice(("AVG", "MIN", "MAX", "SUM"))
        sql = f"SELECT {fn}({quote_identifier(m.name)}) FROM {quote_identifier(t)} WHERE {f[0]}"
        q = self.q.pick(f"what is the {self.q.agg(fn)} {natural_name(m.name)} of {self.q.rows(t)} where {self.q.where(f)}",
                        f"for {self.q.rows(t)} with {self.q.with_(f)}, what is the {self.q.agg(fn)} {natural_name(m.name)}")
        return self._cand(sql, q, [t], [m.name, f[2]], [f[3]])

    def _f_select_where(self, t):
        row = self._row(t)
        f = self._any_filter(t, row)
        if f is None:
            return None
        labels = [c for c in self._labels(t) if c.name != f[2]]
        c = self.rng.choice(labels)
        distinct = self.rng.random() < 0.6
        sql = (f"SELECT {'DISTINCT ' if distinct else ''}{quote_identifier(c.name)} FROM {quote_identifier(t)} "
               f"WHERE {f[0]}")
        lead = self.q.pick("which distinct", "what distinct", "list the distinct") if distinct else self.q.pick(
            "list the", "show the", "what are the")
        q = f"{lead} {natural_name(c.name)} {self.q.pick('values', 'entries')} of {self.q.rows(t)} where {self.q.where(f)}"
        return self._cand(sql, q, [t], [c.name, f[2]], [f[3]])

    def _f_count_distinct(self, t):
        c = self.rng.choice(self._labels(t))
        sql = f"SELECT COUNT(DISTINCT {quote_identifier(c.name)}) FROM {quote_identifier(t)}"
        q = self.q.pick(f"how many different {natural_name(c.name)} values are there in {natural_name(t)}",
                        f"count the distinct {natural_name(c.name)} values among {self.q.rows(t)}")
        return self._cand(sql, q, [t], [c.name], [])

    # medium
    def _f_group_count(self, t):
        c = self.rng.choice(self._cats(t))
        qc = quote_identifier(c.name)
        sql = f"SELECT {qc}, COUNT(*) FROM {quote_identifier(t)} GROUP BY {qc}"
        q = self.q.pick(f"for each {natural_name(c.name)}, how many {self.q.rows(t)} are there",
                        f"count the {self.q.rows(t)} per {natural_name(c.name)}",
                        f"show the number of {self.q.rows(t)} in each {natural_name(c.name)} group")
        return self._cand(sql, q, [t], [c.name], [])

    def _f_group_agg(self, t):
        c = self.rng.choice(self._cats(t))
        m = self.rng.choice([x for x in self._measures(t) if x.name != c.name])
        fn = self.rng.choice(("AVG", "MIN", "MAX", "SUM"))
        qc = quote_identifier(c.name)
        sql = f"SELECT {qc}, {fn}({quote_identifier(m.name)}) FROM {quote_identifier(t)} GROUP BY {qc}"
        q = self.q.pick(f"what is the {self.q.agg(fn)} {natural_name(m.name)} for each {natural_name(c.name)}",
                        f"for every {natural_name(c.name)}, give the {self.q.agg(fn)} {natural_name(m.name)}")
        return self._cand(sql, q, [t], [c.name, m.name], [])

    def _f_count_two_filters(self, t):
        row = self._row(t)
        f1 = self._any_filter(t, row)
        f2 = self._any_filter(t, row, exclude=(f1[2],)) if f1 else None
        if f2 is None:
            return None
        sql = f"SELECT COUNT(*) FROM {quote_identifier(t)} WHERE {f1[0]} AND {f2[0]}"
        q = self.q.pick(f"how many {self.q.rows(t)} have {self.q.with_(f1)} and {self.q.with_(f2)}",
                        f"count the {self.q.rows(t)} where {self.q.where(f1)} and {self.q.where(f2)}")
        return self._cand(sql, q, [t], [f1[2], f2[2]], [f1[3], f2[3]])

    def _f_two_cols_where(self, t):
        row = self._row(t)
        f = self._any_filter(t, row)
        if f is None:
            return None
        labels = [c for c in self._labels(t) if c.name != f[2]]
        a, b = self.rng.sample(labels, 2)
        sql = (f"SELECT {quote_identifier(a.name)}, {quote_identifier(b.name)} FROM {quote_identifier(t)} "
               f"WHERE {f[0]}")
        q = self.q.pick(f"show the {natural_name(a.name)} and {natural_name(b.name)} of {self.q.rows(t)} where {self.q.where(f)}",
                        f"list {natural_name(a.name)} and {natural_name(b.name)} for {self.q.rows(t)} with {self.q.with_(f)}")
        return self._cand(sql, q, [t], [a.name, b.name, f[2]], [f[3]])

    def _rank_measures(self, t, exclude=()):
        """Measures with enough distinct values that ORDER BY ... LIMIT rarely cuts a tie."""
        cols = [c for c in self._measures(t) if c.name not in exclude]
        wide = [c for c in cols if c.distinct >= 20]
        return wide or cols

    def _f_top_k(self, t):
        m = self.rng.choice(self._rank_measures(t))
        c = self.rng.choice([x for x in self._labels(t) if x.name != m.name])
        desc = self.rng.random() < 0.6
        k = self.rng.choice((1, 3, 5))
        sql = (f"SELECT {quote_identifier(c.name)} FROM {quote_identifier(t)} ORDER BY {quote_identifier(m.name)}"
               f"{' DESC' if desc else ''} LIMIT {k}")
        which = self.q.pick("highest", "largest") if desc else self.q.pick("lowest", "smallest")
        q = (f"what {natural_name(c.name)} does the record with the {which} {natural_name(m.name)} have" if k == 1 else
             f"list the {natural_name(c.name)} of the {k} {self.q.rows(t)} with the {which} {natural_name(m.name)}")
        return self._cand(sql, q, [t], [c.name, m.name], [k] if k > 1 else [])

    def _f_where_order(self, t):
        row = self._row(t)
        f = self._eq_filter(t, row)
        if f is None:
            return None
        m = self.rng.choice([x for x in self._measures(t) if x.name != f[2]])
        desc = self.rng.random() < 0.5
        sql = (f"SELECT {quote_identifier(m.name)} FROM {quote_identifier(t)} WHERE {f[0]} "
               f"ORDER BY {quote_identifier(m.name)}{' DESC' if desc else ''}")
        q = f"list the {natural_name(m.name)} of {self.q.rows(t)} where {self.q.where(f)}, {self.q.order(desc)}"
        return self._cand(sql, q, [t], [m.name, f[2]], [f[3]])

    def _f_two_aggs_where(self, t):
        f = self._eq_filter(t)
        if f is None:
            return None
        m = self.rng.choice([x for x in self._measures(t) if x.name != f[2]])
        fn1, fn2 = self.rng.sample(("AVG", "MIN", "MAX"), 2)
        qm = quote_identifier(m.name)
        sql = f"SELECT {fn1}({qm}), {fn2}({qm}) FROM {quote_identifier(t)} WHERE {f[0]}"
        q = (f"what are the {self.q.agg(fn1)} and {self.q.agg(fn2)} {natural_name(m.name)} of {self.q.rows(t)} "
             f"where {self.q.where(f)}")
        return self._cand(sql, q, [t], [m.name, f[2]], [f[3]])

    def _f_like(self, t):
        cols = [c for c in self._cats(t) + self._labels(t) if c.kind == "text"]
        c = self.rng.choice(cols)
        value = self.rng.choice(c.top[:20])
        words = [w for w in re.findall(r"[A-Za-z]{3,}", value)]
        if not words:
            return None
        part = self.rng.choice(words)
        sql = f"SELECT COUNT(*) FROM {quote_identifier(t)} WHERE {quote_identifier(c.name)} LIKE '%{part}%'"
        q = self.q.pick(f"how many {self.q.rows(t)} have {_a(natural_name(c.name))} containing {part}",
                        f"count the {self.q.rows(t)} whose {natural_name(c.name)} includes the text {part}")
        return self._cand(sql, q, [t], [c.name], [part])

    def _f_or(self, t):
        c = self.rng.choice([x for x in self._cats(t) if len(x.top) >= 2])
        v1, v2 = self.rng.sample(c.top[:10], 2)
        qc = quote_identifier(c.name)
        sql = f"SELECT COUNT(*) FROM {quote_identifier(t)} WHERE {qc} = {_literal(v1)} OR {qc} = {_literal(v2)}"
        fv1, fv2 = (self._say(v) if isinstance(v, str) else _format_number(v) for v in (v1, v2))
        q = self.q.pick(f"how many {self.q.rows(t)} have {natural_name(c.name)} {fv1} or {fv2}",
                        f"count the {self.q.rows(t)} whose {natural_name(c.name)} is either {fv1} or {fv2}")
        return self._cand(sql, q, [t], [c.name], [v1, v2])

    # hard
    def _f_above_average(self, t):
        m = self.rng.choice(self._measures(t))
        labels = [x for x in self._labels(t) if x.name != m.name]
        qm, qt = quote_identifier(m.name), quote_identifier(t)
        op = self.rng.choice((">", "<"))
        word = self.q.pick("above", "higher than") if op == ">" else self.q.pick("below", "lower than")
        if self.rng.random() < 0.5 and labels:
            c = self.rng.choice(labels)
            sql = f"SELECT DISTINCT {quote_identifier(c.name)} FROM {qt} WHERE {qm} {op} (SELECT AVG({qm}) FROM {qt})"
            q = (f"which distinct {natural_name(c.name)} values belong to {self.q.rows(t)} whose "
                 f"{natural_name(m.name)} is {word} the average {natural_name(m.name)}")
            return self._cand(sql, q, [t], [c.name, m.name], [])
        sql = f"SELECT COUNT(*) FROM {qt} WHERE {qm} {op} (SELECT AVG({qm}) FROM {qt})"
        q = f"how many {self.q.rows(t)} have {_a(natural_name(m.name))} {word} the average"
        return self._cand(sql, q, [t], [m.name], [])

    def _f_where_top_k(self, t):
        row = self._row(t)
        f = self._eq_filter(t, row)
        if f is None:
            return None
        m = self.rng.choice(self._rank_measures(t, exclude=(f[2],)))
        c = self.rng.choice([x for x in self._labels(t) if x.name not in (m.name, f[2])])
        desc = self.rng.random() < 0.6
        k = self.rng.choice((1, 3))
        sql = (f"SELECT {quote_identifier(c.name)} FROM {quote_identifier(t)} WHERE {f[0]} "
               f"ORDER BY {quote_identifier(m.name)}{' DESC' if desc else ''} LIMIT {k}")
        which = "highest" if desc else "lowest"
        q = (f"among {self.q.rows(t)} where {self.q.where(f)}, what is the {natural_name(c.name)} of the one with the {which} "
             f"{natural_name(m.name)}" if k == 1 else
             f"among {self.q.rows(t)} where {self.q.where(f)}, list the {natural_name(c.name)} of the {k} with the {which} "
             f"{natural_name(m.name)}")
        return self._cand(sql, q, [t], [c.name, m.name, f[2]], [f[3]] + ([k] if k > 1 else []))

    def _f_group_top(self, t):
        c = self.rng.choice(self._cats(t))
        qc = quote_identifier(c.name)
        desc = self.rng.random() < 0.7
        sql = (f"SELECT {qc} FROM {quote_identifier(t)} GROUP BY {qc} ORDER BY COUNT(*)"
               f"{' DESC' if desc else ''} LIMIT 1")
        which = self.q.pick("most common", "most frequent") if desc else self.q.pick("least common", "rarest")
        q = f"which {natural_name(c.name)} is the {which} among {self.q.rows(t)}"
        return self._cand(sql, q, [t], [c.name], [])

    def _f_group_count_order(self, t):
        c = self.rng.choice(self._cats(t))
        f = self._any_filter(t, exclude=(c.name,))
        if f is None:
            return None
        qc = quote_identifier(c.name)
        sql = (f"SELECT {qc}, COUNT(*) FROM {quote_identifier(t)} WHERE {f[0]} GROUP BY {qc} "
               f"ORDER BY COUNT(*) DESC")
        q = (f"for {self.q.rows(t)} with {self.q.with_(f)}, count them per {natural_name(c.name)} and sort the groups "
             f"from largest to smallest")
        return self._cand(sql, q, [t], [c.name, f[2]], [f[3]])

    def _f_intersect(self, t):
        c = self.rng.choice(self._cats(t))
        f1 = self._any_filter(t, self._row(t), exclude=(c.name,))
        f2 = self._any_filter(t, self._row(t), exclude=(c.name, f1[2] if f1 else None))
        if f1 is None or f2 is None:
            return None
        qc, qt = quote_identifier(c.name), quote_identifier(t)
        op = self.rng.choice(("INTERSECT", "UNION"))
        sql = f"SELECT {qc} FROM {qt} WHERE {f1[0]} {op} SELECT {qc} FROM {qt} WHERE {f2[0]}"
        if op == "INTERSECT":
            q = (f"which {natural_name(c.name)} values occur both among {self.q.rows(t)} with {self.q.with_(f1)} and among "
                 f"those with {self.q.with_(f2)}")
        else:
            q = f"which {natural_name(c.name)} values occur among {self.q.rows(t)} with either {self.q.with_(f1)} or {self.q.with_(f2)}"
        return self._cand(sql, q, [t], [c.name, f1[2], f2[2]], [f1[3], f2[3]])

    def _f_in_subquery_group(self, t):
        c = self.rng.choice(self._cats(t))
        m = self.rng.choice([x for x in self._measures(t) if x.name != c.name])
        qc, qm, qt = quote_identifier(c.name), quote_identifier(m.name), quote_identifier(t)
        sql = (f"SELECT COUNT(*) FROM {qt} WHERE {qc} IN (SELECT {qc} FROM {qt} GROUP BY {qc} "
               f"HAVING AVG({qm}) > (SELECT AVG({qm}) FROM {qt}))")
        q = (f"how many {self.q.rows(t)} belong to {_a(natural_name(c.name))} whose average {natural_name(m.name)} "
             f"is above the overall average {natural_name(m.name)}")
        return self._cand(sql, q, [t], [c.name, m.name], [])

    # extra
    def _f_group_having_order_limit(self, t):
        c = self.rng.choice(self._cats(t))
        f = self._any_filter(t, exclude=(c.name,))
        if f is None:
            return None
        k = self.rng.choice((2, 3, 5))
        qc = quote_identifier(c.name)
        threshold = self.rng.choice((1, 2, 5, 10))
        sql = (f"SELECT {qc}, COUNT(*) FROM {quote_identifier(t)} WHERE {f[0]} GROUP BY {qc} "
               f"HAVING COUNT(*) > {threshold} ORDER BY COUNT(*) DESC LIMIT {k}")
        q = (f"among {self.q.rows(t)} with {self.q.with_(f)}, which {k} {natural_name(c.name)} groups with more than "
             f"{threshold} records are the largest, and how many records does each have")
        return self._cand(sql, q, [t], [c.name, f[2]], [f[3], k, threshold])

    def _f_nested_and_filter(self, t):
        m = self.rng.choice(self._measures(t))
        f = self._eq_filter(t, self._row(t), exclude=(m.name,))
        if f is None:
            return None
        qm, qt = quote_identifier(m.name), quote_identifier(t)
        sql = f"SELECT COUNT(*) FROM {qt} WHERE {f[0]} AND {qm} > (SELECT AVG({qm}) FROM {qt})"
        q = (f"how many {self.q.rows(t)} with {self.q.with_(f)} have {_a(natural_name(m.name))} above the average "
             f"{natural_name(m.name)} of all records")
        return self._cand(sql, q, [t], [m.name, f[2]], [f[3]])

    def _f_two_cols_filters_order(self, t):
        row = self._row(t)
        f1 = self._eq_filter(t, row)
        f2 = self._num_filter(t, row, exclude=(f1[2],) if f1 else ())
        if f1 is None or f2 is None:
            return None
        labels = [x for x in self._labels(t) if x.name not in (f1[2], f2[2])]
        a = self.rng.choice(labels)
        desc = self.rng.random() < 0.5
        qb = quote_identifier(f2[2])
        sql = (f"SELECT {quote_identifier(a.name)}, {qb} FROM {quote_identifier(t)} WHERE {f1[0]} AND {f2[0]} "
               f"ORDER BY {qb}{' DESC' if desc else ''}")
        q = (f"show the {natural_name(a.name)} and {natural_name(f2[2])} of {self.q.rows(t)} where {self.q.where(f1)} and "
             f"{self.q.where(f2)}, ordered by {natural_name(f2[2])} {self.q.order(desc)}")
        return self._cand(sql, q, [t], [a.name, f1[2], f2[2]], [f1[3], f2[3]])

    def _f_group_having_nested(self, t):
        c = self.rng.choice(self._cats(t))
        m = self.rng.choice([x for x in self._measures(t) if x.name != c.name])
        qc, qm, qt = quote_identifier(c.name), quote_identifier(m.name), quote_identifier(t)
        sql = (f"SELECT {qc}, AVG({qm}) FROM {qt} GROUP BY {qc} HAVING AVG({qm}) > (SELECT AVG({qm}) FROM {qt}) "
               f"ORDER BY AVG({qm}) DESC")
        q = (f"which {natural_name(c.name)} groups have an average {natural_name(m.name)} above the overall average, "
             f"and what is that average, from highest to lowest")
        return self._cand(sql, q, [t], [c.name, m.name], [])

    def _f_except_group(self, t):
        c = self.rng.choice(self._cats(t))
        f1 = self._any_filter(t, exclude=(c.name,))
        f2 = self._any_filter(t, exclude=(c.name, f1[2] if f1 else None))
        if f1 is None or f2 is None:
            return None
        qc, qt = quote_identifier(c.name), quote_identifier(t)
        threshold = self.rng.choice((1, 3, 5))
        sql = (f"SELECT {qc} FROM {qt} WHERE {f1[0]} GROUP BY {qc} HAVING COUNT(*) > {threshold} "
               f"EXCEPT SELECT {qc} FROM {qt} WHERE {f2[0]}")
        q = (f"which {natural_name(c.name)} values have more than {threshold} {self.q.rows(t)} with {self.q.with_(f1)} "
             f"but never occur with {self.q.with_(f2)}")
        return self._cand(sql, q, [t], [c.name, f1[2], f2[2]], [threshold, f1[3], f2[3]])

    # joins (only when foreign keys or shared unique columns link tables)
    def _link(self, t):
        links = [fk for fk in self.links if t in (fk.table, fk.ref_table)] or self.links
        return self.rng.choice(links)

    def _join_clause(self, fk):
        a, b = quote_identifier(fk.table), quote_identifier(fk.ref_table)
        return (f"{a} AS T1 JOIN {b} AS T2 ON T1.{quote_identifier(fk.column)} = "
                f"T2.{quote_identifier(fk.ref_column)}")

    def _j_filter(self, t):
        fk = self._link(t)
        f = self._eq_filter(fk.ref_table, alias="T2.")
        labels = [c for c in self._labels(fk.table) if c.name != fk.column]
        if f is None or not labels:
            return None
        c = self.rng.choice(labels)
        sql = f"SELECT DISTINCT T1.{quote_identifier(c.name)} FROM {self._join_clause(fk)} WHERE {f[0]}"
        q = (f"which distinct {natural_name(c.name)} values of {natural_name(fk.table)} are linked to "
             f"{natural_name(fk.ref_table)} records where {self.q.where(f)}")
        return self._cand(sql, q, [fk.table, fk.ref_table], [c.name, f[2]], [f[3]])

    def _j_group_order(self, t):
        fk = self._link(t)
        cats = self._cats(fk.ref_table)
        if not cats:
            return None
        c = self.rng.choice(cats)
        qc = f"T2.{quote_identifier(c.name)}"
        sql = f"SELECT {qc}, COUNT(*) FROM {self._join_clause(fk)} GROUP BY {qc} ORDER BY COUNT(*) DESC"
        q = (f"for each {natural_name(c.name)} of {natural_name(fk.ref_table)}, how many {natural_name(fk.table)} "
             f"records are linked to it, from most to fewest")
        return self._cand(sql, q, [fk.table, fk.ref_table], [c.name], [])

    def _j_in_subquery(self, t):
        fk = self._link(t)
        f = self._eq_filter(fk.ref_table)
        if f is None:
            return None
        neg = self.rng.random() < 0.4
        sql = (f"SELECT COUNT(*) FROM {quote_identifier(fk.table)} WHERE {quote_identifier(fk.column)} "
               f"{'NOT IN' if neg else 'IN'} (SELECT {quote_identifier(fk.ref_column)} FROM "
               f"{quote_identifier(fk.ref_table)} WHERE {f[0]})")
        q = (f"how many {natural_name(fk.table)} records are {'not ' if neg else ''}linked to a "
             f"{natural_name(fk.ref_table)} record where {self.q.where(f)}")
        return self._cand(sql, q, [fk.table, fk.ref_table], [f[2]], [f[3]])

    def _j_group_order_limit(self, t):
        fk = self._link(t)
        cats = self._cats(fk.ref_table)
        f = self._any_filter(fk.table, alias="T1.")
        if not cats or f is None:
            return None
        c = self.rng.choice(cats)
        qc = f"T2.{quote_identifier(c.name)}"
        sql = (f"SELECT {qc} FROM {self._join_clause(fk)} WHERE {f[0]} GROUP BY {qc} "
               f"ORDER BY COUNT(*) DESC LIMIT 1")
        q = (f"among {natural_name(fk.table)} records with {self.q.with_(f)}, which {natural_name(c.name)} of the linked "
             f"{natural_name(fk.ref_table)} occurs most often")
        return self._cand(sql, q, [fk.table, fk.ref_table], [c.name, f[2]], [f[3]])

    # ------------------------------------------------------------------ verification

    def note_duplicate(self, cand: SQLCandidate, duplicate: bool) -> None:
        """Tell the sampler whether ``cand`` repeated an earlier query (it favours fresher families)."""
        self._repeats[cand.family] = self._repeats.get(cand.family, 0) + 1 if duplicate else 0

    def finish(self, cand: SQLCandidate) -> SQLCandidate:
        """Normalise the SQL and compute its difficulty and features (raises ``ValueError`` on a parse failure)."""
        cand.sql = normalize_sql(cand.sql)
        info = sql_features(cand.sql)
        cand.features = info["features"]
        cand.difficulty = spider_hardness(cand.sql)
        return cand

    def verify(self, cand: SQLCandidate, *, preview_rows: int = 5) -> VerifyResult:
        """Execute ``cand.sql``: no error, non-empty, order-independent, no tie cut by ``LIMIT``."""
        try:
            rows = execute_sql(self._conn, cand.sql, timeout_s=self.timeout_s, max_rows=None)
        except SQLExecutionError as exc:
            return VerifyResult(False, "failed_execution", detail=str(exc))
        if not rows or all(all(v is None for v in row) for row in rows):
            return VerifyResult(False, "empty_result")
        try:
            again = execute_sql(self._conn, cand.sql, timeout_s=self.timeout_s, max_rows=None, reverse_unordered=True)
        except SQLExecutionError as exc:
            return VerifyResult(False, "failed_execution", detail=str(exc))
        if not results_match(rows, again):
            return VerifyResult(False, "nondeterministic", detail="rows change with the scan order")
        if "limit" in cand.features and self._tie_at_limit(cand.sql):
            return VerifyResult(False, "nondeterministic", detail="LIMIT cuts through tied rows")
        return VerifyResult(True, rows=[[_json_value(v) for v in r] for r in rows[:preview_rows]],
                            row_count=len(rows))

    def _tie_at_limit(self, sql: str) -> bool:
        sqlglot, exp = _sqlglot()
        tree = sqlglot.parse_one(sql, read="sqlite")
        if not isinstance(tree, exp.Select) or tree.args.get("order") is None or tree.args.get("limit") is None:
            return False
        try:
            k = int(tree.args["limit"].expression.this)
        except (AttributeError, ValueError, TypeError):
            return True
        probe = tree.copy()
        probe.set("expressions", [o.this.copy() for o in tree.args["order"].expressions])
        probe.set("distinct", None)
        probe.set("limit", None)
        probe = probe.limit(k + 1)
        try:
            rows = execute_sql(self._conn, probe.sql(dialect="sqlite"), timeout_s=self.timeout_s, max_rows=k + 1)
        except SQLExecutionError:
            return True
        return len(rows) > k and rows[k - 1] == rows[k]

    def describe_database(self) -> dict:
        """Tables, row counts and foreign keys, for the manifest."""
        return {
            "tables": {t: p.rows for t, p in self.profile.items()},
            "foreign_keys": [f"{fk.table}.{fk.column} -> {fk.ref_table}.{fk.ref_column}" for fk in self.links],
        }


def _json_value(value):
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


def preview_json(rows, row_count: int) -> str:
    """A compact JSON text of a result preview: ``{"rows": [...], "row_count": N}``."""
    return json.dumps({"rows": rows, "row_count": row_count}, ensure_ascii=False)


# --------------------------------------------------------------------------- synthetic databases


def mirror_database(url: str, target: str | os.PathLike, *, max_rows: int | None = 200_000) -> Path:
    """Copy the tables of any SQLAlchemy database into a SQLite file, keeping foreign keys.

    Text-to-SQL verifies every query on SQLite; a PostgreSQL or MySQL source is
    mirrored first (at most ``max_rows`` rows per table) and the emitted SQL is
    SQLite's dialect.
    """
    from synthera.io import read_table
    from synthera.text.sql import database_from_tables, read_schema

    schema = read_schema(url)
    tables = {}
    for tbl in schema.tables:
        frame = read_table(url, table=tbl.name)
        tables[tbl.name] = frame.head(max_rows) if max_rows else frame
    keys = {t.name: c.name for t in schema.tables for c in t.columns if c.primary_key}
    return database_from_tables(tables, target, primary_keys=keys, foreign_keys=schema.foreign_keys)


def synthetic_database_path(datasets, *, rows: int = 2000, seed: int = 0, cache=None) -> Path:
    """Where :func:`synthetic_database` keeps the database for these arguments."""
    from synthera.tabular import DEFAULT_SYNTHESIZER
    from synthera.text.models import cache_dir

    names = [d.strip().lower() for d in (datasets.split(",") if isinstance(datasets, str) else datasets) if d.strip()]
    folder = Path(cache) if cache is not None else cache_dir() / "text"
    return folder / f"synthetic-{'-'.join(names)}-{DEFAULT_SYNTHESIZER}-{rows}rows-seed{seed}.db"


def synthetic_database(
    datasets: str | list[str],
    *,
    rows: int = 2000,
    seed: int = 0,
    cache: str | os.PathLike | None = None,
    progress: bool = False,
) -> Path:
    """Build (once) a SQLite database of synthetic rows from bundled datasets.

    Each dataset is learned by the flagship synthesizer (``cascade``) from its
    real training split and ``rows`` synthetic rows are sampled into a table
    named after it. No real record enters the database. The file is cached
    under ``<cache>/text/`` keyed by the datasets, rows and seed.

    Returns
    -------
    pathlib.Path
        The SQLite file.
    """
    from synthera import datasets as bundled
    from synthera.io import read_table
    from synthera.tabular import DEFAULT_SYNTHESIZER, get_synthesizer
    from synthera.text.sql import database_from_tables

    names = [d.strip().lower() for d in (datasets.split(",") if isinstance(datasets, str) else datasets) if d.strip()]
    if not names:
        raise UserInputError("--from-synthetic needs a dataset name such as adult")
    known = [d.name for d in bundled.available()]
    for name in names:
        if name not in known:
            raise UserInputError(f"unknown dataset '{name}' for --from-synthetic; bundled datasets are: "
                                 f"{', '.join(known)}")
    if rows < 10:
        raise UserInputError(f"--rows must be at least 10; got {rows}")
    target = synthetic_database_path(names, rows=rows, seed=seed, cache=cache)
    if target.is_file():
        return target
    tables: Mapping = {}
    for name in names:
        train = read_table(f"dataset:{name}")
        model = get_synthesizer(DEFAULT_SYNTHESIZER)(seed=seed)
        model.fit(train, progress=progress)
        for attempt in range(3):
            try:
                tables[name] = model.sample(rows, seed=seed + attempt)
                break
            except (FloatingPointError, OverflowError) as exc:
                # The cascade synthesizer can overflow while decoding a datetime column (seen on compas);
                # another sampling seed avoids it.
                if attempt == 2:
                    raise DataError(
                        f"the {DEFAULT_SYNTHESIZER} synthesizer failed to sample {name} ({exc}); "
                        "try another --seed"
                    ) from None
    return database_from_tables(tables, target)
