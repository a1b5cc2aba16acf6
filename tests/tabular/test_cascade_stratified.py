"""Stratified leaf draws: a leaf's rows follow its frequencies, each row still a fair draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from synthera.errors import UserInputError
from synthera.relational._cascade import fit_cascade
from synthera.tabular.base import DRAW_ROWS
from synthera.tabular.cascade import CascadeSynthesizer, stratified_uniforms


def test_each_group_gets_one_uniform_per_stratum():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 7, 5_000) * 3  # leaf ids need not be consecutive
    out = stratified_uniforms(groups, rng.random(groups.size), rng.random(groups.size))
    assert out.min() >= 0.0 and out.max() < 1.0
    for g in np.unique(groups):
        mine = np.sort(out[groups == g])
        assert np.floor(mine * mine.size).astype(int).tolist() == list(range(mine.size))
    assert stratified_uniforms(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)).size == 0


def test_every_row_is_still_uniform_and_rows_take_strata_at_random():
    """The fourth row of a leaf of 5, over many draws: uniform on [0, 1), in any of the 5 strata alike."""
    rng = np.random.default_rng(1)
    groups = np.array([4, 4, 9, 4, 4, 4])
    fourth = np.array([stratified_uniforms(groups, rng.random(6), rng.random(6))[4] for _ in range(5_000)])
    assert stats.kstest(fourth, "uniform").pvalue > 0.01
    assert stats.chisquare(np.bincount(np.floor(fourth * 5).astype(int), minlength=5)).pvalue > 0.01


def _table(n: int = 1_000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"kind": ["a"] * (3 * n // 10) + ["b"] * (n - 3 * n // 10),
                         "x": rng.normal(size=n).round(3)})


def _share(frame: pd.DataFrame) -> int:
    return int((frame["kind"] == "a").sum())


def test_stratified_samples_hold_the_leaf_frequencies():
    """30% of the rows are 'a': a stratified block of DRAW_ROWS rows has 30% to the row; independent draws scatter,
    and so do the columns' joint frequencies, which stratification leaves to the trees."""
    real = _table()
    stratified = CascadeSynthesizer(seed=0).fit(real)
    independent = CascadeSynthesizer(stratified=False, seed=0).fit(real)
    expected = 0.3 * DRAW_ROWS
    counts = [_share(stratified.sample(DRAW_ROWS, seed=s)) for s in range(5)]
    assert all(abs(c - expected) <= 1 for c in counts), counts
    scattered = [_share(independent.sample(DRAW_ROWS, seed=s)) for s in range(5)]
    assert np.std(scattered) > 15 and all(abs(c - expected) < 250 for c in scattered)  # binomial s.d.: 59


def test_columns_stay_independent_within_a_leaf():
    """One leaf for everything (leaves of every row): label and color must come out independent, whatever
    the stratification does to each column on its own."""
    rng = np.random.default_rng(0)
    label = rng.choice(["yes", "no"], 400)
    real = pd.DataFrame({"label": label, "color": np.where((label == "yes") == (rng.random(400) < 0.9), "red", "blue")})
    synthetic = CascadeSynthesizer(min_samples_leaf=400, seed=0).fit(real).sample(DRAW_ROWS, seed=0)
    agree = ((synthetic["label"] == "yes") == (synthetic["color"] == "red")).mean()
    assert abs(agree - 0.5) < 0.02


def test_context_cascade_draws_are_stratified_too():
    real = _table()
    model = fit_cascade(real, first=[], hints=None, params={"seed": 0})
    rng = np.random.default_rng(0)
    counts = [_share(model.sample_context(pd.DataFrame(index=range(2_000)), rng)) for _ in range(5)]
    assert all(abs(c - 600) <= 1 for c in counts), counts


def test_same_seed_same_sample_and_a_flag_is_checked():
    real = _table()
    model = CascadeSynthesizer(seed=0).fit(real)
    pd.testing.assert_frame_equal(model.sample(300, seed=5), model.sample(300, seed=5))
    with pytest.raises(UserInputError, match="stratified"):
        CascadeSynthesizer(stratified="yes").fit(real)

