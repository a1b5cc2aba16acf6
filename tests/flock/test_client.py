"""The FLock API client against a local emulator: fields, optional keys, retries, errors, secrets."""

from __future__ import annotations

import socket

import pytest

from synthera.errors import UserInputError
from synthera.flock.client import DEFAULT_BASE_URL, FlockAPIError, FlockClient, download, redact_url
from tests.flock.conftest import API_KEY, HF_TOKEN

FULL_TASK = {
    "id": 7, "title": "SQL assistant", "description": "d", "task_type": "training", "status": "submission_phase",
    "duration_in_seconds": 86400,
    "data": {"training_set_url": "https://s3.example/training_set.jsonl?X-Amz-Signature=abc",
             "max_params": 1_000_000_000, "context_length": 2048},
}


def _client(server, **kw):
    sleeps = []
    return FlockClient(server.base_url, backoff=0.5, sleep=sleeps.append, **kw), sleeps


def test_get_task_reads_every_field(flock_server):
    flock_server.tasks[7] = FULL_TASK
    client, _ = _client(flock_server)
    task = client.get_task(7)
    assert (task.id, task.title, task.status) == (7, "SQL assistant", "submission_phase")
    assert task.training_data_url.startswith("https://s3.example/")
    assert (task.max_params, task.context_length) == (1_000_000_000, 2048)
    assert task.accepts_submissions is True
    request = flock_server.requests[-1]
    assert (request["method"], request["path"], request["query"]) == ("GET", "/api/v1/tasks/get", {"task_id": ["7"]})
    assert "flock-api-key" not in {k.lower() for k in request["headers"]}  # reading a task needs no key
    assert "X-Amz-Signature" not in str(task.summary())


@pytest.mark.parametrize("key", ["training_data_url", "training_zip_url", "dataset_url"])
def test_training_url_under_other_names(flock_server, key):
    flock_server.tasks[3] = {"id": 3, "data": {key: "https://x/y.jsonl"}}
    task = _client(flock_server)[0].get_task(3)
    assert task.training_data_url == "https://x/y.jsonl"


def test_every_data_key_is_optional(flock_server):
    flock_server.tasks[4] = {"id": 4}
    task = _client(flock_server)[0].get_task(4)
    assert task.training_data_url is None and task.hf_dataset is None
    assert task.max_params is None and task.context_length is None and task.accepts_submissions is None
    flock_server.tasks[5] = {"id": 5, "status": "final_validation", "data": {"hf_dataset_id": "org/data",
                                                                             "max_params": "5e8"}}
    task = _client(flock_server)[0].get_task(5)
    assert task.hf_dataset == "org/data" and task.max_params == 500_000_000 and task.accepts_submissions is False


