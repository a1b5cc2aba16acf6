"""From a checked file to a plan: each step's params, inputs and outputs, the ε ledger, cache keys and records.

A step's cache key is the SHA-256 of its kind and params, the keys of the steps it reads from, the contents of
its input files (a folder: its ``manifest.json`` when it has one, else every file) and the Synthera version. A
step is done when its record (``.synthera/records/ID.json``, written after its outputs) holds that key and its
outputs still hash as recorded. A change re-runs the step and, through the keys, everything downstream.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from synthera.pipeline.spec import ENV_NAME, PipelineFileError, PipelineSpec, Source, problems_from
from synthera.pipeline.steps import OPTIONAL, REQUIRED, STEP_KINDS, StepKind

__all__ = ["Plan", "PlannedStep", "build_plan", "content_hash", "step_key", "read_record", "is_done", "RECORDS"]

#: Where the run records live inside the workspace.
RECORDS = Path(".synthera") / "records"
#: Parameter names that would hold a secret itself; the file names an environment variable instead.
_SECRET_WORDS = {"token", "password", "passwd", "secret", "credential", "credentials", "apikey", "api_key",
                 "access_key", "secret_key", "private_key"}
#: Values that look like a key or token (OpenAI, Hugging Face, GitHub, AWS, Slack, JWT, long hex/base64).
_SECRET_VALUE = re.compile(
    r"^(sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\..*|(?=.*[0-9])(?=.*[a-z])(?=.*[A-Z])[A-Za-z0-9_-]{32,})$"
)


@dataclass
class PlannedStep:
    """One step, checked: its kind, validated params, resolved inputs and where its outputs go."""

    id: str
    kind: StepKind
    params: Any
    reads: dict[str, str]  # input name -> reference as written ("source", "fit.model") or resolved path
    inputs: dict[str, str]  # input name -> path, URL or dataset:NAME
    upstream: list[str]  # ids of the steps it reads from
    outputs: dict[str, Path]  # output name -> final path in the workspace
    epsilon: float | None
    line: int


@dataclass
class Plan:
    """The checked pipeline: ``steps`` in file order and the ε ledger."""

    spec: PipelineSpec
    steps: list[PlannedStep]
    ledger: list[tuple[str, str, float]] = field(default_factory=list)  # (step id, kind, ε planned)

    @property
    def workspace(self) -> Path:
        return self.spec.workspace_path

    @property
    def epsilon_planned(self) -> float:
        return sum(eps for _, _, eps in self.ledger)

    def by_id(self, step_id: str) -> PlannedStep:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def downstream(self, step_id: str) -> list[str]:
        """``step_id`` and every step that reads, directly or not, from it (file order)."""
        found = {step_id}
        for step in self.steps:
            if set(step.upstream) & found:
                found.add(step.id)
        return [s.id for s in self.steps if s.id in found]

    def record_path(self, step_id: str) -> Path:
        return self.workspace / RECORDS / f"{step_id}.json"


def _resolved_source(spec: PipelineSpec) -> Source:
    src = spec.source
    return src.model_copy(update={k: spec.resolve(getattr(src, k)) for k in ("table", "test", "database")
                                  if getattr(src, k) is not None})


def _resolve_ref(ref: str, name: str, spec: PipelineSpec, made: dict[str, dict[str, Path]], where: str,
                 line: int) -> tuple[str | None, str | None, str | None]:
    """(path, upstream step id, problem) for one input reference."""
    src = _resolved_source(spec)
    if ref in ("source", "source.table", "source.database"):
        value = src.table if ref != "source.database" and src.table else src.database
        if value is None:
            return None, None, f"{where}:{line}: {name}: the source has no {ref.split('.')[-1]}; declare it"
        return value, None, None
    if ref == "source.test":
        if src.test is None:
            return None, None, (f"{where}:{line}: {name}: reads source.test but the source declares no test "
                                "table; add source.test or name another input")
        return src.test, None, None
    step_id, dot, output = ref.partition(".")
    if dot and step_id in made:
        if output not in made[step_id]:
            return None, None, (f"{where}:{line}: {name}: step {step_id!r} writes no {output!r}; it writes "
                                f"{', '.join(made[step_id])}")
        return str(made[step_id][output]), step_id, None
    if dot and re.fullmatch(r"[a-z][a-z0-9_-]*", step_id) and not Path(spec.resolve(ref)).exists():
        return None, None, (f"{where}:{line}: {name}: {ref!r} names no output of an earlier step; put the step "
                            "that writes it first, or fix the name (STEP.OUTPUT, e.g. fit.model)")
    path = spec.resolve(ref)
    if "://" not in path and not path.startswith("dataset:") and not Path(path).exists():
        return None, None, (f"{where}:{line}: {name}: {ref!r} is neither an earlier step's output (STEP.OUTPUT) "
                            "nor an existing file; fix the reference")
    return path, None, None


def _check_inputs(kind: StepKind, step, index: int, spec: PipelineSpec, made, where: str, problems: list[str]):
    lines = spec.lines
    reads, inputs, upstream = {}, {}, []
    for name in step.reads:
        if name not in kind.reads:
            problems.append(f"{where}:{lines.line(('steps', index, 'reads', name))}: steps.{index}.reads: "
                            f"{kind.name} reads no {name!r}; it reads {', '.join(kind.reads)}")
    for name, default in kind.reads.items():
        ref = step.reads.get(name)
        if ref is None and default == "source.test?":
            ref = "source.test" if spec.source.test else None
        elif ref is None and default not in (REQUIRED, OPTIONAL):
            ref = default
        if ref is None:
            if default is REQUIRED:
                problems.append(f"{where}:{lines.line(('steps', index))}: step {step.id!r} ({kind.name}) needs "
                                f"input {name!r}; add reads: {{{name}: STEP.OUTPUT}}")
            continue
        line = lines.line(("steps", index, "reads", name))
        path, from_step, problem = _resolve_ref(ref, f"steps.{index}.reads.{name}", spec, made, where, line)
        if problem:
            problems.append(problem)
            continue
        reads[name], inputs[name] = ref, path
        if from_step and from_step not in upstream:
            upstream.append(from_step)
    return reads, inputs, upstream


def _names_a_secret(key: str) -> bool:
    """``api_key``, ``hf_token``, ``db-password``: a key whose value would be the secret itself (``*_env`` is not)."""
    parts = re.split(r"[_-]", key.lower())
    return parts[-1] in _SECRET_WORDS or "_".join(parts[-2:]) in _SECRET_WORDS


def _check_secrets(value: Any, loc: tuple, where: str, spec: PipelineSpec, problems: list[str]) -> None:
    """Refuse a key or token written in the file: the file names the environment variable that holds it."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (str, int)) and item != "" and _names_a_secret(str(key)):
                problems.append(f"{where}:{spec.lines.line((*loc, key))}: {key}: a secret is written in the file; "
                                f"remove it, export it in an environment variable and name that in {key}_env")
            else:
                _check_secrets(item, (*loc, key), where, spec, problems)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_secrets(item, (*loc, i), where, spec, problems)
    elif isinstance(value, str):
        from synthera._secrets import secrets_in

        if _SECRET_VALUE.match(value.strip()) or secrets_in(value):
            problems.append(f"{where}:{spec.lines.line(loc)}: {'.'.join(map(str, loc))}: this looks like a key, "
                            "token or password; never write it in the file: export it in an environment variable "
                            "and name it (e.g. api_key_env: FLOCK_API_KEY)")


