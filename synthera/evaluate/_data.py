"""The tables under evaluation, checked once and encoded once for every metric.

:class:`EvalData` validates the real, synthetic and holdout tables against each
other and the metadata, then offers cached views that the metrics share:

- :meth:`EvalData.values` — one column as ``float64`` (numbers; dates as
  seconds since 1970 UTC, read by :func:`synthera._columns.to_seconds`) or as
  shared integer codes (categories, booleans; ``-1`` is null);
- :meth:`EvalData.matrix` — a numeric design matrix (numbers standardised with
  the real table's mean and deviation, categories one-hot over the real table's
  most frequent :data:`TOP_CATEGORIES` labels plus one "other" slot, a missing
  indicator where a column has nulls), for models and for distances.

Only ``numerical``, ``datetime``, ``categorical`` and ``boolean`` columns are
evaluated: ``id``, ``text`` and ``pii`` columns hold no distribution worth
comparing (synthesizers make them up on purpose) and are listed as skipped.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from synthera._columns import to_seconds
from synthera.errors import DataError, SyntheraWarning, UserInputError
from synthera.metadata import ColumnMetadata, Metadata, infer_metadata, parse_numbers

__all__ = [
    "CONTINUOUS",
    "DISCRETE",
    "MAX_GROUPS",
    "MIN_ROWS",
    "TOP_CATEGORIES",
    "EvalData",
    "check_group_column",
    "parse_datetimes",
]

CONTINUOUS = ("numerical", "datetime")
DISCRETE = ("categorical", "boolean")
TOP_CATEGORIES = 30  # one-hot width per categorical column; the rest share an "other" slot
FRAMES = ("real", "synthetic", "holdout")
MAX_GROUPS = 50  # groups a sensitive column may have (evaluate's fairness and bias alike)
# Below these row counts a metric is noise: it is skipped with the reason, and the headline says so.
MIN_ROWS = {"real": 50, "synthetic": 50, "holdout": 50}
# Share of unreadable cells a number or date column may hold (they count as missing), as in inference.
BAD_CELL_SHARE = 0.1


def check_group_column(frame: pd.DataFrame, metadata: Metadata, column: str) -> None:
    """Refuse a sensitive column that has no groups (a number, a date, free text) or too many groups.

    One check for ``evaluate`` and ``bias``, so both refuse the same columns with the same line.
    """
    kind = metadata[column].kind
    if kind not in DISCRETE:
        raise UserInputError(
            f"sensitive column '{column}' is {kind}; it needs groups: "
            "bin it into a categorical column first (e.g. age bands)"
        )
    n = int(frame[column].nunique(dropna=False))
    if n > MAX_GROUPS:
        raise UserInputError(
            f"sensitive column '{column}' has {n} groups; at most {MAX_GROUPS} are compared: merge rare groups first"
        )


def parse_datetimes(series: pd.Series, fmt: str | None, *, column: str, frame: str, wall: bool = False) -> pd.Series:
    """Parse a datetime column; mixed UTC offsets become UTC, or with ``wall`` each value's own wall-clock time."""
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = series
    else:
        with warnings.catch_warnings():  # pandas warns about mixed offsets; they are handled just below
            warnings.simplefilter("ignore", FutureWarning)
            parsed = pd.to_datetime(series, format=fmt, errors="coerce")
        if parsed.dtype == object:  # mixed UTC offsets: one Timestamp per offset
            if wall:
                wall_clock = parsed.map(lambda v: v.tz_localize(None) if isinstance(v, pd.Timestamp) else None)
                parsed = pd.to_datetime(wall_clock)
            else:
                parsed = pd.to_datetime(series, format=fmt, errors="coerce", utc=True)
        bad = parsed.isna() & series.notna()
        if bad.any():
            raise DataError(
                f"column '{column}' in the {frame} table has {int(bad.sum())} values that are not dates "
                f"in the format {fmt!r}; fix them or the metadata's datetime_format"
            )
    if wall and getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)  # the wall clock the data was written in
    return parsed


