"""LoRA/QLoRA fine-tuning on a tiny random Llama: masking, templates, loss falls, adapter files, resume, seeds."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import synthera.cli.text_train  # noqa: F401 - registers `text finetune` and `text evaluate`
from synthera.cli import app
from synthera.errors import UserInputError
from synthera.text.finetune import LoraFinetuner, read_conversations
from synthera.text.prompts import encode_conversation, get_template, split_conversation
from tests.flock.tiny_lm import build_tiny_model, sql_conversations
from tests.helpers import one_line_error as _one_line_error

runner = CliRunner()
MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
FAST = {"batch_size": 4, "learning_rate": 2e-2, "lora_dropout": 0.0, "target_modules": MODULES}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoTokenizer

    folder = build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    return folder, AutoTokenizer.from_pretrained(str(folder))


def _target_text(enc, tok) -> str:
    return tok.decode([t for t, m in zip(enc.input_ids, enc.target_mask, strict=True) if m])


def test_only_assistant_tokens_are_targets(tiny):
    _, tok = tiny
    record = {"system": "You are a helpful assistant.", "conversations": [
        {"role": "user", "content": "How many people?"},
        {"role": "assistant", "content": "SELECT COUNT(*) FROM people"},
        {"role": "user", "content": "And older than 30?"},
        {"role": "assistant", "content": "SELECT COUNT(*) FROM people WHERE age > 30"}]}
    enc = encode_conversation(record, tok)
    assert tok.decode(enc.input_ids) == tok.apply_chat_template(
        [{"role": "system", "content": record["system"]}, *record["conversations"]], tokenize=False)
    assert _target_text(enc, tok) == ("SELECT COUNT(*) FROM people<|im_end|>\n"
                                      "SELECT COUNT(*) FROM people WHERE age > 30<|im_end|>\n")
    assert enc.labels[:5] == [-100] * 5
    assert all((lab == -100) == (m == 0) for lab, m in zip(enc.labels, enc.target_mask, strict=True))


def test_validator_template_matches_flock_formatting(tiny):
    _, tok = tiny
    record = sql_conversations(1)[0]
    tpl = get_template("qwen1.5")
    system, [(user, answer)] = split_conversation(record)
    # The validator tokenizes system, user and assistant pieces separately and concatenates the ids.
    pieces = [(tpl.system_format.format(content=system), 0), (tpl.user_format.format(content=user), 0),
              (tpl.assistant_format.format(content=answer), 1)]
    want_ids = [i for text, _ in pieces for i in tok.encode(text, add_special_tokens=False)]
    want_mask = [m for text, m in pieces for _ in tok.encode(text, add_special_tokens=False)]
    enc = encode_conversation(record, tok, template="qwen1.5")
    assert (enc.input_ids, enc.target_mask) == (want_ids, want_mask)
    no_system = encode_conversation({"conversations": record["conversations"]}, tok, template="qwen1.5")
    assert tok.decode(no_system.input_ids).startswith("<|im_start|>system\nYou are a helpful assistant.")
    assert tok.decode(encode_conversation(record, tok, template="phi3").input_ids).startswith("<|user|>")


def test_truncation_keeps_the_first_tokens(tiny):
    _, tok = tiny
    record = sql_conversations(1)[0]
    full = encode_conversation(record, tok)
    cut = encode_conversation(record, tok, max_length=10)
    assert cut.input_ids == full.input_ids[:10] and cut.target_mask == full.target_mask[:10]


@pytest.mark.parametrize("bad, needle", [
    ({"conversations": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]}, "alternate"),
    ({"conversations": [{"role": "user", "content": "x"}]}, "at least one user turn"),
    ({"text": "hi"}, "no 'conversations' list"),
])
def test_malformed_conversations_are_named(bad, needle):
    with pytest.raises(UserInputError, match=needle):
        read_conversations([bad])


@pytest.mark.parametrize("quantize", ["none", "4bit"])
def test_loss_falls_and_only_the_adapter_is_saved(tiny, tmp_path, quantize):
    model, _ = tiny
    tuner = LoraFinetuner(epochs=6, quantize=quantize, **FAST).fit(sql_conversations(16), model=model,
                                                                     out=tmp_path / "a")
    assert tuner.steps_ == 24 and len(tuner.losses_) == 24
    first, last = sum(tuner.losses_[:4]) / 4, sum(tuner.losses_[-4:]) / 4
    assert last < first - 0.3, tuner.losses_
    files = {p.name for p in (tmp_path / "a").iterdir()}
    assert files == {"adapter_config.json", "adapter_model.safetensors", "training.json"}
    config = json.loads((tmp_path / "a" / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["lora_alpha"] == 16 and config["peft_type"] == "LORA"
    assert set(config["target_modules"]) == set(MODULES)
    weights = load_file(str(tmp_path / "a" / "adapter_model.safetensors"))
    assert weights and all("lora_" in k for k in weights)  # no base weights in the adapter
    umask = os.umask(0)
    os.umask(umask)
    for name in ("adapter_config.json", "adapter_model.safetensors"):  # readable like any other file
        assert (tmp_path / "a" / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_zero_gradients_are_caught(tiny, tmp_path, monkeypatch):
    """A 4-bit CPU model that ran a no_grad forward trains with zero gradients; fit must notice."""
    model, _ = tiny
    original = LoraFinetuner._wrap

    def silently_frozen(self, lm):
        lm = original(self, lm)
        for p in lm.parameters():
            if p.requires_grad:
                p.register_hook(lambda g: torch.zeros_like(g))
        return lm

    monkeypatch.setattr(LoraFinetuner, "_wrap", silently_frozen)
    with pytest.raises(RuntimeError, match="gradients are all zero"):
        LoraFinetuner(**FAST).fit(sql_conversations(8), model=model, out=tmp_path / "a")


def test_same_seed_same_adapter_and_resume_matches(tiny, tmp_path, monkeypatch):
    model, _ = tiny
    params = {**FAST, "epochs": 2, "save_every": 2, "lora_dropout": 0.1}
    data = sql_conversations(16)
    a = LoraFinetuner(**params).fit(data, model=model, out=tmp_path / "a")
    b = LoraFinetuner(**params).fit(data, model=model, out=tmp_path / "b")
    wa = load_file(str(tmp_path / "a" / "adapter_model.safetensors"))
    wb = load_file(str(tmp_path / "b" / "adapter_model.safetensors"))
    assert a.losses_ == b.losses_ and all(torch.equal(wa[k], wb[k]) for k in wa)

    original = LoraFinetuner._save_checkpoint
    calls = []

    def crash_after_second_checkpoint(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(LoraFinetuner, "_save_checkpoint", crash_after_second_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        LoraFinetuner(**params).fit(data, model=model, out=tmp_path / "c")
    assert (tmp_path / "c" / "checkpoint" / "trainer_state.json").is_file()
    assert not (tmp_path / "c" / "adapter_model.safetensors").exists()
    monkeypatch.setattr(LoraFinetuner, "_save_checkpoint", original)
    c = LoraFinetuner(**params).fit(data, model=model, out=tmp_path / "c")
    assert c.resumed_from_ == 4
    wc = load_file(str(tmp_path / "c" / "adapter_model.safetensors"))
    assert c.losses_ == pytest.approx(a.losses_, abs=1e-5)
    assert all(torch.allclose(wa[k], wc[k], atol=1e-6) for k in wa)
    assert not (tmp_path / "c" / "checkpoint").exists()


def test_conversations_cut_to_nothing_are_skipped(tiny, tmp_path):
    model, tok = tiny
    short = encode_conversation(sql_conversations(1)[0], tok)
    prompt_len = short.target_mask.index(1)
    same = [sql_conversations(1)[0]] * 4
    with pytest.raises(UserInputError, match="raise max_length"):
        LoraFinetuner(max_length=prompt_len, **FAST).fit(same, model=model, out=tmp_path / "a")
    tuner = LoraFinetuner(max_length=prompt_len + 3, **FAST).fit(same, model=model, out=tmp_path / "b")
    assert (tuner.truncated_, tuner.skipped_, tuner.examples_, tuner.target_tokens_) == (4, 0, 4, 12)
    longer = sql_conversations(2)  # the second question is longer: cut before its answer, it is skipped
    mixed = LoraFinetuner(max_length=prompt_len + 1, **FAST).fit(longer, model=model, out=tmp_path / "c")
    assert (mixed.skipped_, mixed.examples_) == (1, 1)


def test_cli_finetune(tiny, tmp_path):
    model, _ = tiny
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sql_conversations(8)))
    result = runner.invoke(app, ["text", "finetune", "--data", str(data), "--model", str(model), "--out",
                                 str(tmp_path / "ad"), "--lora-r", "4", "--lora-alpha", "8", "--target-modules",
                                 "q_proj,v_proj", "--epochs", "1", "--max-length", "128", "--template", "qwen1.5",
                                 "--base-model-id", "Qwen/Qwen2.5-0.5B-Instruct"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "trained 2 steps on 8 conversations" in result.stdout
    config = json.loads((tmp_path / "ad" / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["base_model_name_or_path"] == "Qwen/Qwen2.5-0.5B-Instruct"


@pytest.mark.parametrize("extra, needle", [
    (["--quantize", "3bit"], "--quantize must be one of none, 8bit, 4bit"),
    (["--target-modules", "nope"], "--target-modules nope not found"),
    (["--template", "qwen9"], "unknown prompt template 'qwen9'"),
    (["--lora-r", "0"], "--lora-r must be a whole number >= 1; got 0"),
])
def test_cli_finetune_errors_are_one_line(tiny, tmp_path, extra, needle):
    model, _ = tiny
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sql_conversations(4)))
    _one_line_error(runner.invoke(app, ["text", "finetune", "--data", str(data), "--model", str(model), "--out",
                                        str(tmp_path / "ad"), *extra]), needle)


def test_cli_finetune_missing_or_bad_data(tiny, tmp_path):
    model, _ = tiny
    _one_line_error(runner.invoke(app, ["text", "finetune", "--data", str(tmp_path / "none.jsonl"), "--model",
                                        str(model), "--out", str(tmp_path / "o")]), "training data not found")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"conversations": []}\nnot json\n')
    _one_line_error(runner.invoke(app, ["text", "finetune", "--data", str(bad), "--model", str(model), "--out",
                                        str(tmp_path / "o")]), "line 1")


def test_settings_are_stored_by_the_constructor_and_checked_by_name():
    tuner = LoraFinetuner(lora_dropout=1.0, target_modules=("q_proj",))  # the constructor only stores
    assert tuner.get_params()["target_modules"] == ("q_proj",)
    assert list(tuner.get_params()) == LoraFinetuner.param_names()
    with pytest.raises(UserInputError, match=r"^lora_dropout must be a number in \[0, 1\); got 1.0$"):
        tuner.check_params()
    with pytest.raises(UserInputError, match="target_modules must name at least one layer"):
        LoraFinetuner(target_modules="q_proj").check_params()
