"""Task-type dispatch (lora / llm_judge / rl), the dated base tables, and anonymous visibility, on the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthera.cli import app
from synthera.errors import UserInputError
from synthera.flock.bases import CHECKED, JUDGE_BASES, check_base, supported_bases, task_kind
from synthera.flock.client import FlockClient
from synthera.flock.workflow import Candidate, SubmitOptions, TrainOptions, count_parameters, run_task
from synthera.text.llm import FakeLLM
from tests.flock.conftest import API_KEY, HF_TOKEN, one_line_error
from tests.flock.tiny_lm import sql_conversations

runner = CliRunner()
FAST = {"epochs": 1, "batch_size": 4, "lora_r": 4, "lora_alpha": 8, "learning_rate": 5e-3}
QWEN25 = "Qwen/Qwen2.5-0.5B-Instruct"
QWEN35 = "Qwen/Qwen3.5-0.8B"
DEMO = Path(__file__).parent / "data" / "function_calling_demo.jsonl"


def _serve(server, task_type, *, records=None, listed=None, task_id=7, context_length=256):
    records = records or sql_conversations(20)
    server.files["/files/train.jsonl"] = "".join(json.dumps(r) + "\n" for r in records).encode()
    task = {"id": task_id, "title": "t", "status": "submission_phase",
            "data": {"training_set_url": server.root + "/files/train.jsonl", "max_params": 10_000_000,
                     "context_length": context_length}}
    if task_type is not None:
        task["task_type"] = task_type
    server.tasks[task_id] = task
    if listed is not None:
        server.listed[task_id] = listed


def _paths(server):
    return [r["path"] for r in server.requests]


def test_the_tables_are_dated_and_per_task_type():
    assert set(CHECKED) == {"lora", "llm_judge"} and all(v[:4] == "2026" for v in CHECKED.values())
    assert "Qwen/Qwen3.5-27B" in supported_bases("llm_judge") and QWEN25 not in supported_bases("llm_judge")
    assert QWEN25 in supported_bases("lora") and QWEN35 not in supported_bases("lora")
    assert len(JUDGE_BASES) == 9
    with pytest.raises(UserInputError, match=r"not accepted by FLock's llm_judge validator .*Qwen/Qwen3.5-0.8B"):
        check_base(QWEN25, "llm_judge")
    assert task_kind("") == task_kind("training") == "lora" and task_kind("llm_evaluation") == "llm_judge"


@pytest.mark.parametrize("task_type, message", [("rl", "reinforcement-learning"), ("video", "task_type 'video'")])
def test_rl_and_unknown_types_are_refused_before_any_download(flock_server, tmp_path, secrets_env, task_type,
                                                              message):
    _serve(flock_server, task_type)
    with pytest.raises(UserInputError, match=message):
        run_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path / "w",
                 submission=SubmitOptions(dry_run=True))
    assert _paths(flock_server) == ["/api/v1/tasks/get"]
    result = runner.invoke(app, ["flock", "run", "--task-id", "7", "--base-url", flock_server.base_url, "--dry-run",
                                 "--work-dir", str(tmp_path / "w2")])
    one_line_error(result, message)
    assert "/files/train.jsonl" not in _paths(flock_server)


def test_the_type_comes_from_tasks_list_when_the_task_omits_it(flock_server, tmp_path, secrets_env):
    _serve(flock_server, None, listed="rl")
    with pytest.raises(UserInputError, match="reinforcement-learning"):
        run_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path / "w",
                 submission=SubmitOptions(dry_run=True))
    assert _paths(flock_server) == ["/api/v1/tasks/get", "/api/v1/tasks/list"]
    listing = [r for r in flock_server.requests if r["path"] == "/api/v1/tasks/list"][0]
    assert listing["headers"]["flock-api-key"] == API_KEY


def _judge_candidates(tiny_model, model_id=QWEN35):
    return [Candidate(model_id, None, count_parameters(tiny_model), str(tiny_model))]


def test_a_judge_task_trains_on_the_chat_template_and_reports_a_proxy(flock_server, tiny_model, tmp_path,
                                                                     secrets_env):
    records = [json.loads(line) for line in DEMO.read_text().splitlines()] * 4
    _serve(flock_server, "llm_judge", records=records, context_length=1024)
    judge = FakeLLM(lambda text, rng: '{"score": 8, "confidence": 0.9, "reasoning": "ok"}')
    lines = []
    report = run_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path / "w", log=lines.append,
                      train=TrainOptions(candidates=_judge_candidates(tiny_model), finetune_params=FAST, judge=judge,
                                         judge_repeats=2, judge_max_new_tokens=4),
                      submission=SubmitOptions(dry_run=True))
    assert report.task_kind == "llm_judge" and "cannot be reproduced offline" in report.note
    chosen = report.chosen
    assert chosen["template"] is None  # the tokenizer's own chat template, as the judge prompts
    assert chosen["judge_proxy"]["judge_proxy_score"] == pytest.approx(0.72)
    assert chosen["judge_proxy"]["verdicts"] == 2 * report.heldout_examples
    assert report.submission["json"]["data"]["base_model"] == QWEN35
    config = json.loads((Path(chosen["adapter_dir"]) / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == QWEN35
    assert any("judge-score proxy" in line and "cannot be reproduced offline" in line for line in lines)
    assert API_KEY not in json.dumps(report.to_dict())


def test_a_judge_task_refuses_a_loss_base_and_a_loss_task_a_judge_base(flock_server, tiny_model, tmp_path,
                                                                      secrets_env):
    _serve(flock_server, "llm_judge")
    loss_base = [Candidate(QWEN25, "qwen1.5", count_parameters(tiny_model), str(tiny_model))]
    with pytest.raises(UserInputError, match=r"Qwen2.5-0.5B-Instruct is not accepted by FLock's llm_judge"):
        run_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path / "a",
                 train=TrainOptions(candidates=loss_base, finetune_params=FAST), submission=SubmitOptions(dry_run=True))
    _serve(flock_server, "lora")
    with pytest.raises(UserInputError, match=r"Qwen3.5-0.8B is not accepted by FLock's lora validator"):
        run_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path / "b",
                 train=TrainOptions(candidates=_judge_candidates(tiny_model), finetune_params=FAST),
                 submission=SubmitOptions(dry_run=True))


def test_a_loss_task_with_function_calling_data_runs(flock_server, tiny_model, tmp_path, secrets_env):
    # the validator's own demo shape used to stop `flock run` at line 1 ("turns must alternate user, assistant")
    records = [json.loads(line) for line in DEMO.read_text().splitlines()] * 4
    _serve(flock_server, "lora", records=records, context_length=1024)  # the tools header is long
    candidates = [Candidate(QWEN25, "qwen1.5", count_parameters(tiny_model), str(tiny_model))]
    report = run_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path / "w",
                      train=TrainOptions(candidates=candidates, finetune_params=FAST),
                      submission=SubmitOptions(dry_run=True))
    assert report.task_kind == "lora" and report.note is None
    assert 0 < report.chosen["heldout_bits_per_byte"] < float("inf")
    assert report.submission["json"]["data"]["base_model"] == "qwen1.5"


def test_cli_run_refuses_a_base_on_no_list(flock_server, tiny_model, tmp_path, secrets_env):
    base = ["flock", "run", "--task-id", "7", "--base-url", flock_server.base_url, "--dry-run",
            "--work-dir", str(tmp_path / "w"), "--model", str(tiny_model)]
    one_line_error(runner.invoke(app, [*base, "--base-model-id", "HuggingFaceTB/SmolLM2-135M-Instruct",
                                       "--template", "qwen1.5"]),
                   "--base-model-id HuggingFaceTB/SmolLM2-135M-Instruct is not accepted", QWEN25)
    one_line_error(runner.invoke(app, [*base, "--base-model-id", QWEN25, "--template", "llama3"]),
                   "--template llama3 is not what FLock's validator uses")
    one_line_error(runner.invoke(app, [*base, "--base-model-id", QWEN35, "--template", "qwen1.5"]),
                   "drop --template")
    assert flock_server.requests == []


def _publish(fake_hub, repo, base, *, private=False):
    fake_hub.repos[repo] = {"private": private, "revisions": {"abc": {"adapter_config.json": json.dumps(
        {"base_model_name_or_path": base}).encode()}}}


def _submit(server, *extra):
    return runner.invoke(app, ["flock", "submit", "--task-id", "7", "--repo-id", "me/r", "--revision", "abc",
                               "--gpu-type", "cpu", "--base-url", server.base_url, *extra])


def test_cli_submit_checks_visibility_and_the_base(flock_server, secrets_env, fake_hub):
    _serve(flock_server, "llm_judge")
    _publish(fake_hub, "me/r", QWEN35, private=True)
    one_line_error(_submit(flock_server), "me/r@abc cannot be read anonymously", "make the repository public")
    _publish(fake_hub, "me/r", QWEN25)
    one_line_error(_submit(flock_server), "adapter's base Qwen/Qwen2.5-0.5B-Instruct is not accepted", QWEN35)
    assert not any(r["method"] == "POST" for r in flock_server.requests)
    _publish(fake_hub, "me/r", QWEN35)
    sent = _submit(flock_server)
    assert sent.exit_code == 0, sent.stderr
    assert flock_server.requests[-1]["body"]["data"] == {"hg_repo_id": "me/r", "base_model": QWEN35,
                                                         "gpu_type": "cpu", "revision": "abc"}
    assert ("download", "me/r", "abc", False) in fake_hub.calls
    for secret in (API_KEY, HF_TOKEN):
        assert secret not in sent.stdout + sent.stderr


def test_cli_submit_derives_the_loss_template_and_refuses_a_mismatch(flock_server, secrets_env, fake_hub):
    _serve(flock_server, "lora")
    _publish(fake_hub, "me/r", QWEN25)
    one_line_error(_submit(flock_server, "--base-model", "llama3"), "does not match the adapter's base", "qwen1.5")
    sent = _submit(flock_server)
    assert sent.exit_code == 0, sent.stderr
    assert flock_server.requests[-1]["body"]["data"]["base_model"] == "qwen1.5"


def test_a_private_by_default_org_upload_is_made_public(flock_server, tiny_model, tmp_path, secrets_env, fake_hub):
    from synthera.flock.workflow import hf_upload, read_public_adapter_config

    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": QWEN25}))
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    (folder / "notes.txt").write_text("not uploaded")
    revision = hf_upload(folder, "org/r")
    assert fake_hub.repos["org/r"]["private"] is False
    assert set(fake_hub.repos["org/r"]["revisions"][revision]) == {"adapter_config.json", "adapter_model.safetensors"}
    assert read_public_adapter_config("org/r", revision)["base_model_name_or_path"] == QWEN25
    fake_hub.repos["org/r"]["private"] = True  # what create_repo without private=False gives in such an org
    with pytest.raises(UserInputError, match="cannot be read anonymously"):
        read_public_adapter_config("org/r", revision)
