"""Evaluate a language model, with or without a LoRA adapter, on held-out conversations.

:func:`evaluate_model` generates one answer per test conversation (batched,
greedy), scores the answers with the task's metrics from
:mod:`synthera.text.metrics`, and measures bits per byte of the gold answers
exactly as FLock's validator does. :func:`compare_models` runs the base model
and the same model with an adapter on the same data, so the two columns of
the table differ only by the adapter.

Test data is JSON Lines, one example a line, in either form:

- FLock's conversation format (``system`` + ``conversations``); the last
  assistant turn is the reference;
- for Text-to-SQL, ``{"question": ..., "sql": ..., "db": ...}``: the prompt is
  built from the database's schema exactly as SynthGen lays out its training
  examples. ``db`` (or ``--db``) is a SQLite file, a ``sqlite:///`` URL or a
  bundled dataset such as ``dataset:adult`` / ``dataset:adult:test`` (loaded
  as a table named after the dataset).

>>> from synthera.text.evaluation import compare_models
>>> result = compare_models("smollm2", adapter="adapter/", data="test.jsonl",
...                         task="text-to-sql")                              # doctest: +SKIP
>>> result["fine-tuned"].metrics["execution_accuracy"]                       # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from synthera._extras import require
from synthera.errors import UserInputError

__all__ = [
    "TASKS",
    "EvalExample",
    "EvaluationResult",
    "compare_models",
    "evaluate_model",
    "extract_sql",
    "generate_answers",
    "load_eval_data",
    "load_model_with_adapter",
    "clean_up_tokenization",
    "target_bytes",
    "metrics_rows",
    "validator_loss",
]

#: Metrics computed for each task (bits per byte is added for every task).
TASKS: dict[str, tuple[str, ...]] = {
    "text-to-sql": ("execution_accuracy", "valid_sql", "exact_match", "bleu"),
    "qa": ("exact_match", "accuracy", "token_f1", "bleu"),
    "summarization": ("rouge_l", "bleu", "token_f1"),
    "character": ("bleu", "rouge_l", "token_f1"),
}
_MAX_NEW_TOKENS = {"text-to-sql": 128, "qa": 64, "summarization": 192, "character": 192}


@dataclass
class EvalExample:
    """One test conversation, its gold answer, and (Text-to-SQL) its database."""

    record: dict
    reference: str
    db: str | None = None


@dataclass
class EvaluationResult:
    """Metrics of one model on one test set, with every prediction kept for inspection."""

    label: str
    task: str
    metrics: dict[str, float]
    predictions: list[str]
    references: list[str]
    raw_outputs: list[str]
    loss: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self, *, with_predictions: bool = True) -> dict:
        out = {"label": self.label, "task": self.task, "metrics": self.metrics, "loss": self.loss,
               "errors": self.errors, "seconds": round(self.seconds, 2)}
        if with_predictions:
            out["examples"] = [{"prediction": p, "reference": r, "output": o}
                               for p, r, o in zip(self.predictions, self.references, self.raw_outputs, strict=True)]
        return out


# --------------------------------------------------------------------------- data


class _Databases:
    """Opens each test database once: SQLite files read-only, bundled datasets built into a temp folder."""

    def __init__(self):
        self._conns: dict[str, sqlite3.Connection] = {}
        self._ddl: dict[str, str] = {}
        self._tmp: tempfile.TemporaryDirectory | None = None

    def _file(self, spec: str) -> Path:
        if spec.startswith("dataset:"):
            from synthera.io import read_table
            from synthera.text.sql import database_from_tables

            name = spec.split(":")[1]
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="synthera-eval-")
            path = Path(self._tmp.name) / (spec.replace(":", "_") + ".db")
            if not path.exists():
                database_from_tables({name: read_table(spec)}, path)
            return path
        from synthera.text.sql import sqlite_path

        file = sqlite_path(spec)
        if file is None:
            raise UserInputError(f"db {spec} is not a SQLite database; pass a .db file, a sqlite:/// URL "
                                 "or a bundled dataset such as dataset:adult")
        if not file.is_file():
            raise UserInputError(f"database not found: {file}; check db")
        return file

    def connection(self, spec: str) -> sqlite3.Connection:
        if spec not in self._conns:
            from synthera.text.sql.execute import connect_readonly

            self._conns[spec] = connect_readonly(self._file(spec))
        return self._conns[spec]

    def ddl(self, spec: str) -> str:
        if spec not in self._ddl:
            from synthera.text.sql import read_schema, schema_prompt

            self._ddl[spec] = schema_prompt(self.connection(spec), read_schema(self._file(spec)))
        return self._ddl[spec]

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def load_eval_data(path, *, task: str, db: str | None = None, limit: int | None = None,
                   databases: _Databases | None = None) -> list[EvalExample]:
    """Read a test file into :class:`EvalExample` objects (see the module docstring for the two layouts)."""
    from synthera.text.prompts import split_conversation, text_to_sql_record

    if task not in TASKS:
        raise UserInputError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserInputError(f"test data not found: {path}; check data")
    examples: list[EvalExample] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserInputError(f"{where} is not valid JSON ({exc.msg}); fix or drop it") from None
            if not isinstance(raw, dict):
                raise UserInputError(f"{where} is not a JSON object")
            spec = raw.get("db") if isinstance(raw.get("db"), str) else db
            if "conversations" in raw:
                _, pairs = split_conversation(raw, where=where)
                examples.append(EvalExample(raw, pairs[-1][1], spec))
            elif task == "text-to-sql" and isinstance(raw.get("question"), str) and isinstance(raw.get("sql"), str):
                if spec is None:
                    raise UserInputError(f"{where} has no 'db' and no db was given; name the database to query")
                if databases is None:
                    raise UserInputError(f"{where} needs its database to build the prompt")
                record = text_to_sql_record(databases.ddl(spec), raw["question"], raw["sql"])
                examples.append(EvalExample(record, raw["sql"], spec))
            else:
                raise UserInputError(f"{where} has no 'conversations' (and, for text-to-sql, no 'question' and "
                                     "'sql'); use FLock's conversation format")
            if limit is not None and len(examples) >= limit:
                break
    if not examples:
        raise UserInputError(f"{path} has no examples")
    return examples


# --------------------------------------------------------------------------- answers

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
_SQL_START = re.compile(r"\b(SELECT|WITH)\b", re.IGNORECASE)


def _cut_statement(text: str) -> str:
    """Up to the first ``;`` outside quotes, or to a blank line."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == ";" or (ch == "\n" and text[i + 1: i + 2] == "\n"):
            return text[:i]
    return text


