"""Cross-table fidelity: child counts keep their shape, secondary parents are the ones children want."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from synthera.relational import RelationalSynthesizer, Schema
from synthera.relational._keys import count_model, draw_counts
from synthera.relational.metrics import cardinality, referential_integrity


def _ks_complement(a, b) -> float:
    return 1 - ks_2samp(np.asarray(a, dtype=float), np.asarray(b, dtype=float)).statistic


def test_count_model_keeps_a_skewed_shape_of_few_parents():
    real = np.array([840, 768, 762, 708, 291, 237, 189, 148, 77, 49, 21, 17, 11, 10, 4])
    model = count_model(real)
    drawn = draw_counts(model, np.arange(real.size), int(real.min()), int(real.max()))
    assert _ks_complement(real, drawn) >= 0.85
    assert drawn.min() >= real.min() and drawn.max() <= real.max()


def test_count_model_stores_no_rare_count():
    real = np.r_[np.zeros(80), np.ones(10), [1132, 1299, 1701, 2, 3, 3, 7, 9, 13, 57]]
    model = count_model(real)
    values, freq = np.unique(real, return_counts=True)
    rare = set(values[freq < 5].tolist()) - {real.min(), real.max()}
    stored = {v for group in model for v in group[:2]}
    assert not stored & rare
    points = [g[0] for g in model if g[0] == g[1]]
    assert set(points) <= set(values[freq >= 5].tolist()) | {real.min(), real.max()}
    drawn = draw_counts(model, np.arange(real.size), 0, int(real.max()))
    assert (drawn == 0).sum() == 80  # a common count is kept exactly
    assert _ks_complement(real, drawn) >= 0.95


def test_draw_counts_follows_the_given_rank():
    model = count_model(np.arange(20))
    drawn = draw_counts(model, np.array([5, 1, 9, 3] * 5), 0, 19)
    order = np.array([5, 1, 9, 3] * 5)
    assert drawn[order == 9].min() >= drawn[order == 5].max()


def _hubs(seed: int = 0):
    """airports (a few hubs) <- flights: origin spread over spokes, dest always a hub, a hub's flights its own."""
    rng = np.random.default_rng(seed)
    n_air = 80
    kind = np.where(np.arange(n_air) < 8, "hub", "spoke")
    airports = pd.DataFrame({"code": [f"A{i}" for i in range(n_air)], "kind": kind,
                             "size": np.where(kind == "hub", rng.normal(100, 5, n_air), rng.normal(10, 3, n_air))})
    n = 1200
    hub_share = rng.dirichlet(np.ones(8) * 2)
    dest = rng.choice(8, n, p=hub_share)
    origin = rng.integers(8, n_air, n)
    flights = pd.DataFrame({"origin": airports["code"].to_numpy()[origin], "dest": airports["code"].to_numpy()[dest],
                            "delay": rng.gamma(2, 5, n) + airports["size"].to_numpy()[dest] / 10})
    schema = Schema.from_dict({
        "tables": {"airports": {"primary_key": ["code"]}, "flights": {"primary_key": []}},
        "foreign_keys": [
            {"child": "flights", "columns": ["origin"], "parent": "airports", "parent_columns": ["code"]},
            {"child": "flights", "columns": ["dest"], "parent": "airports", "parent_columns": ["code"]},
        ]})
    return {"airports": airports, "flights": flights}, schema


def test_second_parent_is_one_the_children_want():
    tables, schema = _hubs()
    model = RelationalSynthesizer(seed=0).fit(tables, schema=schema)
    synthetic = model.sample(seed=0)
    assert referential_integrity(tables, synthetic, schema)["score"] == 1.0
    secondary = next(fk for fk in schema.foreign_keys if fk.name != model.primary_["flights"])
    col = secondary.columns[0]
    kind = synthetic["airports"].set_index("code")["kind"]
    wanted = "hub" if col == "dest" else "spoke"
    assert (synthetic["flights"][col].map(kind) == wanted).mean() >= 0.8  # at random: 0.1
    scores = cardinality(tables, synthetic, schema)["foreign_keys"]
    assert min(scores.values()) >= 0.85, scores
