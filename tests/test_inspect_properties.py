"""Property tests: odd frames give a clean result or a clear error, never a crash."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthera.errors import SyntheraError, UserInputError
from synthera.metadata import KINDS, Metadata, infer_metadata

_cell = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2024-01-31", "yes", "no", "a@b.co", "10.0.0.1", "NaN", "", " "]),
    st.dates().map(str),
)
_typed_column = st.one_of(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=30),
    st.lists(st.integers(min_value=-(2**40), max_value=2**40), min_size=0, max_size=30),
    st.lists(st.one_of(st.none(), st.text(max_size=8)), min_size=0, max_size=30),
    st.lists(_cell, min_size=0, max_size=30),
)


@st.composite
def frames(draw):
    n_cols = draw(st.integers(min_value=0, max_value=5))
    n_rows = draw(st.integers(min_value=0, max_value=30))
    names = draw(st.lists(st.sampled_from(["a", "b", "id", "name", "when", "x y", "ü"]),
                          min_size=n_cols, max_size=n_cols))
    data = []
    for _ in range(n_cols):
        col = draw(_typed_column)
        col = (col * (n_rows // max(len(col), 1) + 1))[:n_rows] if col else [None] * n_rows
        data.append(col)
    frame = pd.DataFrame(dict(enumerate(data))) if data else pd.DataFrame(index=range(n_rows))
    frame.columns = names  # may repeat on purpose
    return frame


def _check_result(md: Metadata, frame: pd.DataFrame) -> None:
    assert md.names == list(frame.columns)
    for col in md.columns.values():
        assert col.kind in KINDS
        assert 0.0 <= col.null_fraction <= 1.0
        if col.kind == "numerical":
            assert math.isfinite(col.min) and math.isfinite(col.max) and col.min <= col.max
        if col.kind == "categorical":
            assert col.categories
    assert Metadata.from_json(md.to_json()) == md  # every result survives its own JSON


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_inspect_never_crashes(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            md = infer_metadata(frame)
        except SyntheraError as exc:
            assert isinstance(exc, UserInputError)  # user errors are also ValueErrors
            assert isinstance(exc, ValueError)
            assert "\n" not in str(exc) and ";" in str(exc)  # one line: the problem; the fix
            return
    _check_result(md, frame)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=False, width=64), min_size=1, max_size=40))
def test_finite_floats_with_nans_always_infer(values):
    frame = pd.DataFrame({"v": values})
    if frame["v"].isna().all():
        return
    md = infer_metadata(frame)
    finite = np.asarray(values, dtype=float)
    finite = finite[~np.isnan(finite)]
    assert md["v"].kind in ("numerical", "boolean")
    if md["v"].kind == "numerical":
        assert md["v"].min == finite.min() and md["v"].max == finite.max()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(frames())
def test_inspect_from_csv_never_crashes(tmp_path_factory, frame):
    """The same odd frames, written to CSV and read back as `synthera inspect` would."""
    from synthera.io import read_table, write_table

    path = tmp_path_factory.mktemp("csv") / "odd.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            write_table(frame, path)
            md = infer_metadata(read_table(path))
        except UserInputError as exc:
            assert "\n" not in str(exc)
            return
    assert len(md) == frame.shape[1]
