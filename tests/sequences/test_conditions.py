"""SequenceSynthesizer.sample(conditions=...): histories for entities whose per-entity columns take given values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.errors import UserInputError
from synthera.sequences import SequenceSynthesizer


@pytest.fixture(scope="module")
def with_context():
    """Short histories for kind 'short', long ones for 'long'; a constant group sets the calendar."""
    rng = np.random.default_rng(2)
    n = 240
    kind = rng.choice(["short", "long"], n)
    group = rng.choice(["a", "b"], n)
    lengths = np.where(kind == "short", rng.integers(2, 4, n), rng.integers(9, 13, n))
    ids = np.repeat(np.arange(n), lengths)
    pos = np.concatenate([np.arange(k) for k in lengths])
    step = np.where(np.repeat(group, lengths) == "a", 30, 7)
    date = pd.Timestamp("2020-01-01") + pd.to_timedelta(pos * step, unit="D")
    events = pd.DataFrame({"pid": ids, "date": date, "group": np.repeat(group, lengths),
                           "value": rng.normal(size=ids.size)})
    parents = pd.DataFrame({"pid": np.arange(n), "kind": kind})
    model = SequenceSynthesizer().fit(events, sequence_key="pid", sequence_index="date", context=parents)
    return model


def test_condition_on_a_constant_column_conditions_the_whole_history(with_context):
    out = with_context.sample(60, seed=0, conditions={"group": "b"})
    assert out["pid"].nunique() == 60 and (out["group"] == "b").all()
    gaps = out.groupby("pid")["date"].diff().dt.days.dropna()
    assert (gaps == 7).mean() > 0.9  # group b's weekly calendar, not group a's monthly one


def test_condition_on_a_context_column_conditions_lengths(with_context):
    out, entities = with_context.sample_with_context(50, seed=1, conditions={"kind": "long"})
    assert (entities["kind"] == "long").all()
    assert out.groupby("pid").size().min() >= 8
    short = with_context.sample(50, seed=1, conditions={"kind": "short"})
    assert short.groupby("pid").size().max() <= 4


def test_conditions_combine_and_reproduce(with_context):
    a = with_context.sample(30, seed=3, conditions={"kind": "short", "group": "a"})
    b = with_context.sample(30, seed=3, conditions={"kind": "short", "group": "a"})
    pd.testing.assert_frame_equal(a, b)
    assert (a["group"] == "a").all() and a.groupby("pid").size().max() <= 4


@pytest.mark.parametrize("conditions, needle", [
    ({"colour": "red"}, "'colour'"),
    ({"value": 1.0}, "per-entity columns"),
    ({"group": "zzz"}, "group"),
    ({"kind": "medium"}, "kind"),
])
def test_unknown_columns_and_impossible_values_are_one_line(with_context, conditions, needle):
    with pytest.raises(UserInputError, match=needle) as err:
        with_context.sample(5, seed=0, conditions=conditions)
    assert "\n" not in str(err.value)


def test_condition_on_a_column_the_given_context_sets_is_refused(with_context):
    context = pd.DataFrame({"pid": [1, 2], "kind": ["short", "long"]})
    with pytest.raises(UserInputError, match="select the context rows") as err:
        with_context.sample(seed=0, context=context, conditions={"kind": "long"})
    assert "\n" not in str(err.value)
    out = with_context.sample(seed=0, context=context, conditions={"group": "a"})
    assert set(out["pid"]) == {1, 2} and (out["group"] == "a").all()
