"""SynthGen: synthetic training data for language tasks.

- :mod:`synthera.text.models` finds local models (the bundled SmolLM2, or a folder).
- :mod:`synthera.text.llm` is the backend protocol: local Hugging Face models,
  OpenAI-compatible endpoints, and a deterministic fake; generations are cached
  on disk by a hash of the prompt so an interrupted run resumes.
- :mod:`synthera.text.sql` builds SQLite databases, runs SQL with a timeout, compares results by
  Spider's rules, and samples SQL from a schema, verified by execution.
- :mod:`synthera.text.tasks` holds the seed pipelines for summarization, QA and character dialogue;
  :mod:`synthera.text.tool_use` adds function-calling conversations from a tools schema.
- :mod:`synthera.text.judge` is a local proxy of FLock's LLM-judge score (not the real score: that
  needs FLock's remote judges).
- :mod:`synthera.text.filters` drops duplicates and near-duplicates, counting every reason.
- :mod:`synthera.text.pipeline` ties it together and writes JSONL, Parquet, a
  Hugging Face dataset and a manifest.

Names are imported on first use, so importing this package loads neither torch nor transformers.
"""

from __future__ import annotations

from synthera._lazy import lazy_attributes

_LAZY = {
    "local_model_dir": "synthera.text.models",
    "load_causal_lm": "synthera.text.models",
    "LLM": "synthera.text.llm",
    "FakeLLM": "synthera.text.llm",
    "HFLocalLLM": "synthera.text.llm",
    "OpenAICompatibleLLM": "synthera.text.llm",
    "CachedLLM": "synthera.text.llm",
    "get_llm": "synthera.text.llm",
    "database_from_tables": "synthera.text.sql.databases",
    "execute_sql": "synthera.text.sql.execute",
    "SQLSampler": "synthera.text.sql.grammar",
    "generate": "synthera.text.pipeline",
    "GenerationConfig": "synthera.text.pipeline",
    "available_tasks": "synthera.text.pipeline",
    "load_dataset": "synthera.text.output",
}

__all__ = [
    "LLM",
    "CachedLLM",
    "FakeLLM",
    "GenerationConfig",
    "HFLocalLLM",
    "OpenAICompatibleLLM",
    "SQLSampler",
    "available_tasks",
    "database_from_tables",
    "execute_sql",
    "generate",
    "get_llm",
    "load_causal_lm",
    "load_dataset",
    "local_model_dir",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
