"""SynthGen's tool-use task: conversations with tools, a function call and its observation, from a schema."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from synthera.cli import app
from synthera.errors import UserInputError
from synthera.text.finetune import read_conversations
from synthera.text.llm import FakeLLM
from synthera.text.pipeline import GenerationConfig, generate
from synthera.text.prompts import encode_conversation, read_conversation
from synthera.text.tasks import available_tasks
from synthera.text.tool_use import load_tools, sample_arguments
from tests.text.conftest import one_line_error

TOOLS = [
    {"name": "get_weather", "description": "Current weather for a city",
     "parameters": {"type": "object", "properties": {
         "city": {"type": "string", "description": "City name"},
         "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}},
    {"type": "function", "function": {"name": "convert", "description": "Convert an amount of money",
                                      "parameters": {"type": "object", "properties": {
                                          "amount": {"type": "number"}, "currency": {"type": "string"},
                                          "round": {"type": "boolean"}}, "required": ["amount", "currency"]}}},
]


def _echo_values(text, rng):
    """A scripted model: a request naming every value the prompt lists, and plain sentences otherwise."""
    if "The message must mention" in text:
        return "Please help me with " + text.split("The message must mention", 1)[1].strip().rstrip(".") + "."
    words = ["river", "amber", "quiet", "lantern", "orbit", "meadow", "copper", "harbor", "violet", "summit",
             "willow", "ember", "canyon", "falcon", "prism", "tundra", "cobalt", "saffron", "glacier", "thistle"]
    if "Write its result" in text:
        return "The service answered: " + " ".join(rng.sample(words, 6)) + "."
    return "I checked that for you, and here it is: " + " ".join(rng.sample(words, 10)) + "."


def test_the_task_is_registered_and_reads_openai_style_tools():
    assert "tool-use" in available_tasks()
    tools = load_tools(json.dumps(TOOLS))
    assert [t["name"] for t in tools] == ["get_weather", "convert"]


def test_sampled_arguments_satisfy_the_schema():
    rng = random.Random(0)
    tools = load_tools(TOOLS)
    for _ in range(30):
        args = sample_arguments(tools[1], rng)
        assert isinstance(args["amount"], float) and isinstance(args["currency"], str)
        assert set(args) <= {"amount", "currency", "round"}
        weather = sample_arguments(tools[0], rng)
        assert "city" in weather and weather.get("unit", "celsius") in ("celsius", "fahrenheit")


def test_generated_records_have_the_validators_function_calling_shape(tmp_path):
    result = generate(GenerationConfig(task="tool-use", n=6, seed=1, model="fake", tools=TOOLS),
                      out=tmp_path / "gen.jsonl", llm=FakeLLM(_echo_values))
    assert len(result.records) == 6
    assert result.stats["distribution"]["tool"] == {"get_weather": 3, "convert": 3}
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in result.records))
    for record in read_conversations(path):
        conv = read_conversation(record)
        assert [role for role, _ in conv.turns] == ["user", "function_call", "observation", "assistant"]
        call = json.loads(conv.turns[1][1])
        assert call["name"] in ("get_weather", "convert") and isinstance(call["arguments"], dict)
        for value in call["arguments"].values():
            if isinstance(value, str):
                assert value.lower() in conv.turns[0][1].lower()  # the request names what the call uses

        class Chars:
            eos_token = "<|im_end|>"

            def encode(self, text, add_special_tokens=False):
                return [ord(c) for c in text]

        enc = encode_conversation(record, Chars(), template="qwen1.5")
        text = "".join(map(chr, enc.input_ids))
        assert "> Tool Name: get_weather" in text and "Action: " + call["name"] in text


def test_a_request_that_does_not_name_the_arguments_is_dropped(tmp_path):
    result = generate(GenerationConfig(task="tool-use", n=2, seed=0, model="fake", tools=TOOLS, max_candidates=6),
                      out=tmp_path / "gen.jsonl", llm=FakeLLM(lambda text, rng: "Hello there."))
    assert result.records == [] and result.stats["dropped"]["judge_rejection"] > 0


def test_tools_errors_are_one_line(tmp_path):
    with pytest.raises(UserInputError, match="tool-use needs tools"):
        GenerationConfig(task="tool-use", n=1, model="fake").validated()
    with pytest.raises(UserInputError, match="tools only applies to tool-use"):
        GenerationConfig(task="qa", n=1, model="fake", tools=TOOLS).validated()
    with pytest.raises(UserInputError, match="tools file not found"):
        GenerationConfig(task="tool-use", n=1, model="fake", tools=str(tmp_path / "nope.json")).validated()
    with pytest.raises(UserInputError, match="tool 1 needs"):
        load_tools([{"name": "x"}])
    one_line_error(CliRunner().invoke(app, ["text", "generate", "--task", "tool-use", "--n", "2", "--model", "fake",
                                            "--out", str(tmp_path / "o.jsonl")]), "tool-use needs tools")


def test_cli_writes_tool_use_data(tmp_path):
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(TOOLS))
    out = tmp_path / "calls.jsonl"
    result = CliRunner().invoke(app, ["text", "generate", "--task", "tool-use", "--n", "3", "--model", "fake",
                                      "--tools", str(tools), "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and all(json.loads(r["tools"])[0]["name"] == "get_weather" for r in lines)
