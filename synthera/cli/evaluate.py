"""The ``evaluate`` command: fidelity, utility, privacy and fairness in one report."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from synthera.cli import _common as common
from synthera.cli._app import app
from synthera.cli._common import ENCODING_HELP, FORMAT_HELP, SOURCE_HELP
from synthera.errors import UserInputError


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
    workers: int | None = typer.Option(
        None, "--workers", help="Evaluate tables larger than memory (Parquet datasets, folders or globs of files) on a "
        "local Dask cluster of this many worker processes: shapes and pair trends over all rows, the other metrics "
        "on fixed-seed samples."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="As --workers, on an existing Dask cluster, e.g. tcp://host:8786."),
) -> None:
    """Measure how faithful, useful, private and fair a synthetic table is; write JSON and an HTML report."""
    from synthera.evaluate import evaluate as run_evaluation
    from synthera.metadata import Metadata

    common.check_out_folder(out, "write results.json and report.html in")
    hints = Metadata.load(metadata) if metadata else None
    if workers is not None or scheduler is not None:
        if real_table or synthetic_table or holdout_table:
            raise UserInputError("--workers and --scheduler read Parquet or CSV files; drop the --*-table options")
        _evaluate_dataset(real, synthetic, holdout, out, target=target, sensitive=tuple(sensitive), hints=hints,
                          seed=seed, workers=workers, scheduler=scheduler)
        return
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


def _evaluate_dataset(real: str, synthetic: str, holdout: str | None, out: Path, *, target, sensitive, hints, seed,
                      workers: int | None, scheduler: str | None) -> None:
    """``evaluate`` for tables larger than memory (see :mod:`synthera.distributed.evaluate`)."""
    from synthera.distributed import cluster, evaluate_dataset

    start = time.perf_counter()
    with cluster(workers=workers, scheduler=scheduler) as client:
        with common.status("Evaluating over all rows"):
            report = evaluate_dataset(real, synthetic, holdout=holdout, target=target, sensitive=sensitive,
                                      metadata=hints, seed=seed, client=client)
    scale = report.results["scale"]
    sizes = ", ".join(f"{name} {n:,} of {scale['rows'].get(name, n):,}" for name, n in scale["sampled_rows"].items())
    common.write_report(report, out, f"evaluated in {time.perf_counter() - start:.1f} s; shapes and pair trends over "
                        f"all rows, other metrics on fixed-seed samples ({sizes})")
