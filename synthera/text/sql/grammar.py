"""The query grammar: sample SQL from a schema and verify it by execution.

:class:`SQLSampler` reads the database's schema and a profile of its values
(:mod:`~synthera.text.sql.profile`), then builds queries from a small grammar
of query families (projections, filters, aggregates, ``GROUP BY``/``HAVING``,
``ORDER BY``/``LIMIT``, joins over foreign keys, nested queries and set
operations). Each query's difficulty is computed with Spider's hardness rules
(:func:`~synthera.text.sql.analysis.spider_hardness`), so the requested shares
of easy/medium/hard/extra are met by counting, not by trusting the family.

Every query is normalised with ``sqlglot`` and then executed
(:meth:`SQLSampler.verify`): it must run without error inside the timeout,
return at least one non-NULL row, give the same rows when SQLite reverses the
order of unordered scans, and, under ``LIMIT``, not cut through a tie of the
ordering key. A grammar question is written with it
(:mod:`~synthera.text.sql.wording`).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections import Counter
from dataclasses import dataclass, field

from synthera.errors import UserInputError
from synthera.text.sql.analysis import limit_probe, normalize_sql, spider_hardness, sql_features
from synthera.text.sql.execute import SQLExecutionError, connect_readonly, execute_sql, results_match, sqlite_path
from synthera.text.sql.profile import ColumnProfile, profile_database, usable_value
from synthera.text.sql.schema import (
    ForeignKey,
    format_number,
    quote_identifier,
    read_schema,
    schema_prompt,
    sql_literal,
)
from synthera.text.sql.wording import Phrases, natural_name, spoken_value, with_article

__all__ = [
    "DEFAULT_JOIN_SHARE",
    "DEFAULT_SHARES",
    "LEVELS",
    "Filter",
    "SQLCandidate",
    "SQLSampler",
    "VerifyResult",
    "is_join_family",
    "preview_json",
]

LEVELS = ("easy", "medium", "hard", "extra")
# Roughly Spider dev's mix (easy 24%, medium 43%, hard 17%, extra 16%), rounded.
DEFAULT_SHARES = {"easy": 0.25, "medium": 0.40, "hard": 0.20, "extra": 0.15}
# On a database whose tables are linked, the share of queries drawn from the join families (every level has one).
DEFAULT_JOIN_SHARE = 0.35


def is_join_family(family: str) -> bool:
    """Whether a family (as :attr:`SQLCandidate.family` names it) asks across tables over a foreign key."""
    return family.lstrip("_").startswith("j_")


@dataclass(frozen=True)
class Filter:
    """One ``WHERE`` condition a family puts in its SQL, and how its question words it."""

    sql: str  # the condition as SQL: ``age >= 30``
    column: str
    op: str  # ``=``, ``<``, ``<=``, ``>``, ``>=``
    value: object  # the stored value the SQL names (the question must mention it)
    said: object  # the value as the question words it ("more than 50k" for '>50K')
    alone: str | None = None  # set when the question names the value without its column


class _NoFit(Exception):
    """A family needs a column or value the drawn table lacks (a miss, not a bug)."""



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
    join_share
        On a database with foreign keys, the share of queries drawn from the
        join families (default :data:`DEFAULT_JOIN_SHARE`; 0 asks no join,
        1 only joins). Joins follow the declared keys only, every column of a
        composite key; a database that declares none is linked through
        same-named key columns, unique on the parent side and holding every
        value of the child side.

    Examples
    --------
    >>> sampler = SQLSampler("people.db", seed=0)          # doctest: +SKIP
    >>> cand = sampler.sample("medium")                      # doctest: +SKIP
    >>> sampler.verify(cand).ok                              # doctest: +SKIP
    True
    """

    def __init__(self, db: str | os.PathLike, *, seed: int = 0, timeout_s: float = 2.0, sample_rows: int = 1000,
                 join_share: float | None = None):
        if join_share is not None and (isinstance(join_share, bool) or not isinstance(join_share, (int, float))
                                       or not 0 <= join_share <= 1):
            raise UserInputError(f"join_share must be a number from 0 to 1; got {join_share!r}")
        self.db = db
        self.seed = seed
        self.timeout_s = timeout_s
        self.sample_rows = sample_rows
        self.schema = read_schema(db)
        file = sqlite_path(db)
        if file is None:
            raise UserInputError(
                "SQLSampler verifies queries on SQLite; mirror the database first with "
                "synthera.text.sql.mirror_database(url, 'copy.db')"
            )
        self._conn = connect_readonly(file)
        self.rng = random.Random(seed)
        self.profile = profile_database(self._conn, self.schema, sample_rows)
        self.links = self._join_links()
        self.join_share = (DEFAULT_JOIN_SHARE if join_share is None else float(join_share)) if self.links else 0.0
        self.q = Phrases(self.rng)
        self._implied: dict = {}  # columns the current question names by their value only
        # Which text columns hold each value (lower-cased): a value held by one column identifies it.
        self._owners: dict[str, dict[str, set[str]]] = {
            t: self._value_owners(p) for t, p in self.profile.items()}
        self._repeats: dict[str, int] = {}
        self.misses: Counter = Counter()
        self.errors: Counter = Counter()
        self.error_examples: dict[str, str] = {}
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
        # No declared keys: link a same-named key column (a primary key or an id-like name) that is unique on the
        # parent side and holds every value the child side holds; a shared "age" or "name" is no link.
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
                    for child, parent, prof in ((a.name, b.name, pb), (b.name, a.name, pa)):
                        if self._key_of(parent, prof) and self._contained(child, parent, col.name):
                            links.append(ForeignKey(child, col.name, parent, col.name))
                            break
        return links

    def _key_of(self, table: str, col: ColumnProfile) -> bool:
        rows = self.profile[table].rows
        return (col.primary_key or col.id_like) and 0 < col.distinct == rows

    def _contained(self, child: str, parent: str, column: str) -> bool:
        """Every non-NULL value of ``child.column`` occurs in ``parent.column``."""
        qc = quote_identifier(column)
        sql = (f"SELECT COUNT(*) FROM {quote_identifier(child)} WHERE {qc} IS NOT NULL AND {qc} NOT IN "
               f"(SELECT {qc} FROM {quote_identifier(parent)} WHERE {qc} IS NOT NULL)")
        try:
            return execute_sql(self._conn, sql, timeout_s=self.timeout_s)[0][0] == 0
        except SQLExecutionError:
            return False

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
        return self._choose(self.profile[table].sample)

    # ------------------------------------------------------------------ building blocks

    def _eq_filter(self, table: str, row: dict | None = None, exclude=(), alias: str = ""):
        cats = [c for c in self._cats(table) if c.name not in exclude]
        if row is not None:
            cats = [c for c in cats if usable_value(row.get(c.name))]
        if not cats:
            return None
        col = self._choose(cats)
        value = row[col.name] if row is not None else self._choose(col.top[:20])
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        sql = f"{alias}{quote_identifier(col.name)} = {sql_literal(value)}"
        said = self._say(value)
        alone = None  # half the filters on a value only this column holds name the value alone
        if self._distinctive(table, col.name, value) and self.rng.random() < 0.5:
            alone = said.lower() if self.rng.random() < 0.5 else said
            self._implied[col.name] = value
        return Filter(sql, col.name, "=", value, said, alone)

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
        col = self._choose(cols)
        if row is not None:
            value = row[col.name]
            op = self._choose([">=", "<="])
        else:
            value = self._choose(col.quantiles)
            if value <= col.quantiles[0]:
                op = ">"  # the lowest decile may be the minimum: ">=" could keep every row
            elif value >= col.quantiles[-1]:
                op = "<"
            else:
                op = self._choose([">", "<", ">=", "<="])
        value = float(value) if isinstance(value, float) and not value.is_integer() else int(value)
        if isinstance(value, float):
            value = round(value, 2)
        sql = f"{alias}{quote_identifier(col.name)} {op} {sql_literal(value)}"
        return Filter(sql, col.name, op, value, value)

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
            fam["easy"].append(self._j_distinct)
            fam["medium"].append(self._j_filter)
            fam["hard"] += [self._j_group_order, self._j_in_subquery, self._j_two_hop]
            fam["extra"] += [self._j_group_order_limit, self._j_two_hop_filter]
        return fam

    def sample(self, level: str) -> SQLCandidate | None:
        """One candidate aimed at ``level`` (its real level is computed later), or ``None``.

        ``None`` means the family drawn needs columns the table drawn lacks; that is
        counted in :attr:`misses`. A family that raises is a bug: it is counted in
        :attr:`errors` with its first message (:meth:`family_report`), never passed off as a miss.
        """
        families = self._families()[level]
        if self.links:  # join or not first, so the share of joins is what join_share asks
            join = self.rng.random() < self.join_share
            families = [f for f in families if is_join_family(f.__name__) == join] or families
        # Families whose small space keeps yielding duplicates are tried less often.
        weights = [1.0 / (1 + self._repeats.get(f.__name__.lstrip("_"), 0)) for f in families]
        fn = self.rng.choices(families, weights=weights)[0]
        table = self.rng.choice(self._tables())
        family = fn.__name__.lstrip("_")
        self._implied = {}
        try:
            cand = fn(table)
        except _NoFit:
            cand = None
        except Exception as exc:  # noqa: BLE001 - counted and reported per family, see family_report
            self.errors[family] += 1
            self.error_examples.setdefault(family, f"{type(exc).__name__}: {exc}"[:200])
            return None
        if cand is None:
            self.misses[family] += 1
            return None
        cand.family = family
        return cand

    def family_report(self) -> dict:
        """Per family: samples that found no fitting column (``misses``) and that raised (``errors``); and the
        links joins may follow with the share of queries asked to join (``joins``)."""
        return {"misses": dict(sorted(self.misses.items())), "errors": dict(sorted(self.errors.items())),
                "error_examples": dict(sorted(self.error_examples.items())),
                "joins": {"links": len(self.links), "join_share": round(self.join_share, 4)}}

    def _choose(self, options):
        """``rng.choice``, but an empty choice means "this family does not fit here", not a bug."""
        if not options:
            raise _NoFit
        return self.rng.choice(options)

    def _choose_k(self, options, k: int):
        if len(options) < k:
            raise _NoFit
        return self.rng.sample(options, k)

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
        c = self._choose(self._cats(t))
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
        if f is None:
            return None
        sql = f"SELECT COUNT(*) FROM {quote_identifier(t)} WHERE {f.sql}"
        q = self.q.pick(f"how many {self.q.rows(t)} have {self.q.with_(f)}",
                        f"count the {self.q.rows(t)} where {self.q.where(f)}",
                        f"what is the number of {self.q.rows(t)} with {self.q.with_(f)}")
        return self._cand(sql, q, [t], [f.column], [f.value])

    def _f_agg(self, t):
        m = self._choose(self._measures(t))
        fn = self._choose(("AVG", "MIN", "MAX", "SUM"))
        sql = f"SELECT {fn}({quote_identifier(m.name)}) FROM {quote_identifier(t)}"
        q = self.q.pick(f"what is the {self.q.agg(fn)} {natural_name(m.name)} across all {self.q.rows(t)}",
                        f"give the {self.q.agg(fn)} {natural_name(m.name)} in {natural_name(t)}")
        return self._cand(sql, q, [t], [m.name], [])

    def _f_agg_where(self, t):
        m = self._choose(self._measures(t))
        f = self._eq_filter(t, exclude=(m.name,))
        if f is None:
            return None
        fn = self._choose(("AVG", "MIN", "MAX", "SUM"))
        sql = f"SELECT {fn}({quote_identifier(m.name)}) FROM {quote_identifier(t)} WHERE {f.sql}"
        q = self.q.pick(f"what is the {self.q.agg(fn)} {natural_name(m.name)} of {self.q.rows(t)} where "
                        f"{self.q.where(f)}",
                        f"for {self.q.rows(t)} with {self.q.with_(f)}, what is the {self.q.agg(fn)} "
                        f"{natural_name(m.name)}")
        return self._cand(sql, q, [t], [m.name, f.column], [f.value])

    def _f_select_where(self, t):
        row = self._row(t)
        f = self._any_filter(t, row)
        if f is None:
            return None
        labels = [c for c in self._labels(t) if c.name != f.column]
        c = self._choose(labels)
        distinct = self.rng.random() < 0.6
        sql = (f"SELECT {'DISTINCT ' if distinct else ''}{quote_identifier(c.name)} FROM {quote_identifier(t)} "
               f"WHERE {f.sql}")
        lead = self.q.pick("which distinct", "what distinct", "list the distinct") if distinct else self.q.pick(
            "list the", "show the", "what are the")
        q = (f"{lead} {natural_name(c.name)} {self.q.pick('values', 'entries')} of {self.q.rows(t)} where "
             f"{self.q.where(f)}")
        return self._cand(sql, q, [t], [c.name, f.column], [f.value])

    def _f_count_distinct(self, t):
        c = self._choose(self._labels(t))
        sql = f"SELECT COUNT(DISTINCT {quote_identifier(c.name)}) FROM {quote_identifier(t)}"
        q = self.q.pick(f"how many different {natural_name(c.name)} values are there in {natural_name(t)}",
                        f"count the distinct {natural_name(c.name)} values among {self.q.rows(t)}")
        return self._cand(sql, q, [t], [c.name], [])

    # medium
    def _f_group_count(self, t):
        c = self._choose(self._cats(t))
        qc = quote_identifier(c.name)
        sql = f"SELECT {qc}, COUNT(*) FROM {quote_identifier(t)} GROUP BY {qc}"
        q = self.q.pick(f"for each {natural_name(c.name)}, how many {self.q.rows(t)} are there",
                        f"count the {self.q.rows(t)} per {natural_name(c.name)}",
                        f"show the number of {self.q.rows(t)} in each {natural_name(c.name)} group")
        return self._cand(sql, q, [t], [c.name], [])

    def _f_group_agg(self, t):
        c = self._choose(self._cats(t))
        m = self._choose([x for x in self._measures(t) if x.name != c.name])
        fn = self._choose(("AVG", "MIN", "MAX", "SUM"))
        qc = quote_identifier(c.name)
        sql = f"SELECT {qc}, {fn}({quote_identifier(m.name)}) FROM {quote_identifier(t)} GROUP BY {qc}"
        q = self.q.pick(f"what is the {self.q.agg(fn)} {natural_name(m.name)} for each {natural_name(c.name)}",
                        f"for every {natural_name(c.name)}, give the {self.q.agg(fn)} {natural_name(m.name)}")
        return self._cand(sql, q, [t], [c.name, m.name], [])

    def _f_count_two_filters(self, t):
        row = self._row(t)
        f1 = self._any_filter(t, row)
        f2 = self._any_filter(t, row, exclude=(f1.column,)) if f1 else None
        if f2 is None:
            return None
        sql = f"SELECT COUNT(*) FROM {quote_identifier(t)} WHERE {f1.sql} AND {f2.sql}"
        q = self.q.pick(f"how many {self.q.rows(t)} have {self.q.with_(f1)} and {self.q.with_(f2)}",
                        f"count the {self.q.rows(t)} where {self.q.where(f1)} and {self.q.where(f2)}")
        return self._cand(sql, q, [t], [f1.column, f2.column], [f1.value, f2.value])

    def _f_two_cols_where(self, t):
        row = self._row(t)
        f = self._any_filter(t, row)
        if f is None:
            return None
        labels = [c for c in self._labels(t) if c.name != f.column]
        a, b = self._choose_k(labels, 2)
        sql = (f"SELECT {quote_identifier(a.name)}, {quote_identifier(b.name)} FROM {quote_identifier(t)} "
               f"WHERE {f.sql}")
        q = self.q.pick(f"show the {natural_name(a.name)} and {natural_name(b.name)} of {self.q.rows(t)} where "
                        f"{self.q.where(f)}",
                        f"list {natural_name(a.name)} and {natural_name(b.name)} for {self.q.rows(t)} with "
                        f"{self.q.with_(f)}")
        return self._cand(sql, q, [t], [a.name, b.name, f.column], [f.value])

    def _rank_measures(self, t, exclude=()):
        """Measures with enough distinct values that ORDER BY ... LIMIT rarely cuts a tie."""
        cols = [c for c in self._measures(t) if c.name not in exclude]
        wide = [c for c in cols if c.distinct >= 20]
        return wide or cols

    def _f_top_k(self, t):
        m = self._choose(self._rank_measures(t))
        c = self._choose([x for x in self._labels(t) if x.name != m.name])
        desc = self.rng.random() < 0.6
        k = self._choose((1, 3, 5))
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
        m = self._choose([x for x in self._measures(t) if x.name != f.column])
        desc = self.rng.random() < 0.5
        sql = (f"SELECT {quote_identifier(m.name)} FROM {quote_identifier(t)} WHERE {f.sql} "
               f"ORDER BY {quote_identifier(m.name)}{' DESC' if desc else ''}")
        q = f"list the {natural_name(m.name)} of {self.q.rows(t)} where {self.q.where(f)}, {self.q.order(desc)}"
        return self._cand(sql, q, [t], [m.name, f.column], [f.value])

    def _f_two_aggs_where(self, t):
        f = self._eq_filter(t)
        if f is None:
            return None
        m = self._choose([x for x in self._measures(t) if x.name != f.column])
        fn1, fn2 = self.rng.sample(("AVG", "MIN", "MAX"), 2)
        qm = quote_identifier(m.name)
        sql = f"SELECT {fn1}({qm}), {fn2}({qm}) FROM {quote_identifier(t)} WHERE {f.sql}"
        q = (f"what are the {self.q.agg(fn1)} and {self.q.agg(fn2)} {natural_name(m.name)} of {self.q.rows(t)} "
             f"where {self.q.where(f)}")
        return self._cand(sql, q, [t], [m.name, f.column], [f.value])

    def _f_like(self, t):
        cols = [c for c in self._cats(t) + self._labels(t) if c.kind == "text"]
        c = self._choose(cols)
        value = self._choose(c.top[:20])
        words = re.findall(r"[A-Za-z]{3,}", value) if isinstance(value, str) else []  # mixed storage: a number
        if not words:
            return None
        part = self._choose(words)
        sql = f"SELECT COUNT(*) FROM {quote_identifier(t)} WHERE {quote_identifier(c.name)} LIKE '%{part}%'"
        q = self.q.pick(f"how many {self.q.rows(t)} have {with_article(natural_name(c.name))} containing {part}",
                        f"count the {self.q.rows(t)} whose {natural_name(c.name)} includes the text {part}")
        return self._cand(sql, q, [t], [c.name], [part])

    def _f_or(self, t):
        c = self._choose([x for x in self._cats(t) if len(x.top) >= 2])
        v1, v2 = self._choose_k(c.top[:10], 2)
        qc = quote_identifier(c.name)
        sql = f"SELECT COUNT(*) FROM {quote_identifier(t)} WHERE {qc} = {sql_literal(v1)} OR {qc} = {sql_literal(v2)}"
        fv1, fv2 = (self._say(v) if isinstance(v, str) else format_number(v) for v in (v1, v2))
        q = self.q.pick(f"how many {self.q.rows(t)} have {natural_name(c.name)} {fv1} or {fv2}",
                        f"count the {self.q.rows(t)} whose {natural_name(c.name)} is either {fv1} or {fv2}")
        return self._cand(sql, q, [t], [c.name], [v1, v2])

    # hard
    def _f_above_average(self, t):
        m = self._choose(self._measures(t))
        labels = [x for x in self._labels(t) if x.name != m.name]
        qm, qt = quote_identifier(m.name), quote_identifier(t)
        op = self._choose((">", "<"))
        word = self.q.pick("above", "higher than") if op == ">" else self.q.pick("below", "lower than")
        if self.rng.random() < 0.5 and labels:
            c = self._choose(labels)
            sql = f"SELECT DISTINCT {quote_identifier(c.name)} FROM {qt} WHERE {qm} {op} (SELECT AVG({qm}) FROM {qt})"
            q = (f"which distinct {natural_name(c.name)} values belong to {self.q.rows(t)} whose "
                 f"{natural_name(m.name)} is {word} the average {natural_name(m.name)}")
            return self._cand(sql, q, [t], [c.name, m.name], [])
        sql = f"SELECT COUNT(*) FROM {qt} WHERE {qm} {op} (SELECT AVG({qm}) FROM {qt})"
        q = f"how many {self.q.rows(t)} have {with_article(natural_name(m.name))} {word} the average"
        return self._cand(sql, q, [t], [m.name], [])

    def _f_where_top_k(self, t):
        row = self._row(t)
        f = self._eq_filter(t, row)
        if f is None:
            return None
        m = self._choose(self._rank_measures(t, exclude=(f.column,)))
        c = self._choose([x for x in self._labels(t) if x.name not in (m.name, f.column)])
        desc = self.rng.random() < 0.6
        k = self._choose((1, 3))
        sql = (f"SELECT {quote_identifier(c.name)} FROM {quote_identifier(t)} WHERE {f.sql} "
               f"ORDER BY {quote_identifier(m.name)}{' DESC' if desc else ''} LIMIT {k}")
        which = "highest" if desc else "lowest"
        q = (f"among {self.q.rows(t)} where {self.q.where(f)}, what is the {natural_name(c.name)} of the one with "
             f"the {which} "
             f"{natural_name(m.name)}" if k == 1 else
             f"among {self.q.rows(t)} where {self.q.where(f)}, list the {natural_name(c.name)} of the {k} with the "
             f"{which} "
             f"{natural_name(m.name)}")
        return self._cand(sql, q, [t], [c.name, m.name, f.column], [f.value] + ([k] if k > 1 else []))

    def _f_group_top(self, t):
        c = self._choose(self._cats(t))
        qc = quote_identifier(c.name)
        desc = self.rng.random() < 0.7
        sql = (f"SELECT {qc} FROM {quote_identifier(t)} GROUP BY {qc} ORDER BY COUNT(*)"
               f"{' DESC' if desc else ''} LIMIT 1")
        which = self.q.pick("most common", "most frequent") if desc else self.q.pick("least common", "rarest")
        q = f"which {natural_name(c.name)} is the {which} among {self.q.rows(t)}"
        return self._cand(sql, q, [t], [c.name], [])

    def _f_group_count_order(self, t):
        c = self._choose(self._cats(t))
        f = self._any_filter(t, exclude=(c.name,))
        if f is None:
            return None
        qc = quote_identifier(c.name)
        sql = (f"SELECT {qc}, COUNT(*) FROM {quote_identifier(t)} WHERE {f.sql} GROUP BY {qc} "
               f"ORDER BY COUNT(*) DESC")
        q = (f"for {self.q.rows(t)} with {self.q.with_(f)}, count them per {natural_name(c.name)} and sort the groups "
             f"from largest to smallest")
        return self._cand(sql, q, [t], [c.name, f.column], [f.value])

    def _f_intersect(self, t):
        c = self._choose(self._cats(t))
        f1 = self._any_filter(t, self._row(t), exclude=(c.name,))
        f2 = self._any_filter(t, self._row(t), exclude=(c.name, f1.column if f1 else None))
        if f1 is None or f2 is None:
            return None
        qc, qt = quote_identifier(c.name), quote_identifier(t)
        op = self._choose(("INTERSECT", "UNION"))
        sql = f"SELECT {qc} FROM {qt} WHERE {f1.sql} {op} SELECT {qc} FROM {qt} WHERE {f2.sql}"
        if op == "INTERSECT":
            q = (f"which {natural_name(c.name)} values occur both among {self.q.rows(t)} with {self.q.with_(f1)} and "
                 f"among "
                 f"those with {self.q.with_(f2)}")
        else:
            q = (f"which {natural_name(c.name)} values occur among {self.q.rows(t)} with either {self.q.with_(f1)} or "
                 f"{self.q.with_(f2)}")
        return self._cand(sql, q, [t], [c.name, f1.column, f2.column], [f1.value, f2.value])

    def _f_in_subquery_group(self, t):
        c = self._choose(self._cats(t))
        m = self._choose([x for x in self._measures(t) if x.name != c.name])
        qc, qm, qt = quote_identifier(c.name), quote_identifier(m.name), quote_identifier(t)
        sql = (f"SELECT COUNT(*) FROM {qt} WHERE {qc} IN (SELECT {qc} FROM {qt} GROUP BY {qc} "
               f"HAVING AVG({qm}) > (SELECT AVG({qm}) FROM {qt}))")
        q = (f"how many {self.q.rows(t)} belong to {with_article(natural_name(c.name))} whose average "
             f"{natural_name(m.name)} "
             f"is above the overall average {natural_name(m.name)}")
        return self._cand(sql, q, [t], [c.name, m.name], [])

    # extra
    def _f_group_having_order_limit(self, t):
        c = self._choose(self._cats(t))
        f = self._any_filter(t, exclude=(c.name,))
        if f is None:
            return None
        k = self._choose((2, 3, 5))
        qc = quote_identifier(c.name)
        threshold = self._choose((1, 2, 5, 10))
        sql = (f"SELECT {qc}, COUNT(*) FROM {quote_identifier(t)} WHERE {f.sql} GROUP BY {qc} "
               f"HAVING COUNT(*) > {threshold} ORDER BY COUNT(*) DESC LIMIT {k}")
        q = (f"among {self.q.rows(t)} with {self.q.with_(f)}, which {k} {natural_name(c.name)} groups with more than "
             f"{threshold} records are the largest, and how many records does each have")
        return self._cand(sql, q, [t], [c.name, f.column], [f.value, k, threshold])

    def _f_nested_and_filter(self, t):
        m = self._choose(self._measures(t))
        f = self._eq_filter(t, self._row(t), exclude=(m.name,))
        if f is None:
            return None
        qm, qt = quote_identifier(m.name), quote_identifier(t)
        sql = f"SELECT COUNT(*) FROM {qt} WHERE {f.sql} AND {qm} > (SELECT AVG({qm}) FROM {qt})"
        q = (f"how many {self.q.rows(t)} with {self.q.with_(f)} have {with_article(natural_name(m.name))} above the "
             f"average "
             f"{natural_name(m.name)} of all records")
        return self._cand(sql, q, [t], [m.name, f.column], [f.value])

    def _f_two_cols_filters_order(self, t):
        row = self._row(t)
        f1 = self._eq_filter(t, row)
        f2 = self._num_filter(t, row, exclude=(f1.column,) if f1 else ())
        if f1 is None or f2 is None:
            return None
        labels = [x for x in self._labels(t) if x.name not in (f1.column, f2.column)]
        a = self._choose(labels)
        desc = self.rng.random() < 0.5
        qb = quote_identifier(f2.column)
        sql = (f"SELECT {quote_identifier(a.name)}, {qb} FROM {quote_identifier(t)} WHERE {f1.sql} AND {f2.sql} "
               f"ORDER BY {qb}{' DESC' if desc else ''}")
        q = (f"show the {natural_name(a.name)} and {natural_name(f2.column)} of {self.q.rows(t)} where "
             f"{self.q.where(f1)} and "
             f"{self.q.where(f2)}, ordered by {natural_name(f2.column)} {self.q.order(desc)}")
        return self._cand(sql, q, [t], [a.name, f1.column, f2.column], [f1.value, f2.value])

    def _f_group_having_nested(self, t):
        c = self._choose(self._cats(t))
        m = self._choose([x for x in self._measures(t) if x.name != c.name])
        qc, qm, qt = quote_identifier(c.name), quote_identifier(m.name), quote_identifier(t)
        sql = (f"SELECT {qc}, AVG({qm}) FROM {qt} GROUP BY {qc} HAVING AVG({qm}) > (SELECT AVG({qm}) FROM {qt}) "
               f"ORDER BY AVG({qm}) DESC")
        q = (f"which {natural_name(c.name)} groups have an average {natural_name(m.name)} above the overall average, "
             f"and what is that average, from highest to lowest")
        return self._cand(sql, q, [t], [c.name, m.name], [])

    def _f_except_group(self, t):
        c = self._choose(self._cats(t))
        f1 = self._any_filter(t, exclude=(c.name,))
        f2 = self._any_filter(t, exclude=(c.name, f1.column if f1 else None))
        if f1 is None or f2 is None:
            return None
        qc, qt = quote_identifier(c.name), quote_identifier(t)
        threshold = self._choose((1, 3, 5))
        sql = (f"SELECT {qc} FROM {qt} WHERE {f1.sql} GROUP BY {qc} HAVING COUNT(*) > {threshold} "
               f"EXCEPT SELECT {qc} FROM {qt} WHERE {f2.sql}")
        q = (f"which {natural_name(c.name)} values have more than {threshold} {self.q.rows(t)} with {self.q.with_(f1)} "
             f"but never occur with {self.q.with_(f2)}")
        return self._cand(sql, q, [t], [c.name, f1.column, f2.column], [threshold, f1.value, f2.value])

    # joins: only over the links (declared foreign keys; same-named unique columns where none are declared)
    def _link(self, t):
        links = [fk for fk in self.links if t in (fk.table, fk.ref_table)] or self.links
        return self._choose(links)

    def _path(self, t):
        """Two links in a row, child -> parent -> grandparent, through three different tables."""
        paths = [(a, b) for a in self.links for b in self.links
                 if a.ref_table == b.table and len({a.table, a.ref_table, b.ref_table}) == 3]
        return self._choose([p for p in paths if t in (p[0].table, p[1].ref_table)] or paths)

    @staticmethod
    def _on(fk, child: str = "T1", parent: str = "T2") -> str:
        """The join condition: every column of the key equal to its parent column (all of a composite key)."""
        return " AND ".join(f"{child}.{quote_identifier(c)} = {parent}.{quote_identifier(r)}" for c, r in fk.pairs)

    def _join_clause(self, fk):
        return f"{quote_identifier(fk.table)} AS T1 JOIN {quote_identifier(fk.ref_table)} AS T2 ON {self._on(fk)}"

    def _path_clause(self, a, b):
        return (f"{self._join_clause(a)} JOIN {quote_identifier(b.ref_table)} AS T3 "
                f"ON {self._on(b, 'T2', 'T3')}")

    def _via(self, fk) -> tuple[str, list[str]]:
        """How the question names the key when the table pair alone does not (a self-reference, or one of
        several keys between two tables): `` through gift for``, and the columns it must then mention."""
        same = [o for o in self.links if {o.table, o.ref_table} == {fk.table, fk.ref_table}]
        if fk.table != fk.ref_table and len(same) == 1:
            return "", []
        return " through " + " and ".join(natural_name(c) for c in fk.columns), list(fk.columns)

    def _child_labels(self, fk):
        return [c for c in self._labels(fk.table) if c.name not in fk.columns and not c.id_like]

    def _j_distinct(self, t):
        fk = self._link(t)
        c = self._choose(self._cats(fk.ref_table))
        via, named = self._via(fk)
        sql = f"SELECT DISTINCT T2.{quote_identifier(c.name)} FROM {self._join_clause(fk)}"
        q = self.q.pick(f"which distinct {natural_name(c.name)} values of {natural_name(fk.ref_table)} have at "
                        f"least one linked {natural_name(fk.table)} record{via}",
                        f"list the distinct {natural_name(c.name)} of {natural_name(fk.ref_table)} records that "
                        f"{natural_name(fk.table)} records refer to{via}")
        return self._cand(sql, q, [fk.table, fk.ref_table], [c.name, *named], [])

    def _j_filter(self, t):
        fk = self._link(t)
        f = self._eq_filter(fk.ref_table, alias="T2.")
        labels = self._child_labels(fk)
        if f is None or not labels:
            return None
        c = self._choose(labels)
        via, named = self._via(fk)
        sql = f"SELECT DISTINCT T1.{quote_identifier(c.name)} FROM {self._join_clause(fk)} WHERE {f.sql}"
        q = (f"which distinct {natural_name(c.name)} values of {natural_name(fk.table)} are linked{via} to "
             f"{natural_name(fk.ref_table)} records where {self.q.where(f)}")
        return self._cand(sql, q, [fk.table, fk.ref_table], [c.name, f.column, *named], [f.value])

    def _j_group_order(self, t):
        fk = self._link(t)
        c = self._choose(self._cats(fk.ref_table))
        via, named = self._via(fk)
        qc = f"T2.{quote_identifier(c.name)}"
        sql = f"SELECT {qc}, COUNT(*) FROM {self._join_clause(fk)} GROUP BY {qc} ORDER BY COUNT(*) DESC"
        q = (f"for each {natural_name(c.name)} of {natural_name(fk.ref_table)}, how many {natural_name(fk.table)} "
             f"records are linked to it{via}, from most to fewest")
        return self._cand(sql, q, [fk.table, fk.ref_table], [c.name, *named], [])

    def _j_in_subquery(self, t):
        fk = self._link(t)
        if fk.composite:
            raise _NoFit  # IN compares one column; the join families cover composite keys
        f = self._eq_filter(fk.ref_table)
        if f is None:
            return None
        via, named = self._via(fk)
        neg = self.rng.random() < 0.4
        sql = (f"SELECT COUNT(*) FROM {quote_identifier(fk.table)} WHERE {quote_identifier(fk.column)} "
               f"{'NOT IN' if neg else 'IN'} (SELECT {quote_identifier(fk.ref_column)} FROM "
               f"{quote_identifier(fk.ref_table)} WHERE {f.sql})")
        q = (f"how many {natural_name(fk.table)} records are {'not ' if neg else ''}linked{via} to "
             f"{with_article(natural_name(fk.ref_table))} record where {self.q.where(f)}")
        return self._cand(sql, q, [fk.table, fk.ref_table], [f.column, *named], [f.value])

    def _j_group_order_limit(self, t):
        fk = self._link(t)
        cats = self._cats(fk.ref_table)
        f = self._any_filter(fk.table, alias="T1.")
        if not cats or f is None:
            return None
        c = self._choose(cats)
        via, named = self._via(fk)
        qc = f"T2.{quote_identifier(c.name)}"
        sql = (f"SELECT {qc} FROM {self._join_clause(fk)} WHERE {f.sql} GROUP BY {qc} "
               f"ORDER BY COUNT(*) DESC LIMIT 1")
        q = (f"among {natural_name(fk.table)} records with {self.q.with_(f)}, which {natural_name(c.name)} of the "
             f"{natural_name(fk.ref_table)} linked{via} occurs most often")
        return self._cand(sql, q, [fk.table, fk.ref_table], [c.name, f.column, *named], [f.value])

    def _j_two_hop(self, t):
        a, b = self._path(t)
        c = self._choose(self._cats(b.ref_table))
        (via_a, named_a), (via_b, named_b) = self._via(a), self._via(b)
        qc = f"T3.{quote_identifier(c.name)}"
        sql = f"SELECT {qc}, COUNT(*) FROM {self._path_clause(a, b)} GROUP BY {qc} ORDER BY COUNT(*) DESC"
        q = (f"for each {natural_name(c.name)} of {natural_name(b.ref_table)}, how many {natural_name(a.table)} "
             f"records belong{via_a} to {natural_name(a.ref_table)} records linked{via_b} to it, from most to fewest")
        return self._cand(sql, q, [a.table, a.ref_table, b.ref_table], [c.name, *named_a, *named_b], [])

    def _j_two_hop_filter(self, t):
        a, b = self._path(t)
        f = self._eq_filter(b.ref_table, alias="T3.")
        if f is None:
            return None
        (via_a, named_a), (via_b, named_b) = self._via(a), self._via(b)
        measures = [m for m in self._measures(a.table) if m.name not in a.columns]
        m = self._choose(measures) if measures and self.rng.random() < 0.6 else None
        fn = self._choose(("AVG", "MAX", "MIN", "SUM")) if m else "COUNT"
        what = f"{fn}(T1.{quote_identifier(m.name)})" if m else "COUNT(*)"
        sql = f"SELECT {what} FROM {self._path_clause(a, b)} WHERE {f.sql}"
        ask = (f"what is the {self.q.agg(fn)} {natural_name(m.name)} of {natural_name(a.table)} records" if m else
               f"how many {natural_name(a.table)} records are there")
        q = (f"{ask} whose {natural_name(a.ref_table)} records{via_a} are linked{via_b} to "
             f"{natural_name(b.ref_table)} records where {self.q.where(f)}")
        columns = [f.column, *named_a, *named_b] + ([m.name] if m else [])
        return self._cand(sql, q, [a.table, a.ref_table, b.ref_table], columns, [f.value])

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
        if not results_match(rows, again, significant_digits=9):  # float sums move with scan order
            return VerifyResult(False, "nondeterministic", detail="rows change with the scan order")
        if "limit" in cand.features and self._tie_at_limit(cand.sql):
            return VerifyResult(False, "nondeterministic", detail="LIMIT cuts through tied rows")
        return VerifyResult(True, rows=[[_json_value(v) for v in r] for r in rows[:preview_rows]],
                            row_count=len(rows))

    def _tie_at_limit(self, sql: str) -> bool:
        probe = limit_probe(sql)
        if probe is None:
            return False
        probe_sql, k = probe
        if k is None:
            return True
        try:
            rows = execute_sql(self._conn, probe_sql, timeout_s=self.timeout_s, max_rows=k + 1)
        except SQLExecutionError:
            return True
        return len(rows) > k and rows[k - 1] == rows[k]

    def describe_database(self) -> dict:
        """Tables, row counts and foreign keys, for the manifest."""
        return {
            "tables": {t: p.rows for t, p in self.profile.items()},
            "foreign_keys": [fk.label() for fk in self.links],
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
