"""Column domains for differentially private models: declared public or estimated under DP.

A DP model must not learn its value ranges and category sets from the raw
data for free: an outlier's value in a clipping bound, or a category held by
one person, would leak without any noise. So every bound and category set a
DP model uses comes from one of two places:

``public``
    declared by the user in the metadata (``min``/``max`` of numerical and
    datetime columns, ``categories`` of categorical ones). Declared knowledge
    costs no budget; the user vouches that it does not come from the private
    rows (e.g. a published code book, or ages 0-120).
``dp``
    estimated from the data with a differentially private mechanism whose
    (ε, δ) is recorded on the :class:`Domain` and charged to the model's
    budget.

What is treated as public schema either way: the column names, their kinds,
boolean spellings (``true_value``/``false_value``), datetime formats and the
number of rows. Id, PII and text columns are never modelled and get no domain.

The estimate is one pass of Gaussian noise over one histogram per column
(:func:`estimate_domain`). Under add/remove-one neighbouring a row adds one
to one cell of each histogram, so each has L2 sensitivity 1 and together they
are a composition of Gaussian mechanisms, which ``dp-accounting``'s PLD
accountant prices (:func:`synthera.dp.mechanisms.calibrate`); category counts
get :data:`CATEGORY_NOISE_RATIO` times less noise than the rest:

numerical and datetime columns (datetimes as float seconds since 1970-01-01)
    Counts over fixed, data-independent buckets on a signed log scale: edges
    ``0, ±{1, 2, 5}·10^k`` for ``k = -8..15``, plus a null bucket. The bounds
    are the outer edges of the lowest and highest buckets whose noisy count
    clears ``σ·z(β / B)`` (``B`` buckets, ``β = 0.05``: with probability
    ≥ 95 % no empty bucket clears it). If none does, the bucket with the
    largest noisy count gives them (post-processing, free). Values outside the
    bounds are clipped.
categorical columns
    Counts of the categories present, plus a null bucket. A category is kept
    when its noisy count exceeds ``1 + σ·z(p / c)`` (``c`` categorical
    columns), so one that a single row holds is released with probability at
    most ``p / c``, at most ``p`` over all columns. Rare categories are left
    out; models treat their values as nulls (nullable columns) or spread them
    over the kept ones. The kept categories are sorted by their text, so their
    order reveals no counts; their noisy counts are kept for reuse
    (``Domain.noisy_counts``). When no category clears the threshold the tuple
    is empty.
boolean columns
    Their two values are schema; only the null count is estimated.
``nullable``
    The noisy null count (from the same histogram) exceeds ``σ·z(β)``.

Privacy. Let ``M_c`` be the estimate with every category that only the added
(or removed) row holds forced to stay hidden: it is an adaptive composition of
Gaussian mechanisms, (ε, δ_g)-DP by the accountant. ``M`` differs from ``M_c``
with probability at most ``p`` (total variation), so for every set of outputs
``S``: ``P[M(D) ∈ S] ≤ e^ε P[M(D') ∈ S] + δ_g + e^ε·p``. With ``ε`` and
``δ`` given, ``p = δ / (2 e^ε)`` and the noise is calibrated to
``(ε, δ_g = δ / 2)``; without categorical columns ``p = 0`` and ``δ_g = δ``.
The same argument holds when a model composes the estimate with its own
Gaussian measurements in one accountant (``Domain.groups``): the whole fit is
then (ε_total, δ_g,total + e^ε_total·p)-DP, which is what
:class:`~synthera.tabular.dp_marginals.DPMarginalsSynthesizer` reports.
:func:`resolve_domain` gives the estimate ``share`` of ε and δ; models that
add ε (basic composition) spend the rest on their own.

Noise is drawn with numpy floating point, which, like Opacus outside its
``secure_mode``, is open to floating-point attacks on noise samplers; this
module does not defend against them.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from synthera.metadata import infer_metadata
>>> df = pd.DataFrame({"age": np.arange(20000) % 60 + 20, "sex": ["F", "M"] * 10000})
>>> md = infer_metadata(df)
>>> dom = estimate_domain(df, md, epsilon=1.0, delta=1e-6, rng=np.random.default_rng(0))
>>> dom["age"].lower, dom["age"].upper, dom["sex"].categories
(20.0, 100.0, ('F', 'M'))
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from synthera._columns import iso_seconds, to_seconds
from synthera.dp.accounting import check_budget
from synthera.dp.mechanisms import MeasurementGroup, calibrate, delta_spent, gaussian_histogram
from synthera.errors import MetadataError, UserInputError

__all__ = [
    "CATEGORY_NOISE_RATIO",
    "DOMAIN_FORMAT_VERSION",
    "DOMAIN_SHARE",
    "MODELLED_KINDS",
    "ColumnDomain",
    "Domain",
    "declared_columns",
    "domain_from_metadata",
    "domain_plan",
    "estimate_domain",
    "modelled_columns",
    "release_threshold",
    "resolve_domain",
    "to_float",
]

DOMAIN_FORMAT_VERSION = 1
MODELLED_KINDS = ("numerical", "datetime", "categorical", "boolean")
#: Share of the budget (ε and δ) spent estimating the domain when the user declares none.
DOMAIN_SHARE = 0.1
_BETA = 0.05  # failure probability that sets the numeric and null thresholds
#: numbers' bucket counts (and booleans' null counts) get this many times the noise of category counts
CATEGORY_NOISE_RATIO = 2.0
_MANTISSAS = (1.0, 2.0, 5.0)
_EXPONENTS = range(-8, 16)


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class ColumnDomain:
    """The values a model may use for one column.

    ``kind`` is ``"numerical"`` (numbers, and datetimes as float seconds since
    1970-01-01) or ``"categorical"`` (categorical and boolean columns).
    ``lower``/``upper`` are set for numerical columns (``lower < upper``),
    ``categories`` for categorical ones, in the spelling of the data frame.
    ``source`` is ``"public"`` (declared by the user) or ``"dp"``.
    """

    name: str
    kind: str
    lower: float | None
    upper: float | None
    categories: tuple | None
    nullable: bool
    source: str

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "lower": self.lower,
            "upper": self.upper,
            "categories": None if self.categories is None else [_plain(v) for v in self.categories],
            "nullable": self.nullable,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, name: str, data: Any) -> ColumnDomain:
        if not isinstance(data, dict):
            raise MetadataError(f"domain of column '{name}' must be an object; got {type(data).__name__}")
        expected = {"kind", "lower", "upper", "categories", "nullable", "source"}
        if set(data) != expected:
            odd = min(set(data) ^ expected)
            raise MetadataError(f"domain of column '{name}': unexpected or missing field '{odd}'")
        kind, source = data["kind"], data["source"]
        if kind not in ("numerical", "categorical"):
            raise MetadataError(f"domain of column '{name}': kind must be numerical or categorical; got {kind!r}")
        if source not in ("public", "dp"):
            raise MetadataError(f"domain of column '{name}': source must be public or dp; got {source!r}")
        if not isinstance(data["nullable"], bool):
            raise MetadataError(f"domain of column '{name}': nullable must be true or false")
        lower, upper, cats = data["lower"], data["upper"], data["categories"]
        if kind == "numerical":
            if not (_is_number(lower) and _is_number(upper)) or not float(lower) < float(upper):
                raise MetadataError(f"domain of column '{name}': needs numbers lower < upper; got {lower!r}, {upper!r}")
            if cats is not None:
                raise MetadataError(f"domain of column '{name}': a numerical column has no categories")
            return cls(name, kind, float(lower), float(upper), None, data["nullable"], source)
        if not isinstance(cats, list) or lower is not None or upper is not None:
            raise MetadataError(f"domain of column '{name}': a categorical column needs a list of categories only")
        if any(not isinstance(c, (str, int, float, bool)) for c in cats) or len(set(map(repr, cats))) != len(cats):
            raise MetadataError(f"domain of column '{name}': categories must be distinct texts, numbers or booleans")
        return cls(name, kind, None, None, tuple(cats), data["nullable"], source)


@dataclass
class Domain:
    """Domains of the modelled columns, and the (ε, δ) spent finding them.

    An estimate also keeps how it was made, so that a model can compose it with
    its own measurements in one accountant instead of adding the ε: ``groups``
    (its calibrated Gaussian histograms) and ``release_probability`` (the chance
    that a category held by one row clears its threshold, summed over the
    columns). ``noisy_counts`` holds the released categories' noisy counts (the
    null count under ``None``), for reuse as free post-processing during a fit;
    it is not saved.
    """

    columns: dict[str, ColumnDomain] = field(default_factory=dict)
    epsilon: float = 0.0
    delta: float = 0.0
    groups: tuple = ()
    release_probability: float = 0.0
    noisy_counts: dict = field(default_factory=dict, compare=False, repr=False)

    def __getitem__(self, name: str) -> ColumnDomain:
        try:
            return self.columns[name]
        except KeyError:
            raise UserInputError(f"column '{name}' has no domain; known: {', '.join(self.columns)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def to_dict(self) -> dict:
        """JSON-safe form (``groups`` and ``release_probability`` only when the domain was estimated)."""
        out = {
            "format_version": DOMAIN_FORMAT_VERSION,
            "epsilon": "inf" if math.isinf(self.epsilon) else float(self.epsilon),
            "delta": float(self.delta),
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
        }
        if self.groups:
            out["groups"] = [g.to_dict() for g in self.groups]
            out["release_probability"] = float(self.release_probability)
        return out

    @classmethod
    def from_dict(cls, d: Any) -> Domain:
        """Rebuild from :meth:`to_dict`'s output, validating every field."""
        required = {"format_version", "epsilon", "delta", "columns"}
        if not isinstance(d, dict) or not required <= set(d) <= required | {"groups", "release_probability"}:
            raise MetadataError("not a Synthera domain (expected format_version, epsilon, delta, columns)")
        if d["format_version"] != DOMAIN_FORMAT_VERSION:
            raise MetadataError(
                f"domain format version {d['format_version']!r} is not the one this Synthera reads "
                f"({DOMAIN_FORMAT_VERSION}); use a matching synthera version"
            )
        eps, delta = d["epsilon"], d["delta"]
        eps = math.inf if eps == "inf" else eps
        eps_ok = (eps == math.inf or _is_number(eps)) and float(eps) >= 0
        if not (eps_ok and _is_number(delta) and 0 <= float(delta) < 1):
            raise MetadataError(f"domain budget must have epsilon >= 0 and 0 <= delta < 1; got {eps!r}, {delta!r}")
        if not isinstance(d["columns"], dict):
            raise MetadataError("domain 'columns' must be an object of column name -> domain")
        columns = {str(n): ColumnDomain.from_dict(str(n), c) for n, c in d["columns"].items()}
        return cls(columns=columns, epsilon=float(eps), delta=float(delta), **_mechanism_from_dict(d))


