"""Reversible transforms between a table and what models learn from.

:class:`TableEncoder` turns the *modelled* columns of a table (numerical,
datetime, categorical, boolean) into arrays, and turns arrays back into a
table with the original columns, dtypes, bounds, decimal places, null rates
and datetime formats. Columns that are never learned from the data
(identifiers, free text, personal data) are generated afresh on decode by
:mod:`synthera.tabular.fake`.

Encoded form, one array per modelled column:

* ``continuous`` columns (numerical, datetime): float64, NaN where null.
  Datetimes are seconds since 1970-01-01 UTC, through the shared column codec
  :mod:`synthera._columns` (category codes too).
* ``discrete`` columns (categorical, boolean): int64 codes ``0..K-1`` in the
  order of the metadata's categories (``false`` before ``true``), plus code
  ``K`` for null when the column is nullable.

:class:`Discretizer` further maps a continuous column to codes (point masses
such as ``capital_gain == 0`` get their own code, the rest quantile bins) and
back, drawing inside a bin from its stored within-bin quantiles, so decoded
values follow the real distribution closely without copying values row by row.

Every transform's state is plain JSON plus numpy arrays, so models save
without pickle.

A fit on a bounded sample of a larger table (:func:`synthera.distributed.fit_dataset`)
can take its codes from the whole table: inside :func:`whole_table`, the encoder merges
rare categories by their whole-table counts and hands each continuous column's
whole-table :class:`ValueRuns` to :meth:`Discretizer.fit` (through :meth:`TableEncoder.runs`).
Outside it, nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from synthera._columns import EPOCH, category_codes, datetimes, from_seconds, iso_seconds, to_seconds
from synthera.errors import DataError
from synthera.metadata import RARE_COUNT, ColumnMetadata, Metadata, format_numbers, parse_numbers

__all__ = [
    "MODELLED_KINDS",
    "RARE_LABEL",
    "ColumnInfo",
    "Discretizer",
    "TableEncoder",
    "ValueRuns",
    "WholeTable",
    "discretizers_from_state",
    "discretizers_state",
    "snap_to_step",
    "whole_table",
]

MODELLED_KINDS = ("numerical", "datetime", "categorical", "boolean")
RARE_LABEL = "(other)"  # what text categories held by fewer than RARE_COUNT rows decode to
_STEP_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_STEP_PERIOD = {"month": ("M", 15.2 * 86400.0), "year": ("Y", 182.6 * 86400.0)}


@dataclass(frozen=True)
class ColumnInfo:
    """What a model needs to know about one encoded column."""

    name: str
    kind: str  # "continuous" or "discrete"
    n_codes: int  # discrete: number of codes, null code included; continuous: 0
    nullable: bool


@dataclass(frozen=True)
class ValueRuns:
    """A column's non-null values, sorted and summarised: run ``i`` holds ``counts[i]`` values in ``[lows, highs]``.

    A run with ``lows[i] == highs[i]`` is that one value, exactly; a wider run stands for
    ``counts[i]`` distinct values spread evenly across it (its real values are known only to
    lie inside). Runs are disjoint and in increasing order; ``nulls`` counts the null cells.
    """

    lows: np.ndarray
    highs: np.ndarray
    counts: np.ndarray
    nulls: int = 0


@dataclass(frozen=True)
class WholeTable:
    """What a fit on a sample knows of the whole table: exact category counts and value runs, per column."""

    counts: dict[str, dict] = field(default_factory=dict)  # column -> {category_key(value): rows}
    runs: dict[str, ValueRuns] = field(default_factory=dict)


_WHOLE_TABLE: ContextVar[WholeTable | None] = ContextVar("synthera_whole_table", default=None)


@contextmanager
def whole_table(summary: WholeTable) -> Iterator[None]:
    """Encoders fitted inside take rare categories and value runs from ``summary``, not from their rows."""
    token = _WHOLE_TABLE.set(summary)
    try:
        yield
    finally:
        _WHOLE_TABLE.reset(token)


# --------------------------------------------------------------------------- datetimes


def _datetime_resolution(col: ColumnMetadata) -> float:
    """Seconds between representable instants of a datetime column."""
    fmt = col.datetime_format
    if fmt is None:
        return 1e-6
    if "%f" in fmt:
        return 1e-6
    if "%S" in fmt:
        return 1.0
    if "%M" in fmt:
        return 60.0
    if "%H" in fmt:
        return 3600.0
    return 86400.0


def snap_to_step(seconds: np.ndarray, step: str | None) -> np.ndarray:
    """Datetimes (seconds since 1970) rounded to the nearest ``datetime_step`` (month: the 1st at 00:00)."""
    seconds = np.asarray(seconds, dtype=np.float64)
    if step in _STEP_SECONDS:
        size = _STEP_SECONDS[step]
        return np.round(seconds / size) * size
    if step in _STEP_PERIOD:
        freq, half = _STEP_PERIOD[step]
        stamps = pd.Series(datetimes(seconds + half))
        starts = stamps.dt.to_period(freq).dt.to_timestamp()
        return (starts - EPOCH).dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
    return seconds


# --------------------------------------------------------------------------- discretizer


class Discretizer:
    """Continuous values <-> integer codes, with frequent point masses kept exact.

    Parameters
    ----------
    max_bins
        Most quantile bins for the values that are not point masses.
    within
        Quantile points stored inside each bin for decoding.
    exact_up_to
        A column with at most this many distinct values gets one code per
        value held by at least ``min_count`` rows, decoded exactly (default:
        ``max_bins``).
    min_count
        Fewest rows a value must hold to be replayed exactly (k, default 5).

    Notes
    -----
    The privacy rule: a value held by fewer than ``min_count`` rows is never
    given its own code. Such values go into quantile bins of at least
    ``min_count`` rows each, and a bin whose values are *all* rare decodes to a
    uniform draw between its edges, so its real values come back only by
    chance (for whole numbers, with probability about members / width).
    Bins that also hold values seen ``min_count`` times or more decode from
    their within-bin quantiles, as before.
    """

    def __init__(self, max_bins: int = 64, within: int = 16, exact_up_to: int | None = None, min_count: int = 5):
        self.max_bins = max_bins
        self.within = within
        self.exact_up_to = max_bins if exact_up_to is None else exact_up_to
        self.min_count = min_count

    def fit(self, values: np.ndarray, *, integer: bool = False, runs: ValueRuns | None = None) -> Discretizer:
        """Codes for ``values``; with ``runs`` (the whole table's values, summarised), codes for those instead.

        From runs, the same rules apply to the values the runs stand for: exact where every run is
        one value (:meth:`_fit_runs`), else each quantile is at its exact rank, up to a run's width.
        """
        if runs is not None:
            return self._fit_runs(runs, integer=integer)
        x = values[~np.isnan(values)]
        if x.size == 0:
            raise DataError("cannot discretize a column with no values; drop it")
        self.nullable_ = bool(np.isnan(values).any())
        distinct, counts = np.unique(x, return_counts=True)
        k = max(1, int(self.min_count))
        if distinct.size <= max(self.exact_up_to, self.max_bins):
            heavy = distinct[counts >= k]  # few distinct values: each frequent one is its own code
        else:
            heavy = distinct[counts >= max(k, x.size / self.max_bins)]
        rows = [np.full(self.within + 1, v) for v in heavy]
        rest = x[~np.isin(x, heavy)]
        if rest.size:
            rows += self._bins(rest, distinct[counts < k], heavy, k, budget=max(1, self.max_bins - heavy.size))
        table = np.array(rows)
        self.table_ = table[np.argsort(table[:, 0], kind="stable")]
        self.integer_ = integer
        return self

    def _bins(self, rest: np.ndarray, rare: np.ndarray, heavy: np.ndarray, k: int, *, budget: int) -> list[np.ndarray]:
        """Within-bin quantile rows for ``rest``: bins of >= k rows; all-rare bins are uniform between edges."""
        n_bins = max(1, min(budget, np.unique(rest).size, rest.size // k))
        edges = np.unique(np.quantile(rest, np.linspace(0, 1, n_bins + 1)))
        if edges.size == 1:
            below, above = heavy[heavy < edges[0]], heavy[heavy > edges[0]]
            if not (below.size and above.size) or not np.isin(edges, rare).all():
                # a frequent value, or the column's min or max (public in the metadata anyway)
                return [np.full(self.within + 1, edges[0])]
            edges = np.array([below.max(), above.min()])  # a lone rare value: uniform between its neighbours
        bins = np.clip(np.searchsorted(edges, rest, side="right") - 1, 0, len(edges) - 2)
        probs = np.linspace(0, 1, self.within + 1)
        rows = []
        for b in range(len(edges) - 1):
            members = rest[bins == b]
            if not members.size:
                continue
            if np.isin(members, rare).all():
                rows.append(np.linspace(edges[b], edges[b + 1], self.within + 1))
            else:
                rows.append(np.quantile(members, probs))
        return rows

    def _fit_runs(self, runs: ValueRuns, *, integer: bool) -> Discretizer:
        """:meth:`fit` on the values ``runs`` stand for (a wide run: distinct values, each held once)."""
        lows, highs = np.asarray(runs.lows, dtype=np.float64), np.asarray(runs.highs, dtype=np.float64)
        counts = np.asarray(runs.counts, dtype=np.int64)
        if not counts.sum():
            raise DataError("cannot discretize a column with no values; drop it")
        self.nullable_ = bool(runs.nulls)
        k = max(1, int(self.min_count))
        point = lows == highs
        distinct = int(point.sum() + counts[~point].sum())
        if distinct <= max(self.exact_up_to, self.max_bins):
            heavy = point & (counts >= k)
        else:
            heavy = point & (counts >= max(k, counts.sum() / self.max_bins))
        rows = [np.full(self.within + 1, v) for v in lows[heavy]]
        rest = _Runs(lows[~heavy], highs[~heavy], counts[~heavy], rare=~point[~heavy] | (counts[~heavy] < k))
        if rest.size:
            rows += self._run_bins(rest, lows[heavy], k, budget=max(1, self.max_bins - int(heavy.sum())))
        table = np.array(rows)
        self.table_ = table[np.argsort(table[:, 0], kind="stable")]
        self.integer_ = integer
        return self

    def _run_bins(self, rest: _Runs, heavy: np.ndarray, k: int, *, budget: int) -> list[np.ndarray]:
        """:meth:`_bins` on the values of ``rest``: bins are ranges of ranks, found without expanding the runs."""
        n_bins = max(1, min(budget, rest.distinct, rest.size // k))
        edges = np.unique(rest.quantile(np.linspace(0, 1, n_bins + 1)))
        if edges.size == 1:  # one value left (a run of one value)
            below, above = heavy[heavy < edges[0]], heavy[heavy > edges[0]]
            if not (below.size and above.size) or not rest.rare.all():
                return [np.full(self.within + 1, edges[0])]
            edges = np.array([below.max(), above.min()])
        probs = np.linspace(0, 1, self.within + 1)
        last = len(edges) - 2
        bounds = [0, *(rest.below(edges[b]) for b in range(1, last + 1)), rest.size]
        rows = []
        for b in range(last + 1):
            start, stop = bounds[b], bounds[b + 1]
            if stop <= start:
                continue
            if rest.all_rare(start, stop):
                rows.append(np.linspace(edges[b], edges[b + 1], self.within + 1))
            else:
                rows.append(rest.quantile(probs, start, stop))
        return rows

    @property
    def n_codes(self) -> int:
        return len(self.table_) + int(self.nullable_)

    @property
    def null_code(self) -> int | None:
        return len(self.table_) if self.nullable_ else None

    @property
    def exact(self) -> bool:
        """Whether every code stands for one value (each of a column's few values kept, or point masses only)."""
        return bool(np.all(self.table_[:, 0] == self.table_[:, -1]))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Code of each value: its point mass if it is one, else the range bin that holds it."""
        values = np.asarray(values, dtype=np.float64)
        lows = self.table_[:, 0]
        is_point = lows == self.table_[:, -1]
        codes = np.full(values.shape, -1, dtype=np.int64)
        point_idx = np.flatnonzero(is_point)
        if point_idx.size:
            point_vals = lows[point_idx]
            pos = np.clip(np.searchsorted(point_vals, values), 0, point_idx.size - 1)
            hit = point_vals[pos] == values
            codes[hit] = point_idx[pos[hit]]
        range_idx = np.flatnonzero(~is_point) if (~is_point).any() else point_idx
        nan = np.isnan(values)
        rest = (codes == -1) & ~nan
        pos = np.clip(np.searchsorted(lows[range_idx], values[rest], side="right") - 1, 0, range_idx.size - 1)
        codes[rest] = range_idx[pos]
        if nan.any():
            if self.null_code is None:
                raise DataError("a column without nulls in training has nulls now; refit the model")
            codes[nan] = self.null_code
        return codes

    def inverse(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Values for codes: a draw from each bin's within-bin quantiles (points decode exactly)."""
        codes = np.asarray(codes, dtype=np.int64)
        return self.at(codes, rng.random(codes.shape))

    def at(self, codes: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Values for codes at within-bin quantile levels ``u`` in [0, 1] (points decode exactly, nulls to NaN)."""
        codes = np.asarray(codes, dtype=np.int64)
        n_rows, width = self.table_.shape
        real = codes < n_rows
        safe = np.where(real, codes, 0)
        pos = np.clip(u, 0.0, 1.0) * self.within
        left = np.minimum(pos.astype(np.int64), self.within - 1)
        frac = pos - left
        flat = self.table_.ravel()
        base = safe * width + left
        out = flat[base] * (1.0 - frac) + flat[base + 1] * frac
        return np.where(real, out, np.nan)

    @property
    def ranged(self) -> np.ndarray:
        """For every code: True where it is a range of values (a bin), False for a point mass or the null code."""
        table = self.table_
        return np.r_[table[:, 0] != table[:, -1], np.zeros(int(self.nullable_), dtype=bool)]

    def code_of(self, value: float) -> int:
        return int(self.transform(np.array([float(value)]))[0])

    # persistence: arrays + JSON
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return (
            {"max_bins": self.max_bins, "within": self.within, "exact_up_to": self.exact_up_to,
             "min_count": self.min_count, "nullable": self.nullable_, "integer": self.integer_},
            {"table": self.table_},
        )

    @classmethod
    def from_state(cls, info: dict, arrays: dict[str, np.ndarray]) -> Discretizer:
        obj = cls(max_bins=int(info["max_bins"]), within=int(info["within"]), exact_up_to=int(info["exact_up_to"]),
                  min_count=int(info.get("min_count", 1)))  # models saved before the rule: k = 1
        obj.nullable_ = bool(info["nullable"])
        obj.integer_ = bool(info["integer"])
        obj.table_ = np.asarray(arrays["table"], dtype=np.float64)
        if obj.table_.ndim != 2 or obj.table_.shape[1] != obj.within + 1:
            raise ValueError("discretizer table has the wrong shape")
        return obj


class _Runs:
    """The sorted values that runs stand for, read by rank: value at a rank, quantiles, ranks below a value."""

    def __init__(self, lows: np.ndarray, highs: np.ndarray, counts: np.ndarray, *, rare: np.ndarray):
        self.lows, self.highs, self.counts, self.rare = lows, highs, counts, rare
        self.ends = np.cumsum(counts)
        self.starts = self.ends - counts
        self.size = int(self.ends[-1]) if counts.size else 0
        point = lows == highs
        self.distinct = int(point.sum() + counts[~point].sum())

    def at(self, rank: np.ndarray) -> np.ndarray:
        """The values at ranks ``rank`` (0-based): a wide run's values are spread evenly across it."""
        run = np.searchsorted(self.ends, rank, side="right")
        step = (self.highs[run] - self.lows[run]) / np.maximum(self.counts[run] - 1, 1)
        return self.lows[run] + step * (rank - self.starts[run])

    def quantile(self, q: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
        """``np.quantile`` (linear) of the values at ranks ``start .. stop - 1``."""
        n = (self.size if stop is None else stop) - start
        virtual = (n - 1) * q  # numpy's linear method: the virtual index between two ranks
        before = np.floor(virtual)
        gamma = virtual - before
        a = self.at(start + np.clip(before, 0, n - 1).astype(np.int64))
        b = self.at(start + np.clip(before + 1, 0, n - 1).astype(np.int64))
        diff = b - a
        return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)

    def below(self, value: float) -> int:
        """How many values are smaller than ``value``."""
        run = int(np.searchsorted(self.highs, value, side="left"))  # runs wholly below end before this one
        count = int(self.starts[run]) if run < self.counts.size else self.size
        if run < self.counts.size and self.lows[run] < value:
            share = (value - self.lows[run]) / (self.highs[run] - self.lows[run]) * (self.counts[run] - 1)
            count += int(min(np.ceil(share), self.counts[run]))
        return count

    def all_rare(self, start: int, stop: int) -> bool:
        """Whether every value at ranks ``start .. stop - 1`` is rare (held by fewer than k rows)."""
        return bool(self.rare[(self.starts < stop) & (self.ends > start)].all())


def discretizers_state(columns: list[str], discretizers: dict[str, Discretizer]) -> tuple[dict, dict[str, np.ndarray]]:
    """Save the discretizers of a model whose columns are ``columns`` (arrays keyed by position)."""
    info, arrays = {}, {}
    for j, name in enumerate(columns):
        if name in discretizers:
            info[name], disc_arrays = discretizers[name].state()
            arrays[f"disc{j}_table"] = disc_arrays["table"]
    return info, arrays


def discretizers_from_state(columns: list[str], info: dict, arrays: dict[str, np.ndarray]) -> dict[str, Discretizer]:
    """Inverse of :func:`discretizers_state`."""
    return {
        name: Discretizer.from_state(info[name], {"table": arrays[f"disc{j}_table"]})
        for j, name in enumerate(columns)
        if name in info
    }


# --------------------------------------------------------------------------- table encoder


class TableEncoder:
    """Table <-> arrays for the modelled columns, driven by metadata."""

    def fit(self, df: pd.DataFrame, metadata: Metadata) -> TableEncoder:
        """Learn what decoding needs; categories held by fewer than ``RARE_COUNT`` rows are merged.

        The merge edits ``metadata`` in place: rare categories leave the list
        (so the saved model never holds them) and ``rare_categories`` counts
        them; they all share one extra "other" code. With no rows (DP models,
        whose categories are a declared or DP-released domain) nothing is merged.
        """
        from synthera.tabular.fake import describe_generated

        whole = _WHOLE_TABLE.get()
        self.whole_runs_ = dict(whole.runs) if whole is not None else {}  # not saved: read while fitting only
        for name, col in metadata.columns.items():
            if col.kind == "categorical" and col.categories is not None:
                if whole is not None and name in whole.counts and len(df):
                    _merge_rare_counted(col, whole.counts[name])
                else:
                    _merge_rare(name, col, df[name] if len(df) else None)
        self._set_columns(metadata)
        self.generated_ = {
            name: describe_generated(df[name], col)
            for name, col in metadata.columns.items()
            if col.kind not in MODELLED_KINDS
        }
        return self

    def _set_columns(self, metadata: Metadata) -> None:
        self.metadata_ = metadata
        self.columns_ = [
            ColumnInfo(
                name=name,
                kind="continuous" if col.kind in ("numerical", "datetime") else "discrete",
                n_codes=0 if col.kind in ("numerical", "datetime") else self._n_levels(col) + int(col.nullable),
                nullable=col.nullable,
            )
            for name, col in metadata.columns.items()
            if col.kind in MODELLED_KINDS
        ]

    def state(self) -> dict:
        """JSON-able state (the metadata is saved separately)."""
        return {"generated": self.generated_}

    @classmethod
    def from_state(cls, metadata: Metadata, state: dict) -> TableEncoder:
        obj = cls()
        obj._set_columns(metadata)
        generated = dict(state["generated"])
        expected = {n for n, c in metadata.columns.items() if c.kind not in MODELLED_KINDS}
        if set(generated) != expected:
            raise ValueError("encoder state does not match the metadata's generated columns")
        obj.generated_ = generated
        return obj

    def runs(self, name: str) -> ValueRuns | None:
        """The whole table's values of continuous column ``name`` when fitted inside :func:`whole_table`, else None."""
        return getattr(self, "whole_runs_", {}).get(name)

    @staticmethod
    def _n_levels(col: ColumnMetadata) -> int:
        return 2 if col.kind == "boolean" else len(col.categories) + int(bool(col.rare_categories))

    @property
    def modelled(self) -> list[str]:
        return [c.name for c in self.columns_]

    def info(self, name: str) -> ColumnInfo:
        for c in self.columns_:
            if c.name == name:
                return c
        raise KeyError(name)

    def encode(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """Arrays for every modelled column of ``df``."""
        return {c.name: self.encode_column(c.name, df[c.name]) for c in self.columns_}

    def encode_column(self, name: str, series: pd.Series) -> np.ndarray:
        col = self.metadata_[name]
        if col.kind == "numerical":
            numbers = parse_numbers(series, col.number_format)
            return pd.Series(numbers).to_numpy(dtype=np.float64, na_value=np.nan)
        if col.kind == "datetime":
            return to_seconds(series, col)
        levels = [col.false_value, col.true_value] if col.kind == "boolean" else col.categories
        codes = category_codes(series, levels)
        if (codes == -1).any():
            unknown = int(((codes == -1) & series.notna().to_numpy()).sum())
            if unknown and col.kind == "categorical" and col.rare_categories:
                codes[(codes == -1) & series.notna().to_numpy()] = len(levels)  # the merged "other" code
            elif unknown:
                raise DataError(
                    f"column '{name}' holds {unknown} values that are not in its metadata; "
                    "add them to the categories or let Synthera infer them"
                )
            if not (codes == -1).any():
                return codes
            if not col.nullable:
                raise DataError(f"column '{name}' has nulls but its metadata says it has none; re-run inspect")
            codes[codes == -1] = self._n_levels(col)
        return codes

    def decode(self, arrays: dict[str, np.ndarray], n: int, rng: np.random.Generator) -> pd.DataFrame:
        """A table with every column of the metadata, in order, with the original dtypes."""
        from synthera.tabular.fake import generate_column, link_person_names

        out = {}
        for name, col in self.metadata_.columns.items():
            if col.kind in MODELLED_KINDS:
                out[name] = self.decode_column(name, arrays[name])
            else:
                out[name] = generate_column(name, col, self.generated_[name], n, rng)
        link_person_names(out, self.metadata_, self.generated_)
        return pd.DataFrame(out)

    def decode_column(self, name: str, values: np.ndarray) -> pd.Series:
        col = self.metadata_[name]
        dtype = col.dtype or "object"
        if col.kind == "numerical":
            return _numbers(values, col, dtype)
        if col.kind == "datetime":
            seconds = np.clip(values, iso_seconds(col.min), iso_seconds(col.max))
            step = _datetime_resolution(col)
            seconds = snap_to_step(np.round(seconds / step) * step, col.datetime_step)
            return from_seconds(seconds, col, dtype)
        levels = [col.false_value, col.true_value] if col.kind == "boolean" else list(col.categories)
        if col.kind == "categorical" and col.rare_categories:
            text = dtype in ("object", "string", "category")
            levels.append(RARE_LABEL if text else None)  # never a real rare value
        codes = np.asarray(values, dtype=np.int64)
        lookup = np.array(list(levels) + [None], dtype=object)
        decoded = pd.Series(lookup[np.clip(codes, 0, len(levels))], dtype=object)
        return _cast_labels(decoded, dtype)


def _merge_rare(name: str, col: ColumnMetadata, series: pd.Series | None) -> None:
    """Drop categories held by 1..RARE_COUNT-1 rows from ``col`` and count them in ``rare_categories``."""
    if series is None:
        col.rare_categories = None
        return
    codes = category_codes(series, col.categories)
    counts = np.bincount(codes[codes >= 0], minlength=len(col.categories))
    rare = (counts > 0) & (counts < RARE_COUNT)  # listed but unseen categories were declared: kept
    if col.rare_categories and not rare.any():
        return  # already merged (metadata from a saved model)
    col.categories = [c for c, r in zip(col.categories, rare, strict=True) if not r]
    col.rare_categories = int(rare.sum()) or None


def _merge_rare_counted(col: ColumnMetadata, counts: dict) -> None:
    """:func:`_merge_rare` by whole-table counts ``{category_key(value): rows}``; values not listed count as merged."""
    keys = list(counts)
    values = [key[1] for key in keys]
    codes = category_codes(pd.Series(values, dtype=object), col.categories)
    held = np.zeros(len(col.categories), dtype=np.int64)
    listed = codes >= 0
    np.add.at(held, codes[listed], np.asarray([counts[key] for key in keys], dtype=np.int64)[listed])
    rare = (held > 0) & (held < RARE_COUNT)  # listed but unseen categories were declared: kept
    col.categories = [c for c, r in zip(col.categories, rare, strict=True) if not r]
    col.rare_categories = int(rare.sum() + (~listed).sum()) or None


def _numbers(values: np.ndarray, col: ColumnMetadata, dtype: str) -> pd.Series:
    x = np.asarray(values, dtype=np.float64)
    low = col.min if col.min is not None else -np.inf
    high = col.max if col.max is not None else np.inf
    places = 0 if col.integer else (col.precision if col.precision is not None else 15)
    x = np.round(np.clip(x, low, high), places)
    if col.number_format is not None:  # written back in the column's own style, e.g. 1,234.56
        return pd.Series(format_numbers(x, places, col.number_format), dtype=object)
    series = pd.Series(x)
    if dtype.startswith("Int") or (pd.api.types.is_integer_dtype(dtype) and series.isna().any()):
        return series.astype("Int64" if not dtype.startswith("Int") else dtype)
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        return series.astype(dtype)
    # object columns of numbers (e.g. read from JSON): plain Python numbers
    return pd.Series([None if np.isnan(v) else (int(v) if col.integer else float(v)) for v in x], dtype=object)


def _cast_labels(decoded: pd.Series, dtype: str) -> pd.Series:
    if dtype in ("object", "string", "category"):
        return decoded.astype(dtype) if dtype != "object" else decoded
    if dtype == "bool" and decoded.notna().all():
        return decoded.astype(bool)
    if dtype in ("bool", "boolean"):
        return decoded.astype("boolean")
    if pd.api.types.is_integer_dtype(dtype) or dtype.startswith("Int"):
        return decoded.astype("Int64" if decoded.isna().any() or dtype[0] == "I" else dtype)
    if pd.api.types.is_float_dtype(dtype):
        return decoded.astype(dtype)
    return decoded
