"""Marginal accuracy (1 - TV over 1- and 2-way marginals): the function and the registered fidelity metric."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.evaluate import METRICS, evaluate
from synthera.evaluate.marginals import bin_like_real, marginal_accuracy


def test_marginal_accuracy_matches_its_definition():
    real = pd.DataFrame({"x": np.arange(1000) % 100, "c": np.where(np.arange(1000) % 4 == 0, "a", "b")})
    assert marginal_accuracy(real, real).overall == 1.0
    shifted = real.assign(c=np.where(np.arange(1000) % 2 == 0, "a", "b"))  # P(c=a): 0.25 -> 0.5
    result = marginal_accuracy(real, shifted)
    assert result.per_column["c"] == pytest.approx(0.75)
    assert result.per_column["x"] == 1.0
    assert result.overall == pytest.approx((result.univariate + result.bivariate) / 2)
    binned, _ = bin_like_real(real, real)
    assert binned["x"].nunique() == 10  # ten quantile bins of the real values


def test_pair_accuracy_is_one_minus_total_variation_of_the_joint_shares():
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"a": rng.choice(["x", "y"], 400), "b": rng.choice(["u", "v", "w"], 400)})
    syn = pd.DataFrame({"a": rng.choice(["x", "y"], 300, p=[0.8, 0.2]), "b": rng.choice(["u", "v", "w"], 300)})
    p = real.value_counts(normalize=True)
    q = syn.value_counts(normalize=True)
    both = p.index.union(q.index)
    expected = 1 - 0.5 * (p.reindex(both, fill_value=0) - q.reindex(both, fill_value=0)).abs().sum()
    assert marginal_accuracy(real, syn).per_pair["a|b"] == pytest.approx(expected)


def test_it_is_a_registered_fidelity_metric_that_matches_the_function(people):
    real, holdout, syn = people
    assert METRICS["marginal_accuracy"].section == "fidelity"
    report = evaluate(real, syn, metrics=["marginal_accuracy"])
    direct = marginal_accuracy(real, syn)
    fid = report["fidelity"]
    assert fid["marginal_accuracy"] == pytest.approx(direct.overall)
    assert fid["marginal_accuracy_univariate"] == pytest.approx(direct.univariate)
    assert fid["marginal_accuracy_bivariate"] == pytest.approx(direct.bivariate)
    assert 0.8 < fid["marginal_accuracy"] < 1.0  # independent draws of one distribution: close, not equal
    assert "marginal_accuracy" in report.to_html()


def test_dates_are_binned_as_seconds_whatever_their_spelling():
    stamps = pd.Series(pd.date_range("2020-01-01", periods=300, freq="D"))
    as_dates = pd.DataFrame({"d": stamps})
    report = evaluate(as_dates.assign(d=stamps.dt.strftime("%Y-%m-%d")), as_dates, metrics=["marginal_accuracy"])
    assert report["fidelity"]["marginal_accuracy"] == pytest.approx(1.0)