def _check_step(step, index: int, spec: PipelineSpec, made, where: str, problems: list[str],
                deep: bool = True) -> PlannedStep | None:
    lines = spec.lines
    kind = STEP_KINDS.get(step.kind)
    if kind is None:
        problems.append(f"{where}:{lines.line(('steps', index, 'kind'))}: steps.{index}.kind: unknown step kind "
                        f"{step.kind!r}; use one of {', '.join(STEP_KINDS)}")
        return None
    try:
        params = kind.params.model_validate(step.params)
    except ValidationError as exc:
        problems.extend(problems_from(exc, where, lines, prefix=("steps", index, "params")))
        params = None
    if params is not None and deep and kind.check is not None:
        for name, problem in kind.check(params):
            loc = ("steps", index, "params", name)
            problems.append(f"{where}:{lines.line(loc)}: {'.'.join(map(str, loc))}: {problem}")
    for name in step.writes:
        if name not in kind.writes:
            problems.append(f"{where}:{lines.line(('steps', index, 'writes', name))}: steps.{index}.writes: "
                            f"{kind.name} writes no {name!r}; it writes {', '.join(kind.writes)}")
    reads, inputs, upstream = _check_inputs(kind, step, index, spec, made, where, problems)
    folder = spec.workspace_path / step.id
    outputs = {name: folder / step.writes.get(name, default) for name, default in kind.writes.items()}
    made[step.id] = outputs
    if params is None:
        return None
    eps = kind.epsilon(params)
    return PlannedStep(step.id, kind, params, reads, inputs, upstream, outputs, eps, lines.line(("steps", index)))


