"""A local proxy of FLock's ``llm_judge`` score: sampled answers, graded by a judge model you run.

FLock's judge validator merges the submitted adapter, samples one answer per
held-out conversation with the base model's own chat template (thinking off;
temperature 0.7, top-p 0.8, top-k 20, up to 2,048 new tokens), and asks
several remote LLM judges to grade each answer from 1 to 10 with a confidence
between 0 and 1. The score is mean(score x confidence) / 10: higher is better.

This module does the same steps locally: :func:`sample_answers` generates
with those settings, and :func:`judge_proxy` has any
:class:`~synthera.text.llm.LLM` grade the answers with the rubrics below
(written for Synthera after the published criteria: a general rubric, one
against a reference answer, and one comparing a function call with the
reference call). **It is only a proxy**: the real score needs FLock's remote
judges, their prompts and their models, and cannot be reproduced offline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from synthera.errors import UserInputError

__all__ = ["NOT_REPRODUCIBLE", "SAMPLING", "JudgeItem", "judge_items", "judge_messages", "judge_proxy",
           "judge_score", "parse_verdict", "sample_answers"]

#: The judge validator's sampling settings.
SAMPLING = {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "max_new_tokens": 2048}
NOT_REPRODUCIBLE = ("local proxy only: the real llm_judge score comes from FLock's remote judge models and "
                    "cannot be reproduced offline")


@dataclass
class JudgeItem:
    """One held-out conversation: the chat messages to answer, the reference (or ``None``) and the tools."""

    messages: list[dict]
    reference: str | None
    tools: list | None
    call_reference: bool = False


def judge_items(records: Sequence[dict]) -> list[JudgeItem]:
    """Split each record as the judge does: the last assistant or function_call turn is the reference."""
    from synthera.text.prompts import Conversation, chat_messages, read_conversation, render_function_call

    items = []
    for i, record in enumerate(records):
        conv = read_conversation(record, where=f"held-out conversation {i}")
        role, content = conv.turns[-1]
        reference, head, is_call = None, conv.turns, False
        if role in ("assistant", "function_call"):
            head = conv.turns[:-1]
            is_call = role == "function_call"
            reference = render_function_call(conv.calls[len(conv.turns) - 1]) if is_call else content
        messages = chat_messages(Conversation(conv.system, conv.tools, head, conv.calls))
        items.append(JudgeItem(messages, reference, conv.tools, is_call))
    return items


def sample_answers(model, tokenizer, items: Sequence[JudgeItem], *, max_new_tokens: int = 2048,
                   seed: int = 0) -> list[str]:
    """One sampled answer per item with the judge validator's settings and the tokenizer's chat template."""
    import torch

    from synthera.text.prompts import _need_chat_template, _render

    _need_chat_template(tokenizer)
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    answers = []
    for item in items:
        text = _render(tokenizer, item.messages, generation=True, tools=item.tools)
        inputs = tokenizer(text, return_tensors="pt", add_special_tokens=True).to(device)
        with torch.no_grad():
            out = model.generate(**inputs, **{**SAMPLING, "max_new_tokens": int(max_new_tokens)},
                                 pad_token_id=eos, eos_token_id=eos)
        answers.append(tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    return answers


_ASK = ('Reply with one JSON object and nothing else: {"score": <whole number 1-10>, '
        '"confidence": <number 0-1, how sure you are of the score>, "reasoning": "<one or two sentences>"}.')
_GENERAL = (
    "Grade the final reply of an AI assistant in the conversation below. Judge only that reply, not earlier "
    "turns. Consider: is it correct and grounded; does it meet what the user asked; is it consistent with the "
    "conversation and any system instructions; is it complete and informative without padding; is it clear.\n"
    "Use 1-3 for a reply with serious errors or one that misses the request, 4-6 for a partly useful reply with "
    "clear problems, 7-9 for a good reply with small flaws, 10 for an excellent one."
)
_REFERENCE = (
    "Grade the final reply of an AI assistant against a reference reply written by an expert. Judge only the "
    "final reply. A reply that reaches the same content, facts and intent as the reference scores high even when "
    "worded differently; missing or contradicting what the reference says lowers the score. Use the same 1-10 "
    "scale: 1-3 wrong or unhelpful, 4-6 partly matches, 7-9 matches with small gaps, 10 fully equivalent or better."
)
_CALL = (
    "The assistant had to call a tool. Compare its call with the reference call, given the tool definitions. "
    "Check the tool name first, then every required argument and its value, then optional arguments. A wrong "
    "tool or a missing required argument scores 1-3; right tool with wrong or missing values 4-6; right tool and "
    "values with small differences in format 7-9; an equivalent call 10."
)


def _context(messages: Sequence[dict]) -> str:
    names = {"system": "System", "user": "User", "assistant": "Assistant", "tool": "Observation"}
    parts = []
    for message in messages:
        if message.get("tool_calls"):
            parts.append("Function Call: " + json.dumps(message["tool_calls"][0]["function"], ensure_ascii=False))
        else:
            parts.append(f"{names.get(message['role'], message['role'])}: {message['content']}")
    return "\n\n".join(parts)


def judge_messages(item: JudgeItem, answer: str, *, rubric: str = "auto") -> list[dict]:
    """The chat messages that ask a judge to grade ``answer`` (rubric ``auto``, ``general``, ``reference`` or
    ``call``; ``auto`` picks ``call`` for a function-call reference with tools, else ``reference`` when there is one).
    """
    if rubric == "auto":
        rubric = "call" if item.call_reference and item.tools else "reference" if item.reference else "general"
    if rubric not in ("general", "reference", "call"):
        raise UserInputError(f"unknown judge rubric {rubric!r}; use auto, general, reference or call")
    if rubric != "general" and item.reference is None:
        rubric = "general"
    text = {"general": _GENERAL, "reference": _REFERENCE, "call": _CALL}[rubric]
    text += f"\n\n[Conversation]\n{_context(item.messages)}"
    if rubric == "call":
        text += f"\n\n[Tools]\n{json.dumps(item.tools, ensure_ascii=False)}"
    if rubric != "general":
        text += f"\n\n[Reference reply]\n{item.reference}"
    text += f"\n\n[Reply to grade]\n{answer}\n\n{_ASK}"
    return [{"role": "system", "content": "You are an impartial grader of AI assistant replies."},
            {"role": "user", "content": text}]


_JSON = re.compile(r"\{[^{}]*\"score\"[^{}]*\}", re.DOTALL)


def parse_verdict(text: str) -> tuple[float, float] | None:
    """``(score, confidence)`` from a judge's reply (score clipped to 1-10, confidence to 0-1), or ``None``."""
    match = _JSON.search(text or "")
    if not match:
        return None
    try:
        payload = json.loads(match.group(0))
        score = float(payload["score"])
        confidence = float(payload.get("confidence", 1.0))
    except (ValueError, KeyError, TypeError):
        return None
    if score != score or confidence != confidence:  # NaN
        return None
    return min(max(score, 1.0), 10.0), min(max(confidence, 0.0), 1.0)


