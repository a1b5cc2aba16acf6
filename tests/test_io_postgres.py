"""PostgreSQL through its SQLAlchemy URL, against a real server.

Runs when SYNTHERA_TEST_POSTGRES_URL names a database we may write to;
`.ci/run` installs and starts a local server and sets it.
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


def test_postgres_round_trip_keeps_types():
    table = f"t_{uuid.uuid4().hex[:8]}"
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


def test_postgres_unknown_table_lists_real_ones():
    table = f"t_{uuid.uuid4().hex[:8]}"
    write_table(pd.DataFrame({"a": [1]}), URL, table=table)
    with pytest.raises(DataError, match=f"table 'nope' not found.*{table}"):
        read_table(URL, table="nope")


def test_postgres_wrong_password_is_clear_and_hidden():
    from sqlalchemy.engine import make_url

    bad = make_url(URL).set(password="definitely-wrong-pw").render_as_string(hide_password=False)
    with pytest.raises(DataError, match="check the URL, the credentials") as err:
        read_table(bad, table="anything")
    assert "definitely-wrong-pw" not in str(err.value)
