"""The kinds of step a pipeline can run: an explicit registry of :class:`StepKind`, each calling the public API.

A kind declares its parameters (a pydantic model: unknown keys and wrong types are refused before anything runs),
the inputs it reads (with defaults such as ``source``), the outputs it writes (file or folder names inside the
step's folder of the workspace), the ε it spends, and the function that runs it. :func:`register_step` refuses to
replace a kind by accident.

A runner gets a :class:`StepContext` and writes only to ``ctx.outputs``; those paths lie in a staging folder that
:mod:`synthera.pipeline.run` swaps into the workspace as a whole when the runner returns.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from synthera.errors import UserInputError

__all__ = ["StepKind", "StepContext", "StepResult", "STEP_KINDS", "register_step", "get_step_kind", "step_kinds"]


@dataclass
class StepResult:
    """What a step reports: headline lines, a few numbers, the ε it spent, and its report (an output name)."""

    headline: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    epsilon_spent: float | None = None
    report: str | None = None


@dataclass
class StepContext:
    """What a runner may use: its params, resolved inputs, output paths, and the run's options."""

    step_id: str
    params: BaseModel
    inputs: dict[str, str]  # input name -> a path, URL or dataset:NAME (already resolved)
    outputs: dict[str, Path]  # output name -> where to write (inside the staging folder)
    source: Any  # synthera.pipeline.spec.Source, paths resolved
    workers: int | None = None
    scheduler: str | None = None
    progress: bool = False

    @property
    def scaled_out(self) -> bool:
        """Whether the run was given ``workers`` or ``scheduler``: fit, sample and evaluate then use Dask."""
        return self.workers is not None or self.scheduler is not None

    def table(self, name: str):
        """Input ``name`` as a DataFrame (the source's ``limit`` applies to the source's tables)."""
        from synthera.io import read_table

        ref = self.inputs[name]
        src = self.source
        if ref in (src.table, src.test):
            df = read_table(ref, table=src.table_name if ref == src.table else None)
            if src.limit is not None and len(df) > src.limit:
                df = df.sample(src.limit, random_state=src.seed).reset_index(drop=True)
            return df
        return read_table(ref)

    def optional_table(self, name: str):
        return self.table(name) if self.inputs.get(name) else None


@dataclass(frozen=True)
class StepKind:
    """One kind of step (see the module docstring)."""

    name: str
    params: type[BaseModel]
    run: Callable[[StepContext], StepResult]
    reads: dict[str, str | None]  # input name -> default reference (None: required, no default; "" optional)
    writes: dict[str, str]  # output name -> file or folder name in the step's folder
    epsilon: Callable[[BaseModel], float | None] = lambda params: None
    summary: str = ""
    #: Checks that need the library (slow to import): ``(param, problem; fix)`` pairs. Skipped when the same
    #: file was already checked by this version (see :func:`synthera.pipeline.plan.build_plan`).
    check: Callable[[BaseModel], list[tuple[str, str]]] | None = None


STEP_KINDS: dict[str, StepKind] = {}


def register_step(kind: StepKind, *, replace: bool = False) -> StepKind:
    """Add ``kind`` to :data:`STEP_KINDS`; refuses to replace an existing kind unless ``replace=True``."""
    if kind.name in STEP_KINDS and not replace:
        raise ValueError(f"a step kind named {kind.name!r} is already registered; pass replace=True to replace it")
    STEP_KINDS[kind.name] = kind
    return kind


def step_kinds() -> list[str]:
    return list(STEP_KINDS)


def get_step_kind(name: str) -> StepKind:
    try:
        return STEP_KINDS[name]
    except KeyError:
        raise UserInputError(f"unknown step kind {name!r}; use one of {', '.join(STEP_KINDS)}") from None


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


REQUIRED, OPTIONAL = None, ""


def _report_headline(report) -> list[str]:
    return list(getattr(report, "headline", []) or [])


def _save_report(report, folder: Path) -> None:
    """``report.save`` into ``folder`` (the staging folder is swapped in whole, so this is atomic)."""
    folder.mkdir(parents=True, exist_ok=True)
    report.save(folder)


# --------------------------------------------------------------------------- inspect


