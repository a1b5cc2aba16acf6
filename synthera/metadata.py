"""Column metadata: what each column is, inferred from data, stored as JSON.

Every column gets one *kind*:

``numerical``
    integers or decimals, with ``integer``, ``precision`` (decimal places),
    ``min`` and ``max``. Integer codes such as ``20240131`` stay numerical
    unless the metadata says ``datetime``.
``categorical``
    a finite set of labels, listed in ``categories``.
``boolean``
    two values, kept in their own spelling (``true_value``/``false_value``:
    ``True``/``False``, ``1``/``0``, ``"yes"``/``"no"``...).
``datetime``
    dates and times; ``datetime_format`` is the strftime pattern of text
    columns, or ``null`` for native datetime columns. ``min``/``max`` are ISO
    8601 strings.
``id``
    keys and identifiers: unique per row, never modelled as a distribution.
``text``
    free text.
``pii``
    personal data (``pii_type``: ``email``, ``phone``, ``person_name``,
    ``street_address``, ``credit_card``, ``ip_address``, ``national_id`` or
    ``account_number``). Synthesizers replace these with fake values and
    never copy them. Integer columns are checked too: Luhn-valid card
    numbers, phone numbers and columns named like ``phone`` or ``ssn``.

Every column also records ``dtype`` (as read), ``nullable`` and
``null_fraction``. Optional facts: ``datetime_step`` (the coarsest calendar
step every observed datetime sits on, e.g. ``month``), ``number_format``
(``1,234.56`` or ``1.234,56`` for numbers written as text with thousands
separators) and ``rare_categories`` (how many categories fewer than
:data:`RARE_COUNT` rows hold; the encoder merges them into one "other" code
so they are never emitted verbatim).

Values that do not parse in an otherwise numeric or date column become
missing values (the warning counts them); warnings and errors name columns
and counts, never a cell's value.

The top-level ``measured_from_data`` is true when bounds and categories were
read from the data (:func:`infer_metadata` always sets it); a user who
declares a public domain by hand sets it to false.

A long table of events (visits, transactions, flights) may declare
``sequence_key`` (the entity column: a patient, an account) and
``sequence_index`` (the column that orders each entity's events: a date or a
position), and ``constraints``: within-row relations ``{"low": a, "high": b}``
(``a <= b`` in every row: a part never above its whole, an end never before
its start). ``synthera inspect`` proposes all three where they are evident;
``synthera fit`` then fits a sequence model. ``constraints`` left out (null)
means "detect them at fit"; an empty list means none.

The JSON form carries ``format_version``. Users may edit it (change a kind,
fix a format, narrow bounds) and pass it back; :func:`infer_metadata` accepts
it as ``hints`` and fills in what the user left out from the data.

Examples
--------
>>> import pandas as pd
>>> from synthera.metadata import infer_metadata, Metadata
>>> md = infer_metadata(pd.DataFrame({"age": [31, 45, 27], "sex": ["F", "M", "F"]}))
>>> md["age"].kind, md["sex"].kind
('numerical', 'categorical')
>>> Metadata.from_json(md.to_json()) == md
True
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from synthera.errors import DataError, MetadataError, SyntheraWarning

__all__ = [
    "FORMAT_VERSION",
    "KINDS",
    "PII_TYPES",
    "ColumnMetadata",
    "Metadata",
    "infer_metadata",
    "numpy_to_json",
    "parse_numbers",
]

FORMAT_VERSION = 3  # 3 added sequence_key, sequence_index, constraints, sensitive; 2 added measured_from_data,
#                      datetime_step, number_format, rare_categories; 1 and 2 still read
#: the version written when a file uses nothing newer, so older Synthera still reads row-table metadata
_PLAIN_VERSION = 2
_SEQUENCE_FIELDS = ("sequence_key", "sequence_index", "constraints")
#: top-level fields of version 3: a file that sets none of them is written as version 2
_V3_FIELDS = (*_SEQUENCE_FIELDS, "sensitive")
KINDS = ("numerical", "categorical", "boolean", "datetime", "id", "text", "pii")
PII_TYPES = ("email", "phone", "person_name", "street_address", "credit_card", "ip_address", "national_id",
             "account_number")
DATETIME_STEPS = ("year", "month", "day", "hour", "minute", "second")
NUMBER_FORMATS = ("1,234.56", "1.234,56")
RARE_COUNT = 5  # a category or value held by fewer rows than this is never replayed verbatim

_SAMPLE = 1000  # distinct values examined by the pattern detectors
_MATCH_SHARE = 0.9  # share of sampled values a pattern must match

# --------------------------------------------------------------------------- data model


@dataclass
class ColumnMetadata:
    """What one column is. Fields that do not apply to its kind are ``None``."""

    kind: str
    dtype: str | None = None
    nullable: bool = False
    null_fraction: float = 0.0
    integer: bool | None = None
    precision: int | None = None
    min: Any = None
    max: Any = None
    categories: list | None = None
    true_value: Any = None
    false_value: Any = None
    datetime_format: str | None = None
    pii_type: str | None = None
    datetime_step: str | None = None
    number_format: str | None = None
    rare_categories: int | None = None

    def to_dict(self) -> dict:
        """Plain dict for JSON; fields that are ``None`` are left out."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, name: str, data: Any) -> ColumnMetadata:
        """Build from a dict, naming the column and the fix on any mistake."""
        if not isinstance(data, dict):
            raise MetadataError(f"column '{name}': expected an object with a 'kind'; got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MetadataError(
                f"column '{name}': unknown field '{unknown[0]}'; known fields are {', '.join(sorted(known))}"
            )
        if "kind" not in data:
            raise MetadataError(f"column '{name}' has no 'kind'; set it to one of {', '.join(KINDS)}")
        col = cls(**data)
        col.validate(name)
        return col

    def validate(self, name: str) -> None:
        """Raise :class:`MetadataError` if the fields contradict each other (values are never quoted)."""
        if self.kind not in KINDS:
            raise MetadataError(f"column '{name}': unknown kind '{self.kind}'; use one of {', '.join(KINDS)}")
        if not _is_number(self.null_fraction) or not 0.0 <= float(self.null_fraction) <= 1.0:
            raise MetadataError(f"column '{name}': null_fraction must be a number in [0, 1]; fix it in the metadata")
        if self.precision is not None and (not isinstance(self.precision, int) or self.precision < 0):
            raise MetadataError(f"column '{name}': precision must be a whole number >= 0; fix it in the metadata")
        self._validate_bounds(name)
        if self.kind == "categorical" and self.categories is not None:
            if not isinstance(self.categories, list) or not (self.categories or self.rare_categories):
                raise MetadataError(f"column '{name}': categories must be a non-empty list; fix it in the metadata")
        if self.kind == "datetime" and self.datetime_format is not None:
            _check_strftime(name, self.datetime_format)
        if self.kind == "pii" and self.pii_type is not None and self.pii_type not in PII_TYPES:
            raise MetadataError(
                f"column '{name}': pii_type must be one of {', '.join(PII_TYPES)}; got {self.pii_type!r}"
            )
        for field_name, allowed in (("datetime_step", DATETIME_STEPS), ("number_format", NUMBER_FORMATS)):
            value = getattr(self, field_name)
            if value is not None and value not in allowed:
                raise MetadataError(
                    f"column '{name}': {field_name} must be one of {', '.join(allowed)} or null; fix it in the metadata"
                )
        rare = self.rare_categories
        if rare is not None and (isinstance(rare, bool) or not isinstance(rare, int) or rare < 0):
            raise MetadataError(f"column '{name}': rare_categories must be a whole number >= 0 or null")

    def _validate_bounds(self, name: str) -> None:
        """Bounds are finite numbers (numerical) or ISO 8601 text (datetime), or null, and min <= max."""
        if self.kind not in ("numerical", "datetime"):
            return
        for bound in ("min", "max"):
            value = getattr(self, bound)
            if value is None:
                continue
            if self.kind == "numerical" and not (_is_number(value) and math.isfinite(value)):
                raise MetadataError(f"column '{name}': {bound} must be a finite number or null; fix it in the metadata")
            if self.kind == "datetime" and not isinstance(value, str):
                raise MetadataError(
                    f"column '{name}': {bound} must be an ISO 8601 date like 2024-01-31, or null; "
                    "fix it in the metadata"
                )
        if self.min is not None and self.max is not None:
            low, high = self.min, self.max
            if self.kind == "datetime":
                low, high = _parse_iso(name, low, bound="min"), _parse_iso(name, high, bound="max")
                low, high = _naive_utc(low), _naive_utc(high)
            if low > high:
                raise MetadataError(f"column '{name}': min is above max; swap them in the metadata")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _naive_utc(stamp: pd.Timestamp) -> pd.Timestamp:
    return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


