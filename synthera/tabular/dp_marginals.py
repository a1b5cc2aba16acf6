"""ε-differentially private synthesizer from noisy 1-way and 2-way marginals.

The data are touched only through Gaussian-noised histograms; everything
after that is post-processing of the noisy counts. Neighbouring tables differ
by one added or removed row, so each histogram has L2 sensitivity 1.

Privacy accounting. The histograms of steps 1-3 and 5 (the domain's, when it
is estimated, and the model's) are one adaptive composition of Gaussian
mechanisms, priced by a single ``dp-accounting`` privacy-loss-distribution
accountant: with the domain's category thresholds, whose chance ``p`` of
releasing a category held by one row costs ``e^ε·p`` of δ (see
:mod:`synthera.dp.domain`), the model is (ε, δ)-DP with
``ε = PLD-ε(all Gaussians at δ - e^ε·p)``. The measurement noise is
calibrated after the domain's, so that the total is the ε asked for
(``privacy_["epsilon_spent"]``, never above it). Composing in one accountant
rather than adding the domain's ε (basic composition) is what makes an
estimated domain nearly free: Gaussians compose in 1/σ², so a domain
calibrated to spend ``domain_share`` of ε alone costs about its square.

1. **Domain.** Bounds and category sets are declared public in the metadata
   or estimated under DP by :func:`synthera.dp.domain.resolve_domain`: one
   Gaussian pass over a histogram per column, calibrated as if it spent
   ``domain_share`` of ε and δ alone (nothing is spent when all are
   declared). Its noisy category counts are reused in step 3.
2. **Row count** (1 % of the rest): a noisy count that sizes the fine grids
   (about three noise deviations of rows per cell) and refuses budgets whose
   noise would swamp the table.
3. **Fine 1-way histograms** (``one_way_share``). Numbers get a
   data-independent grid over their bounds: one cell per integer up to
   ``fine_cells`` values, otherwise equal-width cells with the bounds and zero
   kept as exact values (point masses such as ``capital_gain == 0`` or a top
   code stay exact). Categories are counted as they are, and averaged with the
   domain's noisy counts when the domain was estimated. Cells below
   ``threshold`` noise deviations are zeroed; what their code's noisy total
   still holds is spread evenly over them, so tails thin out instead of vanishing.
4. **Discretisation** (post-processing). Numbers get about ``numeric_bins``
   quantile bins of the noisy histogram, a heavy value alone in its bin and no
   bin under 1 % of the rows (a column with at most 20 values keeps one code
   per value); categories whose noisy count is below ``threshold``·σ share one
   "rare" code; nulls keep a code of their own.
5. **All 2-way marginals** of those codes, every pair of columns (or, with a
   ``target``, every pair of the other columns together with the target as
   3-way marginals), with Gaussian noise: the rest of the budget.
6. **Relaxed projection** (Aydore et al., 2021, "Differentially private query
   release through adaptive projection"): ``n_components`` relaxed rows, each
   a product of per-column softmax distributions, are fitted with Adam so that
   their average marginals match the noisy ones in weighted least squares
   (each noisy cell weighted by 1/σ²). The result is a mixture of product
   distributions that is consistent across all pairs, which MST's spanning
   tree is not.
7. **Sampling** draws a component, then each column's code from it; a code
   becomes a fine cell in proportion to the noisy fine histogram, and the cell
   a value (uniform inside it; exact cells exactly). Conditions are exact: the
   component is drawn from its posterior given the conditioned codes.

The row count is never released: the model keeps a noisy estimate.

Examples
--------
>>> from synthera import datasets
>>> from synthera.metadata import infer_metadata
>>> train, _ = datasets.load("adult")
>>> public = infer_metadata(train)  # measured from the rows: only usable if the domain is public knowledge
>>> small = DPMarginalsSynthesizer(epsilon=1.0, delta=1e-5, n_components=64, steps=100)  # defaults: 2048, 1500
>>> model = small.fit(train, metadata=public, domain_is_public=True)
>>> model.privacy_["epsilon_spent"] <= 1.0
True
"""

from __future__ import annotations

import math
from itertools import combinations, pairwise
from typing import Any

import numpy as np

from synthera._estimator import Interval, Whole
from synthera.errors import UserInputError
from synthera.tabular.base import Synthesizer

