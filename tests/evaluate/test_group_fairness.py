"""Group-conditional fidelity and the bootstrap noise of disparity in ``evaluate``'s fairness section (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest

from synthera.evaluate import evaluate
from synthera.evaluate.fairness import bootstrap_disparity, group_disparity, jeffreys_interval


def _biased(frame):
    """The table with every woman's income set to the negative label: a model trained on it shuns women."""
    out = frame.copy()
    out.loc[out["sex"] == "Female", "income"] = "<=50K"
    return out


def test_an_amplified_disparity_is_flagged_and_its_groups_named(people):
    real, holdout, syn = people
    report = evaluate(real, _biased(syn), holdout=holdout, target="income", sensitive=("sex",), metrics=["fairness"])
    noise = report["fairness"]["groups"]["sex"]["disparity_noise"]
    dp = noise["demographic_parity_difference"]
    assert dp["amplified"] is True
    assert dp["synthetic"] > dp["real_interval"][1] >= dp["real"] >= dp["real_interval"][0]
    assert dp["amplification"] == pytest.approx(dp["synthetic"] - dp["real"])
    assert dp["amplification_interval"][0] > 0
    assert "Female" in noise["groups_moved"]
    warning = [line for line in report.headline if line.startswith("Bias warning")]
    assert warning and "by sex" in warning[0] and "Female" in warning[0]


def test_a_faithful_synthetic_table_raises_no_bias_warning(people):
    real, holdout, syn = people
    report = evaluate(real, syn, holdout=holdout, target="income", sensitive=("sex",), metrics=["fairness"])
    noise = report["fairness"]["groups"]["sex"]["disparity_noise"]
    assert not noise["demographic_parity_difference"]["amplified"]
    lo, hi = noise["demographic_parity_difference"]["real_interval"]
    assert 0 <= lo < hi <= 1
    assert not any(line.startswith("Bias warning") for line in report.headline)


def test_per_group_shapes_target_rates_and_tstr_gaps(people):
    real, holdout, syn = people
    shifted = _biased(syn)
    shifted.loc[shifted["group"] == "C", "age"] += 30  # group C's ages are wrong in the synthetic table
    report = evaluate(real, shifted, holdout=holdout, target="income", sensitive=("sex", "group"),
                      metrics=["fairness"])
    groups = report["fairness"]["groups"]
    by_group = groups["group"]["by_group"]
    assert set(by_group) == {"A", "B", "C"}
    assert by_group["C"]["column_shapes"] < by_group["A"]["column_shapes"] - 0.1
    assert by_group["A"]["real_rows"] == (real["group"] == "A").sum()
    female = groups["sex"]["by_group"]["Female"]
    rate = female["target_rate"]
    assert rate["real"] == pytest.approx((real.loc[real["sex"] == "Female", "income"] == ">50K").mean())
    assert rate["real_interval"][0] < rate["real"] < rate["real_interval"][1]
    assert rate["synthetic"] == 0.0 and rate["within_interval"] is False
    gap = female["tstr_gap"]
    assert gap["gap"] == pytest.approx(gap["trtr"] - gap["tstr"])
    assert groups["sex"]["by_group"]["Male"]["target_rate"]["within_interval"] is True
    assert "sex & group" in groups and "Female & C" in groups["sex & group"]["by_group"]
    assert any("outside the real rate's 95% interval for Female" in line for line in report.headline)


def test_a_group_whose_ranking_is_reversed_shows_its_auc_gap_and_the_others_do_not(people):
    real, holdout, syn = people
    flipped = syn.copy()
    b = flipped["group"] == "B"
    merit = 0.03 * (flipped["age"] - 45) + 0.05 * (flipped["hours"] - 40) + 0.6 * (flipped["sex"] == "Male")
    order = merit[b].sort_values().index  # group B keeps its rate, but its least deserving earn the most
    k = int((flipped.loc[b, "income"] == ">50K").sum())
    flipped.loc[b, "income"] = "<=50K"
    flipped.loc[order[:k], "income"] = ">50K"
    report = evaluate(real, flipped, holdout=holdout, target="income", sensitive=("group",), metrics=["fairness"])
    by_group = report["fairness"]["groups"]["group"]["by_group"]
    auc = {g: by_group[g]["tstr_gap"]["auc"] for g in ("A", "B")}
    assert auc["B"]["gap"] == pytest.approx(auc["B"]["trtr"] - auc["B"]["tstr"])
    assert auc["B"]["trtr"] > 0.8 and auc["B"]["gap"] > 0.2
    assert abs(auc["A"]["gap"]) < 0.1 and auc["B"]["gap"] > auc["A"]["gap"] + 0.2
    assert by_group["B"]["target_rate"]["within_interval"] is True  # the rate alone would not show it


