"""The one SQL runner and the one rule for "these two results are the same".

Generation verifies a query with :func:`execute_sql` and :func:`results_match`,
and evaluation scores a model with the same two functions, so an example is
kept and scored by one rule.

>>> results_match([(1, "a"), (2, "b")], [("b", 2), ("a", 1)])  # a bag of rows; column order is free
True
>>> results_match([(1,), (2,)], [(2,), (1,)], ordered=True)
False
>>> results_match([(1,), (1,)], [(1,)])  # duplicates count
False
>>> results_match([(1,), (1,)], [(1,)], mode="bird")  # BIRD compares sets
True
"""

from __future__ import annotations

import itertools
import math
import os
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from synthera.errors import DataError, SyntheraError, UserInputError

__all__ = [
    "MATCH_MODES",
    "SQLExecutionError",
    "connect_readonly",
    "execute_sql",
    "has_order_by",
    "prepare_for_mode",
    "results_match",
    "sqlite_path",
]

MATCH_MODES = ("spider", "bird", "strict")
_MAX_PERMUTATIONS = 5_000  # column permutations tried before a result is called different


class SQLExecutionError(SyntheraError):
    """A query failed to run: a syntax error, a missing column, a refused write, or the timeout."""


def sqlite_path(db: str | os.PathLike) -> Path | None:
    """The file behind ``db`` when it is a SQLite file or ``sqlite:///`` URL, else ``None``."""
    text = os.fspath(db)
    if text.startswith("sqlite:///"):
        return Path(text[len("sqlite:///"):]).expanduser()
    if "://" in text:
        return None
    return Path(text).expanduser()


def connect_readonly(file: str | os.PathLike) -> sqlite3.Connection:
    """Open a SQLite file read-only (``mode=ro``); the connection may be shared between threads."""
    uri = "file:" + str(Path(file).resolve()).replace("?", "%3f").replace("#", "%23") + "?mode=ro"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


# --------------------------------------------------------------------------- running


_READ_ACTIONS = frozenset({
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
})


def _read_only(action, *_args) -> int:
    return sqlite3.SQLITE_OK if action in _READ_ACTIONS else sqlite3.SQLITE_DENY


