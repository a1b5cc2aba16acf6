"""Each step of the training-node loop called alone: what it returns and what it leaves in the work directory."""

from __future__ import annotations

import json

import pytest

from synthera.errors import UserInputError
from synthera.flock.client import FlockClient, Task
from synthera.flock.workflow import (
    Candidate,
    SubmitOptions,
    count_parameters,
    fetch_task,
    pick_candidates,
    prepare_data,
    submit,
    train_candidate,
    train_judge_candidate,
    training_step,
)
from tests.flock.conftest import API_KEY
from tests.flock.tiny_lm import sql_conversations

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


def _task(**data):
    return Task(id=7, title="tiny", status="submission_phase", data={"context_length": 256, **data})


def test_fetch_task_writes_the_scrubbed_task_and_refuses_a_closed_one(flock_server, tmp_path):
    flock_server.tasks[7] = {"id": 7, "title": "tiny", "status": "submission_phase",
                             "data": {"training_set_url": "https://x.test/d.jsonl?X-Amz-Signature=SIG",
                                      "max_params": 1000}}
    lines = []
    task = fetch_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path, log=lines.append)
    assert task.max_params == 1000 and lines[0].startswith("task 7: tiny")
    saved = json.loads((tmp_path / "task.json").read_text())
    assert saved["id"] == 7 and "SIG" not in (tmp_path / "task.json").read_text()
    flock_server.tasks[7]["status"] = "final_validation"
    with pytest.raises(UserInputError, match="submission_phase"):
        fetch_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path / "closed")
    assert not (tmp_path / "closed" / "task.json").exists()
    fetch_task(7, client=FlockClient(flock_server.base_url), work_dir=tmp_path / "dry", dry_run=True)
    assert (tmp_path / "dry" / "task.json").is_file()


def test_prepare_data_splits_with_the_seed_and_writes_both_parts(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sql_conversations(20)))
    split = prepare_data(_task(), work_dir=tmp_path, holdout=0.25, seed=3, data=data)
    again = prepare_data(_task(), work_dir=tmp_path / "again", holdout=0.25, seed=3, data=data)
    assert (len(split.train), len(split.heldout)) == (15, 5)
    assert split == again
    on_disk = [json.loads(line) for line in (tmp_path / "heldout.jsonl").read_text().splitlines()]
    assert len(on_disk) == 5 and len((tmp_path / "train.jsonl").read_text().splitlines()) == 15
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps(sql_conversations(1)[0]) + "\n")
    with pytest.raises(UserInputError, match="single conversation"):
        prepare_data(_task(), work_dir=tmp_path / "one", holdout=0.5, seed=0, data=one)


def test_pick_candidates_measures_sizes_and_skips_what_is_too_large(tiny_model, tmp_path):
    size = count_parameters(tiny_model)
    stated_small = Candidate(QWEN, "qwen1.5", 1, str(tiny_model))  # the list says 1; the weights say more
    lines = []
    picked = pick_candidates(_task(max_params=10**9), work_dir=tmp_path, candidates=[stated_small],
                             log=lines.append)
    assert picked == [Candidate(QWEN, "qwen1.5", size, str(tiny_model))]
    assert json.loads((tmp_path / "candidates.json").read_text())[0]["params"] == size
    with pytest.raises(UserInputError, match="no candidate base model could be trained"):
        pick_candidates(_task(max_params=size - 1), work_dir=tmp_path, candidates=[stated_small], log=lines.append)
    assert lines[-1].startswith(f"skip {QWEN}: {size:,} parameters")


def test_the_task_type_picks_the_training_path():
    assert training_step(_task()) is train_candidate
    assert training_step(Task(id=1, task_type="lora")) is train_candidate
    assert training_step(Task(id=1, task_type="llm_judge")) is train_judge_candidate
    for other in ("rl", "anything"):
        with pytest.raises(UserInputError, match="task 1 .*lora and llm_judge"):
            training_step(Task(id=1, task_type=other))


def _adapter(tmp_path, base=QWEN):
    folder = tmp_path / "adapter"
    folder.mkdir(exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base}))
    return str(folder)


def test_submit_dry_run_describes_the_request_and_sends_nothing(flock_server, tmp_path, secrets_env):
    chosen = {"model_id": QWEN, "template": "qwen1.5", "adapter_dir": _adapter(tmp_path)}
    calls = []
    out = submit(_task(), chosen, SubmitOptions(repo_id="me/r", gpu="cpu", dry_run=True,
                                                uploader=lambda *a: calls.append(a) or "rev"),
                 client=FlockClient(flock_server.base_url), work_dir=tmp_path)
    assert calls == [] and flock_server.requests == []
    assert out["repo_id"] == "me/r" and out["revision"] is None and out["response"] is None
    assert out["submission"]["json"] == {"task_id": 7, "data": {"hg_repo_id": "me/r", "base_model": "qwen1.5",
                                                                "gpu_type": "cpu",
                                                                "revision": "<commit id of the upload>"}}
    written = (tmp_path / "submission.json").read_text()
    assert json.loads(written)["submission"]["method"] == "POST" and API_KEY not in written


def test_submit_uploads_then_posts(flock_server, tmp_path, secrets_env):
    chosen = {"model_id": QWEN, "template": "qwen1.5", "adapter_dir": _adapter(tmp_path)}
    read = []
    options = SubmitOptions(repo_id="me/r", gpu="cpu", uploader=lambda folder, repo: "abc",
                            public_reader=lambda repo, rev: read.append((repo, rev))
                            or {"base_model_name_or_path": QWEN})
    out = submit(_task(), chosen, options, client=FlockClient(flock_server.base_url), work_dir=tmp_path)
    assert read == [("me/r", "abc")]
    assert out["revision"] == "abc" and out["response"] == {"id": 99, "status": "submitted"}
    assert flock_server.requests[-1]["body"]["data"]["revision"] == "abc"


def test_the_cli_names_flags_where_the_library_names_parameters(flock_server, tmp_path, secrets_env):
    from typer.testing import CliRunner

    from synthera.cli import app
    from tests.flock.conftest import one_line_error

    base = ["flock", "run", "--task-id", "7", "--base-url", flock_server.base_url, "--dry-run",
            "--work-dir", str(tmp_path / "w")]
    one_line_error(CliRunner().invoke(app, [*base, "--holdout", "1.5"]), "--holdout must lie strictly between 0 and 1")
    one_line_error(CliRunner().invoke(app, [*base, "--max-models", "0"]), "--max-models must be >= 1")
    assert flock_server.requests == []
    with pytest.raises(UserInputError, match="^holdout must lie"):
        from synthera.flock.workflow import TrainOptions, run_task

        run_task(7, work_dir=tmp_path / "w", train=TrainOptions(holdout=1.5))
