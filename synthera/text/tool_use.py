"""SynthGen's ``tool-use`` task: function-calling conversations from a ``tools`` schema.

Each example picks a tool (balanced over the tools), samples arguments that
satisfy its JSON schema (required arguments always, optional ones half the
time, enum values from the enum), then asks the model, one short step at a
time, for a user request naming those values, the tool's result, and the
assistant's reply that uses the result. The record has FLock's
function-calling layout, which its validators read::

    {"system": ..., "tools": "<the tool list as a JSON string>",
     "conversations": [{"role": "user", ...}, {"role": "function_call", "content": "{\"name\": ..., "arguments": ...}"},
                       {"role": "observation", ...}, {"role": "assistant", ...}]}

The rule judge drops a request that does not name every string or number
argument (the call would not follow from it), a reply that repeats the
request, and repetitive text. Tools come from ``GenerationConfig.tools``: a
JSON file or a JSON string holding a list of tool specs (``name``,
``description``, ``parameters`` with ``properties``/``required``), or
OpenAI-style ``{"type": "function", "function": {...}}`` entries.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from synthera.errors import UserInputError
from synthera.text.filters import rouge_l, tokens
from synthera.text.tasks import (
    BuiltTask,
    Example,
    _first_paragraph,
    _paragraphs,
    _SeedTask,
    _Stage,
    register_task,
)

__all__ = ["ToolExample", "ToolUseOptions", "ToolUseTask", "load_tools", "sample_arguments"]

_SYSTEM = "You are a helpful assistant that can call the tools listed to answer the user."
_WORDS = {
    "city": ["Oslo", "Lima", "Pune", "Accra", "Quito", "Hanoi", "Perth", "Porto"],
    "name": ["Amina Diallo", "Jonas Berg", "Mei Tanaka", "Carlos Ruiz", "Priya Nair"],
    "date": ["2026-03-14", "2026-07-01", "2026-11-20", "2027-01-05"],
    "email": ["amina@example.org", "jonas@example.com", "mei@example.net"],
    "currency": ["EUR", "USD", "JPY", "INR"],
    "language": ["French", "Swahili", "Japanese", "Portuguese"],
}


def load_tools(spec) -> list[dict]:
    """The tool list from a JSON file path, a JSON string or a list; checked as FLock's validator needs."""
    from synthera.text.prompts import _check_tools

    raw = spec
    if isinstance(spec, (str, Path)) and not str(spec).lstrip().startswith("["):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise UserInputError(f"tools file not found: {path}; pass a JSON file holding a list of tool specs")
        raw = path.read_text(encoding="utf-8")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise UserInputError("tools is not valid JSON; give a list of tool specs") from None
    if isinstance(raw, list):
        raw = [t["function"] if isinstance(t, dict) and isinstance(t.get("function"), dict) else t for t in raw]
    tools = _check_tools(raw, "tools")
    if not tools:
        raise UserInputError("tools is empty; give at least one tool spec")
    return tools


def _value(name: str, spec: dict, rng: random.Random):
    kind = spec.get("type", "string")
    if spec.get("enum"):
        return rng.choice(list(spec["enum"]))
    if kind == "integer":
        return rng.randint(1, 60)
    if kind == "number":
        return round(rng.uniform(1, 500), 1)
    if kind == "boolean":
        return rng.choice([True, False])
    if kind == "array":
        item = spec.get("items") or {"type": "string"}
        return [_value(name.rstrip("s"), item, rng) for _ in range(rng.randint(1, 2))]
    if kind == "object":
        return {}
    key = next((k for k in _WORDS if k in name.lower()), None)
    from synthera.text import seeds as S

    return rng.choice(_WORDS[key]) if key else rng.choice(S.TOPICS)


def sample_arguments(tool: dict, rng: random.Random) -> dict:
    """Arguments for ``tool`` that satisfy its schema: every required one, each optional one half the time."""
    params = tool["parameters"]
    required = set(params.get("required", []))
    return {name: _value(name, spec, rng) for name, spec in params.get("properties", {}).items()
            if name in required or rng.random() < 0.5}


def _mentions(arguments: dict) -> list[str]:
    """The argument values a request must name: strings and numbers (booleans and objects are implied)."""
    out = []
    for value in arguments.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (str, int, float)) and not isinstance(item, bool):
                out.append(str(item))
    return out


