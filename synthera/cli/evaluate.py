"""The ``evaluate`` command: fidelity, utility, privacy and fairness in one report."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from synthera.cli import _common as common
from synthera.cli._app import app
from synthera.cli._common import ENCODING_HELP, FORMAT_HELP, SOURCE_HELP


@app.command()
def evaluate(
    real: str = typer.Option(..., "--real", help=f"The real table the synthesizer learned from: {SOURCE_HELP}."),
    synthetic: str = typer.Option(..., "--synthetic", help=f"The synthetic table: {SOURCE_HELP}."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Folder to write results.json, report.html and column_pairs.parquet in."
    ),
    holdout: str | None = typer.Option(
        None, "--holdout",
        help="Real rows the synthesizer never saw; needed for utility, fairness and most privacy metrics.",
    ),
    target: str | None = typer.Option(None, "--target", help="Column to predict (utility and fairness)."),
    sensitive: list[str] = typer.Option(
        [], "--sensitive", help="Column whose groups fairness compares; repeat for several (intersections too)."
    ),
    metadata: Path | None = typer.Option(
        None, "--metadata", "-m", help="Metadata JSON (e.g. edited after `synthera inspect`); inferred when left out."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for subsamples and models: same inputs, same report."),
    real_table: str | None = typer.Option(None, "--real-table", help=common.table_help("--real")),
    synthetic_table: str | None = typer.Option(None, "--synthetic-table", help=common.table_help("--synthetic")),
    holdout_table: str | None = typer.Option(None, "--holdout-table", help=common.table_help("--holdout")),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP + " (of all the tables)"),
    encoding: str = typer.Option("utf-8", "--encoding", help=ENCODING_HELP),
) -> None:
    """Measure how faithful, useful, private and fair a synthetic table is; write JSON and an HTML report."""
    from synthera.evaluate import evaluate as run_evaluation
    from synthera.metadata import Metadata

    common.check_out_folder(out, "write results.json and report.html in")
    hints = Metadata.load(metadata) if metadata else None
    tables = {}
    for name, source, table in (("real", real, real_table), ("synthetic", synthetic, synthetic_table),
                                ("holdout", holdout, holdout_table)):
        if source is not None:
            tables[name] = common.read_source(source, table=table, fmt=fmt, encoding=encoding,
                                       flags={"table": f"--{name}-table"})
    start = time.perf_counter()
    with common.status("Evaluating"):
        report = run_evaluation(
            tables["real"], tables["synthetic"], holdout=tables.get("holdout"),
            target=target, sensitive=tuple(sensitive), metadata=hints, seed=seed,
        )
    common.write_report(report, out, f"evaluated in {time.perf_counter() - start:.1f} s")
