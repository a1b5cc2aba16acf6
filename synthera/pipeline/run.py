"""Run a plan: skip what is done, run the rest in order, commit each step atomically, record it last.

Every event goes to ``run.jsonl`` in the workspace (one JSON object a line: ``run-start``, ``step-start``,
``step-cached``, ``step-done``, ``step-failed``, ``run-end``), so a script or a test can follow a run. A step
writes into a staging folder that :func:`synthera.io.atomic_folder` swaps into ``WORKSPACE/ID`` as a whole; its
record is written after that, so a run killed at any point resumes at the step it interrupted.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from synthera import __version__
from synthera.errors import UserInputError
from synthera.pipeline.plan import (
    Plan,
    PlannedStep,
    build_plan,
    content_hash,
    env_names,
    finite,
    is_done,
    read_record,
    source_options,
    step_key,
)
from synthera.pipeline.spec import load_spec
from synthera.pipeline.steps import StepContext, StepResult

__all__ = ["RunSummary", "StepOutcome", "load_plan", "run_pipeline", "plan_lines", "LOG_NAME"]

LOG_NAME = "run.jsonl"


@dataclass
class StepOutcome:
    id: str
    status: str  # "cached", "done", "failed", "not run"
    seconds: float = 0.0
    error: str | None = None
    log: Path | None = None


@dataclass
class RunSummary:
    """What a run did; ``failed`` names the failed step (None when all went well)."""

    plan: Plan
    outcomes: list[StepOutcome] = field(default_factory=list)
    failed: StepOutcome | None = None
    seconds: float = 0.0
    dossier: Path | None = None

    def reproduce(self, file: Path) -> str:
        return f"synthera run {file} --only {self.failed.id}" if self.failed else ""


def load_plan(path: str | os.PathLike, *, remember: bool = False) -> Plan:
    """Read, check and plan the pipeline file at ``path`` (all problems raised together, one line each).

    The library checks of the steps (:attr:`~synthera.pipeline.steps.StepKind.check`, which import the models)
    run unless ``WORKSPACE/.synthera/checked`` says this very file passed them with this version; ``remember``
    writes that note after they pass (a run does, a dry run does not).
    """
    import hashlib

    spec = load_spec(path)
    digest = hashlib.sha256(Path(path).read_bytes() + __version__.encode()).hexdigest()
    note = spec.workspace_path / ".synthera" / "checked"
    try:
        known = note.read_text(encoding="utf-8").strip() == digest
    except OSError:
        known = False
    plan = build_plan(spec, deep=not known)
    if remember and not known:
        from synthera.io import write_text

        write_text(digest + "\n", note)
    return plan


class _Log:
    """Appends events to ``run.jsonl``, flushed at once so that readers see each event as it happens."""

    def __init__(self, workspace: Path):
        workspace.mkdir(parents=True, exist_ok=True)
        self.path = workspace / LOG_NAME
        self.run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")

    def __call__(self, event: str, **fields) -> None:
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "run": self.run_id,
                 "event": event, **fields}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")
            fh.flush()


def _remove_leftovers(workspace: Path, step_id: str) -> None:
    """Staging folders a killed run left for this step (``.ID.xxxxxxxx``, ``.ID.old``): never taken as done."""
    for entry in workspace.glob(f".{step_id}.*"):
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def _execute(plan: Plan, step: PlannedStep, key: str, *, progress: bool) -> StepResult:
    """Run ``step`` into a staging folder, swap it in, then write its record (last)."""
    from synthera.io import atomic_folder, write_text

    spec = plan.spec
    workspace = plan.workspace
    _remove_leftovers(workspace, step.id)
    plan.record_path(step.id).unlink(missing_ok=True)
    final = workspace / step.id
    started = time.time()
    with atomic_folder(final) as staging:
        outputs = {name: staging / path.relative_to(final) for name, path in step.outputs.items()}
        source = plan_source(plan)
        ctx = StepContext(step.id, step.params, dict(step.inputs), outputs, source, workers=spec.workers,
                          scheduler=spec.scheduler, progress=progress)
        result = step.kind.run(ctx)
        missing = [name for name, path in outputs.items() if not path.exists()]
        if missing:
            raise RuntimeError(f"step {step.id} finished without writing {', '.join(missing)}")
        os.chmod(staging, _folder_mode())  # mkdtemp makes 0700: the usual access, or the sources' (read by now)
    seconds = time.time() - started
    record = {
        "step": step.id, "kind": step.kind.name, "key": key, "synthera": __version__,
        "python": platform.python_version(), "started": datetime.fromtimestamp(started, UTC).isoformat(),
        "seconds": round(seconds, 3), "epsilon_planned": step.epsilon, "epsilon_spent": result.epsilon_spent,
        "headline": result.headline, "numbers": result.numbers,
        "report": str(step.outputs[result.report].relative_to(workspace)) if result.report else None,
        "outputs": {name: {"path": str(path.relative_to(workspace)), "sha256": content_hash(str(path))}
                    for name, path in step.outputs.items()},
    }
    write_text(json.dumps(record, indent=2, default=str) + "\n", plan.record_path(step.id))
    return result


def _folder_mode() -> int:
    """The mode of a step's folder: :func:`synthera.io.default_file_mode` with search bits where it can read."""
    from synthera.io import default_file_mode

    mode = default_file_mode()
    return mode | ((mode & 0o444) >> 2)


