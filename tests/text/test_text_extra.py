"""A missing library of the 'text' extra reads as one line naming the extra, not as a traceback."""

from __future__ import annotations

import sys

import pytest

from synthera.errors import UserInputError
from synthera.text.sql import normalize_sql


@pytest.mark.parametrize("module", ["sqlglot", "sqlglot.errors"])
def test_normalize_sql_without_sqlglot_names_the_text_extra(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(UserInputError) as caught:
        normalize_sql("select 1")
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert "sqlglot" in message and "'text' extra" in message and "pip install 'synthera[text]'" in message


def test_normalize_sql_with_sqlglot_still_works():
    assert normalize_sql("select  a from t") == "SELECT a FROM t"