@dataclass
class Metadata:
    """Metadata of one table: its columns, in order, and its primary key."""

    columns: dict[str, ColumnMetadata] = field(default_factory=dict)
    primary_key: str | None = None
    n_rows: int | None = None
    measured_from_data: bool = False
    sequence_key: str | None = None
    sequence_index: str | None = None
    constraints: list[dict] | None = None
    #: columns whose groups must stay faithful (fairness): ``fit`` models them first, as ``--sensitive`` does
    sensitive: list[str] | None = None

    @property
    def is_sequence(self) -> bool:
        """Whether the table is declared a long table of events (``sequence_key`` and ``sequence_index`` set)."""
        return self.sequence_key is not None and self.sequence_index is not None

    def __getitem__(self, name: str) -> ColumnMetadata:
        try:
            return self.columns[name]
        except KeyError:
            raise MetadataError(
                f"unknown column '{name}'; the metadata has: {_preview(list(self.columns))}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __iter__(self):
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def names(self) -> list[str]:
        """Column names in table order."""
        return list(self.columns)

    def of_kind(self, *kinds: str) -> list[str]:
        """Names of the columns whose kind is one of ``kinds``."""
        return [n for n, c in self.columns.items() if c.kind in kinds]

    # -- serialisation -----------------------------------------------------------

    def to_dict(self) -> dict:
        from synthera import __version__

        sequence = {f: getattr(self, f) for f in _V3_FIELDS if getattr(self, f) is not None}
        return {
            "format_version": FORMAT_VERSION if sequence else _PLAIN_VERSION,
            "synthera_version": __version__,
            "n_rows": self.n_rows,
            "primary_key": self.primary_key,
            "measured_from_data": bool(self.measured_from_data),
            **sequence,
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=_json_default) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> Metadata:
        if not isinstance(data, dict) or "columns" not in data:
            raise MetadataError("not a Synthera metadata file (no 'columns'); create one with `synthera inspect`")
        version = data.get("format_version")
        if not isinstance(version, int):
            raise MetadataError(f"metadata has no integer 'format_version'; add \"format_version\": {FORMAT_VERSION}")
        if version > FORMAT_VERSION:
            raise MetadataError(
                f"metadata format version {version} is newer than this Synthera reads ({FORMAT_VERSION}); "
                "upgrade synthera"
            )
        known = {"format_version", "synthera_version", "n_rows", "primary_key", "measured_from_data", "columns",
                 *_V3_FIELDS}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MetadataError(f"unknown top-level field '{unknown[0]}' in metadata; remove it")
        raw_cols = data["columns"]
        if not isinstance(raw_cols, dict) or not raw_cols:
            raise MetadataError("metadata 'columns' must be a non-empty object of column name -> description")
        columns = {str(name): ColumnMetadata.from_dict(str(name), spec) for name, spec in raw_cols.items()}
        pk = data.get("primary_key")
        if pk is not None and pk not in columns:
            raise MetadataError(f"primary_key '{pk}' is not one of the columns; fix or remove it")
        measured = data.get("measured_from_data", False)  # older files: not recorded, read as false
        if not isinstance(measured, bool):
            raise MetadataError("metadata 'measured_from_data' must be true or false")
        md = cls(columns=columns, primary_key=pk, n_rows=data.get("n_rows"), measured_from_data=measured,
                 **{f: data.get(f) for f in _V3_FIELDS})
        md.check_sequence()
        md.check_sensitive()
        return md

    def check_sensitive(self) -> None:
        """Raise :class:`MetadataError` unless ``sensitive`` is a list of distinct column names."""
        if self.sensitive is None:
            return
        if not isinstance(self.sensitive, list) or not all(isinstance(c, str) for c in self.sensitive):
            raise MetadataError("metadata 'sensitive' must be a list of column names; fix or remove it")
        for name in self.sensitive:
            if name not in self.columns:
                raise MetadataError(f"sensitive column '{name}' is not one of the columns; fix or remove it")
        if len(set(self.sensitive)) != len(self.sensitive):
            raise MetadataError("metadata 'sensitive' names a column twice; list each column once")

    def check_sequence(self) -> None:
        """Raise :class:`MetadataError` unless the sequence fields name columns and make sense together."""
        key, index = self.sequence_key, self.sequence_index
        for role, name in (("sequence_key", key), ("sequence_index", index)):
            if name is not None and (not isinstance(name, str) or name not in self.columns):
                raise MetadataError(f"{role} must name one of the columns; fix or remove it in the metadata")
        if (key is None) != (index is None):
            missing = "sequence_index" if index is None else "sequence_key"
            raise MetadataError(f"a sequence needs both sequence_key and sequence_index; add {missing} or remove both")
        if key is not None and key == index:
            raise MetadataError("sequence_key and sequence_index must be two different columns; fix the metadata")
        if self.constraints is None:
            return
        if not isinstance(self.constraints, list):
            raise MetadataError("metadata 'constraints' must be a list of {\"low\": column, \"high\": column}")
        for item in self.constraints:
            if not isinstance(item, dict) or set(item) != {"low", "high"}:
                raise MetadataError("each constraint must be {\"low\": column, \"high\": column}; fix the metadata")
            for side in ("low", "high"):
                name = item[side]
                if not isinstance(name, str) or name not in self.columns:
                    raise MetadataError(f"a constraint's {side} must name one of the columns; fix the metadata")
                if self.columns[name].kind not in ("numerical", "datetime"):
                    raise MetadataError(f"constraint column '{name}' is {self.columns[name].kind}; a constraint "
                                        "compares numbers or dates, remove it")

    @classmethod
    def from_json(cls, text: str) -> Metadata:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MetadataError(f"metadata is not valid JSON (line {exc.lineno}: {exc.msg}); fix the file") from exc
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike) -> None:
        """Write the JSON form atomically."""
        from synthera.io import write_text

        write_text(self.to_json(), path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Metadata:
        """Read metadata JSON written by :meth:`save` (and possibly edited)."""
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except FileNotFoundError:
            raise MetadataError(f"metadata file not found: {path}; check the path") from None
        except UnicodeDecodeError:
            raise MetadataError(
                f"metadata file {path} is not UTF-8 JSON; pass the file written by `synthera inspect`"
            ) from None
        from synthera.io import note_source_mode

        note_source_mode(path)  # it holds real categories and bounds: outputs keep its stricter mode
        return cls.from_json(text)

    # -- checks ---------------------------------------------------------------------

    def check_frame(self, df: pd.DataFrame) -> None:
        """Raise :class:`DataError` unless ``df`` has exactly these columns."""
        missing = [n for n in self.columns if n not in df.columns]
        if missing:
            raise DataError(
                f"column '{missing[0]}' is in the metadata but not in the data; "
                "remove it from the metadata or check the data file"
            )
        extra = [str(c) for c in df.columns if c not in self.columns]
        if extra:
            raise DataError(
                f"column '{extra[0]}' is in the data but not in the metadata; "
                "add it to the metadata or drop it from the data"
            )


def numpy_to_json(value: Any) -> Any:
    """``json.dumps`` default for numpy scalars; anything else is refused."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


def _json_default(value: Any) -> Any:
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    try:
        return numpy_to_json(value)
    except TypeError:
        return str(value)


def _preview(items: list, limit: int = 8) -> str:
    shown = ", ".join(map(str, items[:limit]))
    return shown + (f", … ({len(items)} in all)" if len(items) > limit else "")


def _parse_iso(name: str, value: Any, *, bound: str = "bound") -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise MetadataError(f"column '{name}': {bound} is not an ISO 8601 date; write it like 2024-01-31")
    return stamp


def _check_strftime(name: str, fmt: str) -> None:
    probe = datetime(2001, 2, 3, 4, 5, 6, 789000, tzinfo=UTC if isinstance(fmt, str) and "%z" in fmt else None)
    try:
        ok = isinstance(fmt, str) and "%" in fmt and datetime.strptime(probe.strftime(fmt), fmt) is not None
    except ValueError:
        ok = False
    if not ok:
        raise MetadataError(
            f"column '{name}': datetime_format {fmt!r} is not a usable strftime pattern; "
            "write it like '%Y-%m-%d %H:%M:%S'"
        )


# --------------------------------------------------------------------------- inference


def infer_metadata(df: pd.DataFrame, *, hints: Metadata | dict | None = None) -> Metadata:
    """Infer the kind and properties of every column of ``df``.

    Parameters
    ----------
    df
        The table. Column names must be unique strings.
    hints
        Metadata (or its dict form) for some or all columns, e.g. a file the
        user edited. A hinted column keeps the given ``kind`` and any field
        the hint sets; the rest is inferred from the data.

    Returns
    -------
    Metadata

    Raises
    ------
    DataError
        The table is empty, a column is entirely null, names repeat, or a
        column holds values that cannot be used (infinities, complex numbers).
    MetadataError
        A hint contradicts the data (unknown column, unparseable dates).
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame; got {type(df).__name__}")
    if df.shape[1] == 0:
        raise DataError("the table has no columns; check the file or the table name")
    if len(df) == 0:
        raise DataError("the table has no rows; metadata needs at least one row of data")
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad:
        raise DataError(
            f"column names must be text; got {bad[0]!r}; rename them, e.g. df.columns = df.columns.astype(str)"
        )
    dupes = df.columns[df.columns.duplicated()].unique().tolist()
    if dupes:
        raise DataError(f"duplicated column name '{dupes[0]}'; rename the columns so each is unique")

    if isinstance(hints, dict):
        hints = Metadata.from_dict(hints)
    hinted = hints.columns if hints is not None else {}
    for name in hinted:
        if name not in df.columns:
            raise MetadataError(
                f"column '{name}' is in the metadata but not in the data; remove it from the metadata or check the file"
            )

    columns = {}
    for name in df.columns:
        series = df[name]
        hint = hinted.get(name)
        col = _infer_column(name, series) if hint is None else _apply_hint(name, series, hint)
        columns[name] = col

    if hints is not None and hints.primary_key is not None:
        primary_key = hints.primary_key
    else:
        ids = [n for n, c in columns.items() if c.kind == "id" and n != getattr(hints, "sequence_key", None)]
        primary_key = ids[0] if ids else None
    sequence = {f: getattr(hints, f) for f in _V3_FIELDS} if hints is not None else {}
    md = Metadata(columns=columns, primary_key=primary_key, n_rows=len(df), measured_from_data=True, **sequence)
    md.check_sequence()
    return md


@dataclass(frozen=True)
class _Facts:
    """What every column description needs, measured once per column."""

    dtype: str
    rows: int
    nulls: int

    @classmethod
    def of(cls, name: str, series: pd.Series) -> tuple[_Facts, pd.Series]:
        """Facts about ``series`` and its non-null values (one null scan)."""
        missing = series.isna().to_numpy()
        nulls = int(missing.sum())
        if nulls == len(series):
            raise DataError(f"column '{name}' is entirely empty; drop it or fill it before synthesizing")
        values = series[~missing] if nulls else series
        if series.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in _MAYBE_NESTED:
            nested = int(values.map(lambda v: isinstance(v, _NESTED)).sum())
            if nested:
                raise DataError(
                    f"column '{name}' holds lists or dicts in {nested} cells; flatten it or convert it to JSON text"
                )
        return cls(str(series.dtype), len(series), nulls), values

    def plus_nulls(self, extra: int) -> _Facts:
        """The same facts with ``extra`` more cells counted as missing (values that do not parse)."""
        return _Facts(self.dtype, self.rows, self.nulls + int(extra))


_NESTED = (list, tuple, dict, set, frozenset, np.ndarray)
_MAYBE_NESTED = ("mixed", "mixed-integer", "unknown-array")  # what pandas calls columns that may hold lists


def _base(facts: _Facts, kind: str) -> ColumnMetadata:
    return ColumnMetadata(
        kind=kind,
        dtype=facts.dtype,
        nullable=facts.nulls > 0,
        null_fraction=round(facts.nulls / facts.rows, 6),
    )


def _infer_column(name: str, series: pd.Series) -> ColumnMetadata:
    facts, values = _Facts.of(name, series)
    if isinstance(series.dtype, pd.CategoricalDtype):
        values = values.astype(object)

    if pd.api.types.is_bool_dtype(series.dtype):
        return _boolean(facts, True, False)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return _datetime(name, facts, values, None)
    if pd.api.types.is_timedelta64_dtype(series.dtype):
        raise DataError(f"column '{name}' holds time spans, which are not supported; convert them to seconds")
    if pd.api.types.is_complex_dtype(series.dtype):
        raise DataError(f"column '{name}' holds complex numbers; split them into real and imaginary columns")
    if pd.api.types.is_numeric_dtype(series.dtype):
        return _numeric(name, facts, values)

    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred == "boolean":
        return _boolean(facts, True, False)
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
        return _numeric(name, facts, pd.to_numeric(values))
    if inferred in ("datetime", "datetime64", "date"):
        return _datetime(name, facts, values, None)
    if inferred not in ("string", "empty"):
        warnings.warn(
            f"column '{name}' mixes value types ({inferred}); it is treated as text labels",
            SyntheraWarning,
            stacklevel=3,
        )
    return _strings(name, facts, values if inferred == "string" else values.astype(str))


def _apply_hint(name: str, series: pd.Series, hint: ColumnMetadata) -> ColumnMetadata:
    """Describe ``series`` as the hinted kind, keeping every field the hint sets."""
    facts, values = _Facts.of(name, series)
    kind = hint.kind
    if kind == "numerical":
        numbers = parse_numbers(values, hint.number_format)
        failed = _unparsed(name, numbers, "numbers", hint=True)
        col = _numeric(name, facts.plus_nulls(failed), numbers.dropna(), allow_boolean=False, allow_id=False)
    elif kind == "datetime":
        col = _datetime(name, facts, values, hint.datetime_format, declared=True)
    elif kind == "boolean":
        distinct = list(pd.unique(values))
        if len(distinct) > 2:
            raise MetadataError(
                f"column '{name}' is declared boolean but has {len(distinct)} distinct values; change its kind"
            )
        true, false = (hint.true_value, hint.false_value)
        if true is None or false is None:
            col = _infer_column(name, series)
            true, false = (col.true_value, col.false_value) if col.kind == "boolean" else (
                sorted(distinct, key=str)[-1], sorted(distinct, key=str)[0])
        col = _boolean(facts, true, false)
    elif kind == "categorical":
        col = _categorical(facts, values.astype(str) if values.dtype == object else values)
        if hint.categories is not None:
            listed = set(hint.categories)
            unlisted = [c for c in col.categories if c not in listed]
            if unlisted and not hint.rare_categories:  # rare ones were merged away on purpose
                raise MetadataError(
                    f"column '{name}' holds {len(unlisted)} values that are not among its categories in the metadata; "
                    "add them to the list"
                )
    elif kind == "pii":
        col = _base(facts, "pii")
        col.pii_type = hint.pii_type or _detect_pii(name, [str(v) for v in pd.unique(values.astype(str))[:_SAMPLE]])
        if col.pii_type is None:
            raise MetadataError(
                f"column '{name}': its values do not tell which personal data it holds; "
                f"set pii_type to one of {', '.join(PII_TYPES)}"
            )
    else:  # id, text
        col = _base(facts, kind)
    # Anything the user wrote wins over what was inferred.
    for f in fields(ColumnMetadata):
        if f.name in ("dtype", "nullable", "null_fraction"):
            continue
        given = getattr(hint, f.name)
        if given is not None:
            setattr(col, f.name, given)
    if hint.nullable and hint.null_fraction:  # e.g. a whole table's null share, given for a fit on its sample
        col.nullable, col.null_fraction = True, hint.null_fraction
    col.validate(name)
    return col


def _unparsed(name: str, parsed: pd.Series, what: str, *, hint: bool = False) -> int:
    """Count of values that did not parse; warn if few (they become missing), refuse if many.

    Raises
    ------
    MetadataError
        More than a tenth of the values do not parse (only for declared kinds).
    """
    failed = int(parsed.isna().sum())
    if not failed:
        return 0
    if failed > (1 - _MATCH_SHARE) * len(parsed):
        if hint:
            raise MetadataError(
                f"column '{name}': {failed} of {len(parsed)} values are not {what}; fix them or change its kind"
            )
        return failed
    warnings.warn(
        f"column '{name}': {failed} of {len(parsed)} values are not {what}; they are treated as missing",
        SyntheraWarning,
        stacklevel=4,
    )
    return failed


# -- numbers ------------------------------------------------------------------------

_ID_TOKENS = {"id", "key", "uuid", "guid", "pk"}


def _name_tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if t]


