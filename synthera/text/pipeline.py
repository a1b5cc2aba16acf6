"""SynthGen's generation loop: propose, filter, balance, count, resume.

:func:`generate` runs one task until ``n`` examples are kept (or a budget of
candidates is spent): the balancer picks the attribute values to try next,
the task proposes candidates, and the shared filters drop what fails, each
drop counted by reason. Model answers go through a JSON Lines cache beside
the output (``FILE.cache.jsonl``), and the loop is deterministic for a seed,
so re-running an interrupted command replays the cached answers and carries
on where it stopped. :func:`write_outputs` writes JSONL, Parquet, a Hugging
Face dataset folder and a manifest (see :mod:`synthera.text.output`).

>>> from synthera.text.pipeline import GenerationConfig, generate
>>> cfg = GenerationConfig(task="text-to-sql", n=50, db="people.db", model="template").validated()  # doctest: +SKIP
>>> result = generate(cfg)                                                                             # doctest: +SKIP
>>> result.stats["kept"]                                                                               # doctest: +SKIP
50
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from synthera.errors import UserInputError
from synthera.text.filters import Balancer, DropCounter, NoveltyFilter, distribution

__all__ = ["TASKS", "GenerationConfig", "GenerationResult", "available_tasks", "generate", "write_outputs"]

TASKS = ("text-to-sql", "summarization", "qa", "character")
_ALIASES = {"text2sql": "text-to-sql", "text_to_sql": "text-to-sql", "sql": "text-to-sql",
            "summarisation": "summarization", "summary": "summarization", "roleplay": "character",
            "role-play": "character", "dialogue": "character"}
_TEMPLATE = "template"


def available_tasks() -> list[str]:
    """The task names ``generate`` accepts."""
    return list(TASKS)


@dataclass
class GenerationConfig:
    """Everything that decides a generation run; validated once, stored in the manifest.

    Parameters
    ----------
    task
        ``text-to-sql``, ``summarization``, ``qa`` or ``character``.
    n
        Examples to keep.
    seed
        Seeds sampling and generation.
    model
        ``None``/``"smollm2"`` (bundled SmolLM2-135M-Instruct), a model folder,
        a ``.gguf`` file, an ``http(s)://.../v1`` endpoint, ``"fake"`` (tests),
        or ``"template"`` (text-to-sql only: grammar questions, no model).
    db, from_synthetic, synthetic_rows
        Text-to-SQL database: a SQLite file, or bundled dataset names whose
        synthetic rows (``synthetic_rows`` per table) fill a new database.
    difficulty
        Requested Text-to-SQL difficulty shares.
    novelty_threshold
        ROUGE-L threshold (``None``: the task's default, 0.7, or off for
        Text-to-SQL, which enforces distinct SQL instead).
    minhash_threshold
        MinHash Jaccard threshold for near-duplicates.
    max_candidates
        Stop after this many candidates (default ``max(50, 20·n)`` for
        Text-to-SQL, ``max(20, 6·n)`` with a model).
    """

    task: str
    n: int
    seed: int = 0
    model: str | None = None
    model_name: str | None = None
    api_key_env: str | None = None
    db: str | None = None
    from_synthetic: str | None = None
    synthetic_rows: int = 2000
    difficulty: dict | None = None
    batch_size: int = 8
    novelty_threshold: float | None = None
    minhash_threshold: float | None = 0.9
    max_candidates: int | None = None
    timeout_s: float = 60.0

    def validated(self) -> GenerationConfig:
        """Check every field and return a normalised copy; raises :class:`UserInputError`."""
        from synthera.text.text_to_sql import DEFAULT_SHARES, LEVELS

        task = _ALIASES.get(str(self.task).strip().lower(), str(self.task).strip().lower())
        if task not in TASKS:
            raise UserInputError(f"unknown task '{self.task}'; use one of: {', '.join(TASKS)}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise UserInputError(f"--n must be a whole number of at least 1; got {self.n}")
        if self.n > 1_000_000:
            raise UserInputError(f"--n {self.n} is too large; generate at most 1,000,000 examples per run")
        if self.seed < 0:
            raise UserInputError(f"--seed must be >= 0; got {self.seed}")
        if self.batch_size < 1:
            raise UserInputError(f"--batch-size must be at least 1; got {self.batch_size}")
        for name in ("novelty_threshold", "minhash_threshold"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                raise UserInputError(f"{name.replace('_', ' ')} must lie in (0, 1]; got {value}")
        model = self.model.strip() if isinstance(self.model, str) else self.model
        shares = None
        if task == "text-to-sql":
            if self.db and self.from_synthetic:
                raise UserInputError("pass either --db or --from-synthetic, not both")
            if not self.db and not self.from_synthetic:
                raise UserInputError(
                    "text-to-sql needs a database: --db FILE.db (or a SQLAlchemy URL) or --from-synthetic adult")
            if self.db:
                from synthera.text.sql import sqlite_path

                file = sqlite_path(self.db)
                if file is not None and not file.is_file():
                    raise UserInputError(f"database not found: {self.db}; check the path")
            if self.from_synthetic and self.synthetic_rows < 10:
                raise UserInputError(f"--rows must be at least 10; got {self.synthetic_rows}")
            raw = self.difficulty or DEFAULT_SHARES
            unknown = sorted(set(raw) - set(LEVELS))
            if unknown:
                raise UserInputError(f"unknown difficulty level {unknown[0]!r}; use {', '.join(LEVELS)}")
            if any((not isinstance(v, (int, float))) or math.isnan(v) or v < 0 for v in raw.values()):
                raise UserInputError("difficulty shares must be numbers >= 0")
            total = sum(raw.values())
            if total <= 0:
                raise UserInputError("difficulty shares must not all be zero")
            shares = {k: raw.get(k, 0.0) / total for k in LEVELS}
        else:
            if self.db or self.from_synthetic:
                raise UserInputError(f"--db and --from-synthetic only apply to text-to-sql, not {task}")
            if isinstance(model, str) and model.lower() == _TEMPLATE:
                raise UserInputError(f"--model template only works for text-to-sql; {task} needs a language model")
            if self.difficulty:
                raise UserInputError(f"--difficulty only applies to text-to-sql, not {task}")
        return GenerationConfig(**{**asdict(self), "task": task, "model": model, "difficulty": shares})

    @property
    def uses_model(self) -> bool:
        return not (isinstance(self.model, str) and self.model.lower() == _TEMPLATE)


@dataclass
class GenerationResult:
    """Kept records (FLock format), statistics, the manifest and the database used (Text-to-SQL)."""

    records: list[dict]
    stats: dict
    manifest: dict
    database: Path | None = None
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- progress


@contextmanager
def _progress(total: int, description: str, enabled: bool):
    """A rich bar on stderr whose text shows kept and dropped counts."""
    if not enabled:
        yield lambda kept, dropped, advance: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("kept {task.fields[kept]} · dropped {task.fields[dropped]}"))
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total, kept=0, dropped=0)

        def update(kept, dropped, advance):
            bar.update(task, advance=advance, kept=kept, dropped=dropped)

        yield update


# --------------------------------------------------------------------------- setup


def _cache_path(out: Path | None, config: GenerationConfig) -> Path:
    if out is not None:
        out = Path(out)
        return out.with_name(out.name[: -len(out.suffix)] + ".cache.jsonl" if out.suffix else out.name + ".cache.jsonl")
    from synthera.text.models import cache_dir

    return cache_dir() / "text" / f"generations-{config.task}-seed{config.seed}.cache.jsonl"


def _build_llm(config: GenerationConfig, out: Path | None, llm):
    from synthera.text.llm import CachedLLM, get_llm

    if not config.uses_model and llm is None:
        return None
    if llm is None:
        llm = get_llm(config.model, model_name=config.model_name, api_key_env=config.api_key_env,
                      batch_size=config.batch_size, timeout_s=config.timeout_s)
    if isinstance(llm, CachedLLM):
        return llm
    return CachedLLM(llm, _cache_path(out, config))


def _build_task(config: GenerationConfig, llm, out: Path | None, progress: bool):
    from synthera.text import tasks

    if config.task != "text-to-sql":
        cls = {"summarization": tasks.SummarizationTask, "qa": tasks.QATask, "character": tasks.CharacterTask}
        return cls[config.task](llm=llm, seed=config.seed), None, {}
    from synthera.text.text_to_sql import synthetic_database

    if config.from_synthetic:
        start = time.perf_counter()
        db = synthetic_database(config.from_synthetic, rows=config.synthetic_rows, seed=config.seed,
                                progress=progress)
        built = time.perf_counter() - start
        label = (out.name[: -len(out.suffix)] + ".db") if out is not None else db.name
        source = {"kind": "synthetic", "datasets": config.from_synthetic, "rows_per_table": config.synthetic_rows,
                  "synthesizer": "cascade", "seed": config.seed, "build_seconds": round(built, 2)}
    else:
        from synthera.io import _redact
        from synthera.text.sql import sqlite_path

        file = sqlite_path(config.db)
        if file is not None:
            db, label, copy = file, str(file.resolve()), None
            source = {"kind": "given", "db": label}
        else:
            from synthera.text.text_to_sql import mirror_database

            start = time.perf_counter()
            target = (out.with_name(out.name[: -len(out.suffix)] + ".db") if out is not None
                      else Path(tempfile.mkdtemp()) / "mirror.db")
            db = copy = mirror_database(config.db, target)
            label = (out.name[: -len(out.suffix)] + ".db") if out is not None else db.name
            source = {"kind": "mirrored", "db": _redact(config.db), "dialect": "sqlite",
                      "build_seconds": round(time.perf_counter() - start, 2)}
    task = tasks.TextToSQLTask(db, shares=config.difficulty, llm=llm, seed=config.seed, db_label=label)
    return task, Path(db) if config.from_synthetic else copy, source


# --------------------------------------------------------------------------- the loop


def generate(
    config: GenerationConfig,
    *,
    out: str | os.PathLike | None = None,
    llm=None,
    progress: bool = False,
    on_batch: Callable[[dict], None] | None = None,
) -> GenerationResult:
    """Generate ``config.n`` filtered, balanced examples for ``config.task``.

    Parameters
    ----------
    config
        A :class:`GenerationConfig` (it is validated again here).
    out
        The intended ``.jsonl`` output; the model-answer cache sits beside it
        (``FILE.cache.jsonl``) so an interrupted run resumes. Nothing else is
        written here; call :func:`write_outputs`.
    llm
        A backend to use instead of building one from ``config.model``.
    progress
        Draw a progress bar with kept and dropped counts on stderr.
    on_batch
        Called after each batch with the running counts (used by tests to
        interrupt a run).

    Returns
    -------
    GenerationResult
        Records in FLock's conversation format; nothing dropped is among them.
    """
    config = config.validated()
    out = Path(out) if out is not None else None
    t0 = time.perf_counter()
    llm = _build_llm(config, out, llm)
    task, database, source = _build_task(config, llm, out, progress)
    setup_seconds = time.perf_counter() - t0
    rng = random.Random(config.seed)
    values = task.attribute_values()
    balancer = Balancer(values, config.n)
    novelty = config.novelty_threshold if config.novelty_threshold is not None else task.default_novelty
    dedup = NoveltyFilter(minhash_threshold=config.minhash_threshold, novelty_threshold=novelty)
    drops = DropCounter()
    kept: list = []
    candidates = 0
    budget = config.max_candidates or (max(50, 20 * config.n) if config.task == "text-to-sql" and llm is None
                                       else max(20, 6 * config.n))
    batch = config.batch_size if llm is not None else max(config.batch_size, 64)
    judge_notes: Counter = Counter()
    start = time.perf_counter()
    stopped = "done"
    try:
        with _progress(config.n, f"{config.task}", progress) as update:
            while not balancer.done():
                if candidates >= budget:
                    stopped = "budget"
                    break
                remaining = config.n - len(kept)
                # Ask for what is still missing, scaled up by the acceptance rate so far (a model's
                # batch is cheap to fill, a batch of one is slow); extras end up as over_quota.
                rate = (len(kept) + 1) / (candidates + 2) if llm is not None else 1.0
                size = min(batch, math.ceil(remaining / max(rate, 0.25)), budget - candidates)
                want = balancer.next_values(size, rng)
                proposals = task.propose(want, rng)
                before = len(kept)
                for item in proposals:
                    candidates += 1
                    reason, detail = _check(item, task, balancer, dedup)
                    if reason is not None:
                        drops.drop(reason, detail)
                        if reason == "judge_rejection":
                            judge_notes[detail.split(":", 1)[0]] += 1
                        continue
                    kept.append(item)
                update(len(kept), drops.total, len(kept) - before)
                if on_batch is not None:
                    on_batch({"kept": len(kept), "dropped": drops.total, "candidates": candidates})
    finally:
        task.close()
    seconds = time.perf_counter() - start
    records = [ex.record() for ex in kept]
    stats = _stats(config, task, llm, kept, drops, candidates, seconds, setup_seconds, balancer, judge_notes,
                   stopped, budget, novelty)
    manifest = _manifest(config, task, llm, stats, source, novelty)
    return GenerationResult(records, stats, manifest, database)


def _check(item, task, balancer: Balancer, dedup: NoveltyFilter):
    """The drop reason and detail for one proposal, or ``(None, "")`` and record it as kept."""
    from synthera.text.tasks import Drop

    if isinstance(item, Drop):
        return item.reason, item.text
    lo, hi = task.lengths["user"]
    alo, ahi = task.lengths["assistant"]
    if len(item.user) < lo or len(item.assistant) < alo:
        return "too_short", item.assistant[:200]
    if len(item.user) > hi or len(item.assistant) > ahi:
        return "too_long", item.assistant[:200]
    verdict = task.judge(item)
    if verdict:
        return "judge_rejection", f"{verdict}: {item.assistant[:200]}"
    reason, handle = dedup.check(item.key, item.novelty_text)
    if reason is not None:
        return reason, item.novelty_text[:200]
    # Quotas last, so over_quota counts only good examples whose slice was already full.
    value = item.attributes[task.attribute]
    if not balancer.open(value):
        return "over_quota", f"{task.attribute}={value}"
    dedup.add(item.key, handle)
    balancer.take(value)
    return None, ""


def _stats(config, task, llm, kept, drops, candidates, seconds, setup_seconds, balancer, judge_notes, stopped,
           budget, novelty) -> dict:
    meta = [ex.meta for ex in kept]
    stats = {
        "task": config.task,
        "requested": config.n,
        "kept": len(kept),
        "candidates": candidates,
        "dropped": drops.as_dict(),
        "dropped_total": drops.total,
        "drop_examples": drops.examples,
        "acceptance_rate": round(len(kept) / candidates, 4) if candidates else 0.0,
        # over_quota drops were good examples of a slice that was already full: not the model's fault
        "quality_acceptance_rate": (round(len(kept) / (candidates - drops.counts["over_quota"]), 4)
                                    if candidates > drops.counts["over_quota"] else 0.0),
        "seconds": round(seconds, 3),
        "setup_seconds": round(setup_seconds, 3),
        "examples_per_minute": round(60 * len(kept) / seconds, 2) if seconds > 0 else 0.0,
        "candidates_per_minute": round(60 * candidates / seconds, 2) if seconds > 0 else 0.0,
        "stopped": stopped,
        "candidate_budget": budget,
        "balance": {task.attribute: balancer.report()},
        "distribution": {},
        "task_stats": dict(task.stats),
        "judge_rejections": dict(judge_notes.most_common()),
        "novelty_threshold": novelty,
        "notes": [],
    }
    if config.task == "text-to-sql":
        stats["distribution"] = {
            "difficulty": distribution(m["difficulty"] for m in meta),
            "features": distribution(m["features"] for m in meta),
            "family": distribution(m["family"] for m in meta),
            "question_source": distribution(m["question_source"] for m in meta),
            "tables": distribution(m["tables"] for m in meta),
        }
    elif config.task == "character":
        stats["distribution"] = {k: distribution(m[k] for m in meta) for k in ("character", "scenario", "topic")}
    else:
        stats["distribution"] = {k: distribution(m[k] for m in meta) for k in ("topic", "persona")}
    if llm is not None:
        stats["model"] = {"id": llm.model_id, "calls": llm.misses, "cache_hits": llm.hits,
                          "model_seconds": round(llm.seconds, 2)}
    notes = stats["notes"]
    if stopped == "budget":
        notes.append(
            f"stopped after {candidates} candidates (the budget) with {len(kept)} of {config.n} examples kept; "
            "the model's answers fail the filters too often"
        )
    if llm is not None and candidates:
        rate = stats["quality_acceptance_rate"]
        if rate < 0.5 and config.task != "text-to-sql":
            top = ", ".join(f"{k} {v}" for k, v in drops.counts.most_common(4) if k != "over_quota")
            notes.append(
                f"{llm.model_id} is weak for {config.task}: only {rate:.0%} of its generations passed the filters "
                f"(most dropped: {top}); a larger model or endpoint gives more usable data"
            )
    ts = task.stats
    tried = ts.get("llm_question_accepted", 0) + ts.get("llm_question_rejected_round_trip", 0) + ts.get(
        "llm_question_unparsed", 0)
    if config.task == "text-to-sql" and tried:
        share = ts.get("llm_question_accepted", 0) / tried
        stats["llm_question_acceptance"] = round(share, 4)
        notes.append(
            f"{share:.0%} of model-rewritten questions passed the round-trip check; the others fell back to "
            "grammar questions"
        )
    return stats


def _manifest(config, task, llm, stats, source, novelty) -> dict:
    import platform

    from synthera import __version__

    config_dict = asdict(config)
    return {
        "format_version": 1,
        "synthera_version": __version__,
        "kind": "synthgen-dataset",
        "task": config.task,
        "config": config_dict,
        "model": (llm.model_id if llm is not None else "template (no model)"),
        "seed": config.seed,
        "source": source,
        "database": task.describe(),
        "filters": {"minhash_threshold": config.minhash_threshold, "rouge_l_novelty_threshold": novelty,
                    "lengths_chars": task.lengths},
        "counts": {"requested": stats["requested"], "kept": stats["kept"], "candidates": stats["candidates"],
                   "dropped": stats["dropped"]},
        "throughput": {"seconds": stats["seconds"], "setup_seconds": stats["setup_seconds"],
                       "examples_per_minute": stats["examples_per_minute"],
                       "candidates_per_minute": stats["candidates_per_minute"],
                       "cpu_threads": _threads(), "machine": platform.machine()},
        "stats": stats,
    }


def _threads() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count()


def write_outputs(result: GenerationResult, out: str | os.PathLike) -> list[Path]:
    """Write the dataset beside ``out``; see :func:`synthera.text.output.write_dataset`."""
    from synthera.text.output import write_dataset

    return write_dataset(result.records, result.manifest, out, database=result.database)