def test_bootstrap_disparity_is_paired_and_centred_on_the_point_value():
    rng = np.random.default_rng(0)
    groups = rng.choice(["a", "b"], 2000)
    y = rng.integers(0, 2, 2000)
    pred = np.where(groups == "a", rng.random(2000) < 0.6, rng.random(2000) < 0.3).astype(int)
    draws = bootstrap_disparity(y, {"m": pred, "same": pred}, groups, seed=1)
    point, _ = group_disparity(y, pred, __import__("pandas").Series(groups))
    dp = draws["m"]["demographic_parity_difference"]
    assert dp.shape == (200,)
    assert np.quantile(dp, 0.025) < point["demographic_parity_difference"] < np.quantile(dp, 0.975)
    assert np.array_equal(dp, draws["same"]["demographic_parity_difference"])  # same resamples for every model
    assert np.all(draws["m"]["equalized_odds_difference"] >= 0)


def test_per_group_holdout_shapes_are_the_real_datas_own_ceiling(people):
    real, holdout, syn = people
    shifted = syn.copy()
    shifted.loc[shifted["group"] == "C", "age"] += 30
    plain = evaluate(real, syn, holdout=holdout, target="income", sensitive=("group",), metrics=["fairness"])
    moved = evaluate(real, shifted, holdout=holdout, target="income", sensitive=("group",), metrics=["fairness"])
    before, after = plain["fairness"]["groups"]["group"]["by_group"], moved["fairness"]["groups"]["group"]["by_group"]
    for g in ("A", "B", "C"):  # real against holdout: the synthetic table plays no part
        assert before[g]["holdout_column_shapes"] == after[g]["holdout_column_shapes"]
        assert 0.5 < before[g]["holdout_column_shapes"] <= 1.0
    assert after["C"]["column_shapes"] < after["C"]["holdout_column_shapes"] - 0.1
    flat = real.assign(age=real["age"].where(real["group"] != "A", 50))  # group A's real ages: one value
    ceiling = evaluate(flat, syn, holdout=holdout, target="income", sensitive=("group",), metrics=["fairness"])
    flat_a = ceiling["fairness"]["groups"]["group"]["by_group"]["A"]["holdout_column_shapes"]
    assert flat_a < before["A"]["holdout_column_shapes"] - 0.05  # the real rows are scored against the holdout's


def test_a_rate_of_one_in_a_small_group_is_not_taken_as_certain():
    # group "b" has five positives and the model finds all five: a plain bootstrap of the rows keeps its
    # true-positive rate at 1 in every resample, and the equalized-odds interval would sit tight around 0.5
    rng = np.random.default_rng(3)
    groups = np.array(["a"] * 4000 + ["b"] * 40)
    y = np.r_[rng.integers(0, 2, 4000), np.ones(5, dtype=int), np.zeros(35, dtype=int)]
    pred = np.r_[np.where(y[:4000] == 1, rng.random(4000) < 0.5, rng.random(4000) < 0.05),
                 np.ones(5), np.zeros(35)].astype(int)
    point, _ = group_disparity(y, pred, __import__("pandas").Series(groups))
    assert point["equalized_odds_difference"] == pytest.approx(0.5, abs=0.03)
    draws = bootstrap_disparity(y, {"m": pred}, groups, seed=0)
    eo = draws["m"]["equalized_odds_difference"]
    assert np.quantile(eo, 0.025) < point["equalized_odds_difference"] - 0.2
    assert np.quantile(eo, 0.975) <= point["equalized_odds_difference"] + 0.05


def test_the_bayesian_bootstrap_keeps_a_large_groups_spread_binomial():
    rng = np.random.default_rng(4)
    groups = rng.choice(["a", "b"], 4000)
    pred = (rng.random(4000) < np.where(groups == "a", 0.3, 0.6)).astype(int)
    draws = bootstrap_disparity(rng.integers(0, 2, 4000), {"m": pred}, groups, seed=2, n_boot=600)
    a = groups == "a"
    rate = pred[a].mean()
    expected = np.sqrt(rate * (1 - rate) / a.sum())  # a prior of one pseudo-row must not widen it
    assert np.std(draws["m"]["selection_rate"]["a"]) == pytest.approx(expected, rel=0.15)


def test_jeffreys_interval_stays_open_at_zero_and_one():
    assert jeffreys_interval(0, 30) == [0.0, pytest.approx(0.0797, abs=5e-4)]
    lo, hi = jeffreys_interval(30, 30)
    assert hi == 1.0 and lo == pytest.approx(1 - 0.0797, abs=5e-4)
    lo, hi = jeffreys_interval(50, 100)
    assert lo == pytest.approx(1 - hi) and 0.39 < lo < 0.41
    assert jeffreys_interval(0, 0) == [None, None]
