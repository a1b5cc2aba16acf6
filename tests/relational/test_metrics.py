"""Relational metrics: agreement with sdmetrics' multi-table QualityReport, k-hop trends, integrity, privacy."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from synthera.relational import RelationalSynthesizer, Schema
from synthera.relational.metrics import (
    cardinality,
    cardinality_bounds,
    evaluate_database,
    khop_trends,
    quality_score,
    referential_integrity,
    sdmetrics_metadata,
)
from tests.relational.conftest import shop


@pytest.fixture(scope="module")
def real_and_synthetic():
    tables, schema = shop()
    synthetic = RelationalSynthesizer().fit(tables, schema=schema).sample(seed=0)
    return tables, synthetic, schema


def test_quality_agrees_with_sdmetrics(real_and_synthetic):
    sdmetrics = pytest.importorskip("sdmetrics")
    from sdmetrics.reports import QualityReport

    real, synthetic, schema = real_and_synthetic
    single_key = schema.subset(list(schema.tables))  # sdmetrics reports do not take composite keys
    single_key.tables["items"].primary_key = []
    ours = quality_score(real, synthetic, single_key)
    report = QualityReport()
    report.real_correlation_threshold = 0
    report.real_association_threshold = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(real, synthetic, sdmetrics_metadata(real, single_key), verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    assert ours["column_shapes"] == pytest.approx(props["Column Shapes"], abs=0.005)
    assert ours["column_pair_trends"] == pytest.approx(props["Column Pair Trends"], abs=0.005)
    assert ours["cardinality"] == pytest.approx(props["Cardinality"], abs=0.005)
    assert ours["intertable_trends"] == pytest.approx(props["Intertable Trends"], abs=0.005)
    assert ours["score"] == pytest.approx(report.get_score(), abs=0.005)
    assert sdmetrics.__version__


def test_identical_databases_score_one(real_and_synthetic):
    real, _, schema = real_and_synthetic
    q = quality_score(real, real, schema)
    assert q["score"] == pytest.approx(1.0)
    assert khop_trends(real, real, schema)["score"] == pytest.approx(1.0)


def test_khop_follows_paths_of_two_hops(real_and_synthetic):
    real, synthetic, schema = real_and_synthetic
    out = khop_trends(real, synthetic, schema)
    assert list(out["hops"]) == [2]  # customers -> orders -> items
    assert 0.5 < out["score"] <= 1.0


def test_naive_random_keys_lose_cardinality():
    rng = np.random.default_rng(0)
    active = rng.random(200) < 0.4  # most customers never order, the active ones order often
    customers = pd.DataFrame({"id": np.arange(1, 201), "active": np.where(active, "yes", "no")})
    k = np.where(active, rng.integers(4, 9, 200), 0)
    orders = pd.DataFrame({"id": np.arange(1, k.sum() + 1), "customer_id": np.repeat(customers["id"], k).to_numpy(),
                           "amount": np.round(rng.gamma(2, 10, k.sum()), 2)})
    real = {"customers": customers, "orders": orders}
    schema = Schema.from_dict({"tables": {"customers": {"primary_key": ["id"]}, "orders": {"primary_key": ["id"]}},
                               "foreign_keys": [{"child": "orders", "columns": ["customer_id"],
                                                 "parent": "customers", "parent_columns": ["id"]}]})
    synthetic = RelationalSynthesizer().fit(real, schema=schema).sample(seed=0)
    naive = {k: v.copy() for k, v in synthetic.items()}
    naive["orders"]["customer_id"] = rng.choice(naive["customers"]["id"], len(naive["orders"]))
    ours = cardinality(real, synthetic, schema)["score"]
    theirs = cardinality(real, naive, schema)["score"]
    assert ours >= 0.85 and ours > theirs + 0.3


def test_integrity_and_bounds(real_and_synthetic):
    real, synthetic, schema = real_and_synthetic
    assert referential_integrity(real, synthetic, schema)["score"] == 1.0
    broken = {k: v.copy() for k, v in synthetic.items()}
    broken["orders"].loc[:9, "customer_id"] = 10_000
    ri = referential_integrity(real, broken, schema)["foreign_keys"]["orders.customer_id"]
    assert ri == pytest.approx(1 - 10 / len(broken["orders"]))
    assert cardinality_bounds(real, synthetic, schema)["score"] >= 0.99


def test_evaluate_database_runs_everything(real_and_synthetic):
    real, synthetic, schema = real_and_synthetic
    holdout_tables, _ = shop(seed=1)
    out = evaluate_database(real, synthetic, schema, holdout=holdout_tables)
    assert set(out) >= {"quality", "khop_trends", "referential_integrity", "cardinality_bounds", "privacy"}
    privacy = out["privacy"]
    assert "entity:customers" in privacy and "table:orders" in privacy
    entity = privacy["entity:customers"]
    assert "error" not in entity, entity
    assert 0.0 <= entity["exact_copies"]["exact_copy_rate"] <= 1.0
    assert "dcr" in entity and "detection" in entity
