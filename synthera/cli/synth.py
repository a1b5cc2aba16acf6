"""Commands that build and use synthesizers: ``fit``, ``sample`` and ``models``."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import typer

from synthera.cli import _common as common
from synthera.cli._app import app, renamed_flags
from synthera.cli._common import DATA_HELP, ENCODING_HELP, FORMAT_HELP, REPLACE_HELP, TABLE_HELP
from synthera.errors import UserInputError

FIT_WORKERS_HELP = ("Fit a table larger than memory (a Parquet dataset, a folder or a glob of files) on a local Dask "
                    "cluster of this many worker processes: statistics over all rows, the model on a fixed-seed sample "
                    "of at most 1,000,000 rows.")
FIT_SCHEDULER_HELP = "As --workers, on an existing Dask cluster, e.g. tcp://host:8786."
TABLES_HELP = "A database: fit only these tables, comma-separated (default: all of them)."
SAMPLE_OUT_HELP = ("Where to write: .csv, .parquet, .jsonl or .db (SQLite); for a database model a .db file, a "
                   "database URL, or a folder (Parquet files).")
SCALE_HELP = "A database model: root tables get this many times their real rows (default 1.0)."
SEQUENCE_KEY_HELP = ("A long table of events: the entity column (a patient, an account); with --sequence-index, fits "
                     "the sequence model. Overrides the --metadata file's sequence_key.")
SEQUENCE_INDEX_HELP = "A long table of events: the column ordering each entity's events (a date or a position)."
MAX_LENGTH_HELP = "A sequence model: the longest history accepted (default 10,000 events); longer ones are refused."
ENTITIES_HELP = ("A sequence model: the number of synthetic histories (entities) to write, each of several rows "
                 "(default: as many as in training). --rows does not apply to it.")
#: The options of ``fit`` and ``sample`` that only a one-table model takes (parameter -> flag).
_ROW_MODEL_FIT = {"model": "--model", "epochs": "--epochs", "trees": "--trees", "epsilon": "--epsilon",
                  "delta": "--delta", "workers": "--workers", "scheduler": "--scheduler",
                  "domain_is_public": "--domain-is-public"}
_ONE_TABLE_FIT = {**_ROW_MODEL_FIT, "sequence_key": "--sequence-key", "sequence_index": "--sequence-index",
                  "max_length": "--max-length"}
#: The options of ``sample`` that a sequence model does not take (it takes --entities, --where, --format ...).
_ROW_MODEL_SAMPLE = {"balance": "--balance", "parity": "--parity", "sensitive": "--sensitive", "relabel": "--relabel",
                     "intersectional": "--intersectional", "workers": "--workers", "scheduler": "--scheduler",
                     "rows_per_file": "--rows-per-file"}
_ONE_TABLE_SAMPLE = {"entities": "--entities", "balance": "--balance", "parity": "--parity", "sensitive": "--sensitive",
                     "relabel": "--relabel", "intersectional": "--intersectional", "workers": "--workers",
                     "scheduler": "--scheduler", "fmt": "--format", "rows_per_file": "--rows-per-file",
                     "out_table": "--out-table"}


def _refuse_one_table_flags(given: dict, flags: dict[str, str], why: str) -> None:
    """One line naming the first one-table option that was set, for a database model."""
    used = [flag for name, flag in flags.items() if given.get(name) not in (None, False, [], ())]
    if used:
        raise UserInputError(f"{used[0]} applies to one table; {why}, so drop {used[0]}")


FIT_SEED_HELP = ("Same seed and data give the same model (default 0; DP models default to fresh randomness "
                 "for their noise).")
MODEL_HELP = "Synthesizer name (see `synthera models`); default: the flagship."
TREES_HELP = ("The cascade: randomized trees per column, their leaves averaged (default 1: one tree of best splits). "
              "5 suits rows meant to train a model (Adult: TSTR AUC 0.9162 -> 0.9184) but blurs associations "
              "between categories.")


@app.command()
def fit(
    data: str = typer.Argument(..., help=DATA_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to save the fitted model in."),
    table: str | None = typer.Option(None, "--table", "-t", help=TABLE_HELP),
    metadata: Path | None = typer.Option(
        None, "--metadata", "-m", help="Metadata JSON (e.g. edited after `synthera inspect`); the rest is inferred."
    ),
    model: str | None = typer.Option(None, "--model", help=MODEL_HELP),
    epochs: int | None = typer.Option(None, "--epochs", help="Training epochs, for models that train in epochs."),
    trees: int | None = typer.Option(None, "--trees", help=TREES_HELP),
    epsilon: float | None = typer.Option(
        None, "--epsilon", help="Privacy budget ε, required by differentially private models (see `synthera models`)."
    ),
    delta: float | None = typer.Option(
        None, "--delta", help="δ of (ε, δ)-DP (default: a power of ten at least ten times below 1/rows)."
    ),
    seed: int | None = typer.Option(None, "--seed", help=FIT_SEED_HELP),
    domain_is_public: bool = typer.Option(
        False, "--domain-is-public",
        help="DP models: the --metadata bounds and categories are public knowledge, even if measured from the data "
        "(ε then does not cover them).",
    ),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    encoding: str = typer.Option("utf-8", "--encoding", help=ENCODING_HELP),
    workers: int | None = typer.Option(None, "--workers", help=FIT_WORKERS_HELP),
    scheduler: str | None = typer.Option(None, "--scheduler", help=FIT_SCHEDULER_HELP),
    tables: str | None = typer.Option(None, "--tables", help=TABLES_HELP),
    sensitive: list[str] | None = typer.Option(
        None, "--sensitive",
        help="A sensitive column (repeatable): the cascade models its groups first, so small groups keep "
        "their own rates instead of the majority's. Default: the metadata's list, else the columns found by "
        "name (sex, gender, race, ethnicity, religion, nationality, disability, age groups); 'none' for none.",
    ),
    sequence_key: str | None = typer.Option(None, "--sequence-key", help=SEQUENCE_KEY_HELP),
    sequence_index: str | None = typer.Option(None, "--sequence-index", help=SEQUENCE_INDEX_HELP),
    max_length: int | None = typer.Option(None, "--max-length", help=MAX_LENGTH_HELP),
) -> None:
    """Learn a synthesizer from a real table (or a whole database, keys and all) and save it to a folder.

    A long table of events (visits, transactions) whose metadata declares sequence_key and sequence_index (see
    `synthera inspect`), or given --sequence-key and --sequence-index, is fitted by the sequence model.
    """
    from synthera.metadata import Metadata
    from synthera.tabular import DEFAULT_SYNTHESIZER, get_synthesizer

    common.check_out_folder(out, "save the model in")
    if table is None and fmt is None and (tables is not None or _several_tables(data)):
        return _fit_database(data, out, tables=tables, schema_file=metadata, seed=seed, given=locals())
    hints = Metadata.load(metadata) if metadata else None
    roles = _sequence_roles(hints, sequence_key, sequence_index)
    if roles is not None or max_length is not None:
        if roles is None:
            raise UserInputError("--max-length applies to a sequence model; pass --sequence-key and "
                                 "--sequence-index (or declare them in the --metadata file), or drop --max-length")
        _refuse_one_table_flags(locals(), {**_ROW_MODEL_FIT, "sensitive": "--sensitive"},
                                "a long table of events is fitted by the sequence model")
        return _fit_sequences(data, out, hints=hints, roles=roles, flags=sequence_key is not None, table=table,
                              fmt=fmt, encoding=encoding, seed=seed, max_length=max_length)
    cls = get_synthesizer(model or DEFAULT_SYNTHESIZER)
    private = cls.differentially_private
    params = _fit_params(cls, epsilon=epsilon, delta=delta, seed=seed, epochs=epochs, trees=trees,
                         sensitive=_declared_sensitive(cls, sensitive, hints))
    if workers is not None or scheduler is not None:
        _fit_dataset(cls(**params), data, out, hints=hints, table=table, workers=workers, scheduler=scheduler,
                     seed=params.get("seed"), domain_is_public=domain_is_public)
        return
    df = common.read_source(data, table=table, fmt=fmt, encoding=encoding)
    start = time.perf_counter()
    synth = cls(**params).fit(df, metadata=hints, progress=True, domain_is_public=domain_is_public)
    seconds = time.perf_counter() - start
    synth.save(out)
    spent = ""
    if private:
        spent = f"; (ε, δ) = ({synth.privacy_['epsilon_spent']:.4g}, {synth.privacy_['delta']:.3g}) spent"
    common.console().print(
        f"fitted {cls.name} on {len(df):,} rows × {df.shape[1]} columns in {seconds:.1f} s{spent}; saved to {out}"
    )
    if params.get("sensitive", "auto") == "auto" and getattr(synth, "sensitive_", None):
        common.console().print(f"sensitive columns found by name, their groups modelled first: "
                               f"{', '.join(synth.sensitive_)} (--sensitive to choose them, --sensitive none for none)")


def _sequence_roles(hints, key: str | None, index: str | None) -> tuple[str, str] | None:
    """The (sequence_key, sequence_index) pair from the flags, else from the metadata, else None."""
    if (key is None) != (index is None):
        given, missing = ("--sequence-key", "--sequence-index") if index is None else ("--sequence-index",
                                                                                       "--sequence-key")
        raise UserInputError(f"{given} needs {missing} too: a sequence is an entity column and an order column")
    if key is not None:
        if key == index:
            raise UserInputError("--sequence-key and --sequence-index must be two different columns")
        return key, index
    if hints is not None and hints.is_sequence:
        return hints.sequence_key, hints.sequence_index
    return None


def _fit_sequences(data: str, out: Path, *, hints, roles: tuple[str, str], flags: bool, table, fmt, encoding,
                   seed: int | None, max_length: int | None) -> None:
    """``fit`` on a long table of events: the sequence model, with the metadata's (or detected) constraints."""
    from synthera.metadata import datetime_format_of, infer_metadata
    from synthera.sequences import SequenceSynthesizer
    from synthera.sequences.inference import parse_dates

    if max_length is not None and max_length < 2:
        raise UserInputError(f"--max-length must be at least 2; got {max_length}")
    key, index = roles
    df = common.read_source(data, table=table, fmt=fmt, encoding=encoding)
    renames = {"max_length": "--max-length", **({"sequence_key": "--sequence-key",
                                                  "sequence_index": "--sequence-index"} if flags else {})}
    with renamed_flags(**renames):
        for role, name in (("sequence_key", key), ("sequence_index", index)):
            if name not in df.columns:
                raise UserInputError(f"{role} '{name}' is not a column of {common.clean(data)}; the columns are: "
                                     f"{', '.join(map(str, df.columns[:12]))}")
        with common.status("Reading column kinds"):
            md = infer_metadata(df, hints=hints)
        # dates in a format inference knows stay text: the model reads them and writes them back in that format;
        # others (a format set by hand in the metadata) are read here and come back as ISO dates
        custom = [c for c, col in md.columns.items() if col.kind == "datetime" and c in df.columns
                  and df[c].dtype.kind != "M" and col.datetime_format != datetime_format_of(df[c])]
        events = df.copy()
        if custom:
            events[custom] = parse_dates(df[custom], md)
        params = {"constraints": md.constraints, "seed": seed if seed is not None else 0}
        if max_length is not None:
            params["max_length"] = max_length
        start = time.perf_counter()
        with common.status(f"Fitting histories ({len(df):,} events)"):
            synth = SequenceSynthesizer(**params).fit(events, sequence_key=key, sequence_index=index)
    seconds = time.perf_counter() - start
    synth.save(out)
    kept = ", ".join(f"{c['low']} <= {c['high']}" for c in synth.constraints_) or "none"
    common.console().print(
        f"fitted the sequence model on {synth.n_entities_:,} histories ({synth.n_events_:,} events × "
        f"{df.shape[1]} columns; entity {key}, order {index}) in {seconds:.1f} s; constraints kept: {kept}; "
        f"saved to {out}"
    )


