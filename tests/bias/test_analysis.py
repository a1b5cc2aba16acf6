"""Bias analysis: representation, base rates, model disparity and proxies, as an evaluate-style report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synthera.bias.analysis import analyze_bias
from synthera.errors import DataError, UserInputError


def test_representation_and_base_rates_are_exact():
    df = pd.DataFrame({"g": ["a"] * 6 + ["b"] * 4, "x": range(10),
                       "y": ["yes", "yes", "yes", "no", "no", "no", "yes", "no", "no", "no"]})
    r = analyze_bias(df, target="y", sensitive=["g"])
    assert r["positive_label"] == "yes"
    assert r["representation"]["g"]["groups"]["a"] == {"rows": 6, "share": 0.6}
    rates = r["base_rates"]["g"]
    assert rates["rate"] == {"a": 0.5, "b": 0.25}
    assert rates["difference"] == pytest.approx(0.25) and rates["ratio"] == pytest.approx(0.5)
    assert rates["four_fifths_rule"] is False


def test_the_model_and_proxies_find_the_built_in_bias(frame):
    r = analyze_bias(frame, target="income", sensitive=["sex", "race"])
    model = r["model"]
    assert model["tested_on"] == "5-fold cross-validation" and model["test_rows"] == len(frame)
    assert model["roc_auc"] > 0.6
    sex = model["groups"]["sex"]
    by = sex["by_group"]
    assert by["Male"]["selection_rate"] > by["Female"]["selection_rate"]
    gap = by["Male"]["selection_rate"] - by["Female"]["selection_rate"]
    assert sex["demographic_parity_difference"] == pytest.approx(gap)
    assert "sex & race" in model["groups"]
    proxies = r["proxies"]["sex"]
    ranked = list(proxies["uncertainty_coefficient"])
    assert ranked[0] == "relationship"  # Husband/Wife give sex away
    assert proxies["uncertainty_coefficient"]["noise"] < 0.05
    assert proxies["predictability_auc"] > 0.9
    assert sum(proxies["gain_share"].values()) == pytest.approx(1.0)
    assert any("Strongest proxies of sex: relationship" in line for line in r.headline)


def test_holdout_is_used_when_given(frame):
    from tests.helpers import biased_frame

    r = analyze_bias(frame, target="income", sensitive=["sex"], holdout=biased_frame(300, seed=1), positive=">50K")
    assert r["model"]["tested_on"] == "holdout" and r["model"]["test_rows"] == 300
    assert r["rows"] == {"data": len(frame), "holdout": 300}


def test_report_writes_json_and_html(frame):
    r = analyze_bias(frame, target="income", sensitive=["sex"])
    data = json.loads(r.to_json())
    assert data["kind"] == "bias" and data["headline"] == r.headline
    page = r.to_html()
    assert page.startswith("<!DOCTYPE html>") and "Synthera bias report" in page
    assert 'data-plot="groups-sex"' in page and 'data-plot="proxies-sex"' in page and "<svg" in page
    assert "<script" not in page


def test_same_seed_same_report(frame):
    a = analyze_bias(frame, target="income", sensitive=["sex"], seed=1).results
    b = analyze_bias(frame, target="income", sensitive=["sex"], seed=1).results
    a.pop("timings_s"), b.pop("timings_s")
    assert a == b


@pytest.mark.parametrize("kwargs, error, message", [
    ({"target": "nope", "sensitive": ["sex"]}, UserInputError, "unknown column 'nope'"),
    ({"target": "income", "sensitive": ["nope"]}, UserInputError, "unknown column 'nope'"),
    ({"target": "income", "sensitive": []}, UserInputError, "at least one sensitive"),
    ({"target": "income", "sensitive": ["income"]}, UserInputError, "both the target and a sensitive"),
    ({"target": "hours", "sensitive": ["sex"]}, UserInputError, "categorical target"),
    ({"target": "income", "sensitive": ["age"]}, UserInputError, "bin it"),
    ({"target": "income", "sensitive": ["sex"], "positive": "rich"}, UserInputError, "not a value of 'income'"),
])
def test_mistakes_are_clear_errors(frame, kwargs, error, message):
    with pytest.raises(error, match=message):
        analyze_bias(frame, **kwargs)


def test_empty_and_single_class_tables_are_clear_errors(frame):
    with pytest.raises(DataError, match="no rows"):
        analyze_bias(frame.iloc[:0], target="income", sensitive=["sex"])
    with pytest.raises(DataError, match="fewer than two classes"):
        analyze_bias(frame.assign(income="x"), target="income", sensitive=["sex"])


def test_a_numerical_proxy_is_binned(frame):
    jitter = np.random.default_rng(0).normal(0, 0.01, len(frame))
    df = frame.assign(sex_score=np.where(frame["sex"] == "Male", 1.0, 0.0) + jitter)
    r = analyze_bias(df, target="income", sensitive=["sex"])
    assert next(iter(r["proxies"]["sex"]["uncertainty_coefficient"])) == "sex_score"
