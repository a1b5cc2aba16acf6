"""The local proxy of FLock's llm_judge score: references, rubrics, verdict parsing, the formula, sampling."""

from __future__ import annotations

import json

import pytest

from synthera.errors import UserInputError
from synthera.text.judge import (
    NOT_REPRODUCIBLE,
    SAMPLING,
    judge_items,
    judge_messages,
    judge_proxy,
    judge_score,
    parse_verdict,
)
from synthera.text.llm import FakeLLM

TOOLS = [{"name": "get_weather", "description": "Weather", "parameters": {"properties": {"city": {"type": "string"}},
                                                                          "required": ["city"]}}]
CALL_LAST = {"system": "s", "tools": json.dumps(TOOLS), "conversations": [
    {"role": "user", "content": "Weather in Oslo?"}, {"role": "assistant", "content": "Let me check."},
    {"role": "user", "content": "Go on."},
    {"role": "function_call", "content": json.dumps({"name": "get_weather", "arguments": {"city": "Oslo"}})}]}
ANSWER_LAST = {"conversations": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}


def test_the_validators_sampling_settings():
    assert SAMPLING == {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "max_new_tokens": 2048}
    assert "cannot be reproduced offline" in NOT_REPRODUCIBLE


def test_the_last_assistant_or_function_call_is_the_reference():
    call, answer = judge_items([CALL_LAST, ANSWER_LAST])
    assert call.call_reference and call.reference.startswith("Action: get_weather")
    assert [m["role"] for m in call.messages] == ["system", "user", "assistant", "user"]
    assert answer.reference == "Hello!" and answer.messages == [{"role": "user", "content": "Hi"}]


def test_rubrics_are_picked_by_what_the_item_has():
    call, answer = judge_items([CALL_LAST, ANSWER_LAST])
    text = judge_messages(call, "Action: get_weather")[-1]["content"]
    assert "Compare its call with the reference call" in text and "[Tools]" in text and '"score"' in text
    assert "[Reference reply]\nHello!" in judge_messages(answer, "Hi there")[-1]["content"]
    general = judge_messages(answer, "Hi there", rubric="general")[-1]["content"]
    assert "[Reference reply]" not in general and "[Reply to grade]\nHi there" in general
    with pytest.raises(UserInputError, match="unknown judge rubric"):
        judge_messages(answer, "x", rubric="best")


@pytest.mark.parametrize("reply, verdict", [
    ('{"score": 8, "confidence": 0.9, "reasoning": "fine"}', (8.0, 0.9)),
    ('Sure! ```json\n{"reasoning": "ok", "score": "7", "confidence": 0.5}\n```', (7.0, 0.5)),
    ('{"score": 14, "confidence": 3}', (10.0, 1.0)),
    ('{"score": 6}', (6.0, 1.0)),
    ("no verdict at all", None),
    ('{"score": "high", "confidence": 1}', None),
])
def test_parse_verdict(reply, verdict):
    assert parse_verdict(reply) == verdict


def test_score_is_mean_of_score_times_confidence_over_ten():
    assert judge_score([(8, 0.5), (10, 1.0)]) == pytest.approx((4 + 10) / 2 / 10)
    assert judge_score([]) == 0.0


def test_proxy_samples_with_the_tiny_model_and_grades_every_answer(tmp_path):
    from tests.flock.tiny_lm import build_tiny_model

    folder = build_tiny_model(tmp_path / "m")
    from synthera.text.finetune import load_base_model

    model, tokenizer = load_base_model(str(folder))
    seen = []

    def grade(text, rng):
        seen.append(text)
        return '{"score": 9, "confidence": 0.5}' if "[Tools]" in text else "I refuse to grade."

    out = judge_proxy(model, tokenizer, [CALL_LAST, ANSWER_LAST], FakeLLM(grade), repeats=2, max_new_tokens=4)
    assert out["judged_answers"] == 2 and out["verdicts"] == 4 and out["unreadable_verdicts"] == 2
    # unreadable verdicts count as score 5 with confidence 0, as in the validator
    assert out["judge_proxy_score"] == pytest.approx((9 * 0.5 * 2 + 0 * 2) / 4 / 10)
    assert out["note"] == NOT_REPRODUCIBLE and len(seen) == 4