def _run_inspect(ctx: StepContext) -> StepResult:
    from synthera.metadata import infer_metadata

    df = ctx.table("data")
    meta = infer_metadata(df)
    meta.save(ctx.outputs["metadata"])
    kinds: dict[str, int] = {}
    for name in df.columns:
        kind = meta[name].kind
        kinds[kind] = kinds.get(kind, 0) + 1
    shown = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return StepResult(headline=[f"{len(df):,} rows × {df.shape[1]} columns: {shown}"],
                      numbers={"rows": len(df), "columns": df.shape[1]})


register_step(StepKind("inspect", Params, _run_inspect, reads={"data": "source"},
                       writes={"metadata": "metadata.json"}, summary="infer column kinds and bounds"))


# --------------------------------------------------------------------------- fit / sample


class FitParams(Params):
    model: str = "cascade"
    epochs: int | None = Field(None, ge=1)
    trees: int | None = Field(None, ge=1)  # the cascade's randomized trees per column (fit --trees)
    epsilon: float | None = Field(None, gt=0)
    delta: float | None = Field(None, gt=0, lt=1)
    seed: int | None = Field(None, ge=0)
    domain_is_public: bool = False


def _check_fit(p: FitParams) -> list[tuple[str, str]]:
    """Problems no schema sees: the model exists, DP models get epsilon, others none, epochs only where trained."""
    from synthera.tabular import available_synthesizers, get_synthesizer

    if p.model not in available_synthesizers():
        return [("model", f"unknown model {p.model!r}; use one of {', '.join(available_synthesizers())}")]
    cls = get_synthesizer(p.model)
    if cls.differentially_private and p.epsilon is None:
        return [("model", f"the {p.model} model is differentially private and needs epsilon; add e.g. epsilon: 1")]
    if not cls.differentially_private and (p.epsilon is not None or p.delta is not None):
        return [("epsilon" if p.epsilon is not None else "delta",
                 f"the {p.model} model is not differentially private; drop it, or pick a DP model such as "
                 "dp_marginals")]
    if p.epochs is not None and "epochs" not in cls.param_names():
        return [("epochs", f"the {p.model} model does not train in epochs; drop epochs")]
    if p.trees is not None and "n_trees" not in cls.param_names():
        return [("trees", f"the {p.model} model has no trees; drop trees, or use model: cascade")]
    return []


def _run_fit(ctx: StepContext) -> StepResult:
    from synthera.metadata import Metadata
    from synthera.tabular import get_synthesizer

    p: FitParams = ctx.params
    cls = get_synthesizer(p.model)
    kwargs = {"seed": p.seed if p.seed is not None or cls.differentially_private else 0}
    if cls.differentially_private:
        kwargs.update(epsilon=p.epsilon, delta=p.delta)
    if p.epochs is not None:
        kwargs["epochs"] = p.epochs
    if p.trees is not None:
        kwargs["n_trees"] = p.trees
    hints = Metadata.load(ctx.inputs["metadata"]) if ctx.inputs.get("metadata") else None
    start = time.perf_counter()
    if ctx.scaled_out:
        from synthera.distributed import cluster, fit_dataset

        with cluster(workers=ctx.workers, scheduler=ctx.scheduler) as client:
            synth, info = fit_dataset(ctx.inputs["data"], cls(**kwargs), metadata=hints, seed=kwargs["seed"] or 0,
                                      client=client, domain_is_public=p.domain_is_public, progress=ctx.progress)
        rows, columns = info["rows"], len(synth.metadata_.columns)
    else:
        df = ctx.table("data")
        synth = cls(**kwargs).fit(df, metadata=hints, progress=ctx.progress, domain_is_public=p.domain_is_public)
        rows, columns = df.shape
    seconds = time.perf_counter() - start
    synth.save(ctx.outputs["model"])
    spent = None
    line = f"fitted {p.model} on {rows:,} rows × {columns} columns in {seconds:.1f} s"
    if cls.differentially_private:
        spent = float(synth.privacy_["epsilon_spent"])
        line += f"; ε spent {spent:.4g}"
    return StepResult(headline=[line], numbers={"rows": rows, "fit_seconds": round(seconds, 3)},
                      epsilon_spent=spent)


