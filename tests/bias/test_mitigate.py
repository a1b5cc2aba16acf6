"""Balancing and parity at sampling time, on the flagship and on every registered synthesizer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.bias import mitigated_sample, plan_mitigation
from synthera.bias.mitigate import _ipf, _margins, _shift_to_rates
from synthera.errors import UserInputError
from synthera.tabular import available_synthesizers, get_synthesizer
from tests.helpers import FAST, fit_kwargs

PILOT = 4_000


def _rates(df: pd.DataFrame, by: list[str], target: str = "income", value: str = ">50K") -> pd.Series:
    return (df[target] == value).groupby([df[c] for c in by]).mean()


def _within_sampling_error(df: pd.DataFrame, by: list[str], overall: float, z: float = 4.0) -> None:
    """Every group's rate lies within z standard errors of the overall rate."""
    sizes = df.groupby(by).size()
    for group, rate in _rates(df, by).items():
        se = np.sqrt(overall * (1 - overall) / sizes[group])
        assert abs(rate - overall) <= z * se + 1e-9, (group, rate, overall, se)


def test_parity_equalises_the_target_rate_and_keeps_group_shares(frame, cascade):
    before = cascade.sample(6_000, seed=1)
    assert _rates(before, ["sex"]).max() - _rates(before, ["sex"]).min() > 0.15  # the model learned the bias
    df, plan = mitigated_sample(cascade, 6_000, parity="income", sensitive=["sex"], seed=0, pilot_rows=PILOT)
    assert len(df) == 6_000 and list(df.columns) == list(frame.columns)
    overall = float((df["income"] == ">50K").mean())
    _within_sampling_error(df, ["sex"], overall)
    # group shares stay as learned (parity changes rates, not who is in the table)
    learned = plan.summary()["group_shares"]["sex"]
    shares = df["sex"].value_counts(normalize=True)
    for g, s in learned.items():
        assert abs(shares[g] - s["learned"]) < 0.03


def test_pure_resampling_gives_exact_rates_by_allocation(cascade):
    df, plan = mitigated_sample(cascade, 3_000, parity="income", sensitive=["sex"], relabel=0.0, seed=0,
                                pilot_rows=PILOT)
    assert plan.relabel_cells is None and plan.rows == 3_000
    rates = _rates(df, ["sex"])
    sizes = df["sex"].value_counts()
    assert abs(rates["Female"] - rates["Male"]) <= 1 / sizes.min() + 1 / sizes.max()


def test_balance_gives_equal_shares(cascade):
    df, _ = mitigated_sample(cascade, 3_001, balance=["race"], seed=0, pilot_rows=PILOT)
    counts = df["race"].value_counts()
    assert counts.max() - counts.min() <= 1 and counts.sum() == 3_001


def test_intersectional_parity_holds_for_each_combination(cascade):
    df, plan = mitigated_sample(cascade, 8_000, parity="income", sensitive=["sex", "race"], intersectional=True,
                                seed=0, pilot_rows=PILOT)
    overall = float((df["income"] == ">50K").mean())
    _within_sampling_error(df, ["sex", "race"], overall)
    assert "sex & race" in plan.summary()["target_rates"]


def test_balance_and_parity_together(cascade):
    df, _ = mitigated_sample(cascade, 4_000, balance=["sex"], parity="income", sensitive=["sex"], seed=0,
                             pilot_rows=PILOT)
    counts = df["sex"].value_counts()
    assert abs(counts["Female"] - counts["Male"]) <= 2
    _within_sampling_error(df, ["sex"], float((df["income"] == ">50K").mean()))


def test_same_seed_same_rows(cascade):
    a, _ = mitigated_sample(cascade, 500, parity="income", sensitive=["sex"], seed=3, pilot_rows=PILOT)
    b, _ = mitigated_sample(cascade, 500, parity="income", sensitive=["sex"], seed=3, pilot_rows=PILOT)
    c, _ = mitigated_sample(cascade, 500, parity="income", sensitive=["sex"], seed=4, pilot_rows=PILOT)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_fixed_conditions_apply_to_every_row(cascade):
    df, _ = mitigated_sample(cascade, 600, parity="income", sensitive=["sex"], conditions={"race": "B"}, seed=0,
                             pilot_rows=PILOT)
    assert (df["race"] == "B").all()


@pytest.mark.parametrize("name", available_synthesizers())
def test_every_registered_synthesizer_can_be_balanced_and_equalised(name, frame):
    model = get_synthesizer(name)(**FAST.get(name, {})).fit(frame, **fit_kwargs(name, frame))
    df, _ = mitigated_sample(model, 1_200, balance=["sex"], parity="income", sensitive=["sex"], seed=0,
                             pilot_rows=2_000)
    counts = df["sex"].value_counts()
    assert len(df) == 1_200 and abs(counts["Female"] - counts["Male"]) <= 2
    _within_sampling_error(df, ["sex"], float((df["income"] == ">50K").mean()))


