"""`synthera bias` measures disparity with evaluation's fairness helpers and its one model factory."""

from __future__ import annotations

import pandas as pd

from synthera.bias._features import MODELLED, feature_frame
from synthera.bias.analysis import analyze_bias
from synthera.evaluate.fairness import group_disparity
from synthera.evaluate.models import TASK_TREES, gradient_boosting
from synthera.metadata import infer_metadata
from tests.helpers import biased_frame


def test_bias_disparity_is_evaluations_model_and_metric_frame():
    data, holdout = biased_frame(600, seed=1), biased_frame(300, seed=2)
    got = analyze_bias(data, target="income", sensitive=["sex"], holdout=holdout, seed=3)["model"]

    md = infer_metadata(data)
    features = [c for c in data.columns if c != "income" and md[c].kind in MODELLED]
    positive = ">50K"  # the rarer class
    model = gradient_boosting(len(data), 3, n_estimators=TASK_TREES)
    model.fit(feature_frame(data, md, features), (data["income"] == positive).astype(int).to_numpy())
    pred = (model.predict_proba(feature_frame(holdout, md, features))[:, 1] >= 0.5).astype(int)
    y_true = (holdout["income"] == positive).astype(int).to_numpy()
    expected, _ = group_disparity(y_true, pred, pd.Series(holdout["sex"].astype(str), name="sex"))
    assert got["groups"]["sex"] == expected  # same model, same rows, same MetricFrame: the very same numbers


def test_one_factory_one_set_of_settings():
    a, b = gradient_boosting(10_000, 0, n_estimators=TASK_TREES), gradient_boosting(10_000, 0, classification=False)
    shared = ("learning_rate", "num_leaves", "min_child_samples", "subsample", "colsample_bytree", "n_jobs")
    assert {k: a.get_params()[k] for k in shared} == {k: b.get_params()[k] for k in shared}
    assert a.get_params()["learning_rate"] == 0.1 and a.get_params()["n_estimators"] == TASK_TREES


def test_eval_data_shares_work_through_a_public_cache():
    from synthera.evaluate import EvalData

    df = biased_frame(100)
    data = EvalData.build(df, df)
    calls = []
    assert data.cached(("k",), lambda: calls.append(1) or 7) == 7
    assert data.cached(("k",), lambda: calls.append(1) or 8) == 7 and calls == [1]
