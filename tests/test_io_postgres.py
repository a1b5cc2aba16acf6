"""PostgreSQL through its SQLAlchemy URL, against a real server.

Runs when SYNTHERA_TEST_POSTGRES_URL names a database we may write to;
`.ci/run` installs and starts a local server and sets it. The server may be
shared and outlive a run, so each test works in a schema of its own, dropped
afterwards: tables left by other runs can neither help nor hurt it.
"""

from __future__ import annotations

import os
import uuid

import pandas as pd
import pytest

from synthera.errors import DataError
from synthera.io import read_table, write_table
from synthera.metadata import infer_metadata

URL = os.environ.get("SYNTHERA_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="set SYNTHERA_TEST_POSTGRES_URL to test against PostgreSQL")


@pytest.fixture
def schema():
    from sqlalchemy import create_engine, text

    name = f"s_{uuid.uuid4().hex[:8]}"
    engine = create_engine(URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    yield name
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
    engine.dispose()


def test_postgres_round_trip_keeps_types(schema):
    table = f"{schema}.people"
    df = pd.DataFrame(
        {
            "n": pd.array([1, None, 3], dtype="Int64"),
            "x": [0.5, 1.25, None],
            "city": ["Zürich", None, "東京"],
            "at": pd.to_datetime(["2024-01-31 08:00", None, "2024-03-01 12:30"]),
            "flag": [True, False, True],
        }
    )
    write_table(df, URL, table=table)
    back = read_table(URL, table=table)
    assert back["n"].dtype == "Int64" and back["n"].tolist() == df["n"].tolist()
    assert back["city"].tolist() == df["city"].tolist()
    assert pd.api.types.is_datetime64_any_dtype(back["at"])
    md = infer_metadata(back)
    assert [md[c].kind for c in df.columns] == ["numerical", "numerical", "categorical", "datetime", "boolean"]


def test_postgres_unknown_table_lists_real_ones(schema):
    for name in ("customers", "orders"):
        write_table(pd.DataFrame({"a": [1]}), URL, table=f"{schema}.{name}")
    with pytest.raises(DataError, match=f"table '{schema}.nope' not found.*available tables: customers, orders$"):
        read_table(URL, table=f"{schema}.nope")
    with pytest.raises(DataError, match=r"did you mean customers\? \(2 tables in all\)"):
        read_table(URL, table=f"{schema}.custmers")


def test_postgres_wrong_password_is_clear_and_hidden():
    from sqlalchemy.engine import make_url

    bad = make_url(URL).set(password="definitely-wrong-pw").render_as_string(hide_password=False)
    with pytest.raises(DataError, match="check the URL, the credentials") as err:
        read_table(bad, table="anything")
    assert "definitely-wrong-pw" not in str(err.value)
