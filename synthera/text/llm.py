"""Language-model backends behind one small protocol, and a disk cache that makes runs resumable.

Every backend has one method::

    generate(prompts, *, max_new_tokens=128, temperature=0.0, seed=0, stop=None) -> list[str]

A prompt is either a string (sent as one user message) or a list of chat
messages ``[{"role": "system"|"user"|"assistant", "content": ...}]``. The
answer is the new text only, one string per prompt, in order, cut before the
first of the ``stop`` strings.

* :class:`HFLocalLLM`: a local Hugging Face folder (or a GGUF file inside
  one), batched generation through the model's chat template, seeded.
* :class:`OpenAICompatibleLLM`: any ``/v1/chat/completions`` server (vLLM,
  llama.cpp server, Ollama, hosted APIs); the API key is read from an
  environment variable and never printed.
* :class:`FakeLLM`: deterministic, instant, for tests.
* :class:`CachedLLM` wraps any of them and stores each answer in a JSON Lines
  file keyed by a hash of (model, prompt, settings, seed); a re-run reads the
  answers it already has, so an interrupted run resumes where it stopped.

:func:`get_llm` turns the CLI's ``--model`` string into a backend.

>>> from synthera.text.llm import FakeLLM
>>> FakeLLM().generate(["Reply in exactly this format:\\nTitle: <a title>"])[0].startswith("Title:")
True
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, Union, runtime_checkable

from synthera.errors import UserInputError

__all__ = [
    "LLM",
    "CachedLLM",
    "FakeLLM",
    "HFLocalLLM",
    "LLMError",
    "OpenAICompatibleLLM",
    "Prompt",
    "get_llm",
    "prompt_key",
]

Prompt = Union[str, Sequence[dict]]  # noqa: UP007 - a runtime alias, kept for Python 3.9 readers
DEFAULT_API_KEY_ENV = "SYNTHERA_API_KEY"


class LLMError(UserInputError):
    """A backend failed in a way a retry did not fix (server down, bad key, bad reply).

    It is a :class:`UserInputError` because the fix is on the user's side
    (start the server, correct the URL, the model name or the key), so the CLI
    prints it as one line.
    """


@runtime_checkable
class LLM(Protocol):
    """What every backend implements."""

    #: A stable name for the model, used in cache keys and the manifest.
    model_id: str

    def generate(
        self, prompts: Sequence[Prompt], *, max_new_tokens: int = 128, temperature: float = 0.0, seed: int = 0,
        stop: Sequence[str] | None = None,
    ) -> list[str]:
        """One completion per prompt, in order, cut before the first ``stop`` string."""


def _messages(prompt: Prompt) -> list[dict]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]


def prompt_key(
    model_id: str, prompt: Prompt, *, max_new_tokens: int, temperature: float, seed: int,
    stop: Sequence[str] | None = None,
) -> str:
    """The cache key of one generation: a SHA-256 over everything that changes its answer."""
    payload = json.dumps(
        {"model": model_id, "messages": _messages(prompt), "max_new_tokens": int(max_new_tokens),
         "temperature": round(float(temperature), 6), "seed": int(seed), "stop": list(stop or [])},
        sort_keys=True, ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- local Hugging Face models


class HFLocalLLM:
    """Generate with a local Hugging Face causal language model, in batches.

    Parameters
    ----------
    model
        A model folder, ``None``/``"smollm2"`` for the bundled SmolLM2-135M-Instruct
        (see :func:`synthera.text.models.local_model_dir`), or a folder holding
        ``gguf_file``.
    gguf_file
        Load this GGUF file from the folder instead of safetensors weights.
    batch_size
        Prompts per forward pass.
    system
        A system message prepended to string prompts (chat lists keep their own).

    Notes
    -----
    The model loads on the first call to :meth:`generate`. Sampling is seeded
    per batch (``torch.manual_seed``), so the same prompts in the same batches
    give the same text.
    """

    def __init__(self, model=None, *, gguf_file: str | None = None, batch_size: int = 8, system: str | None = None):
        self.model = model
        self.gguf_file = gguf_file
        self.batch_size = batch_size
        self.system = system
        self._lm = None
        self._tok = None
        if gguf_file:
            self.model_id = f"{Path(os.fspath(model)).name}/{gguf_file}"
        elif model is None or str(model).strip().lower().startswith("smollm2"):
            self.model_id = "smollm2-135m-instruct"
        else:
            self.model_id = Path(os.fspath(model)).resolve().name

    def __repr__(self) -> str:
        return f"HFLocalLLM(model_id={self.model_id!r}, batch_size={self.batch_size})"

    def _load(self):
        if self._lm is None:
            from synthera.text.models import load_causal_lm

            self._lm, self._tok = load_causal_lm(self.model, gguf_file=self.gguf_file)
        return self._lm, self._tok

    def _render(self, prompt: Prompt) -> str:
        tok = self._tok
        messages = _messages(prompt)
        if isinstance(prompt, str) and self.system:
            messages = [{"role": "system", "content": self.system}, *messages]
        if getattr(tok, "chat_template", None):
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # No chat template (a base model): plain text, roles as labels.
        lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
        return "\n".join(lines) + "\nAssistant:"

    def generate(
        self, prompts: Sequence[Prompt], *, max_new_tokens: int = 128, temperature: float = 0.0, seed: int = 0,
        stop: Sequence[str] | None = None,
    ) -> list[str]:
        import torch

        if not prompts:
            return []
        lm, tok = self._load()
        out: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = [self._render(p) for p in prompts[start:start + self.batch_size]]
            enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
            kwargs = {"max_new_tokens": int(max_new_tokens), "pad_token_id": tok.pad_token_id}
            if stop:
                kwargs.update(stop_strings=list(stop), tokenizer=tok)
            if temperature > 0:
                kwargs.update(do_sample=True, temperature=float(temperature), top_p=0.95)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            torch.manual_seed(int(seed) + start)
            with torch.inference_mode():
                ids = lm.generate(**enc, **kwargs)
            new = ids[:, enc["input_ids"].shape[1]:]
            out.extend(_cut(t, stop) for t in tok.batch_decode(new, skip_special_tokens=True))
        return out


# --------------------------------------------------------------------------- OpenAI-compatible HTTP


class OpenAICompatibleLLM:
    """Chat completions from an OpenAI-compatible server.

    Parameters
    ----------
    base_url
        The API root, e.g. ``http://localhost:8000/v1`` (vLLM, llama.cpp
        server), ``http://localhost:11434/v1`` (Ollama) or a hosted API.
    model
        The model name the server expects.
    api_key_env
        Name of the environment variable holding the key (default
        ``SYNTHERA_API_KEY``, then ``OPENAI_API_KEY``). The key is sent as a
        bearer token and never printed, logged or shown in errors or reprs.
    timeout_s, retries, backoff_s
        Per-request timeout; retries on connection errors, 429 and 5xx with
        exponential backoff.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = None,
        timeout_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        system: str | None = None,
    ):
        self.base_url = base_url
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.system = system
        self.model_id = f"{model}@{_host(base_url)}"

    def __repr__(self) -> str:  # never the key
        return f"OpenAICompatibleLLM(base_url={_host(self.base_url)!r}, model={self.model!r})"

    def _key(self) -> str | None:
        names = [self.api_key_env] if self.api_key_env else [DEFAULT_API_KEY_ENV, "OPENAI_API_KEY"]
        for name in names:
            value = os.environ.get(name)
            if value:
                return value
        return None

    def _post(self, payload: dict) -> dict:
        import urllib.error
        import urllib.request

        url = self.base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json"}
        key = self._key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(payload).encode("utf-8")
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code in (401, 403):
                    raise LLMError(
                        f"{_host(self.base_url)} refused the request ({last}); check the API key in "
                        f"${self.api_key_env or DEFAULT_API_KEY_ENV}"
                    ) from None
                if exc.code not in (408, 409, 429) and exc.code < 500:
                    raise LLMError(f"{_host(self.base_url)} answered {last}; check model_name and the URL") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = type(reason).__name__ if not isinstance(reason, str) else reason
                if isinstance(reason, (ConnectionRefusedError, socket.gaierror)):
                    break  # nothing listens there, or the host name is unknown: retrying will not help
            except json.JSONDecodeError:
                last = "a reply that is not JSON"
        raise LLMError(
            f"cannot reach the model endpoint {_host(self.base_url)} ({last}); "
            "check that the server is running and the URL ends in /v1"
        )

    def generate(
        self, prompts: Sequence[Prompt], *, max_new_tokens: int = 128, temperature: float = 0.0, seed: int = 0,
        stop: Sequence[str] | None = None,
    ) -> list[str]:
        out = []
        for i, prompt in enumerate(prompts):
            messages = _messages(prompt)
            if isinstance(prompt, str) and self.system:
                messages = [{"role": "system", "content": self.system}, *messages]
            payload = {
                "model": self.model, "messages": messages, "max_tokens": int(max_new_tokens),
                "temperature": float(temperature), "seed": int(seed) + i,
            }
            if stop:
                payload["stop"] = list(stop)[:4]  # the OpenAI API takes up to four
            reply = self._post(payload)
            try:
                out.append(_cut(str(reply["choices"][0]["message"]["content"] or ""), stop))
            except (KeyError, IndexError, TypeError):
                raise LLMError(f"{_host(self.base_url)} sent a reply without choices[0].message.content") from None
        return out


