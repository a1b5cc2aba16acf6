"""Small frames for the DP tests: fast to train on, with a signal to learn (built in :mod:`tests.helpers`)."""

from __future__ import annotations

import pandas as pd
import pytest

from synthera.metadata import Metadata
from tests.helpers import dp_public_metadata as public_metadata
from tests.helpers import make_dp_frame as make_frame

__all__ = ["make_frame", "public_metadata"]


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame(800)


@pytest.fixture
def public() -> Metadata:
    return public_metadata()