# --------------------------------------------------------------------------- helpers


def _mechanism_from_dict(d: dict) -> dict:
    """``groups`` and ``release_probability`` of a saved estimate, validated (empty for a public domain)."""
    if "groups" not in d:
        return {}
    groups, p = d["groups"], d.get("release_probability")
    try:
        groups = tuple(MeasurementGroup.from_dict(g) for g in groups)
        ok = all(g.sigma is not None and float(g.sigma) > 0 for g in groups)
    except (TypeError, KeyError, AttributeError):
        ok = False
    if not ok or not (_is_number(p) and 0 <= p < 1):
        raise MetadataError("domain 'groups' must be calibrated measurement groups, with release_probability in [0, 1)")
    return {"groups": groups, "release_probability": float(p)}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _sort_key(value: Any) -> tuple:
    return (type(value).__name__, str(value))


def to_float(series: pd.Series, col) -> np.ndarray:
    """Values of a numerical or datetime column as float64 (NaN where null or unreadable).

    Datetimes become seconds since 1970-01-01 UTC (:func:`synthera._columns.to_seconds`).
    """
    if col.kind == "datetime":
        return to_seconds(series, col)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _iso_seconds(name: str, value: Any) -> float:
    try:
        return iso_seconds(value)
    except (TypeError, ValueError):
        raise MetadataError(f"column '{name}': {value!r} is not an ISO 8601 date; write it like 2024-01-31") from None


