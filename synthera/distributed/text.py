"""Text generation sharded over Dask workers, with the same records for any worker count.

:func:`generate_sharded` splits the ``n`` examples of a SynthGen run into
shards whose number depends on ``n`` only (or is given), never on the workers:

1. **Quotas.** The run's attribute quotas (difficulty for Text-to-SQL, topic
   or character for the seed tasks; largest remainder, as in the
   single-process run) are dealt slot by slot to the shards, so every shard's
   quotas are whole numbers and, value by value, they add up to the global
   ones exactly. Each shard also asks for ``surplus`` spare examples per value.
2. **Map.** :func:`generate_shard` runs the ordinary generation loop for one
   shard, seeded by ``SeedSequence(seed, spawn_key=(shard,))`` only, with its
   own filters and drop counts. The model is built once per worker process
   (:data:`_LLMS`, keyed by the model spec) and wrapped in a per-shard answer
   cache beside ``out``.
3. **Reduce.** On the driver, one global pass runs the same duplicate, MinHash
   near-duplicate and ROUGE-L checks over every shard's kept candidates:
   first each shard's quota, in shard order, then the spares, which top up
   slices the global pass emptied. Spares not needed are counted
   ``over_quota`` (good examples of a full slice), so ``kept + dropped ==
   candidates`` over all shards.
4. **Top-up.** Slices still short (a small database repeats queries across
   shards) get up to :data:`MAX_TOPUP_ROUNDS` more rounds of shards, numbered
   on from the first round's, that are sent every example kept so far and
   skip them, then pass through the same global filter.

Because each shard's output depends only on ``(config, shard)`` and what earlier
rounds kept, the records are identical in this process, on one worker or on many.

Examples
--------
>>> from synthera.distributed.executor import cluster
>>> from synthera.distributed.text import generate_sharded
>>> cfg = GenerationConfig(task="text-to-sql", n=1000, db="shop.db", model="template")   # doctest: +SKIP
>>> with cluster(workers=4) as client:                                                   # doctest: +SKIP
...     result = generate_sharded(cfg, client=client, out="sql.jsonl")
"""

from __future__ import annotations

import math
import os
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from synthera.distributed.executor import run_tasks
from synthera.errors import UserInputError
from synthera.text.filters import Balancer, DropCounter
from synthera.text.pipeline import (
    GenerationConfig,
    GenerationResult,
    _cache_path,
    _loop,
    _manifest,
    _progress,
    _stats,
    novelty_filter,
)

__all__ = ["DEFAULT_SHARD_SIZE", "DEFAULT_SURPLUS", "generate_shard", "generate_sharded", "shard_quotas",
           "shard_seed"]

#: Examples per shard when ``shards`` is not given (the shard count follows ``n``, never the workers).
DEFAULT_SHARD_SIZE = 100
#: Spare examples each shard proposes, as a share of its quota per value (at least one where the quota is > 0).
DEFAULT_SURPLUS = 0.25
#: Rounds of top-up shards after the first, while the global pass leaves a slice short.
MAX_TOPUP_ROUNDS = 3
#: worker-side cache: model spec -> backend (each worker process loads a model once)
_LLMS: dict[tuple, Any] = {}


def shard_seed(seed: int, shard: int) -> int:
    """The seed of shard ``shard``: ``SeedSequence(seed, spawn_key=(shard,))``, as for sampling blocks."""
    return int(np.random.SeedSequence(seed, spawn_key=(shard,)).generate_state(1)[0])


def shard_quotas(quotas: Mapping[Any, int], shards: int) -> list[dict]:
    """Deal the global quotas slot by slot over ``shards``: per value they add up exactly; sizes differ by <= 1."""
    out = [{v: 0 for v in quotas} for _ in range(shards)]
    slot = 0
    for value, quota in quotas.items():
        base, extra = divmod(quota, shards)
        for k in range(shards):  # the `extra` leftover slots continue the round-robin where the last value ended
            out[k][value] = base + ((k - slot) % shards < extra)
        slot = (slot + extra) % shards
    return out