def _looks_like_id_name(name: str) -> bool:
    tokens = _name_tokens(name)
    if not tokens:
        return False
    return tokens[-1] in _ID_TOKENS


def _numeric(
    name: str,
    facts: _Facts,
    values: pd.Series,
    *,
    allow_boolean: bool = True,
    allow_id: bool = True,
) -> ColumnMetadata:
    arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    arr = arr[~np.isnan(arr)]
    if not np.isfinite(arr).all():
        raise DataError(
            f"column '{name}' holds infinite values; replace them with numbers or leave those cells empty"
        )
    integral = pd.api.types.is_integer_dtype(values.dtype) or bool(
        np.all(np.abs(arr) < 2**53) and np.all(arr == np.round(arr))
    )
    pii = _numeric_pii(name, values, arr) if allow_id else None
    if pii is not None:
        col = _base(facts, "pii")
        col.pii_type = pii
        return col
    if integral and allow_boolean:
        distinct = np.unique(arr)
        if len(distinct) == 2 and distinct[0] == 0 and distinct[1] == 1:
            return _boolean(facts, 1, 0)
    if integral and allow_id and _looks_like_id_name(name) and values.is_unique and len(values) > 1:
        return _base(facts, "id")
    col = _base(facts, "numerical")
    col.integer = integral
    if integral:
        col.precision = 0
        exact = values if pd.api.types.is_integer_dtype(values.dtype) else arr
        col.min, col.max = int(exact.min()), int(exact.max())
    else:
        col.precision = _decimal_places(arr)
        col.min, col.max = float(arr.min()), float(arr.max())
    return col