register_step(StepKind("fit", FitParams, _run_fit, reads={"data": "source", "metadata": OPTIONAL},
                       writes={"model": "model"}, epsilon=lambda p: p.epsilon,
                       summary="learn a synthesizer (any model; DP ones spend epsilon)", check=_check_fit))


class SampleParams(Params):
    rows: int = Field(ge=1)
    seed: int | None = Field(0, ge=0)
    conditions: dict[str, Any] = Field(default_factory=dict)
    balance: list[str] = Field(default_factory=list)
    parity: str | None = None
    sensitive: list[str] = Field(default_factory=list)
    intersectional: bool = False
    relabel: float | None = Field(None, ge=0, le=1)


def _run_sample(ctx: StepContext) -> StepResult:
    from synthera.io import write_table
    from synthera.tabular import load_synthesizer

    p: SampleParams = ctx.params
    mitigate = bool(p.balance or p.parity or p.sensitive or p.intersectional or p.relabel is not None)
    if ctx.scaled_out:
        return _sample_scaled_out(ctx, p, mitigate)
    synth = load_synthesizer(ctx.inputs["model"])
    lines = []
    if mitigate:
        from synthera.bias import MitigationOptions, mitigated_sample

        options = MitigationOptions(balance=p.balance, parity=p.parity, sensitive=p.sensitive,
                                    intersectional=p.intersectional, relabel=p.relabel, conditions=p.conditions,
                                    seed=p.seed)
        df, plan = mitigated_sample(synth, p.rows, options, progress=ctx.progress)
        measured = plan.summary(df)["measured"]
        for name, shares in measured.get("group_shares", {}).items():
            lines.append(f"{name} shares: " + ", ".join(f"{g} {v:.1%}" for g, v in shares.items()))
    else:
        df = synth.sample(p.rows, seed=p.seed, conditions=p.conditions or None)
    write_table(df, ctx.outputs["table"])
    return StepResult(headline=[f"{len(df):,} synthetic rows × {df.shape[1]} columns", *lines],
                      numbers={"rows": len(df)})


def _sample_scaled_out(ctx: StepContext, p: SampleParams, mitigate: bool) -> StepResult:
    """``sample`` as a Parquet dataset folder written by Dask workers (see :mod:`synthera.distributed`)."""
    from synthera.distributed import cluster, sample_to_parquet

    mitigation = ({"balance": p.balance, "parity": p.parity, "sensitive": p.sensitive,
                   "intersectional": p.intersectional, "relabel": p.relabel} if mitigate else None)
    with cluster(workers=ctx.workers, scheduler=ctx.scheduler) as client:
        manifest = sample_to_parquet(ctx.inputs["model"], rows=p.rows, out=ctx.outputs["table"], seed=p.seed,
                                     conditions=p.conditions or None, mitigation=mitigation, client=client)
    return StepResult(headline=[f"{manifest['rows']:,} synthetic rows in {len(manifest['parts'])} Parquet part(s)"],
                      numbers={"rows": manifest["rows"]})


register_step(StepKind("sample", SampleParams, _run_sample, reads={"model": REQUIRED},
                       writes={"table": "synthetic.parquet"},
                       summary="draw synthetic rows (conditions, balance, parity)"))


# --------------------------------------------------------------------------- evaluate / bias


class EvaluateParams(Params):
    target: str | None = None
    sensitive: list[str] = Field(default_factory=list)
    seed: int = Field(0, ge=0)


def _run_evaluate(ctx: StepContext) -> StepResult:
    from synthera.evaluate import evaluate
    from synthera.metadata import Metadata

    p: EvaluateParams = ctx.params
    hints = Metadata.load(ctx.inputs["metadata"]) if ctx.inputs.get("metadata") else None
    if ctx.scaled_out:
        from synthera.distributed import cluster, evaluate_dataset

        with cluster(workers=ctx.workers, scheduler=ctx.scheduler) as client:
            report = evaluate_dataset(ctx.inputs["real"], ctx.inputs["synthetic"], holdout=ctx.inputs.get("holdout"),
                                      target=p.target, sensitive=tuple(p.sensitive), metadata=hints, seed=p.seed,
                                      client=client)
    else:
        report = evaluate(ctx.table("real"), ctx.table("synthetic"), holdout=ctx.optional_table("holdout"),
                          target=p.target, sensitive=tuple(p.sensitive), metadata=hints, seed=p.seed)
    _save_report(report, ctx.outputs["report"])
    return StepResult(headline=_report_headline(report), numbers=_headline_numbers(report.results),
                      report="report")


