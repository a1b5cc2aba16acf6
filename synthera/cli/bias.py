"""The ``bias`` command: where a table's bias comes from, as a report in the format of ``evaluate``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from synthera.cli.data import DATA_HELP, ENCODING_HELP, FORMAT_HELP, TABLE_HELP, _check_out, _status
from synthera.cli.evaluate import check_report_folder, write_report
from synthera.cli.main import app


@app.command()
def bias(
    data: str = typer.Argument(..., help=DATA_HELP),
    target: str = typer.Option(..., "--target", help="The outcome column (categorical or boolean)."),
    sensitive: list[str] = typer.Option(..., "--sensitive", help="Sensitive column; repeat for several."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write results.json and report.html in."),
    holdout: Optional[str] = typer.Option(
        None, "--holdout", help="Rows to test the model on (default: 5-fold cross-validation on DATA)."
    ),
    positive: Optional[str] = typer.Option(
        None, "--positive", help="The favourable target value (default: the rarer class, or a boolean's true value)."
    ),
    table: Optional[str] = typer.Option(None, "--table", "-t", help=TABLE_HELP),
    metadata: Optional[Path] = typer.Option(
        None, "--metadata", "-m", help="Metadata JSON (e.g. edited after `synthera inspect`); inferred when left out."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for folds, subsamples and models: same inputs, same report."),
    encoding: str = typer.Option("utf-8", "--encoding", help=ENCODING_HELP),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP + " (of DATA and --holdout)"),
) -> None:
    """Report group representation, base rates, a model's disparity and the proxies of each sensitive column."""
    from synthera.bias.analysis import analyze_bias
    from synthera.io import read_table
    from synthera.metadata import Metadata

    check_report_folder(out)
    _check_out(out, folder=True)
    hints = Metadata.load(metadata) if metadata else None
    with _status(f"Reading {data}"):
        frame = read_table(data, table=table, format=fmt, encoding=encoding)
    held = None
    if holdout:
        with _status(f"Reading {holdout}"):
            held = read_table(holdout, format=fmt, encoding=encoding)
    start = time.perf_counter()
    with _status("Analysing"):
        report = analyze_bias(frame, target=target, sensitive=sensitive, metadata=hints, holdout=held,
                              positive=positive, seed=seed)
    write_report(report, out, f"analysed in {time.perf_counter() - start:.1f} s")
