"""Fixtures for the SynthGen tests: a small SQLite database built here, a tiny tokenizer, no network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import synthera.cli.text  # noqa: F401  (registers the `text` command group)
from synthera.text.sql import database_from_tables
from tests.helpers import one_line_error  # noqa: F401 - the test modules import it from here


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: loads the real SmolLM2 model; run with SYNTHERA_SLOW_TESTS=1")


def shop_tables(n: int = 300, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Two linked tables with awkward column names (a hyphen, a space, a keyword)."""
    rng = np.random.default_rng(seed)
    stores = pd.DataFrame({
        "store_id": np.arange(1, 9),
        "city": ["Lagos", "Lima", "Oslo", "Pune", "Quito", "Riga", "Sofia", "Turin"],
        "region": ["south", "south", "north", "east", "south", "north", "east", "north"],
    })
    sales = pd.DataFrame({
        "sale_id": np.arange(1, n + 1),
        "store_id": rng.integers(1, 9, n),
        "unit-price": np.round(rng.uniform(1, 200, n), 2),
        "quantity": rng.integers(1, 40, n),
        "product name": rng.choice(["tea", "coffee", "cocoa", "juice", "water", "milk"], n),
        "order": rng.choice(["online", "in store", "phone"], n),
        "age": rng.integers(18, 90, n),
    })
    return {"stores": stores, "sales": sales}


@pytest.fixture
def shop_db(tmp_path):
    return database_from_tables(
        shop_tables(),
        tmp_path / "shop.db",
        primary_keys={"stores": "store_id", "sales": "sale_id"},
        foreign_keys=[("sales", "store_id", "stores", "store_id")],
    )


@pytest.fixture
def people_db(tmp_path):
    rng = np.random.default_rng(1)
    n = 200
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "hours-per-week": rng.integers(10, 60, n),
        "sex": rng.choice(["Female", "Male"], n),
        "education": rng.choice(["Bachelors", "HS-grad", "Masters", "Doctorate"], n),
        "income": rng.choice(["<=50K", ">50K"], n, p=[0.7, 0.3]),
    })
    return database_from_tables({"people": frame}, tmp_path / "people.db")