def extract_sql(text: str) -> str:
    """The SQL query in a model's answer: inside a code fence if there is one, else from SELECT/WITH on.

    >>> extract_sql("Here you go:\\n```sql\\nSELECT 1;\\n```\\nThis returns one.")
    'SELECT 1'
    >>> extract_sql("The query is SELECT name FROM t WHERE a = 'x;y'; done")
    "SELECT name FROM t WHERE a = 'x;y'"
    """
    text = str(text or "")
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    for lang, body in blocks:
        if lang in ("sql", "sqlite") and body.strip():
            text = body
            break
    else:
        for _, body in blocks:
            if _SQL_START.search(body):
                text = body
                break
    match = _SQL_START.search(text)
    if match:
        text = text[match.start():]
    return " ".join(_cut_statement(text).split()).strip()


def _answer(task: str, output: str) -> str:
    if task == "text-to-sql":
        return extract_sql(output)
    return output.strip()


def _stop_ids(tokenizer, template) -> list[int]:
    ids = []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    if template is not None:
        from synthera.text.prompts import get_template

        stop = get_template(template).stop_word if isinstance(template, str) else template.stop_word
        if stop:
            token = tokenizer.convert_tokens_to_ids(stop)
            if isinstance(token, int) and token != tokenizer.unk_token_id and token not in ids:
                ids.append(token)
    return ids


