"""The training-node loop end to end against the local emulator, with a tiny model and a fake upload."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from synthera.cli import app
from synthera.errors import UserInputError
from synthera.flock.client import FlockClient
from synthera.flock.workflow import (
    AugmentOptions,
    Candidate,
    SubmitOptions,
    TrainOptions,
    count_parameters,
    pick_base_models,
    run_task,
)
from tests.flock.conftest import API_KEY, HF_TOKEN, one_line_error
from tests.flock.tiny_lm import sql_conversations

runner = CliRunner()
FAST = {"epochs": 1, "batch_size": 4, "lora_r": 4, "lora_alpha": 8, "learning_rate": 5e-3}
QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def _serve_task(server, task_id=7, status="submission_phase", max_params=10_000_000, n=20, task_type="lora",
                records=None):
    lines = "".join(json.dumps(r) + "\n" for r in (records or sql_conversations(n))).encode()
    server.files["/files/training_set.jsonl"] = lines
    server.tasks[task_id] = {
        "id": task_id, "title": "tiny", "status": status, "task_type": task_type,
        "data": {"training_set_url": server.root + "/files/training_set.jsonl?X-Amz-Signature=SIG",
                 "max_params": max_params, "context_length": 256},
    }


def _candidates(tiny_model):
    return [Candidate(QWEN, "qwen1.5", count_parameters(tiny_model), str(tiny_model))]


def _train(tiny_model):
    return TrainOptions(candidates=_candidates(tiny_model), finetune_params=FAST)


def test_pick_base_models_respects_max_params():
    picked = pick_base_models(2_000_000_000)
    assert picked and all(c.params <= 2_000_000_000 for c in picked)
    assert picked[0].model_id.startswith("Qwen/Qwen2.5-0.5B")
    assert [c.params for c in picked] == sorted(c.params for c in picked)
    with pytest.raises(UserInputError, match="no base model fits"):
        pick_base_models(1000)


def test_dry_run_trains_validates_and_sends_nothing(flock_server, tiny_model, tmp_path, secrets_env):
    _serve_task(flock_server)
    uploads = []
    report = run_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path / "w",
                      train=_train(tiny_model),
                      submission=SubmitOptions(dry_run=True, uploader=lambda *a: uploads.append(a) or "rev"))
    assert (report.train_examples, report.heldout_examples) == (18, 2)
    chosen = report.chosen
    assert chosen["model_id"] == QWEN and chosen["template"] == "qwen1.5"
    assert 0 < chosen["heldout_bits_per_byte"] < float("inf")
    assert chosen["heldout_bits_per_byte"] != chosen["heldout_bits_per_byte_base"]
    assert report.submission["json"]["data"]["base_model"] == "qwen1.5"
    assert report.submission["json"]["task_id"] == 7
    assert API_KEY not in json.dumps(report.to_dict()) and "SIG" not in json.dumps(report.to_dict())
    assert uploads == []
    assert [r["path"] for r in flock_server.requests] == ["/api/v1/tasks/get", "/files/training_set.jsonl"]
    adapter = tmp_path / "w" / "adapter-Qwen--Qwen2.5-0.5B-Instruct"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == QWEN


def test_full_run_uploads_publicly_then_submits(flock_server, tiny_model, tmp_path, secrets_env, fake_hub):
    _serve_task(flock_server)
    report = run_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path / "w",
                      train=_train(tiny_model), submission=SubmitOptions(repo_id="me/task-7-qwen", gpu="cpu"))
    revision = report.revision
    assert ("create_repo", "me/task-7-qwen", False) in fake_hub.calls  # public, whatever the org's default
    assert ("download", "me/task-7-qwen", revision, False) in fake_hub.calls  # checked anonymously
    files = fake_hub.repos["me/task-7-qwen"]["revisions"][revision]
    assert set(files) == {"adapter_config.json", "adapter_model.safetensors"}
    post = flock_server.requests[-1]
    assert post["method"] == "POST" and post["headers"]["flock-api-key"] == API_KEY
    assert post["body"] == {"task_id": 7, "data": {"hg_repo_id": "me/task-7-qwen", "base_model": "qwen1.5",
                                                   "gpu_type": "cpu", "revision": revision}}
    assert report.response == {"id": 99, "status": "submitted"}


def test_closed_task_is_refused_before_any_work(flock_server, tiny_model, tmp_path, secrets_env):
    _serve_task(flock_server, status="final_validation")
    with pytest.raises(UserInputError, match="submission_phase"):
        run_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path / "w",
                 train=_train(tiny_model))
    assert len(flock_server.requests) == 1


def test_model_over_max_params_is_refused(flock_server, tiny_model, tmp_path, secrets_env):
    _serve_task(flock_server, max_params=1000)
    with pytest.raises(UserInputError, match="no base model fits the task's max_params 1,000"):
        run_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path / "w",
                 train=_train(tiny_model), submission=SubmitOptions(dry_run=True))


def test_augmentation_adds_synthgen_examples(flock_server, tiny_model, tmp_path, secrets_env):
    _serve_task(flock_server)
    db = tmp_path / "people.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE people (name TEXT, age INTEGER, city TEXT)")
    conn.executemany("INSERT INTO people VALUES (?, ?, ?)",
                     [(f"p{i}", 20 + i % 50, ["Oslo", "Lima", "Pune"][i % 3]) for i in range(60)])
    conn.commit()
    conn.close()
    report = run_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path / "w",
                      train=_train(tiny_model), submission=SubmitOptions(dry_run=True),
                      augmentation=AugmentOptions(n=6, source=str(db)))
    assert report.augmented == 6 and report.train_examples == 18 + 6


def test_cli_dry_run_prints_the_payload_and_no_secret(flock_server, tiny_model, tmp_path, secrets_env):
    _serve_task(flock_server)
    result = runner.invoke(app, ["flock", "run", "--task-id", "7", "--base-url", flock_server.base_url,
                                 "--model", str(tiny_model), "--base-model-id", QWEN, "--dry-run",
                                 "--work-dir", str(tmp_path / "w"), "--lora-r", "4", "--lr", "0.005",
                                 "--report", str(tmp_path / "report.json")])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "dry run: nothing uploaded or submitted" in result.stdout
    assert '"hg_repo_id"' in result.stdout and '"base_model": "qwen1.5"' in result.stdout
    assert "<from FLOCK_API_KEY: set>" in result.stdout
    for secret in (API_KEY, HF_TOKEN, "X-Amz-Signature=SIG"):
        assert secret not in result.stdout + result.stderr
    assert json.loads((tmp_path / "report.json").read_text())["dry_run"] is True
    assert all(r["method"] == "GET" for r in flock_server.requests)


def _publish(fake_hub, repo, base, *, private=False):
    """An adapter already on the (fake) hub; returns its revision."""
    fake_hub.repos[repo] = {"private": private,
                            "revisions": {"abc": {"adapter_config.json": json.dumps(
                                {"base_model_name_or_path": base}).encode()}}}
    return "abc"


def test_cli_task_and_submit(flock_server, secrets_env, fake_hub):
    _serve_task(flock_server)
    _publish(fake_hub, "me/r", QWEN)
    shown = runner.invoke(app, ["flock", "task", "7", "--base-url", flock_server.base_url])
    assert shown.exit_code == 0, shown.stderr
    assert "max_params: 10000000" in shown.stdout and "context_length: 256" in shown.stdout
    assert "SIG" not in shown.stdout
    sent = runner.invoke(app, ["flock", "submit", "--task-id", "7", "--repo-id", "me/r", "--revision", "abc",
                               "--base-model", "qwen1.5", "--gpu-type", "cpu", "--base-url", flock_server.base_url])
    assert sent.exit_code == 0, sent.stderr
    assert flock_server.requests[-1]["body"]["data"]["revision"] == "abc"
    assert API_KEY not in sent.stdout + sent.stderr


def test_cli_errors_are_one_line(flock_server, monkeypatch, tmp_path):
    monkeypatch.delenv("FLOCK_API_KEY", raising=False)
    one_line_error(runner.invoke(app, ["flock", "task", "404", "--base-url", flock_server.base_url, "--retries", "0"]),
                   "HTTP 404", "Task not found")
    one_line_error(runner.invoke(app, ["flock", "submit", "--task-id", "7", "--repo-id", "me/r", "--revision", "a",
                                       "--base-model", "qwen1.5", "--base-url", flock_server.base_url]),
                   "FLOCK_API_KEY is not set")
    one_line_error(runner.invoke(app, ["flock", "submit", "--task-id", "7", "--repo-id", "me/r", "--revision", "a",
                                       "--base-model", "qwen9", "--base-url", flock_server.base_url]),
                   "--base-model must name a validator template")
    one_line_error(runner.invoke(app, ["flock", "run", "--task-id", "7", "--base-url", flock_server.base_url,
                                       "--work-dir", str(tmp_path)]), "FLOCK_API_KEY is not set", "--dry-run")
    flock_server.script[("GET", "/api/v1/tasks/get")] = [(500, {"detail": "down"})] * 5
    one_line_error(runner.invoke(app, ["flock", "task", "7", "--base-url", flock_server.base_url, "--retries", "0"]),
                   "unreachable", "HTTP 500: down")
