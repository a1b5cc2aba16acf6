"""Evaluation: SQL extraction, test-data layouts, metric wiring, validator bits per byte, --compare, the test set."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import synthera.cli.text_train  # noqa: F401 - registers `text finetune` and `text evaluate`
from synthera.cli import app
from synthera.errors import UserInputError
from synthera.text import evaluation as E
from synthera.text.finetune import LoraFinetuner, load_base_model
from synthera.text.prompts import encode_conversation, text_to_sql_record
from synthera.text.sql import execute_sql
from tests.flock.tiny_lm import build_tiny_model, sql_conversations
from tests.helpers import one_line_error as _one_line_error

runner = CliRunner()
TEST_SET = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "text_to_sql_test.jsonl"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def adapter(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapter")
    LoraFinetuner(epochs=2, batch_size=4, learning_rate=2e-2, lora_dropout=0.0,
                  target_modules=("q_proj", "v_proj", "o_proj", "up_proj", "down_proj")).fit(
        sql_conversations(12), model=tiny, out=out)
    return out


@pytest.fixture
def people_db(tmp_path):
    path = tmp_path / "people.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (name TEXT, age INTEGER, city TEXT)")
    conn.executemany("INSERT INTO people VALUES (?, ?, ?)", [("ann", 31, "c20"), ("bob", 45, "c21"), ("cy", 22, "c21")])
    conn.commit()
    conn.close()
    return path


def _sql_test_file(tmp_path, db, n=4) -> Path:
    lines = [{"question": "How many people are older than 30?", "sql": "SELECT COUNT(*) FROM people WHERE age > 30",
              "db": str(db)},
             {"question": "Who lives in city c21?", "sql": "SELECT name FROM people WHERE city = 'c21'"}]
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(lines[i % 2]) + "\n" for i in range(n)))
    return path


@pytest.mark.parametrize("text, sql", [
    ("```sql\nSELECT COUNT(*) FROM t;\n```", "SELECT COUNT(*) FROM t"),
    ("Sure! Here is the query:\n```\nSELECT a\nFROM t\n```\nIt counts rows.", "SELECT a FROM t"),
    ("SELECT name FROM t WHERE x = 'a;b'; -- done", "SELECT name FROM t WHERE x = 'a;b'"),
    ("To answer, run select max(age) from t\n\nThis gives the oldest.", "select max(age) from t"),
    ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH x AS (SELECT 1) SELECT * FROM x"),
    ("```sql\nSELECT 1", "SELECT 1"),
    ("I don't know.", "I don't know."),
])
def test_extract_sql(text, sql):
    assert E.extract_sql(text) == sql


def test_both_data_layouts(tmp_path, people_db):
    path = _sql_test_file(tmp_path, people_db)
    dbs = E._Databases()
    try:
        examples = E.load_eval_data(path, task="text-to-sql", db=str(people_db), databases=dbs)
    finally:
        dbs.close()
    assert [e.reference for e in examples][:2] == ["SELECT COUNT(*) FROM people WHERE age > 30",
                                                   "SELECT name FROM people WHERE city = 'c21'"]
    user = examples[0].record["conversations"][0]["content"]
    assert user.startswith("Database schema:\nCREATE TABLE people") and user.endswith(
        "Question: How many people are older than 30?")
    flock = tmp_path / "flock.jsonl"
    flock.write_text("".join(json.dumps(r) + "\n" for r in sql_conversations(3)))
    loaded = E.load_eval_data(flock, task="qa")
    assert [e.reference for e in loaded] == [r["conversations"][1]["content"] for r in sql_conversations(3)]


def test_data_errors_name_the_line(tmp_path, people_db):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "sql": "SELECT 1"}\n')
    with pytest.raises(UserInputError, match="line 1 has no 'db' and no db"):
        E.load_eval_data(bad, task="text-to-sql", databases=E._Databases())
    bad.write_text('{"question": "q"}\n')
    with pytest.raises(UserInputError, match="line 1 has no 'conversations'"):
        E.load_eval_data(bad, task="qa")
    with pytest.raises(UserInputError, match="unknown task"):
        E.load_eval_data(bad, task="poetry")


def test_text_to_sql_prompts_match_synthgen_training_examples(people_db, tmp_path):
    from synthera.text.pipeline import GenerationConfig, generate
    from synthera.text.sql import schema_prompt

    result = generate(GenerationConfig(task="text-to-sql", n=3, model="template", db=str(people_db)))
    ddl = schema_prompt(people_db)
    for record in result.records:
        meta = record["meta"]
        mine = text_to_sql_record(ddl, meta["question"], meta["sql"])
        assert mine == {"system": record["system"], "conversations": record["conversations"]}


def test_perfect_and_wrong_answers_score_as_expected(tiny, tmp_path, people_db, monkeypatch):
    path = _sql_test_file(tmp_path, people_db)
    examples = E.load_eval_data(path, task="text-to-sql", db=str(people_db), databases=E._Databases())
    golds = [e.reference for e in examples]
    monkeypatch.setattr(E, "generate_answers", lambda *a, **k: [f"```sql\n{g};\n```" for g in golds])
    good = E.evaluate_model(tiny, data=path, task="text-to-sql", db=str(people_db))
    assert good.metrics["execution_accuracy"] == 1.0 and good.metrics["exact_match"] == 1.0
    assert good.metrics["valid_sql"] == 1.0 and good.metrics["bleu"] == pytest.approx(100.0)
    assert 0 < good.metrics["bits_per_byte"] < math.inf
    monkeypatch.setattr(E, "generate_answers",
                        lambda *a, **k: ["SELECT COUNT(name) FROM people WHERE age >= 31", "SELECT nme FROM people",
                                         "no idea", "SELECT name FROM people WHERE city = 'c21' ORDER BY age"])
    mixed = E.evaluate_model(tiny, data=path, task="text-to-sql", db=str(people_db))
    assert mixed.metrics["execution_accuracy"] == 0.5  # 1st right by result, 4th right (gold has no ORDER BY)
    assert mixed.metrics["valid_sql"] == 0.5 and mixed.metrics["exact_match"] == 0.0
    assert mixed.predictions[2] == "no idea"
    monkeypatch.undo()
    first = E.evaluate_model(tiny, data=path, task="text-to-sql", db=str(people_db), limit=1)
    assert len(first.predictions) == 1


def test_validator_loss_matches_a_batch_size_one_pass(tiny):
    lm, tok = load_base_model(tiny)
    records = sql_conversations(5)
    got = E.validator_loss(lm, tok, records, template="qwen1.5", context_length=64, batch_size=3)
    losses, tokens, nbytes = [], 0, 0
    with torch.no_grad():
        for r in records:
            enc = encode_conversation(r, tok, template="qwen1.5", max_length=64)
            out = lm(input_ids=torch.tensor([enc.input_ids]), labels=torch.tensor([enc.labels]))
            losses.append(float(out.loss))
            target = [t for t, m in zip(enc.input_ids, enc.target_mask, strict=True) if m]
            tokens += len(target)
            nbytes += len(tok.decode(target, skip_special_tokens=True).encode())
    loss = sum(losses) / len(losses)
    assert got["loss"] == pytest.approx(loss, rel=1e-5)
    assert (got["target_tokens"], got["target_bytes"]) == (tokens, nbytes)
    assert got["bits_per_byte"] == pytest.approx(loss * tokens / math.log(2) / nbytes, rel=1e-5)
    cut = E.validator_loss(lm, tok, records, template="qwen1.5", context_length=8)
    assert cut["without_target"] == 5 and math.isinf(cut["bits_per_byte"])


def test_generation_and_compare_on_a_real_model(tiny, adapter, tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sql_conversations(4)))
    results = E.compare_models(tiny, adapter=adapter, data=data, task="qa", max_new_tokens=8, batch_size=3)
    base, tuned = results["baseline"], results["fine-tuned"]
    assert len(base.predictions) == len(tuned.predictions) == 4
    assert all(isinstance(p, str) for p in base.predictions)
    assert set(base.metrics) == {"exact_match", "accuracy", "token_f1", "bleu", "bits_per_byte"}
    assert tuned.metrics["bits_per_byte"] < base.metrics["bits_per_byte"]  # trained on the same kind of answers
    alone = E.evaluate_model(tiny, adapter=adapter, data=data, task="qa", max_new_tokens=8, batch_size=3)
    assert alone.predictions == tuned.predictions  # merged adapter = adapter loaded on its own
    assert alone.metrics["bits_per_byte"] == pytest.approx(tuned.metrics["bits_per_byte"], rel=1e-5)


def test_cli_evaluate_compare(tiny, adapter, tmp_path, people_db):
    path = _sql_test_file(tmp_path, people_db)
    out = tmp_path / "results.json"
    result = runner.invoke(app, ["text", "evaluate", "--model", str(tiny), "--adapter", str(adapter), "--data",
                                 str(path), "--task", "text-to-sql", "--db", str(people_db), "--compare",
                                 "--max-new-tokens", "8", "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    for word in ("baseline", "fine-tuned", "change", "execution_accuracy", "bits_per_byte", "bleu"):
        assert word in result.stdout
    saved = json.loads(out.read_text())
    assert set(saved["results"]) == {"baseline", "fine-tuned"}
    assert len(saved["results"]["baseline"]["examples"]) == 4


@pytest.mark.parametrize("args, needle", [
    (["--task", "poetry"], "unknown --task 'poetry'"),
    (["--task", "qa", "--compare"], "--compare needs --adapter"),
    (["--task", "qa", "--adapter", "/nonexistent"], "has no adapter_config.json"),
])
def test_cli_evaluate_errors(tiny, tmp_path, args, needle):
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sql_conversations(2)))
    _one_line_error(runner.invoke(app, ["text", "evaluate", "--model", str(tiny), "--data", str(data), *args]), needle)


def test_cli_evaluate_missing_data(tiny, tmp_path):
    _one_line_error(runner.invoke(app, ["text", "evaluate", "--model", str(tiny), "--data", str(tmp_path / "x.jsonl"),
                                        "--task", "qa"]), "test data not found")


def test_the_hand_written_test_set_is_sound():
    lines = [json.loads(line) for line in TEST_SET.read_text().splitlines() if line.strip()]
    assert len(lines) >= 100
    assert len({(r["db"], r["question"]) for r in lines}) == len(lines)
    assert {r["db"] for r in lines} == {"dataset:adult", "dataset:adult:test", "dataset:german", "dataset:compas"}
    dbs = E._Databases()
    try:
        examples = E.load_eval_data(TEST_SET, task="text-to-sql", databases=dbs)
        assert len(examples) == len(lines)
        for r in lines:
            rows = execute_sql(dbs.connection(r["db"]), r["sql"])
            assert rows and any(v is not None for row in rows for v in row), r
    finally:
        dbs.close()