def _balancer(quotas: Mapping[Any, int]) -> Balancer:
    """A balancer holding exactly these whole-number quotas (not shares to round)."""
    balancer = Balancer(list(quotas), 1)
    balancer.quotas = dict(quotas)
    return balancer


def _spares(quotas: Mapping[Any, int], surplus: float) -> dict:
    return {v: (math.ceil(q * surplus) if q and surplus > 0 else 0) for v, q in quotas.items()}


def _check(shards, surplus, n: int) -> int:
    if shards is None:
        shards = math.ceil(n / DEFAULT_SHARD_SIZE)
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise UserInputError(f"shards must be a whole number >= 1; got {shards!r}", param="shards")
    if isinstance(surplus, bool) or not isinstance(surplus, (int, float)) or not 0 <= surplus <= 4:
        raise UserInputError(f"surplus must be a number from 0 to 4; got {surplus!r}", param="surplus")
    return min(shards, n)


def generate_sharded(config: GenerationConfig, *, client: Any = None, shards: int | None = None,
                     out: str | os.PathLike | None = None, surplus: float = DEFAULT_SURPLUS,
                     progress: bool = False) -> GenerationResult:
    """Generate ``config.n`` examples in shards, here (``client=None``) or on a Dask ``client``'s workers.

    Parameters
    ----------
    config
        A :class:`~synthera.text.pipeline.GenerationConfig` (validated here).
    client
        A Dask client (see :func:`synthera.distributed.executor.cluster`), or ``None`` to run the shards
        one after another in this process: the records are the same either way.
    shards
        How many shards (default ``ceil(n / DEFAULT_SHARD_SIZE)``). The records depend on it, not on the
        workers. A database or model folder must be readable at the same path on every worker.
    out
        The intended ``.jsonl`` output; each shard's model-answer cache sits beside it.
    surplus
        Spares per shard, as a share of its quota (default 0.25), that top up slices the global
        deduplication emptied. Slices still short get up to :data:`MAX_TOPUP_ROUNDS` more rounds of
        shards, which know every example kept so far.
    progress
        A bar on stderr, advanced as shards finish.
    """
    config = config.validated()
    shards = _check(shards, surplus, config.n)
    out = Path(out) if out is not None else None
    t0 = time.perf_counter()
    built = config.options.build(llm=None, seed=config.seed, out=out, progress=progress)
    task = built.task
    try:
        state = _GlobalPass(config, task, Balancer(task.attribute_values(), config.n).quotas)
        spec = _spec(config, built, out)
        setup_seconds = time.perf_counter() - t0
        start = time.perf_counter()
        with _progress(config.n, f"{config.task}", progress) as update:
            rounds = _rounds(config, client, spec, state, shards, surplus, update)
        return _result(config, task, built, state, {"surplus": surplus, "rounds": rounds}, start, setup_seconds)
    finally:
        task.close()


def _rounds(config: GenerationConfig, client: Any, spec: dict, state: _GlobalPass, shards: int, surplus: float,
            update) -> int:
    """Map shards and reduce them, then top up short slices in further rounds; returns the rounds run."""
    want, first, size = dict(state.quotas), 0, math.ceil(config.n / shards)
    shown = Counter()

    def advance(result: dict) -> None:  # the bar moves as shards finish; the global pass may take some back
        step = min(sum(c["primary"] for c in result["kept"]), config.n - shown["kept"])
        shown["kept"] += step
        update(shown["kept"], state.drops.total + sum(result["dropped"].values()), step)

    rounds = 0
    while rounds <= MAX_TOPUP_ROUNDS and sum(want.values()):
        left = config.max_candidates - state.candidates if config.max_candidates else None
        count = shards if rounds == 0 else min(shards, math.ceil(sum(want.values()) / size))
        calls = []
        for k, quotas in enumerate(shard_quotas(want, count)):
            spares = _spares(quotas, surplus)
            budget = _budget(config, quotas, spares, k, count, left)
            if sum(quotas.values()) and budget > 0:
                calls.append((first + k, quotas, spares, budget))
        if not calls:  # max_candidates spent
            break
        first += count
        rounds += 1
        before = len(state.kept)
        known = [(c["key"], c["text"]) for c in state.kept]  # later rounds avoid what is already kept
        state.feed(run_tasks(generate_shard, calls, client=client, name="synthera-text",
                             shared={**spec, "known": known}, on_result=advance))
        want = state.deficit()
        if len(state.kept) == before:
            break
    return rounds


