"""Text-to-SQL over a whole synthetic database: joins follow its declared keys, composite keys whole.

The database is the relational model's output (fit on a small shop, sampled, written with
write_database): customers (with a self-reference) -> orders (two keys to customers) ->
order_items (composite primary key) <- returns (composite foreign key), and products.
"""

from __future__ import annotations

import json
import re
import sqlite3

import numpy as np
import pandas as pd
import pytest

from synthera.errors import UserInputError
from synthera.text.sql.grammar import SQLSampler, is_join_family
from synthera.text.sql.schema import ForeignKey, read_schema


def shop(n: int = 80, seed: int = 0):
    """Five tables: a self-reference, two keys to one parent, a composite primary key and a composite foreign key."""
    from synthera.relational import Schema

    rng = np.random.default_rng(seed)
    customers = pd.DataFrame({"customer_id": np.arange(1, n + 1),
                              "country": rng.choice(["France", "Germany", "Spain"], n),
                              "segment": rng.choice(["retail", "business"], n, p=[0.7, 0.3]),
                              "age": rng.integers(18, 80, n)})
    ref = rng.integers(1, n + 1, n).astype(float)
    ref[rng.random(n) < 0.5] = np.nan
    customers["referred_by"] = pd.array(ref, dtype="Int64")
    products = pd.DataFrame({"product_id": np.arange(1, 61), "category": rng.choice(["books", "games", "garden"], 60),
                             "price": np.round(rng.uniform(2, 90, 60), 2)})
    k = rng.integers(1, 5, n)
    orders = pd.DataFrame({"order_id": np.arange(1, k.sum() + 1),
                           "customer_id": np.repeat(customers["customer_id"].to_numpy(), k),
                           "channel": rng.choice(["web", "store", "phone"], k.sum()),
                           "total": np.round(rng.gamma(2, 20, k.sum()), 2)})
    gift = rng.integers(1, n + 1, len(orders)).astype(float)
    gift[rng.random(len(orders)) < 0.6] = np.nan
    orders["gift_for"] = pd.array(gift, dtype="Int64")
    m = rng.integers(1, 4, len(orders))
    items = pd.DataFrame({"order_id": np.repeat(orders["order_id"].to_numpy(), m),
                          "line": np.concatenate([np.arange(1, x + 1) for x in m]),
                          "product_id": rng.integers(1, 61, m.sum()), "quantity": rng.integers(1, 6, m.sum())})
    returns = items.sample(frac=0.25, random_state=seed)[["order_id", "line"]].reset_index(drop=True)
    returns.insert(0, "return_id", np.arange(1, len(returns) + 1))
    returns["reason"] = rng.choice(["damaged", "late", "unwanted"], len(returns))
    fk = [("customers", ["referred_by"], "customers", ["customer_id"], True),
          ("orders", ["customer_id"], "customers", ["customer_id"], False),
          ("orders", ["gift_for"], "customers", ["customer_id"], True),
          ("order_items", ["order_id"], "orders", ["order_id"], False),
          ("order_items", ["product_id"], "products", ["product_id"], False),
          ("returns", ["order_id", "line"], "order_items", ["order_id", "line"], False)]
    schema = Schema.from_dict({
        "tables": {"customers": {"primary_key": ["customer_id"]}, "products": {"primary_key": ["product_id"]},
                   "orders": {"primary_key": ["order_id"]}, "order_items": {"primary_key": ["order_id", "line"]},
                   "returns": {"primary_key": ["return_id"]}},
        "foreign_keys": [{"child": c, "columns": cols, "parent": p, "parent_columns": pcols, "nullable": null}
                         for c, cols, p, pcols, null in fk]})
    tables = {"customers": customers, "products": products, "orders": orders, "order_items": items,
              "returns": returns}
    return tables, schema


DECLARED = {
    ("customers", ("referred_by",), "customers", ("customer_id",)),
    ("orders", ("customer_id",), "customers", ("customer_id",)),
    ("orders", ("gift_for",), "customers", ("customer_id",)),
    ("order_items", ("order_id",), "orders", ("order_id",)),
    ("order_items", ("product_id",), "products", ("product_id",)),
    ("returns", ("order_id", "line"), "order_items", ("order_id", "line")),
}


@pytest.fixture(scope="module")
def synthetic_db(tmp_path_factory):
    """The relational model's synthetic twin of the shop, written as a SQLite file with its keys."""
    from synthera.relational import RelationalSynthesizer, write_database

    tables, schema = shop()
    model = RelationalSynthesizer().fit(tables, schema=schema)
    path = tmp_path_factory.mktemp("joins") / "synthetic.db"
    write_database(model.sample(scale=1.0, seed=0), schema, path)
    return path


