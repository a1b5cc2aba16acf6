"""Within-row relations: detected when they hold in every real row, enforced without changing dtypes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.errors import UserInputError
from synthera.sequences.constraints import check_constraints, count_violations, detect_constraints, enforce_constraints


def test_detects_real_relations_not_trivial_ones():
    rng = np.random.default_rng(0)
    whole = rng.integers(5, 50, 200)
    df = pd.DataFrame({"part": (whole * rng.random(200)).astype(int), "whole": whole,
                       "far": rng.integers(1000, 2000, 200), "noise": rng.normal(size=200)})
    found = detect_constraints(df, df.columns)
    assert {"low": "part", "high": "whole"} in found
    assert not any("far" in (c["low"], c["high"]) for c in found)  # disjoint ranges: the bounds keep it anyway
    assert not any("noise" in (c["low"], c["high"]) for c in found)


def test_enforce_clips_chains_and_keeps_integer_dtype():
    df = pd.DataFrame({"a": [5, 1, 9], "b": [3.5, 2.0, 4.0], "c": [3.0, 3.0, 3.0]})
    rules = [{"low": "a", "high": "b"}, {"low": "b", "high": "c"}]
    out = enforce_constraints(df, rules)
    assert count_violations(out, rules) == 0
    assert out["a"].dtype == df["a"].dtype
    assert out.loc[1, "a"] == 1  # rows that already hold are untouched


def test_fixed_side_is_never_changed():
    df = pd.DataFrame({"day": [10, 20, 30], "futime": [15, 5, 40]})
    out = enforce_constraints(df, [{"low": "day", "high": "futime"}], fixed=["day"])
    assert out["day"].tolist() == [10, 20, 30] and out["futime"].tolist() == [15, 20, 40]


def test_user_constraints_are_checked():
    with pytest.raises(UserInputError, match="'zz'"):
        check_constraints([{"low": "a", "high": "zz"}], ["a", "b"])
    with pytest.raises(UserInputError, match="must be"):
        check_constraints([("a", "b")], ["a", "b"])
