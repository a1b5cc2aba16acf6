"""The relational synthesizer: every schema shape fits and samples with keys that join."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synthera.errors import ModelFileError, NotFittedError, UserInputError
from synthera.relational import RelationalSynthesizer, Schema
from synthera.relational.metrics import cardinality_bounds, referential_integrity
from synthera.relational.schema import key_in
from tests.relational.conftest import company, flights_like, shop


def _joins(synthetic, schema):
    for fk in schema.foreign_keys:
        values = synthetic[fk.child][fk.columns].dropna()
        assert key_in(values, synthetic[fk.parent][fk.parent_columns]).all(), fk.name
    for name, t in schema.tables.items():
        if t.primary_key:
            df = synthetic[name]
            assert not df.duplicated(t.primary_key).any(), name
            assert not df[t.primary_key].isna().any().any(), name


@pytest.fixture(scope="module")
def shop_model():
    tables, schema = shop()
    return tables, schema, RelationalSynthesizer().fit(tables, schema=schema)


def test_depth_three_with_composite_key_and_second_parent(shop_model):
    tables, schema, model = shop_model
    synthetic = model.sample(seed=0)
    assert list(synthetic) == ["customers", "orders", "products", "items"]
    for name, df in synthetic.items():
        assert list(df.columns) == list(tables[name].columns)
    _joins(synthetic, schema)
    assert referential_integrity(tables, synthetic, schema)["score"] == 1.0
    assert cardinality_bounds(tables, synthetic, schema)["score"] >= 0.99
    # children per parent follow the parent: US customers order more, and spend more
    joined = synthetic["orders"].merge(synthetic["customers"], left_on="customer_id", right_on="id")
    per = joined.groupby("country")["amount"].mean()
    assert per["US"] > 2 * per["FR"]
    counts = joined.groupby("country").size() / synthetic["customers"].groupby("country").size()
    assert counts["US"] > 2 * counts["FR"]


def test_scale_and_seeds(shop_model):
    _, _, model = shop_model
    a, b = model.sample(seed=3), model.sample(seed=3)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not a["orders"].equals(model.sample(seed=4)["orders"])
    half = model.sample(scale=0.5, seed=0)
    assert len(half["customers"]) == 60 and len(half["products"]) == 15


def test_keys_are_generated(shop_model):
    tables, _, model = shop_model
    synthetic = model.sample(seed=0)
    assert synthetic["customers"]["id"].tolist() == list(range(1, len(synthetic["customers"]) + 1))


def test_conditions_reach_descendants(shop_model):
    _, schema, model = shop_model
    synthetic = model.sample(seed=0, conditions={"customers": {"country": "FR"}})
    assert set(synthetic["customers"]["country"]) == {"FR"}
    _joins(synthetic, schema)
    child = model.sample(seed=0, conditions={"items": {"qty": 2}})["items"]
    assert set(child["qty"]) == {2}
    with pytest.raises(UserInputError, match="unknown table 'nope'"):
        model.sample(conditions={"nope": {"x": 1}})
    with pytest.raises(UserInputError, match="never takes"):
        model.sample(conditions={"customers": {"country": "Atlantis"}})


def test_save_load_gives_identical_samples(shop_model, tmp_path):
    _, _, model = shop_model
    folder = model.save(tmp_path / "shop-model")
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "manifest.json"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == 1  # no history table: older Synthera versions still read it
    again = RelationalSynthesizer.load(folder)
    a, b = model.sample(seed=1), again.sample(seed=1)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    (folder / "manifest.json").write_text((folder / "manifest.json").read_text().replace('"orders"', '"orderz"', 1))
    with pytest.raises(ModelFileError):
        RelationalSynthesizer.load(folder)


def test_sample_before_fit():
    with pytest.raises(NotFittedError, match="call fit first"):
        RelationalSynthesizer().sample()


def test_two_keys_to_one_parent_composite_foreign_key_orphans_and_nulls():
    tables, schema = flights_like()
    model = RelationalSynthesizer().fit(tables, schema=schema)
    assert model.orphans_["flights.dest"]["orphans"] == 30
    synthetic = model.sample(seed=0)
    _joins(synthetic, schema)
    flights = synthetic["flights"]
    assert flights["dest"].isna().mean() == pytest.approx(0.05, abs=0.04)  # orphans kept as nulls, not lost
    assert flights["tailnum"].isna().mean() == pytest.approx(0.05, abs=0.04)
    # the composite key and the single key agree on origin
    assert flights["origin"].isin(synthetic["airports"]["faa"]).all()
    assert not set(synthetic["airports"]["faa"]) & set(tables["airports"]["faa"])  # fresh text keys


def test_orphan_policies_drop_and_unmatched():
    tables, schema = flights_like()
    for fk in schema.foreign_keys:
        if fk.name == "flights.dest":
            fk.orphans = "drop"
    model = RelationalSynthesizer().fit(tables, schema=schema)
    assert model.orphans_["flights.dest"]["dropped"] == 30
    assert model.sample(seed=0)["flights"]["dest"].notna().all()
    for fk in schema.foreign_keys:
        if fk.name == "flights.dest":
            fk.orphans = "unmatched"
    model = RelationalSynthesizer().fit(tables, schema=schema)
    flights = model.sample(seed=0)["flights"]
    unmatched = ~flights["dest"].isin(model.sample(seed=0)["airports"]["faa"])
    assert 0 < unmatched.mean() < 0.15


def test_self_reference_link_table_and_cycle():
    tables, schema = company()
    model = RelationalSynthesizer().fit(tables, schema=schema)
    synthetic = model.sample(seed=0)
    _joins(synthetic, schema)
    emp = synthetic["employees"]
    assert emp["reports_to"].notna().mean() > 0.8
    assert emp["reports_to"].dropna().isin(emp["id"]).all()
    assert synthetic["departments"]["head"].dropna().isin(emp["id"]).all()
    assert len(synthetic["enrolments"]) > 100


def test_empty_table_and_tables_with_only_keys():
    tables, schema = shop()
    tables["products"] = tables["products"].iloc[:0]
    tables["items"] = tables["items"].iloc[:0]
    model = RelationalSynthesizer().fit(tables, schema=schema)
    synthetic = model.sample(seed=0)
    assert len(synthetic["products"]) == 0 and len(synthetic["items"]) == 0
    assert list(synthetic["items"].columns) == ["order_id", "line", "product_id", "qty"]
    keys_only = {"a": pd.DataFrame({"id": range(1, 31)}), "b": pd.DataFrame({"a_id": np.arange(60) % 30 + 1})}
    sch = Schema.from_dict({"tables": {"a": {"primary_key": ["id"]}, "b": {}}, "foreign_keys": [
        {"child": "b", "columns": ["a_id"], "parent": "a", "parent_columns": ["id"]}]})
    out = RelationalSynthesizer().fit(keys_only, schema=sch).sample(seed=0)
    assert len(out["b"]) == 60 and out["b"]["a_id"].isin(out["a"]["id"]).all()


def test_two_hundred_tiny_tables():
    rng = np.random.default_rng(0)
    tables, fks = {}, []
    for i in range(200):
        df = pd.DataFrame({"id": np.arange(1, 13), "x": rng.integers(0, 3, 12)})
        if i:
            df["parent_id"] = rng.integers(1, 13, 12)
            fks.append({"child": f"t{i}", "columns": ["parent_id"], "parent": f"t{i - 1}", "parent_columns": ["id"]})
        tables[f"t{i}"] = df
    schema = Schema.from_dict({"tables": {n: {"primary_key": ["id"]} for n in tables}, "foreign_keys": fks})
    synthetic = RelationalSynthesizer().fit(tables, schema=schema).sample(seed=0)
    assert len(synthetic) == 200
    _joins(synthetic, schema)


def test_bad_input_is_one_line():
    tables, schema = shop()
    with pytest.raises(UserInputError, match="table 'extra' is not in the schema"):
        RelationalSynthesizer().fit({**tables, "extra": tables["products"]}, schema=schema)
    with pytest.raises(UserInputError, match="table 'items' is in the schema but not in the data"):
        RelationalSynthesizer().fit({k: v for k, v in tables.items() if k != "items"}, schema=schema)
    with pytest.raises(UserInputError, match="scale must be"):
        RelationalSynthesizer().fit(tables, schema=schema).sample(scale=-1)