def judge_score(verdicts: Sequence[tuple[float, float]]) -> float:
    """mean(score x confidence) / 10, the judge validator's formula (higher is better; 0 with no verdict)."""
    if not verdicts:
        return 0.0
    return sum(s * c for s, c in verdicts) / len(verdicts) / 10.0


def judge_proxy(model, tokenizer, records: Sequence[dict], judge, *, repeats: int = 3, max_new_tokens: int = 2048,
                rubric: str = "auto", seed: int = 0) -> dict:
    """Sample answers for ``records`` and have ``judge`` (an :class:`~synthera.text.llm.LLM`) grade each ``repeats``
    times. A reply without a readable verdict counts as score 5, confidence 0, as in the validator.

    Returns ``judge_proxy_score``, the counts, and ``note`` (:data:`NOT_REPRODUCIBLE`).
    """
    if repeats < 1:
        raise UserInputError(f"judge repeats must be >= 1; got {repeats}")
    items = judge_items(records)
    answers = sample_answers(model, tokenizer, items, max_new_tokens=max_new_tokens, seed=seed)
    verdicts, unread = [], 0
    for k in range(repeats):
        prompts = [judge_messages(item, answer, rubric=rubric) for item, answer in zip(items, answers, strict=True)]
        for reply in judge.generate(prompts, max_new_tokens=512, temperature=0.0, seed=seed + k):
            verdict = parse_verdict(reply)
            unread += verdict is None
            verdicts.append(verdict or (5.0, 0.0))
    return {"judge_proxy_score": judge_score(verdicts), "judged_answers": len(items), "verdicts": len(verdicts),
            "unreadable_verdicts": unread, "judge": getattr(judge, "model_id", type(judge).__name__),
            "note": NOT_REPRODUCIBLE}
