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
    sequence_key: str | None = typer.Option(
        None, "--sequence-key", help="A long table of events: the entity column; with --sequence-index, adds the "
        "history metrics (lengths, gaps, per-history statistics, lag-1 differences, coherence, history privacy, "
        "next-event utility). Read from --metadata or --model when they declare a sequence."),
    sequence_index: str | None = typer.Option(
        None, "--sequence-index", help="A long table of events: the column ordering each entity's events."),
    model: Path | None = typer.Option(
        None, "--model", help="The model folder the synthetic table came from: a sequence model names the entity and "
        "order columns."),
) -> None:
    """Measure how faithful, useful, private and fair a synthetic table is; write JSON and an HTML report.

    A long table of events (declared in --metadata or --model, or by --sequence-key) adds history metrics.
    """
    from synthera.evaluate import evaluate as run_evaluation
    from synthera.metadata import Metadata

    common.check_out_folder(out, "write results.json and report.html in")
    if real_table is None and fmt is None and _several_tables(real):
        unused = [flag for flag, value in (("--target", target), ("--sensitive", sensitive or None),
                                           ("--synthetic-table", synthetic_table), ("--holdout-table", holdout_table),
                                           ("--workers", workers), ("--scheduler", scheduler)) if value is not None]
        if unused:
            raise UserInputError(f"{unused[0]} applies to one-table evaluations; drop it to evaluate the database")
        _evaluate_database(real, synthetic, holdout, out, schema_file=metadata, seed=seed)
        return
    hints = Metadata.load(metadata) if metadata else None
    roles = _sequence_roles(hints, model, sequence_key, sequence_index)
    if workers is not None or scheduler is not None:
        if roles is not None:
            raise UserInputError("the history metrics need the tables in memory; drop --workers and --scheduler")
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
    if roles is not None:
        _add_sequences(report, tables, roles, hints=hints, target=target, seed=seed)
    common.write_report(report, out, f"evaluated in {time.perf_counter() - start:.1f} s")


def _sequence_roles(hints, model: Path | None, key: str | None, index: str | None) -> tuple[str, str] | None:
    """The entity and order columns: from the flags, else the metadata, else a sequence model's folder, else None."""
    import json

    if (key is None) != (index is None):
        given, missing = ("--sequence-key", "--sequence-index") if index is None else ("--sequence-index",
                                                                                       "--sequence-key")
        raise UserInputError(f"{given} needs {missing} too: a sequence is an entity column and an order column")
    if key is not None:
        return key, index
    if hints is not None and hints.is_sequence:
        return hints.sequence_key, hints.sequence_index
    if model is None:
        return None
    try:
        manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserInputError(f"--model {model} is not a model folder written by `synthera fit`; check the path") \
            from None
    if not isinstance(manifest, dict) or manifest.get("format") != "synthera-sequence-model":
        return None
    fitted = manifest.get("fitted") or {}
    if not isinstance(fitted.get("key_"), str) or not isinstance(fitted.get("index_"), str):
        raise UserInputError(f"--model {model} is a damaged sequence model (no entity or order column); fit it again")
    return fitted["key_"], fitted["index_"]


def _add_sequences(report, tables: dict, roles: tuple[str, str], *, hints, target, seed: int) -> None:
    """The history metrics and plots, added to ``report`` (see :mod:`synthera.sequences.report`)."""
    from synthera.sequences.inference import parse_dates
    from synthera.sequences.report import sequence_report

    key, index = roles
    for name, frame in tables.items():
        for role, column in (("sequence key", key), ("sequence index", index)):
            if column not in frame.columns:
                raise UserInputError(f"the --{name} table has no column '{column}', the {role}; pass the "
                                     "tables the sequence model learned from and wrote")
    parsed = {name: parse_dates(frame, hints) for name, frame in tables.items()}
    with common.status("Evaluating histories"):
        results, plots = sequence_report(parsed["real"], parsed["synthetic"], sequence_key=key, sequence_index=index,
                                         holdout=parsed.get("holdout"), target=target, seed=seed)
    report.add_sequences(results, plots)


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


def _several_tables(source: str) -> bool:
    from synthera.relational.io import database_tables

    names = database_tables(source)
    return names is not None and len(names) > 1


def _evaluate_database(real: str, synthetic: str, holdout: str | None, out: Path, *, schema_file: Path | None,
                       seed: int) -> None:
    """``evaluate`` on two databases: per-table fidelity, cardinality, inter-table and k-hop trends, integrity."""
    import json

    from synthera.io import write_text
    from synthera.metadata import numpy_to_json
    from synthera.relational import evaluate_database, read_database

    with common.status(f"Reading {common.clean(real)}"):
        real_tables, schema = read_database(real, schema=schema_file)
    names = list(real_tables)
    loaded = {}
    for flag, source in (("--synthetic", synthetic), ("--holdout", holdout)):
        if source is None:
            continue
        with common.status(f"Reading {common.clean(source)}"):
            frames, _ = read_database(source)
        missing = [n for n in names if n not in frames]
        if missing:
            raise UserInputError(f"{flag} {common.clean(source)} has no table '{missing[0]}', which --real has; "
                                 f"pass a database with the same tables")
        loaded[flag] = {n: frames[n] for n in names}
    start = time.perf_counter()
    with common.status("Evaluating the database"):
        result = evaluate_database(real_tables, loaded["--synthetic"], schema, holdout=loaded.get("--holdout"),
                                   seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    write_text(json.dumps(result, indent=2, default=numpy_to_json) + "\n", out / "results.json")
    result.save_html(out / "report.html")
    shown = common.console()
    q = result.get("quality", {})
    if "score" in q:
        shown.print("- quality (sdmetrics recipe, all pairs): " + ", ".join(
            f"{k.replace('_', ' ')} {q[k]:.3f}" for k in ("column_shapes", "column_pair_trends", "cardinality",
                                                          "intertable_trends", "score")))
    integrity = result.get("referential_integrity", {}).get("score")
    if integrity is not None:
        shown.print(f"- referential integrity {integrity:.4f}")
    shown.print(f"evaluated {len(names)} tables in {time.perf_counter() - start:.1f} s; report: {out / 'report.html'} "
                f"(numbers: {out / 'results.json'})")