def _declared_sensitive(cls, sensitive: list[str] | None, hints) -> list[str] | None:
    """``--sensitive`` if given (``none``: no column), else the metadata's ``sensitive`` list where the model can
    use it (empty: no column), else ``None``: the model's default (the cascade finds them by name)."""
    if sensitive:
        if any(s.lower() == "none" for s in sensitive):
            if len(sensitive) > 1:
                raise UserInputError("--sensitive none turns the sensitive columns off; drop the other --sensitive")
            return []
        return sensitive
    declared = getattr(hints, "sensitive", None)
    if declared is None:
        return None
    if "sensitive" in cls.param_names():
        return list(declared)
    if declared:
        common.console().print(f"note: the {cls.name} model gives the metadata's sensitive columns no special "
                               "treatment; use --model cascade for that")
    return None


def _fit_params(cls, *, epsilon, delta, seed, epochs, trees, sensitive) -> dict:
    """The model's parameters from fit's options, with one line for each option the model cannot take."""
    private = cls.differentially_private
    params = {"seed": seed if seed is not None or private else 0}
    if not private and (epsilon is not None or delta is not None):
        flag = "--epsilon" if epsilon is not None else "--delta"
        raise UserInputError(
            f"the {cls.name} model is not differentially private and takes no {flag}; "
            "drop it, or pick a model marked ε-DP in `synthera models` (e.g. --model dp_marginals)"
        )
    if private:
        from synthera.dp.mechanisms import check_budget

        if epsilon is None:
            raise UserInputError(
                f"the {cls.name} model is differentially private and needs --epsilon, e.g. --epsilon 1"
            )
        check_budget(epsilon, delta if delta is not None else 0.5)
        params.update(epsilon=epsilon, delta=delta)
    for flag, name, value, refusal in (
            ("--epochs", "epochs", epochs, f"the {cls.name} model does not train in epochs; drop --epochs"),
            ("--trees", "n_trees", trees, f"the {cls.name} model takes no --trees; drop it, or use --model cascade")):
        if value is None:
            continue
        if name not in cls.param_names():
            raise UserInputError(refusal)
        if value < 1:
            raise UserInputError(f"{flag} must be at least 1; got {value}")
        params[name] = value
    if sensitive is not None and "sensitive" in cls.param_names():
        params["sensitive"] = list(sensitive)
    elif sensitive:
        raise UserInputError(f"the {cls.name} model takes no --sensitive; drop it, or use --model cascade")
    return params


