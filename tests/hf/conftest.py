"""Tiny models and frames for the transformer-evaluation tests: built in code, no network, seconds to train."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import synthera.cli.hf  # noqa: F401  (registers the hf-eval command)
from tests.helpers import one_line_error  # noqa: F401 - the test modules import it from here

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["is", "color", "red", "blue", "green", "size", "age", "label", "yes", "no", "unknown", "years", "old",
         "city", "lagos", "lima", "note"]


def make_frame(n: int, seed: int = 0, *, flip: bool = False) -> pd.DataFrame:
    """``label`` is ``yes`` exactly when ``color`` is red (``no`` when ``flip``); age and size are noise."""
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "blue"], n)
    yes = (color == "red") ^ flip
    return pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "color": color,
        "size": rng.integers(1, 5, n).astype(float),
        "label": np.where(yes, "yes", "no"),
    })


def write_tokenizer(folder) -> str:
    """A small uncased WordPiece tokenizer (whole words above, characters as a fallback)."""
    from transformers import BertTokenizerFast

    chars = list("abcdefghijklmnopqrstuvwxyz0123456789")
    vocab = SPECIALS + list(",.-:;!?'(){}/") + WORDS + chars + ["##" + c for c in chars]
    folder.mkdir(parents=True, exist_ok=True)
    tok = BertTokenizerFast(vocab={t: i for i, t in enumerate(dict.fromkeys(vocab))}, do_lower_case=True)
    assert tok.tokenize("color is red") == ["color", "is", "red"]
    tok.save_pretrained(str(folder))
    return str(folder)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """A folder with a 1-layer, 32-wide random BERT and its tokenizer, as save_pretrained writes it."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    write_tokenizer(folder)
    tok = AutoTokenizer.from_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(str(folder))
    return str(folder)


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory) -> str:
    return write_tokenizer(tmp_path_factory.mktemp("tiny-tok"))


TINY_SCRATCH = {"hidden": 32, "layers": 1, "heads": 2, "intermediate": 64}
