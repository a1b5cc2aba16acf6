"""Small frames for the DP tests: fast to train on, with a signal to learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.metadata import Metadata


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    hours = np.round(rng.normal(40, 8, n), 1)
    segment = rng.choice(["gold", "silver", "bronze"], n, p=[0.2, 0.3, 0.5])
    logit = 0.08 * (age - 45) + 1.5 * (segment == "gold") - 1.0 * (segment == "bronze")
    label = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"age": age, "hours": hours, "segment": segment, "label": label})


def public_metadata() -> Metadata:
    """What a user could declare without looking at the rows."""
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


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame(800)


@pytest.fixture
def public() -> Metadata:
    return public_metadata()