_NANP = re.compile(r"^1?[2-9]\d{2}[2-9]\d{6}$")  # 10 digits (11 with the country code 1)
_PHONE_NAME_TOKENS = {"phone", "telephone", "tel", "mobile", "fax", "msisdn", "cellphone"}


def _numeric_pii(name: str, values: pd.Series, arr: np.ndarray) -> str | None:
    """Personal data stored as numbers: cards (Luhn), phones (pattern or name), ids named like ssn or iban."""
    named = _pii_by_name(name)
    whole = bool(arr.size) and bool(np.all(arr == np.round(arr))) and bool(np.all(arr > 0))
    if not whole:
        return None
    if pd.api.types.is_integer_dtype(values.dtype):
        distinct = np.unique(values.to_numpy())
    else:
        distinct = np.unique(arr)
    if distinct.size > _SAMPLE:
        distinct = np.random.default_rng(0).choice(distinct, _SAMPLE, replace=False)
    digits = [str(int(v)) for v in distinct]
    phoneish = sum(7 <= len(d) <= 15 for d in digits) / len(digits) >= _MATCH_SHARE
    if named == "phone":
        return "phone" if phoneish else None
    if named is not None:
        return named
    if distinct.size < 5 or distinct.size < 0.5 * min(arr.size, _SAMPLE):  # personal numbers are nearly unique
        return None
    if sum(13 <= len(d) <= 19 and _luhn(d) for d in digits) / len(digits) >= _MATCH_SHARE:
        return "credit_card"
    if sum(bool(_NANP.match(d)) for d in digits) / len(digits) >= _MATCH_SHARE:
        return "phone"
    return None


