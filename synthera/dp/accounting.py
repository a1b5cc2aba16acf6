"""Privacy accounting for DP-SGD, with Opacus's RDP accountant.

DP-SGD with Poisson sampling at rate ``q`` and Gaussian noise of standard
deviation ``σ · C`` on the sum of per-sample gradients clipped to norm ``C``
is a composition of ``steps`` sampled Gaussian mechanisms. This module turns
(σ, q, steps, δ) into the ε spent and back, always through
:class:`opacus.accountants.RDPAccountant` (Rényi DP of the sampled Gaussian
mechanism, converted to (ε, δ) with the bound of Balle et al. 2020). The
accountant is a library's, not ours; :data:`ALPHAS` only widens the orders it
searches so that small ε are not over-reported.

Why RDP and not PRV: RDP's ε is an upper bound computed exactly (no
discretisation error to budget for), is deterministic and fast enough to
bisect over, and Google's ``dp-accounting`` computes the same number
independently, which the tests use as a check. PRV would report a somewhat
smaller ε for the same noise; we prefer the bound that is simple to verify.

Default δ: ``1 / (10 n)`` rounded down to a power of ten (n = 32,561 rows
gives 1e-6), strictly below ``1 / n`` as a meaningful δ must be. The row
count is treated as public.

Examples
--------
>>> eps = epsilon_spent(noise_multiplier=1.0, sample_rate=0.01, steps=1000, delta=1e-5)
>>> round(eps, 3)
2.101
>>> sigma = calibrate_noise(epsilon=1.0, delta=1e-5, sample_rate=0.01, steps=1000)
>>> epsilon_spent(noise_multiplier=sigma, sample_rate=0.01, steps=1000, delta=1e-5) <= 1.0
True
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from synthera._extras import require
from synthera.errors import UserInputError

__all__ = [
    "ACCOUNTANT",
    "ALPHAS",
    "MAX_NOISE_MULTIPLIER",
    "BudgetTooSmall",
    "TrainingPlan",
    "calibrate_noise",
    "check_budget",
    "default_delta",
    "epsilon_spent",
    "max_steps",
    "plan_training",
]

#: Name recorded in model manifests.
ACCOUNTANT = "opacus.accountants.RDPAccountant"
#: RDP orders searched: like Opacus's defaults (a coarser fractional grid, which is what costs time) plus
#: larger orders for small ε. Any set of orders gives a valid bound; more orders only tighten it.
ALPHAS = tuple(
    [1 + x / 10.0 for x in range(1, 10)] + [2 + x / 4.0 for x in range(40)] + list(range(12, 64))
    + [64, 80, 96, 128, 192, 256, 512, 1024]
)
#: Above this noise multiplier a step is judged too noisy to be worth taking (see :func:`plan_training`).
MAX_NOISE_MULTIPLIER = 50.0


class BudgetTooSmall(UserInputError):
    """The privacy budget cannot pay for even one step (or for the whole schedule, in :func:`calibrate_noise`)."""


def check_budget(epsilon: float, delta: float, *, allow_infinite: bool = False) -> None:
    """Raise :class:`UserInputError` unless ``epsilon > 0`` and ``0 < delta < 1``."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or math.isnan(epsilon) or epsilon <= 0:
        raise UserInputError(f"epsilon must be > 0; got {epsilon!r}")
    if math.isinf(epsilon) and not allow_infinite:
        raise UserInputError("epsilon must be finite for a private model; got inf")
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or math.isnan(delta) or not 0 < delta < 1:
        raise UserInputError(f"delta must lie strictly between 0 and 1 (e.g. 1e-6); got {delta!r}")


def _check_schedule(sample_rate: float, steps: int) -> None:
    if not 0 < sample_rate <= 1:
        raise UserInputError(f"sample rate must lie in (0, 1]; got {sample_rate!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise UserInputError(f"steps must be a whole number >= 0; got {steps!r}")


def default_delta(n_rows: int) -> float:
    """``1 / (10 n)`` rounded down to a power of ten: strictly below ``1 / n``."""
    if n_rows < 1:
        raise UserInputError(f"the table has {n_rows} rows; DP training needs at least one")
    return 10.0 ** math.floor(math.log10(1.0 / (10.0 * n_rows)))


@functools.lru_cache(maxsize=512)
def _rdp_one_step(noise_multiplier: float, sample_rate: float):
    """Rényi DP of one sampled Gaussian step at every order (RDP adds up over steps).

    Cached (calibration revisits the same noise levels); the array is never modified in place.
    """
    import logging
    import warnings

    compute_rdp = require("opacus.accountants.analysis.rdp", "dp").compute_rdp
    logger = logging.getLogger("opacus.accountants.analysis.rdp")
    level = logger.level
    logger.setLevel(logging.ERROR)  # orders that fail to converge are dropped by Opacus with a log line
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rdp = compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=list(ALPHAS))
            rdp.setflags(write=False)
            return rdp
    finally:
        logger.setLevel(level)


def _epsilon(rdp_one, steps: int, delta: float) -> float:
    import warnings

    get_privacy_spent = require("opacus.accountants.analysis.rdp", "dp").get_privacy_spent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "optimal order is the largest alpha": the bound stays valid
        eps, _ = get_privacy_spent(orders=list(ALPHAS), rdp=rdp_one * steps, delta=delta)
    return float(eps)


