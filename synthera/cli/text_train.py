"""``synthera text finetune`` and ``synthera text evaluate``: LoRA training and baseline-vs-fine-tuned scores."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from synthera.cli._app import text_app
from synthera.cli._common import console, library_warnings
from synthera.errors import UserInputError

_MODEL_HELP = "Base model: a local Hugging Face folder, or 'smollm2' (default) for the bundled SmolLM2-135M-Instruct."
_TEMPLATE_HELP = (
    "Prompt format: the model's chat template (default), or a FLock validator template "
    "(qwen1.5, llama3, gemma, mistral, phi3, ...) to match how FLock scores a submission."
)


def _modules(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise UserInputError("--target-modules needs at least one layer name, e.g. q_proj,v_proj")
    return names


@text_app.command("finetune")
def finetune_command(
    data: Annotated[Path, typer.Option("--data", "-d", help="Training conversations (FLock JSONL).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the adapter (and its checkpoint while training).")
    ],
    model: Annotated[str, typer.Option("--model", "-m", help=_MODEL_HELP)] = "smollm2",
    lora_r: Annotated[int, typer.Option("--lora-r", help="LoRA rank.")] = 8,
    lora_alpha: Annotated[int, typer.Option("--lora-alpha", help="LoRA scaling numerator (scale = alpha / r).")] = 16,
    lora_dropout: Annotated[float, typer.Option("--lora-dropout", help="Dropout on the LoRA input.")] = 0.05,
    target_modules: Annotated[
        str, typer.Option("--target-modules", help="Comma-separated layer names.")
    ] = "q_proj,v_proj",
    quantize: Annotated[
        str, typer.Option("--quantize", help="none, 8bit or 4bit (QLoRA, NF4; works on CPU).")
    ] = "none",
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the data.")] = 1,
    max_length: Annotated[
        int, typer.Option("--max-length", help="Context length; longer conversations are cut.")
    ] = 512,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Conversations per forward pass.")] = 4,
    grad_accum: Annotated[int, typer.Option("--grad-accum", help="Forward passes per optimizer step.")] = 1,
    learning_rate: Annotated[float, typer.Option("--learning-rate", "--lr", help="AdamW peak learning rate.")] = 2e-4,
    template: Annotated[str | None, typer.Option("--template", help=_TEMPLATE_HELP)] = None,
    save_every: Annotated[int, typer.Option("--save-every", help="Checkpoint every N optimizer steps.")] = 50,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Stop after N optimizer steps.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Use only the first N conversations.")] = None,
    base_model_id: Annotated[
        str | None,
        typer.Option(
            "--base-model-id", help="Hub id recorded in adapter_config.json (e.g. Qwen/Qwen2.5-0.5B-Instruct)."
        ),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Continue from the checkpoint in --out.")] = True,
    seed: Annotated[int, typer.Option("--seed", help="Same seed and data give the same adapter.")] = 0,
) -> None:
    """Train a LoRA (or QLoRA) adapter; loss only on assistant tokens; saves the adapter only."""
    from synthera.text.finetune import LoraFinetuner

    if seed < 0:
        raise UserInputError(f"--seed must be >= 0; got {seed}")
    tuner = LoraFinetuner(
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=_modules(target_modules),
        quantize=quantize,
        epochs=epochs,
        max_length=max_length,
        batch_size=batch_size,
        grad_accum=grad_accum,
        learning_rate=learning_rate,
        template=template,
        seed=seed,
        save_every=save_every,
        max_steps=max_steps,
    )
    with library_warnings():
        tuner.fit(
            str(data), model=model, out=out, resume=resume, progress=True, base_model_id=base_model_id, limit=limit
        )
    shown = console()
    if tuner.resumed_from_:
        shown.print(f"resumed from step {tuner.resumed_from_}")
    first, last = tuner.losses_[0], tuner.losses_[-1]
    shown.print(
        f"trained {tuner.steps_} steps on {tuner.examples_:,} conversations ({tuner.target_tokens_:,} answer tokens; "
        f"{tuner.truncated_} cut at {max_length} tokens, {tuner.skipped_} skipped) in {tuner.seconds_:.1f} s"
    )
    shown.print(f"training loss {first:.4f} -> {last:.4f}")
    shown.print(f"adapter saved to {out} (adapter_config.json, adapter_model.safetensors)")


def _print_table(results: dict, *, title: str) -> None:
    from rich.table import Table

    from synthera.text.evaluation import metrics_rows

    table = Table(title=title)
    table.add_column("metric")
    for label in results:
        table.add_column(label, justify="right")
    if len(results) == 2:
        table.add_column("change", justify="right")
    for name, cells in metrics_rows(results):
        row = [name, *cells]
        if len(results) == 2:
            a, b = (r.metrics.get(name) for r in results.values())
            if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
                row.append("")
            elif name in ("bleu", "bits_per_byte"):
                row.append(f"{b - a:+.2f}" if name == "bleu" else f"{b - a:+.4f}")
            else:
                row.append(f"{100 * (b - a):+.1f} pts")
        table.add_row(*row)
    shown = console()
    shown.print(table)
    for label, result in results.items():
        for name, why in result.errors.items():
            shown.print(f"{label} {name}: {why}")


@text_app.command("evaluate")
def evaluate_command(
    data: Annotated[Path, typer.Option("--data", "-d", help="Test data: FLock JSONL, or question/sql/db lines.")],
    task: Annotated[str, typer.Option("--task", help="text-to-sql, summarization, qa or character.")],
    model: Annotated[str, typer.Option("--model", "-m", help=_MODEL_HELP)] = "smollm2",
    adapter: Annotated[Path | None, typer.Option("--adapter", help="LoRA adapter folder from `text finetune`.")] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Text-to-SQL database: a SQLite file, sqlite:/// URL or dataset:NAME[:test]."),
    ] = None,
    compare: Annotated[bool, typer.Option("--compare", help="Also evaluate the model without the adapter.")] = False,
    template: Annotated[str | None, typer.Option("--template", help=_TEMPLATE_HELP)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Prompts generated at once.")] = 8,
    max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", help="Longest answer, in tokens.")] = None,
    context_length: Annotated[int, typer.Option("--context-length", help="Truncation for bits per byte.")] = 4096,
    validator_parity: Annotated[
        bool,
        typer.Option(
            "--validator-parity",
            help="Bits per byte as FLock's loss validator computes it: fp16 on a GPU, transformers 4.49's byte "
            "count (clean_up_tokenization_spaces) and NaN rule, whatever transformers is installed.",
        ),
    ] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="Evaluate only the first N examples.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write metrics and every prediction to this JSON.")
    ] = None,
) -> None:
    """Score a model (and its adapter) on held-out data: accuracy, F1, BLEU, ROUGE-L, SQL execution, bits/byte."""
    from synthera.io import write_text
    from synthera.text.evaluation import compare_models, evaluate_model

    for name, value in (("batch-size", batch_size), ("context-length", context_length)):
        if value < 1:
            raise UserInputError(f"--{name} must be >= 1; got {value}")
    options = {
        "data": data,
        "task": task,
        "db": db,
        "template": template,
        "batch_size": batch_size,
        "max_new_tokens": max_new_tokens,
        "context_length": context_length,
        "limit": limit,
        "progress": True,
        "validator_parity": validator_parity,
    }
    with library_warnings():
        if compare:
            results = compare_models(model, adapter=adapter, **options)
        else:
            result = evaluate_model(model, adapter=adapter, **options)
            results = {result.label: result}
    n = len(next(iter(results.values())).predictions)
    _print_table(results, title=f"{task} on {n} examples from {data.name}")
    if out is not None:
        payload = {
            "task": task,
            "data": str(data),
            "model": model,
            "adapter": str(adapter) if adapter else None,
            "results": {k: v.to_dict() for k, v in results.items()},
        }
        write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", out)
        console().print(f"wrote {out}")