def _several_tables(source: str) -> bool:
    from synthera.relational.io import database_tables

    names = database_tables(source)
    return names is not None and len(names) > 1


def _fit_database(data: str, out: Path, *, tables: str | None, schema_file: Path | None, seed: int | None,
                  given: dict) -> None:
    """``fit`` on a database: every table (or ``--tables``), keys from the schema, one relational model."""
    from synthera.relational import RelationalSynthesizer, read_database
    from synthera.relational.io import database_tables

    _refuse_one_table_flags(given, _ONE_TABLE_FIT, "a database is fitted by the relational model (or pick one "
                            "table with --table)")

    names = None
    if tables is not None:
        names = [t.strip() for t in tables.split(",") if t.strip()]
        available = database_tables(data) or []
        unknown = [t for t in names if t not in available]
        if not names or unknown:
            listing = ", ".join(available[:10]) + (", …" if len(available) > 10 else "")
            raise UserInputError(f"unknown table '{unknown[0] if unknown else tables}' in --tables; "
                                 f"{common.clean(data)} holds: {listing}")
    with common.status(f"Reading {common.clean(data)}"):
        frames, schema = read_database(data, tables=names, schema=schema_file)
    if names is not None:
        schema = schema.subset([n for n in names if n in schema.tables])
    start = time.perf_counter()
    with common.status(f"Fitting {len(frames)} tables"):
        model = RelationalSynthesizer(seed=seed if seed is not None else 0).fit(frames, schema=schema)
    seconds = time.perf_counter() - start
    model.save(out)
    rows = sum(len(df) for df in frames.values())
    common.console().print(f"fitted the relational model on {len(frames)} tables ({rows:,} rows, "
                           f"{len(schema.foreign_keys)} foreign keys) in {seconds:.1f} s; saved to {out}")


