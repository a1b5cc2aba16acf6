"""FLock.io: the task API client and the training-node workflow.

- :mod:`synthera.flock.client` talks to the task API (get a task, submit a
  result) with retries, and downloads training data.
- :mod:`synthera.flock.bases` says which task types Synthera trains for (``lora``, ``llm_judge``)
  and holds the dated list of base models each accepts.
- :mod:`synthera.flock.workflow` runs the whole loop in seven steps, each
  callable alone: fetch the task, prepare its data, optional SynthGen
  augmentation, base-model choice within ``max_params``, LoRA training within
  ``context_length``, local bits-per-byte validation with the validator's
  template, and upload to the Hugging Face Hub with submission.

Names are imported on first use, so importing this package loads neither torch nor transformers.
"""

from __future__ import annotations

from synthera._lazy import lazy_attributes

_LAZY = {
    "DEFAULT_BASE_URL": "synthera.flock.client",
    "check_base": "synthera.flock.bases",
    "supported_bases": "synthera.flock.bases",
    "task_kind": "synthera.flock.bases",
    "FlockAPIError": "synthera.flock.client",
    "FlockClient": "synthera.flock.client",
    "Task": "synthera.flock.client",
    "download": "synthera.flock.client",
    "submission_body": "synthera.flock.client",
    "AugmentOptions": "synthera.flock.workflow",
    "Candidate": "synthera.flock.workflow",
    "RunReport": "synthera.flock.workflow",
    "SubmitOptions": "synthera.flock.workflow",
    "TrainOptions": "synthera.flock.workflow",
    "pick_base_models": "synthera.flock.workflow",
    "run_task": "synthera.flock.workflow",
}

__all__ = [
    "DEFAULT_BASE_URL",
    "AugmentOptions",
    "Candidate",
    "FlockAPIError",
    "FlockClient",
    "RunReport",
    "SubmitOptions",
    "Task",
    "TrainOptions",
    "check_base",
    "download",
    "pick_base_models",
    "run_task",
    "submission_body",
    "supported_bases",
    "task_kind",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
