"""Behaviour of the evaluation metrics on small generated tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

import synthera.evaluate as ev
from synthera.errors import DataError, UserInputError
from synthera.evaluate import METRICS, EvalData, evaluate, register_metric
from synthera.evaluate.fidelity import cramers_v, ks_complement, tv_complement
from tests.helpers import make_people

FAST = ["column_shapes", "column_pair_trends", "exact_copy_rate"]


# --------------------------------------------------------------------------- fidelity


def test_ks_complement_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.3, 1.2, size=200)
    a[::17] = np.nan
    expected = 1 - ks_2samp(a[~np.isnan(a)], b).statistic
    assert ks_complement(a, b) == pytest.approx(expected, abs=1e-12)


def test_tv_complement_by_hand():
    real = np.array([0, 0, 1, 1, -1])  # shares 1/2, 1/2 among non-null
    syn = np.array([0, 0, 0, 2])  # 3/4, 0, 1/4
    assert tv_complement(real, syn, 3) == pytest.approx(1 - 0.5 * (0.25 + 0.5 + 0.25))


def test_cramers_v_matches_scipy():
    from scipy.stats.contingency import association

    rng = np.random.default_rng(1)
    a = rng.integers(0, 4, 500)
    b = (a + rng.integers(0, 3, 500)) % 5
    table = pd.crosstab(a, b).to_numpy()
    assert cramers_v(a, b) == pytest.approx(association(table, method="cramer"), abs=1e-12)


def test_identical_tables_score_perfectly(people):
    real, _, _ = people
    report = evaluate(real, real.copy(), metrics=FAST + ["detection_auc"])
    fid = report["fidelity"]
    assert fid["column_shapes"] == pytest.approx(1.0)
    assert fid["column_pair_trends"] == pytest.approx(1.0)
    assert all(c["score"] == pytest.approx(1.0) for c in fid["per_column"].values())
    assert fid["detection_auc"] == 0.5  # copies: cross-validation falls below chance, reported as 0.5
    assert fid["detection_auc_raw"] <= 0.5
    assert report["privacy"]["exact_copy_rate"] == pytest.approx(1.0)


def test_broken_synthetic_scores_worse_and_is_detected(people):
    real, _, syn = people
    broken = syn.copy()
    broken["age"] = broken["age"] + 25  # shifted
    broken["sex"] = "Male"  # one group dropped
    good = evaluate(real, syn, metrics=FAST + ["detection_auc"])["fidelity"]
    bad = evaluate(real, broken, metrics=FAST + ["detection_auc"])["fidelity"]
    assert bad["per_column"]["age"]["score"] < 0.7 < good["per_column"]["age"]["score"]
    assert bad["per_column"]["sex"]["score"] == pytest.approx(0.6, abs=0.06)  # TV of 40% Female vs 0%
    assert bad["column_shapes"] < good["column_shapes"]
    assert bad["detection_auc"] > 0.9 and good["detection_auc"] < 0.65


# --------------------------------------------------------------------------- utility and fairness


def test_utility_tstr_close_to_trtr_for_a_faithful_sample(people):
    real, holdout, syn = people
    util = evaluate(real, syn, holdout=holdout, target="income", metrics=["utility"])["utility"]
    assert util["task"] == {"target": "income", "kind": "classification", "test_rows": 600, "classes": 2,
                            "positive_label": ">50K"}
    for name in ("logistic_regression", "random_forest", "lightgbm"):
        row = util["models"][name]
        assert row["trtr"]["roc_auc"] > 0.75
        assert abs(row["tstr"]["roc_auc"] - row["trtr"]["roc_auc"]) < 0.08
        assert set(row["trtr"]) == {"accuracy", "f1", "roc_auc"}


def test_utility_regression_reports_r2(people):
    real, holdout, syn = people
    util = evaluate(real, syn, holdout=holdout, target="hours", metrics=["utility"])["utility"]
    assert util["task"]["kind"] == "regression"
    assert set(util["models"]["lightgbm"]["trtr"]) == {"r2"}
    assert util["models"]["logistic_regression"]["trtr"]["r2"] > 0.05


def test_fairness_agrees_with_fairlearn_functions(people):
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    from synthera.evaluate.fairness import group_labels
    from synthera.evaluate.utility import fitted_models, task

    real, holdout, syn = people
    report = evaluate(real, syn, holdout=holdout, target="income", sensitive=("sex", "group"), metrics=["fairness"])
    fair = report["fairness"]
    assert set(fair["groups"]) == {"sex", "group", "sex & group"}
    data = EvalData.build(real, syn, holdout=holdout, target="income", sensitive=("sex", "group"))
    fitted = fitted_models(data)
    pos = task(data)["positive"]
    y_true = (fitted["y_test"] == pos).astype(int)
    for source in ("real", "synthetic"):
        y_pred = (fitted[source, "lightgbm"]["pred"] == pos).astype(int)
        groups = group_labels(data, "holdout", ("sex",))
        got = fair["groups"]["sex"][f"trained_on_{source}"]
        assert got["demographic_parity_difference"] == pytest.approx(
            demographic_parity_difference(y_true, y_pred, sensitive_features=groups))
        assert got["equalized_odds_difference"] == pytest.approx(
            equalized_odds_difference(y_true, y_pred, sensitive_features=groups))
        rates = got["selection_rate_by_group"]
        assert set(rates) == {"Female", "Male"}
        assert rates["Female"]["holdout_rows"] + rates["Male"]["holdout_rows"] == len(holdout)
    rep = fair["groups"]["sex"]["representation_by_group"]
    assert rep["Female"]["real"] == pytest.approx((real["sex"] == "Female").mean())


def test_fairness_refuses_a_numerical_sensitive_column(people):
    from synthera.errors import UserInputError

    real, holdout, syn = people
    with pytest.raises(UserInputError, match="bin it"):
        evaluate(real, syn, holdout=holdout, target="income", sensitive=("age",), metrics=["fairness"])


# --------------------------------------------------------------------------- privacy


def test_privacy_tells_a_copy_from_an_independent_sample(people):
    real, holdout, syn = people
    names = ["exact_copy_rate", "distance_to_closest_record", "singling_out_risk", "inference_risk"]
    fresh = evaluate(real, syn, holdout=holdout, target="income", metrics=names)["privacy"]
    leaky = evaluate(real, real.sample(frac=1, random_state=0), holdout=holdout, target="income",
                     metrics=names)["privacy"]
    assert leaky["exact_copy_rate"] == pytest.approx(1.0)
    assert leaky["dcr_share"] > 0.9 and leaky["mia_auc"] > 0.9
    assert leaky["dcr_median_synthetic"] == pytest.approx(0, abs=1e-3)
    assert 0.35 < fresh["dcr_share"] < 0.65 and 0.4 < fresh["mia_auc"] < 0.6
    assert leaky["singling_out_risk"] > fresh["singling_out_risk"] + 0.2
    assert leaky["inference_risk"] > fresh["inference_risk"]
    assert fresh["n_reference"] == 600


def test_metrics_that_need_a_holdout_are_skipped_with_a_reason(people):
    real, _, syn = people
    report = evaluate(real, syn, target="income")
    skipped = {s["metric"]: s["reason"] for s in report.results["skipped"]}
    assert {"utility", "fairness", "distance_to_closest_record"} <= set(skipped)
    assert "(holdout)" in skipped["utility"]  # the parameter that fixes it
    assert report["privacy"]["exact_copy_rate"] is not None


# --------------------------------------------------------------------------- report, registry, errors


def test_report_json_and_headline(people):
    real, holdout, syn = people
    report = ev(real, syn, holdout=holdout, target="income", sensitive="sex")  # the package is callable
    data = json.loads(report.to_json())
    assert set(data) >= {"fidelity", "utility", "privacy", "fairness", "headline", "errors", "skipped", "timings_s"}
    assert data["errors"] == []
    assert set(data["timings_s"]) == set(METRICS)
    assert data["headline"][0].startswith("Synthetic data keeps")
    assert any("ROC AUC" in line for line in report.headline)
    html = report.to_html()
    assert html.count('<figure class="plot"') == 5
    for name in ("distributions", "correlation_difference", "utility", "dcr", "fairness-sex"):
        assert f'data-plot="{name}"' in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "<script" not in html


def test_a_failing_metric_becomes_an_error_row(people, monkeypatch):
    from synthera.evaluate import Metric

    def always_fails(data):
        raise RuntimeError("boom")

    monkeypatch.setitem(METRICS, "always_fails", Metric("always_fails", "fidelity", always_fails, ("always_fails",)))
    real, _, syn = people
    report = evaluate(real, syn, metrics=["column_shapes", "always_fails"])
    assert report["fidelity"]["always_fails"] is None
    assert report["fidelity"]["column_shapes"] > 0.9
    assert report.results["errors"] == [{"metric": "always_fails", "section": "fidelity",
                                         "error": "RuntimeError: boom"}]
    assert "always_fails" in report.to_html()


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register_metric("column_shapes", section="fidelity")(lambda data: {})
    with pytest.raises(ValueError, match="section"):
        register_metric("x", section="nonsense")


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda s: s.drop(columns="age"), DataError, "lacks 'age'"),
        (lambda s: s.assign(extra=1), DataError, "'extra' that the real table does not"),
        (lambda s: s.iloc[:0], DataError, "no rows"),
        (lambda s: s.assign(age=["old"] * len(s)), DataError, "'age' is numerical .* not numbers"),
    ],
)
def test_user_mistakes_are_clear_errors(people, change, error, match):
    real, _, syn = people
    with pytest.raises(error, match=match):
        evaluate(real, change(syn))


def test_unknown_target_and_metric_names(people):
    real, _, syn = people
    with pytest.raises(UserInputError, match="^target column 'incom' is not in the data"):
        evaluate(real, syn, target="incom")
    with pytest.raises(UserInputError, match="^sensitive column 'gender'"):
        evaluate(real, syn, sensitive=["gender"])
    with pytest.raises(UserInputError, match="unknown metric 'nope'"):
        evaluate(real, syn, metrics=["nope"])


def test_degenerate_columns_get_well_defined_scores():
    n = 300
    rng = np.random.default_rng(0)

    def table(seed):
        r = np.random.default_rng(seed)
        return pd.DataFrame({
            "x": r.normal(size=n),
            "empty": pd.Series([np.nan] * n, dtype="float64"),
            "constant": np.full(n, 7),
            "code": [f"c{v}" for v in r.integers(0, 3000, n)],  # thousands of categories
            "label": r.choice(["a", "b"], n),
        })

    real, syn, hold = table(1), table(2), table(3)
    syn.loc[: n // 2, "empty"] = 1.0  # null in the real table, half-filled in the synthetic one
    report = evaluate(real, syn, holdout=hold, target="label")
    assert report.results["errors"] == []
    per = report["fidelity"]["per_column"]
    assert per["empty"]["score"] == 0.0  # all null in real only: defined as no match
    assert per["constant"]["score"] == 1.0
    assert 0 <= per["code"]["score"] < 0.5
    pairs = {(p["column_1"], p["column_2"]): p for p in report["fidelity"]["column_pairs"]}
    assert pairs["x", "constant"]["score"] is None and "constant" in pairs["x", "constant"]["note"]
    assert 0 <= report["fidelity"]["column_pair_trends"] <= 1
    both_empty = evaluate(real, real.assign(x=rng.normal(size=n)), metrics=["column_shapes"])
    assert "every row" in both_empty.results["skipped_columns"]["empty"]
    md = {"format_version": 1, "columns": {
        "x": {"kind": "numerical"}, "empty": {"kind": "numerical"}, "constant": {"kind": "numerical"},
        "code": {"kind": "categorical"}, "label": {"kind": "categorical"}}}
    declared = evaluate(real, real.assign(x=rng.normal(size=n)), metadata=md, metrics=["column_shapes"])
    assert declared["fidelity"]["per_column"]["empty"]["score"] == 1.0


def test_id_and_text_columns_are_skipped_not_compared(people):
    real, _, syn = people
    real = real.assign(person_id=np.arange(len(real)))
    syn = syn.assign(person_id=np.arange(len(syn)) + 10_000)
    report = evaluate(real, syn, metrics=["column_shapes"])
    assert "person_id" not in report["fidelity"]["per_column"]
    assert "person_id" in report.results["skipped_columns"]


def test_same_seed_same_results(people):
    real, holdout, syn = people
    a = evaluate(real, syn, holdout=holdout, target="income").results
    b = evaluate(real, syn, holdout=holdout, target="income").results
    a.pop("timings_s"), b.pop("timings_s")

    def rounded(x):  # BLAS may differ in the last bits between runs
        if isinstance(x, dict):
            return {k: rounded(v) for k, v in x.items()}
        if isinstance(x, list):
            return [rounded(v) for v in x]
        return round(x, 6) if isinstance(x, float) else x

    assert rounded(a) == rounded(b)


def test_make_people_is_deterministic():
    pd.testing.assert_frame_equal(make_people(50, 4), make_people(50, 4))
