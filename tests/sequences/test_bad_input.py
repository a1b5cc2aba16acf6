"""Bad sequence input: each case handled with a warning or refused with one clear line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.errors import NotFittedError, SyntheraWarning, UserInputError
from synthera.sequences import SequenceSynthesizer

from .conftest import make_histories


def _fit(df, **kw):
    return SequenceSynthesizer(**kw).fit(df, sequence_key="patient", sequence_index="date")


def test_unsorted_input_is_sorted_with_a_warning():
    df = make_histories(80)
    shuffled = df.sample(frac=1.0, random_state=0)
    with pytest.warns(SyntheraWarning, match="not sorted"):
        model = _fit(shuffled)
    assert model.n_events_ == len(df)


def test_duplicate_pairs_and_zero_gaps_are_kept_with_a_warning():
    df = make_histories(80)
    df = pd.concat([df, df.iloc[:30]]).sort_values(["patient", "date"], kind="stable")
    with pytest.warns(SyntheraWarning, match="30 events share their index"):
        model = _fit(df)
    assert model.sample(10, seed=0)["patient"].nunique() == 10


def test_single_event_entities_are_fine_but_all_single_is_refused():
    df = make_histories(80)
    single = pd.DataFrame({"patient": [999], "date": [pd.Timestamp("2021-01-01")], "group": ["a"], "ward": ["w1"],
                           "score": [0.0], "part": [1], "whole": [2]})
    _fit(pd.concat([df, single], ignore_index=True))
    firsts = df.groupby("patient").head(1)
    with pytest.raises(UserInputError, match="single event") as err:
        _fit(firsts)
    assert "\n" not in str(err.value)


def test_very_long_history_is_accepted_and_cap_is_one_line():
    df = make_histories(60)
    n = 10_000
    long = pd.DataFrame({"patient": 5000, "date": pd.Timestamp("2000-01-01") + pd.to_timedelta(np.arange(n), "D"),
                         "group": "a", "ward": "w1", "score": np.arange(n) * 0.01, "part": 1, "whole": 3})
    both = pd.concat([df, long], ignore_index=True)
    model = _fit(both)
    assert model.max_seen_ == n
    with pytest.raises(UserInputError, match="max_length=5000"):
        _fit(both, max_length=5000)


@pytest.mark.parametrize("change, needle", [
    (lambda d: d.drop(columns=["date"]), "sequence_index 'date'"),
    (lambda d: d.assign(date=d["date"].where(d.index % 7 != 0)), "null values"),
    (lambda d: d.assign(date="x"), "neither numbers nor dates"),
])
def test_bad_columns_are_one_line(change, needle):
    with pytest.raises(UserInputError, match=needle) as err:
        _fit(change(make_histories(40)))
    assert "\n" not in str(err.value)


def test_conditions_on_event_columns_are_refused():
    model = _fit(make_histories(80))
    with pytest.raises(UserInputError, match="per-entity columns"):
        model.sample(5, seed=0, conditions={"score": 1.0})


def test_long_history_samples_stay_within_the_index_range():
    df = make_histories(60)
    n = 3000
    long = pd.DataFrame({"patient": 5000, "date": pd.Timestamp("2015-01-01") + pd.to_timedelta(np.arange(n), "D"),
                         "group": "a", "ward": "w1", "score": np.arange(n) * 0.01, "part": 1, "whole": 3})
    both = pd.concat([df, long], ignore_index=True)
    out = _fit(both).sample(30, seed=0)
    assert out["date"].min() >= both["date"].min() and out["date"].max() <= both["date"].max()


def test_few_histories_are_counted_as_histories_not_rows():
    df = make_histories(30, max_len=40)  # hundreds of events, but only 30 histories
    with pytest.warns(SyntheraWarning) as caught:
        _fit(df)
    texts = [str(w.message) for w in caught]
    assert any("only 30 histories ('patient' values" in t for t in texts)
    assert not any("rows (fewer than" in t for t in texts)
    model = SequenceSynthesizer()
    with pytest.raises(UserInputError, match="holds 6 histories") as err:
        model.fit(df[df["patient"] < 6], sequence_key="patient", sequence_index="date")
    assert "\n" not in str(err.value)
    with pytest.raises(NotFittedError):  # refused before any fitted attribute was set
        model.sample(seed=0)