def _check_rows(rows: int | None, scale: float | None) -> None:
    """A one-table model needs ``--rows`` (at least 1) and takes no ``--scale``."""
    if scale is not None:
        raise UserInputError("--scale applies to database models; this model is one table, so pass --rows")
    if rows is None:
        raise UserInputError("pass --rows, the number of synthetic rows to write")
    if rows < 1:
        raise UserInputError(f"--rows must be at least 1; got {rows}")


def _model_format(folder: Path) -> str | None:
    """The ``format`` a model folder's manifest declares (relational, sequence ...), or None."""
    import json

    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        return None


def _database_conditions(where: list[str]) -> dict[str, dict[str, str]]:
    """``--where TABLE.COLUMN=VALUE`` items as ``{table: {column: value}}``."""
    conditions: dict[str, dict[str, str]] = {}
    for column, value in _parse_where(where).items():
        name, dot, inner = column.partition(".")
        if not dot or not name.strip() or not inner.strip():
            raise UserInputError(f"--where on a database model takes TABLE.COLUMN=VALUE (e.g. customers.country=FR); "
                                 f"'{column}' names no table")
        conditions.setdefault(name.strip(), {})[inner.strip()] = value
    return conditions


def _check_database_conditions(model, conditions: dict[str, dict[str, str]]) -> None:
    """One line for a ``--where`` table or column the database model does not have."""
    for name, columns in conditions.items():
        if name not in model.order_:
            raise UserInputError(f"unknown table '{name}' in --where; the tables are: {', '.join(model.order_)}")
        known = [str(c) for c in model.plans_[name].get("columns", [])]
        missing = [c for c in columns if known and c not in known]
        if missing:
            raise UserInputError(f"table '{name}' has no column '{missing[0]}' (in --where); its columns are: "
                                 f"{', '.join(known[:12])}")


def _sample_database(model_dir: Path, out: str, *, scale: float | None, seed: int | None, replace: bool,
                     given: dict) -> None:
    """``sample`` from a relational model: a whole database to a SQLite file, a URL, or a folder of Parquet files."""
    from synthera.relational import RelationalSynthesizer, write_database

    if given.get("rows") is not None:
        raise UserInputError("this is a database model: its size is set by --scale (1.0 = the real size); "
                             "drop --rows")
    distributed = given.get("workers") is not None or given.get("scheduler") is not None
    one_table = {k: v for k, v in _ONE_TABLE_SAMPLE.items() if not (distributed and k in ("workers", "scheduler"))}
    _refuse_one_table_flags(given, one_table, "this is a database model")
    scale = 1.0 if scale is None else scale
    if not scale > 0:
        raise UserInputError(f"--scale must be above 0; got {scale}")
    conditions = _database_conditions(given.get("where") or [])
    model = RelationalSynthesizer.load(model_dir)
    _check_database_conditions(model, conditions)
    if distributed:
        return _sample_database_blocks(model_dir, out, scale=scale, seed=seed, conditions=conditions,
                                       replace=replace, workers=given.get("workers"), scheduler=given.get("scheduler"))
    start = time.perf_counter()
    with common.status(f"Sampling {len(model.order_)} tables"):
        synthetic = model.sample(scale=scale, seed=seed, **({"conditions": conditions} if conditions else {}))
    seconds = time.perf_counter() - start
    with common.status(f"Writing {common.clean(out)}"):
        where = write_database(synthetic, model.schema_, out, replace=replace)
    rows = sum(len(df) for df in synthetic.values())
    common.console().print(f"wrote {len(synthetic)} synthetic tables ({rows:,} rows, keys that join) to "
                           f"{common.clean(where)} ({seconds:.2f} s to sample)")


