"""Tiny models for the transformer-evaluation tests: built in code (:mod:`tests.helpers`), no network."""

from __future__ import annotations

import pytest

from tests.helpers import write_tiny_bert, write_tiny_tokenizer


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """A folder with a 1-layer, 32-wide random BERT and its tokenizer, as save_pretrained writes it."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory) -> str:
    return write_tiny_tokenizer(tmp_path_factory.mktemp("tiny-tok"))
