"""Validator parity: transformers 4.49's byte rule (clean_up_tokenization_spaces) and NaN rule, reproduced here."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from synthera.cli import app
from synthera.text.evaluation import clean_up_tokenization, target_bytes, validator_loss
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
    assert parity["loss"] == plain["loss"] and parity["target_tokens"] == plain["target_tokens"]
    assert parity["target_bytes"] < plain["target_bytes"]
    ratio = plain["target_bytes"] / parity["target_bytes"]
    assert parity["bits_per_byte"] == pytest.approx(plain["bits_per_byte"] * ratio, rel=1e-12)


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
