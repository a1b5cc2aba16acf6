"""Small generated event histories for the sequence tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_histories(n: int = 200, seed: int = 0, max_len: int = 10) -> pd.DataFrame:
    """Visits per patient: a constant group, a carried-over ward, a drifting score, a part never above its whole."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, max_len + 1, n)
    ids = np.repeat(np.arange(n), lengths)
    pos = np.concatenate([np.arange(k) for k in lengths])
    group = np.repeat(rng.choice(["a", "b"], n), lengths)
    ward = np.repeat(rng.choice(["w1", "w2", "w3"], n), lengths)
    ward = np.where(rng.random(ids.size) < 0.05, "w4", ward)
    start = np.repeat(pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"), lengths)
    gap_days = np.where(group == "a", 30, 7)
    date = start + pd.to_timedelta(pos * gap_days, unit="D")
    score = np.cumsum(rng.normal(0.5, 1, ids.size)) - np.repeat(np.cumsum(np.r_[0, lengths[:-1]]) * 0, lengths)
    whole = rng.integers(5, 30, ids.size)
    part = (whole * rng.random(ids.size)).astype(int)
    return pd.DataFrame({"patient": ids, "date": date, "group": group, "ward": ward, "score": score,
                         "part": part, "whole": whole})


@pytest.fixture(scope="module")
def histories() -> pd.DataFrame:
    return make_histories()


@pytest.fixture(scope="module")
def fitted(histories):
    from synthera.sequences import SequenceSynthesizer

    return SequenceSynthesizer().fit(histories, sequence_key="patient", sequence_index="date")
