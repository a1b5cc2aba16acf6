"""Fixtures of the command-line tests, built from :mod:`tests.helpers` (each area's data under its own name)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.helpers import biased_frame, make_people, people_table, write_tiny_bert


@pytest.fixture(scope="session")
def bias_frame() -> pd.DataFrame:
    """The biased census-like table of the ``bias`` and ``sample --parity`` tests."""
    return biased_frame()


@pytest.fixture(scope="session")
def bias_cascade(bias_frame):
    """A cascade model fitted on :func:`bias_frame`."""
    from synthera.tabular import get_synthesizer

    return get_synthesizer("cascade")(seed=0).fit(bias_frame)


@pytest.fixture
def people():
    """(real, holdout, independent synthetic) for ``evaluate``: three draws from the same distribution."""
    return make_people(600, 1), make_people(600, 2), make_people(600, 3)


@pytest.fixture
def people_db(tmp_path):
    """A SQLite database with one ``people`` table, for the ``text`` commands."""
    from synthera.text.sql import database_from_tables

    return database_from_tables({"people": people_table()}, tmp_path / "people.db")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """A folder with a 1-layer, 32-wide random BERT and its tokenizer, for ``hf-eval``."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))
