"""Resolving --model and building models from scratch."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthera.errors import UserInputError
from synthera.hf.models import from_scratch, load_model, minilm_path, resolve_model
from tests.helpers import TINY_SCRATCH


def test_bert_alias_is_the_offline_minilm():
    spec = resolve_model("bert")
    assert spec.source == minilm_path()
    assert (Path(spec.source) / "config.json").is_file()
    assert spec.pretrained and spec.architecture == "bert" and spec.local
    assert "MiniLM" in spec.label and "pretrained" in spec.label


def test_local_folder(tiny_bert):
    spec = resolve_model(tiny_bert)
    assert spec.source == tiny_bert and spec.architecture == "bert" and spec.pretrained


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="model folder not found"):
        resolve_model(str(tmp_path / "nope"))


def test_hub_id_offline_says_download_is_impossible(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserInputError) as info:
        resolve_model("synthera-test/no-such-model")
    message = str(info.value)
    assert "impossible offline" in message and "local model folder" in message
    assert "\n" not in message


def test_from_scratch_is_labelled_not_pretrained(tiny_tokenizer):
    for arch in ("roberta", "distilbert"):
        spec = from_scratch(arch, tokenizer=tiny_tokenizer)
        assert not spec.pretrained and spec.source is None
        assert "not pretrained" in spec.label
        assert "not pretrained" in spec.to_dict()["note"]


def test_unknown_architecture_is_refused():
    with pytest.raises(UserInputError, match="unknown scratch architecture 'gpt9'"):
        from_scratch("gpt9")


@pytest.mark.parametrize("arch", ["roberta", "distilbert"])
def test_from_scratch_models_run_and_are_seeded(arch, tiny_tokenizer):
    import torch

    spec = from_scratch(arch, tokenizer=tiny_tokenizer, size=TINY_SCRATCH)
    model, tok = load_model(spec, num_labels=3, seed=1, max_length=32)
    assert model.config.model_type == arch and model.config.num_labels == 3
    enc = tok(["color is red", "age is 3"], padding=True, return_tensors="pt")
    inputs = {k: v for k, v in enc.items() if k != "token_type_ids"}
    assert model(**inputs).logits.shape == (2, 3)
    again, _ = load_model(spec, num_labels=3, seed=1, max_length=32)
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)


def test_bad_scratch_size_is_refused(tiny_tokenizer):
    with pytest.raises(UserInputError, match="divisible"):
        from_scratch("roberta", tokenizer=tiny_tokenizer, size={"hidden": 30, "heads": 4})


def test_hub_id_without_network_fails_fast_with_one_line(monkeypatch):
    from synthera.hf import models

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(models, "_reachable", lambda host, timeout=3.0: False)
    with pytest.raises(UserInputError, match="impossible offline .huggingface.co cannot be reached"):
        resolve_model("roberta-base")
