"""Event histories per entity (visits, transactions, flights, seasons): a model and its metrics.

>>> from synthera.sequences import SequenceSynthesizer            # doctest: +SKIP
>>> model = SequenceSynthesizer().fit(visits, sequence_key="patient", sequence_index="date",
...                                   context=patients)            # doctest: +SKIP
>>> synthetic = model.sample(seed=0)                               # doctest: +SKIP

Modules: :mod:`~synthera.sequences.model` (the synthesizer),
:mod:`~synthera.sequences.metrics` (length, gap, per-sequence statistics, lag-1, coherence, privacy, utility),
:mod:`~synthera.sequences.constraints` (``low <= high`` relations),
:mod:`~synthera.sequences.inference` (proposes a sequence key and index),
:mod:`~synthera.sequences.report` (the history section of ``synthera evaluate``'s report).
"""

from __future__ import annotations

from synthera._lazy import lazy_attributes

__all__ = ["SequenceSynthesizer", "detect_constraints", "evaluate_sequences", "infer_sequence", "sequence_report"]

_LAZY = {
    "SequenceSynthesizer": "synthera.sequences.model",
    "detect_constraints": "synthera.sequences.constraints",
    "evaluate_sequences": "synthera.sequences.metrics",
    "infer_sequence": "synthera.sequences.inference",
    "sequence_report": "synthera.sequences.report",
}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
