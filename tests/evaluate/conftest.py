"""Small generated tables for the evaluation tests: no network, no large files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_people(n: int, seed: int) -> pd.DataFrame:
    """A small census-like table whose income depends on the other columns."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["Female", "Male"], n, p=[0.4, 0.6])
    group = rng.choice(["A", "B", "C"], n, p=[0.6, 0.3, 0.1])
    age = rng.integers(18, 80, n)
    hours = np.clip(np.round(rng.normal(40, 8, n) + (sex == "Male") * 4), 5, 90)
    score = rng.normal(0, 0.5, n) + 0.03 * (age - 45) + 0.05 * (hours - 40) + 0.6 * (sex == "Male")
    income = np.where(score > 0.8, ">50K", "<=50K")
    return pd.DataFrame({"age": age, "hours": hours, "sex": sex, "group": group, "income": income})


@pytest.fixture
def people():
    """(real, holdout, independent synthetic): three draws from the same distribution."""
    return make_people(600, 1), make_people(600, 2), make_people(600, 3)