def execute_sql(
    db: str | os.PathLike | sqlite3.Connection,
    sql: str,
    *,
    timeout_s: float = 5.0,
    max_rows: int | None = 10_000,
    truncate: bool = True,
    reverse_unordered: bool = False,
) -> list[tuple]:
    """Run one read-only query and return its rows.

    Parameters
    ----------
    db
        A SQLite file, a ``sqlite:///`` URL, another SQLAlchemy URL, or an open
        :class:`sqlite3.Connection` (reused, e.g. for thousands of checks).
    sql
        One SQL statement (a trailing ``;`` is allowed).
    timeout_s
        Stop the query after this many seconds (exact for SQLite; best effort
        elsewhere, where the driver's own timeout applies).
    max_rows
        Return at most this many rows (``None``: all).
    truncate
        ``True``: cut the result at ``max_rows``; ``False``: a longer result
        is an error (scoring must not compare a cut result).
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
        The query failed, tried to write (SQLite refuses anything but reads,
        even on a writable connection), or ran past ``timeout_s``.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise SQLExecutionError("empty query")
    sql = sql.strip().rstrip(";").rstrip()
    if isinstance(db, sqlite3.Connection):
        return _execute_sqlite(db, sql, timeout_s, max_rows, truncate, reverse_unordered)
    file = sqlite_path(db)
    if file is not None:
        if not file.is_file():
            raise DataError(f"database not found: {db}; check the path")
        conn = connect_readonly(file)
        try:
            return _execute_sqlite(conn, sql, timeout_s, max_rows, truncate, reverse_unordered)
        finally:
            conn.close()
    return _execute_sqlalchemy(os.fspath(db), sql, timeout_s, max_rows, truncate)


def _fetch(cursor, max_rows: int | None, truncate: bool) -> list[tuple]:
    if max_rows is None:
        return [tuple(r) for r in cursor.fetchall()]
    rows = cursor.fetchmany(max_rows if truncate else max_rows + 1)
    if len(rows) > max_rows:
        raise SQLExecutionError(f"the query returned more than {max_rows} rows")
    return [tuple(r) for r in rows]


def _execute_sqlite(conn, sql, timeout_s, max_rows, truncate, reverse_unordered) -> list[tuple]:
    deadline = time.monotonic() + timeout_s
    if reverse_unordered:
        conn.execute("PRAGMA reverse_unordered_selects = ON")
    conn.set_authorizer(_read_only)
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 2_000)
    try:
        cur = conn.execute(sql)
        rows = _fetch(cur, max_rows, truncate)
        cur.close()
        return rows
    except sqlite3.Warning as exc:  # e.g. several statements at once
        raise SQLExecutionError(str(exc)) from None
    except sqlite3.Error as exc:
        if time.monotonic() > deadline or "interrupted" in str(exc):
            raise SQLExecutionError(f"query ran past the {timeout_s:g} s timeout") from None
        if "not authorized" in str(exc) or "readonly" in str(exc):
            raise SQLExecutionError("not authorized: the database is read-only here; run a SELECT") from None
        raise SQLExecutionError(str(exc)) from None
    except (ValueError, OverflowError) as exc:  # a NUL in the text, an integer SQLite cannot hold
        raise SQLExecutionError(f"{type(exc).__name__}: {exc}") from None
    finally:
        conn.set_progress_handler(None, 0)
        conn.set_authorizer(None)
        if reverse_unordered:
            conn.execute("PRAGMA reverse_unordered_selects = OFF")


def _execute_sqlalchemy(url: str, sql: str, timeout_s: float, max_rows: int | None, truncate: bool) -> list[tuple]:
    from sqlalchemy import create_engine, text

    from synthera._secrets import redact

    args = {}
    if url.startswith(("postgresql", "postgres")):
        args = {"options": f"-c statement_timeout={int(timeout_s * 1000)}"}
    try:
        engine = create_engine(url, connect_args=args)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot open {redact(url)} ({type(exc).__name__}); check the URL") from None
    try:
        with engine.connect() as conn:
            return _fetch(conn.execute(text(sql)), max_rows, truncate)
    except SQLExecutionError:
        raise
    except Exception as exc:  # noqa: BLE001 - any driver error is a failed execution
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SQLExecutionError(redact(first[:300])) from None
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- comparing


def has_order_by(sql: str) -> bool:
    """Whether ``sql`` has an ``ORDER BY`` outside string literals (then row order is part of its answer)."""
    return re.search(r"\border\s+by\b", re.sub(r"'(?:[^']|'')*'", "''", sql), re.IGNORECASE) is not None


_QUOTED_OR_DISTINCT = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|\bdistinct\b""",
                                 re.IGNORECASE)
