"""Transformer evaluation: fine-tune BERT-family classifiers on real and on synthetic rows written as text.

- :mod:`synthera.hf.serialize` writes a row as a sentence
  (``age is 39, workclass is State-gov, ...``; the target left out), with a
  configurable template.
- :mod:`synthera.hf.models` resolves ``--model``: the alias ``bert`` (the
  BERT-architecture all-MiniLM-L6-v2 shipped on PyPI, works offline), a local
  folder or a hub id; and builds small *not pretrained* RoBERTa or DistilBERT
  models from scratch.
- :mod:`synthera.hf.train` fine-tunes one model
  (:class:`~synthera.hf.train.TransformerClassifier`): seed, early stopping on
  a validation split, max sequence length, class weights, GPU when present.
- :mod:`synthera.hf.evaluate` runs every model on real and on synthetic rows
  and scores them on the real test rows (:func:`~synthera.hf.evaluate.hf_evaluate`);
  :mod:`synthera.hf.report` writes results.json, markdown, HTML and curves.

Names are imported on first use, so importing this package does not load torch.
"""

from __future__ import annotations

from synthera._lazy import lazy_attributes

_LAZY = {
    "RowTemplate": "synthera.hf.serialize",
    "format_value": "synthera.hf.serialize",
    "ALIASES": "synthera.hf.models",
    "SCRATCH_ARCHITECTURES": "synthera.hf.models",
    "ModelSpec": "synthera.hf.models",
    "from_scratch": "synthera.hf.models",
    "resolve_model": "synthera.hf.models",
    "TransformerClassifier": "synthera.hf.train",
    "balanced_class_weights": "synthera.hf.train",
    "classification_scores": "synthera.hf.metrics",
    "hf_evaluate": "synthera.hf.evaluate",
    "check_max_rows": "synthera.hf.evaluate",
    "HFEvalReport": "synthera.hf.report",
}

__all__ = [
    "ALIASES",
    "SCRATCH_ARCHITECTURES",
    "HFEvalReport",
    "ModelSpec",
    "RowTemplate",
    "TransformerClassifier",
    "balanced_class_weights",
    "check_max_rows",
    "classification_scores",
    "format_value",
    "from_scratch",
    "hf_evaluate",
    "resolve_model",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
