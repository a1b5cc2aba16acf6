"""Pipelines: one YAML file that runs Synthera end to end, cached, resumable, under one privacy budget.

>>> from synthera.pipeline import load_plan, run_pipeline  # doctest: +SKIP
>>> plan = load_plan("examples/tabular.yaml")  # doctest: +SKIP
>>> summary = run_pipeline("examples/tabular.yaml")  # doctest: +SKIP

``load_plan`` reports every problem of the file, one line each; ``run_pipeline`` runs what is not done
yet and writes ``dossier.html``.

Modules: :mod:`~synthera.pipeline.spec` (the file and its schema), :mod:`~synthera.pipeline.steps` (the registry
of step kinds), :mod:`~synthera.pipeline.plan` (checks, cache keys, ε ledger), :mod:`~synthera.pipeline.run`
(the runner and its JSON-lines log), :mod:`~synthera.pipeline.dossier` (the final page),
:mod:`~synthera.pipeline.examples` (the commented examples ``synthera init`` writes).
"""

from __future__ import annotations

from synthera._lazy import lazy_attributes

__all__ = ["PipelineFileError", "load_plan", "plan_lines", "run_pipeline", "register_step", "StepKind",
           "STEP_KINDS", "example_text", "EXAMPLES"]

_LAZY = {
    "PipelineFileError": "synthera.pipeline.spec",
    "load_plan": "synthera.pipeline.run",
    "plan_lines": "synthera.pipeline.run",
    "run_pipeline": "synthera.pipeline.run",
    "register_step": "synthera.pipeline.steps",
    "StepKind": "synthera.pipeline.steps",
    "STEP_KINDS": "synthera.pipeline.steps",
    "example_text": "synthera.pipeline.examples",
    "EXAMPLES": "synthera.pipeline.examples",
}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
