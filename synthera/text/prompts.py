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

    {"system": "...", "tools": "[{...tool spec...}]",
     "conversations": [{"role": "user", "content": "..."},
                       {"role": "function_call", "content": "{\"name\": ..., \"arguments\": {...}}"},
                       {"role": "observation", "content": "..."},
                       {"role": "assistant", "content": "..."}]}

``tools`` (a JSON string, as FLock ships it, or a list) and the
``function_call``/``observation`` roles are optional. As in the validator,
every turn other than ``assistant`` is context: consecutive context turns are
rendered one after the other into the prompt before the next assistant turn,
and turns after the last assistant turn, or with an unknown role, are ignored.

>>> from synthera.text.prompts import get_template
>>> get_template("qwen1.5").user_format.format(content="hi")
'<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\n'
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from synthera.errors import UserInputError

__all__ = [
    "SUPPORTED_BASE_MODELS",
    "TEMPLATES",
    "Conversation",
    "Encoded",
    "ValidatorTemplate",
    "chat_messages",
    "encode_conversation",
    "generation_prompt",
    "get_template",
    "read_conversation",
    "register_template",
    "render_function_call",
    "render_tools",
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
    message gets none. ``tool_format``, ``function_format`` and
    ``observation_format`` wrap the tools header, a ``function_call`` turn and
    an ``observation`` turn.
    """

    name: str
    system_format: str | None
    user_format: str
    assistant_format: str
    default_system: str | None
    stop_word: str | None
    tool_format: str = "{content}"
    function_format: str = "{content}"
    observation_format: str = "{content}"


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

# The observation formats, as upstream writes them (the ChatML one really closes with "<im_end>").
_CHATML_TOOL = "<|im_start|>tool\n{content}<im_end>\n<|im_start|>assistant\n"
_PHI_TOOL = "<|tool|>\n{content}<|end|>\n<|assistant|>"

for _template in (
    ValidatorTemplate("default", "System: {content}\n\n", "User: {content}\nAssistant: ", "{content} {stop_token}",
                      None, None, observation_format="Tool\n{content}\n"),
    ValidatorTemplate("qwen1.5", _CHATML_SYSTEM, _CHATML_USER, _CHATML_ASSISTANT, "You are a helpful assistant.",
                      "<|im_end|>", observation_format=_CHATML_TOOL),
    ValidatorTemplate("yi", _CHATML_SYSTEM, _CHATML_USER, _CHATML_ASSISTANT, None, "<|im_end|>",
                      observation_format=_CHATML_TOOL),
    ValidatorTemplate("zephyr", "<|system|>\n{content}</s>", "<|user|>\n{content}</s>\n<|assistant|>\n",
                      "{content}</s>\n", None, "</s>", observation_format="<|tool|>\n{content}</s>\n<|assistant|>\n"),
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
                      "{content}<eos>\n", "", "<eos>",
                      observation_format="<start_of_turn>tool\n{content}<end_of_turn>\n<start_of_turn>model\n"),
    ValidatorTemplate(
        "llama3",
        "<|begin_of_text|>" + _LLAMA3_HEADER.format(role="system") + "{content}<|eot_id|>",
        _LLAMA3_HEADER.format(role="user") + "{content}<|eot_id|>" + _LLAMA3_HEADER.format(role="assistant"),
        "{content}<|eot_id|>", None, "<|eot_id|>",
        observation_format=_LLAMA3_HEADER.format(role="tool") + "{content}<|eot_id|>"
        + _LLAMA3_HEADER.format(role="assistant"),
    ),
    ValidatorTemplate("phi3", None, _PHI_USER, "{content}<|end|>\n", None, "<|end|>", observation_format=_PHI_TOOL),
    ValidatorTemplate("phi4", None, _PHI_USER, "{content}<|end|>\n", None, "<|end|>",
                      tool_format="<|tool|>{content}<|/tool|>", function_format="<|tool_call|>{content}<|/tool_call|>",
                      observation_format=_PHI_TOOL),
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

_ROLES = ("user", "assistant", "function_call", "observation")
_SHAPE = '{"system": ..., "conversations": [{"role": "user", ...}, {"role": "assistant", ...}]}'


@dataclass(frozen=True)
class Conversation:
    """One checked FLock-format record.

    ``turns`` holds ``(role, content)`` for the known roles in order (unknown
    roles are dropped, as the validator drops them); ``tools`` is the parsed
    tool list or ``None``; ``calls`` maps the index of each ``function_call``
    turn to its parsed call (a dict, or a list of dicts for parallel calls).
    """

    system: str | None
    tools: list | None
    turns: tuple[tuple[str, str], ...]
    calls: dict


def _check_tools(raw, where: str) -> list | None:
    if not raw:  # the validator renders a header for any non-empty value, even "[]"
        return None
    tools = raw
    if isinstance(raw, str):
        try:
            tools = json.loads(raw)
        except json.JSONDecodeError:
            raise UserInputError(f"{where}: 'tools' is not valid JSON; give a JSON list of tool specs") from None
    if not isinstance(tools, list):
        raise UserInputError(f"{where}: 'tools' must be a JSON list of tool specs")
    for k, tool in enumerate(tools, start=1):
        params = tool.get("parameters") if isinstance(tool, dict) else None
        if not (isinstance(tool, dict) and isinstance(tool.get("name"), str) and isinstance(params, dict)
                and isinstance(params.get("properties", {}), dict)):
            raise UserInputError(f"{where}: tool {k} needs a 'name' and a 'parameters' object with 'properties'")
    return tools


def _check_call(content: str, where: str, number: int):
    try:
        call = json.loads(content.strip())
    except json.JSONDecodeError:
        raise UserInputError(f"{where}: turn {number} (function_call) is not JSON; write "
                             '{"name": ..., "arguments": {...}}') from None
    for one in call if isinstance(call, list) else [call]:
        if not (isinstance(one, dict) and "name" in one and "arguments" in one):
            raise UserInputError(f"{where}: turn {number} (function_call) needs 'name' and 'arguments'")
    return call


def read_conversation(record: dict, *, where: str = "record") -> Conversation:
    """Check one FLock-format record and return it as a :class:`Conversation`.

    Raises :class:`UserInputError` naming ``where`` when the record has no
    ``conversations`` list, a turn without text, no assistant turn, an
    assistant turn before any context, a ``function_call`` that is not a JSON
    call, or ``tools`` that are not a list of tool specs.
    """
    if not isinstance(record, dict) or not isinstance(record.get("conversations"), list):
        raise UserInputError(f"{where} has no 'conversations' list; each line must be {_SHAPE}")
    turns, calls = [], {}
    for number, turn in enumerate(record["conversations"], start=1):
        if not isinstance(turn, dict) or turn.get("role") not in _ROLES:
            continue
        if not isinstance(turn.get("content"), str):
            raise UserInputError(f"{where}: turn {number} has no text 'content'")
        role = turn["role"]
        if role == "assistant" and not turns:
            raise UserInputError(f"{where}: turn {number} is an assistant turn with nothing before it; turns must "
                                 "alternate user (or function_call/observation) and assistant")
        if role == "function_call":
            calls[len(turns)] = _check_call(turn["content"], where, number)
        turns.append((role, turn["content"]))
    if not any(role == "assistant" for role, _ in turns):
        raise UserInputError(f"{where} needs at least one user turn followed by one assistant turn")
    system = record.get("system")
    if system is not None and not isinstance(system, str):
        raise UserInputError(f"{where}: 'system' must be a string")
    return Conversation(system, _check_tools(record.get("tools"), where), tuple(turns), calls)


def render_tools(tools: list) -> str:
    """The tools header FLock's loss validator puts in the prompt (its ``tool_formater``, same text)."""
    blocks, names = [], []
    for tool in tools:
        params = tool["parameters"]
        required = params.get("required", [])
        lines = []
        for arg, spec in params.get("properties", {}).items():
            notes = ", required" if arg in required else ""
            tail = ""
            if spec.get("enum"):
                tail += f", should be one of [{', '.join(spec['enum'])}]"
            if spec.get("items"):
                tail += f", where each item should be {spec['items'].get('type', '')}"
            lines.append(f"  - {arg} ({spec.get('type', '')}{notes}): {spec.get('description', '')}{tail}\n")
        blocks.append(f"> Tool Name: {tool['name']}\nTool Description: {tool.get('description', '')}\n"
                      f"Tool Args:\n{''.join(lines)}\n")
        names.append(tool["name"])
    return ("You have access to the following tools:\n" + "".join(blocks)
            + "Use the following format if using a tool:\n```\n"
            + f"Action: tool name (one of [{', '.join(names)}])\n"
            + "Action Input: the input to the tool, in a JSON format representing the kwargs "
            + '(e.g. ```{"input": "hello world", "num_beams": 5}```)\n```\n')


def render_function_call(call) -> str:
    """A ``function_call`` turn as the loss validator writes it: ``Action: name`` / ``Action Input: {json}``."""
    calls = call if isinstance(call, list) else [call]
    if not calls:
        return ""
    return "\n".join(f"Action: {c['name']}\nAction Input: {json.dumps(c['arguments'], ensure_ascii=False)}\n"
                     for c in calls) + "\n"


def split_conversation(record: dict, *, where: str = "record") -> tuple[str | None, list[tuple[str, str]]]:
    """``(system, [(context, assistant), ...])`` from one FLock-format record, checked.

    ``context`` is the plain text of the turns before each assistant turn
    (several joined by blank lines; a function call as ``Action:`` lines).
    Prompts for models are built by :func:`encode_conversation`, not from this.
    """
    conv = read_conversation(record, where=where)
    pairs, context = [], []
    for i, (role, content) in enumerate(conv.turns):
        if role == "assistant":
            pairs.append(("\n\n".join(context), content))
            context = []
        else:
            context.append(render_function_call(conv.calls[i]).strip() if role == "function_call" else content)
    return conv.system, pairs


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


def _validator_segments(template: ValidatorTemplate, conv: Conversation, eos: str) -> list[tuple[str, bool]]:
    """The pieces the loss validator tokenizes one by one, each flagged when it is a target."""
    segments: list[tuple[str, bool]] = []
    if template.system_format is not None:
        text = conv.system.strip() if conv.system is not None else template.default_system
        if text is not None:
            segments.append((template.system_format.format(content=text), False))
    if conv.tools is not None:
        segments.append((template.tool_format.format(content=render_tools(conv.tools)), False))
    context = ""
    for i, (role, content) in enumerate(conv.turns):
        if role == "user":
            context += template.user_format.format(content=content.strip(), stop_token=eos)
        elif role == "function_call":
            context += template.function_format.format(content=render_function_call(conv.calls[i]))
        elif role == "observation":
            context += template.observation_format.format(content=content.strip())
        else:
            segments.append((context, False))
            segments.append((template.assistant_format.format(content=content.strip(), stop_token=eos), True))
            context = ""
    return segments


def chat_messages(conv: Conversation) -> list[dict]:
    """Chat-template messages as FLock's judge builds them: a call becomes an assistant ``tool_calls`` message,
    an observation a ``tool`` message answering the oldest open call."""
    messages = [{"role": "system", "content": conv.system}] if conv.system is not None else []
    open_calls: list[str] = []
    for i, (role, content) in enumerate(conv.turns):
        if role == "function_call":
            call = conv.calls[i]
            first = call[0] if isinstance(call, list) and call else call
            call_id = f"call_{sum(1 for j in conv.calls if j <= i)}"
            messages.append({"role": "assistant", "content": "", "tool_calls": [{
                "id": call_id, "type": "function",
                "function": {"name": first.get("name", ""), "arguments": first.get("arguments", {})}}]})
            open_calls.append(call_id)
        elif role == "observation":
            messages.append({"role": "tool", "tool_call_id": open_calls.pop(0) if open_calls else "call_unknown",
                             "content": content})
        else:
            messages.append({"role": role, "content": content})
    return messages


def _render(tokenizer, messages, *, generation: bool, tools=None) -> str:
    # thinking off, as FLock's judge prompts; templates without the switch ignore it
    return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=generation,
                                         enable_thinking=False)