@dataclass
class ToolExample(Example):
    """An example whose record has FLock's function-calling layout (tools, call, observation)."""

    tools_json: str = "[]"
    call: str = "{}"
    observation: str = ""

    def record(self) -> dict:
        return {"system": self.system, "tools": self.tools_json, "conversations": [
            {"role": "user", "content": self.user}, {"role": "function_call", "content": self.call},
            {"role": "observation", "content": self.observation}, {"role": "assistant", "content": self.assistant}],
            "meta": self.meta}


class ToolUseTask(_SeedTask):
    """Function-calling conversations balanced over the given tools."""

    name = "tool-use"
    attribute = "tool"
    stages = (_Stage("user", 60, 0.8, ("\n\n",)), _Stage("result", 60, 0.7, ("\n\n",)),
              _Stage("reply", 120, 0.7, ("\n\n\n",)))
    lengths: ClassVar[dict] = {"user": (10, 1_500), "assistant": (10, 1_500)}
    distribution_keys = ("tool",)

    def __init__(self, *, llm, seed: int = 0, tools: list[dict]):
        super().__init__(llm=llm, seed=seed)
        self.tools = tools
        self._by_name = {t["name"]: t for t in tools}

    def attribute_values(self):
        return list(self._by_name)

    def describe(self) -> dict:
        return {**super().describe(), "tools": list(self._by_name)}

    def _job(self, value, rng):
        return {"tool": value, "arguments": sample_arguments(self._by_name[value], rng)}

    @staticmethod
    def _said(arguments: dict) -> str:
        return ", ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in arguments.items())

    def _prompt(self, field, job, rng):
        tool = self._by_name[job["tool"]]
        what = tool.get("description") or tool["name"].replace("_", " ")
        if field == "user":
            return self._chat([], f"Write one short message in which a user asks an assistant for this: {what}. "
                                  f"The message must mention {self._said(job['arguments']) or 'nothing else'}.")
        if field == "result":
            return self._chat([], f"A tool that does this: {what}, was called with {self._said(job['arguments'])}. "
                                  "Write its result as one short factual sentence.")
        return self._chat([], f"The user asked: {job['user']}\nThe tool returned: {job['result']}\n"
                              "Write the assistant's short reply to the user, using the tool's result.",
                          system=_SYSTEM)

    def _clean(self, field, answer):
        return _paragraphs(answer, max_sentences=4) if field == "reply" else _first_paragraph(answer)

    def _example(self, job, rng):
        call = json.dumps({"name": job["tool"], "arguments": job["arguments"]}, ensure_ascii=False)
        observation = json.dumps({"result": job["result"]}, ensure_ascii=False)
        meta = {"task": self.name, "tool": job["tool"], "arguments": job["arguments"]}
        return ToolExample(_SYSTEM, job["user"], job["reply"], {"tool": job["tool"]}, meta,
                           " ".join(tokens(job["tool"] + " " + call + " " + job["user"])),
                           f"{job['user']} {job['reply']}", tools_json=json.dumps(self.tools, ensure_ascii=False),
                           call=call, observation=observation)

    def judge(self, ex: Example) -> str | None:
        low = ex.user.lower()
        missing = [v for v in _mentions(ex.meta["arguments"]) if v.lower() not in low]
        if missing:
            return f"the request does not name {len(missing)} argument value(s) of the call"
        if len(tokens(ex.assistant)) < 4:
            return "reply too thin"
        if rouge_l(ex.user, ex.assistant) >= 0.7:
            return "reply repeats the request"
        if self._looping(ex.user, ex.assistant):
            return "repetitive text"
        return None


@dataclass(frozen=True)
class ToolUseOptions:
    """``tools``: the tool specs to write conversations for (from ``GenerationConfig.tools``)."""

    tools: tuple = ()
    template_ok: ClassVar[bool] = False

    @classmethod
    def from_config(cls, config) -> ToolUseOptions:
        if config.db or config.from_synthetic or config.difficulty:
            raise UserInputError("db, from_synthetic and difficulty only apply to text-to-sql, not tool-use")
        if getattr(config, "tools", None) is None:
            raise UserInputError("tool-use needs tools: a JSON file (or JSON string) with a list of tool specs")
        return cls(tuple(load_tools(config.tools)))

    def config_fields(self) -> dict:
        return {"difficulty": None, "tools": json.dumps(list(self.tools), ensure_ascii=False)}

    def budget(self, n: int, has_model: bool) -> int:
        return max(20, 6 * n)

    def build(self, *, llm, seed: int, out: Path | None, progress: bool) -> BuiltTask:
        return BuiltTask(ToolUseTask(llm=llm, seed=seed, tools=list(self.tools)))


register_task("tool-use", ToolUseOptions, aliases=("tools", "function-calling", "function_calling"))