def plan_source(plan: Plan):
    from synthera.pipeline.plan import _resolved_source

    return _resolved_source(plan.spec)


def _write_step_log(plan: Plan, step: PlannedStep, caught: list, error: BaseException | None) -> Path:
    from synthera._secrets import redact
    from synthera.io import write_text

    lines = [f"step {step.id} ({step.kind.name})"]
    lines += [f"warning: {w.category.__name__}: {w.message}" for w in caught]
    if error is not None:
        lines.append("".join(traceback.format_exception(type(error), error, error.__traceback__)))
    return write_text(redact("\n".join(lines)) + "\n", plan.workspace / ".synthera" / "logs" / f"{step.id}.log")


def _selected(plan: Plan, from_step: str | None, only: str | None) -> tuple[set[str], set[str]]:
    """(steps to run even when cached, steps to consider at all)."""
    ids = [s.id for s in plan.steps]
    for name, value in (("--from", from_step), ("--only", only)):
        if value is not None and value not in ids:
            raise UserInputError(f"{name} {value}: no step has that id; the steps are {', '.join(ids)}")
    if only is not None:
        return {only}, _ancestors(plan, only) | {only}
    forced = set(plan.downstream(from_step)) if from_step else set()
    return forced, set(ids)


def _ancestors(plan: Plan, step_id: str) -> set[str]:
    found, todo = set(), [step_id]
    while todo:
        for up in plan.by_id(todo.pop()).upstream:
            if up not in found:
                found.add(up)
                todo.append(up)
    return found


def run_pipeline(path: str | os.PathLike, *, from_step: str | None = None, only: str | None = None,
                 workers: int | None = None, scheduler: str | None = None, progress: bool | None = None,
                 echo: Callable[[str], None] = print) -> RunSummary:
    """Run the pipeline file at ``path``: skip what is done, run the rest, write ``dossier.html``.

    ``workers`` / ``scheduler`` replace the file's: fit, sample and evaluate then run on Dask.
    """
    from synthera.pipeline.dossier import DOSSIER, write_dossier

    plan = load_plan(path, remember=True)
    if workers is not None or scheduler is not None:
        from synthera.distributed.executor import check_target

        check_target(workers, scheduler)
        plan.spec.workers, plan.spec.scheduler = workers, scheduler
    forced, considered = _selected(plan, from_step, only)
    progress = sys.stderr.isatty() if progress is None else progress
    log = _Log(plan.workspace)
    summary = RunSummary(plan)
    start = time.perf_counter()
    log("run-start", file=str(path), steps=[s.id for s in plan.steps], forced=sorted(forced), only=only)
    keys: dict[str, str] = {}
    total = len(plan.steps)
    for number, step in enumerate(plan.steps, 1):
        if step.id not in considered:
            continue
        outcome = _one_step(plan, step, keys, forced, only, log, progress, f"[{number}/{total}]", echo)
        summary.outcomes.append(outcome)
        if outcome.status == "failed":
            summary.failed = outcome
            break
    summary.seconds = time.perf_counter() - start
    dossier = plan.workspace / DOSSIER
    if all(o.status == "cached" for o in summary.outcomes) and dossier.is_file() and only is None:
        summary.dossier = dossier  # nothing changed: the last dossier still tells it (and numpy stays unloaded)
    else:
        summary.dossier = write_dossier(plan, summary)
    log("run-end", seconds=round(summary.seconds, 3), failed=summary.failed.id if summary.failed else None)
    return summary


def _scaled_out(plan: Plan) -> bool:
    return plan.spec.workers is not None or plan.spec.scheduler is not None