def _spec(config: GenerationConfig, built, out: Path | None) -> dict:
    """What every shard needs: the config as plain data (a built database by its file) and the cache path."""
    fields = config.as_dict()
    if built.database is not None:  # built once here (synthetic or mirrored): the shards query that file
        fields.update(db=str(Path(built.database).resolve()), from_synthetic=None)
    cache = _cache_path(out, config) if config.uses_model else None
    return {"config": fields, "cache": str(cache) if cache is not None else None}


def _budget(config: GenerationConfig, quotas: Mapping, spares: Mapping, shard: int, shards: int,
            left: int | None) -> int:
    """A shard's candidate budget: its share of what is left of ``max_candidates``, else the task's rule."""
    if left is not None:
        base, extra = divmod(max(left, 0), shards)
        return base + (shard < extra)
    return config.options.budget(sum(quotas.values()) + sum(spares.values()), config.uses_model)


def _worker_llm(config: GenerationConfig, cache: str | None, shard: int):
    """The worker's backend for ``config.model`` (built on first use), behind this shard's answer cache."""
    from synthera.text.llm import CachedLLM, get_llm

    if not config.uses_model:
        return None
    key = (config.model, config.model_name, config.api_key_env, config.batch_size, config.timeout_s)
    backend = _LLMS.get(key)
    if backend is None:
        backend = _LLMS[key] = get_llm(config.model, model_name=config.model_name, api_key_env=config.api_key_env,
                                       batch_size=config.batch_size, timeout_s=config.timeout_s)
    path = Path(cache)
    return CachedLLM(backend, path.with_name(path.name.replace(".cache.jsonl", f".shard{shard:05d}.cache.jsonl")))


def generate_shard(spec: dict, shard: int, quotas: dict, spares: dict, budget: int) -> dict:
    """Task: the generation loop for one shard, seeded by ``(seed, shard)``; its kept candidates and counts."""
    fields = dict(spec["config"])
    config = GenerationConfig(**{**fields, "seed": shard_seed(fields["seed"], shard)}).validated()
    llm = _worker_llm(config, spec["cache"], shard)
    task = config.options.build(llm=llm, seed=config.seed, out=None, progress=False).task
    balancer = _balancer({v: quotas[v] + spares[v] for v in quotas})
    dedup = novelty_filter(config, task)
    for key, text in spec.get("known", ()):  # examples kept in earlier rounds: a top-up shard avoids them
        reason, handle = dedup.check(key, text)
        if reason is None:
            dedup.add(key, handle)
    try:
        run = _loop(config, task, llm, balancer, budget, random.Random(config.seed), dedup=dedup)
        extras = task.report()[0]
    finally:
        task.close()
    taken: Counter = Counter()
    kept = []
    for ex in run.kept:
        value = ex.attributes[task.attribute]
        kept.append({"record": ex.record(), "key": ex.key, "text": ex.novelty_text, "value": value,
                     "primary": taken[value] < quotas[value]})
        taken[value] += 1
    model = ({"misses": llm.misses, "hits": llm.hits, "seconds": llm.seconds, "id": llm.model_id}
             if llm is not None else None)
    return {"shard": shard, "kept": kept, "candidates": run.candidates, "dropped": run.drops.as_dict(),
            "drop_examples": run.drops.examples, "judge_notes": dict(run.judge_notes), "task_stats": dict(task.stats),
            "stopped": run.stopped, "budget": budget, "model": model, "report": extras}