def _sample_database_blocks(model_dir: Path, out: str, *, scale: float, seed: int | None, conditions: dict,
                            replace: bool, workers: int | None, scheduler: str | None) -> None:
    """``sample --workers/--scheduler`` from a relational model: blocks of root entities to a folder of datasets."""
    from synthera.distributed import cluster, sample_database
    from synthera.io import is_url

    if is_url(out) or Path(out).suffix.lower() in (".db", ".sqlite", ".sqlite3") or (
            Path(out).exists() and not Path(out).is_dir()):
        raise UserInputError("--workers and --scheduler write a database model's sample as a folder of Parquet "
                             "datasets; give --out a folder path")
    _check_dataset_out(out, replace)
    start = time.perf_counter()
    with cluster(workers=workers, scheduler=scheduler) as client:
        where = "" if client is None else f" on {len(client.nthreads())} Dask worker(s)"
        manifest = sample_database(model_dir, scale=scale, seed=seed, out=out, client=client,
                                   conditions=conditions or None, replace=replace, progress=True)
    seconds = time.perf_counter() - start
    rows = sum(t["rows"] for t in manifest["tables"].values())
    common.console().print(
        f"wrote {len(manifest['tables'])} synthetic tables ({rows:,} rows, keys that join) in {manifest['blocks']} "
        f"block(s) of root entities to {common.clean(out)}{where} ({seconds:.2f} s; seed {manifest['seed']})")


def _sampled_whole(model_dir: Path, out: str, *, given: dict) -> bool:
    """Sample a database or a sequence model (True), or refuse what a row model does not take (False: go on)."""
    kind = _model_format(model_dir)
    if kind == "synthera-relational-model":
        _sample_database(model_dir, out, scale=given["scale"], seed=given["seed"], replace=given["replace"],
                         given=given)
        return True
    if kind == "synthera-sequence-model":
        _sample_sequences(model_dir, out, entities=given["entities"], seed=given["seed"], fmt=given["fmt"],
                          out_table=given["out_table"], replace=given["replace"], given=given)
        return True
    if given.get("entities") is not None:
        raise UserInputError("--entities applies to sequence models; this model writes rows, so pass --rows")
    return False


def _sample_sequences(model_dir: Path, out: str, *, entities: int | None, seed: int | None, fmt, out_table,
                      replace: bool, given: dict) -> None:
    """``sample`` from a sequence model: whole histories, ``--entities`` of them, ``--where`` on entity columns."""
    import inspect

    from synthera.io import write_table
    from synthera.sequences import SequenceSynthesizer

    if given.get("rows") is not None:
        raise UserInputError("this is a sequence model: --entities sets the number of histories, each of several "
                             "rows (default: as many as in training); drop --rows")
    if given.get("scale") is not None:
        raise UserInputError("--scale applies to database models; this is a sequence model, so pass --entities")
    _refuse_one_table_flags(given, _ROW_MODEL_SAMPLE, "this is a sequence model")
    if entities is not None and entities < 1:
        raise UserInputError(f"--entities must be at least 1; got {entities}")
    conditions = _parse_where(given.get("where") or [])
    common.check_table_out(out, out_table)
    model = SequenceSynthesizer.load(model_dir)
    kwargs = {"seed": seed}
    if conditions:
        if "conditions" not in inspect.signature(model.sample).parameters:
            raise UserInputError("this version's sequence model cannot take --where; drop it")
        kwargs["conditions"] = conditions
    n = entities if entities is not None else int(model.n_entities_)
    start = time.perf_counter()
    with common.status(f"Sampling {n:,} histories"):
        df = model.sample(n, **kwargs)
    seconds = time.perf_counter() - start
    where_written = write_table(df, out, table=out_table, format=fmt, replace=replace)
    common.console().print(f"wrote {n:,} synthetic histories ({len(df):,} rows) to {where_written} "
                           f"({seconds:.2f} s to sample)")


