"""A local FLock API emulator (http.server in a thread), a tiny model, and the one-line error check."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import synthera.cli.flock  # noqa: F401 - registers `synthera flock`
from tests.flock.tiny_lm import build_tiny_model
from tests.helpers import one_line_error  # noqa: F401 - the test modules import it from here

API_KEY = "flk-secret-key-0123456789"
HF_TOKEN = "hf_secret_token_abcdefghij"


class FakeFlock:
    """Emulates GET /tasks/get, GET /tasks/list and POST /tasks/submit-result, plus file downloads.

    ``listed`` overrides what /tasks/list says about a task (``{id: task_type}``);
    by default it lists every task with the ``task_type`` of its payload.

    ``script[(method, path)]`` is a list of ``(status, body)`` answers used in
    order before the default behaviour; ``requests`` records what arrived.
    """

    def __init__(self):
        self.tasks: dict[int, dict] = {}
        self.files: dict[str, bytes] = {}
        self.script: dict[tuple[str, str], list[tuple[int, object]]] = {}
        self.requests: list[dict] = []
        self.key = API_KEY
        self.echo_key = False
        self.redirects: dict[str, str] = {}  # path -> Location of a 302 answer
        self.listed: dict[int, str] = {}

    def answer(self, handler, method: str):
        parts = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        self.requests.append({"method": method, "path": parts.path, "query": urllib.parse.parse_qs(parts.query),
                              "headers": {k.lower(): v for k, v in handler.headers.items()}, "body": body})
        queue = self.script.get((method, parts.path))
        if queue:
            return queue.pop(0)
        if method == "GET" and parts.path in self.files:
            return 200, self.files[parts.path]
        if method == "GET" and parts.path == "/api/v1/tasks/get":
            tid = int(urllib.parse.parse_qs(parts.query)["task_id"][0])
            if tid not in self.tasks:
                return 404, {"detail": "Task not found"}
            return 200, self.tasks[tid]
        if method == "GET" and parts.path == "/api/v1/tasks/list":
            return 200, [{"id": tid, "title": t.get("title", ""),
                          "task_type": self.listed.get(tid, t.get("task_type", ""))} for tid, t in self.tasks.items()]
        if method == "POST" and parts.path == "/api/v1/tasks/submit-result":
            sent = handler.headers.get("flock-api-key")
            if sent != self.key:
                detail = f"Invalid API key {sent}" if self.echo_key else "Invalid API key"
                return 401, {"detail": detail}
            return 200, {"id": 99, "status": "submitted"}
        return 404, {"detail": "Not Found"}


@pytest.fixture
def flock_server():
    fake = FakeFlock()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, method):
            location = fake.redirects.get(urllib.parse.urlsplit(self.path).path)
            if location is not None:
                fake.requests.append({"method": method, "path": urllib.parse.urlsplit(self.path).path})
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, body = fake.answer(self, method)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if isinstance(body, bytes)
                             else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._send("GET")

        def do_POST(self):
            self._send("POST")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.root = f"http://127.0.0.1:{server.server_address[1]}"
    fake.base_url = fake.root + "/api/v1"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


class FakeHub:
    """A Hugging Face Hub organisation whose repositories are PRIVATE unless created with ``private=False``.

    ``install(monkeypatch)`` replaces ``huggingface_hub.HfApi`` and ``hf_hub_download``; an anonymous
    download (``token=False``) of a private repository fails as the real hub's would.
    """

    def __init__(self, tmp_path):
        self.root = tmp_path
        self.repos: dict[str, dict] = {}  # repo_id -> {"private": bool, "revisions": {oid: {name: bytes}}}
        self.calls: list[tuple] = []

    def install(self, monkeypatch):
        import huggingface_hub

        hub = self

        class Api:
            def __init__(self, token=None):
                self.token = token

            def create_repo(self, repo_id, *, exist_ok=False, repo_type=None, private=None):
                hub.calls.append(("create_repo", repo_id, private))
                hub.repos.setdefault(repo_id, {"private": private is not False, "revisions": {}})

            def upload_folder(self, *, folder_path, repo_id, repo_type=None, allow_patterns=None, commit_message=""):
                files = {f.name: f.read_bytes() for f in Path(folder_path).iterdir() if f.name in allow_patterns}
                oid = f"{len(hub.repos[repo_id]['revisions']) + 1:040x}"
                hub.repos[repo_id]["revisions"][oid] = files
                return type("Commit", (), {"oid": oid})()

        def download(repo_id, filename, *, revision=None, repo_type=None, token=None):
            hub.calls.append(("download", repo_id, revision, token))
            repo = hub.repos.get(repo_id)
            if repo is None or (repo["private"] and token is False) or revision not in repo["revisions"]:
                raise OSError("401 Client Error: Repository Not Found")
            target = hub.root / "dl" / filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(repo["revisions"][revision][filename])
            return str(target)

        monkeypatch.setattr(huggingface_hub, "HfApi", Api)
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
        return self


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    return FakeHub(tmp_path / "hub").install(monkeypatch)


@pytest.fixture
def secrets_env(monkeypatch):
    monkeypatch.setenv("FLOCK_API_KEY", API_KEY)
    monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
    monkeypatch.delenv("FLOCK_API_BASE_URL", raising=False)
    return API_KEY, HF_TOKEN


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama") / "model")
