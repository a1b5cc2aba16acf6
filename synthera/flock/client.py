"""A small client for FLock.io's task API ("Fed Ledger"), standard library only.

- ``GET {base}/tasks/get?task_id=N`` returns a task; no key is needed.
- ``GET {base}/tasks/list`` lists tasks with their ``task_type`` (the key is
  sent when set); it fills in the type when a task's own payload lacks it.
- ``POST {base}/tasks/submit-result`` with the header ``flock-api-key`` and
  the body ``{"task_id": N, "data": {"hg_repo_id", "base_model", "gpu_type", "revision"}}``
  submits a trained adapter.

The base URL comes from the ``base_url`` argument, else ``FLOCK_API_BASE_URL``,
else FLock's production ledger. Server errors (5xx) and dropped connections
are retried with exponential backoff; a 4xx answer is final and becomes a
one-line :class:`FlockAPIError` with the server's ``detail``.

The API key is read from ``FLOCK_API_KEY`` at the moment a request needs it.
It is never stored on the client, never part of a repr, a log line or an
error message (a server that echoes it back gets it replaced by ``***``).
Everything the client hands back for display (answers, task summaries,
errors) passes through :func:`scrub`, which also masks tokens, passwords and
signed-URL signatures the server may echo. Data is downloaded only from
``http(s)`` URLs, so a task cannot make the client read local files.

>>> from synthera.flock import FlockClient
>>> task = FlockClient().get_task(7)                 # doctest: +SKIP
>>> task.training_data_url, task.context_length      # doctest: +SKIP
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from synthera._secrets import redact
from synthera.errors import UserInputError

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "HF_DATASET_KEYS",
    "HF_TOKEN_ENV",
    "TRAINING_DATA_KEYS",
    "FlockAPIError",
    "FlockClient",
    "Task",
    "download",
    "check_download_url",
    "redact_url",
    "scrub",
    "scrub_payload",
    "submission_body",
]

DEFAULT_BASE_URL = "https://fed-ledger-prod.flock.io/api/v1"
BASE_URL_ENV = "FLOCK_API_BASE_URL"
API_KEY_ENV = "FLOCK_API_KEY"
HF_TOKEN_ENV = "HF_TOKEN"
#: Where tasks have put the training data's URL over time (first present wins).
TRAINING_DATA_KEYS = ("training_set_url", "training_data_url", "training_zip_url", "dataset_url")
#: Where tasks have put a Hugging Face dataset id instead.
HF_DATASET_KEYS = ("training_hf_dataset", "hf_dataset_id", "training_dataset_id")
_SECRET_ENVS = (API_KEY_ENV, HF_TOKEN_ENV)
_USER_AGENT = "synthera-flock/1"


class FlockAPIError(UserInputError):
    """The FLock API refused a request, or stayed unreachable after the retries."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


def scrub(text: str) -> str:
    """``text`` with ``FLOCK_API_KEY``, ``HF_TOKEN`` and anything :func:`~synthera._secrets.redact` finds masked."""
    text = str(text)
    for name in _SECRET_ENVS:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return redact(text)


def scrub_payload(payload):
    """A server's JSON answer with every string (keys too) passed through :func:`scrub`.

    A value under a secret-looking key (``token``, ``api_key``, ``signature``...)
    is masked even when it is not a string.
    """
    if isinstance(payload, dict):
        out = {}
        for key, value in payload.items():
            clean_key = scrub(key)
            masked = redact(f"{key}=x") != f"{key}=x" and value is not None
            out[clean_key] = "***" if masked and not isinstance(value, (dict, list)) else scrub_payload(value)
        return out
    if isinstance(payload, (list, tuple)):
        return [scrub_payload(v) for v in payload]
    if isinstance(payload, str):
        return scrub(payload)
    return payload


def check_download_url(url: str) -> str:
    """``url`` when it is http(s); otherwise a one-line refusal (a task must not make us read local files)."""
    try:
        scheme = urllib.parse.urlsplit(str(url)).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        raise UserInputError(f"refusing to download {redact_url(str(url))}: only http:// and https:// URLs are "
                             "accepted for a task's data; download it yourself and pass data FILE.jsonl")
    return url