class _GlobalPass:
    """The driver's reduce across rounds: one dedup filter over all shards, the exact global quotas, every drop."""

    def __init__(self, config: GenerationConfig, task, quotas: Mapping):
        self.quotas = dict(quotas)
        self.attribute = task.attribute
        self.novelty = novelty_filter(config, task)
        self.balancer = _balancer(quotas)
        self.drops = DropCounter()
        self.kept: list[dict] = []
        self.results: list[dict] = []
        self.shard_drops = 0
        self.candidates = 0

    def feed(self, results: Sequence[dict]) -> None:
        """One round: the shards' own drops, then every shard's quota in shard order, then the spares."""
        for r in results:
            self.drops.counts.update({k: v for k, v in r["dropped"].items() if v})
            for reason, shown in r["drop_examples"].items():
                have = self.drops.examples.setdefault(reason, [])
                have.extend(shown[: self.drops.keep_examples - len(have)])
            self.shard_drops += sum(r["dropped"].values())
            self.candidates += r["candidates"]
        self.results.extend(results)
        primaries = [c for r in results for c in r["kept"] if c["primary"]]
        spares = [c for r in results for c in r["kept"] if not c["primary"]]
        for cand in primaries + spares:
            reason, handle = self.novelty.check(cand["key"], cand["text"])
            if reason is not None:
                self.drops.drop(reason, cand["text"][:200])
            elif not self.balancer.open(cand["value"]):
                self.drops.drop("over_quota", f"{self.attribute}={cand['value']}")
            else:
                self.novelty.add(cand["key"], handle)
                self.balancer.take(cand["value"])
                self.kept.append(cand)

    def deficit(self) -> dict:
        return {v: q - self.balancer.filled[v] for v, q in self.quotas.items()}


def _result(config, task, built, state: _GlobalPass, shard_info: dict, start: float,
            setup_seconds: float) -> GenerationResult:
    """The kept records with the ordinary stats and manifest; drops and counts summed over shards and rounds."""
    results = state.results
    label = getattr(task, "db_label", None)
    records = [c["record"] for c in state.kept]
    for rec in records:
        if label is not None and "db" in rec["meta"]:
            rec["meta"]["db"] = label  # the driver's label for a database it built, as in one process
    task.stats = Counter()
    judge: Counter = Counter()
    for r in results:
        task.stats.update(r["task_stats"])
        judge.update(r["judge_notes"])
    llm = _model_totals(config, results)
    novelty = state.novelty.novelty_threshold
    stopped = "done" if state.balancer.done() else "budget"
    stats = _stats(config, task, llm, [SimpleNamespace(meta=rec["meta"]) for rec in records], state.drops,
                   state.candidates, time.perf_counter() - start, setup_seconds, state.balancer, judge, stopped,
                   sum(r["budget"] for r in results), novelty)
    _sum_counts(stats, [r["report"] for r in results])
    stats["shards"] = {"count": len(results), **shard_info, "dropped_in_shards": state.shard_drops,
                       "dropped_globally": state.drops.total - state.shard_drops,
                       "forwarded": sum(len(r["kept"]) for r in results)}
    manifest = _manifest(config, task, llm, stats, built.source, novelty)
    return GenerationResult(records, stats, manifest, built.database)


def _sum_counts(stats: dict, reports: Sequence[dict]) -> None:
    """The task's own counters (e.g. the grammar's misses and errors per family), summed over the shards.

    The driver's task proposed nothing, so its counters are empty or zero: such a nested mapping, whole numbers
    in every shard, is summed. Anything else (a share, the database's links) stays as the driver reports it.
    """
    for key, section in stats.items():
        if not isinstance(section, dict) or not all(isinstance(r.get(key), dict) for r in reports):
            continue
        for sub, value in section.items():
            parts = [r[key].get(sub) for r in reports]
            counters = all(isinstance(p, dict) and all(type(v) is int for v in p.values()) for p in parts)
            if isinstance(value, dict) and not any(value.values()) and counters:
                total: Counter = Counter()
                for part in parts:
                    total.update(part)
                section[sub] = dict(sorted(total.items()))


def _model_totals(config: GenerationConfig, results: Sequence[dict]):
    """The shards' model calls, cache hits and seconds, summed, in the shape the stats read."""
    if not config.uses_model:
        return None
    models = [r["model"] for r in results if r["model"]]
    return SimpleNamespace(model_id=models[0]["id"] if models else str(config.model),
                           misses=sum(m["misses"] for m in models), hits=sum(m["hits"] for m in models),
                           seconds=sum(m["seconds"] for m in models))
