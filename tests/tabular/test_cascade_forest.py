"""A column's randomized trees: the cascade samples their mean, and saves and loads them as one model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.tabular import CascadeSynthesizer, load_synthesizer
from synthera.tabular.cascade import _Forest, _Tree, tree_members


def _leaf(probs: list[float]) -> _Tree:
    """A tree of one leaf over ``len(probs)`` codes."""
    return _Tree([-1], [-1], [-1], [0.0], np.asarray([probs], dtype=float))


def test_a_forest_samples_the_mean_of_its_trees():
    forest = _Forest([_leaf([0.9, 0.1, 0.0]), _leaf([0.1, 0.1, 0.8])])
    n = 200_000
    columns = np.zeros((1, n), dtype=np.float32)
    codes = forest.sample(columns, np.random.default_rng(0).random(n))
    np.testing.assert_allclose(np.bincount(codes, minlength=3) / n, [0.5, 0.1, 0.4], atol=0.005)
    np.testing.assert_allclose(forest.probs(columns[:, :3]), [[0.5, 0.1, 0.4]] * 3)
    np.testing.assert_allclose(forest.chance(columns[:, :3], 2), [0.4] * 3)
    with pytest.raises(ValueError, match="at least two trees over the same codes"):
        _Forest([_leaf([0.5, 0.5]), _leaf([1.0, 0.0, 0.0])])


def _curve(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """``x`` (100 values, drawn after ``z``'s 64 bins) rises smoothly with ``z``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    x = np.clip(np.round(50 + 15 * z + rng.normal(0, 10, n)), 0, 99).astype(int)
    return pd.DataFrame({"z": z.round(4), "x": x})


def test_randomized_trees_on_request_one_tree_of_best_splits_by_default(tmp_path):
    real = _curve()
    forest = CascadeSynthesizer(seed=0, min_samples_leaf=150, n_trees=5).fit(real)  # leaves of several bins
    single = CascadeSynthesizer(seed=0, min_samples_leaf=150).fit(real)
    j = forest.columns_.index("x")
    assert forest.columns_ == ["z", "x"] and isinstance(forest.trees_[j], _Forest)
    members = tree_members(forest.trees_[j])
    grid = np.stack([np.arange(64), np.zeros(64)]).astype(np.float32)  # every bin of z
    partitions = {tuple(np.unique(m.apply(grid), return_inverse=True)[1]) for m in members}
    assert len(members) == 5 and len(partitions) == 5  # each tree cuts z's bins in its own places
    assert all(len(tree_members(t)) == 1 for t in single.trees_)
    for name, model in (("forest", forest), ("single", single)):
        again = load_synthesizer(model.save(tmp_path / name))
        pd.testing.assert_frame_equal(again.sample(300, seed=2), model.sample(300, seed=2))
    manifest = (tmp_path / "single" / "manifest.json").read_text()
    assert "tree_members" not in manifest  # one tree per column: saved as before forests, so old models load
    syn = forest.sample(20_000, seed=1)
    assert abs(np.corrcoef(syn["z"], syn["x"])[0, 1] - np.corrcoef(real["z"], real["x"])[0, 1]) < 0.05


def test_conditions_weigh_rows_by_the_forests_mean():
    real = _curve()
    model = CascadeSynthesizer(seed=0, n_trees=5).fit(real)
    high = model.sample(2000, seed=3, conditions={"x": 90})
    assert (high["x"] == 90).all()
    assert high["z"].mean() > real.loc[real["x"] >= 85, "z"].mean() - 0.3  # z follows x the other way too


def test_n_trees_is_a_whole_number():
    with pytest.raises(Exception, match="n_trees must be a whole number >= 1"):
        CascadeSynthesizer(n_trees=0).fit(_curve(200))
