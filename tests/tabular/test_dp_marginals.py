"""The ε-DP marginal synthesizer (tabular/dp_marginals.py): accounting checked independently, budgets never
exceeded, domains declared or paid for, and user mistakes as clear errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from synthera.errors import UserInputError
from synthera.tabular import get_synthesizer, load_synthesizer
from tests.helpers import dp_public_metadata as public_metadata
from tests.helpers import make_dp_frame as make_frame

FAST = {"steps": 100, "n_components": 32}


def _model(**params):
    return get_synthesizer("dp_marginals")(**{**FAST, "seed": 0, **params})


def _independent_epsilon(manifest: dict) -> float:
    """ε of a saved model, recomputed with dp-accounting straight from the recorded noise."""
    import dp_accounting

    privacy = manifest["privacy"]
    spec = privacy["accountant"]
    assert spec["name"] == "pld"
    accountant = dp_accounting.pld.PLDAccountant(value_discretization_interval=spec["value_discretization_interval"])
    events = [
        dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(g["sigma"] / g["sensitivity"]), g["count"])
        for g in privacy["measurements"]["groups"]
    ]
    accountant.compose(dp_accounting.ComposedDpEvent(events))
    domain = privacy["domain"]
    # one accountant over the domain's and the model's Gaussians; the domain's thresholds cost e^eps * p of delta
    p = domain.get("release_probability", 0.0)
    threshold_delta = math.exp(privacy["epsilon_requested"]) * p
    assert math.isclose(privacy["measurements"]["delta"] + threshold_delta, manifest["delta"], rel_tol=1e-12)
    domain_groups = [g["name"] for g in domain.get("groups", [])]
    assert [g["name"] for g in privacy["measurements"]["groups"]][:len(domain_groups)] == domain_groups
    return accountant.get_epsilon(privacy["measurements"]["delta"])


@pytest.mark.parametrize("declared", [True, False], ids=["public-domain", "dp-domain"])
def test_manifest_epsilon_equals_an_independent_computation(tmp_path, declared):
    frame = make_frame(3000)
    model = _model(epsilon=2.0, delta=1e-5).fit(frame, metadata=public_metadata() if declared else None)
    model.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["delta"] == 1e-5
    assert manifest["epsilon_spent"] <= 2.0
    assert manifest["epsilon_spent"] == pytest.approx(_independent_epsilon(manifest), abs=1e-9)
    groups = {g["name"]: g for g in manifest["privacy"]["measurements"]["groups"]}
    assert groups["2-way marginals"]["count"] == 6  # every pair of the 4 columns
    assert groups["1-way fine histograms"]["count"] == 4
    if not declared:  # the domain's histograms, one per column, are in the same accountant
        assert groups["domain: category counts"]["count"] + groups["domain: bucket counts"]["count"] == 4
    again = load_synthesizer(tmp_path)
    assert again.privacy_["epsilon_spent"] == manifest["epsilon_spent"]


@pytest.mark.parametrize("epsilon", [0.5, 1.0])
def test_a_fitted_model_never_reports_more_than_asked(epsilon):
    model = _model(epsilon=epsilon, delta=1e-6).fit(make_frame(20000))  # domain estimated: two mechanisms composed
    assert model.privacy_["epsilon_spent"] <= epsilon
    assert model.privacy_["epsilon_spent"] >= 0.999 * epsilon
    assert model.privacy_["delta"] == 1e-6


def test_declared_public_domain_is_used_verbatim_and_costs_nothing(tmp_path, frame, public):
    model = _model(epsilon=1.0, delta=1e-5).fit(frame, metadata=public)
    model.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    domain = manifest["privacy"]["domain"]
    assert domain["epsilon"] == 0 and domain["delta"] == 0
    assert {c["source"] for c in domain["columns"].values()} == {"public"}
    assert (domain["columns"]["age"]["lower"], domain["columns"]["age"]["upper"]) == (0, 120)
    assert domain["columns"]["segment"]["categories"] == ["bronze", "gold", "silver"]
    md = manifest["metadata"]["columns"]
    assert (md["age"]["min"], md["age"]["max"]) == (0, 120)  # not the data's 18 and 79
    assert (md["hours"]["min"], md["hours"]["max"]) == (0, 168)
    assert [g["name"] for g in manifest["privacy"]["measurements"]["groups"]] == [
        "row count", "1-way fine histograms", "2-way marginals"]  # nothing spent on the domain
    syn = model.sample(2000, seed=0)
    assert syn["age"].between(0, 120).all() and syn["hours"].between(0, 168).all()
    assert set(syn["segment"]) <= {"bronze", "gold", "silver"}


def test_undeclared_domain_is_estimated_under_dp_and_charged(tmp_path):
    frame = make_frame(20000)
    frame.loc[7, "segment"] = "unicorn"  # held by one person: must not reach the model
    model = _model(epsilon=1.0, delta=1e-6).fit(frame)
    model.save(tmp_path)
    text = (tmp_path / "manifest.json").read_text()
    manifest = json.loads(text)
    domain = manifest["privacy"]["domain"]
    assert {c["source"] for c in domain["columns"].values()} == {"dp"}
    assert domain["epsilon"] == pytest.approx(model.domain_share * 1.0)  # what it would spend alone
    assert manifest["epsilon_spent"] == pytest.approx(_independent_epsilon(manifest), abs=1e-9)
    assert 0.999 <= manifest["epsilon_spent"] <= 1.0  # charged to the same budget, in one accountant
    assert "unicorn" not in text
    md = manifest["metadata"]["columns"]
    assert md["age"]["min"] == math.ceil(domain["columns"]["age"]["lower"])
    assert md["age"]["max"] == math.floor(domain["columns"]["age"]["upper"])
    assert (md["age"]["min"], md["age"]["max"]) != (int(frame["age"].min()), int(frame["age"].max()))
    assert manifest["n_rows"] != len(frame) or manifest["metadata"]["n_rows"] is None
    assert "unicorn" not in set(model.sample(5000, seed=1)["segment"])


def test_generated_columns_learn_nothing_from_the_rows():
    frame = make_frame(3000)
    frame.insert(0, "code", [f"AB{i:05d}x" for i in range(len(frame))])
    md = public_metadata()
    model = _model(epsilon=1.0, delta=1e-5).fit(frame, metadata=md)
    assert model.metadata_["code"].kind == "id"
    assert model.encoder_.generated_["code"].get("templates") in (None, [])  # no id shapes read from the data
    assert model.sample(10, seed=0)["code"].is_unique


def test_seed_none_draws_fresh_noise_a_fixed_seed_repeats(frame, public):
    a = _model(epsilon=1.0, delta=1e-5, seed=None).fit(frame, metadata=public)
    b = _model(epsilon=1.0, delta=1e-5, seed=None).fit(frame, metadata=public)
    assert not np.array_equal(a.components_, b.components_)
    c = _model(epsilon=1.0, delta=1e-5, seed=5).fit(frame, metadata=public)
    d = _model(epsilon=1.0, delta=1e-5, seed=5).fit(frame, metadata=public)
    assert np.array_equal(c.components_, d.components_)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "needs a privacy budget; pass epsilon"),
        ({"epsilon": 0}, "epsilon must be a finite number > 0"),
        ({"epsilon": -1.0}, "epsilon must be a finite number > 0"),
        ({"epsilon": float("inf")}, "epsilon must be a finite number > 0"),
        ({"epsilon": float("nan")}, "epsilon must be a finite number > 0"),
        ({"epsilon": 1.0, "delta": 1.0}, "delta must be a number in (0, 1)"),
        ({"epsilon": 1.0, "delta": 0.0}, "delta must be a number in (0, 1)"),
        ({"epsilon": 1e-5, "delta": 1e-9}, "too small a budget"),
        ({"epsilon": 1.0, "one_way_share": 1.5}, "one_way_share must be a number between 0 and 1"),
    ],
)
def test_bad_parameters_are_clear_errors(frame, public, params, message):
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _model(**params).fit(frame, metadata=public)


def test_a_category_no_budget_can_release_is_a_clear_error():
    frame = make_frame(300)  # at most 146 rows a category; epsilon 0.1 needs several hundred to release one
    with pytest.raises(UserInputError, match="no category of column '.*' is frequent enough"):
        _model(epsilon=0.1, delta=1e-5).fit(frame)


def test_an_estimated_domain_s_category_counts_are_reused_not_bought_twice():
    frame = make_frame(20000)
    model = _model(epsilon=1.0, delta=1e-6).fit(frame)
    j = [c.name for c in model.columns_].index("segment")
    col = model.columns_[j]
    counts = model.domain_.noisy_counts["segment"]
    fresh = np.array([6000.0, 4000.0, 10000.0])[: col.n_fine]  # bronze, gold, silver
    sigma1 = 50.0
    merged, sigma = model._with_domain_counts(col, fresh, sigma1, 20000.0)
    sigma_d = model.domain_.groups[0].sigma
    assert sigma == pytest.approx((sigma1**-2 + sigma_d**-2) ** -0.5) and sigma < min(sigma1, sigma_d)
    w = sigma_d**2 / (sigma1**2 + sigma_d**2)  # the fresh count's weight
    known = [counts[c] for c in model.domain_["segment"].categories]
    spread = max(20000.0 - sum(known), 0.0) / len(known)  # rows of left-out categories were spread evenly
    assert merged[0] == pytest.approx(w * fresh[0] + (1 - w) * (known[0] + spread))
    public = _model(epsilon=1.0, delta=1e-6).fit(frame, metadata=public_metadata())
    assert public._with_domain_counts(col, fresh, sigma1, 20000.0)[1] == sigma1  # a declared domain measured nothing
