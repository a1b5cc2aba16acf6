"""Shared fixtures: small frames built in code, no network, no large files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    """A small table with every column kind, nulls, dates and a unicode name."""
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "âge": rng.integers(18, 90, n),
            "income": np.round(rng.normal(50_000, 9_000, n), 2),
            "score": pd.array([None if i % 7 == 0 else int(i % 5) for i in range(n)], dtype="Int64"),
            "segment": rng.choice(["gold", "silver", "bronze"], n),
            "active": rng.choice(["yes", "no"], n),
            "joined": [f"2021-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n)],
            "email": [f"user{i}@example.org" for i in range(n)],
            "comment": [f"customer number {i} wrote a short note about delivery" for i in range(n)],
        }
    )


@pytest.fixture(autouse=True)
def _fresh_source_mode():
    """Each test starts as a fresh process would: no restrictive source file read yet.

    ``synthera.io`` keeps the strictest mode of the files a process has read, so that outputs
    never get looser permissions than their source. A test that reads a 0600 file must not
    make every later test's outputs 0600.
    """
    import synthera.io as io_module

    io_module._source_mode_mask = 0o777
    yield
    io_module._source_mode_mask = 0o777
