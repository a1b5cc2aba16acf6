"""synthera._extras.require: a missing optional module becomes one line naming the extra to install."""

from __future__ import annotations

import json

import pytest

from synthera._extras import require
from synthera.errors import UserInputError


def test_an_installed_module_is_returned():
    assert require("json", "text") is json
    assert require("json.decoder", "dp").JSONDecodeError is json.JSONDecodeError


def test_a_missing_module_names_the_extra_in_one_line():
    with pytest.raises(UserInputError) as err:
        require("synthera_no_such_module_xyz", "text")
    message = str(err.value)
    assert message == ("synthera_no_such_module_xyz is not installed; this needs the 'text' extra: "
                       "pip install 'synthera[text]'")
    assert "\n" not in message
    with pytest.raises(UserInputError, match=r"pip install 'synthera\[dp\]'"):
        require("synthera_no_such_module_xyz.sub", "dp")


def test_an_unknown_extra_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown extra 'gpu'") as err:
        require("json", "gpu")
    assert not isinstance(err.value, UserInputError)


def test_the_dp_accountant_names_the_dp_extra_when_opacus_is_missing(monkeypatch):
    import sys

    from synthera.dp import accounting

    monkeypatch.setitem(sys.modules, "opacus.accountants.analysis.rdp", None)  # import now fails as if not installed
    monkeypatch.setattr(accounting, "_rdp_one_step", accounting._rdp_one_step.__wrapped__)  # past the cache
    with pytest.raises(UserInputError, match=r"this needs the 'dp' extra: pip install 'synthera\[dp\]'"):
        accounting.epsilon_spent(noise_multiplier=1.0, sample_rate=0.01, steps=10, delta=1e-5)


def test_the_adapter_checkpoint_names_the_text_extra_when_safetensors_is_missing(monkeypatch, tmp_path):
    import sys

    from synthera.text.finetune import LoraFinetuner

    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(UserInputError, match=r"this needs the 'text' extra"):
        LoraFinetuner()._load_checkpoint(tmp_path, {"step": 0, "losses": []}, None, None, [])