@pytest.mark.parametrize("kwargs, message", [
    ({}, "nothing to mitigate"),
    ({"parity": "income"}, "add sensitive COLUMN"),
    ({"sensitive": ["sex"], "balance": ["race"]}, "sensitive is used with parity TARGET"),
    ({"parity": "income", "sensitive": ["income"]}, "both the parity target and a sensitive column"),
    ({"balance": ["nope"]}, "unknown column 'nope'"),
    ({"balance": ["age"]}, "bin it"),
    ({"parity": "hours", "sensitive": ["sex"]}, "bin it"),
    ({"parity": "income", "sensitive": ["sex"], "relabel": 1.5}, "between 0 and 1"),
    ({"balance": ["sex"], "relabel": 0.5}, "parity only"),
    ({"balance": ["sex"], "intersectional": True}, "two or more columns"),
    ({"balance": ["sex"], "conditions": {"sex": "Female"}}, "fixed by a condition"),
])
def test_impossible_requests_are_clear_errors(cascade, kwargs, message):
    with pytest.raises(UserInputError, match=message):
        plan_mitigation(cascade, 100, pilot_rows=PILOT, **kwargs)


def test_unknown_condition_value_is_a_clear_error(cascade):
    with pytest.raises(UserInputError, match="never takes that value"):
        mitigated_sample(cascade, 100, balance=["sex"], conditions={"race": "Z"}, seed=0, pilot_rows=PILOT)


def test_a_group_the_model_never_produces_with_a_target_value_is_an_error():
    cells = pd.DataFrame({"g": ["A", "A", "B"], "t": ["yes", "no", "no"]})
    learned = np.array([0.3, 0.3, 0.4])
    margins = _margins(cells, learned, [], "t", ["g"], False)
    with pytest.raises(UserInputError, match="never generates g & t = B & yes"):
        _ipf(cells, learned, margins)


def test_ipf_meets_every_margin_and_stays_close_to_the_start():
    rng = np.random.default_rng(0)
    cells = pd.DataFrame([(a, b, t) for a in "xyz" for b in "uv" for t in (0, 1)], columns=["a", "b", "t"])
    learned = rng.dirichlet(np.ones(len(cells)))
    p = _ipf(cells, learned, _margins(cells, learned, ["a"], "t", ["a", "b"], False))
    df = cells.assign(p=p)
    assert np.allclose(df.groupby("a")["p"].sum(), 1 / 3)
    for col in ("a", "b"):
        rate = df[df.t == 1].groupby(col)["p"].sum() / df.groupby(col)["p"].sum()
        assert np.allclose(rate, rate.iloc[0])


def test_shift_to_rates_hits_the_wanted_rates_in_every_group():
    rng = np.random.default_rng(1)
    proba = rng.dirichlet([1, 2, 3], size=2_000)
    g1, g2 = rng.integers(0, 3, 2_000), rng.integers(0, 2, 2_000)
    wanted = np.array([0.5, 0.3, 0.2])
    out = _shift_to_rates(proba, [g1, g2], wanted)
    assert np.allclose(out.sum(axis=1), 1)
    for g in (g1, g2):
        for k in np.unique(g):
            assert np.allclose(out[g == k].mean(axis=0), wanted, atol=1e-6)


def test_summary_measures_the_rows_it_is_given(cascade):
    """The shares and rates the CLI prints come from the public summary, counted on the rows written."""
    df, plan = mitigated_sample(cascade, 2_000, balance=["race"], parity="income", sensitive=["sex"], seed=0,
                                pilot_rows=PILOT)
    assert "measured" not in plan.summary()
    measured = plan.summary(df)["measured"]
    assert measured["rows"] == 2_000
    assert list(measured["group_shares"]) == ["race", "sex"]
    for name, shares in measured["group_shares"].items():
        expected = df[name].astype(str).value_counts(normalize=True)
        assert shares == pytest.approx(expected.to_dict()) and list(shares) == list(expected.index)
    assert list(measured["target_rates"]) == ["sex"]  # rates only for the sensitive groupings
    rates = measured["target_rates"]["sex"]
    for group, by_value in rates.items():
        expected = (df.loc[df["sex"] == group, "income"] == ">50K").mean()
        assert by_value[">50K"] == pytest.approx(expected)
    assert measured["target_shares"] == pytest.approx(df["income"].value_counts(normalize=True).to_dict())
    with pytest.raises(UserInputError, match="rows lack the mitigated column"):
        plan.summary(df.drop(columns="race"))


def test_options_record_and_keywords_give_the_same_rows(cascade):
    from synthera.bias import MitigationOptions

    options = MitigationOptions(parity="income", sensitive=["sex"], seed=5, pilot_rows=PILOT)
    a, plan_a = mitigated_sample(cascade, 400, options)
    b, _ = mitigated_sample(cascade, 400, parity="income", sensitive=["sex"], seed=5, pilot_rows=PILOT)
    c, _ = mitigated_sample(cascade, 400, options, seed=6)  # a keyword overrides the record
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert plan_mitigation(cascade, 400, options).cells.equals(plan_mitigation(cascade, 400, **vars(options)).cells)
    with pytest.raises(TypeError, match="unknown mitigation option"):
        plan_mitigation(cascade, 400, options, paritty="income")