__all__ = ["DPMarginalsSynthesizer"]

#: share of the measurement budget spent on the noisy row count that sizes the fine grids
ROW_COUNT_SHARE = 0.01


class _Column:
    """One modelled column: its fine cells (measured), coarse codes (modelled) and decoding."""

    # fine cells: discrete columns use their codes; continuous columns a grid of cells
    # [low, high) in value order, some "exact" (a single value), plus a null cell at the end.

    def __init__(self, name: str, kind: str, nullable: bool, *, n_codes: int = 0, low=None, high=None,
                 exact=None, integer: bool = False):
        self.name, self.kind, self.nullable, self.integer = name, kind, nullable, integer
        if kind == "discrete":
            self.n_fine = n_codes
        else:
            self.low = np.asarray(low, dtype=np.float64)
            self.high = np.asarray(high, dtype=np.float64)
            self.exact = np.asarray(exact, dtype=bool)
            self.n_fine = len(self.low) + int(nullable)

    # -- fine grid ---------------------------------------------------------------------------

    @classmethod
    def grid(cls, name: str, lower: float, upper: float, *, integer: bool, nullable: bool, cells: int,
             per_integer_up_to: int = 0) -> _Column:
        if integer:
            lo, hi = math.ceil(lower), max(math.floor(upper), math.ceil(lower))
            if hi - lo + 1 <= max(cells, per_integer_up_to):
                values = np.arange(lo, hi + 1, dtype=np.float64)
                return cls(name, "continuous", nullable, low=values, high=values + 1, exact=np.ones(values.size, bool),
                           integer=True)
            points = sorted({lo, hi} | ({0} if lo < 0 < hi else set()))
        else:
            lo, hi = float(lower), float(upper)
            points = sorted({lo, hi} | ({0.0} if lo < 0 < hi else set()))
        # the open stretches between the exact points share the remaining cells by length
        stretches = []
        for a, b in pairwise(points):
            start, stop = (a + 1, b) if integer else (a, b)  # integers: a+1 .. b-1, as [a+1, b)
            if stop > start:
                stretches.append((start, stop))
        total = sum(b - a for a, b in stretches) or 1.0
        spare = max(cells - len(points), len(stretches))
        lows, highs = [float(p) for p in points], [float(p) + (1.0 if integer else 0.0) for p in points]
        exact = [True] * len(points)
        for a, b in stretches:
            k = max(1, round(spare * (b - a) / total))
            edges = np.linspace(a, b, k + 1)
            if integer:
                edges = np.unique(np.round(edges))
            lows += edges[:-1].tolist()
            highs += edges[1:].tolist()
            exact += [False] * (len(edges) - 1)
        order = np.argsort(np.asarray(lows), kind="stable")
        return cls(name, "continuous", nullable, low=np.asarray(lows)[order], high=np.asarray(highs)[order],
                   exact=np.asarray(exact)[order], integer=integer)

    @property
    def null_fine(self) -> int | None:
        return self.n_fine - 1 if self.nullable else None

    def fine_codes(self, values: np.ndarray) -> np.ndarray:
        """Fine cell of every encoded value (codes pass through for discrete columns)."""
        if self.kind == "discrete":
            return np.asarray(values, dtype=np.int64)
        x = np.asarray(values, dtype=np.float64)
        nan = np.isnan(x)
        x = np.clip(np.where(nan, self.low[0], x), self.low[0], self.high[-1])
        if self.integer:
            x = np.round(x)
        codes = np.full(x.shape, -1, dtype=np.int64)
        exact_idx = np.flatnonzero(self.exact)
        if exact_idx.size:
            values_exact = self.low[exact_idx]
            pos = np.clip(np.searchsorted(values_exact, x), 0, exact_idx.size - 1)
            hit = values_exact[pos] == x
            codes[hit] = exact_idx[pos[hit]]
        range_idx = np.flatnonzero(~self.exact)
        rest = codes == -1
        if range_idx.size:
            pos = np.clip(np.searchsorted(self.low[range_idx], x[rest], side="right") - 1, 0, range_idx.size - 1)
            codes[rest] = range_idx[pos]
        elif rest.any():  # an all-exact grid: the nearest value
            pos = np.clip(np.searchsorted(self.low, x[rest]), 0, len(self.low) - 1)
            codes[rest] = pos
        if nan.any():
            codes[nan] = self.null_fine if self.nullable else 0
        return codes

    def values_of(self, fine: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Encoded values for fine cells: codes for discrete columns, a value inside the cell otherwise."""
        if self.kind == "discrete":
            return fine.astype(np.int64)
        n_cells = len(self.low)
        real = fine < n_cells
        safe = np.where(real, fine, 0)
        low, high = self.low[safe], self.high[safe]
        if self.integer:
            value = np.floor(low + rng.random(fine.shape) * (high - low))
        else:
            value = low + rng.random(fine.shape) * (high - low)
        value = np.where(self.exact[safe], low, value)
        return np.where(real, value, np.nan)

    # -- state -------------------------------------------------------------------------------

    def info(self) -> dict:
        return {"name": self.name, "kind": self.kind, "nullable": self.nullable, "integer": self.integer,
                "n_fine": self.n_fine}

    def arrays(self) -> dict[str, np.ndarray]:
        if self.kind == "discrete":
            return {}
        return {"low": self.low, "high": self.high, "exact": self.exact.astype(np.int8)}

    @classmethod
    def from_state(cls, info: dict, arrays: dict[str, np.ndarray]) -> _Column:
        if info["kind"] == "discrete":
            return cls(info["name"], "discrete", bool(info["nullable"]), n_codes=int(info["n_fine"]))
        col = cls(info["name"], "continuous", bool(info["nullable"]), low=arrays["low"], high=arrays["high"],
                  exact=arrays["exact"].astype(bool), integer=bool(info["integer"]))
        if col.n_fine != int(info["n_fine"]):
            raise ValueError(f"grid of column '{info['name']}' does not match its state")
        return col


def _spread_residual(kept: np.ndarray, noisy: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Give the cells zeroed by the threshold the mass their code's noisy total still holds, evenly.

    A code's noisy total is an unbiased count; what its strong cells do not
    account for belongs to its weak cells, about which the noise says nothing
    more, so it is spread evenly over them (tails such as 81-99 hours a week
    keep their few rows instead of vanishing).
    """
    out = kept.copy()
    for code in np.unique(mapping):
        members = mapping == code
        weak = members & (kept <= 0)
        if weak.any():
            residual = max(float(noisy[members].sum() - kept[members].sum()), 0.0)
            out[weak] = residual / weak.sum()
    return out


class DPMarginalsSynthesizer(Synthesizer):
    """ε-DP: noisy 1- and 2-way marginals fitted by relaxed projection (mixture of products).

    Parameters
    ----------
    epsilon
        Privacy budget ε (required), for the whole model: domain estimate and measurements.
    delta
        δ of (ε, δ)-DP. Default: a power of ten at least ten times below 1/rows.
    seed
        Seeds the noise and the fit. ``None`` (default) draws the noise from the
        operating system: a known seed makes the noise known, so fix it only for tests.
    n_components
        Relaxed rows (mixture components) fitted to the marginals.
    numeric_bins
        About how many quantile bins each number gets in the model.
    fine_cells
        Cells of the fine 1-way grid of a number (decoding inside bins).
    one_way_share
        Share of the measurement budget spent on the fine 1-way histograms; the rest
        measures every pair.
    threshold
        Noise standard deviations below which a fine cell is treated as empty and a
        category is pooled with the other rare ones.
    steps
        Adam steps of the projection.
    domain_share
        Share of ε and δ that the estimate of bounds and categories (of the columns whose
        metadata declares none) is calibrated to spend on its own. It is composed with the
        measurements in one accountant, where it costs far less (about its square); a
        larger share keeps rarer categories. Nothing is spent when every column is declared.
    target
        A column to predict later (e.g. ``"income"``): every other pair is then measured
        together with it, as 3-way marginals, which keeps more of what a classifier
        trained on the synthetic rows needs. ``None`` measures plain 2-way marginals.
    """

    differentially_private = True

    def __init__(
        self,
        *,
        epsilon: float | None = None,
        delta: float | None = None,
        seed: int | None = None,
        n_components: int = 2048,
        numeric_bins: int = 12,
        fine_cells: int = 256,
        one_way_share: float = 0.1,
        threshold: float = 2.0,
        steps: int = 1500,
        domain_share: float = 0.5,
        target: str | None = None,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.seed = seed
        self.n_components = n_components
        self.numeric_bins = numeric_bins
        self.fine_cells = fine_cells
        self.one_way_share = one_way_share
        self.threshold = threshold
        self.steps = steps
        self.domain_share = domain_share
        self.target = target

    _parameter_constraints = {
        "seed": Whole(0, optional=True),
        "n_components": Whole(1),
        "numeric_bins": Whole(2),
        "fine_cells": Whole(2),
        "one_way_share": Interval(0, 1),
        "threshold": Interval(0, closed="left"),
        "steps": Whole(1),
        "domain_share": Interval(0, 1),
    }

    def _check_extra(self) -> None:
        if self.epsilon is None:
            raise UserInputError(
                f"the {self.name or 'dp_marginals'} model needs a privacy budget; pass epsilon, e.g. 1"
            )

    # -- fit ---------------------------------------------------------------------------------

    def _fit(self, data: dict[str, np.ndarray], encoder, rng: np.random.Generator) -> None:
        d = len(encoder.modelled)
        if d == 0:
            raise UserInputError("the table has no column to model (only ids, text or personal data); nothing to learn")
        epsilon, delta = self._gaussian_budget()
        target = self._target_index(encoder)
        groups, accountant = self._calibrate(d, target, epsilon=epsilon, delta=delta)
        n_count = self._noisy_row_count(data, groups, rng)
        # the row count sizes the fine grids: about three noise deviations of rows per cell
        # (integers keep one cell per value up to fine_cells values: 40 hours a week stays 40)
        cells = int(min(self.fine_cells, max(8, n_count / (3 * groups[1].sigma))))
        self.columns_ = self._fine_columns(encoder, cells=cells)
        fine = {c.name: c.fine_codes(data[c.name]) for c in self.columns_}
        noisy1, sigmas1, n_hat = self._one_way_histograms(fine, groups, n_count, rng)
        codes, one_way = self._discretise(fine, noisy1, n_hat, sigmas1=sigmas1)
        tables, weight = self._pair_marginals(codes, groups, n_hat, target, rng)
        self.components_ = self._project(self.sizes_, one_way, tables, weight, target, rng)
        self.n_rows_ = round(n_hat)
        self._set_null_fractions()
        self._record_privacy(groups, accountant, delta)

    def _target_index(self, encoder) -> int | None:
        """Position of ``target`` among the modelled columns, when 3-way marginals with it are measured."""
        if self.target is not None and self.target not in encoder.modelled:
            raise UserInputError(
                f"target '{self.target}' is not a modelled column; pick one of: {', '.join(encoder.modelled)}"
            )
        return encoder.modelled.index(self.target) if self.target is not None and len(encoder.modelled) >= 3 else None

    def _gaussian_budget(self) -> tuple[float, float]:
        """(ε, δ) for one accountant over the domain's and the model's Gaussian histograms.

        The whole request, less the δ that pays for the domain's category
        thresholds: a category held by one row is released with probability
        ``p`` (``domain_.release_probability``), which costs ``e^ε · p`` of δ.
        """
        epsilon, delta = self.dp_request_
        delta_gauss = delta - math.exp(epsilon) * self.domain_.release_probability
        if delta_gauss <= 0:  # pragma: no cover - the domain keeps half of its share of δ for the noise
            raise RuntimeError("the domain estimate left no delta for the measurements")
        return epsilon, delta_gauss

    def _calibrate(self, d: int, target: int | None, *, epsilon: float, delta: float):
        """The measurement groups with their noise, calibrated to spend (ε, δ) together with the domain's."""
        from synthera.dp.mechanisms import MeasurementGroup, accountant_spec, calibrate

        plan = [MeasurementGroup("row count", count=1, share=ROW_COUNT_SHARE),
                MeasurementGroup("1-way fine histograms", count=d, share=self.one_way_share)]
        if target is not None:  # every pair of the other columns, together with the target
            plan.append(MeasurementGroup("3-way marginals with the target", count=(d - 1) * (d - 2) // 2,
                                         share=1.0 - self.one_way_share))
        elif d > 1:
            plan.append(MeasurementGroup("2-way marginals", count=d * (d - 1) // 2, share=1.0 - self.one_way_share))
        accountant = accountant_spec("pld", epsilon=epsilon)
        spent = list(self.domain_.groups)
        return calibrate(plan, epsilon=epsilon, delta=delta, accountant=accountant, spent=spent), accountant

    def _noisy_row_count(self, data: dict[str, np.ndarray], groups, rng: np.random.Generator) -> float:
        """The noisy row count; refuses a budget whose noise would swamp the table's counts."""
        from synthera.dp.mechanisms import gaussian_histogram

        sigma_model = groups[-1].sigma
        first_column = next(iter(data.values()))
        n_count = float(gaussian_histogram(np.array([len(first_column)]), groups[0].sigma, rng)[0])
        if n_count < 10 * sigma_model:
            raise UserInputError(
                f"epsilon={self.dp_request_[0]:g} is too small a budget for this table: the noise (about "
                f"{sigma_model:,.0f} per count) would swamp its counts; raise epsilon, or model fewer columns"
            )
        return n_count

    def _fine_columns(self, encoder, *, cells: int) -> list[_Column]:
        """One :class:`_Column` per modelled column, its fine grid taken from the domain only."""
        md = self.metadata_
        columns = []
        for name in encoder.modelled:
            info, col = encoder.info(name), md[name]
            if info.kind == "discrete":
                columns.append(_Column(name, "discrete", info.nullable, n_codes=info.n_codes))
                continue
            low, high = self.domain_[name].lower, self.domain_[name].upper
            if col.kind == "numerical":
                low, high = float(col.min), float(col.max)
            columns.append(_Column.grid(name, low, high, integer=bool(col.integer) and col.kind == "numerical",
                                        nullable=info.nullable, cells=cells, per_integer_up_to=self.fine_cells))
        return columns

    def _one_way_histograms(self, fine: dict, groups, n_count: float, rng: np.random.Generator):
        """Noisy fine histograms and the row count re-estimated from all totals; sets ``fine_weights_``.

        Returns the histograms and their noise deviation per column. A category
        column whose domain was estimated under DP also has the domain's noisy
        counts of the same categories (one shared pass): the two measurements
        are averaged with inverse-variance weights (post-processing, free).
        """
        from synthera.dp.mechanisms import gaussian_histogram

        sigma1 = groups[1].sigma
        noisy1 = [gaussian_histogram(np.bincount(fine[c.name], minlength=c.n_fine), sigma1, rng) for c in self.columns_]
        sigmas = [sigma1] * len(noisy1)
        totals = np.array([n_count] + [h.sum() for h in noisy1])
        variances = np.array([groups[0].sigma ** 2] + [c.n_fine * sigma1**2 for c in self.columns_])
        n_hat = max(float(np.sum(totals / variances) / np.sum(1.0 / variances)), 1.0)
        for j, col in enumerate(self.columns_):
            noisy1[j], sigmas[j] = self._with_domain_counts(col, noisy1[j], sigma1, n_hat)
        self.fine_weights_ = []
        for h, sigma in zip(noisy1, sigmas, strict=True):
            kept = np.where(h >= self.threshold * sigma, h, 0.0)
            # a histogram too thin for the threshold keeps its positive cells instead
            self.fine_weights_.append(kept if kept.sum() >= 0.5 * max(h.sum(), 0.0) else np.clip(h, 0.0, None))
        return noisy1, sigmas, n_hat

    def _with_domain_counts(self, col: _Column, noisy: np.ndarray, sigma1: float, n_hat: float):
        """``noisy`` averaged with the domain's noisy counts of the same categories, and the new noise deviation.

        The rows of categories the domain left out were encoded as nulls (a
        nullable column: its null cell keeps the fresh count only) or spread
        evenly over the categories; their estimated share is added back to the
        domain's counts so that both measure the same thing.
        """
        counts = self.domain_.noisy_counts.get(col.name)
        dom = self.domain_.columns.get(col.name)
        if counts is None or col.kind != "discrete" or dom is None or dom.kind != "categorical":
            return noisy, sigma1
        k = len(dom.categories)
        sigma_d = float(self.domain_.groups[0].sigma)
        known = np.array([counts[c] for c in dom.categories], dtype=np.float64)
        if not col.nullable:
            known += max(n_hat - known.sum(), 0.0) / max(k, 1)
        w1, wd = sigma1**-2, sigma_d**-2
        out = noisy.astype(np.float64).copy()
        out[:k] = (w1 * noisy[:k] + wd * known) / (w1 + wd)
        sigma = (w1 + wd) ** -0.5
        # the cells share one deviation below (the null cell, fresh only, is a little noisier)
        return out, sigma

    def _discretise(self, fine: dict, noisy1: list, n_hat: float, *, sigmas1: list):
        """Model codes of every row and the weighted 1-way targets (post-processing of the noisy histograms)."""
        self.coarse_ = [self._coarse_map(c, w, n_hat, self.threshold * sigma)
                        for c, w, sigma in zip(self.columns_, self.fine_weights_, sigmas1, strict=True)]
        sizes = [int(m.max()) + 1 for m in self.coarse_]
        self.fine_weights_ = [_spread_residual(w, h, m)
                              for w, h, m in zip(self.fine_weights_, noisy1, self.coarse_, strict=True)]
        codes = [self.coarse_[j][fine[c.name]] for j, c in enumerate(self.columns_)]
        one_way = []
        for j in range(len(self.columns_)):
            counts = np.bincount(self.coarse_[j], weights=noisy1[j], minlength=sizes[j])
            cells = np.bincount(self.coarse_[j], minlength=sizes[j]).astype(np.float64)
            one_way.append((counts / n_hat, n_hat**2 / (sigmas1[j] ** 2 * cells)))
        self.sizes_ = sizes
        return codes, one_way

    def _pair_marginals(self, codes: list, groups, n_hat: float, target: int | None, rng: np.random.Generator):
        """Noisy 2-way marginals of every pair of model codes (3-way with the target when one is named)."""
        from synthera.dp.mechanisms import gaussian_histogram

        d, sizes = len(codes), self.sizes_
        tables: dict = {}
        if d <= 1:
            return tables, 0.0
        sigma2 = groups[2].sigma
        others = [j for j in range(d) if j != target]
        for i, j in combinations(others, 2):
            flat_codes = codes[i] * sizes[j] + codes[j]
            shape = (sizes[i], sizes[j])
            if target is not None:
                flat_codes = flat_codes * sizes[target] + codes[target]
                shape = shape + (sizes[target],)
            joint = np.bincount(flat_codes, minlength=int(np.prod(shape)))
            tables[(i, j)] = gaussian_histogram(joint, sigma2, rng).reshape(shape) / n_hat
        return tables, n_hat**2 / sigma2**2

    def _record_privacy(self, groups, accountant, delta: float) -> None:
        """``privacy_``: what the domain and the measurements spent together, as the accountant computes it."""
        from synthera.dp.mechanisms import epsilon_spent

        domain_groups = list(self.domain_.groups)
        spent = epsilon_spent(domain_groups + list(groups), delta=delta, accountant=accountant)
        requested_eps, requested_delta = self.dp_request_
        self.privacy_ = {
            "epsilon_requested": requested_eps,
            "epsilon_spent": float(spent),
            "delta": float(requested_delta),
            "neighbouring": "add or remove one row",
            "accountant": accountant,
            "composition": "one accountant over the domain's and the measurements' Gaussian histograms at "
                           "delta - e^epsilon * domain.release_probability (the rest of delta pays for the "
                           "domain's category thresholds)",
            "domain": self.domain_.to_dict(),
            "measurements": {"delta": float(delta), "groups": [g.to_dict() for g in domain_groups + list(groups)]},
        }

    def _coarse_map(self, col: _Column, weights: np.ndarray, n_hat: float, floor: float) -> np.ndarray:
        """Fine cell -> model code, from the noisy fine histogram only."""
        n = col.n_fine
        mapping = np.zeros(n, dtype=np.int64)
        if col.kind == "discrete":
            kept = weights >= max(floor, 1e-12)
            if kept.all() or (~kept).sum() == 1:
                return np.arange(n, dtype=np.int64)
            mapping[kept] = np.arange(int(kept.sum()))
            mapping[~kept] = int(kept.sum())  # one pooled code for the rare ones
            return mapping
        cells = len(col.low)
        mass = weights[:cells]
        if mass.sum() <= 0:
            mass = np.ones(cells)
        if col.exact.all() and cells <= max(20, self.numeric_bins):
            # a few distinct values (education_num, a rating): each keeps its own code
            mapping[:cells] = np.arange(cells)
            if col.nullable:
                mapping[cells] = cells
            return mapping
        # heavy values get a bin each; the rest is cut into quantile bins of at least 1 % of the rows
        heavy_cells = mass >= mass.sum() / self.numeric_bins
        rest = mass[~heavy_cells].sum()
        target = max(rest / max(self.numeric_bins - int(heavy_cells.sum()), 1), 0.01 * n_hat)
        code, acc = 0, 0.0
        for k in range(cells):
            heavy = bool(heavy_cells[k])
            if heavy and acc > 0:
                code, acc = code + 1, 0.0
            mapping[k] = code
            acc += mass[k]
            if (heavy or acc >= target) and k < cells - 1:
                code, acc = code + 1, 0.0
        last = mapping[cells - 1]
        if last > 0 and mass[mapping[:cells] == last].sum() < 0.3 * target:
            mapping[:cells][mapping[:cells] == last] = last - 1
        if col.nullable:
            mapping[cells] = int(mapping[:cells].max()) + 1
        return mapping

    def _project(self, sizes, one_way, tables, weight, target, rng) -> np.ndarray:
        """Relaxed projection: mixture of products whose marginals fit the noisy ones.

        ``tables`` maps column pairs to noisy 2-way shares, or to 3-way shares with
        the ``target`` column last when one is named; ``weight`` is 1/σ² of a cell.
        """
        from synthera.tabular._neural import import_torch, torch_generator, torch_threads

        torch = import_torch()

        d, m, kmax = len(sizes), int(self.n_components), max(sizes)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        total = int(offsets[-1])
        valid = np.zeros((d, kmax), dtype=bool)
        for j, k in enumerate(sizes):
            valid[j, :k] = True
        flat = torch.as_tensor(np.flatnonzero(valid.ravel()))
        mask = torch.as_tensor(~valid)

        t1 = np.concatenate([o[0] for o in one_way])
        w1 = np.concatenate([o[1] for o in one_way])
        layers = sizes[target] if target is not None else 1
        t2 = np.zeros((layers, total, total))
        w2 = np.zeros((total, total))
        for (i, j), table in tables.items():
            block = (slice(offsets[i], offsets[i + 1]), slice(offsets[j], offsets[j + 1]))
            t2[(slice(None),) + block] = np.moveaxis(table, -1, 0) if target is not None else table
            w2[block] = weight
        scale = max(w1.max(), weight, 1e-12)  # keep the loss near 1 for Adam's epsilon
        t1, w1 = torch.as_tensor(t1, dtype=torch.float32), torch.as_tensor(w1 / scale, dtype=torch.float32)
        t2, w2 = torch.as_tensor(t2, dtype=torch.float32), torch.as_tensor(w2 / scale, dtype=torch.float32)
        t_cols = slice(int(offsets[target]), int(offsets[target + 1])) if target is not None else None

        gen = torch_generator(rng)
        start = np.zeros((d, kmax))
        for j, (share, _) in enumerate(one_way):
            start[j, : sizes[j]] = np.log(np.clip(share, 1e-3, None))
        logits = torch.as_tensor(start, dtype=torch.float32).expand(m, d, kmax).clone()
        logits += torch.randn(m, d, kmax, generator=gen)
        logits.requires_grad_(True)
        opt = torch.optim.Adam([logits], lr=0.05)
        with torch_threads(), self._progress_bar(int(self.steps), "fitting to noisy marginals") as advance:
            for _ in range(int(self.steps)):
                opt.zero_grad()
                probs = torch.softmax(logits.masked_fill(mask, -1e9), dim=2).reshape(m, d * kmax)[:, flat]
                if t_cols is None:
                    q2 = (probs.T @ probs / m)[None]
                else:  # q2[c] = joint of every pair with the target at its code c
                    q2 = torch.einsum("rc,ri,rj->cij", probs[:, t_cols], probs, probs) / m
                q1 = probs.mean(0)
                loss = (w2 * (q2 - t2) ** 2).sum() + (w1 * (q1 - t1) ** 2).sum()
                loss.backward()
                opt.step()
                advance(1)
            with torch.no_grad():
                probs = torch.softmax(logits.masked_fill(mask, -1e9), dim=2).reshape(m, d * kmax)[:, flat]
        return probs.double().numpy()

    def _set_null_fractions(self) -> None:
        """The model's own null share of every nullable column (post-processing, free)."""
        for j, col in enumerate(self.columns_):
            if not col.nullable:
                continue
            null_code = self.coarse_[j][col.null_fine]
            share = float(self._block(j)[:, null_code].mean())
            weights = self.fine_weights_[j]
            pooled = self.coarse_[j] == null_code
            if pooled.sum() > 1:  # the null code is pooled with rare categories
                share *= weights[col.null_fine] / max(weights[pooled].sum(), 1e-12)
            self.metadata_[col.name].null_fraction = round(min(max(share, 0.0), 1.0), 6)

    # -- sample ------------------------------------------------------------------------------

    def _block(self, j: int) -> np.ndarray:
        start = int(sum(self.sizes_[:j]))
        return self.components_[:, start:start + self.sizes_[j]]

    def _sample(self, n: int, rng: np.random.Generator, conditions: dict[str, Any]) -> dict[str, np.ndarray]:
        m = self.components_.shape[0]
        names = [c.name for c in self.columns_]
        fixed = {}
        weights = np.ones(m)
        for name, value in conditions.items():
            j = names.index(name)
            col = self.columns_[j]
            fine = int(col.fine_codes(np.array([value]))[0])
            fixed[j] = int(self.coarse_[j][fine])
            weights = weights * self._block(j)[:, fixed[j]]
        if weights.sum() <= 0:
            weights = np.ones(m)
        component = rng.choice(m, size=n, p=weights / weights.sum())
        out = {}
        for j, col in enumerate(self.columns_):
            if j in fixed:
                coarse = np.full(n, fixed[j], dtype=np.int64)
            else:
                cdf = np.cumsum(self._block(j), axis=1)
                u = rng.random(n) * cdf[component, -1]
                coarse = np.minimum((u[:, None] > cdf[component]).sum(axis=1), self.sizes_[j] - 1)
            out[col.name] = col.values_of(self._fine_of(j, coarse, rng), rng)
        return out

    def _fine_of(self, j: int, coarse: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A fine cell for every model code, drawn in proportion to the noisy fine histogram."""
        mapping, weights = self.coarse_[j], self.fine_weights_[j]
        fine = np.empty(coarse.shape, dtype=np.int64)
        for code in np.unique(coarse):
            members = np.flatnonzero(mapping == code)
            w = weights[members]
            w = w / w.sum() if w.sum() > 0 else np.full(members.size, 1.0 / members.size)
            rows = coarse == code
            fine[rows] = members[np.minimum(np.searchsorted(np.cumsum(w), rng.random(int(rows.sum())) * w.sum(),
                                                            side="right"), members.size - 1)]
        return fine

    # -- state -------------------------------------------------------------------------------

    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        arrays = {"components": self.components_}
        for j, col in enumerate(self.columns_):
            arrays[f"coarse{j}"] = self.coarse_[j]
            arrays[f"fine_weights{j}"] = self.fine_weights_[j]
            for key, value in col.arrays().items():
                arrays[f"{key}{j}"] = value
        return {"columns": [c.info() for c in self.columns_], "sizes": self.sizes_}, arrays

    def _set_state(self, info: dict, arrays: dict[str, np.ndarray]) -> None:
        self.columns_ = []
        for j, col_info in enumerate(info["columns"]):
            col_arrays = {k: arrays[f"{k}{j}"] for k in ("low", "high", "exact") if f"{k}{j}" in arrays}
            self.columns_.append(_Column.from_state(col_info, col_arrays))
        if [c.name for c in self.columns_] != self.encoder_.modelled:
            raise ValueError("model columns do not match the metadata")
        self.sizes_ = [int(k) for k in info["sizes"]]
        self.coarse_ = [np.asarray(arrays[f"coarse{j}"], dtype=np.int64) for j in range(len(self.columns_))]
        self.fine_weights_ = [np.asarray(arrays[f"fine_weights{j}"], dtype=np.float64)
                              for j in range(len(self.columns_))]
        self.components_ = np.asarray(arrays["components"], dtype=np.float64)
        if self.components_.shape[1] != sum(self.sizes_):
            raise ValueError("component table has the wrong shape")
        for j, col in enumerate(self.columns_):
            if self.coarse_[j].shape != (col.n_fine,) or self.fine_weights_[j].shape != (col.n_fine,):
                raise ValueError(f"state of column '{col.name}' has the wrong shape")
