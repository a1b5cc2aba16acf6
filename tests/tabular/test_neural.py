"""CTGAN, TVAE and their shared data transformer, on tiny frames (quality is measured in benchmarks)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from synthera.errors import UserInputError
from synthera.metadata import infer_metadata
from synthera.tabular import Synthesizer, get_synthesizer, register_synthesizer
from synthera.tabular._neural import (
    ModeTransformer,
    SpanOps,
    arrays_to_module,
    import_torch,
    module_to_arrays,
    torch_threads,
)
from synthera.tabular.ctgan import CTGANSynthesizer
from synthera.tabular.transforms import TableEncoder
from synthera.tabular.tvae import TVAESynthesizer

SMALL = {
    CTGANSynthesizer: {"epochs": 2, "batch_size": 40, "embedding_dim": 8, "generator_dim": (16, 16),
                       "discriminator_dim": (16,), "pac": 4},
    TVAESynthesizer: {"epochs": 2, "batch_size": 40, "embedding_dim": 4, "compress_dims": (16,),
                      "decompress_dims": (16,)},
}
MODELS = list(SMALL)


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    return pd.DataFrame(
        {
            "group": group,
            "rare": np.where(np.arange(n) % 50 == 7, "unicorn", "horse"),
            # two bells far apart: needs two modes
            "bimodal": np.round(np.where(rng.random(n) < 0.5, rng.normal(-50, 2, n), rng.normal(80, 5, n)), 3),
            # 70% exact zeros: a point mass, decoded exactly
            "gain": np.where(rng.random(n) < 0.7, 0.0, np.round(rng.gamma(2.0, 500.0, n), 1)),
            "score": pd.array(np.where(rng.random(n) < 0.25, None, rng.normal(10, 3, n).round(2)), dtype="Float64"),
            "city": np.where(rng.random(n) < 0.15, None, rng.choice(["Lima", "Oslo", "Pune"], n)),
        }
    )


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return _frame()


@pytest.fixture(scope="module")
def encoded(real):
    encoder = TableEncoder().fit(real, infer_metadata(real))
    return encoder, encoder.encode(real)


@pytest.fixture(scope="module")
def fitted(real):
    return {cls: cls(**SMALL[cls], seed=1).fit(real) for cls in MODELS}


@pytest.fixture(scope="module")
def registered():
    """The registry may not list the neural models yet; register them for this module only if missing."""
    for cls, name in ((CTGANSynthesizer, "ctgan"), (TVAESynthesizer, "tvae")):
        try:
            get_synthesizer(name)
        except UserInputError:
            register_synthesizer(cls, name)


# --------------------------------------------------------------------------- transformer


def _decode_matrix(tf: ModeTransformer, matrix: np.ndarray) -> dict[str, np.ndarray]:
    spans = zip(tf.span_start, tf.span_width, strict=True)
    choices = np.column_stack([matrix[:, s:s + w].argmax(axis=1) for s, w in spans])
    return tf.inverse(matrix[:, tf.alpha_cols], choices)


def test_transformer_round_trip(encoded):
    encoder, data = encoded
    tf = ModeTransformer().fit(data, encoder, np.random.default_rng(0))
    matrix = tf.transform(data, np.random.default_rng(1))
    assert matrix.dtype == np.float32 and matrix.shape == (len(data["group"]), tf.dim)
    assert np.all(np.abs(matrix[:, tf.alpha_cols]) <= 1)
    for s, w in zip(tf.span_start, tf.span_width, strict=True):  # every span is one-hot
        assert np.array_equal(matrix[:, s:s + w].sum(axis=1), np.ones(len(matrix)))
    back = _decode_matrix(tf, matrix)
    for name in ("group", "rare", "city"):
        assert np.array_equal(back[name], data[name]), name
    for name in ("bimodal", "gain", "score"):
        nulls = np.isnan(data[name])
        assert np.array_equal(np.isnan(back[name]), nulls), name
        assert np.allclose(back[name][~nulls], data[name][~nulls], rtol=1e-4, atol=1e-3), name
    assert tf.modes_["bimodal"][0].size >= 2  # both bells found
    assert 0.0 in tf.modes_["gain"][0] and tf.modes_["gain"][1][tf.modes_["gain"][0] == 0.0] == 0  # point mass


def test_point_masses_decode_exactly_whatever_the_alpha(encoded):
    encoder, data = encoded
    tf = ModeTransformer().fit(data, encoder, np.random.default_rng(0))
    j = tf.names.index("gain")
    zero_mode = int(np.flatnonzero(tf.modes_["gain"][0] == 0.0)[0])
    choices = np.zeros((5, len(tf.names)), dtype=np.int64)
    choices[:, j] = zero_mode
    alphas = np.linspace(-1, 1, 5)[:, None].repeat(len(tf.alpha_cols), axis=1)
    assert np.all(tf.inverse(alphas, choices)["gain"] == 0.0)


def test_transformer_state_round_trip(encoded):
    encoder, data = encoded
    tf = ModeTransformer().fit(data, encoder, np.random.default_rng(0))
    info, arrays = tf.state()
    assert all(a.dtype.kind == "f" for a in arrays.values())
    again = ModeTransformer.from_state(info, arrays, encoder)
    matrix = tf.transform(data, np.random.default_rng(2))
    a, b = _decode_matrix(tf, matrix), _decode_matrix(again, matrix)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    np.testing.assert_array_equal(again.transform(data, np.random.default_rng(2)), matrix)
    bad = {k: v[:, :1] for k, v in arrays.items()}
    with pytest.raises(ValueError, match="wrong shape"):
        ModeTransformer.from_state(info, bad, encoder)


def test_span_ops_match_a_per_column_loop(encoded):
    torch = import_torch()
    encoder, data = encoded
    tf = ModeTransformer().fit(data, encoder, np.random.default_rng(0))
    ops = SpanOps(tf)
    gen = torch.Generator().manual_seed(0)
    raw = torch.randn(7, tf.dim, generator=gen)
    target = torch.from_numpy(tf.transform({k: v[:7] for k, v in data.items()}, np.random.default_rng(0)))
    out = ops.activate(raw, gen, tau=0.2)
    lse = ops.span_logsumexp(raw)
    ce = 0.0
    for j, (s, w) in enumerate(zip(tf.span_start, tf.span_width, strict=True)):
        span = out[:, s:s + w]
        assert torch.allclose(span.sum(dim=1), torch.ones(7), atol=1e-5)
        assert torch.allclose(lse[:, j], torch.logsumexp(raw[:, s:s + w], dim=1), atol=1e-5)
        ce -= (torch.log_softmax(raw[:, s:s + w], dim=1) * target[:, s:s + w]).sum()
    assert torch.allclose(out[:, tf.alpha_cols], torch.tanh(raw[:, tf.alpha_cols]))
    assert torch.allclose(ops.cross_entropy(raw, target), ce, atol=1e-4)
    choices = ops.choose(raw, gen)
    assert choices.shape == (7, len(tf.names)) and np.all(choices < tf.span_width)


def test_module_arrays_round_trip_and_shape_checks():
    torch = import_torch()
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    arrays = module_to_arrays(net, "net")
    assert all(key.startswith("net.") and isinstance(a, np.ndarray) for key, a in arrays.items())
    other = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    arrays_to_module(other, arrays, "net")
    x = torch.randn(5, 3)
    net.eval(), other.eval()
    assert torch.equal(net(x), other(x))
    with pytest.raises(ValueError, match="shape"):
        arrays_to_module(other, {**arrays, "net.0.weight": np.zeros((4, 5), np.float32)}, "net")
    with pytest.raises(ValueError, match="missing"):
        arrays_to_module(other, {k: v for k, v in arrays.items() if k != "net.2.bias"}, "net")


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_fit_and_sample_shapes(cls, fitted, real):
    syn = fitted[cls].sample(300, seed=0)
    assert list(syn.columns) == list(real.columns) and len(syn) == 300
    assert syn.dtypes.astype(str).to_dict() == real.dtypes.astype(str).to_dict()
    assert set(syn["group"]) <= set(real["group"])
    assert syn["score"].isna().any() and syn["city"].isna().any()  # nulls are generated
    assert (syn["gain"] == 0).mean() > 0.3  # the point mass comes out as exact zeros
    assert fitted[cls].sample(0).shape == (0, real.shape[1])


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_same_seed_same_model_and_rows(cls, fitted, real):
    again = cls(**SMALL[cls], seed=1).fit(real)
    pd.testing.assert_frame_equal(fitted[cls].sample(200, seed=3), again.sample(200, seed=3))
    assert not fitted[cls].sample(200, seed=3).equals(fitted[cls].sample(200, seed=4))
    other = cls(**SMALL[cls], seed=2).fit(real)
    assert not fitted[cls].sample(200, seed=3).equals(other.sample(200, seed=3))


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_save_load_gives_identical_samples(cls, fitted, registered, tmp_path):
    model = fitted[cls]
    model.save(tmp_path)
    again = Synthesizer.load(tmp_path)
    assert type(again) is cls and again.get_params() == model.get_params()
    pd.testing.assert_frame_equal(model.sample(300, seed=5), again.sample(300, seed=5))
    cond = {"group": "c"}
    pd.testing.assert_frame_equal(model.sample(40, seed=6, conditions=cond), again.sample(40, seed=6, conditions=cond))


def test_tuple_dims_survive_save_and_load(real, registered, tmp_path):
    params = {**SMALL[TVAESynthesizer], "compress_dims": (16, 8), "decompress_dims": (8,)}
    model = TVAESynthesizer(**params).fit(real)
    model.save(tmp_path)
    again = Synthesizer.load(tmp_path)
    assert again.compress_dims == (16, 8) and again.get_params() == model.get_params()
    pd.testing.assert_frame_equal(model.sample(50, seed=0), again.sample(50, seed=0))


def test_ctgan_conditions_on_a_rare_category(fitted):
    model = fitted[CTGANSynthesizer]
    syn = model.sample(200, seed=0, conditions={"rare": "unicorn"})
    assert len(syn) == 200 and (syn["rare"] == "unicorn").all()
    syn = model.sample(60, seed=0, conditions={"rare": "unicorn", "city": "Oslo", "bimodal": 80})
    assert (syn["rare"] == "unicorn").all() and (syn["city"] == "Oslo").all() and (syn["bimodal"] == 80).all()


def test_ctgan_penalty_through_the_first_layer_equals_the_direct_gradient():
    """The fit takes the critic's gradient at interpolates from its first layer's output.

    It must be the input gradient.
    """
    torch = import_torch()
    model = CTGANSynthesizer(pac=2, discriminator_dim=(6, 5))
    model.cond_dim_, model.transformer_ = 0, SimpleNamespace(dim=3)  # a small critic without condition table
    critic = model._build_critic()
    first = critic["linears"][0]
    real, fake, eps = torch.randn(4, 6), torch.randn(4, 6), torch.rand(4, 1)

    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = model._criticize(critic, mixed, 0.0, torch.Generator().manual_seed(1))
    direct = torch.autograd.grad(scores.sum(), mixed)[0]
    h_mixed = eps * (real @ first.weight.T) + (1 - eps) * (fake @ first.weight.T) + first.bias
    scores = model._critic_rest(critic, h_mixed, torch.Generator().manual_seed(1))
    grad_h = torch.autograd.grad(scores.sum(), h_mixed)[0]
    assert direct.abs().sum() > 0
    assert torch.allclose(grad_h @ first.weight, direct, atol=1e-5)


def test_tvae_conditions(fitted):
    syn = fitted[TVAESynthesizer].sample(30, seed=0, conditions={"group": "c", "city": "Lima"})
    assert (syn["group"] == "c").all() and (syn["city"] == "Lima").all()


@pytest.mark.parametrize(
    ("cls", "params", "message"),
    [
        (CTGANSynthesizer, {"batch_size": 50, "pac": 4}, "multiple of pac"),
        (CTGANSynthesizer, {"generator_dim": [16, 0]}, "generator_dim must be a list"),
        (CTGANSynthesizer, {"epochs": 0}, "epochs must be"),
        (CTGANSynthesizer, {"discriminator_lr": -1.0}, "discriminator_lr must be"),
        (TVAESynthesizer, {"compress_dims": "128"}, "compress_dims must be a list"),
        (TVAESynthesizer, {"loss_factor": 0}, "loss_factor must be"),
    ],
)
def test_bad_parameters_are_clear_errors(cls, params, message, real):
    with pytest.raises(UserInputError, match=message):
        cls(**{**SMALL[cls], **params}).fit(real)


def test_torch_thread_count_follows_the_machine_and_is_restored(monkeypatch):
    torch = import_torch()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    before = torch.get_num_threads()
    with torch_threads():
        assert torch.get_num_threads() == 4  # capped: these networks gain nothing from more
    assert torch.get_num_threads() == before
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    with torch_threads():
        assert torch.get_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    with torch_threads():
        assert torch.get_num_threads() == 3  # the user's setting wins
    assert torch.get_num_threads() == before


def test_constructor_only_stores():
    model = CTGANSynthesizer(epochs=-5, generator_dim="nonsense")
    assert model.get_params()["epochs"] == -5 and not hasattr(model, "generator_")