def _fit_dataset(synth, data: str, out: Path, *, hints, table, workers, scheduler, seed, domain_is_public) -> None:
    """``fit`` on a table larger than memory, on a Dask cluster (see :mod:`synthera.distributed.fit`)."""
    from synthera.distributed import cluster, fit_dataset

    if table is not None:
        raise UserInputError("--workers and --scheduler read Parquet or CSV files; drop --table")
    start = time.perf_counter()
    with cluster(workers=workers, scheduler=scheduler) as client:
        with common.status("Fitting on the dataset"):
            synth, info = fit_dataset(data, synth, metadata=hints, seed=seed if seed is not None else 0,
                                      client=client, domain_is_public=domain_is_public)
    seconds = time.perf_counter() - start
    synth.save(out)
    recounted = info.get("recounted_rows", 0)
    counts = f"; leaf frequencies re-counted over all {recounted:,} rows" if recounted else ""
    if info.get("skipped_rows", 0):
        counts += f" ({info['skipped_rows']:,} rows with a category or null the sample never held were skipped)"
    common.console().print(
        f"fitted {synth.name} on a fixed-seed sample of {info['sample_rows']:,} of {info['rows']:,} rows "
        f"({info['parts']} part(s); categories, bounds, bins and null shares from all rows{counts}) "
        f"in {seconds:.1f} s; saved to {out}"
    )


WORKERS_HELP = ("Sample on a local Dask cluster of this many worker processes; --out is then a Parquet dataset "
                "folder (a database model: a folder with one Parquet dataset per table, in blocks of 10,000 root "
                "rows) (needs synthera[dask]).")
SCHEDULER_HELP = ("Sample on an existing Dask cluster, e.g. tcp://host:8786; --out is then a Parquet dataset folder "
                  "(a database model: one per table).")
ROWS_PER_FILE_HELP = ("Write --out as a Parquet dataset folder with this many rows per part file (default 1,000,000 "
                      "with --workers or --scheduler). The rows are the same for any value.")


def _check_dataset_out(out, replace: bool) -> None:
    """A Parquet dataset folder written on Dask: refuse an existing one without --replace, check it is writable."""
    if Path(out).exists() and not replace:
        raise UserInputError(f"{out} already exists; pick another --out or pass --replace")
    common.check_out(out, folder=True)


def _parse_where(items: list[str]) -> dict[str, str]:
    conditions = {}
    for item in items:
        column, sep, value = item.partition("=")
        if not sep or not column.strip():
            raise UserInputError(f"--where expects COLUMN=VALUE; got {item!r}")
        conditions[column.strip()] = value
    return conditions


@app.command()
def sample(
    model_dir: Path = typer.Argument(..., help="A folder written by `synthera fit`."),
    rows: int | None = typer.Option(None, "--rows", "-n", help="Number of synthetic rows (a one-table model)."),
    out: str = typer.Option(..., "--out", "-o", help=SAMPLE_OUT_HELP),
    scale: float | None = typer.Option(None, "--scale", help=SCALE_HELP),
    seed: int | None = typer.Option(None, "--seed", help="Same seed, same rows (default: fresh randomness)."),
    where: list[str] = typer.Option(
        [], "--where", "-w", help="Condition COLUMN=VALUE that every row must meet; repeat for several."
    ),
    out_table: str | None = typer.Option(
        None, "--out-table", help="Table name for SQLite output (default: the file name)."
    ),
    balance: list[str] = typer.Option(
        [], "--balance", help="Give every group of this column the same share of rows; repeat for several columns."
    ),
    parity: str | None = typer.Option(
        None, "--parity",
        help="Make this target column's rates equal across the --sensitive groups (demographic parity).",
    ),
    sensitive: list[str] = typer.Option([], "--sensitive", help="Sensitive column for --parity; repeat for several."),
    intersectional: bool = typer.Option(
        False, "--intersectional", help="Apply --balance/--parity to combinations of the columns (e.g. sex & race)."
    ),
    relabel: float | None = typer.Option(
        None, "--relabel",
        help="With --parity: share of rows (0-1) whose target is re-drawn given their features instead of "
        "drawn per (group, target) cell; default 0.3 (see the README's bias section).",
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="Force the output format: csv, tsv, parquet, jsonl, sqlite (default: from --out)."
    ),
    replace: bool = typer.Option(False, "--replace", help=REPLACE_HELP),
    workers: int | None = typer.Option(None, "--workers", help=WORKERS_HELP),
    scheduler: str | None = typer.Option(None, "--scheduler", help=SCHEDULER_HELP),
    rows_per_file: int | None = typer.Option(None, "--rows-per-file", help=ROWS_PER_FILE_HELP),
    entities: int | None = typer.Option(None, "--entities", help=ENTITIES_HELP),
) -> None:
    """Generate synthetic rows from a saved model, optionally with balanced groups or demographic parity.

    A database model writes every table (--scale, --where TABLE.COLUMN=VALUE); a sequence model, --entities histories.
    """
    from synthera.io import write_table
    from synthera.tabular import load_synthesizer

    if _sampled_whole(model_dir, out, given=locals()):
        return
    _check_rows(rows, scale)
    conditions = _parse_where(where)
    mitigate = bool(balance or parity or sensitive or intersectional or relabel is not None)
    if workers is not None or scheduler is not None or rows_per_file is not None:
        mitigation = dict(balance=list(balance), parity=parity, sensitive=list(sensitive),
                          intersectional=intersectional, relabel=relabel) if mitigate else None
        return _sample_dataset(model_dir, rows, out, seed=seed, conditions=conditions, mitigation=mitigation,
                               fmt=fmt, out_table=out_table, replace=replace, workers=workers, scheduler=scheduler,
                               rows_per_file=rows_per_file)
    common.check_table_out(out, out_table)
    synth = load_synthesizer(model_dir)
    start = time.perf_counter()
    chunk = _plan_size(rows, len(synth.metadata_.columns), out, fmt, chunkable=not mitigate)
    plan = None
    if mitigate:
        from synthera.bias import MitigationOptions, mitigated_sample

        options = MitigationOptions(balance=balance, parity=parity, sensitive=sensitive, intersectional=intersectional,
                                    relabel=relabel, conditions=conditions, seed=seed)
        df, plan = mitigated_sample(synth, rows, options, progress=True)
    elif chunk < rows:
        where_written = _sample_in_chunks(synth, rows, out, fmt, chunk=chunk, seed=seed, conditions=conditions)
        seconds = time.perf_counter() - start
        return common.console().print(f"wrote {rows:,} synthetic rows to {where_written} ({seconds:.2f} s to sample "
                                      "and write)")
    else:
        with common.status(f"Sampling {rows:,} rows"):
            df = synth.sample(rows, seed=seed, conditions=conditions)
    seconds = time.perf_counter() - start
    where_written = write_table(df, out, table=out_table, format=fmt, replace=replace)
    shown = common.console()
    for line in _plan_lines(df, plan) if plan is not None else []:
        shown.print(line)
    shown.print(f"wrote {len(df):,} synthetic rows to {where_written} ({seconds:.2f} s to sample)")