def modelled_columns(metadata, columns=None) -> list[str]:
    """Names of the columns a DP model uses: ``columns`` if given, else every modelled kind."""
    if columns is None:
        return metadata.of_kind(*MODELLED_KINDS)
    names = list(columns)
    for name in names:
        kind = metadata[name].kind
        if kind not in MODELLED_KINDS:
            raise UserInputError(
                f"column '{name}' is of kind {kind}, which DP models do not use; drop it or change its kind"
            )
    return names


def _declared(name: str, col) -> ColumnDomain | None:
    """The public domain the metadata declares for a column, or None if it declares none."""
    if col.kind == "boolean":
        if col.true_value is None or col.false_value is None:
            return None
        cats = tuple(sorted({_plain(col.true_value), _plain(col.false_value)}, key=_sort_key))
        return ColumnDomain(name, "categorical", None, None, cats, bool(col.nullable), "public")
    if col.kind == "categorical":
        if not col.categories:
            return None
        cats = tuple(sorted({_plain(c) for c in col.categories}, key=_sort_key))
        return ColumnDomain(name, "categorical", None, None, cats, bool(col.nullable), "public")
    if col.min is None or col.max is None:
        return None
    if col.kind == "datetime":
        low, high = _iso_seconds(name, col.min), _iso_seconds(name, col.max)
    else:
        low, high = float(col.min), float(col.max)
    if low == high:  # one declared value: widen so that scaling by the range stays defined
        high = low + max(1.0, abs(low) * 1e-9)
    return ColumnDomain(name, "numerical", low, high, None, bool(col.nullable), "public")


