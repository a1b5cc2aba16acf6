"""Gaussian measurement plans (dp/mechanisms.py): calibration within the budget, also after earlier measurements."""

from __future__ import annotations

import pytest

from synthera.dp.mechanisms import MeasurementGroup, calibrate, epsilon_spent

PLAN = [MeasurementGroup("1-way", count=5, share=0.2), MeasurementGroup("2-way", count=10, share=0.8)]


def test_a_plan_spends_its_budget_and_no_more():
    groups = calibrate(PLAN, epsilon=1.0, delta=1e-5)
    assert 0.999 <= epsilon_spent(groups, delta=1e-5) <= 1.0


def test_earlier_measurements_are_composed_in_one_accountant():
    earlier = [MeasurementGroup("domain", count=3, sigma=40.0)]
    alone = calibrate(PLAN, epsilon=1.0, delta=1e-5)
    after = calibrate(PLAN, epsilon=1.0, delta=1e-5, spent=earlier)
    assert 0.999 <= epsilon_spent(earlier + after, delta=1e-5) <= 1.0
    # Gaussians compose in 1/sigma^2: the earlier 3/40^2 is taken from the plan's, not a share of epsilon
    budget = sum(g.count / g.sigma**2 for g in alone)
    left = sum(g.count / g.sigma**2 for g in after)
    assert left == pytest.approx(budget - 3 / 40.0**2, rel=2e-3)


def test_earlier_measurements_that_spend_everything_are_a_clear_error():
    from synthera.errors import UserInputError

    with pytest.raises(UserInputError, match="too small a budget"):
        calibrate(PLAN, epsilon=1.0, delta=1e-5, spent=[MeasurementGroup("domain", count=3, sigma=1.0)])
