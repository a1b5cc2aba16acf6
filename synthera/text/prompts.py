"""How a conversation becomes tokens: chat templates and FLock's validator templates.

FLock's validator does not use a model's own chat template. It formats each
conversation with a hand-written template chosen by the ``base_model`` field
of the submission (``qwen1.5``, ``llama3``, ``gemma``, ...), tokenizes the
pieces separately and scores only the assistant tokens. To know a
submission's score before sending it, train and validate with the same
template: :func:`encode_conversation` does exactly what the validator does
when given a :class:`ValidatorTemplate`, and falls back to the tokenizer's
own chat template otherwise.

Conversations are FLock's training format::

    {"system": "...", "conversations": [{"role": "user", "content": "..."},
                                        {"role": "assistant", "content": "..."}]}

>>> from synthera.text.prompts import get_template
>>> get_template("qwen1.5").user_format.format(content="hi")
'<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\n'
"""

from __future__ import annotations

from dataclasses import dataclass

from synthera.errors import UserInputError

__all__ = [
    "SUPPORTED_BASE_MODELS",
    "TEMPLATES",
    "Encoded",
    "ValidatorTemplate",
    "encode_conversation",
    "generation_prompt",
    "get_template",
    "register_template",
    "split_conversation",
    "template_for_model",
    "text_to_sql_record",
    "text_to_sql_system",
]


@dataclass(frozen=True)
class ValidatorTemplate:
    """One of FLock's prompt formats (``{content}`` and ``{stop_token}`` are filled in).

    ``system_format`` of ``None`` means the template has no system turn; a
    ``default_system`` of ``None`` means a conversation without a system
    message gets none.
    """

    name: str
    system_format: str | None
    user_format: str
    assistant_format: str
    default_system: str | None
    stop_word: str | None


TEMPLATES: dict[str, ValidatorTemplate] = {}


def register_template(template: ValidatorTemplate, *, overwrite: bool = False) -> ValidatorTemplate:
    """Add a template under its name; refuses to replace one unless ``overwrite``."""
    if template.name in TEMPLATES and not overwrite:
        raise ValueError(f"a template named {template.name!r} is already registered; pass overwrite=True to replace it")
    TEMPLATES[template.name] = template
    return template


# The formats of FLock's llm-loss-validator (src/core/template.py), as plain data.
_CHATML_SYSTEM = "<|im_start|>system\n{content}<|im_end|>\n"
_CHATML_USER = "<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"
_CHATML_ASSISTANT = "{content}<|im_end|>\n"
_PHI_USER = "<|user|>\n{content}<|end|>\n<|assistant|>"
_LLAMA3_HEADER = "<|start_header_id|>{role}<|end_header_id|>\n\n"

for _template in (
    ValidatorTemplate("default", "System: {content}\n\n", "User: {content}\nAssistant: ", "{content} {stop_token}",
                      None, None),
    ValidatorTemplate("qwen1.5", _CHATML_SYSTEM, _CHATML_USER, _CHATML_ASSISTANT, "You are a helpful assistant.",
                      "<|im_end|>"),
    ValidatorTemplate("yi", _CHATML_SYSTEM, _CHATML_USER, _CHATML_ASSISTANT, None, "<|im_end|>"),
    ValidatorTemplate("zephyr", "<|system|>\n{content}</s>", "<|user|>\n{content}</s>\n<|assistant|>\n",
                      "{content}</s>\n", None, "</s>"),
    ValidatorTemplate("mistral", "<s>", "[INST]{content}[/INST]", "{content}</s>", "", "</s>"),
    ValidatorTemplate("mixtral", "<s>", "[INST]{content}[/INST]", "{content}</s>", "", "</s>"),
    ValidatorTemplate(
        "llama2", "<<SYS>>\n{content}\n<</SYS>>\n\n", "[INST]{content}[/INST]", "{content} </s>",
        "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, while being safe. "
        "Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, or illegal content. "
        "Please ensure that your responses are socially unbiased and positive in nature.\n\n"
        "If a question does not make any sense, or is not factually coherent, explain why instead of answering "
        "something not correct. If you don't know the answer to a question, please don't share false information.",
        "</s>",
    ),
    ValidatorTemplate("gemma", "<bos>", "<start_of_turn>user\n{content}<end_of_turn>\n<start_of_turn>model\n",
                      "{content}<eos>\n", "", "<eos>"),
    ValidatorTemplate(
        "llama3",
        "<|begin_of_text|>" + _LLAMA3_HEADER.format(role="system") + "{content}<|eot_id|>",
        _LLAMA3_HEADER.format(role="user") + "{content}<|eot_id|>" + _LLAMA3_HEADER.format(role="assistant"),
        "{content}<|eot_id|>", None, "<|eot_id|>",
    ),
    ValidatorTemplate("phi3", None, _PHI_USER, "{content}<|end|>\n", None, "<|end|>"),
    ValidatorTemplate("phi4", None, _PHI_USER, "{content}<|end|>\n", None, "<|end|>"),
):
    register_template(_template)

