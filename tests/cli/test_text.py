"""`synthera text generate`: files written, progress, and one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synthera.cli.main import app
from tests.helpers import one_line_error

runner = CliRunner()


def test_text_group_has_help():
    result = runner.invoke(app, ["text", "--help"])
    assert result.exit_code == 0 and "generate" in result.stdout
    result = runner.invoke(app, ["text", "generate", "--help"])
    assert result.exit_code == 0 and "--from-synthetic" in result.stdout


def test_generate_text_to_sql_writes_every_file(people_db, tmp_path):
    out = tmp_path / "sql.jsonl"
    result = runner.invoke(app, ["text", "generate", "--task", "text-to-sql", "--db", str(people_db), "--n", "40",
                                 "--model", "template", "--seed", "3", "--difficulty",
                                 "easy=0.5,medium=0.5", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "kept 40" in result.stdout
    lines = out.read_text().splitlines()
    assert len(lines) == 40
    levels = [json.loads(line)["meta"]["difficulty"] for line in lines]
    assert levels.count("easy") == 20 and levels.count("medium") == 20
    for name in ("sql.parquet", "sql.hf", "sql.manifest.json"):
        assert (tmp_path / name).exists()


def test_generate_seed_task_with_fake_model(tmp_path):
    out = tmp_path / "chat.jsonl"
    result = runner.invoke(app, ["text", "generate", "--task", "character", "--n", "8", "--model", "fake",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8 and all(r["system"].startswith("You are ") for r in rows)


@pytest.mark.parametrize("args, needles", [
    (["--task", "poetry", "--n", "5"], ["unknown task 'poetry'"]),
    (["--task", "text-to-sql", "--n", "5"], ["needs a database"]),
    (["--task", "text-to-sql", "--n", "5", "--db", "nowhere.db"], ["database not found", "nowhere.db"]),
    (["--task", "qa", "--n", "0"], ["--n must be"]),
    (["--task", "qa", "--n", "5", "--model", "/no/such/model"], ["cannot be downloaded", "local"]),
    (["--task", "qa", "--n", "5", "--model", "http://127.0.0.1:9/v1"], ["--model-name"]),
    (["--task", "qa", "--n", "5", "--model", "http://127.0.0.1:9/v1", "--model-name", "m"], ["cannot reach"]),
    (["--task", "text-to-sql", "--n", "5", "--from-synthetic", "nope"], ["unknown dataset 'nope'"]),
    (["--task", "text-to-sql", "--n", "5", "--from-synthetic", "adult", "--difficulty", "easy"], ["level=share"]),
])
def test_bad_input_gives_one_line(args, needles, tmp_path):
    result = runner.invoke(app, ["text", "generate", *args, "--out", str(tmp_path / "x.jsonl")])
    one_line_error(result, *needles)
    assert not (tmp_path / "x.jsonl").exists()


def test_out_must_be_jsonl(tmp_path, people_db):
    result = runner.invoke(app, ["text", "generate", "--task", "text-to-sql", "--db", str(people_db), "--n", "3",
                                 "--out", str(tmp_path / "x.csv")])
    one_line_error(result, ".jsonl")


def test_no_survivor_fails_without_writing_rows(tmp_path, monkeypatch):
    import synthera.text.llm as llm_module

    monkeypatch.setattr(llm_module.FakeLLM, "generate", lambda self, prompts, **kw: ["nonsense"] * len(prompts))
    out = tmp_path / "s.jsonl"
    result = runner.invoke(app, ["text", "generate", "--task", "summarization", "--n", "2", "--model", "fake",
                                 "--out", str(out)])
    one_line_error(result, "no example passed the filters", "too_short", code=1)
    assert not out.exists() and (tmp_path / "s.manifest.json").is_file()
