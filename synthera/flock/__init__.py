"""FLock.io: the task API client and the training-node workflow.

- :mod:`synthera.flock.client` talks to the task API (get a task, submit a
  result) with retries, and downloads training data.
- :mod:`synthera.flock.workflow` runs the whole loop: data, optional SynthGen
  augmentation, base-model choice within ``max_params``, LoRA training within
  ``context_length``, local bits-per-byte validation with the validator's
  template, upload to the Hugging Face Hub and submission.

Names are imported on first use, so importing this package loads neither torch nor transformers.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "DEFAULT_BASE_URL": "synthera.flock.client",
    "FlockAPIError": "synthera.flock.client",
    "FlockClient": "synthera.flock.client",
    "Task": "synthera.flock.client",
    "download": "synthera.flock.client",
    "submission_body": "synthera.flock.client",
    "Candidate": "synthera.flock.workflow",
    "RunReport": "synthera.flock.workflow",
    "pick_base_models": "synthera.flock.workflow",
    "run_task": "synthera.flock.workflow",
}

__all__ = [
    "DEFAULT_BASE_URL",
    "Candidate",
    "FlockAPIError",
    "FlockClient",
    "RunReport",
    "Task",
    "download",
    "pick_base_models",
    "run_task",
    "submission_body",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'synthera.flock' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
