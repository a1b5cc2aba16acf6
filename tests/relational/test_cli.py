"""The commands on a whole database: inspect, fit, sample (SQLite and Parquet folder), evaluate, and bad input."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
from typer.testing import CliRunner

from synthera.cli import app
from synthera.relational import Schema, read_database, write_database
from tests.helpers import one_line_error
from tests.relational.conftest import shop

runner = CliRunner()


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory):
    """A SQLite file with declared keys: customers -> orders -> items <- products."""
    tables, schema = shop(n_customers=80)
    path = tmp_path_factory.mktemp("db") / "shop.db"
    write_database(tables, schema, path)
    return path


@pytest.fixture(scope="module")
def shop_model(shop_db, tmp_path_factory):
    folder = tmp_path_factory.mktemp("model") / "shop-model"
    result = runner.invoke(app, ["fit", str(shop_db), "--out", str(folder)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "relational model on 4 tables" in result.stdout
    return folder


def test_inspect_prints_tables_keys_and_graph_and_writes_the_schema(shop_db, tmp_path):
    out = tmp_path / "shop.schema.json"
    result = runner.invoke(app, ["inspect", str(shop_db), "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    for name in ("customers", "orders", "items", "products"):
        assert name in result.stdout
    assert "orders.customer_id -> customers.id (declared" in result.stdout
    assert "items.product_id -> products.product_id" in result.stdout
    schema = Schema.load(out)
    assert schema.tables["items"].primary_key == ["order_id", "line"]
    assert len(schema.foreign_keys) == 3


def test_fit_sample_sqlite_and_parquet_and_evaluate(shop_db, shop_model, tmp_path):
    db = tmp_path / "synthetic.db"
    result = runner.invoke(app, ["sample", str(shop_model), "--scale", "1.0", "--out", str(db), "--seed", "0"])
    assert result.exit_code == 0, result.stdout + result.stderr
    with sqlite3.connect(db) as conn:  # same DDL: declared foreign keys, and they hold
        fks = conn.execute("SELECT * FROM pragma_foreign_key_list('items')").fetchall()
        assert {row[2] for row in fks} == {"orders", "products"}
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    tables, _ = read_database(db)
    assert tables["orders"]["customer_id"].isin(tables["customers"]["id"]).all()
    folder = tmp_path / "synthetic"
    result = runner.invoke(app, ["sample", str(shop_model), "--scale", "0.5", "--out", str(folder), "--seed", "0"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (folder / "customers.parquet").is_file() and (folder / "schema.json").is_file()
    assert len(pd.read_parquet(folder / "customers.parquet")) == 40
    eval_dir = tmp_path / "eval"
    result = runner.invoke(app, ["evaluate", "--real", str(shop_db), "--synthetic", str(db), "--out", str(eval_dir)])
    assert result.exit_code == 0, result.stdout + result.stderr
    results = json.loads((eval_dir / "results.json").read_text())
    assert results["referential_integrity"]["score"] == 1.0
    assert set(results["cardinality"]["foreign_keys"]) == {"orders.customer_id", "items.order_id", "items.product_id"}
    assert 'data-plot="schema-graph"' in (eval_dir / "report.html").read_text()


def test_fit_only_some_tables(shop_db, tmp_path):
    result = runner.invoke(app, ["fit", str(shop_db), "--out", str(tmp_path / "m"), "--tables", "customers,orders"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "2 tables" in result.stdout and "1 foreign keys" in result.stdout


def test_bad_input_is_one_line(shop_db, shop_model, tmp_path):
    one_line_error(runner.invoke(app, ["fit", str(shop_db), "--out", str(tmp_path / "m"), "--tables", "orders,nope"]),
                   "unknown table 'nope' in --tables", "customers")
    bad = json.loads(Schema.load(_schema(shop_db, tmp_path)).to_json())
    bad["foreign_keys"][0]["parent"] = "clients"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    one_line_error(runner.invoke(app, ["fit", str(shop_db), "--out", str(tmp_path / "m2"), "--metadata",
                                       str(tmp_path / "bad.json")]), "clients")
    one_line_error(runner.invoke(app, ["fit", str(shop_db), "--out", str(tmp_path / "m3"), "--epochs", "3"]),
                   "--epochs applies to one table", "drop --epochs")
    one_line_error(runner.invoke(app, ["sample", str(shop_model), "--rows", "10", "--out", str(tmp_path / "s.db")]),
                   "--scale", "drop --rows")
    one_line_error(runner.invoke(app, ["sample", str(shop_model), "--scale", "-1", "--out", str(tmp_path / "s.db")]),
                   "--scale must be above 0")


def _schema(shop_db, tmp_path):
    out = tmp_path / "s.json"
    assert runner.invoke(app, ["inspect", str(shop_db), "--out", str(out)]).exit_code == 0
    return out