def _cut(text: str, stop: Sequence[str] | None) -> str:
    """``text`` up to the first stop string (a model or server may run past it)."""
    for s in stop or ():
        if s and s in text:
            text = text[: text.index(s)]
    return text.strip()


def _host(url: str) -> str:
    """Scheme, host and path of a URL, without any user:password part."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


# --------------------------------------------------------------------------- fake


_FAKE_WORDS = [
    "river", "market", "garden", "signal", "harbor", "lantern", "meadow", "archive", "circuit", "compass", "orchard",
    "canyon", "beacon", "ledger", "festival", "workshop", "satellite", "glacier", "village", "library", "bakery",
    "tunnel", "station", "forest", "engine", "theater", "bridge", "island", "vineyard", "museum", "highway", "clinic",
    "studio", "factory", "valley", "tower", "harbor", "school", "kitchen",
]
_FIELD = re.compile(r"^([A-Z][A-Za-z ]{0,30}):\s*<([^>]*)>\s*$")


class FakeLLM:
    """A deterministic stand-in model for tests: same prompt and seed, same answer.

    It answers from the words of the last user message (see
    :func:`_fake_answer`), so every task's cleaning and judge accept its answers
    and a whole pipeline runs without a model.

    Parameters
    ----------
    responder
        Optional ``f(prompt_text, rng) -> str`` to script the answers.
    fail_every
        Return an empty answer for every k-th prompt (to test drop accounting).
    """

    model_id = "fake"

    def __init__(self, responder: Callable[[str, random.Random], str] | None = None, *, fail_every: int = 0):
        self.responder = responder
        self.fail_every = fail_every
        self.calls = 0

    def __repr__(self) -> str:
        return "FakeLLM()"

    def generate(
        self, prompts: Sequence[Prompt], *, max_new_tokens: int = 128, temperature: float = 0.0, seed: int = 0,
        stop: Sequence[str] | None = None,
    ) -> list[str]:
        out = []
        for prompt in prompts:
            self.calls += 1
            messages = _messages(prompt)
            text = "\n".join(m["content"] for m in messages)
            digest = hashlib.sha256(f"{seed}|{temperature}|{text}".encode()).hexdigest()
            rng = random.Random(int(digest[:16], 16))
            if self.fail_every and self.calls % self.fail_every == 0:
                out.append("")
            elif self.responder is not None:
                out.append(self.responder(text, rng))
            else:
                last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), text)
                out.append(_fake_answer(last, rng, max_new_tokens))
        return out


def _sentence(rng: random.Random, extra: Sequence[str], words: int) -> str:
    pool = list(extra) or list(_FAKE_WORDS)
    chosen = [rng.choice(pool) for _ in range(words)]
    return chosen[0].capitalize() + " " + " ".join(chosen[1:]) + "."


def _fake_answer(text: str, rng: random.Random, max_new_tokens: int = 128) -> str:
    """Made-up text built from the words of the last user message, sized by ``max_new_tokens``.

    A ``Draft question:`` line is echoed back politely (so a back-translation
    keeps every column and value); a request for a question gets one ending in
    ``?``; a ``Reply in exactly this format:`` block gets each of its fields.
    """
    pool = [w.lower() for w in re.findall(r"[A-Za-z]{4,}", text)]
    words = max(6, min(60, max_new_tokens // 3))
    for line in text.splitlines():
        if line.lower().startswith("draft question:"):
            draft = line.split(":", 1)[1].strip()
            return f"Could you tell me this: {draft[0].lower() + draft[1:]}"
    if "Reply in exactly this format:" in text:
        block = text.rsplit("Reply in exactly this format:", 1)[1].splitlines()
        fields = [m.group(1) for m in (_FIELD.match(line.strip()) for line in block) if m]
        return "\n".join(f"{name}: {_sentence(rng, pool, rng.randint(8, 13))}" for name in fields)
    first = text.lower().split("\n", 1)[0]
    if first.startswith(("write", "ask")) and "question" in first:
        return "What " + " ".join(rng.choice(pool or _FAKE_WORDS) for _ in range(rng.randint(5, 9))) + "?"
    sentences = []
    while sum(len(s.split()) for s in sentences) < words:
        sentences.append(_sentence(rng, pool, rng.randint(8, 12)))
    return " ".join(sentences)


# --------------------------------------------------------------------------- cache


class CachedLLM:
    """Wrap a backend with a JSON Lines answer cache, so an interrupted run resumes.

    Each answered prompt appends one line ``{"key": ..., "text": ...}`` to
    ``path`` and flushes it at once. On construction the file is read back
    (a torn last line from a crash is ignored); prompts already answered are
    not sent again.

    Parameters
    ----------
    llm
        The backend to wrap.
    path
        The cache file; created with its folder if missing.
    """

    def __init__(self, llm: LLM, path: str | os.PathLike):
        self.llm = llm
        self.path = Path(path)
        self.model_id = llm.model_id
        self.hits = 0
        self.misses = 0
        self.seconds = 0.0
        self._cache: dict[str, str] = {}
        if self.path.is_file():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        row = json.loads(line)
                        self._cache[row["key"]] = row["text"]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue

    def __repr__(self) -> str:
        return f"CachedLLM({self.llm!r}, path={str(self.path)!r}, entries={len(self._cache)})"

    def __len__(self) -> int:
        return len(self._cache)

    def generate(
        self, prompts: Sequence[Prompt], *, max_new_tokens: int = 128, temperature: float = 0.0, seed: int = 0,
        stop: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
    ) -> list[str]:
        """Like the backend's ``generate``; ``seeds`` gives each prompt its own seed (and cache key)."""
        seeds = list(seeds) if seeds is not None else [seed] * len(prompts)
        keys = [
            prompt_key(self.model_id, p, max_new_tokens=max_new_tokens, temperature=temperature, seed=s, stop=stop)
            for p, s in zip(prompts, seeds, strict=True)
        ]
        todo = [i for i, k in enumerate(keys) if k not in self._cache]
        self.hits += len(prompts) - len(todo)
        if todo:
            start = time.perf_counter()
            kwargs = {"stop": list(stop)} if stop else {}
            answers = self.llm.generate(
                [prompts[i] for i in todo], max_new_tokens=max_new_tokens, temperature=temperature,
                seed=seeds[todo[0]], **kwargs,
            )
            self.seconds += time.perf_counter() - start
            if len(answers) != len(todo):
                raise LLMError(f"{self.model_id} returned {len(answers)} answers for {len(todo)} prompts")
            self.misses += len(todo)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                for i, text in zip(todo, answers, strict=True):
                    self._cache[keys[i]] = text
                    fh.write(json.dumps({"key": keys[i], "text": text}, ensure_ascii=False) + "\n")
                fh.flush()
        return [self._cache[k] for k in keys]