def _headline_numbers(results: dict) -> dict:
    """The first numbers of each section of an evaluation's ``results.json`` (scores, not tables)."""
    numbers = {}
    for section in ("fidelity", "utility", "privacy", "fairness"):
        part = results.get(section)
        if isinstance(part, dict):
            for key, value in part.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and len(numbers) < 12:
                    numbers[f"{section}.{key}"] = value
    return numbers


register_step(StepKind("evaluate", EvaluateParams, _run_evaluate,
                       reads={"real": "source", "synthetic": REQUIRED, "holdout": "source.test?",
                              "metadata": OPTIONAL},
                       writes={"report": "report"}, summary="fidelity, utility, privacy and fairness"))


class BiasParams(Params):
    target: str
    sensitive: list[str] = Field(min_length=1)
    positive: Any = None
    seed: int = Field(0, ge=0)


def _run_bias(ctx: StepContext) -> StepResult:
    from synthera.bias.analysis import analyze_bias

    p: BiasParams = ctx.params
    report = analyze_bias(ctx.table("data"), target=p.target, sensitive=p.sensitive,
                          holdout=ctx.optional_table("holdout"), positive=p.positive, seed=p.seed)
    _save_report(report, ctx.outputs["report"])
    return StepResult(headline=_report_headline(report), report="report")


register_step(StepKind("bias", BiasParams, _run_bias, reads={"data": "source", "holdout": OPTIONAL},
                       writes={"report": "report"}, summary="where a table's bias comes from"))


# --------------------------------------------------------------------------- train-private


class TrainPrivateParams(Params):
    target: str
    epsilon: float = Field(gt=0, description="inf trains a non-private baseline")
    delta: float | None = Field(None, gt=0, lt=1)
    epochs: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1)
    seed: int | None = Field(None, ge=0)


def _run_train_private(ctx: StepContext) -> StepResult:
    from synthera.dp.classifier import DPClassifier
    from synthera.metadata import Metadata

    p: TrainPrivateParams = ctx.params
    declared = Metadata.load(ctx.inputs["metadata"]) if ctx.inputs.get("metadata") else None
    kwargs = {"epsilon": p.epsilon, "delta": p.delta, "seed": p.seed}
    kwargs.update({k: v for k, v in (("epochs", p.epochs), ("batch_size", p.batch_size)) if v is not None})
    df = ctx.table("data")
    clf = DPClassifier(**kwargs).fit(df, target=p.target, metadata=declared, progress=ctx.progress)
    clf.save(ctx.outputs["model"])
    if math.isinf(p.epsilon):
        return StepResult(headline=[f"NON-PRIVATE baseline (ε = ∞) on {len(df):,} rows"], epsilon_spent=math.inf)
    spent = float(clf.epsilon_spent_)
    return StepResult(headline=[f"DP classifier for {p.target} on {len(df):,} rows; ε spent {spent:.4g} of "
                                f"{p.epsilon:g}, δ = {clf.delta_:.3g}"],
                      numbers={"epsilon_spent": spent, "delta": float(clf.delta_), "steps": int(clf.steps_)},
                      epsilon_spent=spent)


register_step(StepKind("train-private", TrainPrivateParams, _run_train_private,
                       reads={"data": "source", "metadata": OPTIONAL}, writes={"model": "model"},
                       epsilon=lambda p: p.epsilon, summary="a classifier trained with DP-SGD"))


# --------------------------------------------------------------------------- hf-eval


class HFEvalParams(Params):
    target: str
    models: list[str] = Field(default_factory=list)
    from_scratch: list[str] = Field(default_factory=list)
    max_rows: int | None = Field(None, ge=10)
    epochs: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1)
    max_length: int | None = Field(None, ge=8)
    learning_rate: float | None = Field(None, gt=0)
    seed: int = Field(0, ge=0)
    device: str = "auto"


