"""Issue 15, item 5: server answers are scrubbed before display, and a task cannot make us read local files."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synthera.cli import app
from synthera.errors import UserInputError
from synthera.flock.client import FlockClient, download, scrub_payload
from synthera.flock.workflow import Candidate, SubmitOptions, TrainOptions, prepare_training_data, run_task
from tests.flock.conftest import API_KEY, HF_TOKEN, one_line_error

runner = CliRunner()
SIGNATURE = "a1b2c3SIGNATUREd4e5f6"
OTHER_TOKEN = "tok-ECHOED-77777777"
LOCAL_CONTENT = "LOCAL-FILE-CONTENT-never-read"


def _echoing_answer() -> dict:
    return {
        "id": 99, "status": "submitted",
        "echo": f"got flock-api-key {API_KEY} and hf {HF_TOKEN}",
        "headers": {"flock-api-key": API_KEY, "Authorization": f"Bearer {OTHER_TOKEN}"},
        "token": OTHER_TOKEN,
        "api_key": 123456789,
        "upload_url": f"https://s3.example/x?X-Amz-Credential=cred&X-Amz-Signature={SIGNATURE}",
        "notes": [f"signature={SIGNATURE}"],
    }


def _submittable(server, hub) -> None:
    """Task 7 (a loss task) on the emulator, and an adapter for an accepted base, public on the fake hub."""
    server.tasks[7] = {"id": 7, "title": "t", "status": "submission_phase", "task_type": "lora", "data": {}}
    hub.repos["me/r"] = {"private": False, "revisions": {"abc": {"adapter_config.json": json.dumps(
        {"base_model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct"}).encode()}}}


def _secrets_in(text: str) -> list[str]:
    return [s for s in (API_KEY, HF_TOKEN, SIGNATURE, OTHER_TOKEN, "123456789") if s in text]


def test_submit_answer_is_scrubbed_in_the_client(flock_server, secrets_env):
    flock_server.script[("POST", "/api/v1/tasks/submit-result")] = [(200, _echoing_answer())]
    answer = FlockClient(flock_server.base_url).submit_result(7, hg_repo_id="me/r", base_model="qwen1.5",
                                                               gpu_type="cpu", revision="abc")
    assert answer["id"] == 99 and answer["status"] == "submitted"
    assert _secrets_in(json.dumps(answer)) == []


def test_cli_submit_never_prints_an_echoed_secret(flock_server, secrets_env, fake_hub):
    _submittable(flock_server, fake_hub)
    flock_server.script[("POST", "/api/v1/tasks/submit-result")] = [(200, _echoing_answer())]
    result = runner.invoke(app, ["flock", "submit", "--task-id", "7", "--repo-id", "me/r", "--revision", "abc",
                                 "--base-model", "qwen1.5", "--gpu-type", "cpu", "--base-url", flock_server.base_url])
    assert result.exit_code == 0, result.stderr
    assert "submitted me/r@abc to task 7" in result.stdout and '"status": "submitted"' in result.stdout
    assert _secrets_in(result.stdout + result.stderr) == []


def test_cli_submit_scrubs_a_non_object_answer(flock_server, secrets_env, fake_hub):
    _submittable(flock_server, fake_hub)
    flock_server.script[("POST", "/api/v1/tasks/submit-result")] = [(200, [f"Bearer {OTHER_TOKEN}", API_KEY])]
    result = runner.invoke(app, ["flock", "submit", "--task-id", "7", "--repo-id", "me/r", "--revision", "abc",
                                 "--base-model", "qwen1.5", "--gpu-type", "cpu", "--base-url", flock_server.base_url])
    assert result.exit_code == 0, result.stderr
    assert _secrets_in(result.stdout + result.stderr) == []


def test_cli_task_scrubs_what_the_server_wrote(flock_server, secrets_env):
    flock_server.tasks[7] = {
        "id": 7, "title": f"use token={OTHER_TOKEN} and {HF_TOKEN}", "status": f"Bearer {OTHER_TOKEN}",
        "task_type": API_KEY,
        "data": {"training_set_url": f"https://s3.example/d.jsonl?X-Amz-Signature={SIGNATURE}",
                 f"password={OTHER_TOKEN}": 1},
    }
    for extra in ([], ["--json"]):
        result = runner.invoke(app, ["flock", "task", "7", "--base-url", flock_server.base_url, *extra])
        assert result.exit_code == 0, result.stderr
        assert "https://s3.example/d.jsonl" in result.stdout
        assert _secrets_in(result.stdout + result.stderr) == []


def test_scrub_payload_masks_values_under_secret_keys():
    clean = scrub_payload({"nested": {"client_secret": 42, "ok": "fine"}, "list": [{"token": None}]})
    assert clean == {"nested": {"client_secret": "***", "ok": "fine"}, "list": [{"token": None}]}


# --------------------------------------------------------------------------- only http(s) downloads


def _local_secret_file(tmp_path):
    path = tmp_path / "private" / "secret.jsonl"
    path.parent.mkdir()
    path.write_text(json.dumps({"conversations": [{"role": "user", "content": LOCAL_CONTENT}]}) + "\n")
    return path


@pytest.mark.parametrize("scheme", ["file", "ftp", "data"])
def test_download_refuses_non_http_urls(tmp_path, scheme):
    local = _local_secret_file(tmp_path)
    url = {"file": local.as_uri(), "ftp": "ftp://127.0.0.1:1/x.jsonl", "data": "data:text/plain,hello"}[scheme]
    dest = tmp_path / "out.jsonl"
    with pytest.raises(UserInputError, match="only http:// and https:// URLs") as err:
        download(url, dest, retries=0)
    assert len(str(err.value).splitlines()) == 1 and LOCAL_CONTENT not in str(err.value)
    assert not dest.exists()


def test_a_redirect_to_a_local_file_is_refused(flock_server, tmp_path):
    local = _local_secret_file(tmp_path)
    flock_server.redirects["/data.jsonl"] = local.as_uri()
    flock_server.redirects["/ftp.jsonl"] = "ftp://127.0.0.1:1/x.jsonl"
    for path in ("/data.jsonl", "/ftp.jsonl"):
        dest = tmp_path / "out.jsonl"
        with pytest.raises(UserInputError, match="only http:// and https:// URLs"):
            download(flock_server.root + path, dest, retries=0)
        assert not dest.exists()


def _file_task(server, local):
    server.tasks[7] = {"id": 7, "title": "evil", "status": "submission_phase",
                       "data": {"training_set_url": local.as_uri(), "max_params": 10**9, "context_length": 64}}


def test_a_task_pointing_at_a_local_file_is_refused(flock_server, tmp_path, secrets_env):
    local = _local_secret_file(tmp_path)
    _file_task(flock_server, local)
    reads = []
    task = FlockClient(flock_server.base_url).get_task(7)
    with pytest.raises(UserInputError, match="only http:// and https:// URLs") as err:
        prepare_training_data(task, tmp_path, download_fn=lambda *a: reads.append(a))
    assert reads == [] and LOCAL_CONTENT not in str(err.value)
    work = tmp_path / "w"
    with pytest.raises(UserInputError, match="only http:// and https:// URLs"):
        run_task(7, client=FlockClient(flock_server.base_url), work_dir=work, submission=SubmitOptions(dry_run=True),
                 train=TrainOptions(candidates=[Candidate("Qwen/Qwen2.5-0.5B-Instruct", "qwen1.5", 1000,
                                                          str(tmp_path))]))
    assert not (work / "training_set.jsonl").exists()
    assert all(LOCAL_CONTENT not in p.read_text(errors="replace") for p in work.rglob("*") if p.is_file())


def test_cli_run_with_a_local_file_task_is_one_line(flock_server, tmp_path, secrets_env):
    local = _local_secret_file(tmp_path)
    _file_task(flock_server, local)
    # the refusal comes before any base model is looked at, so the default candidates are never fetched
    result = runner.invoke(app, ["flock", "run", "--task-id", "7", "--base-url", flock_server.base_url, "--dry-run",
                                 "--work-dir", str(tmp_path / "w"), "--retries", "0"])
    assert result.exit_code == 2 and "Traceback" not in result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]  # after the "task 7: ..." progress line
    assert last.startswith("error: refusing to download file://") and "only http:// and https:// URLs" in last
    assert LOCAL_CONTENT not in result.stdout + result.stderr


def test_cli_run_checks_the_report_path_before_training(flock_server, tmp_path, secrets_env):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["flock", "run", "--task-id", "7", "--base-url", flock_server.base_url, "--dry-run",
                                 "--work-dir", str(tmp_path / "w"), "--report", str(blocker / "report.json")])
    one_line_error(result, "cannot write to", "pick another output path")
    assert flock_server.requests == []  # refused before the task was even fetched