_CUR_YEAR = re.compile(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", re.IGNORECASE)


def _drop_distinct(sql: str) -> str:
    return _QUOTED_OR_DISTINCT.sub(lambda m: "" if m.group(0).lower() == "distinct" else m.group(0), sql)


def prepare_for_mode(gold: str, pred: str, mode: str = "spider") -> tuple[str, str, bool]:
    """``(gold, pred, ordered)`` as an evaluator in ``mode`` runs and compares them.

    ``spider`` does what the official test-suite evaluator does before running
    the queries: it repairs ``> =``, ``< =`` and ``! =``, writes 2020 for
    ``YEAR(CURDATE())``, removes every ``DISTINCT`` keyword (outside quotes),
    and keeps row order when the gold text contains ``order by``. ``bird``
    and ``strict`` run the queries as given; ``strict`` keeps row order when
    the gold has an ``ORDER BY`` outside string literals, ``bird`` never.
    """
    if mode == "spider":
        gold, pred = (_drop_distinct(_CUR_YEAR.sub("2020", q.replace("> =", ">=").replace("< =", "<=")
                                                   .replace("! =", "!="))) for q in (gold, pred))
        return gold, pred, "order by" in gold.lower()
    if mode == "bird":
        return gold, pred, False
    if mode == "strict":
        return gold, pred, has_order_by(gold)
    raise UserInputError(f"unknown comparison mode {mode!r}; use one of: {', '.join(MATCH_MODES)}")


def _spider_cell(value, digits: int | None = None):
    if isinstance(value, float):
        if math.isnan(value):
            return ("nan",)
        if digits is not None and not math.isinf(value):
            return float(f"{value:.{digits}g}")
    return value


def _strict_cell(value):
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        rounded = round(value, 4)
        return int(rounded) if rounded.is_integer() else rounded
    if isinstance(value, bytes):
        return value.hex()
    return value


def _bird_cell(value):
    return ("nan",) if isinstance(value, float) and math.isnan(value) else value


def _strict_key(row: tuple) -> tuple:
    return tuple((type(v).__name__ != "str", repr(v)) for v in row)


def _column_orders(gold: list[tuple], pred: list[tuple]):
    """Column permutations of ``pred`` worth trying: each column may only go where the gold column holds
    the same bag of values (the pruning Spider's evaluator does with its column constraints)."""
    width = len(gold[0])
    gold_cols = [Counter(r[i] for r in gold) for i in range(width)]
    pred_cols = [Counter(r[i] for r in pred) for i in range(width)]
    options = [[j for j in range(width) if pred_cols[j] == gold_cols[i]] for i in range(width)]
    if any(not o for o in options):
        return
    for order in itertools.islice(itertools.product(*options), _MAX_PERMUTATIONS):
        if len(set(order)) == width:
            yield order


def _spider_match(gold: list[tuple], pred: list[tuple], ordered: bool) -> bool:
    if not gold or not pred:
        return not gold and not pred
    if len(gold) != len(pred) or len(gold[0]) != len(pred[0]):
        return False
    if len({len(r) for r in gold}) != 1 or len({len(r) for r in pred}) != 1:
        return gold == pred if ordered else Counter(gold) == Counter(pred)
    for order in _column_orders(gold, pred):
        moved = [tuple(r[j] for j in order) for r in pred]
        if (moved == gold) if ordered else (Counter(moved) == Counter(gold)):
            return True
    return False


def results_match(
    gold: Sequence[Sequence],
    pred: Sequence[Sequence],
    *,
    ordered: bool = False,
    mode: str = "spider",
    significant_digits: int | None = None,
) -> bool:
    """Whether two query results hold the same answer (execution accuracy).

    ``mode="spider"`` (the default) follows the official Spider execution
    evaluator (Zhong et al., 2020, test-suite-sql-eval):

    * rows form a bag (multiset): order is ignored and duplicates count,
      unless ``ordered`` is true (pass it when the gold query has ``ORDER BY``,
      see :func:`has_order_by`), where the row order must match too;
    * column order is ignored: the result matches if some permutation of
      ``pred``'s columns gives the gold rows (so ``SELECT a, b`` answers
      ``SELECT b, a``); column names never matter;
    * values compare by Python equality, exactly as Spider does, so
      ``2 == 2.0`` and ``True == 1``, ``'2' != 2`` and ``0.1 + 0.2 != 0.3``;
      two empty results match.

    The query-level rules of the official evaluator (DISTINCT removed, ``> =``
    repaired, order from ``order by`` in the gold text) are applied by
    :func:`prepare_for_mode`, which :func:`~synthera.text.metrics.execution_match`
    calls first. ``significant_digits`` (``None``: exact, the official rule) lets
    floats agree to that many significant digits instead: generation uses it to
    check that a query answers the same when SQLite reads rows in another order
    (a float ``SUM`` changes in its last bits then).

    ``mode="bird"`` follows BIRD's evaluator: the rows compared as sets
    (duplicates and order ignored), columns in their order, values exact.
    ``mode="strict"`` is Synthera's former scoring rule: floats rounded to 4
    decimals, integral floats equal integers, bytes by their hex, columns in
    their order, rows as a bag unless ``ordered``.
    """
    if mode == "spider":
        return _spider_match([tuple(_spider_cell(v, significant_digits) for v in r) for r in gold],
                             [tuple(_spider_cell(v, significant_digits) for v in r) for r in pred], ordered)
    if mode == "bird":
        return {tuple(_bird_cell(v) for v in r) for r in gold} == {tuple(_bird_cell(v) for v in r) for r in pred}
    if mode == "strict":
        ca = [tuple(_strict_cell(v) for v in r) for r in gold]
        cb = [tuple(_strict_cell(v) for v in r) for r in pred]
        return ca == cb if ordered else sorted(ca, key=_strict_key) == sorted(cb, key=_strict_key)
    raise UserInputError(f"unknown comparison mode {mode!r}; use one of: {', '.join(MATCH_MODES)}")