def epsilon_spent(*, noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """ε of ``steps`` DP-SGD steps at this noise and sampling rate, for ``delta``.

    The number :class:`opacus.accountants.RDPAccountant` reports for a
    history ``[(noise_multiplier, sample_rate, steps)]`` with orders
    :data:`ALPHAS`. Zero steps spend nothing; zero noise spends infinity.
    """
    _check_schedule(sample_rate, steps)
    if steps == 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    return _epsilon(_rdp_one_step(float(noise_multiplier), float(sample_rate)), int(steps), delta)


def calibrate_noise(
    *, epsilon: float, delta: float, sample_rate: float, steps: int, tolerance: float = 2e-3
) -> float:
    """The smallest noise multiplier (to ``tolerance`` relative) whose ``steps`` spend at most ``epsilon``.

    Bisection on the accountant's ε, which falls as the noise grows; the
    value returned always satisfies ``epsilon_spent(...) <= epsilon``.

    Raises
    ------
    UserInputError
        Bad budget or schedule.
    BudgetTooSmall
        A budget that even a noise multiplier of 1e6 cannot meet.
    """
    check_budget(epsilon, delta)
    _check_schedule(sample_rate, steps)
    if steps == 0:
        return 0.0

    def eps(sigma: float) -> float:
        return _epsilon(_rdp_one_step(sigma, float(sample_rate)), steps, delta)

    high = 1.0
    while eps(high) > epsilon:
        high *= 2.0
        if high > 1e6:
            raise BudgetTooSmall(f"epsilon {epsilon:g} is too small for {steps} training steps; raise epsilon")
    low = high / 2.0 if high > 1.0 else 0.0
    while high - low > tolerance * high:
        mid = (low + high) / 2.0
        if eps(mid) <= epsilon:
            high = mid
        else:
            low = mid
    return high


def max_steps(*, noise_multiplier: float, sample_rate: float, epsilon: float, delta: float, limit: int) -> int:
    """The most steps (at most ``limit``) this noise and sampling rate allow within ``epsilon``."""
    check_budget(epsilon, delta)
    _check_schedule(sample_rate, limit)

    if noise_multiplier <= 0:
        return 0
    rdp_one = _rdp_one_step(float(noise_multiplier), float(sample_rate))

    def fits(k: int) -> bool:
        return k == 0 or _epsilon(rdp_one, k, delta) <= epsilon

    if fits(limit):
        return limit
    low, high = 0, limit  # fits(low) holds, fits(high) does not
    while high - low > 1:
        mid = (low + high) // 2
        if fits(mid):
            low = mid
        else:
            high = mid
    return low


@dataclass(frozen=True)
class TrainingPlan:
    """How DP-SGD will run within a budget, and what it will spend."""

    noise_multiplier: float
    sample_rate: float
    steps: int
    planned_steps: int
    epsilon: float  # ε the steps spend (≤ the budget)
    delta: float

    @property
    def truncated(self) -> bool:
        return self.steps < self.planned_steps


def plan_training(
    *,
    epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    max_noise_multiplier: float = MAX_NOISE_MULTIPLIER,
) -> TrainingPlan:
    """Choose the noise for a DP-SGD schedule so that it spends at most ``epsilon``.

    The noise is calibrated for the whole schedule. If that takes more than
    ``max_noise_multiplier`` (the gradient signal would drown), the noise is
    capped there and training stops after the last step the budget affords;
    if not even one step fits, the budget is too small. ``epsilon = inf`` plans
    a non-private run: no noise, every step.

    Raises
    ------
    UserInputError
        ε ≤ 0 or δ outside (0, 1).
    BudgetTooSmall
        A budget too small for one step (a :class:`UserInputError` too).
    """
    check_budget(epsilon, delta, allow_infinite=True)
    _check_schedule(sample_rate, steps)
    if steps < 1:
        raise UserInputError("the training schedule has no steps; raise epochs")
    if math.isinf(epsilon):
        return TrainingPlan(0.0, sample_rate, steps, steps, math.inf, delta)
    try:
        sigma = calibrate_noise(epsilon=epsilon, delta=delta, sample_rate=sample_rate, steps=steps)
    except BudgetTooSmall:
        sigma = math.inf
    if sigma <= max_noise_multiplier:
        spent = epsilon_spent(noise_multiplier=sigma, sample_rate=sample_rate, steps=steps, delta=delta)
        return TrainingPlan(sigma, sample_rate, steps, steps, spent, delta)
    sigma = float(max_noise_multiplier)
    affordable = max_steps(noise_multiplier=sigma, sample_rate=sample_rate, epsilon=epsilon, delta=delta, limit=steps)
    if affordable < 1:
        raise BudgetTooSmall(
            f"epsilon {epsilon:g} (delta {delta:g}) is too small for even one training step: it would need a "
            f"noise multiplier above {max_noise_multiplier:g}; raise epsilon"
        )
    spent = epsilon_spent(noise_multiplier=sigma, sample_rate=sample_rate, steps=affordable, delta=delta)
    return TrainingPlan(sigma, sample_rate, affordable, steps, spent, delta)
