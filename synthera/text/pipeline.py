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
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from synthera.errors import UserInputError
from synthera.text.filters import Balancer, DropCounter, NoveltyFilter

__all__ = ["GenerationConfig", "GenerationResult", "available_tasks", "generate", "write_outputs"]

_TEMPLATE = "template"


def available_tasks() -> list[str]:
    """The task names ``generate`` accepts (the registry of :mod:`synthera.text.tasks`)."""
    from synthera.text.tasks import available_tasks as registered

    return registered()


@dataclass
class GenerationConfig:
    """Everything that decides a generation run; validated once, stored in the manifest.

    Parameters
    ----------
    task
        ``text-to-sql``, ``summarization``, ``qa``, ``character`` or ``tool-use``.
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
    tools
        ``tool-use`` only: the tool specs (a JSON file, a JSON string or a list).
    sql_dedup, template_cap, question_candidates, question_styles, join_share
        Text-to-SQL only: ``"template"`` drops queries that differ only in
        their literals once ``template_cap`` queries (default 1) share that
        template; with a model, ``question_candidates`` rewrites per
        query (the most consistent kept) in rotating question styles;
        ``join_share`` is the share of queries asked to join tables over
        foreign keys (default 0.35 on a database that has them).
    novelty_threshold
        ROUGE-L threshold (``None``: the task's default, 0.7, or off for
        Text-to-SQL, which enforces distinct SQL instead).
    minhash_threshold
        MinHash Jaccard threshold for near-duplicates.
    max_candidates
        Stop after this many candidates (default ``max(50, 20·n)`` for
        Text-to-SQL, ``max(20, 6·n)`` with a model).
    options
        Set by :meth:`validated`: the task's own validated options.
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
    tools: str | list | None = None
    sql_dedup: str = "sql"
    template_cap: int = 1
    question_candidates: int = 1
    question_styles: bool = True
    join_share: float | None = None
    batch_size: int = 8
    novelty_threshold: float | None = None
    minhash_threshold: float | None = 0.9
    max_candidates: int | None = None
    timeout_s: float = 60.0
    options: object = field(default=None, repr=False, compare=False)

    def validated(self) -> GenerationConfig:
        """Check every field and return a normalised copy; raises :class:`UserInputError`.

        The task's own options (e.g. :class:`~synthera.text.tasks.TextToSQLOptions`) are validated by the
        task and kept in :attr:`options`.
        """
        from synthera.text.tasks import available_tasks, get_task_options, resolve_task

        task = resolve_task(self.task)
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise UserInputError(f"n must be a whole number of at least 1; got {self.n}")
        if self.n > 1_000_000:
            raise UserInputError(f"n {self.n} is too large; generate at most 1,000,000 examples per run")
        if self.seed < 0:
            raise UserInputError(f"seed must be >= 0; got {self.seed}")
        if self.batch_size < 1:
            raise UserInputError(f"batch_size must be at least 1; got {self.batch_size}")
        for name in ("novelty_threshold", "minhash_threshold"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                raise UserInputError(f"{name} must lie in (0, 1]; got {value}")
        model = self.model.strip() if isinstance(self.model, str) else self.model
        kind = get_task_options(task)
        if isinstance(model, str) and model.lower() == _TEMPLATE and not kind.template_ok:
            able = ", ".join(t for t in available_tasks() if get_task_options(t).template_ok)
            raise UserInputError(f"model 'template' only works for {able}; {task} needs a language model")
        if self.tools is not None and task != "tool-use":
            raise UserInputError(f"tools only applies to tool-use, not {task}")
        if task != "text-to-sql" and (self.sql_dedup != "sql" or self.template_cap != 1
                                      or self.question_candidates != 1 or self.join_share is not None):
            raise UserInputError(f"sql_dedup, template_cap, question_candidates and join_share only apply to "
                                 f"text-to-sql, not {task}")
        options = kind.from_config(self)
        fields = {**asdict(self), "task": task, "model": model, **options.config_fields()}
        fields.pop("options")
        return GenerationConfig(**fields, options=options)

    def as_dict(self) -> dict:
        """The config as plain data for the manifest (the task options are in it already)."""
        out = asdict(self)
        out.pop("options")
        return out

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
    built = config.options.build(llm=llm, seed=config.seed, out=out, progress=progress)
    task, database, source = built.task, built.database, built.source
    setup_seconds = time.perf_counter() - t0
    balancer = Balancer(task.attribute_values(), config.n)
    novelty = config.novelty_threshold if config.novelty_threshold is not None else task.default_novelty
    budget = config.max_candidates or config.options.budget(config.n, llm is not None)
    start = time.perf_counter()
    try:
        run = _loop(config, task, llm, balancer, budget, random.Random(config.seed),
                    progress=progress, on_batch=on_batch)
    finally:
        task.close()
    seconds = time.perf_counter() - start
    records = [ex.record() for ex in run.kept]
    stats = _stats(config, task, llm, run.kept, run.drops, run.candidates, seconds, setup_seconds, balancer,
                   run.judge_notes, run.stopped, budget, novelty)
    manifest = _manifest(config, task, llm, stats, source, novelty)
    return GenerationResult(records, stats, manifest, database)


@dataclass
class LoopState:
    """What one run of the generation loop produced: kept examples (in order), drops and counts."""

    kept: list = field(default_factory=list)
    drops: DropCounter = field(default_factory=DropCounter)
    candidates: int = 0
    judge_notes: Counter = field(default_factory=Counter)
    stopped: str = "done"


def novelty_filter(config: GenerationConfig, task) -> NoveltyFilter:
    """The run's duplicate, near-duplicate and ROUGE-L filter (the task's default novelty unless the config sets it)."""
    novelty = config.novelty_threshold if config.novelty_threshold is not None else task.default_novelty
    return NoveltyFilter(minhash_threshold=config.minhash_threshold, novelty_threshold=novelty)


def _loop(config: GenerationConfig, task, llm, balancer: Balancer, budget: int, rng: random.Random, *,
          progress: bool = False, on_batch: Callable[[dict], None] | None = None,
          dedup: NoveltyFilter | None = None) -> LoopState:
    """Propose and filter until ``balancer`` is full or ``budget`` candidates are spent (the task stays open).

    ``dedup`` may come holding examples kept elsewhere (a sharded run's top-up rounds); by default it starts empty.
    """
    dedup = dedup if dedup is not None else novelty_filter(config, task)
    state = LoopState()
    kept, drops = state.kept, state.drops
    target = sum(balancer.quotas.values())
    batch = config.batch_size if llm is not None else max(config.batch_size, 64)
    with _progress(target, f"{config.task}", progress) as update:
        while not balancer.done():
            if state.candidates >= budget:
                state.stopped = "budget"
                break
            remaining = target - len(kept)
            # Ask for what is still missing, scaled up by the acceptance rate so far (a model's
            # batch is cheap to fill, a batch of one is slow); extras end up as over_quota.
            rate = (len(kept) + 1) / (state.candidates + 2) if llm is not None else 1.0
            size = min(batch, math.ceil(remaining / max(rate, 0.25)), budget - state.candidates)
            want = balancer.next_values(size, rng)
            before = len(kept)
            state.candidates += _take(task.propose(want, rng), task, balancer, dedup, kept, drops,
                                      state.judge_notes)
            update(len(kept), drops.total, len(kept) - before)
            if on_batch is not None:
                on_batch({"kept": len(kept), "dropped": drops.total, "candidates": state.candidates})
    return state


def _take(proposals, task, balancer: Balancer, dedup: NoveltyFilter, kept: list, drops: DropCounter,
          judge_notes: Counter) -> int:
    """Filter one batch of proposals into ``kept`` (or ``drops``); returns how many candidates it held."""
    for item in proposals:
        reason, detail = _check(item, task, balancer, dedup)
        if reason is None:
            kept.append(item)
            continue
        drops.drop(reason, detail)
        if reason == "judge_rejection":
            judge_notes[detail.split(":", 1)[0]] += 1
    return len(proposals)


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
        "distribution": task.distribution(meta),
        "task_stats": dict(task.stats),
        "judge_rejections": dict(judge_notes.most_common()),
        "novelty_threshold": novelty,
        "notes": [],
    }
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
        if rate < 0.5 and task.weak_model_note:
            top = ", ".join(f"{k} {v}" for k, v in drops.counts.most_common(4) if k != "over_quota")
            notes.append(
                f"{llm.model_id} is weak for {config.task}: only {rate:.0%} of its generations passed the filters "
                f"(most dropped: {top}); a larger model or endpoint gives more usable data"
            )
    extra, task_notes = task.report()
    stats.update(extra)
    notes.extend(task_notes)
    return stats


def _manifest(config, task, llm, stats, source, novelty) -> dict:
    import platform

    from synthera import __version__

    config_dict = config.as_dict()
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
