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
    assert execute_sql(f"sqlite:///{shop_db}", "SELECT city FROM stores ORDER BY city LIMIT 2") == [("Lagos",), ("Lima",)]
    assert len(execute_sql(shop_db, "SELECT * FROM sales", max_rows=7)) == 7


def test_execute_sql_errors_timeout_and_read_only(shop_db):
    with pytest.raises(SQLExecutionError, match="no such column"):
        execute_sql(shop_db, "SELECT nope FROM sales")
    with pytest.raises(SQLExecutionError, match="timeout"):
        execute_sql(shop_db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                             "SELECT COUNT(*) FROM c", timeout_s=0.2)
    with pytest.raises(SQLExecutionError, match="readonly"):
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


def test_results_match_orders_and_floats():
    assert results_match([(1, 2.0000001)], [(1, 2.0)])
    assert results_match([(1,), (2,)], [(2,), (1,)])
    assert not results_match([(1,), (2,)], [(2,), (1,)], ordered=True)
    assert not results_match([(1,), (1,)], [(1,)])
