"""Accounting: our numbers are the library accountants' numbers, and never exceed the budget."""

from __future__ import annotations

import math

import dp_accounting
import pytest
from opacus.accountants import RDPAccountant

from synthera.dp.accounting import (
    ALPHAS,
    BudgetTooSmall,
    calibrate_noise,
    default_delta,
    epsilon_spent,
    max_steps,
    plan_training,
)
from synthera.errors import UserInputError


def google_epsilon(sigma: float, q: float, steps: int, delta: float) -> float:
    """An independent computation with Google's dp-accounting RDP accountant."""
    accountant = dp_accounting.rdp.RdpAccountant(orders=list(ALPHAS))
    accountant.compose(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
    return accountant.get_epsilon(delta)


@pytest.mark.parametrize(("sigma", "q", "steps", "delta"), [(1.0, 0.01, 1000, 1e-5), (8.0, 0.125, 160, 1e-6),
                                                             (3.0, 1.0, 20, 1e-5)])
def test_epsilon_matches_opacus_and_dp_accounting(sigma, q, steps, delta):
    ours = epsilon_spent(noise_multiplier=sigma, sample_rate=q, steps=steps, delta=delta)
    opacus = RDPAccountant()
    for _ in range(steps):
        opacus.step(noise_multiplier=sigma, sample_rate=q)
    assert ours == pytest.approx(opacus.get_epsilon(delta, alphas=list(ALPHAS)), rel=1e-12)
    assert ours == pytest.approx(google_epsilon(sigma, q, steps, delta), rel=1e-6)


def test_epsilon_grows_with_steps_and_falls_with_noise():
    base = epsilon_spent(noise_multiplier=2.0, sample_rate=0.1, steps=50, delta=1e-5)
    assert epsilon_spent(noise_multiplier=2.0, sample_rate=0.1, steps=100, delta=1e-5) > base
    assert epsilon_spent(noise_multiplier=4.0, sample_rate=0.1, steps=50, delta=1e-5) < base
    assert epsilon_spent(noise_multiplier=2.0, sample_rate=0.1, steps=0, delta=1e-5) == 0.0
    assert math.isinf(epsilon_spent(noise_multiplier=0.0, sample_rate=0.1, steps=1, delta=1e-5))


@pytest.mark.parametrize("target", [0.3, 1.0, 8.0])
def test_calibrated_noise_spends_at_most_the_target_and_is_tight(target):
    sigma = calibrate_noise(epsilon=target, delta=1e-6, sample_rate=0.05, steps=400)
    spent = epsilon_spent(noise_multiplier=sigma, sample_rate=0.05, steps=400, delta=1e-6)
    assert spent <= target
    # a little less noise would overshoot: the calibration does not waste budget
    assert epsilon_spent(noise_multiplier=sigma * 0.99, sample_rate=0.05, steps=400, delta=1e-6) > spent
    assert spent > 0.97 * target


def test_max_steps_is_the_last_step_within_budget():
    k = max_steps(noise_multiplier=2.0, sample_rate=0.05, epsilon=1.0, delta=1e-5, limit=10_000)
    assert 1 < k < 10_000
    assert epsilon_spent(noise_multiplier=2.0, sample_rate=0.05, steps=k, delta=1e-5) <= 1.0
    assert epsilon_spent(noise_multiplier=2.0, sample_rate=0.05, steps=k + 1, delta=1e-5) > 1.0


def test_plan_caps_the_noise_and_stops_early_instead_of_overshooting():
    plan = plan_training(epsilon=1.0, delta=1e-6, sample_rate=0.1, steps=50_000, max_noise_multiplier=5.0)
    assert plan.truncated and plan.noise_multiplier == 5.0 and 1 < plan.steps < 50_000
    assert plan.epsilon <= 1.0
    assert epsilon_spent(noise_multiplier=5.0, sample_rate=0.1, steps=plan.steps + 1, delta=1e-6) > 1.0


def test_plan_for_infinite_epsilon_has_no_noise():
    plan = plan_training(epsilon=math.inf, delta=1e-6, sample_rate=0.5, steps=10)
    assert plan.noise_multiplier == 0.0 and plan.steps == 10 and math.isinf(plan.epsilon)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"epsilon": 0.0, "delta": 1e-6}, "epsilon must be > 0"),
        ({"epsilon": -1.0, "delta": 1e-6}, "epsilon must be > 0"),
        ({"epsilon": float("nan"), "delta": 1e-6}, "epsilon must be > 0"),
        ({"epsilon": 1.0, "delta": 1.0}, "delta must lie strictly between 0 and 1"),
        ({"epsilon": 1.0, "delta": 0.0}, "delta must lie strictly between 0 and 1"),
        ({"epsilon": 1e-7, "delta": 1e-6}, "too small for even one training step"),
    ],
)
def test_bad_budgets_are_user_errors(kwargs, needle):
    with pytest.raises(UserInputError, match=needle):
        plan_training(sample_rate=0.1, steps=100, **kwargs)


def test_a_budget_too_small_is_its_own_error_type_and_bad_inputs_are_not():
    with pytest.raises(BudgetTooSmall, match="too small for even one training step"):
        plan_training(epsilon=1e-7, delta=1e-6, sample_rate=0.1, steps=100)
    with pytest.raises(BudgetTooSmall, match="too small for 100 training steps"):
        calibrate_noise(epsilon=1e-9, delta=1e-6, sample_rate=1.0, steps=100)
    with pytest.raises(UserInputError) as info:
        plan_training(epsilon=0.0, delta=1e-6, sample_rate=0.1, steps=100)
    assert not isinstance(info.value, BudgetTooSmall)


def test_bad_schedules_are_user_errors():
    with pytest.raises(UserInputError, match="sample rate"):
        epsilon_spent(noise_multiplier=1.0, sample_rate=1.5, steps=1, delta=1e-5)
    with pytest.raises(UserInputError, match="steps"):
        epsilon_spent(noise_multiplier=1.0, sample_rate=0.5, steps=-1, delta=1e-5)


@pytest.mark.parametrize(("n", "expected"), [(1, 0.1), (9, 0.01), (10, 0.01), (32_561, 1e-6), (100_000, 1e-6)])
def test_default_delta_is_a_power_of_ten_below_one_over_n(n, expected):
    delta = default_delta(n)
    assert delta == pytest.approx(expected)
    assert delta < 1 / n