def redact_url(url: str) -> str:
    """A URL without its query string and credentials (presigned URLs carry signatures there)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<url>"
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    shown = urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))
    return shown + ("?…" if parts.query else "")


def _check_base_url(url: str) -> str:
    url = str(url).strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserInputError(f"FLock API base URL must start with http:// or https://; got {redact_url(url)!r}")
    return url


def _task_id(task_id) -> int:
    try:
        value = int(task_id)
    except (TypeError, ValueError):
        raise UserInputError(f"task id must be a whole number; got {task_id!r}") from None
    if value < 0 or str(value) != str(task_id).strip():
        raise UserInputError(f"task id must be a whole number >= 0; got {task_id!r}")
    return value


def _number(value) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


@dataclass
class Task:
    """A FLock task. Every field of ``data`` is optional; the properties look in all known places."""

    id: int
    title: str = ""
    description: str = ""
    task_type: str = ""
    status: str = ""
    data: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, payload: dict, task_id: int) -> Task:
        if not isinstance(payload, dict):
            raise FlockAPIError(f"FLock API answered task {task_id} with {type(payload).__name__}, not an object")
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        return cls(
            id=_number(payload.get("id")) if _number(payload.get("id")) is not None else task_id,
            title=str(payload.get("title") or ""), description=str(payload.get("description") or ""),
            task_type=str(payload.get("task_type") or ""), status=str(payload.get("status") or ""),
            data=data, raw=payload,
        )

    @property
    def training_data_url(self) -> str | None:
        """The first non-empty of :data:`TRAINING_DATA_KEYS`."""
        for key in TRAINING_DATA_KEYS:
            value = self.data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    @property
    def hf_dataset(self) -> str | None:
        """A Hugging Face dataset id, when the task names one instead of a URL."""
        for key in HF_DATASET_KEYS:
            value = self.data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    @property
    def max_params(self) -> int | None:
        return _number(self.data.get("max_params"))

    @property
    def context_length(self) -> int | None:
        return _number(self.data.get("context_length"))

    @property
    def accepts_submissions(self) -> bool | None:
        """``True`` in ``submission_phase``, ``False`` in another known phase, ``None`` when unstated."""
        return None if not self.status else self.status == "submission_phase"

    def summary(self) -> dict:
        """What ``synthera flock task`` shows (URLs without their signatures)."""
        url = self.training_data_url
        return scrub_payload({
            "id": self.id, "title": self.title, "task_type": self.task_type or None, "status": self.status or None,
            "max_params": self.max_params, "context_length": self.context_length,
            "training_data": redact_url(url) if url else self.hf_dataset,
            "duration_in_seconds": self.raw.get("duration_in_seconds"),
            "other_data_keys": sorted(str(k) for k in self.data if k not in
                                      (*TRAINING_DATA_KEYS, *HF_DATASET_KEYS, "max_params", "context_length")),
        })


def submission_body(task_id: int, *, hg_repo_id: str, base_model: str, gpu_type: str, revision: str) -> dict:
    """The JSON body of ``POST /tasks/submit-result``."""
    for name, value in (("hg_repo_id", hg_repo_id), ("base_model", base_model), ("gpu_type", gpu_type),
                        ("revision", revision)):
        if not isinstance(value, str) or not value.strip():
            raise UserInputError(f"{name} must be a non-empty string for a FLock submission")
    if "/" not in hg_repo_id:
        raise UserInputError(f"hg_repo_id must look like user/name; got {hg_repo_id!r}")
    return {"task_id": _task_id(task_id), "data": {"hg_repo_id": hg_repo_id, "base_model": base_model,
                                                   "gpu_type": gpu_type, "revision": revision}}


class FlockClient:
    """Talks to the FLock task API.

    Parameters
    ----------
    base_url
        API root; default ``$FLOCK_API_BASE_URL`` or :data:`DEFAULT_BASE_URL`.
    timeout
        Seconds per HTTP request.
    retries
        Extra attempts after a 5xx answer or a connection error (4xx is never retried).
    backoff
        First wait in seconds; it doubles after every failed attempt.
    sleep
        The wait function (tests pass a fake).
    """

    def __init__(self, base_url: str | None = None, *, timeout: float = 60.0, retries: int = 4, backoff: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"FlockClient(base_url={self.url!r}, retries={self.retries})"

    @property
    def url(self) -> str:
        """The resolved API root."""
        return _check_base_url(self.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL)

    # ------------------------------------------------------------------ API

    def get_task(self, task_id) -> Task:
        """``GET /tasks/get?task_id=N`` as a :class:`Task`."""
        tid = _task_id(task_id)
        payload = self._request("GET", "/tasks/get", params={"task_id": tid})
        return Task.from_json(payload, tid)

    def list_tasks(self) -> list[dict]:
        """``GET /tasks/list``: every task the ledger lists (the key is sent when ``FLOCK_API_KEY`` is set)."""
        payload = self._request("GET", "/tasks/list", auth=bool(os.environ.get(API_KEY_ENV, "").strip()))
        if isinstance(payload, dict):
            payload = payload.get("tasks", payload.get("items", payload.get("data", [])))
        return [t for t in payload if isinstance(t, dict)] if isinstance(payload, list) else []

    def task_type(self, task: Task) -> str:
        """The task's ``task_type``: from its own payload, else from ``GET /tasks/list`` (``""`` if neither says)."""
        if task.task_type:
            return task.task_type
        for entry in self.list_tasks():
            if _number(entry.get("id")) == task.id:
                return str(entry.get("task_type") or "")
        return ""

    def submit_result(self, task_id, *, hg_repo_id: str, base_model: str, gpu_type: str, revision: str) -> dict:
        """``POST /tasks/submit-result``; returns the server's JSON answer (``{}`` if it sent none)."""
        body = submission_body(task_id, hg_repo_id=hg_repo_id, base_model=base_model, gpu_type=gpu_type,
                               revision=revision)
        payload = self._request("POST", "/tasks/submit-result", body=body, auth=True)
        return scrub_payload(payload if isinstance(payload, dict) else {"response": payload})

    # ------------------------------------------------------------------ transport

    def _request(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None,
                 auth: bool = False):
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if auth:
            key = os.environ.get(API_KEY_ENV, "").strip()
            if not key:
                raise UserInputError(f"{API_KEY_ENV} is not set; export your FLock API key (from "
                                     "https://train.flock.io) in the environment")
            headers["flock-api-key"] = key
        what = f"{method} {path}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    text = response.read().decode("utf-8", errors="replace")
            except urllib.error.HTTPError as exc:
                detail = _detail(exc)
                if exc.code < 500:
                    raise FlockAPIError(scrub(f"FLock API refused {what} (HTTP {exc.code}): {detail}"),
                                        status=exc.code) from None
                last = f"HTTP {exc.code}: {detail}"
                continue
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                    TimeoutError) as exc:
                reason = getattr(exc, "reason", None) or exc
                last = f"{type(exc).__name__}: {reason}"
                continue
            if not text.strip():
                return {}
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise FlockAPIError(scrub(f"FLock API answered {what} with something that is not JSON: "
                                          f"{text[:200]!r}")) from None
        raise FlockAPIError(scrub(f"FLock API unreachable for {what} at {redact_url(self.url)} after "
                                  f"{self.retries + 1} attempts ({last}); try again later or check base_url"))


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read().decode("utf-8", errors="replace")
    except Exception:  # noqa: BLE001 - the body is only decoration
        raw = ""
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, ValueError):
        payload = None
    if isinstance(payload, dict) and "detail" in payload:
        detail = payload["detail"]
        raw = detail if isinstance(detail, str) else json.dumps(detail)
    raw = " ".join(str(raw).split())
    return (raw[:300] + "…") if len(raw) > 300 else (raw or exc.reason or "no detail")


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s) (urllib would also follow one to ftp), refusing others in one line."""

    def http_error_302(self, req, fp, code, msg, headers):
        location = headers.get("location") or headers.get("uri")
        if location:
            check_download_url(urllib.parse.urljoin(req.full_url, location))
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def download(url: str, dest: str | os.PathLike, *, timeout: float = 120.0, retries: int = 3, backoff: float = 2.0,
             sleep: Callable[[float], None] = time.sleep) -> Path:
    """Stream an http(s) ``url`` to ``dest`` atomically, retrying 5xx and dropped connections.

    Any other scheme (``file://`` above all: the URL comes from a server) is
    refused, redirects included. Error messages show the URL without its
    query string, so a presigned URL's signature never reaches a log.
    """
    from synthera.io import atomic_path

    check_download_url(url)
    dest = Path(dest)
    opener = urllib.request.build_opener(_HttpOnlyRedirects)
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        try:
            request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
            with opener.open(request, timeout=timeout) as response, atomic_path(dest) as tmp, \
                    open(tmp, "wb") as fh:
                while chunk := response.read(1 << 20):
                    fh.write(chunk)
            return dest
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                raise FlockAPIError(f"download of {redact_url(url)} refused (HTTP {exc.code}); a presigned URL "
                                    "expires after an hour, fetch the task again", status=exc.code) from None
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                TimeoutError) as exc:
            last = f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"
    raise FlockAPIError(f"download of {redact_url(url)} failed after {retries + 1} attempts ({scrub(last)})")
