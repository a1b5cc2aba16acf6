"""Which FLock task types Synthera can train for, and which base models each accepts (a dated table).

FLock's validators dispatch on a task's ``task_type``:

- ``lora`` (older tasks: no type, or ``training``): the loss validator
  (``FLock-io/llm-loss-validator``) scores bits per byte on hidden
  conversations with a hand-written template per base model;
- ``llm_judge`` (``FLock-io/FLock-validator``, 2026): the merged model samples
  answers with its own chat template (thinking off) and remote LLM judges
  score them 1-10 with a confidence; only Qwen3.5 bases are accepted;
- ``rl`` and anything else: not LLM fine-tuning; Synthera refuses them.

A base model outside a type's list makes the validator fail the submission
(the loss validator marks it failed, the judge scores it -999), so
``flock run`` and ``flock submit`` check the adapter's
``base_model_name_or_path`` against :func:`supported_bases` first. The lists
were read from the validators' source on the dates in :data:`CHECKED`;
re-check them there when FLock announces a change.
"""

from __future__ import annotations

from synthera.errors import UserInputError

__all__ = ["CHECKED", "JUDGE", "JUDGE_BASES", "LOSS", "check_base", "supported_bases", "task_kind"]

LOSS = "lora"
JUDGE = "llm_judge"

#: Where and when each list was read.
CHECKED = {
    LOSS: "2026-12-02: FLock-io/llm-loss-validator src/core/constant.py at 7b6f484 (2025-08-04, still its HEAD)",
    JUDGE: "2026-12-02: FLock-io/FLock-validator validator/modules/llm_judge/constant.py at ef8368e (2026-04-25)",
}

#: Qwen3.5 bases the ``llm_judge`` validator accepts, with nominal sizes (from the names; the
#: workflow measures the real count from the weights before training).
JUDGE_BASES: dict[str, int] = {
    "Qwen/Qwen3.5-0.8B": 800_000_000,
    "Qwen/Qwen3.5-0.8B-Base": 800_000_000,
    "Qwen/Qwen3.5-2B": 2_000_000_000,
    "Qwen/Qwen3.5-2B-Base": 2_000_000_000,
    "Qwen/Qwen3.5-4B": 4_000_000_000,
    "Qwen/Qwen3.5-4B-Base": 4_000_000_000,
    "Qwen/Qwen3.5-9B": 9_000_000_000,
    "Qwen/Qwen3.5-9B-Base": 9_000_000_000,
    "Qwen/Qwen3.5-27B": 27_000_000_000,
}

_LOSS_NAMES = ("", "lora", "training", "loss", "llm_loss")
_JUDGE_NAMES = ("llm_judge", "llm_evaluation")
_RL_NAMES = ("rl", "reinforcement_learning")


def task_kind(task_type: str | None, *, task_id=None) -> str:
    """:data:`LOSS` or :data:`JUDGE` for a task's ``task_type``; any other type is refused in one line."""
    name = (task_type or "").strip().lower()
    if name in _LOSS_NAMES:
        return LOSS
    if name in _JUDGE_NAMES:
        return JUDGE
    which = f"task {task_id}" if task_id is not None else "the task"
    if name in _RL_NAMES:
        raise UserInputError(f"{which} is a reinforcement-learning (rl) task, scored on an ONNX policy; synthera "
                             "trains LoRA adapters for lora and llm_judge tasks only")
    raise UserInputError(f"{which} has task_type {name!r}, which synthera cannot train for; it supports "
                         f"{LOSS} and {JUDGE} tasks")


def supported_bases(kind: str) -> dict[str, tuple[str | None, int]]:
    """``{hub id: (validator template or None, parameters)}`` accepted for a task kind.

    The template is ``None`` for judge tasks: they prompt with the model's own chat template.
    """
    if kind == LOSS:
        from synthera.text.prompts import SUPPORTED_BASE_MODELS

        return dict(SUPPORTED_BASE_MODELS)
    if kind == JUDGE:
        return {model_id: (None, params) for model_id, params in JUDGE_BASES.items()}
    return {model_id: value for model_id, value in supported_bases(task_kind(kind)).items()}


def check_base(model_id: str | None, kind: str, *, what: str = "the base model") -> str:
    """``model_id`` when ``kind`` tasks accept it; otherwise a one-line refusal listing the accepted bases."""
    accepted = supported_bases(kind)
    if model_id in accepted:
        return model_id
    raise UserInputError(f"{what} {model_id or '(unnamed)'} is not accepted by FLock's {kind} validator "
                         f"(list checked {CHECKED[kind].split(':', 1)[0]}); use one of {', '.join(accepted)}")