def test_server_errors_are_retried_with_doubling_backoff(flock_server):
    flock_server.tasks[7] = FULL_TASK
    flock_server.script[("GET", "/api/v1/tasks/get")] = [(502, {"detail": "bad gateway"}), (503, "busy")]
    client, sleeps = _client(flock_server)
    assert client.get_task(7).title == "SQL assistant"
    assert len(flock_server.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_server_errors_give_up_after_the_retries(flock_server):
    flock_server.script[("GET", "/api/v1/tasks/get")] = [(500, {"detail": "boom"})] * 10
    client, sleeps = _client(flock_server, retries=2)
    with pytest.raises(FlockAPIError, match=r"after 3 attempts \(HTTP 500: boom\)"):
        client.get_task(7)
    assert len(flock_server.requests) == 3 and sleeps == [0.5, 1.0]


def test_client_errors_are_not_retried(flock_server):
    client, sleeps = _client(flock_server)
    with pytest.raises(FlockAPIError, match=r"HTTP 404\): Task not found") as info:
        client.get_task(12345)
    assert info.value.status == 404
    assert len(flock_server.requests) == 1 and sleeps == []


def test_connection_errors_are_retried():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = []
    client = FlockClient(f"http://127.0.0.1:{port}/api/v1", retries=2, backoff=0.1, sleep=sleeps.append, timeout=2)
    with pytest.raises(FlockAPIError, match="unreachable"):
        client.get_task(1)
    assert sleeps == [0.1, 0.2]


def test_submit_sends_the_key_header_and_the_body(flock_server, secrets_env):
    client, _ = _client(flock_server)
    answer = client.submit_result(7, hg_repo_id="me/task-7", base_model="qwen1.5", gpu_type="cpu", revision="abc123")
    assert answer == {"id": 99, "status": "submitted"}
    request = flock_server.requests[-1]
    assert request["path"] == "/api/v1/tasks/submit-result"
    assert request["headers"]["flock-api-key"] == API_KEY
    assert request["body"] == {"task_id": 7, "data": {"hg_repo_id": "me/task-7", "base_model": "qwen1.5",
                                                      "gpu_type": "cpu", "revision": "abc123"}}


def test_submit_without_a_key_is_a_user_error(flock_server, monkeypatch):
    monkeypatch.delenv("FLOCK_API_KEY", raising=False)
    with pytest.raises(UserInputError, match="FLOCK_API_KEY is not set"):
        _client(flock_server)[0].submit_result(7, hg_repo_id="a/b", base_model="qwen1.5", gpu_type="cpu",
                                               revision="r")
    assert flock_server.requests == []


def test_the_key_never_appears_in_errors_or_reprs(flock_server, secrets_env, monkeypatch):
    flock_server.key = "another-key"
    flock_server.echo_key = True  # a careless server repeats what it was sent
    client, _ = _client(flock_server)
    with pytest.raises(FlockAPIError) as info:
        client.submit_result(7, hg_repo_id="a/b", base_model="qwen1.5", gpu_type="cpu", revision="r")
    assert "HTTP 401" in str(info.value) and "***" in str(info.value)
    assert API_KEY not in str(info.value) and API_KEY not in repr(client) and API_KEY not in str(vars(client))


def test_base_url_from_argument_environment_or_default(monkeypatch):
    monkeypatch.delenv("FLOCK_API_BASE_URL", raising=False)
    assert FlockClient().url == DEFAULT_BASE_URL
    monkeypatch.setenv("FLOCK_API_BASE_URL", "http://localhost:9/api/v1/")
    assert FlockClient().url == "http://localhost:9/api/v1"
    assert FlockClient("https://other/api/v1").url == "https://other/api/v1"
    with pytest.raises(UserInputError, match="must start with http"):
        FlockClient("ftp://x").get_task(1)


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", None])
def test_bad_task_ids(bad):
    with pytest.raises(UserInputError, match="task id"):
        FlockClient("http://127.0.0.1:9").get_task(bad)


def test_download_retries_and_hides_the_signature(flock_server, tmp_path):
    flock_server.files["/data.jsonl"] = b'{"conversations": []}\n'
    flock_server.script[("GET", "/data.jsonl")] = [(503, "later")]
    sleeps = []
    path = download(flock_server.root + "/data.jsonl?X-Amz-Signature=SECRET", tmp_path / "d.jsonl",
                    backoff=0.1, sleep=sleeps.append)
    assert path.read_bytes() == b'{"conversations": []}\n' and sleeps == [0.1]
    with pytest.raises(FlockAPIError) as info:
        download(flock_server.root + "/missing?X-Amz-Signature=SECRET", tmp_path / "m.jsonl", sleep=sleeps.append)
    assert "HTTP 404" in str(info.value) and "SECRET" not in str(info.value)
    assert not (tmp_path / "m.jsonl").exists()


def test_redact_url():
    assert redact_url("https://user:pw@host:8443/p/x.jsonl?sig=1") == "https://host:8443/p/x.jsonl?…"
    assert HF_TOKEN not in redact_url(f"https://{HF_TOKEN}@h/x")
