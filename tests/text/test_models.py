"""Local model resolution: folders as they are, the bundled SmolLM2 converted once, no downloads."""

from __future__ import annotations

import os

import pytest

from synthera.errors import UserInputError
from synthera.text.models import cache_dir, local_model_dir


def test_a_model_folder_is_returned_as_is(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert local_model_dir(tmp_path) == tmp_path
    assert local_model_dir(str(tmp_path)) == tmp_path


def test_hub_names_and_bad_paths_are_refused(tmp_path):
    with pytest.raises(UserInputError, match="cannot be downloaded"):
        local_model_dir("Qwen/Qwen2.5-0.5B-Instruct")
    with pytest.raises(UserInputError, match="no config.json"):
        local_model_dir(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_text("x")
    with pytest.raises(UserInputError, match="is a file"):
        local_model_dir(weights)


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHERA_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path


def test_an_existing_conversion_is_reused_without_loading(tmp_path, monkeypatch):
    from synthera.text import models

    monkeypatch.setenv("SYNTHERA_CACHE", str(tmp_path))
    folder = tmp_path / "models" / "smollm2-135m-instruct"
    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (folder / name).write_text("{}")
    monkeypatch.setattr(models, "_convert_smollm2", lambda target: pytest.fail("must not convert again"))
    assert local_model_dir() == folder
    assert local_model_dir("smollm2") == folder


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SYNTHERA_SLOW_TESTS") != "1", reason="loads SmolLM2 (set SYNTHERA_SLOW_TESTS=1)")
def test_smollm2_generates_text():
    from synthera.text.llm import HFLocalLLM

    out = HFLocalLLM(None, batch_size=2).generate(["What is the capital of France?", "Say hello."],
                                                  max_new_tokens=12)
    assert len(out) == 2 and all(t.strip() for t in out)