def _run_hf_eval(ctx: StepContext) -> StepResult:
    from synthera.hf.evaluate import check_max_rows, hf_evaluate, resolve_models

    p: HFEvalParams = ctx.params
    params = {k: v for k, v in (("epochs", p.epochs), ("batch_size", p.batch_size), ("max_length", p.max_length),
                                ("learning_rate", p.learning_rate)) if v is not None}
    specs = resolve_models(p.models, p.from_scratch)
    report = hf_evaluate(ctx.table("real"), ctx.table("synthetic"), ctx.table("test"), target=p.target,
                         models=specs, max_rows=check_max_rows(p.max_rows), seed=p.seed, progress=ctx.progress,
                         device=p.device, **params)
    _save_report(report, ctx.outputs["report"])
    return StepResult(headline=_report_headline(report), report="report")


register_step(StepKind("hf-eval", HFEvalParams, _run_hf_eval,
                       reads={"real": "source", "synthetic": REQUIRED, "test": "source.test"},
                       writes={"report": "report"}, summary="transformers trained on real vs synthetic rows"))


# --------------------------------------------------------------------------- relational (whole databases)


class RelationalFitParams(Params):
    max_context: int = Field(12, ge=0)
    max_match_columns: int = Field(2, ge=0)
    min_samples_leaf: int | None = Field(None, ge=1)
    max_bins: int = Field(64, ge=2)
    seed: int = Field(0, ge=0)


def _run_relational_fit(ctx: StepContext) -> StepResult:
    from synthera.relational import RelationalSynthesizer, read_database

    tables, schema = read_database(ctx.inputs["database"])
    model = RelationalSynthesizer(**ctx.params.model_dump()).fit(tables, schema=schema)
    model.save(ctx.outputs["model"])
    rows = sum(len(df) for df in tables.values())
    return StepResult(headline=[f"fitted {len(tables)} tables ({rows:,} rows, {len(schema.foreign_keys)} foreign "
                                "keys)"], numbers={"tables": len(tables), "rows": rows})


register_step(StepKind("relational-fit", RelationalFitParams, _run_relational_fit,
                       reads={"database": "source.database"}, writes={"model": "model"},
                       summary="learn a whole database (tables and keys)"))


class RelationalSampleParams(Params):
    scale: float = Field(1.0, gt=0)
    seed: int | None = Field(0, ge=0)


def _run_relational_sample(ctx: StepContext) -> StepResult:
    from synthera.relational import RelationalSynthesizer, write_database

    model = RelationalSynthesizer.load(ctx.inputs["model"])
    tables = model.sample(scale=ctx.params.scale, seed=ctx.params.seed)
    write_database(tables, model.schema_, ctx.outputs["database"])
    rows = sum(len(df) for df in tables.values())
    return StepResult(headline=[f"a synthetic database of {len(tables)} tables, {rows:,} rows"],
                      numbers={"rows": rows})


register_step(StepKind("relational-sample", RelationalSampleParams, _run_relational_sample,
                       reads={"model": REQUIRED}, writes={"database": "synthetic.db"},
                       summary="a synthetic database whose keys join"))


class RelationalEvaluateParams(Params):
    seed: int = Field(0, ge=0)