def _pii_by_name(name: str) -> str | None:
    """The personal data a column's name promises, for names that leave little doubt."""
    tokens = set(_name_tokens(name))
    joined = "".join(_name_tokens(name))
    if tokens & _PHONE_NAME_TOKENS or "phonenumber" in joined:
        return "phone"
    if tokens & {"ssn", "passport", "nino"} or any(k in joined for k in ("socialsecurity", "nationalid", "taxid")):
        return "national_id"
    if "iban" in tokens or any(k in joined for k in ("accountnumber", "accountno", "bankaccount")):
        return "account_number"
    return None


def _decimal_places(arr: np.ndarray, limit: int = 15) -> int:
    """Fewest decimal places that represent every value (up to ``limit``)."""
    distinct = np.unique(arr)
    distinct = distinct[np.abs(distinct) < 1e15]  # beyond this a float has no fractional digits
    if len(distinct) > 20_000:
        distinct = np.random.default_rng(0).choice(distinct, 20_000, replace=False)
    for places in range(limit + 1):
        scaled = distinct * 10.0**places
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return places
    return limit


# -- booleans -----------------------------------------------------------------------

_BOOL_PAIRS = [("true", "false"), ("yes", "no"), ("y", "n"), ("t", "f")]


def _boolean(facts: _Facts, true_value: Any, false_value: Any) -> ColumnMetadata:
    col = _base(facts, "boolean")
    col.true_value, col.false_value = _plain(true_value), _plain(false_value)
    return col


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones, so the metadata serialises cleanly."""
    return value.item() if isinstance(value, np.generic) else value


def _bool_tokens(distinct: np.ndarray) -> tuple[str, str] | None:
    lowered = {str(v).strip().lower(): str(v) for v in distinct}
    for true, false in _BOOL_PAIRS:
        if set(lowered) <= {true, false}:
            true_spelling = lowered.get(true) or _match_case(true, next(iter(lowered.values())))
            false_spelling = lowered.get(false) or _match_case(false, next(iter(lowered.values())))
            return true_spelling, false_spelling
    return None


def _match_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    if like[:1].isupper():
        return word.capitalize()
    return word


# -- dates --------------------------------------------------------------------------

_DATE_PARTS = ["%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%m-%d-%Y",
               "%m/%d/%y", "%d/%m/%y", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y"]
_TIME_PARTS = ["", " %H:%M:%S", "T%H:%M:%S", " %H:%M", "T%H:%M", " %H:%M:%S.%f", "T%H:%M:%S.%f",
               "T%H:%M:%SZ", "T%H:%M:%S.%fZ", "T%H:%M:%S%z", "T%H:%M:%S.%f%z", " %H:%M:%S%z"]
DATETIME_FORMATS = [d + t for d in _DATE_PARTS for t in _TIME_PARTS if not (t and "%b" in d or t and "%B" in d)]
DATETIME_FORMATS += ["%Y-%m", "%b %Y", "%B %Y"]
_DATEISH = re.compile(r"^[\w\s:./,+-]{6,40}$")


def _to_datetime(values, fmt: str | None) -> pd.Series:
    kwargs = {"utc": True} if fmt and "%z" in fmt else {}
    try:
        return pd.to_datetime(pd.Series(values), format=fmt, errors="coerce", **kwargs)
    except (ValueError, TypeError, OverflowError):
        return pd.Series(pd.NaT, index=range(len(values)))


def datetime_format_of(values: pd.Series) -> str | None:
    """The format text dates are written in (one of :data:`DATETIME_FORMATS`, as inference finds it), or None."""
    distinct = pd.unique(values.dropna())[:_SAMPLE]  # hashing the values, then text for a sample of them only
    return _detect_datetime_format(pd.unique(distinct.astype(str)).astype(object)) if len(distinct) else None


def _detect_datetime_format(sample: np.ndarray) -> str | None:
    """The first format all sampled values parse with; else one that at least 90% parse with."""
    fmt = _find_datetime_format(sample, 1.0)
    if fmt is None and len(sample) >= 10:
        fmt = _find_datetime_format(sample, _MATCH_SHARE)
    return fmt


def _find_datetime_format(sample: np.ndarray, share: float) -> str | None:
    texts = [s for s in sample if _DATEISH.match(s)]
    if not texts or len(texts) < share * len(sample) or not any(ch.isdigit() for ch in texts[0]):
        return None
    if sum(s.isdigit() for s in texts[:50]) >= share * len(texts[:50]):  # YYYYMMDD and other codes stay numbers
        return None
    head = np.asarray(texts[:20], dtype=object)
    for fmt in DATETIME_FORMATS:
        if _to_datetime(head, fmt).notna().mean() >= share and _to_datetime(sample, fmt).notna().mean() >= share:
            return fmt
    return None


def _parse_native(values: pd.Series) -> pd.Series:
    """Datetimes from native values; time zones (mixed ones too) are converted to UTC."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    aware = any(getattr(v, "tzinfo", None) is not None for v in values.iloc[:_SAMPLE])
    try:
        return pd.to_datetime(values, errors="coerce", utc=aware)
    except (ValueError, TypeError):
        return pd.to_datetime(values, errors="coerce", utc=True)


