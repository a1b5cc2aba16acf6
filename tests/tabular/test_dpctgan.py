"""DP-CTGAN (tabular/dpctgan.py): its ε recomputed independently, the budget never exceeded, clipping holds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from synthera.errors import UserInputError
from synthera.tabular import load_synthesizer
from synthera.tabular.dpctgan import DPCTGANSynthesizer
from tests.helpers import dp_public_metadata as public_metadata
from tests.helpers import make_dp_frame as make_frame

SMALL = {"epochs": 2, "batch_size": 100, "embedding_dim": 16, "generator_dim": (32,), "discriminator_dim": (32,)}


def _model(**params):
    return DPCTGANSynthesizer(**{**SMALL, "seed": 0, **params})


def _independent_epsilon(manifest: dict) -> float:
    """ε of a saved model recomputed with dp-accounting's RDP accountant from what the manifest records."""
    import dp_accounting
    from dp_accounting.rdp import RdpAccountant

    privacy = manifest["privacy"]
    model = privacy["model"]
    hist, sgd = model["histograms"], model["dp_sgd"]
    event = dp_accounting.ComposedDpEvent([
        dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(hist["sigma"]), hist["count"]),
        dp_accounting.SelfComposedDpEvent(
            dp_accounting.PoissonSampledDpEvent(sgd["sample_rate"],
                                                dp_accounting.GaussianDpEvent(sgd["noise_multiplier"])),
            sgd["steps"]),
    ])
    eps = RdpAccountant(privacy["accountant"]["orders"]).compose(event).get_epsilon(model["delta"])
    assert privacy["accountant"]["name"] == "dp_accounting.rdp.RdpAccountant"
    assert math.isclose(model["delta"] + privacy["domain"]["delta"], manifest["delta"], rel_tol=1e-12)
    return eps + privacy["domain"]["epsilon"]


@pytest.mark.parametrize("declared", [True, False], ids=["public-domain", "dp-domain"])
def test_manifest_epsilon_equals_an_independent_computation(tmp_path, declared):
    frame = make_frame(3000 if not declared else 400)
    model = _model(epsilon=3.0, delta=1e-5).fit(frame, metadata=public_metadata() if declared else None)
    model.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["delta"] == 1e-5
    assert manifest["epsilon_spent"] <= 3.0
    assert manifest["epsilon_spent"] == pytest.approx(_independent_epsilon(manifest), abs=1e-9)
    sgd = manifest["privacy"]["model"]["dp_sgd"]
    assert sgd["steps"] == round(SMALL["epochs"] * len(frame) / SMALL["batch_size"])
    assert sgd["sample_rate"] == pytest.approx(SMALL["batch_size"] / len(frame))
    assert (manifest["privacy"]["domain"]["epsilon"] > 0) is (not declared)


@pytest.mark.parametrize("epsilon, epochs", [(0.5, 1), (1.0, 3), (1.0, 20), (4.0, 5)])
def test_a_run_never_reports_more_than_it_was_asked(epsilon, epochs):
    frame = make_frame(400)
    model = _model(epsilon=epsilon, epochs=epochs).fit(frame, metadata=public_metadata())
    assert model.privacy_["epsilon_spent"] <= epsilon
    assert model.privacy_["epsilon_spent"] > 0.9 * epsilon  # the budget is used, not wasted


def test_more_steps_need_more_noise():
    sigmas = []
    for epochs in (1, 10):
        model = _model(epsilon=1.0, epochs=epochs).fit(make_frame(400), metadata=public_metadata())
        sigmas.append(model.privacy_["model"]["dp_sgd"]["noise_multiplier"])
    assert sigmas[1] > sigmas[0]


def test_a_budget_too_small_for_one_step_is_a_clear_error():
    with pytest.raises(UserInputError, match="too small"):
        _model(epsilon=1e-6).fit(make_frame(400), metadata=public_metadata())


@pytest.mark.parametrize("params, match", [
    ({"epsilon": None}, "needs a privacy budget"),
    ({"epsilon": 0.0}, "epsilon"),
    ({"epsilon": 1.0, "delta": 1.0}, "delta"),
    ({"epsilon": 1.0, "marginal_share": 1.0}, "marginal_share"),
])
def test_bad_parameters_are_clear_errors(params, match):
    with pytest.raises(UserInputError, match=match):
        _model(**params).fit(make_frame(200), metadata=public_metadata())


def test_each_real_rows_gradient_is_clipped_exactly():
    """The ghost-norm clipped sum equals clipping per-row gradients computed one row at a time."""
    import torch

    model = _model(epsilon=1.0, epochs=1).fit(make_frame(300), metadata=public_metadata())
    gen = torch.Generator().manual_seed(0)
    critic = model._critic_params(gen)
    real = torch.rand(7, model.transformer_.dim, generator=gen)
    onehot = torch.nn.functional.one_hot(torch.randint(model.cond_dim_, (7,), generator=gen), model.cond_dim_).float()
    masks = model._masks(7, gen, torch)
    clip = 0.05
    fast = model._row_gradients(critic, real, onehot, masks, clip)
    slow = {k: torch.zeros_like(v) for k, v in critic.items()}
    norms = []
    for i in range(7):
        score = model._score(critic, real[i:i + 1], onehot[i:i + 1], [m[i:i + 1] for m in masks]).sum()
        g = torch.autograd.grad(-score, list(critic.values()))
        norm = torch.sqrt(sum((x**2).sum() for x in g))
        norms.append(float(norm))
        for (k, _), x in zip(critic.items(), g, strict=True):
            slow[k] += x * min(1.0, clip / float(norm))
    assert max(norms) > clip  # the test exercises clipping
    for k in critic:
        assert torch.allclose(fast[k], slow[k], atol=1e-6), k


def test_samples_keep_the_declared_domain_and_reload_identically(tmp_path):
    frame = make_frame(400)
    model = _model(epsilon=2.0).fit(frame, metadata=public_metadata())
    syn = model.sample(300, seed=1)
    assert list(syn.columns) == list(frame.columns)
    assert set(syn["segment"]) <= {"bronze", "gold", "silver"}
    assert syn["age"].between(0, 120).all()
    model.save(tmp_path)
    again = load_synthesizer(tmp_path)
    assert again.sample(300, seed=1).equals(syn)
    assert np.array_equal(again.sample(50, seed=1, conditions={"label": "yes"})["label"].unique(), ["yes"])
