"""The ``hf-eval`` command: fine-tune transformers on real and on synthetic rows written as text."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated

import typer

from synthera.cli.data import ENCODING_HELP, FORMAT_HELP, _check_out, _console, _status
from synthera.cli.main import app
from synthera.errors import UserInputError

SOURCE_HELP = "a .csv/.tsv/.parquet/.jsonl/.db file, a database URL or dataset:NAME[:test]"


def _whole(text: str | None, option: str, low: int, example: str) -> int | None:
    if text is None:
        return None
    try:
        value = int(str(text).strip())
    except ValueError:
        raise UserInputError(f"{option} must be a whole number >= {low}, e.g. {option} {example}; got {text!r}") from None
    if value < low:
        raise UserInputError(f"{option} must be a whole number >= {low}, e.g. {option} {example}; got {value}")
    return value


def _positive_float(text: str | None, option: str, example: str, *, below: float = math.inf) -> float | None:
    if text is None:
        return None
    try:
        value = float(str(text).strip())
    except ValueError:
        raise UserInputError(f"{option} must be a number, e.g. {option} {example}; got {text!r}") from None
    if not 0 < value < below or math.isnan(value):
        limit = f"and < {below:g}" if math.isfinite(below) else ""
        raise UserInputError(f"{option} must be > 0 {limit}, e.g. {option} {example}; got {text}".replace("  ", " "))
    return value


def _training_params(*, epochs, batch_size, max_length, patience, threads, learning_rate, validation_fraction,
                     class_weight) -> dict:
    """The training options given as text, checked and converted, keyed by ``TransformerClassifier`` parameter."""
    params = {}
    for key, text, low, example in (("epochs", epochs, 1, "3"), ("batch_size", batch_size, 1, "16"),
                                    ("max_length", max_length, 8, "96"), ("patience", patience, 1, "2"),
                                    ("threads", threads, 1, "2")):
        value = _whole(text, "--" + key.replace("_", "-"), low, example)
        if value is not None:
            params[key] = value
    lr = _positive_float(learning_rate, "--learning-rate", "5e-5", below=1)
    if lr is not None:
        params["learning_rate"] = lr
    if validation_fraction is not None:
        try:
            frac = float(validation_fraction)
        except ValueError:
            frac = math.nan
        if not 0 <= frac < 0.5:
            raise UserInputError(f"--validation-fraction must lie in [0, 0.5), e.g. 0.1; got {validation_fraction!r}")
        params["validation_fraction"] = frac
    weight = class_weight.strip().lower()
    if weight not in ("none", "balanced"):
        raise UserInputError(f"--class-weight must be 'none' or 'balanced'; got {class_weight!r}")
    params["class_weight"] = None if weight == "none" else "balanced"
    return params


Opt = typer.Option


@app.command("hf-eval")
def hf_eval(
    real: Annotated[str, Opt("--real", help=f"Real training rows: {SOURCE_HELP}.")],
    synthetic: Annotated[str, Opt("--synthetic", help=f"Synthetic rows to compare with: {SOURCE_HELP}.")],
    test: Annotated[str, Opt("--test", help=f"Real rows never trained on, for the scores: {SOURCE_HELP}.")],
    target: Annotated[str, Opt("--target", help="The column to predict (a few classes).")],
    out: Annotated[Path, Opt("--out", "-o", help="Folder for results.json, results.md, report.html, curves.png.")],
    model: Annotated[list[str] | None, Opt(
        "--model",
        help="Model to fine-tune: 'bert' (MiniLM, BERT architecture, offline), a local model folder or a hub id "
        "(needs network). Repeat for several. Default: bert, unless only --from-scratch is given.",
    )] = None,
    scratch: Annotated[list[str] | None, Opt(
        "--from-scratch",
        help="Also build a small, randomly initialised (NOT pretrained) model: roberta or distilbert. Repeatable.",
    )] = None,
    max_rows: Annotated[str | None, Opt(
        "--max-rows", metavar="N", help="Rows drawn from each training table (validation included); all by default."
    )] = None,
    epochs: Annotated[str | None, Opt("--epochs", metavar="E", help="Most passes over the rows (default 3).")] = None,
    batch_size: Annotated[str | None, Opt("--batch-size", metavar="B", help="Rows per step (default 16).")] = None,
    learning_rate: Annotated[str | None, Opt(
        "--learning-rate", "--lr", metavar="LR", help="Peak AdamW learning rate (default 5e-5)."
    )] = None,
    max_length: Annotated[str | None, Opt(
        "--max-length", metavar="T", help="Tokens per text; longer texts are cut, with a warning (default 96)."
    )] = None,
    class_weight: Annotated[str, Opt(
        "--class-weight", help="'balanced' weighs rare classes up in the loss; 'none' (default) does not."
    )] = "none",
    patience: Annotated[str | None, Opt(
        "--patience", metavar="P", help="Validation scores without improvement before stopping (default 2)."
    )] = None,
    validation_fraction: Annotated[str | None, Opt(
        "--validation-fraction", metavar="F", help="Share of rows held out for early stopping (default 0.1)."
    )] = None,
    template: Annotated[str | None, Opt(
        "--template",
        help="Custom text with {column} fields, e.g. '{age} year old {sex}, {occupation}'. "
        "Default: 'age is 39, workclass is State-gov, ...' over every column but the target.",
    )] = None,
    exclude: Annotated[list[str] | None, Opt("--exclude", help="Column never written into the text. Repeatable.")] = None,
    seed: Annotated[int, Opt("--seed", help="Same seed and data give the same models and scores.")] = 0,
    threads: Annotated[str | None, Opt("--threads", metavar="N", help="Torch CPU threads (default: torch's).")] = None,
    device: Annotated[str, Opt("--device", help="auto (GPU when present), cpu or cuda.")] = "auto",
    encoding: Annotated[str, Opt("--encoding", help=ENCODING_HELP)] = "utf-8",
    fmt: Annotated[str | None, Opt("--format", help=FORMAT_HELP + " (of all three tables)")] = None,
) -> None:
    """Fine-tune transformers on real and on synthetic rows; score both on real test rows (accuracy, F1, ROC AUC)."""
    from synthera.hf.evaluate import _check_max_rows, resolve_models
    from synthera.hf.serialize import RowTemplate
    from synthera.io import read_table

    params = _training_params(epochs=epochs, batch_size=batch_size, max_length=max_length, patience=patience,
                              threads=threads, learning_rate=learning_rate, validation_fraction=validation_fraction,
                              class_weight=class_weight)
    rows = _check_max_rows(_whole(max_rows, "--max-rows", 10, "3000"))
    if seed < 0:
        raise UserInputError(f"--seed must be >= 0; got {seed}")
    params["device"] = device
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out} is a file; --out needs a folder to write results.json and the tables in")
    _check_out(out, folder=True)
    specs = resolve_models(model or [], scratch or [])
    row_template = RowTemplate(text=template, exclude=tuple(exclude or ()))
    from synthera.hf.train import TransformerClassifier

    TransformerClassifier(**params, seed=seed)._check_params()
    tables = {}
    for name, source in (("real", real), ("synthetic", synthetic), ("test", test)):
        with _status(f"Reading {source}"):
            tables[name] = read_table(source, format=fmt, encoding=encoding)

    from synthera.hf.evaluate import hf_evaluate

    start = time.perf_counter()
    report = hf_evaluate(tables["real"], tables["synthetic"], tables["test"], target=target, models=specs,
                         template=row_template, max_rows=rows, seed=seed, progress=True, **params)
    seconds = time.perf_counter() - start
    _print_results(report, report.save(out), seconds)


def _print_results(report, paths: dict, seconds: float) -> None:
    """The scores as a Markdown table, the headline, and where the files went."""
    console = _console()
    console.print("| Model | on real | on synthetic |")
    console.print("|---|---|---|")
    for a, b, c in report.table_rows():
        console.print(f"| {a} | {b} | {c} |")
    for line in report.headline:
        console.print(f"- {line}")
    console.print(f"done in {seconds:.0f} s; tables: {paths['markdown']} and {paths['html']}; "
                  f"numbers: {paths['json']}; curves: {paths['curves']}")
