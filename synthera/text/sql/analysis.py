"""Reading SQL with ``sqlglot``: one canonical spelling, a duplicate key, and Spider's hardness.

>>> spider_hardness("SELECT COUNT(*) FROM t WHERE a = 1")
'easy'
>>> spider_hardness("SELECT a FROM t WHERE x > (SELECT AVG(x) FROM t)")
'hard'
>>> sql_key("select  COUNT( * ) from T ;")
'select count(*) from t'
"""

from __future__ import annotations

import re

from synthera._extras import require

__all__ = ["dedup_key", "limit_probe", "normalize_sql", "spider_hardness", "sql_features", "sql_key", "sql_template"]


def _sqlglot():
    """``sqlglot`` and its expression module, or one line naming the 'text' extra."""
    sqlglot = require("sqlglot", "text")
    return sqlglot, require("sqlglot.expressions", "text")


def normalize_sql(sql: str, *, dialect: str = "sqlite") -> str:
    """One canonical spelling of a query (keywords upper case, spacing, quoting) via ``sqlglot``.

    Raises ``ValueError`` if it does not parse.
    """
    sqlglot, _ = _sqlglot()
    SqlglotError = require("sqlglot.errors", "text").SqlglotError

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
        return tree.sql(dialect=dialect)
    except SqlglotError as exc:
        raise ValueError(f"SQL does not parse: {str(exc).splitlines()[0]}") from None


def dedup_key(normalized: str) -> str:
    """The key two queries share when they differ only in the case of keywords and names or in spacing.

    Identifiers are case-insensitive in SQL; string literals are not, so they are kept.
    Pass a query spelled by :func:`normalize_sql`.
    """
    parts = re.split(r"('(?:[^']|'')*')", normalized)
    return "".join(p if p.startswith("'") else " ".join(p.lower().split()) for p in parts)


_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\])|(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])",
                     re.IGNORECASE)  # quoted identifiers are kept as they are
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")


def sql_template(normalized: str) -> str:
    """The query's shape with its literals masked: ``SELECT a FROM t WHERE b > 3`` -> ``select a from t where b > ?``.

    Strings and numbers (LIMIT counts too) become ``?`` and a list of them one
    ``(?)``; two queries with the same template differ only in their values
    (the SQL-template dedup of OmniSQL's SynSQL pipeline). Pass a query
    spelled by :func:`normalize_sql`.
    """
    masked = dedup_key(_STRING.sub("?", normalized))
    return _LIST.sub("(?)", _NUMBER.sub(lambda m: m.group(1) or "?", masked))


def sql_key(sql: str, *, dialect: str = "sqlite") -> str:
    """What exact-match scoring compares: :func:`dedup_key` of :func:`normalize_sql`.

    Text that does not parse (a model's broken answer) keeps its own spelling,
    with spaces collapsed, keywords and names lower-cased and a trailing ``;`` dropped,
    so it can still equal the same broken text.
    """
    text = str(sql).strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    try:
        return dedup_key(normalize_sql(text, dialect=dialect))
    except ValueError:
        return dedup_key(text)


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


def limit_probe(sql: str, *, dialect: str = "sqlite") -> tuple[str, int | None] | None:
    """For a ``SELECT … ORDER BY … LIMIT k``: a query of its ordering keys limited to ``k + 1`` rows, and ``k``.

    If rows ``k`` and ``k + 1`` of the probe are equal, the ``LIMIT`` cuts through a tie. ``None``
    for other queries; ``k`` is ``None`` when the limit is not a plain number.
    """
    sqlglot, exp = _sqlglot()
    tree = sqlglot.parse_one(sql, read=dialect)
    if not isinstance(tree, exp.Select) or tree.args.get("order") is None or tree.args.get("limit") is None:
        return None
    try:
        k = int(tree.args["limit"].expression.this)
    except (AttributeError, ValueError, TypeError):
        return "", None
    probe = tree.copy()
    probe.set("expressions", [o.this.copy() for o in tree.args["order"].expressions])
    probe.set("distinct", None)
    probe.set("limit", None)
    return probe.limit(k + 1).sql(dialect=dialect), k