def _preview(items: list, limit: int = 6) -> str:
    shown = ", ".join(repr(str(i)) for i in items[:limit])
    return shown + (f", … ({len(items)} in all)" if len(items) > limit else "")


def _check_frame(df: Any, name: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise UserInputError(f"the {name} table must be a pandas DataFrame; got {type(df).__name__}")
    if len(df) == 0:
        raise DataError(f"the {name} table has no rows; evaluation needs at least one row in each table")
    dupes = df.columns[df.columns.duplicated()].unique().tolist()
    if dupes:
        raise DataError(f"the {name} table has duplicated column names ({_preview(dupes)}); rename them")
    return df.reset_index(drop=True)


def _check_same_columns(real: pd.DataFrame, other: pd.DataFrame, name: str) -> pd.DataFrame:
    missing = [c for c in real.columns if c not in other.columns]
    extra = [c for c in other.columns if c not in real.columns]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"the {name} table lacks {_preview(missing)}")
        if extra:
            parts.append(f"it has {_preview(extra)} that the real table does not")
        raise DataError(
            f"mismatched schemas: {'; '.join(parts)}; evaluate tables with the same columns"
        )
    return other[list(real.columns)]


def _infer(real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None) -> Metadata:
    """Infer metadata from the real table; a column empty there takes its kind from the others."""
    empty = [c for c in real.columns if real[c].isna().all()]
    full = [c for c in real.columns if c not in empty]
    inferred = infer_metadata(real[full]) if full else Metadata()
    columns = {}
    for name in real.columns:
        if name in inferred.columns:
            columns[name] = inferred.columns[name]
            continue
        others = pd.concat([f[name] for f in (synthetic, holdout) if f is not None], ignore_index=True).dropna()
        if others.empty:
            columns[name] = ColumnMetadata(kind="text", nullable=True, null_fraction=1.0)  # nothing to compare
        else:
            guess = infer_metadata(others.to_frame(name)).columns[name]
            guess.nullable, guess.null_fraction = True, 1.0
            columns[name] = guess
    return Metadata(columns=columns, primary_key=inferred.primary_key if full else None, n_rows=len(real))


def _check_target(real: pd.DataFrame, metadata: Metadata, target: str) -> None:
    """Refuse a target nothing can be learned about: personal data, ids, text, no values or one class."""
    kind = metadata[target].kind
    if kind not in CONTINUOUS + DISCRETE:
        raise UserInputError(
            f"column '{target}' is a {kind} column and cannot be a target column; "
            "mark it categorical or numerical in the metadata"
        )
    values = real[target].dropna()
    if values.empty:
        raise DataError(f"target column '{target}' is empty in the real table; pick another target")
    if kind in DISCRETE and values.astype("string").nunique() < 2:
        raise DataError(f"target column '{target}' has fewer than two classes in the real table; pick another target")


