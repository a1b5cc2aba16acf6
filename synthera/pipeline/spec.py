"""The pipeline file: YAML read with its line numbers, checked by pydantic, every problem one line.

A problem reads ``FILE:LINE: what is wrong; the fix``. :func:`load_spec` collects every problem of the file
before it raises, so one run of ``synthera run --dry-run`` lists them all.

>>> spec = load_spec("examples/tabular.yaml")        # doctest: +SKIP
>>> [step.id for step in spec.steps]                 # doctest: +SKIP
['fit', 'sample', 'evaluate', 'bias', 'hf-eval']
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthera.errors import UserInputError

__all__ = ["PipelineFileError", "PipelineSpec", "Source", "Privacy", "Step", "LineMap", "load_spec", "read_yaml",
           "problems_from", "STEP_ID"]

STEP_ID = r"^[a-z][a-z0-9_-]{0,39}$"
#: An environment variable's name, as ``api_key_env`` takes it.
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PipelineFileError(UserInputError):
    """One or more mistakes in a pipeline file; ``problems`` holds one line each (``FILE:LINE: …; fix``)."""

    def __init__(self, problems: list[str]):
        super().__init__(problems[0] if len(problems) == 1 else f"{len(problems)} problems: " + " | ".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class Source(_Strict):
    """Where the real data comes from: one table (and an optional test table), or a whole database."""

    table: str | None = Field(None, description="a file, database URL or dataset:NAME")
    test: str | None = Field(None, description="real rows never trained on (evaluate's holdout, hf-eval's test)")
    database: str | None = Field(None, description="a SQLite file or URL whose tables form one database")
    table_name: str | None = Field(None, description="the table inside a SQLite file or database URL")
    limit: int | None = Field(None, ge=10, description="use only this many rows (drawn with seed), for a quick run")
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        if (self.table is None) == (self.database is None):
            raise ValueError("give exactly one of table (one table) or database (a whole database)")
        return self


class Privacy(_Strict):
    """The privacy budget every ε-spending step shares (sequential composition: the ε add up)."""

    epsilon: float = Field(gt=0, description="the most ε all steps together may spend")
    delta: float | None = Field(None, gt=0, lt=1)

    @field_validator("epsilon")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number; leave privacy out for no budget")
        return value


class Step(_Strict):
    """One step: its ``kind``, a unique ``id``, the outputs it ``reads`` and its ``params``."""

    id: str = Field(pattern=STEP_ID)
    kind: str
    reads: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    writes: dict[str, str] = Field(default_factory=dict)


class PipelineSpec(_Strict):
    """The whole file."""

    version: int = Field(1, ge=1, le=1)
    workspace: str = Field(min_length=1)
    source: Source
    privacy: Privacy | None = None
    workers: int | None = Field(None, ge=1, description="passed to the steps that can use several processes")
    scheduler: str | None = Field(None, description="a Dask scheduler address, passed to the steps that use one")
    steps: list[Step] = Field(min_length=1)

    @field_validator("scheduler")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError("must be a Dask scheduler address such as tcp://host:8786")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> PipelineSpec:
        if self.workers is not None and self.scheduler is not None:
            raise ValueError("give either workers (a local Dask cluster) or scheduler (an existing one), not both")
        return self

    #: Set by :func:`load_spec`: the file, and where each key and item sits in it.
    path: Path | None = Field(None, exclude=True)
    lines: Any = Field(None, exclude=True)

    def resolve(self, text: str) -> str:
        """A path in the file, relative to the file's folder; URLs and ``dataset:`` names stay as they are."""
        if "://" in text or text.startswith("dataset:"):
            return text
        path = Path(text).expanduser()
        return str(path if path.is_absolute() or self.path is None else self.path.parent / path)

    @property
    def workspace_path(self) -> Path:
        return Path(self.resolve(self.workspace))


# --------------------------------------------------------------------------- YAML with line numbers