def declared_columns(metadata, columns=None) -> list[str]:
    """The columns whose domain ``metadata`` fully declares (bounds or categories)."""
    return [n for n in modelled_columns(metadata, columns) if _declared(n, metadata[n]) is not None]


# --------------------------------------------------------------------------- public domains


def domain_from_metadata(metadata, columns=None, *, partial: bool = False) -> Domain:
    """The domain declared public in ``metadata``; costs no privacy budget.

    Parameters
    ----------
    metadata
        :class:`~synthera.metadata.Metadata` written or checked by the user.
        Numerical and datetime columns need ``min`` and ``max``, categorical
        columns ``categories``; boolean columns are described by their kind.
    columns
        Columns to include (default: every numerical, datetime, categorical
        and boolean column).
    partial
        Leave out columns the metadata does not fully declare instead of
        raising (for :func:`estimate_domain`'s ``public=``).

    Raises
    ------
    UserInputError
        A column lacks its bounds or categories (unless ``partial``).
    """
    out = {}
    for name in modelled_columns(metadata, columns):
        dom = _declared(name, metadata[name])
        if dom is None:
            if partial:
                continue
            need = "categories" if metadata[name].kind == "categorical" else "min and max"
            raise UserInputError(
                f"column '{name}' has no {need} in the metadata; declare them, or let Synthera "
                "estimate the domain under DP (which spends part of the budget)"
            )
        out[name] = dom
    return Domain(columns=out, epsilon=0.0, delta=0.0)


# --------------------------------------------------------------------------- DP estimation


def _bucket_edges() -> np.ndarray:
    positive = sorted(m * 10.0**k for k in _EXPONENTS for m in _MANTISSAS)
    return np.array([-x for x in reversed(positive)] + [0.0] + positive)


_EDGES = _bucket_edges()  # buckets: (-inf, e0), [e0, e1), ..., [e_last, inf)


def _numeric_counts(values: np.ndarray) -> np.ndarray:
    """Counts of the fixed log-scale buckets, then the null bucket (one cell per row)."""
    present = values[~np.isnan(values)]
    counts = np.bincount(np.searchsorted(_EDGES, present, side="right"), minlength=len(_EDGES) + 1)
    return np.append(counts, len(values) - len(present)).astype(np.float64)


def _z(tail: float) -> float:
    """The standard normal quantile above which lies ``tail`` of the mass."""
    return NormalDist().inv_cdf(1.0 - tail)


def _numeric_domain(name: str, values: np.ndarray, sigma: float, rng: np.random.Generator) -> ColumnDomain:
    noisy = gaussian_histogram(_numeric_counts(values), sigma, rng)
    noisy, noisy_nulls = noisy[:-1], noisy[-1]
    n_buckets = len(noisy)
    threshold = sigma * _z(_BETA / n_buckets)  # P(any empty bucket clears it) <= beta
    heavy = np.flatnonzero(noisy > threshold)
    if len(heavy) == 0:
        heavy = np.array([int(np.argmax(noisy))])
    first, last = int(heavy[0]), int(heavy[-1])
    # bucket i spans [edges[i-1], edges[i]); the two outer buckets are open, so use the nearest edge
    lower = _EDGES[max(first - 1, 0)]
    upper = _EDGES[min(last, len(_EDGES) - 1)]
    if not lower < upper:  # an outer bucket alone: give it the width of its neighbour
        lower, upper = (_EDGES[-2], _EDGES[-1]) if first == n_buckets - 1 else (_EDGES[0], _EDGES[1])
    nullable = bool(noisy_nulls > sigma * _z(_BETA))
    return ColumnDomain(name, "numerical", float(lower), float(upper), None, nullable, "dp")


