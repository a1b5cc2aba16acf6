"""SQLite helpers: building a database from frames and running SQL with a timeout."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from synthera.errors import DataError, UserInputError
from synthera.text.sql import (
    SQLExecutionError,
    database_from_tables,
    execute_sql,
    quote_identifier,
    read_schema,
    results_match,
)


def test_quote_identifier_only_when_needed():
    assert quote_identifier("age") == "age"
    assert quote_identifier("education-num") == '"education-num"'
    assert quote_identifier("product name") == '"product name"'
    assert quote_identifier("order") == '"order"'
    assert quote_identifier('we"ird') == '"we""ird"'


def test_database_round_trip_keeps_names_types_and_keys(shop_db):
    schema = read_schema(shop_db)
    assert [t.name for t in schema.tables] == ["stores", "sales"]
    sales = schema.table("sales")
    assert [c.name for c in sales.columns][:4] == ["sale_id", "store_id", "unit-price", "quantity"]
    assert sales.column("unit-price").kind == "numeric"
    assert sales.column("product name").kind == "text"
    assert schema.foreign_keys[0].ref_table == "stores"
    ddl = schema.ddl()
    assert '"unit-price" REAL' in ddl and '"order" TEXT' in ddl and "REFERENCES stores" in ddl
    assert ddl.count("CREATE TABLE") == 2


def test_execute_sql_returns_rows_and_reads_odd_columns(shop_db):
    rows = execute_sql(shop_db, 'SELECT COUNT(*), MAX("unit-price") FROM sales WHERE "order" = \'phone\'')
    direct = sqlite3.connect(shop_db).execute(
        "SELECT COUNT(*), MAX(\"unit-price\") FROM sales WHERE \"order\" = 'phone'").fetchone()
    assert rows == [direct]
    rows = execute_sql(f"sqlite:///{shop_db}", "SELECT city FROM stores ORDER BY city LIMIT 2")
    assert rows == [("Lagos",), ("Lima",)]
    assert len(execute_sql(shop_db, "SELECT * FROM sales", max_rows=7)) == 7


def test_execute_sql_errors_timeout_and_read_only(shop_db):
    with pytest.raises(SQLExecutionError, match="no such column"):
        execute_sql(shop_db, "SELECT nope FROM sales")
    with pytest.raises(SQLExecutionError, match="timeout"):
        execute_sql(shop_db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                             "SELECT COUNT(*) FROM c", timeout_s=0.2)
    with pytest.raises(SQLExecutionError, match="read-only"):
        execute_sql(shop_db, "DELETE FROM sales")
    assert execute_sql(shop_db, "SELECT COUNT(*) FROM sales") == [(300,)]
    with pytest.raises(DataError, match="not found"):
        execute_sql(shop_db.parent / "missing.db", "SELECT 1")


def test_database_from_tables_refuses_bad_input(tmp_path):
    with pytest.raises(UserInputError, match="no tables"):
        database_from_tables({}, tmp_path / "x.db")
    with pytest.raises(UserInputError, match="foreign key"):
        database_from_tables({"a": pd.DataFrame({"x": [1]})}, tmp_path / "x.db", foreign_keys=[("a", "y", "a", "x")])
    assert not (tmp_path / "x.db").exists()


def test_results_match_follows_spider_rules():
    assert results_match([(1,), (2,)], [(2,), (1,)])  # a bag of rows: order free
    assert not results_match([(1,), (2,)], [(2,), (1,)], ordered=True)  # unless the gold sorts
    assert not results_match([(1,), (1,)], [(1,)])  # duplicates count
    assert results_match([(1, "a"), (2, "b")], [("a", 1), ("b", 2)])  # column order free
    assert not results_match([(1, "a"), (2, "b")], [("a", 2), ("b", 1)])  # one permutation must fit every row
    assert results_match([(2,)], [(2.0,)]) and not results_match([("2",)], [(2,)])
    assert not results_match([(1, 2.0000000001)], [(1, 2.0)])  # floats exactly, as the official evaluator
    assert not results_match([(0.1 + 0.2,)], [(0.3,)])
    assert results_match([(1, 2.0000000001)], [(1, 2.0)], significant_digits=9)  # generation's scan-order check
    assert not results_match([(1, 2.0000001)], [(1, 2.0)], significant_digits=9)
    assert results_match([], []) and not results_match([(None,)], [])
    with pytest.raises(ValueError, match="mode"):
        results_match([], [], mode="fuzzy")


def test_results_match_modes_for_bird_and_the_former_rule():
    assert results_match([(1,), (1,)], [(1,)], mode="bird")  # sets
    assert not results_match([(1, "a")], [("a", 1)], mode="bird")  # columns in order
    assert results_match([(0.33331,)], [(0.3333,)], mode="strict")  # 4 decimals
    assert not results_match([(1, "a")], [("a", 1)], mode="strict")


def test_generation_and_scoring_use_one_rule(tmp_path):
    """The generator verifies and the evaluation scores with the same comparison (6 vs 4 decimals before)."""
    from synthera.text.metrics import execution_match
    from synthera.text.sql import has_order_by

    conn = sqlite3.connect(":memory:")
    pairs = [("SELECT 1.0 / 3", "SELECT 0.3333"), ("SELECT 1.0 / 3", "SELECT 0.333333333"),
             ("SELECT 1, 'a'", "SELECT 'a', 1"), ("SELECT 2", "SELECT 2.0")]
    for gold, pred in pairs:
        same = results_match(execute_sql(conn, gold), execute_sql(conn, pred), ordered=has_order_by(gold))
        assert execution_match(pred, gold, conn) == same, (gold, pred)
    assert not execution_match("SELECT 0.3333", "SELECT 1.0 / 3", conn)


def test_schema_prompt_shows_stored_values_but_never_identifiers(tmp_path):
    from synthera.text.sql import column_values, schema_prompt

    n = 120
    frame = pd.DataFrame({
        "person_id": range(n),
        "name": [f"person {i}" for i in range(n)],  # unique: a name is never shown
        "income": [">50K" if i % 3 == 0 else "<=50K" for i in range(n)],
        "country": [f"land-{i % 12}" for i in range(n)],  # more values than are shown
        "remote": [i % 2 for i in range(n)],  # a 0/1 flag
        "hours": [20 + i % 40 for i in range(n)],  # a measure: no values
        "note": ["x" * 70 if i % 2 else "short" for i in range(n)],  # a long value is left out
    })
    db = database_from_tables({"jobs": frame}, tmp_path / "jobs.db", primary_keys={"jobs": "person_id"})
    values = column_values(db, read_schema(db))["jobs"]
    assert set(values) == {"income", "country", "remote", "note"}
    assert values["income"].top == ("<=50K", ">50K") and values["income"].distinct == 2
    prompt = schema_prompt(db)
    assert "  income TEXT, -- values: '<=50K', '>50K'\n" in prompt
    assert "  remote INTEGER, -- values: 0, 1\n" in prompt
    assert "country TEXT, -- e.g. 'land-0', 'land-1', " in prompt and "…" in prompt
    assert "  note TEXT -- e.g. 'short', …\n);" in prompt
    assert "person 1" not in prompt and "hours INTEGER,\n" in prompt
    assert prompt.rstrip().endswith(");") and prompt.count(";") == 1
    assert schema_prompt(db) == prompt  # the same on every run


def test_schema_prompt_on_one_line_ddl_puts_values_after_the_statement(tmp_path):
    from synthera.text.sql import schema_prompt

    path = tmp_path / "flat.db"
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE t (sex TEXT, "order" INTEGER)')
    conn.executemany("INSERT INTO t VALUES (?, ?)", [("F" if i % 2 else "M", i) for i in range(10)])
    conn.commit()
    conn.close()
    assert schema_prompt(path) == 'CREATE TABLE t (sex TEXT, "order" INTEGER);\n-- t.sex values: \'F\', \'M\''