def generate_answers(model, tokenizer, prompts: list[str], *, batch_size: int = 8, max_new_tokens: int = 128,
                     stop_ids: list[int] | None = None, progress: bool = False,
                     description: str = "generating") -> list[str]:
    """Greedy completions of ``prompts`` (batched, longest first, left-padded); special tokens removed."""
    import torch

    from synthera._progress import progress_bar

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    lengths = [len(tokenizer.encode(p, add_special_tokens=False)) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    outputs: list[str] = [""] * len(prompts)
    stop_ids = stop_ids or [tokenizer.eos_token_id]
    with progress_bar(len(prompts), description, enabled=progress) as advance, torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = tokenizer([prompts[i] for i in chunk], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(device)
            generated = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                       eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id)
            new = generated[:, batch["input_ids"].shape[1]:]
            for i, row in zip(chunk, new, strict=True):
                outputs[i] = tokenizer.decode(row, skip_special_tokens=True)
            advance(len(chunk))
    return outputs


# --------------------------------------------------------------------------- bits per byte


_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def clean_up_tokenization(text: str) -> str:
    """transformers 4.x's ``clean_up_tokenization``: drop the space before ``. ? ! ,`` and English clitics."""
    for old, new in _CLEANUP:
        text = text.replace(old, new)
    return text


def target_bytes(tokenizer, ids: list[int], *, parity: bool = False) -> int:
    """UTF-8 bytes of ``ids`` decoded without special tokens, as the validator counts them.

    With ``parity`` the rule of the validator's pinned transformers 4.49 is
    applied explicitly, whatever version is installed: when the tokenizer's
    config sets ``clean_up_tokenization_spaces``, the decoded text is cleaned
    up (4.49 does it for every tokenizer; 5.x skips it for BPE ones), so
    ``a , b .`` counts as ``a, b.``. Without ``parity`` the installed decode decides.
    """
    if not parity:
        return len(tokenizer.decode(ids, skip_special_tokens=True).encode("utf-8"))
    text = tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    if getattr(tokenizer, "clean_up_tokenization_spaces", False) is True:
        text = clean_up_tokenization(text)
    return len(text.encode("utf-8"))


def _batched_losses(model, encoded, pad: int, batch_size: int, advance) -> list[float | None]:
    """Each conversation's mean target-token loss from length-sorted right-padded batches (``None``: no target)."""
    import torch

    from synthera.text.finetune import target_logits

    device = next(model.parameters()).device
    losses: list[float | None] = [None] * len(encoded)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        items = [encoded[i] for i in chunk]
        width = max(len(e.input_ids) for e in items)
        ids = torch.full((len(items), width), pad, dtype=torch.long)
        attention = torch.zeros_like(ids)
        labels = torch.full_like(ids, -100)
        for row, e in enumerate(items):
            n = len(e.input_ids)
            ids[row, :n] = torch.tensor(e.input_ids)
            attention[row, :n] = 1
            labels[row, :n] = torch.tensor(e.labels)
        labels = labels.to(device)
        logits, targets = target_logits(model, ids.to(device), attention.to(device), labels)
        token_loss = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="none")
        keep = labels[:, 1:] != -100
        counts = keep.sum(dim=1)
        rows = torch.arange(len(items), device=device).unsqueeze(1).expand_as(keep)[keep]
        sums = torch.zeros(len(items), device=device).index_add_(0, rows, token_loss)
        for row, i in enumerate(chunk):
            if int(counts[row]):
                losses[i] = float(sums[row] / counts[row])
        advance(len(items))
    return losses


def _validator_losses(model, encoded, advance) -> list[float | None]:
    """Each conversation's loss exactly as the validator's ``Trainer.evaluate`` gets it: one unpadded
    conversation per forward pass, the model's own shifted cross-entropy over the full logits (float32)."""
    import torch

    device = next(model.parameters()).device
    losses: list[float | None] = []
    for e in encoded:
        if not any(e.target_mask[1:]):
            losses.append(None)  # the model's loss is NaN here, as it is at the validator
        else:
            ids = torch.tensor([e.input_ids], device=device)
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.tensor([e.labels],
                        device=device), use_cache=False)
            losses.append(float(out.loss.float()))
        advance(1)
    return losses