def test_written_synthetic_db_declares_every_key(synthetic_db):
    found = {(fk.table, fk.columns, fk.ref_table, fk.ref_columns) for fk in read_schema(synthetic_db).foreign_keys}
    assert found == DECLARED
    sampler = SQLSampler(synthetic_db, seed=0)
    try:
        assert {(fk.table, fk.columns, fk.ref_table, fk.ref_columns) for fk in sampler.links} == DECLARED
        assert "returns.(order_id, line) -> order_items.(order_id, line)" in sampler.describe_database()["foreign_keys"]
        assert sampler.family_report()["joins"] == {"links": 6, "join_share": 0.35}
    finally:
        sampler.close()


_ALIAS = re.compile(r"\b(\w+) AS (T\d)\b")
_ON = re.compile(r"\bON (.+?)(?= JOIN | WHERE | GROUP BY | ORDER BY |$)")
_EQ = re.compile(r"(T\d)\.(\w+) = (T\d)\.(\w+)")


def _join_keys(sql: str) -> list[tuple]:
    """Each ``JOIN ... ON`` of ``sql`` as ``(child, columns, parent, parent columns)``, the child on the left."""
    alias = {a: t for t, a in _ALIAS.findall(sql)}
    out = []
    for cond in _ON.findall(sql):
        pairs = _EQ.findall(cond)
        assert len(pairs) == cond.count("=") and " OR " not in cond, cond
        (left, _, right, _) = pairs[0]
        assert all(p[0] == left and p[2] == right for p in pairs), cond
        out.append((alias[left], tuple(p[1] for p in pairs), alias[right], tuple(p[3] for p in pairs)))
    return out