def _categorical_domain(name: str, series: pd.Series, sigma: float, threshold: float,
                        rng: np.random.Generator) -> tuple[ColumnDomain, dict]:
    counts = series.value_counts(dropna=True, sort=False)
    noisy = gaussian_histogram(np.append(counts.to_numpy(dtype=float), series.isna().sum()), sigma, rng)
    noisy, noisy_nulls = noisy[:-1], noisy[-1]
    kept = {_plain(v): float(z) for v, z in zip(counts.index, noisy, strict=True) if z > threshold}
    nullable = bool(noisy_nulls > sigma * _z(_BETA))
    cats = tuple(sorted(kept, key=_sort_key))
    released = {c: kept[c] for c in cats}
    if nullable:
        released[None] = float(noisy_nulls)
    return ColumnDomain(name, "categorical", None, None, cats, nullable, "dp"), released


def _boolean_domain(name: str, col, series: pd.Series, sigma: float, rng: np.random.Generator) -> ColumnDomain:
    noisy_nulls = float(gaussian_histogram(np.array([series.isna().sum()]), sigma, rng)[0])
    nullable = bool(noisy_nulls > sigma * _z(_BETA))
    cats = tuple(sorted({_plain(col.true_value), _plain(col.false_value)}, key=_sort_key))
    return ColumnDomain(name, "categorical", None, None, cats, nullable, "dp")


def domain_plan(n_categorical: int, n_other: int) -> list[MeasurementGroup]:
    """The Gaussian histograms of one domain estimate, before calibration.

    One histogram per column. Category counts decide which categories are
    released, so they get :data:`CATEGORY_NOISE_RATIO` times less noise than the
    log-scale bucket counts of numbers (and null counts of booleans), which
    only place a bound within a factor of 2 or 2.5.
    """
    return [MeasurementGroup("domain: category counts", count=n_categorical,
                             share=max(n_categorical, 1) * CATEGORY_NOISE_RATIO**2),
            MeasurementGroup("domain: bucket counts", count=n_other, share=max(n_other, 1))]


@functools.lru_cache(maxsize=64)
def _calibrated_plan(n_categorical: int, n_other: int, *, epsilon: float, delta: float) -> tuple[tuple, float]:
    """:func:`domain_plan` calibrated to (ε, δ), and the δ it spends at ε (at most ``delta``).

    The accountant's answer depends on nothing else, so it is cached.
    """
    groups = tuple(calibrate(domain_plan(n_categorical, n_other), epsilon=epsilon, delta=delta))
    return groups, min(delta_spent(list(groups), epsilon=epsilon), delta)


def release_threshold(sigma: float, *, tail: float) -> float:
    """Noisy count a category must exceed to be released: one row's count (1) clears it with probability ``tail``."""
    return 1.0 + sigma * _z(tail)


