"""Domains: declared public ones are used verbatim; estimated ones are sane and leak no rare value."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synthera.dp.domain import (
    ColumnDomain,
    Domain,
    declared_columns,
    domain_from_metadata,
    estimate_domain,
    resolve_domain,
)
from synthera.errors import MetadataError, UserInputError
from synthera.metadata import Metadata, infer_metadata


@pytest.fixture(scope="module")
def realish() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 20_000
    return pd.DataFrame(
        {
            "age": rng.integers(18, 91, n),
            "income": np.round(rng.lognormal(10.5, 0.6, n), 2),
            "gain": np.where(rng.random(n) < 0.9, 0, rng.integers(1_000, 20_000, n)),
            "joined": pd.to_datetime("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, n), unit="D"),
            "city": rng.choice(["Lagos", "Lima", "Oslo", "Pune"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "member": rng.choice([True, False], n),
            "note": pd.array([None if i % 4 == 0 else "x" for i in range(n)], dtype=object),
        }
    )


def test_estimated_bounds_and_categories_are_sane(realish):
    md = infer_metadata(realish)
    dom = estimate_domain(realish, md, epsilon=1.0, delta=1e-6, rng=np.random.default_rng(0))
    assert dom.epsilon == 1.0 and 0.99e-6 <= dom.delta <= 1e-6  # the accountant's delta at epsilon
    for name in ("age", "income", "gain"):
        col, values = dom[name], realish[name].to_numpy(float)
        assert col.kind == "numerical" and col.source == "dp"
        inside = np.mean((values >= col.lower) & (values <= col.upper))
        assert inside >= 0.95, (name, col)
        # loose by at most the grid's coarseness, never absurdly wide
        assert col.lower >= min(0.0, values.min()) and col.upper <= 5 * values.max(), (name, col)
    assert dom["gain"].upper >= 5_000  # the non-zero tail is kept, not clipped to the zeros
    joined = dom["joined"]
    seconds = (realish["joined"] - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy()
    assert joined.kind == "numerical" and joined.lower <= np.quantile(seconds, 0.05)
    assert joined.upper >= np.quantile(seconds, 0.95)
    assert dom["city"].categories == ("Lagos", "Lima", "Oslo", "Pune")
    assert dom["member"].categories == (False, True)
    assert dom["note"].nullable and not dom["age"].nullable


def test_same_seed_same_domain_and_json_round_trip(realish):
    md = infer_metadata(realish)
    a = estimate_domain(realish, md, epsilon=0.5, delta=1e-6, rng=np.random.default_rng(3))
    b = estimate_domain(realish, md, epsilon=0.5, delta=1e-6, rng=np.random.default_rng(3))
    assert a == b
    again = Domain.from_dict(json.loads(json.dumps(a.to_dict())))
    assert again == a


def test_a_category_held_by_one_row_is_never_revealed():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"city": np.r_[rng.choice(["Lagos", "Lima"], 4999), ["Reykjavik"]]})
    md = infer_metadata(df)
    for seed in range(200):
        dom = estimate_domain(df, md, epsilon=0.5, delta=1e-6, rng=np.random.default_rng(seed))
        assert "Reykjavik" not in dom["city"].categories
        assert dom["city"].categories == ("Lagos", "Lima")


def test_a_lone_outlier_does_not_stretch_the_bounds():
    df = pd.DataFrame({"x": np.r_[np.random.default_rng(0).uniform(10, 50, 9999), [7.5e9]]})
    dom = estimate_domain(df, infer_metadata(df), epsilon=0.5, delta=1e-6, rng=np.random.default_rng(0))
    assert dom["x"].upper <= 100


def test_public_metadata_is_used_verbatim_and_costs_nothing(frame, public):
    dom = domain_from_metadata(public)
    assert dom.epsilon == 0 and dom.delta == 0
    assert dom["age"] == ColumnDomain("age", "numerical", 0.0, 120.0, None, False, "public")
    assert dom["segment"].categories == ("bronze", "gold", "silver") and dom["segment"].source == "public"
    mixed = estimate_domain(frame, infer_metadata(frame, hints=public), epsilon=1.0, delta=1e-6,
                            rng=np.random.default_rng(0), public=dom)
    assert mixed == Domain(dom.columns, 0.0, 0.0)


def test_estimate_ignores_bounds_inferred_from_the_data(realish):
    md = infer_metadata(realish)  # holds the exact min/max and categories of the rows
    dom = estimate_domain(realish, md, epsilon=1.0, delta=1e-6, rng=np.random.default_rng(0))
    assert dom["income"].upper != md["income"].max and dom["income"].source == "dp"


def test_resolve_declares_what_the_metadata_declares_and_estimates_the_rest(frame):
    declared = Metadata.from_dict(
        {"format_version": 1, "columns": {"age": {"kind": "numerical", "min": 0, "max": 120}}})
    kinds = infer_metadata(frame, hints=declared)
    dom = resolve_domain(frame, kinds, declared=declared, epsilon=2.0, delta=1e-5, rng=np.random.default_rng(0),
                         share=0.5)
    assert dom["age"].source == "public" and (dom["age"].lower, dom["age"].upper) == (0.0, 120.0)
    assert dom["hours"].source == "dp" and dom["segment"].source == "dp"
    assert dom.epsilon == pytest.approx(1.0) and dom.delta == pytest.approx(5e-6, rel=1e-2) and dom.delta <= 5e-6
    assert declared_columns(kinds) == ["age", "hours", "segment", "label"]  # inferred metadata declares all


def test_undeclared_columns_and_bad_budgets_are_user_errors(frame):
    md = Metadata.from_dict({"format_version": 1, "columns": {"age": {"kind": "numerical"}}})
    with pytest.raises(UserInputError, match="column 'age' has no min and max"):
        domain_from_metadata(md)
    kinds = infer_metadata(frame)
    with pytest.raises(UserInputError, match="epsilon must be > 0"):
        estimate_domain(frame, kinds, epsilon=0, delta=1e-6, rng=np.random.default_rng(0))
    with pytest.raises(UserInputError, match="delta"):
        estimate_domain(frame, kinds, epsilon=1, delta=1.5, rng=np.random.default_rng(0))
    with pytest.raises(MetadataError):
        Domain.from_dict({"format_version": 1, "epsilon": 0, "delta": 0,
                          "columns": {"a": {"kind": "numerical", "lower": 3, "upper": 1, "categories": None,
                                            "nullable": False, "source": "dp"}}})


def test_id_and_text_columns_are_not_modelled(mixed_frame):
    md = infer_metadata(mixed_frame)
    dom = estimate_domain(mixed_frame, md, epsilon=1.0, delta=1e-6, rng=np.random.default_rng(0))
    assert "customer_id" not in dom and "email" not in dom and "comment" not in dom
    with pytest.raises(UserInputError, match="kind id"):
        estimate_domain(mixed_frame, md, epsilon=1.0, delta=1e-6, rng=np.random.default_rng(0),
                        columns=["customer_id"])


def test_the_estimate_is_one_calibrated_gaussian_pass(realish):
    from statistics import NormalDist

    from synthera.dp.domain import CATEGORY_NOISE_RATIO, release_threshold
    from synthera.dp.mechanisms import epsilon_spent

    md = infer_metadata(realish)
    dom = estimate_domain(realish, md, epsilon=1.0, delta=1e-6, rng=np.random.default_rng(0))
    cats, other = dom.groups
    assert (cats.count, other.count) == (2, 5)  # city, note | age, income, gain, joined, member
    assert other.sigma == pytest.approx(CATEGORY_NOISE_RATIO * cats.sigma)
    # the Gaussians spend at most (eps, delta - e^eps p); the thresholds pay the rest of delta
    p = dom.release_probability
    assert 0 < p and np.exp(1.0) * p == pytest.approx(0.5e-6)
    assert 0.99 <= epsilon_spent(list(dom.groups), delta=1e-6 - np.exp(1.0) * p) <= 1.0
    # a category one row holds clears its threshold with probability p / (categorical columns)
    tau = release_threshold(cats.sigma, tail=p / 2)
    assert 1 - NormalDist(1.0, cats.sigma).cdf(tau) == pytest.approx(p / 2, rel=1e-6)
    assert dom.noisy_counts["city"].keys() == {"Lagos", "Lima", "Oslo", "Pune"}  # reused by models, never saved
    assert "noisy_counts" not in json.dumps(dom.to_dict())


def test_a_domain_saved_before_the_gaussian_pass_still_reads():
    old = {"format_version": 1, "epsilon": 0.1, "delta": 1e-7,
           "columns": {"a": {"kind": "categorical", "lower": None, "upper": None, "categories": ["x"],
                             "nullable": False, "source": "dp"}}}
    dom = Domain.from_dict(old)
    assert dom.groups == () and dom.release_probability == 0.0
    with pytest.raises(MetadataError, match="release_probability"):
        Domain.from_dict({**old, "groups": [{"name": "g"}], "release_probability": 0.1})
