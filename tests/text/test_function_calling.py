"""Function-calling conversations (tools, function_call, observation) read and rendered as FLock's validator does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthera.errors import UserInputError
from synthera.text.prompts import (
    encode_conversation,
    generation_prompt,
    read_conversation,
    render_function_call,
    render_tools,
    split_conversation,
)

DEMO = Path(__file__).parents[1] / "flock" / "data" / "function_calling_demo.jsonl"


class CharTokenizer:
    """One token per character, so a rendering can be read back exactly."""

    eos_token = "</s>"
    chat_template = None

    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text]


def _records():
    return [json.loads(line) for line in DEMO.read_text().splitlines()]


def _text(enc, *, targets=False):
    return "".join(chr(t) for t, m in zip(enc.input_ids, enc.target_mask, strict=True) if m or not targets)


def test_the_validators_demo_shape_loads():
    from synthera.text.finetune import read_conversations

    records = read_conversations(DEMO)  # used to stop at line 1: "turns must alternate user, assistant"
    assert len(records) == 3
    conv = read_conversation(records[0])
    assert [role for role, _ in conv.turns].count("function_call") == 1 and conv.tools[0]["name"] == "get_weather"


def test_qwen_rendering_matches_the_validator_byte_for_byte():
    # Expected text produced by FLock's llm-loss-validator (7b6f484) UnifiedSFTDataset on this record.
    enc = encode_conversation(_records()[2], CharTokenizer(), template="qwen1.5")
    assert _text(enc) == (
        "<|im_start|>system\nyou are a helpful assistant.<|im_end|>\n"
        "You have access to the following tools:\n> Tool Name: find_books\nTool Description: Search a library "
        "catalogue\nTool Args:\n  - authors (array, required): Author names, where each item should be string\n"
        "  - year (integer): Publication year\n\nUse the following format if using a tool:\n```\n"
        "Action: tool name (one of [find_books])\nAction Input: the input to the tool, in a JSON format representing "
        'the kwargs (e.g. ```{"input": "hello world", "num_beams": 5}```)\n```\n'
        "<|im_start|>user\nI want novels by Ursula K. Le Guin.<|im_end|>\n<|im_start|>assistant\n"
        "<|im_start|>user\nOnly ones from 1969.<|im_end|>\n<|im_start|>assistant\n"
        'Action: find_books\nAction Input: {"authors": ["Ursula K. Le Guin"], "year": 1969}\n\n'
        '<|im_start|>tool\n{"books": ["The Left Hand of Darkness"]}<im_end>\n<|im_start|>assistant\n'
        "In 1969 she published The Left Hand of Darkness.<|im_end|>\n"
    )
    # calls and observations are context: only the assistant's answer is a target
    assert _text(enc, targets=True) == "In 1969 she published The Left Hand of Darkness.<|im_end|>\n"


def test_an_empty_tools_string_still_renders_the_header_as_the_validator_does():
    enc = encode_conversation(_records()[1], CharTokenizer(), template="qwen1.5")
    assert "Action: tool name (one of [])" in _text(enc)
    no_tools = {k: v for k, v in _records()[1].items() if k != "tools"}
    assert "You have access" not in _text(encode_conversation(no_tools, CharTokenizer(), template="qwen1.5"))


def test_phi4_wraps_tools_and_calls_in_its_own_tags():
    enc = encode_conversation(_records()[0], CharTokenizer(), template="phi4")
    text = _text(enc)
    assert text.startswith("<|tool|>You have access") and "<|/tool|>" in text
    call = 'Action: get_weather\nAction Input: {"city": "Oslo", "unit": "celsius"}\n\n'
    assert f"<|tool_call|>{call}<|/tool_call|>" in text


def test_trailing_context_and_unknown_roles_are_ignored():
    record = {"conversations": [{"role": "user", "content": "q"}, {"role": "critic", "content": "ignored"},
                                {"role": "assistant", "content": "a"}, {"role": "user", "content": "left over"}]}
    text = _text(encode_conversation(record, CharTokenizer(), template="qwen1.5"))
    assert "ignored" not in text and "left over" not in text
    assert split_conversation(record) == (None, [("q", "a")])


def test_split_conversation_joins_context_turns():
    system, pairs = split_conversation(_records()[2])
    assert system == "you are a helpful assistant." and len(pairs) == 1
    context, answer = pairs[0]
    assert context.startswith("I want novels") and "Only ones from 1969." in context
    assert "Action: find_books" in context and "The Left Hand of Darkness" in answer


def test_render_helpers():
    assert render_function_call({"name": "f", "arguments": {"x": "é"}}) == 'Action: f\nAction Input: {"x": "é"}\n\n'
    two = render_function_call([{"name": "f", "arguments": {}}, {"name": "g", "arguments": {"y": 1}}])
    assert two == 'Action: f\nAction Input: {}\n\nAction: g\nAction Input: {"y": 1}\n\n'
    tools = [{"name": "t", "parameters": {"properties": {"u": {"type": "string", "enum": ["a", "b"]}}}}]
    assert "  - u (string): , should be one of [a, b]\n" in render_tools(tools)


@pytest.mark.parametrize("record, message", [
    ({"conversations": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]}, "alternate"),
    ({"conversations": [{"role": "user", "content": "y"}]}, "at least one user turn followed by one assistant"),
    ({"conversations": [{"role": "user", "content": "q"}, {"role": "function_call", "content": "not json"},
                        {"role": "assistant", "content": "a"}]}, "turn 2 \\(function_call\\) is not JSON"),
    ({"conversations": [{"role": "user", "content": "q"}, {"role": "function_call", "content": '{"name": "f"}'},
                        {"role": "assistant", "content": "a"}]}, "needs 'name' and 'arguments'"),
    ({"tools": "{oops", "conversations": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
     "'tools' is not valid JSON"),
    ({"tools": [{"name": "t"}], "conversations": [{"role": "user", "content": "q"},
                                                  {"role": "assistant", "content": "a"}]}, "tool 1 needs"),
])
def test_bad_function_calling_records_are_one_line_errors(record, message):
    with pytest.raises(UserInputError, match=message):
        read_conversation(record, where="line 3")


def test_chat_template_path_passes_tools_and_trains_on_tool_calls(tmp_path):
    from tests.flock.tiny_lm import build_tokenizer

    tok = build_tokenizer(tmp_path)
    record = _records()[0]
    enc = encode_conversation(record, tok, template=None)
    targets = tok.decode([t for t, m in zip(enc.input_ids, enc.target_mask, strict=True) if m])
    assert "cannot book taxis" in targets and "Which city" in targets
    assert "Oslo, please" not in targets  # user turns stay context
    prompt, reference = generation_prompt(record, tok, template=None)
    assert prompt.endswith("<|im_start|>assistant\n") and reference.startswith("I'm sorry")
    prompt, _ = generation_prompt(record, tok, template="qwen1.5")
    assert prompt.endswith("Could you book me a taxi too?<|im_end|>\n<|im_start|>assistant\n")
