"""Commands about data itself: ``inspect``, ``datasets`` and ``convert``."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from synthera.cli import _common as common
from synthera.cli._app import app, clean, renamed_flags
from synthera.cli._common import DATA_HELP, ENCODING_HELP, FORMAT_HELP, REPLACE_HELP, TABLE_HELP


def _short(value, width: int = 18) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _common_categories(col, values) -> list:
    """The categories to show: with the column's values, only those held by at least k rows, most frequent first.

    ``values`` may also be the rows of each category (a Series indexed by category, named "rows").
    """
    if values is None:
        return list(col.categories)
    from synthera import metadata

    counts = values.sort_values(ascending=False) if values.name == "rows" else values.value_counts(dropna=True)
    return list(counts[counts >= getattr(metadata, "RARE_COUNT", 5)].index)


def _describe(col, values=None) -> str:
    """One short human line about a column's learned properties, and what was merged for privacy.

    ``values`` (the column's data) lets a categorical column list only categories held by at least k rows.
    """
    rare = getattr(col, "rare_categories", None)
    text = _properties(col, values)
    if rare:
        from synthera import metadata

        k = getattr(metadata, "RARE_COUNT", 5)
        text += f"; {rare} rare categor{'y' if rare == 1 else 'ies'} (fewer than {k} rows each) merged, never emitted"
    return text


def _properties(col, values=None) -> str:
    """The learned properties of a column; never a cell of a personal-data, key or free-text column."""
    if col.kind == "pii" or getattr(col, "pii_type", None):
        return "fake values in synthetic data"
    if col.kind == "numerical":
        if col.integer:
            return f"integer, {col.min} … {col.max}"
        return f"{col.precision} decimals, {col.min:g} … {col.max:g}"
    if col.kind == "categorical":
        n = len(col.categories)
        common = _common_categories(col, values)
        label = f"{n} categor{'y' if n == 1 else 'ies'}"
        if not common:
            return label
        return f"{label}: " + ", ".join(_short(c) for c in common[:3]) + (", …" if n > min(3, len(common)) else "")
    if col.kind == "boolean":
        return f"{col.true_value!r} / {col.false_value!r}"
    if col.kind == "datetime":
        import pandas as pd

        fmt = col.datetime_format
        low, high = (pd.Timestamp(v).strftime(fmt) if fmt else str(v) for v in (col.min, col.max))
        return f"{fmt or 'native'}, {low} … {high}"
    if col.kind == "pii":
        return "fake values in synthetic data"
    if col.kind == "id":
        return "unique key, generated fresh"
    return "free text"


INSPECT_WORKERS_HELP = ("Inspect a Parquet dataset, a folder or a glob of files larger than memory on a local Dask "
                        "cluster of this many worker processes: counts, categories, bounds and null shares from every "
                        "row, kinds from a fixed-seed sample (needs synthera[dask]).")


@app.command()
def inspect(
    data: str = typer.Argument(..., help=DATA_HELP),
    table: str | None = typer.Option(None, "--table", "-t", help=TABLE_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the metadata JSON to this file."),
    metadata: Path | None = typer.Option(
        None, "--metadata", "-m",
        help="Start from this metadata JSON (e.g. one you edited); what it leaves out is inferred.",
    ),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    encoding: str = typer.Option("utf-8", "--encoding", help=ENCODING_HELP),
    workers: int | None = typer.Option(None, "--workers", help=INSPECT_WORKERS_HELP),
    scheduler: str | None = typer.Option(None, "--scheduler", help="As --workers, on an existing Dask cluster, "
                                         "e.g. tcp://host:8786."),
) -> None:
    """Detect each column's kind; on a database (several tables), every table's keys and the foreign-key graph."""
    from rich.table import Table

    from synthera.metadata import Metadata, infer_metadata

    if out is not None:
        common.check_out(out)
    if workers is not None or scheduler is not None:
        _inspect_dataset(data, out, Metadata.load(metadata) if metadata else None, table=table, workers=workers,
                         scheduler=scheduler)
        return
    if table is None and fmt is None and _several_tables(data):
        _inspect_database(data, out, metadata)
        return
    hints = Metadata.load(metadata) if metadata else None
    start = time.perf_counter()
    df = common.read_source(data, table=table, fmt=fmt, encoding=encoding)
    read_s = time.perf_counter() - start
    with common.status("Inferring column kinds"):
        md = infer_metadata(df, hints=hints)
    infer_s = time.perf_counter() - start - read_s

    view = Table(title=f"{clean(data)}: {len(df):,} rows × {df.shape[1]} columns", title_justify="left")
    for header in ("column", "kind", "dtype", "nulls", "details"):
        view.add_column(header, overflow="fold")
    for name, col in md.columns.items():
        kind = col.kind + (f" ({col.pii_type})" if col.pii_type else "")
        nulls = f"{col.null_fraction:.1%}" if col.nullable else "–"
        view.add_row(name, kind, col.dtype or "", nulls, _describe(col, df[name] if name in df else None))
    shown = common.console()
    shown.print(view)
    if md.primary_key:
        shown.print(f"primary key: {md.primary_key}")
    for line in _sequence_lines(df, md) or _sensitive_lines(md):
        shown.print(line)
    if out is not None:
        md.save(out)
        extra = ("; edit or remove its sequence_key, sequence_index and constraints (without a sequence, "
                 "fit models rows)") if md.is_sequence else ""
        shown.print(f"metadata written to {out}{extra}")
    shown.print(f"read in {read_s:.2f} s, inferred in {infer_s:.2f} s", style="dim")


def _inspect_dataset(data: str, out: Path | None, hints, *, table: str | None, workers: int | None,
                     scheduler: str | None) -> None:
    """``inspect --workers/--scheduler``: :func:`synthera.distributed.fit.infer_dataset_metadata`, shown and saved."""
    import pandas as pd
    from rich.table import Table

    from synthera.distributed import cluster
    from synthera.distributed._parts import list_parts
    from synthera.distributed.fit import infer_dataset_metadata
    from synthera.errors import UserInputError

    if table is not None:
        raise UserInputError("--workers and --scheduler read Parquet or CSV files; drop --table")
    list_parts(data)  # a wrong path fails here, before a cluster starts
    start = time.perf_counter()
    with renamed_flags(workers="--workers", scheduler="--scheduler"), \
            cluster(workers=workers, scheduler=scheduler) as client, common.status("Inspecting the dataset"):
        md, info = infer_dataset_metadata(data, hints=hints, client=client)
    view = Table(title=f"{clean(data)}: {info['rows']:,} rows × {len(md.columns)} columns ({info['parts']} part(s); "
                       f"kinds from a sample of {info['sample_rows']:,} rows)", title_justify="left")
    for header in ("column", "kind", "dtype", "nulls", "details"):
        view.add_column(header, overflow="fold")
    for name, col in md.columns.items():
        kind = col.kind + (f" ({col.pii_type})" if col.pii_type else "")
        nulls = f"{col.null_fraction:.1%}" if col.nullable else "–"
        rows = info["category_rows"].get(name)
        counted = pd.Series(list(rows.values()), index=list(rows), name="rows") if rows is not None else None
        view.add_row(name, kind, col.dtype or "", nulls, _describe(col, counted))
    shown = common.console()
    shown.print(view)
    if md.primary_key:
        shown.print(f"primary key: {md.primary_key}")
    for line in _sensitive_lines(md):
        shown.print(line)
    if out is not None:
        md.save(out)
        shown.print(f"metadata written to {out}")
    shown.print(f"inspected in {time.perf_counter() - start:.2f} s", style="dim")


def _sensitive_lines(md) -> list[str]:
    """Propose (or confirm) the sensitive columns, found by name; sets them on ``md``. One line, or none."""
    from synthera.tabular.sensitive import detect_sensitive

    if md.sensitive is not None:
        return [f"sensitive (declared): {', '.join(md.sensitive) or 'none'}"]
    sizes = {name: (len(c.categories or []) + bool(c.rare_categories) if c.kind == "categorical" else
                    2 if c.kind == "boolean" else None) for name, c in md.columns.items()}
    found = detect_sensitive(sizes)
    if not found:
        return []
    md.sensitive = found
    return [f"sensitive: {', '.join(found)} (found by name; fit models their groups first so small groups keep "
            'their own rates; edit the list in the metadata, "sensitive": [] for none)']


def _sequence_lines(df, md) -> list[str]:
    """Propose (or confirm) the sequence key and index, and the constraints every row meets; sets them on ``md``.

    One line each: the key and the index with their evidence, then each constraint.
    """
    from synthera.sequences.constraints import detect_constraints
    from synthera.sequences.inference import evidence_lines, infer_sequence, parse_dates

    if md.is_sequence:
        lines = [f"sequence_key: {md.sequence_key} (declared)", f"sequence_index: {md.sequence_index} (declared)"]
    else:
        proposal = infer_sequence(df)
        if proposal is None:
            return []
        md.sequence_key, md.sequence_index = proposal["sequence_key"], proposal["sequence_index"]
        lines = evidence_lines(proposal)
    if md.constraints is not None:
        shown = ", ".join(f"{c['low']} <= {c['high']}" for c in md.constraints) or "none"
        return [*lines, f"constraints (declared): {shown}"]
    usable = [n for n, c in md.columns.items() if n != md.sequence_key and c.kind in ("numerical", "datetime")]
    with common.status("Looking for order relations within rows"):
        found = detect_constraints(parse_dates(df[usable], md), usable)
    md.constraints = found
    if not found:
        return [*lines, "constraints: none found (no two columns keep an order in every row)"]
    return [*lines, *(f"constraint: {c['low']} <= {c['high']} (holds in every row with both values; "
                      "the sequence model keeps it)" for c in found)]


@app.command()
def datasets() -> None:
    """List the real datasets that ship with Synthera (use them as dataset:NAME)."""
    from rich.table import Table

    from synthera import datasets as registry

    view = Table(title="Bundled datasets (read them as dataset:NAME or dataset:NAME:test)", title_justify="left")
    for header in ("name", "rows", "columns", "target", "sensitive", "split", "licence", "source"):
        view.add_column(header, overflow="fold")
    for entry in registry.available():
        view.add_row(
            entry.name, f"{entry.rows:,}", str(entry.columns), entry.target, ", ".join(entry.sensitive),
            entry.split, entry.license, entry.source,
        )
    common.console().print(view)


@app.command()
def convert(
    source: str = typer.Argument(..., help=DATA_HELP),
    target: str = typer.Argument(..., help="Where to write: a .csv/.tsv/.parquet/.jsonl/.db file or a database URL."),
    table: str | None = typer.Option(None, "--table", "-t", help=TABLE_HELP),
    out_table: str | None = typer.Option(
        None, "--out-table", help="Table name to write, for SQLite files (default: the file name) and URLs."
    ),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP + " (of SOURCE)"),
    out_format: str | None = typer.Option(
        None, "--out-format", help="Force the format of TARGET: csv, tsv, parquet, jsonl, sqlite."
    ),
    encoding: str = typer.Option("utf-8", "--encoding", help=ENCODING_HELP),
    replace: bool = typer.Option(False, "--replace", help=REPLACE_HELP),
) -> None:
    """Copy a table from one format or database to another, atomically."""
    from synthera.io import write_table

    common.check_table_out(target, out_table)
    df = common.read_source(source, table=table, fmt=fmt, encoding=encoding)
    with common.status(f"Writing {target}"):
        where = write_table(df, target, table=out_table, format=out_format, replace=replace)
    common.console().print(f"wrote {len(df):,} rows × {df.shape[1]} columns to {where}")


def _several_tables(source: str) -> bool:
    from synthera.relational.io import database_tables

    names = database_tables(source)
    return names is not None and len(names) > 1


def _inspect_database(data: str, out: Path | None, schema_file: Path | None) -> None:
    """``inspect`` on a database: tables, keys (declared or inferred, with evidence), orphans, cycles, lookups."""
    from rich.table import Table

    from synthera.relational import count_orphans, read_database
    from synthera.relational.inference import propose_public, propose_sequences, sequence_lines

    start = time.perf_counter()
    with common.status(f"Reading {clean(data)}"):
        tables, schema = read_database(data, schema=schema_file)
    shown = common.console()
    view = Table(title=f"{clean(data)}: {len(tables)} tables, {len(schema.foreign_keys)} foreign keys",
                 title_justify="left")
    for header in ("table", "rows", "columns", "primary key", "public"):
        view.add_column(header, overflow="fold")
    for name in schema.order():
        ts = schema.tables[name]
        view.add_row(name, f"{len(tables[name]):,}", str(tables[name].shape[1]),
                     "+".join(ts.primary_key) or "–", "yes (copied)" if ts.public else "")
    shown.print(view)
    shown.print("foreign keys (child -> parent):")
    for fk in schema.foreign_keys:
        orphans = count_orphans(tables, fk)
        how = "declared" if fk.evidence is None else "inferred: " + ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in fk.evidence.items())
        extra = f", {orphans['orphans']:,} orphan row(s) (policy: {fk.orphans})" if orphans["orphans"] else ""
        nulls = f", {orphans['null']:,} null" if orphans["null"] else ""
        shown.print(f"  {fk.child}.{'+'.join(fk.columns)} -> {fk.parent}.{'+'.join(fk.parent_columns)} "
                    f"({how}{nulls}{extra})")
    for cycle in schema.cycles():
        shown.print(f"cycle: {' -> '.join(cycle)} (broken at nullable key(s): "
                    f"{', '.join(schema.broken_edges()) or 'none'})")
    for name, why in propose_public(tables, schema).items():
        shown.print(f"lookup? {name}: {why}")
    for line in sequence_lines(schema):
        shown.print(f"history: {line}")
    for name, why in propose_sequences(tables, schema).items():
        shown.print(f"history? {name}: {why}")
    if out is not None:
        schema.save(out)
        shown.print(f"schema written to {out}; edit it and pass it back with --metadata")
    shown.print(f"read and inspected in {time.perf_counter() - start:.2f} s", style="dim")
