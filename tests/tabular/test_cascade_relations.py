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
    real, _ = tied
    monkeypatch.setattr(cascade_module, "TIED_MIN_R2", 2.0)  # no column tied (test_cascade_tied.py): steering only
    kept = _residual(CascadeSynthesizer(seed=0).fit(real).sample(1500, seed=0))
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


class _OwnTrees(CascadeSynthesizer):
    """Overrides _fit_trees without the base's: the training values must still be released."""

    def _fit_trees(self, codes, rng):
        return [cascade_module._Tree.constant(codes[:, j], self.n_codes_[j]) for j in range(codes.shape[1])]


class _LateTrees(CascadeSynthesizer):
    """Fits its trees after the base _fit returns (as the relational cascade does): relations still see values."""

    def _fit(self, data, encoder, rng):
        self._later = True
        super()._fit(data, encoder, rng)
        self._later = False
        self.trees_ = super()._fit_trees(self._codes, rng)

    def _fit_trees(self, codes, rng):
        if getattr(self, "_later", False):
            self._codes = codes
            return []
        return super()._fit_trees(codes, rng)


@pytest.mark.parametrize("cls", [CascadeSynthesizer, _OwnTrees, _LateTrees])
def test_the_model_keeps_no_reference_to_its_training_values(cls):
    model = cls(seed=0).fit(_tied(300))
    assert "_values" not in model.__dict__ and "_fitting" not in model.__dict__
    if cls is _LateTrees:
        assert model.relations_.steered  # the values were there when the late trees were fitted


def _shifted(n: int = 1500, seed: int = 2) -> pd.DataFrame:
    """b follows a closely, but sits higher for group "y" than for group "x" (as z given x and y does by cut)."""
    rng = np.random.default_rng(seed)
    g = rng.choice(["x", "y"], n)
    a = rng.normal(size=n)
    return pd.DataFrame({"g": g, "a": a, "b": a + np.where(g == "y", 0.3, 0.0) + rng.normal(0, 0.05, n)})


def test_a_category_shifts_a_relation_and_survives_save_and_load(tmp_path):
    real = _shifted()
    model = CascadeSynthesizer(seed=0).fit(real)
    j = model.columns_.index("b")
    rel = model.relations_.steered[j]
    assert [model.columns_[k] for k in rel.groups] == ["g"]
    model.save(tmp_path / "m")
    loaded = load_synthesizer(tmp_path / "m")
    assert loaded.sample(500, seed=3).equals(model.sample(500, seed=3))
    fake = model.sample(3000, seed=0)
    gap = (fake["b"] - fake["a"]).groupby(fake["g"]).mean()
    assert abs(gap["y"] - gap["x"] - 0.3) < 0.06


def test_relations_saved_without_shifts_still_load():
    rel = cascade_module._Relation([0], [1.0], 0.0, 0.1)
    arrays = {f"rel1_{k}": v for k, v in rel.arrays().items()}
    groups, shifts = cascade_module._shifts_from_state(arrays, "rel1_", np.array([4, 4]), 1)
    assert groups.size == 0 and shifts == []
    bad = {**arrays, "rel1_groups": np.array([1]), "rel1_shifts": np.zeros(4)}
    with pytest.raises(ValueError):
        cascade_module._shifts_from_state(bad, "rel1_", np.array([4, 4]), 1)  # a column that comes later
