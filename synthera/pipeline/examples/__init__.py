"""The commented example pipelines ``synthera init --example NAME`` writes (the same files as ``examples/``)."""

from __future__ import annotations

from importlib import resources

from synthera.errors import UserInputError

__all__ = ["EXAMPLES", "example_text"]

#: Example name -> what it shows.
EXAMPLES = {
    "tabular": "fit, sample with parity, evaluate, bias and hf-eval on Adult",
    "dp": "a DP synthesizer and a DP classifier under one ε ledger",
    "private-db": "a SQLite database synthesized, Text-to-SQL over it, LoRA, comparison, FLock submission",
}


def example_text(name: str) -> str:
    """The text of example ``name`` (see :data:`EXAMPLES`)."""
    if name not in EXAMPLES:
        raise UserInputError(f"unknown example {name!r}; use one of {', '.join(EXAMPLES)}")
    return resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
