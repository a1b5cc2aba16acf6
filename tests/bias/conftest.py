"""The biased table of :func:`tests.helpers.biased_frame` and a cascade model fitted on it."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.helpers import biased_frame


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    return biased_frame()


@pytest.fixture(scope="session")
def cascade(frame):
    from synthera.tabular import get_synthesizer

    return get_synthesizer("cascade")(seed=0).fit(frame)


