"""The ``evaluate`` command: fidelity, utility, privacy and fairness in one report."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import typer

from synthera.cli.data import ENCODING_HELP, _console, _status
from synthera.cli.main import app
from synthera.errors import UserInputError

SOURCE_HELP = "a .csv/.tsv/.parquet/.jsonl/.db file, a database URL or dataset:NAME[:test]"


@app.command()
def evaluate(
    real: str = typer.Option(..., "--real", help=f"The real table the synthesizer learned from: {SOURCE_HELP}."),
    synthetic: str = typer.Option(..., "--synthetic", help=f"The synthetic table: {SOURCE_HELP}."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Folder to write results.json, report.html and column_pairs.parquet in."
    ),
    holdout: Optional[str] = typer.Option(
        None, "--holdout", help="Real rows the synthesizer never saw; needed for utility, fairness and most privacy metrics."
    ),
    target: Optional[str] = typer.Option(None, "--target", help="Column to predict (utility and fairness)."),
    sensitive: list[str] = typer.Option(
        [], "--sensitive", help="Column whose groups fairness compares; repeat for several (intersections too)."
    ),
    metadata: Optional[Path] = typer.Option(
        None, "--metadata", "-m", help="Metadata JSON (e.g. edited after `synthera inspect`); inferred when left out."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for subsamples and models: same inputs, same report."),
    encoding: str = typer.Option("utf-8", "--encoding", help=ENCODING_HELP),
) -> None:
    """Measure how faithful, useful, private and fair a synthetic table is; write JSON and an HTML report."""
    from synthera.evaluate import evaluate as run_evaluation
    from synthera.io import read_table
    from synthera.metadata import Metadata

    check_report_folder(out)
    hints = Metadata.load(metadata) if metadata else None
    tables = {}
    for name, source in (("real", real), ("synthetic", synthetic), ("holdout", holdout)):
        if source is not None:
            with _status(f"Reading {source}"):
                tables[name] = read_table(source, encoding=encoding)
    start = time.perf_counter()
    with _status("Evaluating"):
        report = run_evaluation(
            tables["real"], tables["synthetic"], holdout=tables.get("holdout"),
            target=target, sensitive=tuple(sensitive), metadata=hints, seed=seed,
        )
    write_report(report, out, f"evaluated in {time.perf_counter() - start:.1f} s")


def check_report_folder(out: Path) -> None:
    """Refuse an ``--out`` folder that is a file or cannot be written, before any work is done."""
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out} is a file; --out needs a folder to write results.json and report.html in")
    from synthera import io

    check = getattr(io, "check_writable", None)
    if check is not None:
        check(out / "results.json")  # a file in the folder: the folder itself may not exist yet
        return
    try:  # until synthera.io.check_writable exists: try it for real
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".synthera-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        why = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or type(exc).__name__).lower()
        raise UserInputError(f"cannot write to {out}: {why}; pick another --out") from None


def write_report(report, out: Path, done: str) -> None:
    """Write ``results.json``, ``report.html`` (and Parquet detail) atomically into ``out``, then print the headline."""
    with _status("Writing the report"):
        report.save(out)
    console = _console()
    for line in report.headline:
        console.print(f"- {line}")
    console.print(f"{done}; report: {out / 'report.html'} (numbers: {out / 'results.json'})")
