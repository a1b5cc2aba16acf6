"""Small generated tables for the evaluation tests: no network, no large files."""

from __future__ import annotations

import pytest

from tests.helpers import make_people


@pytest.fixture
def people():
    """(real, holdout, independent synthetic): three draws from the same distribution."""
    return make_people(600, 1), make_people(600, 2), make_people(600, 3)
