"""Databases in and out: SQLite (declared keys), folders with a schema, atomic writes, refusal to overwrite."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from synthera.errors import DataError, UserInputError
from synthera.relational import read_database, write_database
from tests.relational.conftest import company, shop


def test_sqlite_round_trip_keeps_keys_and_ddl(tmp_path):
    tables, schema = shop()
    target = tmp_path / "shop.db"
    write_database(tables, schema, target)
    with sqlite3.connect(target) as conn:
        fks = conn.execute("PRAGMA foreign_key_list(items)").fetchall()
        pk = [r[1] for r in conn.execute("PRAGMA table_info(items)").fetchall() if r[5]]
    assert {(r[2], r[3], r[4]) for r in fks} == {("orders", "order_id", "order_id"),
                                                 ("products", "product_id", "product_id")}
    assert pk == ["order_id", "line"]
    again, found = read_database(target)
    assert set(again) == set(tables)
    assert found.tables["items"].primary_key == ["order_id", "line"]
    assert {fk.name for fk in found.foreign_keys} == {fk.name for fk in schema.foreign_keys}
    pd.testing.assert_frame_equal(again["orders"], tables["orders"], check_dtype=False)


def test_sqlite_with_cycle_and_self_reference(tmp_path):
    tables, schema = company()
    write_database(tables, schema, tmp_path / "co.db")
    again, found = read_database(tmp_path / "co.db")
    assert {fk.name for fk in found.foreign_keys} == {fk.name for fk in schema.foreign_keys}
    assert found.order().index("departments") < found.order().index("employees")


def test_existing_tables_are_refused_unless_replace(tmp_path):
    tables, schema = shop()
    target = tmp_path / "shop.db"
    write_database(tables, schema, target)
    with pytest.raises(UserInputError, match="already exists.*replace=True") as err:
        write_database(tables, schema, target)
    assert "\n" not in str(err.value)
    smaller = {k: v.head(5) if k == "products" else v for k, v in tables.items()}
    smaller["items"] = smaller["items"][smaller["items"]["product_id"] <= 5]
    write_database(smaller, schema, target, replace=True)
    assert len(read_database(target)[0]["products"]) == 5


def test_failed_write_leaves_the_old_database(tmp_path):
    tables, schema = shop()
    target = tmp_path / "shop.db"
    write_database(tables, schema, target)
    before = target.read_bytes()
    broken = dict(tables)
    broken["orders"] = pd.concat([tables["orders"], tables["orders"].head(1)])  # duplicate primary key
    with pytest.raises(DataError):
        write_database(broken, schema, target, replace=True)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["shop.db"]


def test_parquet_folder_with_schema_round_trip(tmp_path):
    tables, schema = shop()
    out = tmp_path / "synthetic"
    write_database(tables, schema, out)
    assert sorted(p.name for p in out.iterdir()) == ["customers.parquet", "items.parquet", "orders.parquet",
                                                     "products.parquet", "schema.json"]
    again, found = read_database(out)
    assert found.tables["items"].primary_key == ["order_id", "line"]
    with pytest.raises(UserInputError, match="already exists"):
        write_database(tables, schema, out)


def test_csv_folder_without_schema_infers_keys(tmp_path):
    tables, _ = shop()
    for name, df in tables.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    again, found = read_database(tmp_path)
    assert {(fk.child, fk.parent) for fk in found.foreign_keys} == {
        ("orders", "customers"), ("items", "orders"), ("items", "products")}
    assert all(fk.evidence and fk.evidence["inferred"] for fk in found.foreign_keys)


def test_unknown_table_is_one_line(tmp_path):
    tables, schema = shop()
    write_database(tables, schema, tmp_path / "shop.db")
    with pytest.raises(UserInputError, match="unknown table 'nope'") as err:
        read_database(tmp_path / "shop.db", tables=["customers", "nope"])
    assert "\n" not in str(err.value)
    subset, found = read_database(tmp_path / "shop.db", tables=["customers", "orders"])
    assert set(subset) == {"customers", "orders"} and len(found.foreign_keys) == 1


def test_missing_source():
    with pytest.raises(UserInputError, match="not found"):
        read_database("/no/such/shop.db")


def test_sqlalchemy_url_read_and_write_in_one_transaction(tmp_path):
    tables, schema = shop()
    url = f"sqlite:///{tmp_path / 'target.db'}"
    assert write_database(tables, schema, url) == url
    again, found = read_database(url)
    assert found.tables["items"].primary_key == ["order_id", "line"]
    assert len(again["items"]) == len(tables["items"])
    with pytest.raises(UserInputError, match="already exists"):
        write_database(tables, schema, url)