#: Base models FLock's validator accepted at llm-loss-validator HEAD 7b6f484 (2025-08-04), with the
#: ``base_model`` template to submit and the parameter count used against a task's ``max_params``.
SUPPORTED_BASE_MODELS: dict[str, tuple[str, int]] = {
    "Qwen/Qwen2.5-0.5B": ("qwen1.5", 494_032_768),
    "Qwen/Qwen2.5-0.5B-Instruct": ("qwen1.5", 494_032_768),
    "Qwen/Qwen2.5-1.5B": ("qwen1.5", 1_543_714_304),
    "Qwen/Qwen2.5-1.5B-Instruct": ("qwen1.5", 1_543_714_304),
    "Qwen/Qwen2.5-3B": ("qwen1.5", 3_085_938_688),
    "Qwen/Qwen2.5-3B-Instruct": ("qwen1.5", 3_085_938_688),
    "Qwen/Qwen2.5-7B": ("qwen1.5", 7_615_616_512),
    "Qwen/Qwen2.5-7B-Instruct": ("qwen1.5", 7_615_616_512),
    "01-ai/Yi-1.5-6B-Chat": ("yi", 6_061_035_520),
    "01-ai/Yi-1.5-9B-Chat": ("yi", 8_829_407_232),
    "mistralai/Mistral-7B-Instruct-v0.3": ("mistral", 7_248_023_552),
    "google/gemma-2-2b-it": ("gemma", 2_614_341_888),
    "google/gemma-2-9b-it": ("gemma", 9_241_705_984),
    "meta-llama/Meta-Llama-3.1-8B-Instruct": ("llama3", 8_030_261_248),
    "microsoft/Phi-3.5-mini-instruct": ("phi3", 3_821_079_552),
    "microsoft/Phi-3-mini-4k-instruct": ("phi3", 3_821_079_552),
    "microsoft/Phi-4-mini-instruct": ("phi4", 3_836_021_760),
}


def get_template(name: str) -> ValidatorTemplate:
    """The validator template called ``name`` (a template name or a supported base-model id)."""
    if name in TEMPLATES:
        return TEMPLATES[name]
    if name in SUPPORTED_BASE_MODELS:
        return TEMPLATES[SUPPORTED_BASE_MODELS[name][0]]
    raise UserInputError(f"unknown prompt template {name!r}; use one of {', '.join(sorted(TEMPLATES))}")


def template_for_model(model_id: str) -> str:
    """The ``base_model`` template name FLock's validator uses for ``model_id``."""
    if model_id in SUPPORTED_BASE_MODELS:
        return SUPPORTED_BASE_MODELS[model_id][0]
    raise UserInputError(
        f"{model_id} is not a base model FLock's validator accepts; use one of {', '.join(SUPPORTED_BASE_MODELS)}"
    )


# --------------------------------------------------------------------------- conversations


def split_conversation(record: dict, *, where: str = "record") -> tuple[str | None, list[tuple[str, str]]]:
    """``(system, [(user, assistant), ...])`` from one FLock-format record, checked.

    Raises :class:`UserInputError` naming ``where`` when the record is not a
    dict with a ``conversations`` list of alternating user/assistant turns.
    """
    if not isinstance(record, dict) or not isinstance(record.get("conversations"), list):
        raise UserInputError(f"{where} has no 'conversations' list; each line must be "
                             '{"system": ..., "conversations": [{"role": "user", ...}, {"role": "assistant", ...}]}')
    turns = record["conversations"]
    if len(turns) < 2:
        raise UserInputError(f"{where} needs at least one user turn followed by one assistant turn")
    pairs = []
    for i in range(0, len(turns) - 1, 2):
        user, assistant = turns[i], turns[i + 1]
        if not (isinstance(user, dict) and isinstance(assistant, dict)
                and user.get("role") == "user" and assistant.get("role") == "assistant"):
            raise UserInputError(f"{where}: turns must alternate user, assistant (turn {i + 1} breaks the order)")
        if not isinstance(user.get("content"), str) or not isinstance(assistant.get("content"), str):
            raise UserInputError(f"{where}: turn {i + 1} has no text 'content'")
        pairs.append((user["content"], assistant["content"]))
    system = record.get("system")
    if system is not None and not isinstance(system, str):
        raise UserInputError(f"{where}: 'system' must be a string")
    return system, pairs


@dataclass
class Encoded:
    """Token ids of one conversation and which of them are assistant (target) tokens."""

    input_ids: list[int]
    target_mask: list[int]

    @property
    def labels(self) -> list[int]:
        """``input_ids`` where the mask is 1, ``-100`` (ignored by the loss) elsewhere."""
        return [t if m else -100 for t, m in zip(self.input_ids, self.target_mask, strict=True)]


def _encode(tokenizer, text: str) -> list[int]:
    return list(tokenizer.encode(text, add_special_tokens=False)) if text else []


