"""``synthera run`` (a pipeline file, end to end) and ``synthera init`` (a commented example to start from)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthera.cli._app import app, clean
from synthera.cli._common import console
from synthera.errors import UserInputError


def _problems(exc) -> typer.Exit:
    """Each problem of the file as its own ``error:`` line; exit 2."""
    for line in getattr(exc, "problems", [str(exc)]):
        typer.echo(f"error: {clean(line)}", err=True)
    return typer.Exit(2)


@app.command("run")
def run_command(
    file: Annotated[Path, typer.Argument(help="The pipeline file (YAML); see `synthera init`.")],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Check the file and print the plan (steps, inputs, outputs, cached or not, ε ledger); "
        "run nothing.")] = False,
    from_step: Annotated[str | None, typer.Option(
        "--from", metavar="STEP", help="Re-run this step and every step that reads from it, even when cached.")] = None,
    only: Annotated[str | None, typer.Option(
        "--only", metavar="STEP", help="Run just this step (the steps it reads from must be done).")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Run fit, sample and evaluate on a local Dask cluster of N worker processes "
        "(replaces the file's workers).")] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Run fit, sample and evaluate on this Dask scheduler (tcp://host:8786).")] = None,
) -> None:
    """Run a pipeline file: every step not done yet, then write dossier.html in the workspace."""
    from synthera.pipeline import PipelineFileError, plan_lines, run_pipeline

    if from_step and only:
        raise UserInputError("pass either --from or --only, not both")
    shown = console()
    try:
        if dry_run:
            for line in plan_lines(file):
                typer.echo(clean(line))
            return
        summary = run_pipeline(file, from_step=from_step, only=only, workers=workers, scheduler=scheduler,
                               echo=shown.print)
    except PipelineFileError as exc:
        raise _problems(exc) from None
    if summary.failed is not None:
        failed = summary.failed
        typer.echo(clean(f"error: step {failed.id} failed: {failed.error}; reproduce it alone with "
                         f"`{summary.reproduce(file)}`; its log: {failed.log}"), err=True)
        raise typer.Exit(1)
    ran = sum(o.status == "done" for o in summary.outcomes)
    cached = sum(o.status == "cached" for o in summary.outcomes)
    shown.print(f"{ran} steps ran, {cached} cached, in {summary.seconds:.1f} s; dossier: {summary.dossier}")


@app.command("init")
def init_command(
    example: Annotated[str, typer.Option("--example", help="tabular, dp or private-db.")] = "tabular",
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where to write it (default: EXAMPLE.yaml here); an existing file is kept.")] = None,
) -> None:
    """Write a commented example pipeline file to start from."""
    from synthera.io import check_writable, write_text
    from synthera.pipeline import example_text

    text = example_text(example)
    target = out or Path(f"{example}.yaml")
    if target.exists():
        raise UserInputError(f"{target} already exists; pass another --out or remove it")
    check_writable(target)
    write_text(text, target)
    console().print(f"wrote {target}; check it with `synthera run {target} --dry-run`, then run it without --dry-run")