#: Rough bytes one cell takes while rows are sampled (arrays, decoding, the frame; about 35 measured), and the
#: least it takes on disk (compressed Parquet of repetitive columns).
MEMORY_PER_CELL = 64
DISK_PER_CELL = 0.25
MEMORY_SHARE = 0.75  # of the available memory, for the sampled rows
#: Formats whose files ``sample`` can write a block of rows at a time.
CHUNKED_FORMATS = ("csv", "tsv", "jsonl", "parquet")
MAX_CHUNK_ROWS = 1_000_000
MIN_CHUNK_ROWS = 10_000


def available_memory() -> int | None:
    """Bytes of memory this process can still take, or None when the system does not say."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _size(n_bytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n_bytes < 1000 or unit == "PB":
            return f"{n_bytes:,.0f} {unit}" if unit == "bytes" else f"{n_bytes:,.1f} {unit}"
        n_bytes /= 1000
    return ""  # pragma: no cover


def _plan_size(rows: int, columns: int, out: str, fmt: str | None, *, chunkable: bool) -> int:
    """How many rows to sample at a time; refuse sizes the disk or the memory cannot hold, in one line."""
    from synthera.io import detect_format, is_url

    columns = max(columns, 1)
    local = not is_url(out)
    fmt = (fmt or (detect_format(out) if local else None) or "").lower()
    compressed = local and detect_format("x" + Path(out).suffix) is None  # e.g. .csv.gz: written whole
    chunkable = chunkable and local and not compressed and fmt in CHUNKED_FORMATS
    if local:
        folder = Path(out).expanduser().resolve().parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        free = shutil.disk_usage(folder).free
        if rows * columns * DISK_PER_CELL > free:
            raise UserInputError(
                f"--rows {rows:,} would need at least {_size(rows * columns * DISK_PER_CELL)} on disk and {folder} has "
                f"{_size(free)} free; ask for fewer --rows or write to a larger disk"
            )
    memory = available_memory()
    if memory is None:
        return min(rows, MAX_CHUNK_ROWS) if chunkable else rows
    fits = max(int(memory * MEMORY_SHARE // (columns * MEMORY_PER_CELL)), 1)
    if chunkable:
        return min(rows, max(min(fits, MAX_CHUNK_ROWS), MIN_CHUNK_ROWS))
    if rows > fits:
        raise UserInputError(
            f"--rows {rows:,} needs about {_size(rows * columns * MEMORY_PER_CELL)} of memory and "
            f"{_size(memory)} is available; ask for fewer --rows (at most about {fits:,}), or write a .csv, "
            ".parquet or .jsonl file, which is written in blocks"
            + (" (without --balance or --parity)" if fmt in CHUNKED_FORMATS else "")
        )
    return rows


def _sample_dataset(model_dir: Path, rows: int, out: str, *, seed, conditions, mitigation, fmt, out_table,
                    replace: bool, workers: int | None, scheduler: str | None, rows_per_file: int | None) -> None:
    """``sample`` into a Parquet dataset folder, here or on a Dask cluster (see :mod:`synthera.distributed`)."""
    from synthera.distributed import cluster, sample_to_parquet
    from synthera.io import is_url

    if fmt is not None and fmt.lower() != "parquet":
        raise UserInputError(f"--workers, --scheduler and --rows-per-file write a Parquet dataset; drop --format {fmt}")
    if out_table is not None or is_url(out):
        raise UserInputError("--workers, --scheduler and --rows-per-file write a Parquet dataset folder; "
                             "give --out a folder path, without --out-table")
    if Path(out).exists() and not Path(out).is_dir():
        raise UserInputError(f"{out} is a file; --out needs a folder for the Parquet dataset")
    if rows_per_file is not None and rows_per_file < 1:
        raise UserInputError(f"--rows-per-file must be at least 1; got {rows_per_file}")
    _check_dataset_out(out, replace)
    start = time.perf_counter()
    with cluster(workers=workers, scheduler=scheduler) as client:
        where = "" if client is None else f" on {len(client.nthreads())} Dask worker(s)"
        with common.status(f"Sampling {rows:,} rows{where}"):
            manifest = sample_to_parquet(model_dir, rows=rows, out=out, seed=seed, rows_per_file=rows_per_file or
                                         1_000_000, conditions=conditions, mitigation=mitigation, client=client,
                                         replace=replace)
    seconds = time.perf_counter() - start
    common.console().print(
        f"wrote {manifest['rows']:,} synthetic rows in {len(manifest['parts'])} Parquet part(s) to {out}{where} "
        f"({seconds:.2f} s; seed {manifest['seed']})"
    )


def _sample_in_chunks(synth, rows: int, out: str, fmt: str | None, *, chunk: int, seed, conditions) -> str:
    """Sample ``rows`` rows ``chunk`` at a time into one temporary file, renamed into place at the end."""
    from synthera._progress import progress_bar
    from synthera.io import atomic_path, detect_format
    from synthera.tabular.base import seed_entropy

    path = Path(out).expanduser()
    fmt = (fmt or detect_format(path)).lower()
    writer = None
    seed = seed_entropy(seed)  # drawn once: every chunk is a slice of one seeded sample
    with atomic_path(path) as tmp, progress_bar(rows, "sampling", enabled=sys.stderr.isatty()) as advance:
        try:
            for index, first in enumerate(range(0, rows, chunk)):
                df = synth.sample_rows(first, min(first + chunk, rows), seed=seed, conditions=conditions)
                writer = _append(df, tmp, fmt, writer, first=index == 0)
                advance(len(df))
        finally:
            if writer is not None:
                writer.close()
    return str(path)


def _append(df, tmp: Path, fmt: str, writer, *, first: bool):
    """Append one block of rows to ``tmp``; returns the Parquet writer to reuse (None for text formats)."""
    if fmt in ("csv", "tsv"):
        df.to_csv(tmp, mode="w" if first else "a", header=first, index=False, sep="," if fmt == "csv" else "\t")
        return None
    if fmt == "jsonl":
        with open(tmp, "w" if first else "a", encoding="utf-8") as fh:
            text = df.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
            fh.write(text if text.endswith("\n") else text + "\n")
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    if writer is None:
        block = pa.Table.from_pandas(df, preserve_index=False)
        writer = pq.ParquetWriter(tmp, block.schema, compression="zstd")
    else:
        block = pa.Table.from_pandas(df, schema=writer.schema, preserve_index=False)
    writer.write_table(block)
    return writer


def _plan_lines(df, plan) -> list[str]:
    """What the mitigation did, measured on the rows written: group shares and, with parity, target rates."""
    measured = plan.summary(df)["measured"]
    rarest = list(measured["target_shares"])[-1] if "target_shares" in measured else None
    lines = []
    for name, shares in measured["group_shares"].items():
        line = f"{name} shares: " + ", ".join(f"{g} {v:.1%}" for g, v in shares.items())
        rates = measured.get("target_rates", {}).get(name)
        if rates is not None:
            line += f"; {plan.parity}={rarest} rate: " + ", ".join(
                f"{g} {by_value.get(rarest, 0.0):.1%}" for g, by_value in rates.items())
        lines.append(line)
    return lines


@app.command()
def models() -> None:
    """List the synthesizers you can pass to `synthera fit --model`."""
    from rich.table import Table

    from synthera.tabular import DEFAULT_SYNTHESIZER, available_synthesizers, get_synthesizer

    view = Table(title="Synthesizers", title_justify="left")
    for header in ("name", "ε-DP (--epsilon)", "class", "parameters", "about"):
        view.add_column(header, overflow="fold")
    for name in available_synthesizers():
        cls = get_synthesizer(name)
        label = f"{name} (default)" if name == DEFAULT_SYNTHESIZER else name
        params = ", ".join(f"{k}={v!r}" for k, v in cls().get_params().items())
        about = (cls.__doc__ or "").strip().splitlines()[0]
        view.add_row(label, "yes, required" if cls.differentially_private else "no", cls.__name__, params, about)
    common.console().print(view)
