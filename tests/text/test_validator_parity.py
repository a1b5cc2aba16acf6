"""Validator parity: transformers 4.49's byte rule (clean_up_tokenization_spaces) and NaN rule, reproduced here."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from synthera.cli import app
from synthera.text.evaluation import _mean_loss, clean_up_tokenization, target_bytes, validator_loss
from synthera.text.finetune import load_base_model
from tests.flock.tiny_lm import build_tiny_model, sql_conversations

SQL = "SELECT name , age FROM people WHERE age > 30 ."


@pytest.fixture(scope="module")
def cleanup_model(tmp_path_factory):
    """The tiny model with a tokenizer whose config asks for clean_up_tokenization_spaces (as Llama-3's does)."""
    folder = build_tiny_model(tmp_path_factory.mktemp("cleanup") / "model")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["clean_up_tokenization_spaces"] = True
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def test_the_449_cleanup_rule():
    assert clean_up_tokenization("a , b . c ? d ! it ' s do n't I 'm he 's we 've they 're") == \
        "a, b. c? d! it's don't I'm he's we've they're"


def test_parity_counts_the_bytes_transformers_449_counts(cleanup_model):
    _, tok = load_base_model(str(cleanup_model))
    ids = tok.encode(SQL, add_special_tokens=False)
    installed = target_bytes(tok, ids)  # transformers 5.x skips the clean-up for BPE tokenizers
    assert installed == len(SQL.encode())
    assert target_bytes(tok, ids, parity=True) == len(b"SELECT name, age FROM people WHERE age > 30.")


def test_parity_leaves_a_tokenizer_without_the_flag_alone(tmp_path):
    folder = build_tiny_model(tmp_path / "plain")
    _, tok = load_base_model(str(folder))
    ids = tok.encode(SQL, add_special_tokens=False)
    assert target_bytes(tok, ids, parity=True) == target_bytes(tok, ids) == len(SQL.encode())


def _sql_records(n=6):
    records = sql_conversations(n)
    for r in records:
        r["conversations"][1]["content"] = r["conversations"][1]["content"].replace(" ", " , ", 1) + " ."
    return records


def test_validator_loss_in_parity_mode_has_fewer_bytes_and_a_higher_score(cleanup_model):
    lm, tok = load_base_model(str(cleanup_model))
    records = _sql_records()
    plain = validator_loss(lm, tok, records, template="qwen1.5", context_length=256)
    parity = validator_loss(lm, tok, records, template="qwen1.5", context_length=256, parity=True)
    assert parity["loss"] == pytest.approx(plain["loss"], rel=1e-6)
    assert parity["target_tokens"] == plain["target_tokens"]
    assert parity["target_bytes"] < plain["target_bytes"]
    expected = parity["loss"] * parity["target_tokens"] / math.log(2) / parity["target_bytes"]
    assert parity["bits_per_byte"] == pytest.approx(expected, rel=1e-12)
    assert parity["bits_per_byte"] > plain["bits_per_byte"]


def _trainer_evaluate_loss(lm, tok, records, template, context_length):
    """What transformers 4.49's Trainer.evaluate(per_device_eval_batch_size=1) returns as eval_loss: the model's own
    loss on each unpadded conversation, gathered as float32 and averaged with numpy (benchmarks/validator_parity.py
    checks this against a real 4.49 run: identical to the last bit)."""
    import numpy as np
    import torch

    from synthera.text.prompts import encode_conversation

    losses = []
    with torch.inference_mode():
        for r in records:
            e = encode_conversation(r, tok, template=template, max_length=context_length)
            ids = torch.tensor([e.input_ids])
            losses.append(lm(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.tensor([e.labels])).loss)
    return np.concatenate([x.reshape(1).numpy() for x in losses]).mean().item()


def test_parity_loss_is_the_trainers_eval_loss_to_the_last_bit(cleanup_model):
    # Padded batches with the output layer on target positions only drift by a float32 ulp or two (up to 9.5e-7 bits
    # per byte against transformers 4.49 in the benchmark); parity mode reproduces the validator's reductions exactly.
    lm, tok = load_base_model(str(cleanup_model))
    records = _sql_records(12)  # here the padded fast path is 4.4e-7 off in loss; parity must be exact
    expected = _trainer_evaluate_loss(lm, tok, records, "default", 256)
    for batch_size in (1, 4):
        out = validator_loss(lm, tok, records, template="default", context_length=256, parity=True,
                             batch_size=batch_size)
        assert out["loss"] == expected


def test_parity_mean_is_a_float32_mean():
    import numpy as np

    values = [5.991190434, 5.945046902, 6.004073620, 1e-3, 7.25]
    assert _mean_loss(values, parity=True) == float(np.asarray(values, dtype=np.float32).mean())
    assert _mean_loss(values, parity=False) == sum(values) / len(values)
    assert math.isnan(_mean_loss([1.0, None], parity=True)) and math.isnan(_mean_loss([], parity=False))


def test_a_conversation_without_target_after_truncation_fails_the_whole_score(cleanup_model):
    # transformers 4.49 averages the NaN in (score 999 at the validator); 5.x would drop it. We keep 4.49's rule.
    lm, tok = load_base_model(str(cleanup_model))
    records = _sql_records(3)
    records[0]["system"] = "word " * 300  # its answer falls beyond the context
    out = validator_loss(lm, tok, records, template="qwen1.5", context_length=64, parity=True)
    assert out["without_target"] == 1 and math.isnan(out["loss"]) and out["bits_per_byte"] == math.inf


def test_cli_evaluate_validator_parity(cleanup_model, tmp_path):
    data = tmp_path / "test.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _sql_records(2)))
    runs = {}
    for flag in ([], ["--validator-parity"]):
        out = tmp_path / f"out{len(flag)}.json"
        result = CliRunner().invoke(app, ["text", "evaluate", "--data", str(data), "--task", "qa", "--model",
                                          str(cleanup_model), "--template", "qwen1.5", "--max-new-tokens", "2",
                                          "--out", str(out), *flag])
        assert result.exit_code == 0, result.stdout + result.stderr
        runs[bool(flag)] = json.loads(out.read_text())["results"]["baseline"]
    assert runs[True]["loss"]["target_bytes"] < runs[False]["loss"]["target_bytes"]
