"""The Gaussian mechanism and its privacy accounting, done by a library.

A DP synthesizer spends its budget on a handful of *measurement groups*: each
group is ``count`` counting queries (histograms) of L2 sensitivity 1 under
add/remove-one neighbouring, answered with Gaussian noise of one standard
deviation ``sigma``. The groups are a plan; :func:`calibrate` finds the one
noise scale that makes the whole plan spend at most the requested (ε, δ),
and :func:`epsilon_spent` says what a plan spends. Both ask Google's
``dp-accounting`` library (its privacy-loss-distribution accountant by
default, or its RDP accountant): no ε formula is written by hand here.

Examples
--------
>>> plan = [MeasurementGroup("1-way", count=15, share=0.1), MeasurementGroup("2-way", count=105, share=0.9)]
>>> groups = calibrate(plan, epsilon=1.0, delta=1e-5)
>>> epsilon_spent(groups, delta=1e-5) <= 1.0
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from synthera._extras import require
from synthera.errors import UserInputError

__all__ = [
    "ACCOUNTANTS",
    "MeasurementGroup",
    "accountant_spec",
    "calibrate",
    "check_budget",
    "delta_spent",
    "dp_event",
    "epsilon_spent",
    "gaussian_histogram",
]

ACCOUNTANTS = ("pld", "rdp")
#: a plan whose noise would have to exceed this many counts per cell is refused as hopeless
MAX_SIGMA = 1e7


@dataclass(frozen=True)
class MeasurementGroup:
    """``count`` histograms of L2 sensitivity ``sensitivity``, each with Gaussian noise ``sigma``.

    ``share`` is the planned fraction of the budget (in 1/σ² units, the
    currency in which Gaussian mechanisms compose); ``sigma`` is filled in by
    :func:`calibrate`.
    """

    name: str
    count: int
    share: float = 1.0
    sensitivity: float = 1.0
    sigma: float | None = None

    @property
    def noise_multiplier(self) -> float:
        return float(self.sigma) / float(self.sensitivity)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MeasurementGroup:
        return cls(**{k: data[k] for k in ("name", "count", "share", "sensitivity", "sigma")})


def check_budget(epsilon, delta) -> tuple[float, float]:
    """Validate (ε, δ) given by a user; returns them as floats.

    Raises
    ------
    UserInputError
        ε is not a finite number > 0, or δ is not in (0, 1).
    """
    ok = not isinstance(epsilon, bool) and isinstance(epsilon, (int, float, np.floating)) and math.isfinite(epsilon)
    if not ok or epsilon <= 0:
        raise UserInputError(f"epsilon must be a finite number > 0, e.g. 1.0; got {epsilon!r}")
    ok = not isinstance(delta, bool) and isinstance(delta, (int, float, np.floating)) and math.isfinite(delta)
    if not ok or not 0 < delta < 1:
        raise UserInputError(f"delta must be a number in (0, 1), well below 1/rows, e.g. 1e-6; got {delta!r}")
    return float(epsilon), float(delta)


def dp_event(groups: list[MeasurementGroup]):
    """The ``dp_accounting`` event of a calibrated plan (a composition of Gaussian mechanisms)."""
    dp_accounting = require("dp_accounting", "dp")

    events = []
    for g in groups:
        if g.sigma is None:
            raise ValueError(f"measurement group '{g.name}' has no sigma; calibrate the plan first")
        if g.count > 0:
            events.append(dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(g.noise_multiplier), g.count))
    return dp_accounting.ComposedDpEvent(events)


def accountant_spec(kind: str = "pld", *, epsilon: float = 1.0) -> dict:
    """How ε is computed, as recorded in a model's manifest.

    For the PLD accountant the value discretisation is 1/1000 of ε (within
    [1e-5, 1e-2]): the library's discretisation is pessimistic, so a coarser
    grid can only over-state ε (by about 1e-4 relative here), and it keeps large
    budgets fast.
    """
    if kind == "pld":
        return {"name": "pld", "value_discretization_interval": float(np.clip(1e-3 * float(epsilon), 1e-5, 1e-2))}
    if kind == "rdp":
        return {"name": "rdp"}
    raise UserInputError(f"unknown accountant '{kind}'; use one of {', '.join(ACCOUNTANTS)}")


def _accountant(spec: str | dict):
    dp_accounting = require("dp_accounting", "dp")

    if isinstance(spec, str):
        spec = accountant_spec(spec)
    if spec["name"] == "pld":
        return dp_accounting.pld.PLDAccountant(value_discretization_interval=spec["value_discretization_interval"])
    if spec["name"] == "rdp":
        return dp_accounting.rdp.RdpAccountant()
    raise UserInputError(f"unknown accountant '{spec['name']}'; use one of {', '.join(ACCOUNTANTS)}")


def epsilon_spent(groups: list[MeasurementGroup], *, delta: float, accountant: str | dict = "pld") -> float:
    """ε of the plan at ``delta``, as the accountant library computes it.

    ``accountant`` is ``"pld"`` (privacy-loss distributions, the tightest),
    ``"rdp"``, or a spec from :func:`accountant_spec` / a model's manifest.
    """
    acc = _accountant(accountant)
    acc.compose(dp_event(groups))
    return float(acc.get_epsilon(delta))


def delta_spent(groups: list[MeasurementGroup], *, epsilon: float, accountant: str | dict = "pld") -> float:
    """δ of the plan at ``epsilon``, as the accountant library computes it."""
    acc = _accountant(accountant)
    acc.compose(dp_event(groups))
    return float(acc.get_delta(epsilon))


def _scaled(plan: list[MeasurementGroup], scale: float) -> list[MeasurementGroup]:
    total = sum(g.share for g in plan if g.count > 0)
    out = []
    for g in plan:
        # a group's 1/σ² is its share of the budget, spread over its queries
        base = math.sqrt(g.count * total / g.share) if g.count > 0 else 1.0
        out.append(MeasurementGroup(g.name, g.count, g.share, g.sensitivity, scale * base * g.sensitivity))
    return out


def calibrate(
    plan: list[MeasurementGroup], *, epsilon: float, delta: float, accountant: str | dict = "pld",
    spent: tuple | list = (),
) -> list[MeasurementGroup]:
    """The plan with every ``sigma`` set, as small as the budget (ε, δ) allows.

    One scale multiplies every group's noise so that the shares hold; the
    library's calibration (Brent's method on its own ε) picks the scale, and
    the result is checked once more so the plan never spends more than ε.
    ``spent`` are groups measured already (calibrated, e.g. a DP domain
    estimate's): the accountant composes them with the plan, so the plan and
    they together spend at most (ε, δ).

    Raises
    ------
    UserInputError
        The budget is too small to answer the plan with any useful noise.
    """
    dp_accounting = require("dp_accounting", "dp")

    epsilon, delta = check_budget(epsilon, delta)
    if not plan or all(g.count == 0 for g in plan):
        raise ValueError("nothing to measure")
    for g in plan:
        if g.count < 0 or g.share <= 0 or g.sensitivity <= 0:
            raise ValueError(f"bad measurement group {g!r}")

    spent = list(spent)

    def scaled(scale: float) -> list[MeasurementGroup]:
        return spent + _scaled(plan, scale)

    # bracket: Gaussians compose like one Gaussian whose 1/σ² is the sum of theirs, whose
    # noise the library's analytic calibration gives; the accountant then decides exactly
    unit = _scaled(plan, 1.0)
    unit_sigma = sum(g.count / g.noise_multiplier**2 for g in unit if g.count > 0) ** -0.5
    left = dp_accounting.get_sigma_gaussian(epsilon, delta) ** -2 - sum(
        g.count / g.noise_multiplier**2 for g in spent if g.count > 0)
    guess = (left ** -0.5 if left > 0 else MAX_SIGMA) / unit_sigma
    top = max(g.sigma for g in unit)
    upper = 4.0 * guess
    # the accountant's discretisation is pessimistic: widen the bracket until it holds the budget
    while math.isfinite(upper) and upper * top <= MAX_SIGMA and epsilon_spent(
            scaled(upper), delta=delta, accountant=accountant) > epsilon:
        upper *= 4.0
    if not math.isfinite(upper) or upper * top > MAX_SIGMA:
        scale = math.inf
    else:
        scale = dp_accounting.calibrate_dp_mechanism(
            lambda: _accountant(accountant),
            lambda scale: dp_event(scaled(scale)),
            epsilon,
            delta,
            dp_accounting.ExplicitBracketInterval(0.5 * guess, upper),
            tol=1e-5 * guess,
        )
    groups = _scaled(plan, scale) if math.isfinite(scale) else []
    if not groups or max(g.sigma for g in groups) > MAX_SIGMA:
        raise UserInputError(
            f"epsilon={epsilon:g}, delta={delta:g} is too small a budget to measure this table "
            "(the noise would swamp every count); raise epsilon or delta"
        )
    # never report more than asked: nudge the noise up until the library agrees
    for _ in range(50):
        if epsilon_spent(spent + groups, delta=delta, accountant=accountant) <= epsilon:
            return groups
        scale *= 1.0 + 1e-6
        groups = _scaled(plan, scale)
    raise RuntimeError("could not calibrate the noise under the budget")  # pragma: no cover


def gaussian_histogram(counts: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``counts`` plus independent N(0, σ²) noise on every cell (float64)."""
    counts = np.asarray(counts, dtype=np.float64)
    return counts + rng.normal(0.0, sigma, size=counts.shape)
