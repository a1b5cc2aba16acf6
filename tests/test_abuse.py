"""The abuse suite: odd tables through the whole road, and the promises a privacy tool must keep.

Every odd table goes inspect -> fit -> sample -> evaluate in-process. The only outcomes allowed are
success or a clean :class:`UserInputError`; any other exception is a bug. The named cases below
check the README's promises end to end: personal data is never copied, and messages never quote
a cell.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import synthera
from synthera.errors import UserInputError
from synthera.metadata import infer_metadata
from synthera.tabular import get_synthesizer

_NAMES = ["a", "b", "id", "name", "when", "x y", "ü", "amount", "phone", "card", ""]

_column = st.one_of(
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=40),
    st.lists(st.integers(min_value=-(2**53), max_value=2**53), min_size=1, max_size=40),
    st.lists(st.one_of(st.none(), st.text(max_size=6)), min_size=1, max_size=40),
    st.lists(st.sampled_from(["2024-01-31", "2024-02-29T10:00:00+02:00", "1,234.56", "yes", "no", "a@b.co", None]),
             min_size=1, max_size=40),
    st.lists(st.booleans(), min_size=1, max_size=40),
)


@st.composite
def odd_tables(draw):
    n_cols = draw(st.integers(min_value=1, max_value=6))
    n_rows = draw(st.integers(min_value=0, max_value=80))
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=n_cols, max_size=n_cols, unique=True))
    data = {}
    for name in names:
        values = draw(_column)
        data[name] = (values * (n_rows // len(values) + 1))[:n_rows]
    return pd.DataFrame(data)


def _road(frame: pd.DataFrame) -> None:
    metadata = infer_metadata(frame)
    model = get_synthesizer("cascade")().fit(frame, metadata=metadata)
    rows = model.sample(30, seed=0)
    assert list(rows.columns) == list(frame.columns)
    assert len(rows) == 30
    synthera.evaluate(frame, rows, metadata=metadata)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(odd_tables())
def test_odd_tables_succeed_or_fail_cleanly(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _road(frame)
        except UserInputError as exc:
            message = str(exc)
            assert "\n" not in message.strip(), message
            assert message, "an error must say what is wrong"


# --------------------------------------------------------------------------- named cases


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def _personal_table(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    bodies = [f"4{rng.integers(10**13, 10**14):014d}" for _ in range(n)]
    cards = [int(b + _luhn_digit(b)) for b in bodies]
    phones = [int(f"{rng.integers(201, 990)}{rng.integers(200, 999)}{rng.integers(1000, 9999)}") for _ in range(n)]
    return pd.DataFrame({
        "card": cards,
        "phone": phones,
        "age": rng.integers(18, 90, n),
        "plan": rng.choice(["basic", "gold", "pro"], n),
    })


def test_integer_cards_and_phones_are_never_copied():
    real = _personal_table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = get_synthesizer("cascade")().fit(real).sample(2000, seed=0)
    for column in ("card", "phone"):
        copied = set(rows[column].dropna().astype("int64")) & set(real[column])
        assert not copied, f"{len(copied)} real {column} values reappear"


def test_rare_values_are_neither_echoed_nor_replayed():
    rng = np.random.default_rng(3)
    secret = "jane.doe.1977@example.org"
    amounts = [str(v) for v in rng.integers(10, 500, 300)]
    amounts[17] = secret
    real = pd.DataFrame({"amount": amounts, "group": rng.choice(["a", "b"], 300)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metadata = infer_metadata(real)
        rows = get_synthesizer("cascade")().fit(real, metadata=metadata).sample(5000, seed=0)
    assert all(secret not in str(w.message) for w in caught)
    assert secret not in set(rows["amount"].astype(str))


def test_a_one_row_table_is_not_copied():
    real = pd.DataFrame({"age": [41], "city": ["Lyon"], "income": [52000]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UserInputError, match="rows"):
            get_synthesizer("cascade")().fit(real)


# --------------------------------------------------------------------------- nothing real leaks anywhere


def _people(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    first = ["Amelia", "Bruno", "Chiara", "Dmitri", "Esther", "Farid", "Greta", "Hiroshi", "Ines", "Jonas"]
    last = ["Okonkwo", "Lindqvist", "Marchetti", "Petrov", "Abramson", "Haddad", "Svensson", "Tanaka"]
    names = [f"{rng.choice(first)} {rng.choice(last)}" for _ in range(n)]
    table = _personal_table(n)
    table["email"] = [f"user{i:04d}.q{rng.integers(1000, 9999)}@mailbox-{i % 7}.example.net" for i in range(n)]
    table["full_name"] = names
    table["income"] = rng.integers(20_000, 90_000, n)
    return table


def test_no_real_identifier_reaches_any_output_of_the_cli(tmp_path):
    from typer.testing import CliRunner

    from synthera.cli import app

    real = _people()
    source = tmp_path / "people.csv"
    real.to_csv(source, index=False)
    out = tmp_path / "out"
    runner = CliRunner()
    steps = [
        ["inspect", str(source), "--out", str(out / "people.metadata.json")],
        ["fit", str(source), "--metadata", str(out / "people.metadata.json"), "--out", str(out / "model")],
        ["sample", str(out / "model"), "--rows", "500", "--seed", "0", "--out", str(out / "synthetic.csv")],
        ["evaluate", "--real", str(source), "--synthetic", str(out / "synthetic.csv"), "--out", str(out / "eval")],
    ]
    printed = []
    for args in steps:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args[0], result.stderr)
        printed.append(result.stdout + result.stderr)
    identifiers = {str(v) for col in ("card", "phone", "email") for v in real[col]}
    leaks = {}
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".json", ".html", ".jsonl", ".md", ".txt", ""):
            text = path.read_text(encoding="utf-8", errors="replace")
            found = [v for v in identifiers if v in text]
            if found:
                leaks[str(path.relative_to(out))] = len(found)
    text = "\n".join(printed)
    leaks["printed"] = sum(v in text for v in identifiers)
    assert not any(leaks.values()), leaks


def test_passwords_in_urls_never_reach_the_terminal(tmp_path):
    from typer.testing import CliRunner

    from synthera.cli import app

    secret = "Zq8-very-secret-Pw"
    urls = [
        f"postgresql://analyst:{secret}@127.0.0.1:1/shop",
        f"postgresql://127.0.0.1:1/shop?user=analyst&password={secret}",
    ]
    runner = CliRunner()
    for url in urls:
        for args in (["inspect", url, "--table", "orders"],
                     ["fit", url, "--table", "orders", "--out", str(tmp_path / "m")]):
            result = runner.invoke(app, args)
            assert result.exit_code == 2, (args, result.stderr)
            assert secret not in result.stdout + result.stderr
