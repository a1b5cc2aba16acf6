"""The ``bias`` command: where a table's bias comes from, as a report in the format of ``evaluate``."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from synthera.cli import _common as common
from synthera.cli._app import app
from synthera.cli._common import DATA_HELP, ENCODING_HELP, FORMAT_HELP, TABLE_HELP


@app.command()
def bias(
    data: str = typer.Argument(..., help=DATA_HELP),
    target: str = typer.Option(..., "--target", help="The outcome column (categorical or boolean)."),
    sensitive: list[str] = typer.Option(..., "--sensitive", help="Sensitive column; repeat for several."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write results.json and report.html in."),
    holdout: str | None = typer.Option(
        None, "--holdout", help="Rows to test the model on (default: 5-fold cross-validation on DATA)."
    ),
    positive: str | None = typer.Option(
        None, "--positive", help="The favourable target value (default: the rarer class, or a boolean's true value)."
    ),
    synthetic: str | None = typer.Option(
        None, "--synthetic", help="A synthetic table learned from DATA: report how much it amplifies each disparity."
    ),
    table: str | None = typer.Option(None, "--table", "-t", help=TABLE_HELP),
    holdout_table: str | None = typer.Option(None, "--holdout-table", help=common.table_help("--holdout")),
    metadata: Path | None = typer.Option(
        None, "--metadata", "-m", help="Metadata JSON (e.g. edited after `synthera inspect`); inferred when left out."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for folds, subsamples and models: same inputs, same report."),
    encoding: str = typer.Option("utf-8", "--encoding", help=ENCODING_HELP),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP + " (of DATA and --holdout)"),
) -> None:
    """Report group representation, base rates, a model's disparity and the proxies of each sensitive column."""
    from synthera.bias.analysis import analyze_bias
    from synthera.metadata import Metadata

    common.check_out_folder(out, "write results.json and report.html in")
    hints = Metadata.load(metadata) if metadata else None
    frame = common.read_source(data, table=table, fmt=fmt, encoding=encoding)
    held = None
    if holdout:
        held = common.read_source(holdout, table=holdout_table, fmt=fmt, encoding=encoding,
                                  flags={"table": "--holdout-table"})
    syn = None
    if synthetic:
        syn = common.read_source(synthetic, fmt=fmt, encoding=encoding)
    start = time.perf_counter()
    with common.status("Analysing"):
        report = analyze_bias(frame, target=target, sensitive=sensitive, metadata=hints, holdout=held,
                              positive=positive, seed=seed, synthetic=syn)
    common.write_report(report, out, f"analysed in {time.perf_counter() - start:.1f} s")
