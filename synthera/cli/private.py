"""Commands for models trained with differential privacy: ``train-private`` and ``predict``."""

from __future__ import annotations

import math
import time
from pathlib import Path

import typer

from synthera.cli import _common as common
from synthera.cli._app import app
from synthera.cli._common import DATA_HELP, ENCODING_HELP, FORMAT_HELP, REPLACE_HELP, TABLE_HELP
from synthera.errors import UserInputError


def _parse_epsilon(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserInputError(
            f"--epsilon must be a number > 0 (or inf for a non-private baseline); got {text!r}"
        ) from None
    if math.isnan(value) or value <= 0:
        raise UserInputError(f"--epsilon must be > 0; got {text}")
    return value


@app.command("train-private")
def train_private(
    data: str = typer.Argument(..., help=DATA_HELP),
    target: str = typer.Option(..., "--target", help="The column to predict (categorical or boolean)."),
    epsilon: str = typer.Option(
        ..., "--epsilon", "-e",
        help="Privacy budget ε > 0 for everything learned from the rows; 'inf' trains without privacy.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to save the model in."),
    delta: float | None = typer.Option(
        None, "--delta", help="δ in (0, 1); default 1/(10·rows) rounded down to a power of ten."
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Planned passes over the data (default 20)."),
    metadata: Path | None = typer.Option(
        None, "--metadata", "-m",
        help="Metadata JSON whose min/max and categories you declare PUBLIC (cost no budget); "
        "columns it leaves undeclared get bounds estimated under DP.",
    ),
    table: str | None = typer.Option(None, "--table", "-t", help=TABLE_HELP),
    seed: int | None = typer.Option(
        None, "--seed",
        help="Same seed and data give the same model; only for tests: without it the DP noise is fresh randomness.",
    ),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    encoding: str = typer.Option("utf-8", "--encoding", help=ENCODING_HELP),
) -> None:
    """Train a classifier with DP-SGD (Opacus) and report the ε it spent."""
    from synthera.dp.classifier import DPClassifier
    from synthera.metadata import Metadata

    eps = _parse_epsilon(epsilon)
    if delta is not None and not 0 < delta < 1:
        raise UserInputError(f"--delta must lie strictly between 0 and 1 (e.g. 1e-6); got {delta:g}")
    if epochs is not None and epochs < 1:
        raise UserInputError(f"--epochs must be at least 1; got {epochs}")
    if seed is not None and seed < 0:
        raise UserInputError(f"--seed must be >= 0; got {seed}")
    common.check_out_folder(out, "save the model in")
    declared = Metadata.load(metadata) if metadata else None
    df = common.read_source(data, table=table, fmt=fmt, encoding=encoding)
    params = {"epsilon": eps, "delta": delta, "seed": seed}
    if epochs is not None:
        params["epochs"] = epochs
    start = time.perf_counter()
    clf = DPClassifier(**params).fit(df, target=target, metadata=declared, progress=True)
    seconds = time.perf_counter() - start
    clf.save(out)
    shown = common.console()
    if math.isinf(eps):
        shown.print(f"trained a NON-PRIVATE baseline (ε = ∞) on {len(df):,} rows in {seconds:.1f} s; saved to {out}")
    else:
        shown.print(
            f"ε spent: {clf.epsilon_spent_:.4f} of {eps:g} (training {clf.epsilon_training_:.4f}"
            f" + domain {clf.epsilon_domain_:.4f}), δ = {clf.delta_:.3g}"
        )
        truncated = f" (of {clf.planned_steps_} planned)" if clf.steps_ < clf.planned_steps_ else ""
        shown.print(
            f"DP-SGD: noise multiplier {clf.noise_multiplier_:.3f}, sample rate {clf.sample_rate_:.4f}, "
            f"{clf.steps_} steps{truncated}, clipping norm {clf.max_grad_norm:g}"
        )
        shown.print(f"accountant: {clf.accountant_}")
    public = sum(c.source == "public" for c in clf.domain_.columns.values())
    shown.print(
        f"target '{target}' with {len(clf.classes_)} classes, {len(clf.features_)} feature columns "
        f"({public} with a declared public domain); {len(df):,} rows, {seconds:.1f} s"
    )
    shown.print(f"saved to {out}")


@app.command()
def predict(
    model_dir: Path = typer.Argument(..., help="A folder written by `synthera train-private`."),
    data: str = typer.Option(..., "--data", "-d", help=DATA_HELP),
    out: str = typer.Option(..., "--out", "-o", help="Where to write the predictions: .csv, .parquet, .jsonl."),
    table: str | None = typer.Option(None, "--table", "-t", help=TABLE_HELP),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP + " (of --data)"),
    encoding: str = typer.Option("utf-8", "--encoding", help=ENCODING_HELP),
    out_table: str | None = typer.Option(
        None, "--out-table", help="Table name for SQLite output (default: the file name) and database URLs."
    ),
    replace: bool = typer.Option(False, "--replace", help=REPLACE_HELP),
) -> None:
    """Predict with a saved private classifier: a `prediction` column and one `probability_<class>` per class."""
    import pandas as pd

    from synthera.dp.classifier import DPClassifier
    from synthera.io import write_table

    common.check_table_out(out, out_table)
    clf = DPClassifier.load(model_dir)
    df = common.read_source(data, table=table, fmt=fmt, encoding=encoding)
    proba = clf.predict_proba(df)
    result = pd.DataFrame({"prediction": [clf.classes_[i] for i in proba.argmax(axis=1)]})
    for j, label in enumerate(clf.classes_):
        name = f"probability_{label}"
        if name in result.columns:
            raise UserInputError(f"two classes both give the column name {name!r}; rename one of the classes")
        result[name] = proba[:, j]
    where = write_table(result, out, table=out_table, replace=replace)
    common.console().print(f"wrote {len(result):,} predictions ({len(clf.classes_)} classes) to {where}")
