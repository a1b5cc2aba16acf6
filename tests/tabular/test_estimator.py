"""The shared estimator layer: parameters from the signature, declarative checks, the DP-seed rule."""

from __future__ import annotations

import numpy as np
import pytest

from synthera._estimator import Estimator, Interval, OneOf, Whole
from synthera.dp.classifier import DPClassifier
from synthera.errors import UserInputError
from synthera.tabular import available_synthesizers, get_synthesizer
from synthera.text.finetune import LoraFinetuner

DP_CLASSES = [get_synthesizer(n) for n in available_synthesizers() if get_synthesizer(n).differentially_private]
ESTIMATORS = [get_synthesizer(n) for n in available_synthesizers()] + [DPClassifier, LoraFinetuner]


class _Toy(Estimator):
    _parameter_constraints = {"epochs": Whole(1), "rate": Interval(0, 1), "mode": OneOf(("a", "b"))}

    def __init__(self, *, epochs: int = 3, rate: float = 0.5, mode: str = "a", seed: int = 0):
        self.epochs, self.rate, self.mode, self.seed = epochs, rate, mode, seed


def test_parameters_come_from_the_signature_and_the_constructor_only_stores():
    toy = _Toy(epochs=0)
    assert _Toy.param_names() == _Toy._param_names() == ["epochs", "rate", "mode", "seed"]
    assert toy.get_params() == {"epochs": 0, "rate": 0.5, "mode": "a", "seed": 0}
    assert repr(toy) == "_Toy(epochs=0, rate=0.5, mode='a', seed=0)"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"epochs": 0}, "epochs must be a whole number >= 1; got 0"),
        ({"epochs": True}, "epochs must be a whole number >= 1; got True"),
        ({"rate": 1.0}, "rate must be a number between 0 and 1; got 1.0"),
        ({"rate": float("nan")}, "rate must be a number between 0 and 1; got nan"),
        ({"mode": "c"}, "mode must be one of a, b; got 'c'"),
        ({"seed": -1}, "seed must be a whole number >= 0 or None; got -1"),
    ],
)
def test_the_constraints_table_gives_todays_messages(params, message):
    with pytest.raises(UserInputError) as info:
        _Toy(**params).check_params()
    assert str(info.value) == message


def test_a_table_naming_no_parameter_is_refused_when_the_class_is_defined():
    with pytest.raises(TypeError, match="names no parameter 'epoch'"):
        class _Typo(Estimator):  # noqa: F841 - the definition itself must fail
            _parameter_constraints = {"epoch": Whole(1)}

            def __init__(self, *, epochs: int = 1):
                self.epochs = epochs


def test_a_differentially_private_class_must_default_to_os_entropy():
    with pytest.raises(TypeError, match="seed must default to None"):
        class _Leaky(Estimator):  # noqa: F841
            differentially_private = True

            def __init__(self, *, seed: int = 0):
                self.seed = seed


@pytest.mark.parametrize("cls", DP_CLASSES + [DPClassifier], ids=lambda c: c.__name__)
def test_every_dp_class_draws_fresh_noise_without_a_seed_and_repeats_with_one(cls):
    assert cls().seed is None
    fresh = [cls().noise_seed().generate_state(4) for _ in range(2)]
    assert not np.array_equal(*fresh)
    fixed = [cls(seed=7).noise_seed().generate_state(4) for _ in range(2)]
    assert np.array_equal(*fixed)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_estimator_shares_the_layer(cls):
    model = cls()
    assert isinstance(model, Estimator)
    assert list(model.get_params()) == cls.param_names()
    assert repr(model).startswith(f"{cls.__name__}(")

