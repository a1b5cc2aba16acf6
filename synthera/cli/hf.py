"""The ``hf-eval`` command: fine-tune transformers on real and on synthetic rows written as text."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from synthera.cli import _common as common
from synthera.cli._app import app
from synthera.cli._common import ENCODING_HELP, FORMAT_HELP, SOURCE_HELP
from synthera.errors import UserInputError


def _class_weight(text: str) -> str | None:
    weight = text.strip().lower()
    if weight not in ("none", "balanced"):
        raise UserInputError(f"--class-weight must be 'none' or 'balanced'; got {text!r}")
    return None if weight == "none" else "balanced"


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
    max_rows: Annotated[int | None, Opt(
        "--max-rows", metavar="N", help="Rows drawn from each training table (validation included); all by default."
    )] = None,
    epochs: Annotated[int | None, Opt("--epochs", metavar="E", help="Most passes over the rows (default 3).")] = None,
    batch_size: Annotated[int | None, Opt("--batch-size", metavar="B", help="Rows per step (default 16).")] = None,
    learning_rate: Annotated[float | None, Opt(
        "--learning-rate", "--lr", metavar="LR", help="Peak AdamW learning rate (default 5e-5)."
    )] = None,
    max_length: Annotated[int | None, Opt(
        "--max-length", metavar="T", help="Tokens per text; longer texts are cut, with a warning (default 96)."
    )] = None,
    class_weight: Annotated[str, Opt(
        "--class-weight", help="'balanced' weighs rare classes up in the loss; 'none' (default) does not."
    )] = "none",
    patience: Annotated[int | None, Opt(
        "--patience", metavar="P", help="Validation scores without improvement before stopping (default 2)."
    )] = None,
    validation_fraction: Annotated[float | None, Opt(
        "--validation-fraction", metavar="F", help="Share of rows held out for early stopping (default 0.1)."
    )] = None,
    template: Annotated[str | None, Opt(
        "--template",
        help="Custom text with {column} fields, e.g. '{age} year old {sex}, {occupation}'. "
        "Default: 'age is 39, workclass is State-gov, ...' over every column but the target.",
    )] = None,
    exclude: Annotated[
        list[str] | None, Opt("--exclude", help="Column never written into the text. Repeatable.")
    ] = None,
    seed: Annotated[int, Opt("--seed", help="Same seed and data give the same models and scores.")] = 0,
    threads: Annotated[int | None, Opt("--threads", metavar="N", help="Torch CPU threads (default: torch's).")] = None,
    device: Annotated[str, Opt("--device", help="auto (GPU when present), cpu or cuda.")] = "auto",
    encoding: Annotated[str, Opt("--encoding", help=ENCODING_HELP)] = "utf-8",
    fmt: Annotated[str | None, Opt("--format", help=FORMAT_HELP + " (of all three tables)")] = None,
    real_table: Annotated[str | None, Opt("--real-table", help=common.table_help("--real"))] = None,
    synthetic_table: Annotated[str | None, Opt("--synthetic-table", help=common.table_help("--synthetic"))] = None,
    test_table: Annotated[str | None, Opt("--test-table", help=common.table_help("--test"))] = None,
) -> None:
    """Fine-tune transformers on real and on synthetic rows; score both on real test rows (accuracy, F1, ROC AUC)."""
    from synthera.hf.evaluate import check_max_rows, resolve_models
    from synthera.hf.serialize import RowTemplate
    from synthera.hf.train import TransformerClassifier

    given = {"epochs": epochs, "batch_size": batch_size, "max_length": max_length, "patience": patience,
             "threads": threads, "learning_rate": learning_rate, "validation_fraction": validation_fraction}
    params = {key: value for key, value in given.items() if value is not None}
    params.update(class_weight=_class_weight(class_weight), device=device)
    TransformerClassifier(**params, seed=seed).check_params()  # its errors name parameters; FLAGS maps them
    rows = check_max_rows(max_rows)
    common.check_out_folder(out, "write results.json and the tables in")
    specs = resolve_models(model or [], scratch or [])
    row_template = RowTemplate(text=template, exclude=tuple(exclude or ()))
    tables = {}
    for name, source, table in (("real", real, real_table), ("synthetic", synthetic, synthetic_table),
                                ("test", test, test_table)):
        tables[name] = common.read_source(source, table=table, fmt=fmt, encoding=encoding,
                                          flags={"table": f"--{name}-table"})

    from synthera.hf.evaluate import hf_evaluate

    start = time.perf_counter()
    report = hf_evaluate(tables["real"], tables["synthetic"], tables["test"], target=target, models=specs,
                         template=row_template, max_rows=rows, seed=seed, progress=True, **params)
    seconds = time.perf_counter() - start
    _print_results(report, report.save(out), seconds)


def _print_results(report, paths: dict, seconds: float) -> None:
    """The scores as a Markdown table, the headline, and where the files went."""
    shown = common.console()
    shown.print("| Model | on real | on synthetic |")
    shown.print("|---|---|---|")
    for a, b, c in report.table_rows():
        shown.print(f"| {a} | {b} | {c} |")
    for line in report.headline:
        shown.print(f"- {line}")
    shown.print(f"done in {seconds:.0f} s; tables: {paths['markdown']} and {paths['html']}; "
                  f"numbers: {paths['json']}; curves: {paths['curves']}")