class LineMap:
    """Where each key or list item of a YAML document sits: ``lines[("steps", 2, "params")] -> 14``."""

    def __init__(self, marks: dict[tuple, int]):
        self.marks = marks

    def line(self, loc: tuple) -> int:
        """The line of ``loc``, or of the nearest enclosing key that has one (1 for the whole file)."""
        loc = tuple(loc)
        while loc:
            if loc in self.marks:
                return self.marks[loc]
            loc = loc[:-1]
        return self.marks.get((), 1)


def _plain(node, loc: tuple, marks: dict[tuple, int], where: str):
    """A composed YAML node as plain Python values, recording the line of every key and item."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = _plain(key_node, loc, marks, where)
            if not isinstance(key, (str, int)):
                raise PipelineFileError([f"{where}:{key_node.start_mark.line + 1}: a key must be a plain word; "
                                         "write it as text"])
            if key in out:
                raise PipelineFileError([f"{where}:{key_node.start_mark.line + 1}: {key!r} is given twice; keep one"])
            marks[(*loc, key)] = key_node.start_mark.line + 1
            out[key] = _plain(value_node, (*loc, key), marks, where)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            marks[(*loc, index)] = item.start_mark.line + 1
            items.append(_plain(item, (*loc, index), marks, where))
        return items
    return _scalar(node)


def _scalar(node):
    """A YAML scalar as Python (``1`` an int, ``1e-6`` a float, ``true`` a bool), by PyYAML's safe rules."""
    import yaml

    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def read_yaml(path: Path) -> tuple[Any, LineMap]:
    """The document in ``path`` and its :class:`LineMap`; a YAML syntax error is one line with its position."""
    import yaml

    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineFileError([f"{where}: no such pipeline file; check the path, or write one with "
                                 "`synthera init --example tabular`"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineFileError([f"{where}: cannot be read ({type(exc).__name__}); check the file"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise PipelineFileError([f"{where}:{line}: not valid YAML ({problem}); check the indentation and "
                                 "quotes there"]) from None
    if node is None:
        raise PipelineFileError([f"{where}:1: the file is empty; start from `synthera init --example tabular`"])
    marks: dict[tuple, int] = {(): node.start_mark.line + 1}
    data = _plain(node, (), marks, where)
    if not isinstance(data, dict):
        raise PipelineFileError([f"{where}:1: a pipeline file is a mapping (workspace:, source:, steps:); "
                                 "start from `synthera init --example tabular`"])
    return data, LineMap(marks)


# --------------------------------------------------------------------------- pydantic errors as lines

_FIXES = {
    "extra_forbidden": "remove it or check its spelling",
    "missing": "add it",
    "int_parsing": "write a whole number", "int_type": "write a whole number", "int_from_float": "write a whole number",
    "float_parsing": "write a number", "float_type": "write a number",
    "string_type": "write it as text", "dict_type": "write a mapping (key: value lines)",
    "list_type": "write a list (lines starting with -)", "bool_parsing": "write true or false",
    "bool_type": "write true or false", "too_short": "add at least one",
}


def _name(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "the file"


def problems_from(error: ValidationError, where: str, lines: LineMap, prefix: tuple = ()) -> list[str]:
    """Each pydantic error as ``FILE:LINE: NAME: problem; fix``."""
    found = []
    for item in error.errors(include_url=False):
        loc = (*prefix, *item["loc"])
        kind = item["type"]
        message = item["msg"]
        if kind == "value_error":
            message = message.removeprefix("Value error, ")
        elif kind == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}"
        elif kind == "missing":
            message = "is required"
        fix = _FIXES.get(kind)
        found.append(f"{where}:{lines.line(loc)}: {_name(loc)}: {message}" + (f"; {fix}" if fix else ""))
    return found


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and check the pipeline file at ``path``: its shape here, its steps in :mod:`synthera.pipeline.plan`."""
    path = Path(path)
    data, lines = read_yaml(path)
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise PipelineFileError(problems_from(exc, str(path), lines)) from None
    spec.path = path
    spec.lines = lines
    return spec