def _run_relational_evaluate(ctx: StepContext) -> StepResult:
    from synthera.io import write_text
    from synthera.relational import evaluate_database, read_database

    real, schema = read_database(ctx.inputs["real"])
    synthetic, _ = read_database(ctx.inputs["synthetic"], schema=schema)
    results = evaluate_database(real, synthetic, schema, seed=ctx.params.seed)
    write_text(json.dumps(results, indent=2, default=str) + "\n", ctx.outputs["report"])
    numbers = {k: v for k, v in _flat(results).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    shown = ", ".join(f"{k} {v:.3g}" for k, v in list(numbers.items())[:4])
    return StepResult(headline=[f"database metrics: {shown}"] if shown else [],
                      numbers=dict(list(numbers.items())[:12]))


def _flat(value, prefix: str = "") -> dict:
    """Nested dicts as ``{"a.b": value}`` (lists left out)."""
    if not isinstance(value, dict):
        return {prefix: value}
    out = {}
    for key, item in value.items():
        out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


register_step(StepKind("relational-evaluate", RelationalEvaluateParams, _run_relational_evaluate,
                       reads={"real": "source.database", "synthetic": REQUIRED}, writes={"report": "results.json"},
                       summary="cardinality, inter-table trends, integrity, privacy of a synthetic database"))


# --------------------------------------------------------------------------- text


class TextGenerateParams(Params):
    task: str
    n: int = Field(ge=1)
    seed: int = Field(0, ge=0)
    model: str | None = None
    model_name: str | None = None
    api_key_env: str | None = None
    from_synthetic: str | None = None
    rows: int = Field(2000, ge=10)
    batch_size: int = Field(8, ge=1)
    difficulty: dict[str, float] | None = None
    novelty: float | None = Field(None, gt=0, le=1)


def _run_text_generate(ctx: StepContext) -> StepResult:
    from synthera.text.pipeline import GenerationConfig, generate, write_outputs

    p: TextGenerateParams = ctx.params
    config = GenerationConfig(
        task=p.task, n=p.n, seed=p.seed, model=p.model, model_name=p.model_name, api_key_env=p.api_key_env,
        db=ctx.inputs.get("db") or None, from_synthetic=p.from_synthetic, synthetic_rows=p.rows,
        difficulty=p.difficulty, batch_size=p.batch_size, novelty_threshold=p.novelty,
    ).validated()
    out = ctx.outputs["data"]
    out.parent.mkdir(parents=True, exist_ok=True)
    result = generate(config, out=out, progress=ctx.progress)
    stats = result.stats
    if not result.records:
        reasons = ", ".join(f"{k} {v}" for k, v in stats["dropped"].items() if v) or "no candidates"
        raise UserInputError(f"no example passed the filters ({reasons}); try a larger model or another seed")
    write_outputs(result, out)
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(stats["dropped"].items()) if v) or "none"
    return StepResult(headline=[f"kept {stats['kept']:,} of {stats['candidates']:,} candidates; dropped: {dropped}"],
                      numbers={"kept": stats["kept"], "candidates": stats["candidates"]})


register_step(StepKind("text-generate", TextGenerateParams, _run_text_generate, reads={"db": OPTIONAL},
                       writes={"data": "data.jsonl"}, summary="verified synthetic training examples"))


class TextFinetuneParams(Params):
    model: str = "smollm2"
    lora_r: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"], min_length=1)
    quantize: str = "none"
    epochs: int = Field(1, ge=1)
    max_length: int = Field(512, ge=16)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    template: str | None = None
    max_steps: int | None = Field(None, ge=1)
    limit: int | None = Field(None, ge=1)
    base_model_id: str | None = None
    seed: int = Field(0, ge=0)


def _run_text_finetune(ctx: StepContext) -> StepResult:
    from synthera.text.finetune import LoraFinetuner

    p: TextFinetuneParams = ctx.params
    tuner = LoraFinetuner(lora_r=p.lora_r, lora_alpha=p.lora_alpha, lora_dropout=p.lora_dropout,
                          target_modules=p.target_modules, quantize=p.quantize, epochs=p.epochs,
                          max_length=p.max_length, batch_size=p.batch_size, grad_accum=p.grad_accum,
                          learning_rate=p.learning_rate, template=p.template, seed=p.seed, max_steps=p.max_steps)
    tuner.fit(str(ctx.inputs["data"]), model=p.model, out=ctx.outputs["adapter"], resume=False,
              progress=ctx.progress, base_model_id=p.base_model_id, limit=p.limit)
    first, last = tuner.losses_[0], tuner.losses_[-1]
    return StepResult(headline=[f"{tuner.steps_} steps on {tuner.examples_:,} conversations; training loss "
                                f"{first:.4f} -> {last:.4f}"],
                      numbers={"steps": tuner.steps_, "loss_first": first, "loss_last": last})


register_step(StepKind("text-finetune", TextFinetuneParams, _run_text_finetune, reads={"data": REQUIRED},
                       writes={"adapter": "adapter"}, summary="a LoRA adapter"))


class TextEvaluateParams(Params):
    task: str
    model: str = "smollm2"
    compare: bool = False
    template: str | None = None
    batch_size: int = Field(8, ge=1)
    max_new_tokens: int | None = Field(None, ge=1)
    context_length: int = Field(4096, ge=1)
    limit: int | None = Field(None, ge=1)