def _datetime(
    name: str, facts: _Facts, values: pd.Series, fmt: str | None, *, declared: bool = False
) -> ColumnMetadata:
    if fmt is None and (pd.api.types.is_datetime64_any_dtype(values.dtype) or not declared):
        parsed = _parse_native(values)
    elif fmt is None:  # declared datetime, text column, no format given: find it
        distinct = pd.unique(values.astype(str))
        fmt = _detect_datetime_format(distinct[:_SAMPLE])
        if fmt is None:
            raise MetadataError(
                f"column '{name}' is declared datetime but its format is not recognised; "
                "set datetime_format, e.g. '%Y-%m-%d'"
            )
        parsed = _to_datetime(values.astype(str).to_numpy(), fmt)
    else:
        parsed = _to_datetime(values.astype(str).to_numpy(), fmt)
    failed = 0
    if declared and parsed.isna().any():
        failed = int(parsed.isna().sum())
        if failed > (1 - _MATCH_SHARE) * len(parsed):
            raise MetadataError(
                f"column '{name}': {failed} of {len(parsed)} values do not match datetime format {fmt!r}; "
                "fix the format in the metadata"
            )
        warnings.warn(
            f"column '{name}': {failed} of {len(parsed)} values do not match datetime format {fmt!r}; "
            "they are treated as missing",
            SyntheraWarning,
            stacklevel=4,
        )
    col = _base(facts.plus_nulls(failed), "datetime")
    col.datetime_format = fmt
    if parsed.notna().any():
        col.min, col.max = parsed.min().isoformat(), parsed.max().isoformat()
        col.datetime_step = datetime_step(parsed)
    return col


def datetime_step(parsed: pd.Series) -> str | None:
    """The coarsest calendar step every value sits on ("month": all on the 1st at midnight), or None."""
    stamps = pd.Series(parsed).dropna()
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert(None)
    if stamps.nunique() < 2:
        return None
    dt = stamps.dt
    if ((dt.microsecond != 0) | (dt.nanosecond != 0)).any():
        return None
    for step, part in (("second", dt.second), ("minute", dt.minute), ("hour", dt.hour)):
        if (part != 0).any():
            return step
    if (dt.day != 1).any():
        return "day"
    return "month" if (dt.month != 1).any() else "year"