@dataclass
class EvalData:
    """Real, synthetic and (optional) holdout tables, validated and aligned.

    Build it with :meth:`EvalData.build`; metrics read from it and never change it.
    """

    real: pd.DataFrame
    synthetic: pd.DataFrame
    holdout: pd.DataFrame | None
    metadata: Metadata
    target: str | None = None
    sensitive: tuple[str, ...] = ()
    seed: int = 0
    columns: list[str] = field(default_factory=list)
    skipped_columns: dict[str, str] = field(default_factory=dict)
    cache: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        real: pd.DataFrame,
        synthetic: pd.DataFrame,
        *,
        holdout: pd.DataFrame | None = None,
        target: str | None = None,
        sensitive=(),
        metadata: Metadata | dict | None = None,
        seed: int = 0,
    ) -> EvalData:
        real = _check_frame(real, "real")
        synthetic = _check_same_columns(real, _check_frame(synthetic, "synthetic"), "synthetic")
        if holdout is not None:
            holdout = _check_same_columns(real, _check_frame(holdout, "holdout"), "holdout")
        if isinstance(metadata, dict):
            metadata = Metadata.from_dict(metadata)
        if metadata is None:
            metadata = _infer(real, synthetic, holdout)
        elif not isinstance(metadata, Metadata):
            raise UserInputError(
                f"metadata must be a synthera Metadata or its dict form; got {type(metadata).__name__}"
            )
        else:
            metadata.check_frame(real)

        if isinstance(sensitive, str):
            sensitive = (sensitive,)
        sensitive = tuple(dict.fromkeys(sensitive))
        for col, what in [(target, "target"), *((s, "sensitive") for s in sensitive)]:
            if col is not None and col not in real.columns:
                raise UserInputError(
                    f"{what} column '{col}' is not in the data; the columns are {_preview(list(real.columns), 20)}"
                )
        if target is not None and target in sensitive:
            raise UserInputError(f"column '{target}' is both the target and a sensitive column; pick one role")

        columns, skipped = [], {}
        for name in real.columns:
            kind = metadata[name].kind
            if kind in CONTINUOUS + DISCRETE:
                columns.append(name)
            elif all(f is None or f[name].isna().all() for f in (real, synthetic, holdout)):
                skipped[name] = "null in every row of every table: nothing to compare"
            else:
                skipped[name] = f"{kind} column: made up by synthesizers, not compared"
        for col in sensitive:
            check_group_column(real, metadata, col)
        if target is not None:
            _check_target(real, metadata, target)
        if not columns:
            raise DataError(
                "no column can be evaluated: every column is an id, free text or personal data; "
                "mark some columns numerical or categorical in the metadata"
            )
        data = cls(real, synthetic, holdout, metadata, target, sensitive, seed, columns, skipped)
        for col in columns:  # parse every column now so that type mismatches surface as one clear error
            for frame in data.frames:
                data.values(frame, col)
        return data

    # ------------------------------------------------------------------ views

    @property
    def frames(self) -> tuple[str, ...]:
        return FRAMES if self.holdout is not None else FRAMES[:2]

    def frame(self, name: str) -> pd.DataFrame:
        return {"real": self.real, "synthetic": self.synthetic, "holdout": self.holdout}[name]

    def kind(self, column: str) -> str:
        return self.metadata[column].kind

    def is_continuous(self, column: str) -> bool:
        return self.kind(column) in CONTINUOUS

    def cached(self, key, compute):
        """``compute()`` once per ``key``; later calls return the stored value (metrics share work this way)."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def values(self, frame: str, column: str) -> np.ndarray:
        """``float64`` values (NaN for nulls) or shared integer codes (``-1`` for nulls)."""
        if self.is_continuous(column):
            return self.cached(("float", frame, column), lambda: self._to_float(frame, column))
        codes = self._codes(column)
        return codes[frame]

    def categories(self, column: str) -> list:
        """Labels of a discrete column's codes: the real table's, by frequency, then unseen ones."""
        return self._codes(column)["labels"]

    def _to_float(self, frame: str, column: str) -> np.ndarray:
        series = self.frame(frame)[column]
        col = self.metadata[column]
        if col.kind == "datetime":
            values = to_seconds(series, col)
            what = f"values that are not dates in the format {col.datetime_format!r}"
            problem = (f"column '{column}' in the {frame} table has {{bad}} {what}; "
                       "fix them or the metadata's datetime_format")
        else:
            if pd.api.types.is_bool_dtype(series):
                series = series.astype("float64")
            values = parse_numbers(series, getattr(col, "number_format", None))
            values = values.to_numpy(dtype="float64", na_value=np.nan)
            what = "values that are not numbers"
            problem = (f"column '{column}' is numerical in the real table but the {frame} table has {{bad}} {what}; "
                       "fix them or evaluate tables with the same column types")
        bad = int((np.isnan(values) & series.notna().to_numpy()).sum())
        if bad > BAD_CELL_SHARE * len(series):
            raise DataError(problem.replace("{bad}", str(bad)))
        if bad:  # as when the model was fitted: a few unreadable cells count as missing
            warnings.warn(f"column '{column}' in the {frame} table: {bad} {what} count as missing",
                          SyntheraWarning, stacklevel=2)
        return values

    def _codes(self, column: str) -> dict:
        def compute():
            parts = {}
            for frame in self.frames:
                series = self.frame(frame)[column]
                text = series.astype("string")  # one spelling per label, whatever each file's dtype
                if pd.api.types.is_float_dtype(series):  # 1.0 read beside 1: same label
                    whole = series.notna() & (series % 1 == 0)
                    text = text.mask(whole, series[whole].astype("int64").astype("string"))
                parts[frame] = text
            real_counts = parts["real"].value_counts(dropna=True, sort=True)
            labels = list(real_counts.index)
            seen = set(labels)
            for frame in self.frames[1:]:
                for label in parts[frame].dropna().unique():
                    if label not in seen:
                        seen.add(label)
                        labels.append(label)
            index = pd.Index(labels)
            out = {"labels": labels}
            for frame, text in parts.items():
                codes = index.get_indexer(text.fillna("\x00<null>"))
                out[frame] = codes.astype(np.int64)
            return out

        return self.cached(("codes", column), compute)

    # ------------------------------------------------------------------ encodings

    @cached_property
    def _encoding(self) -> dict:
        """Per column, how the real table is encoded: centre/scale or top categories."""
        plan = {}
        for col in self.columns:
            if self.is_continuous(col):
                x = self.values("real", col)
                finite = x[np.isfinite(x)]
                centre = float(np.median(finite)) if finite.size else 0.0
                mean = float(finite.mean()) if finite.size else 0.0
                std = float(finite.std()) if finite.size else 0.0
                span = float(finite.max() - finite.min()) if finite.size else 0.0
                has_null = any(np.isnan(self.values(f, col)).any() for f in self.frames)
                plan[col] = {"fill": centre, "mean": mean, "std": std or 1.0, "span": span or 1.0, "null": has_null}
            else:
                codes = self.values("real", col)
                counts = np.bincount(codes[codes >= 0], minlength=len(self.categories(col)))
                order = np.argsort(-counts, kind="stable")
                keep = order[: min(TOP_CATEGORIES, int((counts > 0).sum()))]
                has_null = any((self.values(f, col) < 0).any() for f in self.frames)
                other = len(self.categories(col)) > len(keep)
                plan[col] = {"keep": keep, "null": has_null, "other": other}
        return plan

    def block(self, frame: str, column: str, *, distance: bool = False) -> np.ndarray:
        """The encoded columns of one table column, as ``float32``.

        With ``distance=True`` numbers are divided by the real range and one-hot
        slots by sqrt(2), so that squared Euclidean distance adds one per
        mismatched category and the squared range-scaled gap per number.
        """

        def compute():
            plan = self._encoding[column]
            if self.is_continuous(column):
                x = self.values(frame, column)
                nulls = np.isnan(x)
                filled = np.where(nulls, plan["fill"], x)
                scale = plan["span"] if distance else plan["std"]
                cols = [(filled - plan["mean"]) / scale]
                if plan["null"]:
                    cols.append(nulls.astype(np.float64))
                return np.column_stack(cols).astype(np.float32)
            codes = self.values(frame, column)
            keep = plan["keep"]
            lookup = np.full(len(self.categories(column)) + 1, len(keep), dtype=np.int64)  # default: other
            lookup[keep] = np.arange(len(keep))
            slot = lookup[codes]  # code -1 maps to the last entry, overwritten below
            width = len(keep) + 1 + (1 if plan["null"] else 0)
            slot = np.where(codes < 0, len(keep) + 1 if plan["null"] else len(keep), slot)
            out = np.zeros((len(codes), width), dtype=np.float32)
            out[np.arange(len(codes)), slot] = 1.0 / np.sqrt(2.0) if distance else 1.0
            return out

        return self.cached(("block", frame, column, distance), compute)

    def matrix(self, frame: str, *, exclude=(), columns=None, distance: bool = False) -> np.ndarray:
        """Stack the encoded blocks of ``columns`` (default: all evaluated) minus ``exclude``."""
        cols = [c for c in (columns or self.columns) if c not in exclude]
        if not cols:
            return np.zeros((len(self.frame(frame)), 0), dtype=np.float32)
        return np.hstack([self.block(frame, c, distance=distance) for c in cols])

    def rng(self, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, salt])