def _mean_loss(losses: list[float | None], *, parity: bool) -> float:
    """The mean over conversations; NaN when one has no target (4.49 averages its NaN in).

    With ``parity`` the mean is taken as transformers 4.49's ``evaluation_loop`` takes it: a float32 array's
    ``mean()`` (numpy's pairwise float32 sum), so the last bits agree with the validator's ``eval_loss`` too.
    """
    if not losses or any(x is None for x in losses):
        return float("nan")
    if parity:
        import numpy as np

        return float(np.asarray(losses, dtype=np.float32).mean())
    return sum(losses) / len(losses)


def validator_loss(model, tokenizer, records: list[dict], *, template=None, context_length: int = 4096,
                   batch_size: int = 8, progress: bool = False, parity: bool = False) -> dict:
    """Loss and bits per byte of the assistant text, as FLock's validator computes them.

    The validator tokenizes with the submission's template, truncates each
    conversation to ``context_length`` tokens, evaluates with batch size 1
    (so ``loss`` is the mean over conversations of each one's mean token
    loss), and reports ``loss * target_tokens / ln 2 / target_bytes``, where
    ``target_bytes`` are the UTF-8 bytes of the target tokens decoded without
    special tokens. A conversation left with no predicted target token makes
    the validator's loss NaN; it is counted in ``without_target`` and makes
    ``bits_per_byte`` infinite, as it would be there (transformers 4.49's
    ``Trainer.evaluate`` averages a NaN in; 5.x would drop it, and this loop
    keeps the 4.49 rule whatever is installed).

    ``parity`` reproduces the validator's run of transformers 4.49 to the last
    float32 bit (benchmarks/validator_parity.py measures 0 difference on CPU):
    bytes counted with 4.49's clean-up rule (:func:`target_bytes`), batch size 1
    without padding and the model's own loss (``batch_size`` is then unused),
    and a float32 mean over conversations. Run the model in fp16 on a GPU
    (:func:`load_model_with_adapter` ``fp16=True``) for the validator's precision.
    Without ``parity``, batches are padded and only target positions go through
    the output layer: faster and leaner, and within a few float32 ulps.

    Returns
    -------
    dict
        ``loss``, ``bits_per_byte``, ``target_tokens``, ``target_bytes``,
        ``conversations`` and ``without_target``.
    """
    import torch

    from synthera._progress import progress_bar
    from synthera.text.metrics import bits_per_byte
    from synthera.text.prompts import encode_conversation

    encoded = [encode_conversation(r, tokenizer, template=template, max_length=context_length,
                                   where=f"conversation {i}") for i, r in enumerate(records)]
    target_tokens = n_bytes = 0
    for enc in encoded:
        ids = [t for t, m in zip(enc.input_ids, enc.target_mask, strict=True) if m]
        if ids:
            target_tokens += len(ids)
            n_bytes += target_bytes(tokenizer, ids, parity=parity)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with progress_bar(len(encoded), "bits per byte", enabled=progress) as advance, torch.inference_mode():
        if parity:
            losses = _validator_losses(model, encoded, advance)
        else:
            losses = _batched_losses(model, encoded, pad, batch_size, advance)
    loss = _mean_loss(losses, parity=parity)
    return {
        "loss": loss,
        "bits_per_byte": bits_per_byte(loss, target_tokens, n_bytes),
        "target_tokens": target_tokens,
        "target_bytes": n_bytes,
        "conversations": len(encoded),
        "without_target": sum(x is None for x in losses),
    }


# --------------------------------------------------------------------------- models


def load_model_with_adapter(model=None, adapter=None, *, fp16: bool = False):
    """``(model, tokenizer)`` of a local base model, with a LoRA adapter merged in when given.

    ``fp16`` on a CUDA machine casts the base to float16 before the adapter is
    merged, as FLock's loss validator loads it (its CPU configuration stays
    fp32, and so does this on a machine without CUDA).
    """
    from synthera.text.finetune import load_base_model

    lm, tokenizer = load_base_model(model)
    lm = validator_precision(lm, fp16=fp16)
    if adapter is not None:
        lm = _attach(lm, adapter)
    return lm, tokenizer