# -- personal data ------------------------------------------------------------------

_EMAIL = re.compile(r"^[\w.%+'-]+@[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}$")
_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,22}(\s*(x|ext\.?)\s*\d{1,5})?$", re.IGNORECASE)
_CARD = re.compile(r"^\d[\d -]{11,22}\d$")
_STREET = re.compile(
    r"^\d+[A-Za-z]?\s+([\w.'-]+\s+){1,5}?(street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|"
    r"court|ct|way|place|pl|terrace|ter|circle|cir|highway|hwy|parkway|pkwy|square|sq|trail|trl|"
    r"alley|row|crescent|close|gardens)\b\.?",
    re.IGNORECASE,
)
_PERSON = re.compile(r"^[^\W\d_]+\.?(?:[\s'-]+[^\W\d_]+\.?){0,4}$")
_SSN = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_ID_LIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{4,40}$")
_PHONE_TOKENS = {"phone", "tel", "telephone", "mobile", "cell", "fax", "msisdn"}
_ADDRESS_TOKENS = {"address", "addr", "street"}
_PERSON_EXACT = {"name", "first", "last", "surname", "forename", "fname", "lname", "firstname", "lastname",
                 "fullname", "middlename", "maidenname", "givenname", "familyname"}
_NOT_PERSON = {"file", "product", "company", "host", "user", "brand", "item", "city", "country", "street",
               "domain", "table", "column", "model", "dataset", "business", "org", "organization", "team",
               "project", "app", "device", "category", "store", "event", "course", "school", "place",
               "state", "region", "department", "dept", "job", "title", "drug", "species", "type", "class",
               "field", "feature", "display", "screen", "key", "server", "database", "package"}


def _share(pattern: re.Pattern, sample: list[str]) -> float:
    return sum(bool(pattern.match(s)) for s in sample) / len(sample)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _is_person_name_column(name: str) -> bool:
    tokens = _name_tokens(name)
    joined = "".join(tokens)
    if joined in _PERSON_EXACT:
        return True
    return "name" in tokens and not (set(tokens) & _NOT_PERSON)


def _detect_pii(name: str, sample: list[str]) -> str | None:
    stripped = [s.strip() for s in sample]
    if _share(_EMAIL, stripped) >= _MATCH_SHARE:
        return "email"
    if sum(_is_ip(s) for s in stripped) / len(stripped) >= _MATCH_SHARE:
        return "ip_address"
    named = _pii_by_name(name)
    if named in ("national_id", "account_number") and _share(_ID_LIKE, stripped) >= _MATCH_SHARE:
        return named
    if _share(_SSN, stripped) >= _MATCH_SHARE:
        return "national_id"
    cards = [re.sub(r"[ -]", "", s) for s in stripped if _CARD.match(s)]
    if len(cards) / len(stripped) >= _MATCH_SHARE and (
        sum(13 <= len(c) <= 19 and _luhn(c) for c in cards) / len(stripped) >= _MATCH_SHARE
    ):
        return "credit_card"
    tokens = set(_name_tokens(name))
    phoneish = [s for s in stripped if _PHONE.match(s) and 7 <= sum(ch.isdigit() for ch in s) <= 15]
    if len(phoneish) / len(stripped) >= _MATCH_SHARE:
        formatted = sum(bool(re.search(r"[\s().+-]", s)) for s in phoneish) / len(phoneish) >= _MATCH_SHARE
        if formatted or tokens & _PHONE_TOKENS:
            return "phone"
    if _share(_STREET, stripped) >= _MATCH_SHARE or (
        tokens & _ADDRESS_TOKENS and sum(any(ch.isdigit() for ch in s) for s in stripped) / len(stripped) >= 0.5
        and not (tokens & {"ip", "mac", "email", "web", "url"})
    ):
        return "street_address"
    if _is_person_name_column(name) and _share(_PERSON, stripped) >= _MATCH_SHARE and _name_like(name, stripped):
        return "person_name"
    return None


@functools.lru_cache(maxsize=1)
def _known_names() -> tuple[frozenset, frozenset]:
    """Lower-cased first and last names from Faker's word lists for a few Latin-script locales."""
    import importlib

    first, last = set(), set()
    for locale in ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL", "pl_PL", "sv_SE"):
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except (ImportError, AttributeError):
            continue
        for attr, into in (("first_names", first), ("last_names", last)):
            into.update(str(n).lower() for n in getattr(provider, attr, ()))
    return frozenset(first), frozenset(last)


def _name_like(name: str, sample: list[str]) -> bool:
    """Whether values read as people's names (not products or animals under a column called ``name``).

    Columns named exactly like a name part (``first_name``, ``surname``) need only look like words;
    others need at least half of their values to hold a known first name, or to read "First Last"
    with a known last name.
    """
    tokens = _name_tokens(name)
    if "".join(tokens) in _PERSON_EXACT - {"name"}:
        return True
    first, last = _known_names()
    if not first:
        return True  # no word lists to check against: trust the column name
    hits = 0
    for value in sample:
        words = [w.strip(".'-").lower() for w in value.replace(",", " ").split()]
        if not 1 <= len(words) <= 4:
            continue
        if words[0] in first or (len(words) >= 2 and (words[-1] in last or words[1] in first)):
            hits += 1
    return hits >= 0.5 * len(sample)


# -- text columns -------------------------------------------------------------------


