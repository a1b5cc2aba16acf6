"""Reading and writing tables: round trips, formats, atomic writes and clear errors."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pandas as pd
import pytest

from synthera.errors import DataError, UserInputError
from synthera.io import atomic_path, detect_format, read_table, write_table


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "größe (cm)": [170.5, None, 181.25, 165.0],
            "count": pd.array([3, None, 7, 0], dtype="Int64"),
            "city": ["Zürich", None, "東京", "Lagos"],
            "seen": ["2024-01-31 08:15:00", "2024-02-01 09:00:00", None, "2024-03-05 23:59:59"],
            "ok": [True, False, True, True],
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".csv.gz", ".parquet", ".jsonl", ".db"])
def test_round_trip_keeps_values_nulls_and_unicode(tmp_path, suffix):
    df = _frame()
    path = tmp_path / f"table{suffix}"
    write_table(df, path)
    back = read_table(path)
    assert list(back.columns) == list(df.columns)
    assert back["count"].dtype == "Int64"  # integers with nulls stay integers
    assert back["count"].tolist() == df["count"].tolist()
    assert back["city"].tolist() == df["city"].tolist()
    # date strings stay strings in their own format (metadata detects the format)
    assert back["seen"].tolist() == df["seen"].tolist()
    np.testing.assert_allclose(back["größe (cm)"], df["größe (cm)"])
    assert back["ok"].astype(bool).tolist() == df["ok"].tolist()


def test_integers_with_nulls_are_written_without_decimal_point(tmp_path):
    path = tmp_path / "t.csv"
    write_table(_frame(), path)
    assert path.read_text().splitlines()[1].split(",")[2] == "3"


def test_native_datetimes_survive_parquet(tmp_path):
    df = pd.DataFrame({"t": pd.to_datetime(["2020-01-01 10:00", None, "2021-06-30 00:00"])})
    write_table(df, tmp_path / "t.parquet")
    back = read_table(tmp_path / "t.parquet")
    assert pd.api.types.is_datetime64_any_dtype(back["t"])
    assert back["t"].isna().tolist() == [False, True, False]


def test_sqlite_file_with_several_tables_needs_a_table_name(tmp_path):
    path = tmp_path / "many.db"
    write_table(_frame(), path, table="people")
    write_table(_frame().head(2), path, table="few")
    assert len(read_table(path, table="few")) == 2
    with pytest.raises(UserInputError, match="pass table NAME"):
        read_table(path)
    with pytest.raises(DataError, match="table 'nope' not found.*few, people"):
        read_table(path, table="nope")


def test_unknown_table_suggests_near_names_and_counts_the_rest(tmp_path):
    path = tmp_path / "wide.db"
    for i in range(12):
        write_table(pd.DataFrame({"a": [i]}), path, table=f"t{i:02d}")
    write_table(pd.DataFrame({"a": [1]}), path, table="customers")
    with pytest.raises(DataError, match=r"did you mean customers\? \(13 tables in all\)"):
        read_table(path, table="custmers")
    with pytest.raises(DataError, match=r"available tables: customers, t00, .*, t08, … \(13 in all\)$"):
        read_table(path, table="zzz")
    single = tmp_path / "single.db"
    write_table(pd.DataFrame({"a": [1]}), single, table="subscriptions")
    with pytest.raises(DataError, match=r"did you mean subscriptions\? \(the only table\)$"):
        read_table(single, table="subscription")


def test_sqlalchemy_url_reads_and_writes(tmp_path):
    url = f"sqlite:///{tmp_path / 'url.db'}"
    write_table(_frame(), url, table="t")
    assert read_table(url, table="t")["city"].tolist() == _frame()["city"].tolist()
    with pytest.raises(UserInputError, match="needs a table name"):
        write_table(_frame(), url)


def test_sql_write_is_one_transaction(tmp_path):
    """A refused write leaves the existing table untouched."""
    path = tmp_path / "keep.db"
    write_table(_frame(), path, table="t")
    with pytest.raises(UserInputError, match="already exists"):
        write_table(_frame().head(1), path, table="t")
    assert len(read_table(path, table="t")) == 4


def test_database_url_password_is_never_shown(tmp_path):
    url = "postgresql://alice:s3cr3t-pw@127.0.0.1:1/nodb"
    with pytest.raises(DataError) as err:
        read_table(url, table="t")
    assert "s3cr3t-pw" not in str(err.value)
    assert "alice" in str(err.value)


def test_missing_sqlite_url_file_is_not_created(tmp_path):
    path = tmp_path / "absent.db"
    with pytest.raises(DataError, match="not found"):
        read_table(f"sqlite:///{path}", table="t")
    assert not path.exists()


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.csv")


def test_malformed_csv_names_the_problem_without_echoing_the_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,4,secret-value\n")
    with pytest.raises(DataError, match="wrong number of fields") as err:
        read_table(path)
    assert "secret-value" not in str(err.value)


def test_empty_csv(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_table(path)


def test_duplicated_csv_header(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(DataError, match="duplicated column names"):
        read_table(path)


def test_non_utf8_csv_suggests_an_encoding_and_reads_with_it(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("name,city\nJosé,Málaga\n".encode("latin-1"))
    with pytest.raises(DataError, match="encoding='latin-1'"):
        read_table(path)
    assert read_table(path, encoding="latin-1")["city"].tolist() == ["Málaga"]


def test_unknown_suffix_is_sniffed_or_refused(tmp_path):
    write_table(_frame(), tmp_path / "t.parquet")
    os.rename(tmp_path / "t.parquet", tmp_path / "t.data")
    assert len(read_table(tmp_path / "t.data")) == 4  # Parquet magic bytes
    (tmp_path / "t.txt").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="or pass format$"):
        read_table(tmp_path / "t.txt")
    assert read_table(tmp_path / "t.txt", format="csv")["b"].tolist() == [2]


def test_jsonl_with_mixed_types_falls_back_to_objects(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"a": 1, "b": "x"}\n{"a": "two", "b": "y"}\n')
    df = read_table(path)
    assert df["a"].tolist() == [1, "two"]


def test_malformed_jsonl(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(DataError, match="malformed JSON Lines"):
        read_table(path)


def test_bundled_dataset_source():
    assert read_table("dataset:german:test").shape == (300, 21)
    with pytest.raises(UserInputError, match="unknown dataset 'nope'.*adult"):
        read_table("dataset:nope")


def test_detect_format():
    assert detect_format("x/Data.CSV.gz") == "csv"
    assert detect_format("a.sqlite3") == "sqlite"
    assert detect_format("a.xlsx") is None


def test_atomic_path_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-writ")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "out.parquet"
    write_table(_frame(), target)
    before = target.read_bytes()

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", explode)
    with pytest.raises(KeyboardInterrupt):
        write_table(_frame().head(1), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_new_sqlite_file_is_written_atomically(tmp_path, monkeypatch):
    target = tmp_path / "new.db"

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_sql", explode)
    with pytest.raises(KeyboardInterrupt):
        write_table(_frame(), target)
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_usual_permissions(tmp_path, monkeypatch):
    import synthera.io

    monkeypatch.setattr(synthera.io, "_source_mode_mask", 0o777)  # as if no private source was read before
    target = tmp_path / "perm.csv"
    write_table(_frame(), target)
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_sqlite_written_file_is_a_real_database(tmp_path):
    target = tmp_path / "real.sqlite"
    write_table(_frame(), target)
    with sqlite3.connect(target) as conn:
        assert conn.execute("select count(*) from real").fetchone() == (4,)


def test_semicolon_and_pipe_delimited_csv_are_sniffed(tmp_path):
    for delim in (";", "|"):
        path = tmp_path / "eu.csv"
        path.write_text(f"name{delim}price\nKäse{delim}3,50\nBrot{delim}2,10\n")
        df = read_table(path)
        assert list(df.columns) == ["name", "price"]
        assert df["price"].tolist() == ["3,50", "2,10"]


def test_is_url_is_public_and_the_cli_uses_it():
    from pathlib import Path

    import synthera.cli._common as common
    from synthera.io import is_url

    assert is_url("postgresql://u@h/db") and is_url("sqlite:///x.db")
    assert not is_url("data/x.csv") and not is_url(Path("x.parquet"))
    assert not hasattr(common, "is_url")  # one definition, in synthera.io


def test_codes_with_leading_zeros_stay_text_and_numbers_stay_numbers(tmp_path):
    path = tmp_path / "codes.csv"
    n = 400
    zips = [f"{z:05d}" for z in np.random.default_rng(0).integers(1_000, 99_999, n)]  # fixed width, some 0xxxx
    zips[0] = "02134"
    product = [f"{k:03d}" for k in range(n)]  # every width padded to three digits, then wider
    plain = list(range(n))
    stray = [str(v) for v in range(n)]
    stray[-1] = "0042"  # one odd cell among numbers of every width: still a number
    pd.DataFrame({"zip": zips, "product": product, "plain": plain, "stray": stray,
                  "amount": np.arange(n) / 4}).to_csv(path, index=False)
    back = read_table(path)
    assert back["zip"].tolist() == zips and back["product"].tolist() == product
    assert back["plain"].dtype == "int64" and back["plain"].tolist() == plain
    assert back["stray"].dtype == "int64" and back["stray"].iloc[-1] == 42
    assert back["amount"].dtype == "float64"
    # a padded column with a gap and a column of numbers with text cells read as the reader always did
    path.write_text("code,count\n007,1\n,2\n012,x\n")
    back = read_table(path)
    assert back["code"].tolist()[::2] == ["007", "012"] and back["code"].isna().tolist() == [False, True, False]
    assert back["count"].tolist() == ["1", "2", "x"]
