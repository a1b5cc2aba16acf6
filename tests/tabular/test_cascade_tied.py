"""Numbers that other numbers determine (issue 21, item 4): drawn last, from a log-scale fit and a residual tree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import synthera.tabular.cascade as cascade_module
from synthera.tabular import load_synthesizer
from synthera.tabular.cascade import CascadeSynthesizer


def _stones(n: int = 2000, seed: int = 3) -> pd.DataFrame:
    """Box-shaped stones: z follows x, y and depth exactly (depth = 200 z / (x + y)), y / x depends on the cut."""
    rng = np.random.default_rng(seed)
    cut = rng.choice(["round", "long"], n)
    x = rng.lognormal(1.5, 0.2, n)
    y = x * np.where(cut == "long", 1.04, 0.99) * np.exp(rng.normal(0, 0.004, n))
    depth = rng.normal(62, 1.5, n)
    z = depth * (x + y) / 200
    return pd.DataFrame({"cut": cut, "x": x, "y": y, "depth": depth, "z": z,
                         "noise": rng.lognormal(0, 1, n)})


@pytest.fixture(scope="module")
def stones():
    real = _stones()
    return real, CascadeSynthesizer(seed=0).fit(real)


def _depth_error(frame: pd.DataFrame) -> float:
    return float(np.median(np.abs(200 * frame["z"] / (frame["x"] + frame["y"]) - frame["depth"])))


def test_tied_columns_are_found_and_drawn_last(stones):
    _, model = stones
    tied = [model.columns_[j] for j in model.relations_.tied]
    assert "z" in tied and "noise" not in tied and "depth" not in tied
    assert model.columns_[-len(tied):] == tied  # after everything that determines them


def test_a_product_relation_survives(stones, monkeypatch):
    real, model = stones
    jittered = _depth_error(model.sample(2000, seed=0))
    monkeypatch.setattr(cascade_module, "TIED_JITTER", 1e-5)
    kept = _depth_error(model.sample(2000, seed=0))
    monkeypatch.setattr(cascade_module, "TIED_MIN_R2", 2.0)  # nothing is tied: the normal-score steering only
    loose = _depth_error(CascadeSynthesizer(seed=0).fit(real).sample(2000, seed=0))
    assert kept < 0.1 * loose
    # the jitter (0.3% of z) blurs depth by about 0.3% of 62, no more
    assert kept < jittered < 0.003 * real["depth"].mean()


def test_the_residual_follows_the_category(stones):
    real, model = stones
    synthetic = model.sample(2000, seed=1)
    for frame in (real, synthetic):
        ratio = (frame["y"] / frame["x"]).groupby(frame["cut"]).median()
        assert ratio["long"] > 1.02 and ratio["round"] < 1.0


def test_tied_values_are_not_training_values(stones):
    real, model = stones
    synthetic = model.sample(2000, seed=2)
    assert np.isin(synthetic["z"].to_numpy(), real["z"].to_numpy()).mean() < 0.01


def test_tied_relations_survive_save_and_load(stones, tmp_path):
    _, model = stones
    model.save(tmp_path / "m")
    again = load_synthesizer(tmp_path / "m")
    pd.testing.assert_frame_equal(model.sample(300, seed=3), again.sample(300, seed=3))


def test_conditions_on_a_tied_column_pick_rows_that_fit_it(stones):
    real, model = stones
    value = float(real["z"].median())
    out = model.sample(200, seed=4, conditions={"z": value})
    assert np.allclose(out["z"], value, rtol=1e-6)
    assert _depth_error(out) < 0.01 * real["depth"].mean()  # x, y and depth agree with the z asked for


def test_no_ties_on_small_or_unrelated_tables():
    rng = np.random.default_rng(0)
    unrelated = pd.DataFrame({"a": rng.lognormal(size=800), "b": rng.lognormal(size=800)})
    assert not CascadeSynthesizer(seed=0).fit(unrelated).relations_.tied
    small = _stones(n=300)
    assert not CascadeSynthesizer(seed=0).fit(small).relations_.tied  # under TIED_MIN_ROWS


def test_level_of_inverts_at():
    from synthera.tabular.transforms import Discretizer

    values = np.random.default_rng(0).lognormal(size=3000)
    disc = Discretizer(max_bins=16).fit(values)
    codes = disc.transform(values)
    levels = cascade_module._level_of(disc.table_, codes, values)
    assert np.allclose(disc.at(codes, levels), values)