def _strings(name: str, facts: _Facts, texts: pd.Series) -> ColumnMetadata:
    distinct = pd.unique(texts.to_numpy())
    n_distinct = len(distinct)
    if n_distinct > _SAMPLE:
        sample = np.random.default_rng(0).choice(distinct, _SAMPLE, replace=False)
    else:
        sample = distinct
    sample_list = [str(s) for s in sample]

    tokens = _bool_tokens(distinct) if n_distinct <= 2 else None
    if tokens is not None:
        return _boolean(facts, *tokens)
    col = _dates_in_text(name, facts, texts, distinct, sample_list)
    if col is None:
        col = _numbers_in_text(name, facts, texts, sample_list)
    if col is not None:
        return col

    pii = _detect_pii(name, sample_list)
    if pii is not None:
        col = _base(facts, "pii")
        col.pii_type = pii
        return col

    n = len(texts)
    has_space = sum(any(ch.isspace() for ch in s.strip()) for s in sample_list) / len(sample_list)
    words = np.mean([len(s.split()) for s in sample_list])
    digits = sum(any(ch.isdigit() for ch in s) for s in sample_list) / len(sample_list)
    max_len = max(len(s) for s in sample_list)
    if n_distinct == n and n >= 2 and has_space == 0 and max_len <= 64 and (
        _looks_like_id_name(name) or (n >= 20 and digits >= _MATCH_SHARE)
    ):
        return _base(facts, "id")
    if n_distinct / n >= 0.5 and n_distinct > 20 and (words >= 3 or (has_space >= 0.5 and max_len >= 40)):
        return _base(facts, "text")
    return _categorical(facts, texts, distinct)


def _dates_in_text(
    name: str, facts: _Facts, texts: pd.Series, distinct: np.ndarray, sample: list[str]
) -> ColumnMetadata | None:
    """A datetime column if (nearly) all values are dates; the few that are not become missing."""
    fmt = _detect_datetime_format(np.asarray(sample, dtype=object))
    if fmt is None:
        return None
    ok = _to_datetime(distinct, fmt).notna().to_numpy()
    if ok.all():
        return _datetime(name, facts, texts, fmt)
    good = texts.isin(distinct[ok]).to_numpy()
    failed = int((~good).sum())
    if failed <= (1 - _MATCH_SHARE) * len(texts):
        warnings.warn(
            f"column '{name}': {failed} of {len(texts)} values are not dates in format {fmt!r}; "
            "they are treated as missing",
            SyntheraWarning,
            stacklevel=5,
        )
        return _datetime(name, facts.plus_nulls(failed), texts[good], fmt)
    warnings.warn(
        f"column '{name}' looks like dates in format {fmt!r} but {failed} values do not parse; "
        "it is treated as categorical (set its kind to datetime in the metadata after fixing them)",
        SyntheraWarning,
        stacklevel=5,
    )
    return None


def _numbers_in_text(name: str, facts: _Facts, texts: pd.Series, sample: list[str]) -> ColumnMetadata | None:
    """A numerical column if (nearly) all values are numbers, plain or with thousands separators."""
    plain = pd.to_numeric(pd.Series(sample), errors="coerce").notna().mean()
    if plain == 1:
        return None  # numbers kept as text on purpose (zip codes, codes with leading zeros)
    fmt = _number_format(sample)
    if fmt is None and plain < _MATCH_SHARE:
        return None
    numbers = parse_numbers(texts, fmt)
    failed = int(numbers.isna().sum())
    if failed > (1 - _MATCH_SHARE) * len(texts):
        warnings.warn(
            f"column '{name}' holds numbers except for {failed} values; it is treated as categorical. "
            "Fix those values, or declare the column numerical in the metadata",
            SyntheraWarning,
            stacklevel=5,
        )
        return None
    _unparsed(name, numbers, "numbers")
    col = _numeric(name, facts.plus_nulls(failed), numbers.dropna(), allow_boolean=False, allow_id=False)
    col.number_format = fmt
    return col


_GROUPED = {
    "1,234.56": re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$"),
    "1.234,56": re.compile(r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?$"),
}


def _number_format(sample: list[str]) -> str | None:
    """``1,234.56`` or ``1.234,56`` if at least 90% of the values are numbers written that way."""
    stripped = [s.strip() for s in sample]
    if not any("," in s for s in stripped):
        return None
    fits = {fmt: [bool(p.match(s)) for s in stripped] for fmt, p in _GROUPED.items()}
    grouped = ["," in s for s in stripped]  # each convention needs at least one value that uses a comma
    ok = [
        fmt for fmt, hits in fits.items()
        if sum(hits) >= _MATCH_SHARE * len(stripped) and any(h and g for h, g in zip(hits, grouped, strict=True))
    ]
    if len(ok) < 2:
        return ok[0] if ok else None
    us, eu = fits["1,234.56"], fits["1.234,56"]
    pairs = list(zip(us, eu, strict=True))
    only_us, only_eu = sum(a and not b for a, b in pairs), sum(b and not a for a, b in pairs)
    return "1.234,56" if only_eu > only_us else "1,234.56"


def parse_numbers(values: pd.Series, number_format: str | None = None) -> pd.Series:
    """Numbers (float64, NaN where a value does not parse) from values written in ``number_format``."""
    if number_format is None:
        return pd.to_numeric(values, errors="coerce")
    text = pd.Series(values).astype(object).map(lambda v: v.strip() if isinstance(v, str) else v)
    fits = text.map(lambda v: isinstance(v, str) and bool(_GROUPED[number_format].match(v)))
    group, decimal = (",", ".") if number_format == "1,234.56" else (".", ",")
    cleaned = text.where(fits).map(lambda v: v.replace(group, "").replace(decimal, ".") if isinstance(v, str) else v)
    return pd.to_numeric(cleaned, errors="coerce").astype(np.float64)


def format_numbers(values: np.ndarray, places: int, number_format: str) -> list:
    """Numbers written back as text in ``number_format`` (``None`` for NaN)."""
    swap = str.maketrans(",.", ".,")
    out = []
    for v in np.asarray(values, dtype=np.float64):
        if np.isnan(v):
            out.append(None)
            continue
        text = f"{v:,.{places}f}"
        out.append(text if number_format == "1,234.56" else text.translate(swap))
    return out


def _categorical(facts: _Facts, values: pd.Series, distinct: np.ndarray | None = None) -> ColumnMetadata:
    col = _base(facts, "categorical")
    if distinct is None:
        distinct = pd.unique(values.to_numpy())
    col.categories = sorted((_plain(v) for v in distinct), key=lambda v: (str(type(v)), v))
    rare = int((values.value_counts(dropna=True) < RARE_COUNT).sum())
    col.rare_categories = rare or None  # merged into one "other" code by the encoder
    return col