def _need_chat_template(tokenizer) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise UserInputError("the tokenizer has no chat template; pass template with one of "
                             f"{', '.join(sorted(TEMPLATES))}")


def _chat_segments(tokenizer, conv: Conversation) -> list[tuple[str, bool]]:
    """Segments under the tokenizer's chat template: assistant answers and tool calls are the targets."""
    _need_chat_template(tokenizer)
    messages = chat_messages(conv)
    segments: list[tuple[str, bool]] = []
    done = ""
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:k], generation=True, tools=conv.tools)
        full = _render(tokenizer, messages[: k + 1], generation=False, tools=conv.tools)
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
        A FLock-format conversation (``tools``, ``function_call`` and ``observation`` allowed).
    tokenizer
        A Hugging Face tokenizer.
    template
        ``None`` uses the tokenizer's chat template with thinking disabled (each
        assistant turn's target, tool calls included, is what the template adds
        after the generation prompt, end token included); a validator template
        (or its name) formats and tokenizes the pieces exactly as FLock's loss
        validator does, with tool calls and observations as context.
    max_length
        Keep the first ``max_length`` tokens (the validator truncates the same way).
    """
    conv = read_conversation(record, where=where)
    if template is None:
        segments = _chat_segments(tokenizer, conv)
    else:
        tpl = get_template(template) if isinstance(template, str) else template
        segments = _validator_segments(tpl, conv, tokenizer.eos_token or "")
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
    prompt of the chat template, with ``tools`` and thinking off, or the
    validator template's context before the answer).
    """
    conv = read_conversation(record, where=where)
    last = max(i for i, (role, _) in enumerate(conv.turns) if role == "assistant")
    reference = conv.turns[last][1]
    head = Conversation(conv.system, conv.tools, conv.turns[:last], conv.calls)
    if template is None:
        _need_chat_template(tokenizer)
        return _render(tokenizer, chat_messages(head), generation=True, tools=conv.tools), reference
    tpl = get_template(template) if isinstance(template, str) else template
    probe = Conversation(conv.system, conv.tools, (*head.turns, ("assistant", "")), conv.calls)
    segments = _validator_segments(tpl, probe, tokenizer.eos_token or "")
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
