"""Assertions, small generated tables and fast settings the test folders share (no test module imports another's)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthera.metadata import Metadata


def one_line_error(result, *needles: str, code: int = 2) -> None:
    """A user mistake on the command line: exit ``code``, one ``error: ...`` line on stderr naming ``needles``.

    No traceback on either stream.
    """
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


def make_dp_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """A small table for the DP tests (age, hours, segment, label), with a signal to learn."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    hours = np.round(rng.normal(40, 8, n), 1)
    segment = rng.choice(["gold", "silver", "bronze"], n, p=[0.2, 0.3, 0.5])
    logit = 0.08 * (age - 45) + 1.5 * (segment == "gold") - 1.0 * (segment == "bronze")
    label = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"age": age, "hours": hours, "segment": segment, "label": label})


def dp_public_metadata() -> Metadata:
    """The public domain of :func:`make_dp_frame`: what a user could declare without looking at the rows."""
    return Metadata.from_dict(
        {
            "format_version": 1,
            "columns": {
                "age": {"kind": "numerical", "min": 0, "max": 120},
                "hours": {"kind": "numerical", "min": 0, "max": 168},
                "segment": {"kind": "categorical", "categories": ["bronze", "gold", "silver"]},
                "label": {"kind": "categorical", "categories": ["no", "yes"]},
            },
        }
    )


def biased_frame(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """A small table with a built-in bias: women are rarer, earn ">50K" less often, and two columns betray sex."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["Female", "Male"], n, p=[0.35, 0.65])
    female = sex == "Female"
    race = rng.choice(["A", "B", "C"], n, p=[0.6, 0.3, 0.1])
    relationship = np.where(female, rng.choice(["Wife", "Single"], n, p=[0.6, 0.4]),
                            rng.choice(["Husband", "Single"], n, p=[0.7, 0.3]))
    hours = np.clip(np.round(rng.normal(np.where(female, 36, 44), 6)), 10, 80).astype(int)
    age = rng.integers(18, 70, n)
    logit = -2.2 + 1.3 * (~female) + 0.06 * (hours - 40) + 0.03 * (age - 40) + 0.4 * (race == "A")
    income = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), ">50K", "<=50K")
    return pd.DataFrame({"age": age, "sex": sex, "race": race, "relationship": relationship, "hours": hours,
                         "noise": rng.normal(size=n).round(3), "income": income})


def make_people(n: int, seed: int) -> pd.DataFrame:
    """A small census-like table whose income depends on the other columns (the evaluation tests)."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["Female", "Male"], n, p=[0.4, 0.6])
    group = rng.choice(["A", "B", "C"], n, p=[0.6, 0.3, 0.1])
    age = rng.integers(18, 80, n)
    hours = np.clip(np.round(rng.normal(40, 8, n) + (sex == "Male") * 4), 5, 90)
    score = rng.normal(0, 0.5, n) + 0.03 * (age - 45) + 0.05 * (hours - 40) + 0.6 * (sex == "Male")
    income = np.where(score > 0.8, ">50K", "<=50K")
    return pd.DataFrame({"age": age, "hours": hours, "sex": sex, "group": group, "income": income})


def make_hf_frame(n: int, seed: int = 0, *, flip: bool = False) -> pd.DataFrame:
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


#: The size of the from-scratch transformers of the hf tests: one layer, 32 wide.
TINY_SCRATCH = {"hidden": 32, "layers": 1, "heads": 2, "intermediate": 64}

#: Small settings so neural synthesizers train in a second or two; quality is not under test with them.
FAST = {
    "ctgan": {"epochs": 2, "batch_size": 50, "generator_dim": [32], "discriminator_dim": [32], "embedding_dim": 16,
              "pac": 5},
    "tvae": {"epochs": 2, "batch_size": 50, "compress_dims": [32], "decompress_dims": [32], "embedding_dim": 8},
    # DP models: a generous budget (the contract, not the noise, is under test with these)
    "dp_marginals": {"epsilon": 20.0, "delta": 1e-5, "steps": 200, "n_components": 64},
    "dp_ctgan": {"epsilon": 20.0, "delta": 1e-5, "epochs": 2, "batch_size": 50, "generator_dim": [32],
                 "discriminator_dim": [32], "embedding_dim": 16},
}


def fit_kwargs(name: str, real: pd.DataFrame) -> dict:
    """Extra ``fit`` arguments for synthesizer ``name``: DP models get the table's metadata, declared public.

    DP models learn no bounds or categories for free: the contract's "inside the observed bounds, no invented
    categories, rare values can be conditioned on" holds for the domain the user declares. Their DP-estimated
    domains are tested in tests/dp.
    """
    from synthera.tabular import get_synthesizer

    if get_synthesizer(name).differentially_private:
        from synthera.metadata import infer_metadata

        return {"metadata": infer_metadata(real), "domain_is_public": True}
    return {}


_TINY_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_TINY_WORDS = ["is", "color", "red", "blue", "green", "size", "age", "label", "yes", "no", "unknown", "years", "old",
               "city", "lagos", "lima", "note"]


def write_tiny_tokenizer(folder) -> str:
    """A small uncased WordPiece tokenizer in ``folder`` (whole words above, characters as a fallback)."""
    from transformers import BertTokenizerFast

    chars = list("abcdefghijklmnopqrstuvwxyz0123456789")
    vocab = _TINY_SPECIALS + list(",.-:;!?'(){}/") + _TINY_WORDS + chars + ["##" + c for c in chars]
    folder.mkdir(parents=True, exist_ok=True)
    tok = BertTokenizerFast(vocab={t: i for i, t in enumerate(dict.fromkeys(vocab))}, do_lower_case=True)
    assert tok.tokenize("color is red") == ["color", "is", "red"]
    tok.save_pretrained(str(folder))
    return str(folder)


def write_tiny_bert(folder) -> str:
    """A 1-layer, 32-wide random BERT and its tokenizer in ``folder``, as save_pretrained writes them."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    write_tiny_tokenizer(folder)
    tok = AutoTokenizer.from_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(str(folder))
    return str(folder)


def people_table(n: int = 200, seed: int = 1) -> pd.DataFrame:
    """A census-like table with awkward column names, for the text-to-SQL command tests."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "hours-per-week": rng.integers(10, 60, n),
        "sex": rng.choice(["Female", "Male"], n),
        "education": rng.choice(["Bachelors", "HS-grad", "Masters", "Doctorate"], n),
        "income": rng.choice(["<=50K", ">50K"], n, p=[0.7, 0.3]),
    })


def _touch_marker(path: str) -> int:
    from pathlib import Path

    Path(path).write_text("loading ran code from the model folder")
    return 0


class PicklePayload:
    """Unpickling this writes a marker file: the proof that loading ran code from a model folder."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return _touch_marker, (self.marker,)


def kill_when_written(args: list[str], *, watch, pattern: str, repo) -> None:
    """Run ``python ARGS`` in a session of its own and SIGKILL it once a file matching ``pattern`` under ``watch``
    exists (the driver is then mid-write); fails if the run ended first."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, *args], env=env, cwd=repo, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list(watch.glob(pattern)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
