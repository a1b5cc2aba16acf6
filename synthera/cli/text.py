"""``synthera text generate``: synthetic training data for language tasks (SynthGen).

The ``text`` group itself is :data:`synthera.cli._app.text_app`; ``synthera.cli.text_train`` adds
``finetune`` and ``evaluate`` to it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from synthera.cli._app import fail, text_app, warn
from synthera.cli._common import console
from synthera.errors import UserInputError

_OUT_HELP = (
    "Output .jsonl (FLock conversation format); a .parquet, a Hugging Face dataset folder (.hf) and a "
    ".manifest.json go beside it."
)
_TASK_HELP = "text-to-sql, summarization, qa or character."
_MODEL_HELP = (
    "Generator model: 'smollm2' (default, the bundled SmolLM2-135M-Instruct), a local Hugging Face folder, "
    "a .gguf file, an OpenAI-compatible URL such as http://localhost:8000/v1 (with --model-name), or, for "
    "text-to-sql only, 'template' for grammar-written questions (fast, no model)."
)


def _parse_shares(text: str | None) -> dict[str, float] | None:
    if text is None:
        return None
    shares = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep:
            raise UserInputError(f"--difficulty expects level=share pairs like easy=0.3,medium=0.4; got {part!r}")
        try:
            shares[name.strip().lower()] = float(value)
        except ValueError:
            raise UserInputError(f"--difficulty share for {name.strip()!r} must be a number; got {value!r}") from None
    return shares


@text_app.command("generate")
def generate_command(
    task: str = typer.Option(..., "--task", help=_TASK_HELP),
    n: int = typer.Option(..., "--n", "-n", help="How many examples to keep."),
    out: Path = typer.Option(..., "--out", "-o", help=_OUT_HELP),  # noqa: B008 - typer reads defaults
    db: str | None = typer.Option(None, "--db", help="text-to-sql: a SQLite file or SQLAlchemy URL to query."),
    from_synthetic: str | None = typer.Option(
        None, "--from-synthetic",
        help="text-to-sql: build the database from synthetic rows of a bundled dataset "
        "(adult, compas, german; comma-separate several), so no real record is used.",
    ),
    rows: int = typer.Option(2000, "--rows", help="Synthetic rows per table with --from-synthetic."),
    model: str | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    model_name: str | None = typer.Option(None, "--model-name", help="Model name to request from an HTTP endpoint."),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Environment variable holding the endpoint's API key "
        "(default SYNTHERA_API_KEY, then OPENAI_API_KEY). The key itself is never printed."),
    seed: int = typer.Option(0, "--seed", help="Same seed, inputs and model give the same data."),
    difficulty: str | None = typer.Option(
        None, "--difficulty", help="text-to-sql: requested shares, e.g. easy=0.25,medium=0.4,hard=0.2,extra=0.15."),
    sql_dedup: str = typer.Option(
        "sql", "--sql-dedup", help="text-to-sql: sql (drop repeated queries) or template (also drop queries that "
        "differ only in their values)."),
    template_cap: int = typer.Option(
        1, "--template-cap", help="text-to-sql with --sql-dedup template: queries kept per template (literals "
        "masked); 1 keeps one."),
    question_candidates: int = typer.Option(
        1, "--question-candidates", help="text-to-sql with a model: questions written per query; the most "
        "consistent one is kept."),
    join_share: float | None = typer.Option(
        None, "--join-share", help="text-to-sql: share of queries that join tables over foreign keys "
        "(0 to 1; default 0.35 on a database that has them)."),
    tools: Path | None = typer.Option(
        None, "--tools", help="tool-use: a JSON file with the list of tool specs to write conversations for."),
    batch_size: int = typer.Option(8, "--batch-size", help="Prompts per model call."),
    novelty: float | None = typer.Option(
        None, "--novelty", help="Drop an example whose ROUGE-L with a kept one is >= this "
        "(default 0.7; text-to-sql checks distinct SQL instead unless set)."),
    workers: int | None = typer.Option(
        None, "--workers", help="Generate in shards on a local Dask cluster of this many worker processes "
        "(the same examples for any count; needs the dask extra)."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Generate in shards on an existing Dask cluster, e.g. tcp://host:8786 (the "
        "database and model must be readable at the same path on its workers)."),
) -> None:
    """Generate verified synthetic training examples and write JSONL, Parquet, a HF dataset and a manifest."""
    from synthera.text.pipeline import GenerationConfig

    if out.suffix.lower() != ".jsonl":
        raise UserInputError(f"--out must name a .jsonl file; got {out}")
    if out.exists() and out.is_dir():
        raise UserInputError(f"--out {out} is a folder; pass a .jsonl file path")
    config = GenerationConfig(
        task=task, n=n, seed=seed, model=model, model_name=model_name, api_key_env=api_key_env,
        db=db, from_synthetic=from_synthetic, synthetic_rows=rows, difficulty=_parse_shares(difficulty),
        tools=str(tools) if tools is not None else None, sql_dedup=sql_dedup, template_cap=template_cap,
        question_candidates=question_candidates, join_share=join_share, batch_size=batch_size,
        novelty_threshold=novelty,
    ).validated()
    _report(_run(config, out, workers, scheduler), out, config.n)


def _report(result, out: Path, n: int) -> None:
    """Write the kept examples and say what was kept and dropped (a manifest only, and exit 1, when nothing was)."""
    from synthera.text.pipeline import write_outputs

    if not result.records:
        from synthera.io import write_text
        from synthera.text.output import output_paths

        manifest = output_paths(out)["manifest"]
        write_text(json.dumps(result.manifest, indent=2, default=str) + "\n", manifest)
        reasons = ", ".join(f"{k} {v}" for k, v in result.stats["dropped"].items() if v) or "no candidates"
        raise fail(f"no example passed the filters ({reasons}); nothing written except {manifest}; "
                   "try a larger model (--model) or another seed", code=1)
    paths = write_outputs(result, out)
    shown = console()
    stats = result.stats
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(stats["dropped"].items()) if v) or "none"
    shown.print(
        f"kept {stats['kept']:,} of {stats['candidates']:,} candidates "
        f"({stats['examples_per_minute']:.1f} examples/min); dropped: {dropped}"
    )
    _print_joins(shown, stats)
    _print_shards(shown, stats)
    for note in stats.get("notes", []):
        shown.print(f"note: {note}")
    shown.print("wrote " + ", ".join(str(p) for p in paths))
    if stats["kept"] < n:
        warn(f"only {stats['kept']} of the {n} requested examples passed the filters; see {paths[-1]}")


def _run(config, out: Path, workers: int | None, scheduler: str | None):
    """In this process (the default), or in shards on a Dask cluster with ``--workers``/``--scheduler``."""
    from synthera.distributed.executor import check_target
    from synthera.text.pipeline import generate

    check_target(workers, scheduler)  # before any work: a bad --workers is one line
    if workers is None and scheduler is None:
        return generate(config, out=out, progress=sys.stderr.isatty())
    from synthera.distributed.executor import cluster
    from synthera.distributed.text import generate_sharded

    with cluster(workers=workers, scheduler=scheduler) as client:
        return generate_sharded(config, client=client, out=out, progress=sys.stderr.isatty())


def _print_shards(shown, stats: dict) -> None:
    """With --workers/--scheduler: the shards, the rounds and what the global duplicate pass dropped."""
    shards = stats.get("shards")
    if shards:
        shown.print(f"shards: {shards['count']} in {shards['rounds']} round(s); the global pass over their "
                    f"{shards['forwarded']:,} candidates dropped {shards['dropped_globally']:,}")


def _print_joins(shown, stats: dict) -> None:
    """On a database with foreign keys: how many kept Text-to-SQL examples join tables, of how many asked."""
    from synthera.text.sql.grammar import is_join_family

    joins = stats.get("grammar", {}).get("joins") or {}
    if not joins.get("links") or not stats.get("kept"):
        return
    families = stats.get("distribution", {}).get("family", {})
    kept = sum(v for k, v in families.items() if is_join_family(k))
    shown.print(f"join questions: {kept:,} of {stats['kept']:,} kept ({kept / stats['kept']:.0%}; "
                f"{joins['join_share']:.0%} asked) over {joins['links']} foreign keys")