def _one_step(plan, step, keys, forced, only, log, progress, counter, echo) -> StepOutcome:
    key = step_key(step, keys, __version__, source_options(plan.spec), scaled_out=_scaled_out(plan))
    keys[step.id] = key
    if step.id not in forced:
        record = is_done(plan, step, key)
        if record is not None:
            log("step-cached", step=step.id, kind=step.kind.name, key=key)
            echo(f"{counter} {step.id} ({step.kind.name}): cached")
            return StepOutcome(step.id, "cached", record.get("seconds", 0.0))
        if only is not None:
            raise UserInputError(f"step {step.id!r}, which {only} reads from, has not run yet (or changed); run "
                                 f"the pipeline up to it first")
    if progress:
        print(f"{counter} {step.id} ({step.kind.name}): running…", file=sys.stderr, flush=True)
    log("step-start", step=step.id, kind=step.kind.name, key=key)
    began = time.perf_counter()
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            result = _execute(plan, step, key, progress=progress)
        except Exception as exc:  # a failed step stops the run; the summary says which and how to redo it
            error = exc
    seconds = time.perf_counter() - began
    step_log = _write_step_log(plan, step, list(caught), error)
    if error is not None:
        from synthera._secrets import redact

        text = " ".join(redact(f"{type(error).__name__}: {error}").split())
        log("step-failed", step=step.id, kind=step.kind.name, seconds=round(seconds, 3), error=text,
            log=str(step_log))
        echo(f"{counter} {step.id} ({step.kind.name}): FAILED after {seconds:.1f} s")
        return StepOutcome(step.id, "failed", seconds, text, step_log)
    log("step-done", step=step.id, kind=step.kind.name, key=key, seconds=round(seconds, 3))
    first = f" - {result.headline[0]}" if result.headline else ""
    echo(f"{counter} {step.id} ({step.kind.name}): done in {seconds:.1f} s{first}")
    return StepOutcome(step.id, "done", seconds)


def plan_lines(path: str | os.PathLike) -> list[str]:
    """The plan as text for ``--dry-run``: steps, inputs, outputs, cached or not, the ε ledger, env names."""
    plan = load_plan(path)
    ws = plan.workspace
    lines = [f"pipeline {path}: {len(plan.steps)} steps; workspace {ws}"]
    keys: dict[str, str] = {}
    stale: set[str] = set()
    for number, step in enumerate(plan.steps, 1):
        if set(step.upstream) & stale:
            state = "will run (after " + ", ".join(sorted(set(step.upstream) & stale)) + ")"
            stale.add(step.id)
        else:
            keys[step.id] = step_key(step, keys, __version__, source_options(plan.spec), scaled_out=_scaled_out(plan))
            state = "cached" if is_done(plan, step, keys[step.id]) else "will run"
            if state != "cached":
                stale.add(step.id)
        reads = ", ".join(f"{k}={v}" for k, v in step.reads.items()) or "nothing"
        writes = ", ".join(f"{k} -> {_shown(p, ws)}" for k, p in step.outputs.items())
        eps = f"; ε {finite(step.epsilon)}" if step.epsilon is not None else ""
        lines.append(f"  {number}. {step.id} ({step.kind.name}): {state}; reads {reads}; writes {writes}{eps}")
    lines.append(ledger_line(plan))
    names = env_names(plan.spec)
    if names:
        lines.append("environment variables it reads (values never shown): " + ", ".join(
            f"{n} ({'set' if os.environ.get(n) else 'NOT set'})" for n in names))
    return lines


def _shown(path: Path, workspace: Path) -> str:
    try:
        return str(Path(workspace.name) / path.relative_to(workspace))
    except ValueError:
        return str(path)


def ledger_line(plan: Plan) -> str:
    """``ε ledger: fit 1 + private 1.5 = 2.5 of 3 declared``."""
    total = plan.spec.privacy.epsilon if plan.spec.privacy else None
    if not plan.ledger:
        return "ε ledger: no step spends privacy budget" + (f" (declared total {total:g})" if total else "")
    parts = " + ".join(f"{sid} {finite(e)}" for sid, _, e in plan.ledger)
    declared = f" of {total:g} declared" if total is not None else " (no total declared)"
    return f"ε ledger: {parts} = {finite(plan.epsilon_planned)}{declared}"


def read_records(plan: Plan) -> dict[str, dict]:
    return {s.id: r for s in plan.steps if (r := read_record(plan.record_path(s.id))) is not None}