def test_cli_reports_the_join_share(synthetic_db, tmp_path):
    from typer.testing import CliRunner

    from synthera.cli.main import app

    out = tmp_path / "cli.jsonl"
    result = CliRunner().invoke(app, ["text", "generate", "--task", "text-to-sql", "--db", str(synthetic_db),
                                      "--model", "template", "--n", "30", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("join questions:"))
    assert re.match(r"join questions: \d+ of 30 kept \(\d+%; 35% asked\) over 6 foreign keys$", line), line


def test_join_questions_run_and_follow_the_declared_keys(synthetic_db, tmp_path):
    from synthera.text.pipeline import GenerationConfig, generate

    config = GenerationConfig(task="text-to-sql", n=120, seed=0, model="template", db=str(synthetic_db)).validated()
    result = generate(config, out=tmp_path / "sql.jsonl", progress=False)
    metas = [r["meta"] for r in result.records]
    joins = [m for m in metas if is_join_family(m["family"])]
    assert len(metas) == 120
    assert len(joins) / len(metas) >= 0.2, "a linked database gives a useful share of join questions"
    assert result.stats["grammar"]["joins"]["links"] == 6
    composite = 0
    with sqlite3.connect(synthetic_db) as conn:
        for m in joins:
            assert conn.execute(m["sql"]).fetchall(), m["sql"]  # runs and returns rows
            for key in _join_keys(m["sql"]):
                assert key in DECLARED, f"joined on undeclared columns: {m['sql']}"
                composite += key[1] == ("order_id", "line")
    assert any(len(_join_keys(m["sql"])) == 2 for m in joins), "two-hop joins appear"
    assert composite, "the composite key is joined on, on both of its columns"


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_join_share_controls_the_families(synthetic_db, share):
    sampler = SQLSampler(synthetic_db, seed=1, join_share=share)
    try:
        families = []
        for level in ("easy", "medium", "hard", "extra") * 15:
            cand = sampler.sample(level)
            if cand is not None:
                families.append(cand.family)
        assert families and not sampler.errors
        assert all(is_join_family(f) == bool(share) for f in families)
    finally:
        sampler.close()


def test_join_share_is_checked(synthetic_db):
    with pytest.raises(UserInputError, match="join_share must be a number from 0 to 1") as err:
        SQLSampler(synthetic_db, join_share=1.5)
    assert "\n" not in str(err.value)


def test_self_reference_and_twin_keys_are_named_in_the_question(synthetic_db):
    sampler = SQLSampler(synthetic_db, seed=3, join_share=1.0)
    try:
        seen = 0
        for _ in range(200):
            cand = sampler.sample("medium")
            if cand is None:
                continue
            keys = _join_keys(cand.sql)
            if keys and keys[0][0] in ("customers", "orders") and keys[0][2] == "customers":
                assert keys[0][1][0].replace("_", " ") in cand.question.lower(), cand.question
                seen += 1
        assert seen
    finally:
        sampler.close()


def test_composite_key_is_read_whole_and_written_whole(tmp_path):
    from synthera.text.sql.databases import database_from_tables

    parent = pd.DataFrame({"a": [1, 1, 2], "b": [1, 2, 1], "v": ["x", "y", "z"]})
    child = pd.DataFrame({"id": [1, 2, 3], "a": [1, 1, 2], "b": [2, 2, 1]})
    fk = ForeignKey("child", ("a", "b"), "parent", ("a", "b"))
    path = database_from_tables({"parent": parent, "child": child}, tmp_path / "c.db",
                                primary_keys={"parent": ["a", "b"], "child": "id"}, foreign_keys=[fk])
    schema = read_schema(path)
    assert schema.foreign_keys == [fk]
    assert [c.name for c in schema.table("parent").columns if c.primary_key] == ["a", "b"]
    assert ForeignKey("x", ("a",), "y", ["b"]) == ForeignKey("x", "a", "y", "b")
    with pytest.raises(ValueError, match="pairs 2 columns with 1"):
        ForeignKey("x", ("a", "b"), "y", "b")


def test_undeclared_links_need_a_key_and_contained_values(tmp_path):
    from synthera.text.sql.databases import database_from_tables

    rng = np.random.default_rng(0)
    stores = pd.DataFrame({"store_id": np.arange(1, 11), "city": rng.choice(["A", "B"], 10),
                           "size": np.arange(100, 110)})
    sales = pd.DataFrame({"sale_id": np.arange(1, 61), "store_id": rng.integers(1, 11, 60),
                          "size": rng.integers(100, 110, 60), "kind": rng.choice(["x", "y"], 60)})
    path = database_from_tables({"stores": stores, "sales": sales}, tmp_path / "k.db")
    sampler = SQLSampler(path, seed=0)
    try:
        assert [(fk.table, fk.column, fk.ref_table) for fk in sampler.links] == [("sales", "store_id", "stores")]
    finally:
        sampler.close()


def test_link_table_of_keys_only_raises_in_no_family(tmp_path):
    """A many-to-many link table holds only keys: no family may ask about it alone, none may raise."""
    from synthera.text.sql.databases import database_from_tables

    rng = np.random.default_rng(0)
    students = pd.DataFrame({"id": np.arange(1, 31), "year": rng.integers(1, 5, 30),
                             "track": rng.choice(["math", "art"], 30)})
    courses = pd.DataFrame({"id": np.arange(1, 11), "level": rng.choice(["intro", "adv"], 10),
                            "credits": rng.integers(1, 7, 10)})
    pairs = sorted({(int(s), int(c)) for s, c in zip(rng.integers(1, 31, 90), rng.integers(1, 11, 90), strict=True)})
    enrolments = pd.DataFrame(pairs, columns=["student", "course"])
    path = database_from_tables(
        {"students": students, "courses": courses, "enrolments": enrolments}, tmp_path / "school.db",
        primary_keys={"students": "id", "courses": "id", "enrolments": ["student", "course"]},
        foreign_keys=[("enrolments", "student", "students", "id"), ("enrolments", "course", "courses", "id")])
    for share in (0.0, 1.0):
        sampler = SQLSampler(path, seed=0, join_share=share)
        try:
            got = [sampler.sample(level) for level in ("easy", "medium", "hard", "extra") * 40]
            assert not sampler.errors, sampler.family_report()["error_examples"]
            assert any(c is not None for c in got)
        finally:
            sampler.close()


def test_cli_join_share_sets_the_share_and_is_checked(synthetic_db, tmp_path):
    from typer.testing import CliRunner

    from synthera.cli.main import app
    from synthera.text.pipeline import GenerationConfig
    from tests.helpers import one_line_error

    out = tmp_path / "all.jsonl"
    args = ["text", "generate", "--task", "text-to-sql", "--db", str(synthetic_db), "--model", "template",
            "--n", "20", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--join-share", "1"])
    assert result.exit_code == 0, result.stderr
    metas = [json.loads(line)["meta"] for line in out.read_text().splitlines()]
    assert metas and all(is_join_family(m["family"]) for m in metas)
    stats = json.loads(out.with_name(out.stem + ".manifest.json").read_text())["stats"]
    assert stats["distribution"]["joins"] == {"kept": len(metas), "share": 1.0}
    one_line_error(CliRunner().invoke(app, [*args, "--join-share", "1.5"]), "--join-share must be a number")
    with pytest.raises(UserInputError, match="join_share only apply to text-to-sql"):
        GenerationConfig(task="qa", n=5, model="fake", join_share=0.5).validated()
