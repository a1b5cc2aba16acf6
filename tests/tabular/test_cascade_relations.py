"""The cascade keeps tight relations between numerical columns (issue 21, item 4) and falls back on tiny tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import synthera.tabular.cascade as cascade_module
from synthera.tabular import load_synthesizer
from synthera.tabular.cascade import CascadeSynthesizer


def _tied(n: int = 1500, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.5, n)
    return pd.DataFrame({"a": a, "b": 2 * a + rng.normal(0, 0.01, n), "noise": rng.normal(size=n),
                         "c": rng.choice(["x", "y"], n)})


def _residual(frame: pd.DataFrame) -> float:
    return float(np.std(frame["b"] - 2 * frame["a"]))


@pytest.fixture(scope="module")
def tied():
    real = _tied()
    return real, CascadeSynthesizer(seed=0).fit(real)


def test_a_tight_relation_survives_the_bins(tied, monkeypatch):
    real, model = tied
    kept = _residual(model.sample(1500, seed=0))
    monkeypatch.setattr(cascade_module, "RELATION_MAX_SIGMA", -1.0)  # no relation qualifies: uniform in bins
    blurred = _residual(CascadeSynthesizer(seed=0).fit(real).sample(1500, seed=0))
    assert kept < 0.5 * blurred
    assert kept < 0.1 * real["b"].std()


def test_unrelated_columns_are_left_alone(tied):
    _, model = tied
    steered = {model.columns_[j] for j in model.relations_.steered}
    assert steered <= {"a", "b"}  # "noise" is tied to nothing


def test_relations_survive_save_and_load(tied, tmp_path):
    _, model = tied
    model.save(tmp_path / "m")
    again = load_synthesizer(tmp_path / "m")
    pd.testing.assert_frame_equal(model.sample(300, seed=3), again.sample(300, seed=3))


def test_steered_values_are_not_training_values(tied):
    real, model = tied
    synthetic = model.sample(1500, seed=0)
    assert np.isin(synthetic["b"].to_numpy(), real["b"].to_numpy()).mean() < 0.01


def test_leaf_size_shrinks_only_on_small_tables():
    from synthera.tabular.cascade import default_leaf_size

    assert default_leaf_size(32_561) == 163  # Adult, as before
    assert default_leaf_size(4_809) == 30 and default_leaf_size(700) == 30  # COMPAS, German credit: as before
    assert default_leaf_size(200) == 30 and default_leaf_size(51) == 10 and default_leaf_size(20) == 8


def test_a_tiny_table_keeps_its_target_relation():
    rng = np.random.default_rng(0)
    label = rng.choice(["yes", "no"], 60)
    real = pd.DataFrame({"label": label, "score": np.where(label == "yes", 3.0, 0.0) + rng.normal(size=60),
                         "other": rng.normal(size=60)})
    synthetic = CascadeSynthesizer(seed=0).fit(real).sample(600, seed=0)
    means = synthetic.groupby("label")["score"].mean()
    assert means["yes"] - means["no"] > 1.5  # 51-60 rows with leaves of 30 came out independent (difference ~0)


def test_conditions_work_on_steered_columns(tied):
    real, model = tied
    value = float(real["b"].median())
    rows = model.sample(200, seed=1, conditions={"b": value, "c": "x"})
    assert (rows["c"] == "x").all()
    assert np.allclose(rows["b"], value)
    assert abs(rows["a"].mean() - value / 2) < 0.05  # rows were resampled to fit b's bin