def _run_text_evaluate(ctx: StepContext) -> StepResult:
    from synthera.io import write_text
    from synthera.text.evaluation import compare_models, evaluate_model

    p: TextEvaluateParams = ctx.params
    options = {"data": Path(ctx.inputs["data"]), "task": p.task, "db": ctx.inputs.get("db") or None,
               "template": p.template, "batch_size": p.batch_size, "max_new_tokens": p.max_new_tokens,
               "context_length": p.context_length, "limit": p.limit, "progress": ctx.progress}
    adapter = ctx.inputs.get("adapter") or None
    if p.compare:
        results = compare_models(p.model, adapter=adapter, **options)
    else:
        result = evaluate_model(p.model, adapter=adapter, **options)
        results = {result.label: result}
    payload = {"task": p.task, "model": p.model, "results": {k: v.to_dict() for k, v in results.items()}}
    write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", ctx.outputs["report"])
    lines, numbers = [], {}
    for label, res in results.items():
        shown = ", ".join(f"{k} {v:.3f}" for k, v in list(res.metrics.items())[:4] if isinstance(v, (int, float)))
        lines.append(f"{label}: {shown}")
        numbers.update({f"{label}.{k}": v for k, v in res.metrics.items() if isinstance(v, (int, float))})
    return StepResult(headline=lines, numbers=numbers)


register_step(StepKind("text-evaluate", TextEvaluateParams, _run_text_evaluate,
                       reads={"data": REQUIRED, "adapter": OPTIONAL, "db": OPTIONAL},
                       writes={"report": "results.json"}, summary="baseline vs fine-tuned scores"))


# --------------------------------------------------------------------------- flock


class FlockSubmitParams(Params):
    task_id: str | int
    repo_id: str
    revision: str | None = Field(None, description="the commit of an uploaded adapter; left out: upload it first")
    base_model: str
    gpu_type: str | None = None
    base_url: str | None = None
    api_key_env: str = "FLOCK_API_KEY"
    hf_token_env: str = "HF_TOKEN"
    retries: int = Field(4, ge=0)

    @field_validator("api_key_env", "hf_token_env")
    @classmethod
    def _a_name(cls, value: str) -> str:
        from synthera.pipeline.spec import ENV_NAME

        if not ENV_NAME.match(value):
            raise ValueError("must be the NAME of an environment variable that holds the key (e.g. FLOCK_API_KEY), "
                             "never the key itself")
        return value


@contextmanager
def _env_as(name: str, source: str, what: str) -> Iterator[None]:
    """While the body runs, ``$name`` holds the value of ``$source`` (the library reads its secret from ``name``)."""
    value = os.environ.get(source)
    if not value:
        raise UserInputError(f"{source} is not set; export your {what} in it before the run")
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _run_flock_submit(ctx: StepContext) -> StepResult:
    from synthera.flock.client import API_KEY_ENV, FlockClient
    from synthera.flock.workflow import gpu_type as detect_gpu
    from synthera.flock.workflow import hf_upload
    from synthera.io import write_text

    p: FlockSubmitParams = ctx.params
    revision = p.revision
    if revision is None:
        if not ctx.inputs.get("adapter"):
            raise UserInputError("flock-submit needs revision (an uploaded adapter's commit) or reads.adapter to "
                                 "upload first")
        with _env_as("HF_TOKEN", p.hf_token_env, "Hugging Face write token"):
            revision = hf_upload(Path(ctx.inputs["adapter"]), p.repo_id)
    with _env_as(API_KEY_ENV, p.api_key_env, "FLock API key"):
        response = FlockClient(p.base_url, retries=p.retries).submit_result(
            p.task_id, hg_repo_id=p.repo_id, base_model=p.base_model, gpu_type=p.gpu_type or detect_gpu(),
            revision=revision)
    receipt = {"task_id": str(p.task_id), "repo_id": p.repo_id, "revision": revision, "response": response}
    write_text(json.dumps(receipt, indent=2, default=str) + "\n", ctx.outputs["receipt"])
    return StepResult(headline=[f"submitted {p.repo_id}@{revision} to task {p.task_id}"])


register_step(StepKind("flock-submit", FlockSubmitParams, _run_flock_submit, reads={"adapter": OPTIONAL},
                       writes={"receipt": "receipt.json"},
                       summary="upload an adapter (unless revision is given) and submit it to a FLock task"))


