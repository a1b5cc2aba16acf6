"""Small frames for the DP tests: fast to train on, with a signal to learn (built in :mod:`tests.helpers`)."""

from __future__ import annotations

import pandas as pd
import pytest

from synthera.metadata import Metadata
from tests.helpers import dp_public_metadata, make_dp_frame


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_dp_frame(800)


@pytest.fixture
def public() -> Metadata:
    return dp_public_metadata()