# --------------------------------------------------------------------------- factory


def get_llm(
    spec: str | None = None,
    *,
    model_name: str | None = None,
    api_key_env: str | None = None,
    batch_size: int = 8,
    timeout_s: float = 60.0,
) -> LLM:
    """Build a backend from a ``--model`` string.

    Parameters
    ----------
    spec
        ``None``/``"smollm2"``: the bundled SmolLM2-135M-Instruct; ``"fake"``:
        :class:`FakeLLM`; ``http(s)://host/v1``: an OpenAI-compatible endpoint
        (``model_name`` required); a folder: a local Hugging Face model; a
        ``.gguf`` file: that file loaded through transformers.
    """
    if spec is None or spec.strip().lower() in ("smollm2", "default"):
        return HFLocalLLM(None, batch_size=batch_size)
    if spec.strip().lower() == "fake":
        return FakeLLM()
    if spec.startswith(("http://", "https://")):
        name = model_name or os.environ.get("SYNTHERA_LLM_MODEL")
        if not name:
            raise UserInputError(
                f"model {_host(spec)} is an HTTP endpoint; also pass model_name with the model the server serves"
            )
        return OpenAICompatibleLLM(spec, name, api_key_env=api_key_env, timeout_s=timeout_s)
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return HFLocalLLM(path.parent, gguf_file=path.name, batch_size=batch_size)
    from synthera.text.models import local_model_dir

    return HFLocalLLM(local_model_dir(spec), batch_size=batch_size)