def estimate_domain(
    df: pd.DataFrame,
    metadata,
    *,
    epsilon: float,
    delta: float,
    rng: np.random.Generator,
    columns=None,
    public: Domain | None = None,
) -> Domain:
    """Estimate bounds, category sets and nullability under (ε, δ)-DP, in one Gaussian pass.

    Only the column *kinds* (and boolean spellings and datetime formats) are
    read from ``metadata``; its ``min``/``max``/``categories`` are ignored,
    since metadata inferred from the data would leak them. Columns found in
    ``public`` are copied from it verbatim and cost nothing.

    Parameters
    ----------
    df
        The private table.
    metadata
        Its :class:`~synthera.metadata.Metadata` (kinds).
    epsilon, delta
        The budget for the whole estimate (see the module docstring for how
        it is split between the Gaussian noise and the category thresholds).
    rng
        A ``numpy.random.Generator``; the same seed gives the same domain.
    columns
        Columns to include (default: every modelled column).
    public
        Public domains (e.g. ``domain_from_metadata(md, partial=True)``).

    Returns
    -------
    Domain
        With ``epsilon``/``delta`` the budget it spends on its own (0 when
        every column was public; ``delta`` is the accountant's δ at ``epsilon``,
        a hair under the one asked), its calibrated ``groups`` and the
        ``release_probability`` of its thresholds, for models that compose it
        with their own measurements in one accountant.
    """
    names = modelled_columns(metadata, columns)
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise UserInputError(f"column '{missing[0]}' is not in the data; check the column names")
    public_cols = public.columns if public is not None else {}
    todo = [n for n in names if n not in public_cols]
    if not todo:
        return Domain(columns={n: public_cols[n] for n in names}, epsilon=0.0, delta=0.0)
    check_budget(epsilon, delta)
    n_cat = sum(metadata[n].kind == "categorical" for n in todo)
    # delta: half pays for the chance that a one-row category clears its threshold (p, counted as e^eps * p),
    # the rest for the Gaussian noise; without categories all of it goes to the noise
    probability = 0.5 * delta / math.exp(epsilon) if n_cat else 0.0
    groups, delta_gauss = _calibrated_plan(n_cat, len(todo) - n_cat, epsilon=float(epsilon),
                                           delta=float(delta - math.exp(epsilon) * probability))
    sigma_cat, sigma_other = groups[0].sigma, groups[1].sigma
    threshold = release_threshold(sigma_cat, tail=probability / n_cat) if n_cat else math.inf
    out, released = {}, {}
    for name in names:
        if name in public_cols:
            out[name] = public_cols[name]
            continue
        col = metadata[name]
        if col.kind in ("numerical", "datetime"):
            out[name] = _numeric_domain(name, to_float(df[name], col), sigma_other, rng)
        elif col.kind == "categorical":
            out[name], released[name] = _categorical_domain(name, df[name], sigma_cat, threshold, rng)
        else:
            out[name] = _boolean_domain(name, col, df[name], sigma_other, rng)
    spent = delta_gauss + math.exp(epsilon) * probability  # what the estimate spends at epsilon: at most delta
    return Domain(columns=out, epsilon=float(epsilon), delta=float(spent), groups=groups,
                  release_probability=probability, noisy_counts=released)


def resolve_domain(
    df: pd.DataFrame,
    metadata,
    *,
    declared=None,
    epsilon: float,
    delta: float,
    rng: np.random.Generator,
    columns=None,
    share: float = DOMAIN_SHARE,
) -> Domain:
    """The domain a DP model trained under (``epsilon``, ``delta``) uses: the rule of the CLI.

    Columns whose bounds or categories ``declared`` (the metadata the user
    passed, or ``None``) declares are public. The others are estimated under
    DP with ``share`` of ``epsilon`` and of ``delta``. A model either trains
    on what is left, ``epsilon - domain.epsilon`` and ``delta - domain.delta``
    (basic composition), or composes ``domain.groups`` with its own Gaussian
    measurements in one accountant and pays ``e^ε · domain.release_probability``
    of δ for the thresholds (as ``dp_marginals`` does), which leaves it more.
    With ``epsilon = inf`` (a non-private baseline) the domain is read from
    the data without noise and marked ``source="dp"`` with ε = ∞.
    """
    names = modelled_columns(metadata, columns)
    public = domain_from_metadata(declared, [n for n in names if n in declared], partial=True) if declared else None
    if math.isinf(epsilon):
        return _exact_domain(df, metadata, names, public)
    return estimate_domain(df, metadata, epsilon=share * epsilon, delta=share * delta, rng=rng,
                           columns=names, public=public)


def _exact_domain(df: pd.DataFrame, metadata, names: list[str], public: Domain | None) -> Domain:
    """Non-private: the data's own ranges and categories (for ε = ∞ baselines only)."""
    out = {}
    spent = 0.0
    for name in names:
        if public is not None and name in public:
            out[name] = public[name]
            continue
        spent = math.inf
        col, series = metadata[name], df[name]
        nullable = bool(series.isna().any())
        if col.kind in ("numerical", "datetime"):
            values = to_float(series, col)
            low, high = float(np.nanmin(values)), float(np.nanmax(values))
            out[name] = ColumnDomain(name, "numerical", low, high if high > low else low + 1.0, None, nullable, "dp")
        else:
            cats = {_plain(v) for v in series.dropna().unique()}
            if col.kind == "boolean":
                cats |= {_plain(col.true_value), _plain(col.false_value)}
            cats = tuple(sorted(cats, key=_sort_key))
            out[name] = ColumnDomain(name, "categorical", None, None, cats, nullable, "dp")
    return Domain(columns=out, epsilon=spent, delta=0.0)
