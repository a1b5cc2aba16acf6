"""A small table with a built-in bias: women are rarer, earn ">50K" less often, and two columns betray sex."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.helpers import one_line_error  # noqa: F401 - the test modules import it from here


def biased_frame(n: int = 800, seed: int = 0) -> pd.DataFrame:
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


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    return biased_frame()


@pytest.fixture(scope="session")
def cascade(frame):
    from synthera.tabular import get_synthesizer

    return get_synthesizer("cascade")(seed=0).fit(frame)