def validator_precision(lm, *, fp16: bool = True):
    """``lm`` in float16 when ``fp16`` and it sits on a CUDA device (the validator's GPU setting), else as it is."""
    if fp16 and next(lm.parameters()).device.type == "cuda":
        return lm.half()
    return lm


def _attach(lm, adapter):
    PeftModel = require("peft", "text").PeftModel

    folder = Path(adapter).expanduser()
    if not (folder / "adapter_config.json").is_file():
        raise UserInputError(f"{folder} has no adapter_config.json; pass the folder `synthera text finetune` wrote")
    lm = PeftModel.from_pretrained(lm, str(folder))
    lm = lm.merge_and_unload()
    lm.eval()
    return lm


# --------------------------------------------------------------------------- evaluation


def _valid_sql(predictions, conns, timeout_s: float) -> float:
    """Share of predictions that run without error (read-only, within the timeout)."""
    from synthera.text.sql.execute import SQLExecutionError, execute_sql

    ok = []
    for p, conn in zip(predictions, conns, strict=True):
        try:
            execute_sql(conn, p, timeout_s=timeout_s, max_rows=100_000, truncate=False)
            ok.append(1.0)
        except SQLExecutionError:
            ok.append(0.0)
    return sum(ok) / len(ok)


def _score(task: str, predictions, references, examples, databases: _Databases | None, timeout_s: float):
    from synthera.text import metrics as M

    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name in TASKS[task]:
        try:
            if name in ("execution_accuracy", "valid_sql"):
                if any(e.db is None for e in examples) or databases is None:
                    errors[name] = "skipped: no database (pass db or give each example a 'db')"
                    continue
                conns = [databases.connection(e.db) for e in examples]
                if name == "execution_accuracy":
                    values[name] = M.execution_accuracy(predictions, references, conns, timeout_s=timeout_s)
                else:
                    values[name] = _valid_sql(predictions, conns, timeout_s)
            elif name == "exact_match" and task == "text-to-sql":
                values[name] = M.sql_exact_match(predictions, references)
            else:
                values[name] = M.METRICS[name](predictions, references)
        except UserInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - one failing metric is reported, not fatal
            errors[name] = f"{type(exc).__name__}: {exc}"
    return values, errors


def _run_one(label, lm, tokenizer, examples, *, task, template, databases, batch_size, max_new_tokens,
             context_length, timeout_s, progress, validator_parity: bool = False) -> EvaluationResult:
    from synthera.text.prompts import generation_prompt

    start = time.perf_counter()
    prompts = [generation_prompt(e.record, tokenizer, template=template, where=f"example {i}")[0]
               for i, e in enumerate(examples)]
    outputs = generate_answers(lm, tokenizer, prompts, batch_size=batch_size,
                               max_new_tokens=max_new_tokens or _MAX_NEW_TOKENS[task],
                               stop_ids=_stop_ids(tokenizer, template), progress=progress,
                               description=f"{label}: generating")
    predictions = [_answer(task, o) for o in outputs]
    references = [e.reference for e in examples]
    values, errors = _score(task, predictions, references, examples, databases, timeout_s)
    loss = validator_loss(lm, tokenizer, [e.record for e in examples], template=template,
                          context_length=context_length, batch_size=batch_size, progress=progress,
                          parity=validator_parity)
    values["bits_per_byte"] = loss["bits_per_byte"]
    if loss["without_target"]:
        errors["bits_per_byte"] = (f"{loss['without_target']} conversations have no answer token within "
                                   f"{context_length} tokens; the validator would score this as a failure")
    return EvaluationResult(label, task, values, predictions, references, outputs, loss, errors,
                            time.perf_counter() - start)


def _prepare(data, task, db, limit):
    if task not in TASKS:
        raise UserInputError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    databases = _Databases()
    try:
        examples = load_eval_data(data, task=task, db=db, limit=limit, databases=databases)
    except BaseException:
        databases.close()
        raise
    return examples, databases