def build_plan(spec: PipelineSpec, *, deep: bool = True) -> Plan:
    """Check every step against its kind and the steps before it; raise all problems at once, one line each.

    ``deep=False`` skips the kinds' library checks (:attr:`StepKind.check`): for a file already checked as it is.
    """
    where = str(spec.path)
    problems: list[str] = []
    made: dict[str, dict[str, Path]] = {}
    planned = []
    _check_secrets(spec.model_dump(exclude={"path", "lines"}, exclude_unset=True), (), where, spec, problems)
    for index, step in enumerate(spec.steps):
        if step.id in made or step.id in ("source",):
            problems.append(f"{where}:{spec.lines.line(('steps', index, 'id'))}: steps.{index}.id: {step.id!r} is "
                            "used twice (or is reserved); give each step its own id")
            continue
        checked = _check_step(step, index, spec, made, where, problems, deep)
        if checked is not None:
            planned.append(checked)
    ledger = [(s.id, s.kind.name, s.epsilon) for s in planned if s.epsilon is not None]
    total = spec.privacy.epsilon if spec.privacy else None
    planned_eps = sum(e for _, _, e in ledger)
    if total is not None and planned_eps > total + 1e-12:
        parts = " + ".join(f"{sid} {e:g}" for sid, _, e in ledger)
        problems.append(f"{where}:{spec.lines.line(('privacy', 'epsilon'))}: privacy.epsilon: the steps spend "
                        f"ε = {parts} = {planned_eps:g}, more than the declared total {total:g}; lower a step's "
                        "epsilon or raise the total")
    if problems:
        raise PipelineFileError(_one_per_line(problems))
    return Plan(spec, planned, ledger)


def _one_per_line(problems: list[str]) -> list[str]:
    """The first problem found on each line (a secret written in the file is also an unknown key: say it once)."""
    seen, kept = set(), []
    for problem in problems:
        where = problem.split(": ", 1)[0]
        if where not in seen:
            seen.add(where)
            kept.append(problem)
    return kept


# --------------------------------------------------------------------------- hashing and records


def _hash_file(path: Path, digest) -> None:
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)


def content_hash(target: str) -> str:
    """SHA-256 of what ``target`` holds: a file's bytes; a folder's manifest.json, or all its files; else the name.

    ``dataset:NAME`` and database URLs are hashed by their text (bundled data changes only with the version,
    which is part of every key; a remote database is taken as unchanged).
    """
    digest = hashlib.sha256()
    path = Path(target)
    if "://" in target or target.startswith("dataset:") or not path.exists():
        digest.update(b"name:" + target.encode())
    elif path.is_file():
        _hash_file(path, digest)
    elif (path / "manifest.json").is_file():
        _hash_file(path / "manifest.json", digest)
    else:
        for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            _hash_file(file, digest)
    return digest.hexdigest()


def step_key(step: PlannedStep, upstream_keys: dict[str, str], version: str, source: dict | None = None, *,
             scaled_out: bool = False) -> str:
    """The cache key of ``step`` (see the module docstring); ``source``: :func:`source_options`.

    ``scaled_out`` (the run uses Dask) is part of it: a model fitted on a sample of all rows differs from one
    fitted in memory. The number of workers is not: the same seed gives the same bytes on any cluster.
    """
    reads_source = any(str(ref).startswith("source") for ref in step.reads.values())
    body = {
        "kind": step.kind.name,
        "params": step.params.model_dump(mode="json"),
        "inputs": {name: content_hash(path) for name, path in sorted(step.inputs.items())},
        "upstream": {sid: upstream_keys.get(sid, "") for sid in step.upstream},
        "outputs": {name: path.name for name, path in step.outputs.items()},
        "source": source if reads_source else None,
        "scaled_out": scaled_out,
        "synthera": version,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def source_options(spec: PipelineSpec) -> dict:
    """The source settings that change what a step reads (the limit and its seed, the table name)."""
    src = spec.source
    return {"limit": src.limit, "seed": src.seed, "table_name": src.table_name}


def read_record(path: Path) -> dict | None:
    """The record at ``path``, or None when missing or unreadable (a damaged record means: not done)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_done(plan: Plan, step: PlannedStep, key: str) -> dict | None:
    """The step's record when it holds ``key`` and every output is still as recorded; else None."""
    record = read_record(plan.record_path(step.id))
    if record is None or record.get("key") != key:
        return None
    for name, path in step.outputs.items():
        saved = record.get("outputs", {}).get(name, {})
        if not path.exists() or saved.get("sha256") != content_hash(str(path)):
            return None
    return record


def finite(value: float | None) -> str:
    return "–" if value is None else ("∞" if math.isinf(value) else f"{value:g}")


def env_names(spec: PipelineSpec) -> list[str]:
    """Every environment variable the file names (values of keys ending in ``_env``), for ``--dry-run``."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if str(key).endswith("_env") and isinstance(item, str) and ENV_NAME.match(item):
                    found.append(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(spec.model_dump(exclude={"path", "lines"}))
    return sorted(set(found))