def _validator_segments(template: ValidatorTemplate, system, pairs, eos: str) -> list[tuple[str, bool]]:
    segments: list[tuple[str, bool]] = []
    if template.system_format is not None:
        text = system.strip() if system is not None else template.default_system
        if text is not None:
            segments.append((template.system_format.format(content=text), False))
    for user, assistant in pairs:
        segments.append((template.user_format.format(content=user.strip(), stop_token=eos), False))
        segments.append((template.assistant_format.format(content=assistant.strip(), stop_token=eos), True))
    return segments


def _messages(system, pairs) -> list[dict]:
    messages = [{"role": "system", "content": system}] if system is not None else []
    for user, assistant in pairs:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return messages


def _render(tokenizer, messages, *, generation: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)


def _chat_segments(tokenizer, system, pairs) -> list[tuple[str, bool]]:
    if not getattr(tokenizer, "chat_template", None):
        raise UserInputError("the tokenizer has no chat template; pass template with one of "
                             f"{', '.join(sorted(TEMPLATES))}")
    messages = _messages(system, pairs)
    segments: list[tuple[str, bool]] = []
    done = ""
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:k], generation=True)
        full = _render(tokenizer, messages[: k + 1], generation=False)
        if not (prompt.startswith(done) and full.startswith(prompt)):
            raise UserInputError("the tokenizer's chat template does not render conversations incrementally; "
                                 "pass template with a fixed template instead")
        segments.append((prompt[len(done):], False))
        segments.append((full[len(prompt):], True))
        done = full
    return segments


def encode_conversation(
    record: dict, tokenizer, *, template: str | ValidatorTemplate | None = None, max_length: int | None = None,
    where: str = "record",
) -> Encoded:
    """Tokenize one conversation; the target mask is 1 exactly on assistant tokens.

    Parameters
    ----------
    record
        A FLock-format conversation.
    tokenizer
        A Hugging Face tokenizer.
    template
        ``None`` uses the tokenizer's chat template (each assistant turn's
        target is what the template adds after the generation prompt, end
        token included); a validator template (or its name) formats and
        tokenizes the pieces exactly as FLock's validator does.
    max_length
        Keep the first ``max_length`` tokens (the validator truncates the same way).
    """
    system, pairs = split_conversation(record, where=where)
    if template is None:
        segments = _chat_segments(tokenizer, system, pairs)
    else:
        tpl = get_template(template) if isinstance(template, str) else template
        segments = _validator_segments(tpl, system, pairs, tokenizer.eos_token or "")
    input_ids: list[int] = []
    target_mask: list[int] = []
    for text, is_target in segments:
        ids = _encode(tokenizer, text)
        input_ids += ids
        target_mask += [int(is_target)] * len(ids)
    if max_length is not None:
        input_ids, target_mask = input_ids[:max_length], target_mask[:max_length]
    return Encoded(input_ids, target_mask)


def generation_prompt(
    record: dict, tokenizer, *, template: str | ValidatorTemplate | None = None, where: str = "record",
) -> tuple[str, str]:
    """``(prompt, reference)``: the text up to the last assistant turn, and that turn's gold answer.

    The prompt ends where the model should start answering (the generation
    prompt of the chat template, or the validator template's user format).
    """
    system, pairs = split_conversation(record, where=where)
    *history, (question, reference) = pairs
    if template is None:
        if not getattr(tokenizer, "chat_template", None):
            raise UserInputError("the tokenizer has no chat template; pass template with one of "
                                 f"{', '.join(sorted(TEMPLATES))}")
        messages = _messages(system, history) + [{"role": "user", "content": question}]
        return _render(tokenizer, messages, generation=True), reference
    tpl = get_template(template) if isinstance(template, str) else template
    segments = _validator_segments(tpl, system, [*history, (question, "")], tokenizer.eos_token or "")
    return "".join(text for text, _ in segments[:-1]), reference


# --------------------------------------------------------------------------- Text-to-SQL records

_TEXT_TO_SQL_SYSTEM = (
    "You are a Text-to-SQL assistant. Given a SQLite database schema and a question, "
    "answer with one SQL query that answers it, and nothing else."
)


def text_to_sql_system() -> str:
    """The system prompt SynthGen's Text-to-SQL examples use (so test prompts match training prompts)."""
    try:
        from synthera.text.tasks import _SQL_SYSTEM
    except ImportError:  # pragma: no cover - the generator is optional for evaluation
        return _TEXT_TO_SQL_SYSTEM
    return _SQL_SYSTEM


def text_to_sql_record(schema_ddl: str, question: str, sql: str) -> dict:
    """A FLock-format Text-to-SQL conversation laid out exactly like SynthGen's training examples."""
    user = f"Database schema:\n{schema_ddl.strip()}\n\nQuestion: {question.strip()}"
    return {"system": text_to_sql_system(),
            "conversations": [{"role": "user", "content": user}, {"role": "assistant", "content": sql.strip()}]}
