"""Whole databases in and out of PostgreSQL: keys declared, synthetic twins that join, all or nothing.

Runs when SYNTHERA_TEST_POSTGRES_URL names a database we may write to (as tests/test_io_postgres.py).
Each test works in a schema of its own, reached through the URL's search_path and dropped afterwards,
so tables left by other runs can neither help nor hurt it.
"""

from __future__ import annotations

import os
import uuid

import pandas as pd
import pytest

from synthera.errors import DataError, UserInputError
from synthera.relational import RelationalSynthesizer, read_database, write_database
from tests.relational.conftest import company, shop

URL = os.environ.get("SYNTHERA_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="set SYNTHERA_TEST_POSTGRES_URL to test against PostgreSQL")


def _schema_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(URL).update_query_dict({"options": f"-csearch_path={name}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def pg():
    """A URL whose tables land in a fresh schema, and a function listing that schema's tables."""
    from sqlalchemy import create_engine, inspect, text

    names = {}  # url -> schema
    engine = create_engine(URL)

    def new_schema() -> str:
        name = f"s_{uuid.uuid4().hex[:8]}"
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {name}"))
        names[_schema_url(name)] = name
        return _schema_url(name)

    def tables(url: str) -> list[str]:
        with engine.connect() as conn:
            return sorted(inspect(conn).get_table_names(schema=names[url]))

    new_schema.tables = tables
    yield new_schema
    with engine.begin() as conn:
        for name in names.values():
            conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
    engine.dispose()


def _declared(url: str) -> tuple[dict, set]:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            pks = {t: insp.get_pk_constraint(t)["constrained_columns"] for t in insp.get_table_names()}
            fks = {(t, tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                   for t in insp.get_table_names() for fk in insp.get_foreign_keys(t)}
    finally:
        engine.dispose()
    return pks, fks


def test_real_to_synthetic_round_trip_keeps_keys(pg):
    tables, schema = shop(n_customers=80)
    real = pg()
    write_database(tables, schema, real)
    assert pg.tables(real) == ["customers", "items", "orders", "products"]
    read, found = read_database(real)
    assert found.tables["items"].primary_key == ["order_id", "line"]
    assert {fk.name for fk in found.foreign_keys} == {fk.name for fk in schema.foreign_keys}
    synthetic = RelationalSynthesizer().fit(read, schema=found).sample(scale=1.0, seed=0)
    twin = pg()
    shown = write_database(synthetic, found, twin)
    assert "search_path" in shown
    pks, fks = _declared(twin)
    assert pks == {"customers": ["id"], "orders": ["order_id"], "products": ["product_id"],
                   "items": ["order_id", "line"]}
    assert fks == {("orders", ("customer_id",), "customers", ("id",)),
                   ("items", ("order_id",), "orders", ("order_id",)),
                   ("items", ("product_id",), "products", ("product_id",))}
    back, again = read_database(twin)
    assert {n: len(df) for n, df in back.items()} == {n: len(df) for n, df in synthetic.items()}
    assert back["orders"]["customer_id"].isin(back["customers"]["id"]).all()
    assert back["items"]["product_id"].isin(back["products"]["product_id"]).all()
    assert {fk.name for fk in again.foreign_keys} == {fk.name for fk in schema.foreign_keys}


def test_self_reference_and_cycle_are_declared(pg):
    tables, schema = company()
    url = pg()
    write_database(tables, schema, url)
    _, fks = _declared(url)
    assert ("employees", ("reports_to",), "employees", ("id",)) in fks
    assert ("departments", ("head",), "employees", ("id",)) in fks
    back, found = read_database(url)
    assert {fk.name for fk in found.foreign_keys} == {fk.name for fk in schema.foreign_keys}
    pd.testing.assert_series_equal(back["employees"]["reports_to"].sort_index(),
                                   tables["employees"]["reports_to"], check_dtype=False)


def test_failure_mid_write_leaves_no_table(pg):
    tables, schema = shop(n_customers=40)
    url = pg()
    broken = dict(tables)
    broken["items"] = pd.concat([tables["items"], tables["items"].head(1)])  # the last table breaks its key
    with pytest.raises(DataError, match="cannot write the database") as err:
        write_database(broken, schema, url)
    assert "\n" not in str(err.value)
    assert pg.tables(url) == []


def test_broken_deferred_key_fails_at_commit_and_leaves_nothing(pg):
    tables, schema = company()
    url = pg()
    employees = tables["employees"].copy()
    employees.loc[5, "reports_to"] = 999  # checked at commit: a self-reference is deferred
    with pytest.raises(DataError):
        write_database({**tables, "employees": employees}, schema, url)
    assert pg.tables(url) == []


def test_existing_tables_are_refused_then_replaced_whole(pg):
    tables, schema = shop(n_customers=40)
    url = pg()
    write_database(tables, schema, url)
    with pytest.raises(UserInputError, match="already exists.*replace=True"):
        write_database(tables, schema, url)
    smaller = {**tables, "customers": tables["customers"].head(10)}
    smaller["orders"] = tables["orders"][tables["orders"]["customer_id"] <= 10]
    smaller["items"] = tables["items"][tables["items"]["order_id"].isin(smaller["orders"]["order_id"])]
    write_database(smaller, schema, url, replace=True)
    assert len(read_database(url)[0]["customers"]) == 10
    broken = {**smaller, "items": pd.concat([smaller["items"], smaller["items"].head(1)])}
    with pytest.raises(DataError):
        write_database(broken, schema, url, replace=True)
    assert len(read_database(url)[0]["customers"]) == 10, "a failed replace keeps the old tables"


def test_text_to_sql_joins_over_a_synthetic_database_in_postgres(pg, tmp_path):
    """The whole road through PostgreSQL: a synthetic twin written there gives join questions over its keys."""
    from synthera.text.pipeline import GenerationConfig, generate
    from synthera.text.sql.grammar import is_join_family

    tables, schema = shop(n_customers=60)
    url = pg()
    write_database(RelationalSynthesizer().fit(tables, schema=schema).sample(scale=1.0, seed=0), schema, url)
    config = GenerationConfig(task="text-to-sql", n=40, seed=0, model="template", db=url).validated()
    result = generate(config, out=tmp_path / "sql.jsonl", progress=False)
    assert result.manifest["source"]["kind"] == "mirrored"
    assert sorted(result.manifest["database"]["foreign_keys"]) == [
        "items.order_id -> orders.order_id", "items.product_id -> products.product_id",
        "orders.customer_id -> customers.id"]
    joins = [r["meta"]["sql"] for r in result.records if is_join_family(r["meta"]["family"])]
    assert len(joins) >= 8