def evaluate_model(model=None, *, data, task: str, adapter=None, db: str | None = None, template: str | None = None,
                   batch_size: int = 8, max_new_tokens: int | None = None, context_length: int = 4096,
                   limit: int | None = None, timeout_s: float = 5.0, progress: bool = False,
                   label: str | None = None, validator_parity: bool = False) -> EvaluationResult:
    """Generate answers for a test set and score them.

    Parameters
    ----------
    model
        Local model folder, or ``None``/``"smollm2"`` for the bundled SmolLM2-135M-Instruct.
    data
        Test JSONL (FLock conversations, or question/sql/db lines for Text-to-SQL).
    task
        ``text-to-sql``, ``qa``, ``summarization`` or ``character``; selects the metrics (:data:`TASKS`).
    adapter
        A LoRA adapter folder to merge into the model.
    db
        Database for Text-to-SQL examples that do not name their own.
    template
        ``None`` prompts with the model's chat template; a FLock validator
        template name prompts (and scores bits per byte) as the validator does.
    batch_size, max_new_tokens
        Generation batch and answer length (default depends on the task).
    context_length
        Truncation for bits per byte.
    limit
        Evaluate only the first ``limit`` examples.
    validator_parity
        Compute bits per byte as FLock's loss validator does, whatever is
        installed: fp16 on a GPU, transformers 4.49's byte count and NaN rule
        (see :func:`validator_loss`). With a base the validator does not accept,
        the number is the validator's formula, not a score it would give.
    """
    examples, databases = _prepare(data, task, db, limit)
    try:
        lm, tokenizer = load_model_with_adapter(model, adapter, fp16=validator_parity)
        return _run_one(label or ("fine-tuned" if adapter else "baseline"), lm, tokenizer, examples, task=task,
                        template=template, databases=databases, batch_size=batch_size,
                        max_new_tokens=max_new_tokens, context_length=context_length, timeout_s=timeout_s,
                        progress=progress, validator_parity=validator_parity)
    finally:
        databases.close()


def compare_models(model=None, *, adapter, data, task: str, db: str | None = None, template: str | None = None,
                   batch_size: int = 8, max_new_tokens: int | None = None, context_length: int = 4096,
                   limit: int | None = None, timeout_s: float = 5.0, progress: bool = False,
                   validator_parity: bool = False) -> dict[str, EvaluationResult]:
    """Evaluate the base model, then the same model with ``adapter``: ``{"baseline": ..., "fine-tuned": ...}``."""
    from synthera.text.finetune import load_base_model

    if adapter is None:
        raise UserInputError("compare needs adapter: the baseline is the model without it")
    examples, databases = _prepare(data, task, db, limit)
    kwargs = {"task": task, "template": template, "databases": databases, "batch_size": batch_size,
              "max_new_tokens": max_new_tokens, "context_length": context_length, "timeout_s": timeout_s,
              "progress": progress, "validator_parity": validator_parity}
    try:
        lm, tokenizer = load_base_model(model)
        lm = validator_precision(lm, fp16=validator_parity)
        baseline = _run_one("baseline", lm, tokenizer, examples, **kwargs)
        tuned = _run_one("fine-tuned", _attach(lm, adapter), tokenizer, examples, **kwargs)
    finally:
        databases.close()
    return {"baseline": baseline, "fine-tuned": tuned}


def metrics_rows(results: dict[str, EvaluationResult]) -> list[tuple[str, list[str]]]:
    """``(metric, [value per model])`` rows for a table; percentages for shares, 2-4 decimals otherwise."""
    names: list[str] = []
    for result in results.values():
        for name in (*result.metrics, *result.errors):
            if name not in names:
                names.append(name)
    rows = []
    for name in names:
        cells = []
        for result in results.values():
            value = result.metrics.get(name)
            if value is None:
                cells.append("n/a")
            elif name in ("bleu",):
                cells.append(f"{value:.2f}")
            elif name == "bits_per_byte":
                cells.append("inf" if math.isinf(value) else f"{value:.4f}")
            else:
                cells.append(f"{100 * value:.1f}%")
        rows.append((name, cells))
    return rows
