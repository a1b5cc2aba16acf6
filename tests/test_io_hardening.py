"""Issue 15 in io: passwords never shown, SQL tables not silently replaced, stale temporary files,
file modes, unwritable targets and nested columns."""

from __future__ import annotations

import errno
import json
import os
import time
import traceback
import warnings

import pandas as pd
import pytest

import synthera.io as io
from synthera._secrets import redact
from synthera.errors import DataError, SyntheraWarning, UserInputError
from synthera.io import atomic_path, check_writable, note_source_mode, read_table, write_table, write_text


@pytest.fixture(autouse=True)
def _fresh_source_modes(monkeypatch):
    """Each test starts as a fresh process would: no source read yet."""
    monkeypatch.setattr(io, "_source_mode_mask", 0o777)


def _frame(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame({"a": range(n), "b": [f"x{i}" for i in range(n)]})


def _everything_shown(exc: BaseException) -> str:
    """The message and every chained error, as a traceback would print them."""
    return "".join(traceback.format_exception(exc))


# --------------------------------------------------------------------------- 4: redaction


@pytest.mark.parametrize(
    ("source", "secret"),
    [
        ("postgresql://alice:pw-SECRET-a1@127.0.0.1:1/db", "pw-SECRET-a1"),
        ("postgresql://alice@127.0.0.1:1/db?password=pw-SECRET-b2", "pw-SECRET-b2"),
        ("postgresql:///db?host=127.0.0.1&port=1&user=alice&password=pw-SECRET-c3", "pw-SECRET-c3"),
        ("postgresql://alice:p@ss-SECRET-d4@127.0.0.1:1/db", "ss-SECRET-d4"),
        ("postgresql://alice:x@127.0.0.1:1/db?sslpassword=pw-SECRET-e5", "pw-SECRET-e5"),
        ("postgresql://alice:pw-SECRET-f6@127.0.0.1:notaport/db", "pw-SECRET-f6"),
        ("host=127.0.0.1 port=1 user=alice password=pw-SECRET-g7 dbname=db", "pw-SECRET-g7"),
        ("mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BX%7D%3BSERVER%3Dh%3BPWD%3Dpw-SECRET-i9", "pw-SECRET-i9"),
    ],
)
def test_database_passwords_never_reach_a_message(source, secret):
    with pytest.raises(UserInputError) as read_err:
        read_table(source, table="t")
    with pytest.raises(UserInputError) as write_err:
        write_table(_frame(), source, table="t")
    for err in (read_err, write_err):
        assert secret not in _everything_shown(err.value)
        assert len(str(err.value).splitlines()) == 1


def test_sqlite_url_with_an_odd_query_keeps_its_password_hidden(tmp_path):
    url = f"sqlite:///{tmp_path / 'odd.db'}?password=pw-SECRET-h8&mode=ro"
    with pytest.raises(DataError) as missing:
        read_table(url, table="t")
    assert "pw-SECRET-h8" not in _everything_shown(missing.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy notes that pysqlite ignores the query
        write_table(_frame(), url, table="t")
        shown = write_table(_frame(), url, table="u")
        with pytest.raises(UserInputError) as exists:
            write_table(_frame(), url, table="t")
    assert "pw-SECRET-h8" not in shown
    assert "pw-SECRET-h8" not in _everything_shown(exists.value)


def test_redact_covers_the_url_forms():
    assert redact("postgresql://u:p@ss/w@h/db") == "postgresql://u:***@h/db"
    assert redact("h/db?sslpassword=abc&user=u") == "h/db?sslpassword=***&user=u"
    assert redact("cannot connect (password=abc)").count("abc") == 0
    assert redact("aws_secret_access_key=abcd") == "aws_secret_access_key=***"
    assert redact("http://host:8080/path ok") == "http://host:8080/path ok"
    assert redact('{"other_data_keys": ["key"]}') == '{"other_data_keys": ["key"]}'


def test_url_redaction_helper_masks_query_passwords():
    assert "pw9" not in io._redact("postgresql://u@h/db?password=pw9")
    assert "pw9" not in io._redact("postgresql://u:pw9@h/db")


# --------------------------------------------------------------------------- 20: existing SQL tables


def test_existing_sqlite_table_is_refused_without_replace(tmp_path):
    path = tmp_path / "shop.db"
    write_table(_frame(4), path, table="orders")
    write_table(_frame(2), path, table="people")
    with pytest.raises(UserInputError) as err:
        write_table(_frame(1), path, table="orders")
    message = str(err.value)
    assert len(message.splitlines()) == 1
    assert "'orders'" in message and "pass replace=True" in message and "--" not in message  # a parameter, no flag
    assert len(read_table(path, table="orders")) == 4
    write_table(_frame(1), path, table="orders", replace=True)
    assert len(read_table(path, table="orders")) == 1
    assert len(read_table(path, table="people")) == 2  # the other table is untouched


def test_existing_table_behind_a_url_is_refused_without_replace(tmp_path):
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    write_table(_frame(3), url, table="customers")
    with pytest.raises(UserInputError, match="table 'customers' already exists.*replace=True"):
        write_table(_frame(1), url, table="customers")
    assert len(read_table(url, table="customers")) == 3
    write_table(_frame(1), url, table="customers", replace=True)
    assert len(read_table(url, table="customers")) == 1


def test_a_failed_replace_keeps_the_old_table(tmp_path, monkeypatch):
    """DROP and CREATE are part of the one transaction (pysqlite would commit them on their own)."""
    path = tmp_path / "keep.db"
    write_table(_frame(4), path, table="t")
    real_to_sql = pd.DataFrame.to_sql

    def to_sql_then_die(self, *args, **kwargs):
        real_to_sql(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_sql", to_sql_then_die)
    with pytest.raises(KeyboardInterrupt):
        write_table(pd.DataFrame({"other": ["z"]}), path, table="t", replace=True)
    monkeypatch.undo()
    back = read_table(path, table="t")
    assert list(back.columns) == ["a", "b"] and len(back) == 4


def test_files_are_still_replaced_atomically(tmp_path):
    for name in ("t.csv", "t.parquet", "t.jsonl"):
        write_table(_frame(4), tmp_path / name)
        write_table(_frame(2), tmp_path / name)
        assert len(read_table(tmp_path / name)) == 2


# --------------------------------------------------------------------------- 21: stale temporary files


def _age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_stale_temporary_files_of_the_same_target_are_cleaned(tmp_path):
    stale = tmp_path / ".out.csv.k2j4h5g6.tmp"
    stale_journal = tmp_path / ".out.csv.a1b2c3d4.tmp-journal"
    fresh = tmp_path / ".out.csv.q9w8e7r6.tmp"  # another writer, still at work
    other = tmp_path / ".other.csv.k2j4h5g6.tmp"  # another target's leftover
    lookalike = tmp_path / ".out.csv.notatempfile.tmp"
    for path in (stale, stale_journal, fresh, other, lookalike):
        path.write_text("half")
    for path in (stale, stale_journal, other, lookalike):
        _age(path, io.STALE_TEMP_SECONDS + 60)
    write_table(_frame(), tmp_path / "out.csv")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["out.csv", fresh.name, other.name, lookalike.name])


def test_stale_cleanup_also_runs_for_text_and_sqlite_writers(tmp_path):
    for name in ("notes.txt", "new.db"):
        stale = tmp_path / f".{name}.abcdefgh.tmp"
        stale.write_text("half")
        _age(stale, io.STALE_TEMP_SECONDS * 2)
    write_text("hello\n", tmp_path / "notes.txt")
    write_table(_frame(), tmp_path / "new.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.db", "notes.txt"]


# --------------------------------------------------------------------------- 22: file modes


def test_a_private_source_gives_private_outputs(tmp_path):
    source = tmp_path / "private.csv"
    write_table(_frame(), source)
    os.chmod(source, 0o600)
    df = read_table(source)
    out_csv, out_text, out_db = tmp_path / "synthetic.csv", tmp_path / "metadata.json", tmp_path / "s.db"
    write_table(df, out_csv)
    write_text("{}\n", out_text)
    write_table(df, out_db)
    for path in (out_csv, out_text, out_db):
        assert (path.stat().st_mode & 0o777) == 0o600, path


def test_the_strictest_of_several_sources_wins(tmp_path):
    for name, mode in (("a.csv", 0o640), ("b.parquet", 0o604)):
        write_table(_frame(), tmp_path / name)
        os.chmod(tmp_path / name, mode)
        read_table(tmp_path / name)
    assert io.default_file_mode() & ~0o600 == 0  # 0640 AND 0604


def test_other_readers_can_note_their_source(tmp_path):
    meta = tmp_path / "meta.json"
    meta.write_text("{}")
    os.chmod(meta, 0o600)
    note_source_mode(meta)
    note_source_mode(tmp_path / "missing.json")  # ignored
    write_text("x\n", tmp_path / "out.txt")
    assert ((tmp_path / "out.txt").stat().st_mode & 0o777) == 0o600


def test_sqlite_source_mode_is_noted_too(tmp_path):
    db = tmp_path / "private.db"
    write_table(_frame(), db)
    os.chmod(db, 0o600)
    read_table(f"sqlite:///{db}", table="private")
    write_table(_frame(), tmp_path / "out.parquet")
    assert ((tmp_path / "out.parquet").stat().st_mode & 0o777) == 0o600


# --------------------------------------------------------------------------- 7: unwritable targets


def _one_line_cannot_write(exc: BaseException, path) -> str:
    message = str(exc)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"cannot write to {path}: ") and message.endswith("; pick another output path")
    return message


def test_a_file_in_the_path_is_one_line(tmp_path):
    blocker = tmp_path / "x"
    blocker.write_text("a file, not a folder")
    target = blocker / "file.txt" / "out.csv"
    with pytest.raises(UserInputError) as err:
        check_writable(target)
    assert "is a file, not a folder" in _one_line_cannot_write(err.value, target)
    for write in (lambda: write_table(_frame(), target), lambda: write_text("x", target)):
        with pytest.raises(UserInputError) as err:
            write()
        _one_line_cannot_write(err.value, target)
    assert blocker.read_text() == "a file, not a folder"


def test_model_folder_in_an_impossible_place_is_one_line(tmp_path):
    from synthera.io import model_folder

    blocker = tmp_path / "x"
    blocker.write_text("")
    with pytest.raises(UserInputError) as err:
        model_folder(blocker / "model")
    _one_line_cannot_write(err.value, blocker / "model")


def test_reading_a_private_model_manifest_keeps_outputs_private(tmp_path):
    from synthera.io import read_manifest

    (tmp_path / "manifest.json").write_text("{}")
    os.chmod(tmp_path / "manifest.json", 0o600)
    read_manifest(tmp_path, "manifest.json", max_bytes=1000, how_to_make="fit one")
    assert io.default_file_mode() & 0o077 == 0


def test_proc_file_as_a_folder_is_one_line():
    with pytest.raises(UserInputError) as err:
        write_table(_frame(), "/proc/version/out.csv")
    _one_line_cannot_write(err.value, "/proc/version/out.csv")


def test_permission_denied_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(io.os, "access", lambda *a, **k: False)
    target = tmp_path / "deep" / "out.csv"
    with pytest.raises(UserInputError) as err:
        check_writable(target)
    assert _one_line_cannot_write(err.value, target) == (
        f"cannot write to {target}: permission denied; pick another output path"
    )
    with pytest.raises(UserInputError, match="permission denied"):
        write_table(_frame(), target)
    assert not (tmp_path / "deep").exists()


def test_a_folder_where_a_file_goes_and_back(tmp_path):
    with pytest.raises(UserInputError, match="it is a folder"):
        check_writable(tmp_path)
    (tmp_path / "f").write_text("")
    with pytest.raises(UserInputError, match="it is a file, not a folder"):
        check_writable(tmp_path / "f", folder=True)
    check_writable(tmp_path / "new" / "model", folder=True)
    check_writable("postgresql://u@h/db")  # a database answers for itself


@pytest.mark.parametrize(
    ("where", "code", "reason"),
    [
        ("mkstemp", errno.EACCES, "permission denied"),
        ("replace", errno.EROFS, "read-only file system"),
        ("body", errno.ENOSPC, "no space left"),
    ],
)
def test_atomic_path_turns_os_errors_into_one_line(tmp_path, monkeypatch, where, code, reason):
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    if where == "mkstemp":
        monkeypatch.setattr(io.tempfile, "mkstemp", fail)
    elif where == "replace":
        monkeypatch.setattr(io.os, "replace", fail)
    with pytest.raises(UserInputError) as err, atomic_path(target) as tmp:
        tmp.write_text("new\n")
        if where == "body":
            fail()
    assert reason in _one_line_cannot_write(err.value, target)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


# --------------------------------------------------------------------------- 13: nested columns


def test_nested_parquet_columns_become_json_text(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 30
    table = pa.table({
        "id": list(range(n)),
        "tags": [[f"t{i % 3}", "x"] if i % 5 else None for i in range(n)],
        "address": [{"city": ["Oslo", "Lima"][i % 2], "zip": 1000 + i} for i in range(n)],
        "attrs": pa.array([[("k", i)] for i in range(n)], type=pa.map_(pa.string(), pa.int64())),
    })
    path = tmp_path / "nested.parquet"
    pq.write_table(table, path)
    with pytest.warns(SyntheraWarning) as record:
        df = read_table(path)
    message = " ".join(str(w.message) for w in record)
    assert "'tags' (24 cells)" in message and "'address' (30 cells)" in message and "'attrs'" in message
    assert "modelled as text" in message and "Oslo" not in message
    assert json.loads(df["tags"][1]) == ["t1", "x"] and df["tags"].isna().sum() == 6
    assert json.loads(df["address"][0]) == {"city": "Oslo", "zip": 1000}
    assert json.loads(df["attrs"][2]) == {"k": 2}
    assert df["id"].tolist() == list(range(n))

    from synthera.tabular import get_synthesizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synthetic = get_synthesizer("gaussian_copula")(seed=0).fit(df).sample(10)
    assert {"tags", "address", "attrs"} <= set(synthetic.columns)
    write_table(df, tmp_path / "back.csv")  # and the text columns write back as plain text
    assert len(read_table(tmp_path / "back.csv")) == n


def test_nested_jsonl_objects_and_arrays_become_json_text(tmp_path):
    rows = [{"id": i, "user": {"name": f"n{i}", "age": 20 + i}, "items": [i, i + 1]} for i in range(20)]
    path = tmp_path / "nested.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.warns(SyntheraWarning, match="'user' \\(20 cells\\), 'items' \\(20 cells\\)"):
        df = read_table(path)
    assert json.loads(df["user"][3]) == {"name": "n3", "age": 23}
    assert json.loads(df["items"][3]) == [3, 4]


def test_nested_values_in_a_mixed_jsonl_column(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"a": 1, "x": {"k": 1}}\n{"a": 2, "x": "plain"}\n{"a": 3, "x": [1, 2]}\n')
    with pytest.warns(SyntheraWarning, match="'x' \\(2 cells\\)"):
        df = read_table(path)
    assert df["x"].tolist() == ['{"k": 1}', "plain", "[1, 2]"]


def test_plain_tables_give_no_nested_warning(tmp_path):
    write_table(_frame(), tmp_path / "plain.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SyntheraWarning)
        read_table(tmp_path / "plain.parquet")


def test_a_read_only_source_does_not_make_outputs_read_only(tmp_path):
    import os
    import stat

    from synthera.io import read_table, write_table

    source = tmp_path / "ro.csv"
    source.write_text("a,b\n1,2\n3,4\n")
    os.chmod(source, 0o440)
    write_table(read_table(str(source)), tmp_path / "out.csv")
    mode = stat.S_IMODE(os.stat(tmp_path / "out.csv").st_mode)
    assert mode & 0o600 == 0o600  # the owner can still write it
    assert mode & 0o007 == 0  # and others get no more than the source gave them


def test_an_edited_metadata_file_passes_its_mode_on(tmp_path):
    import os
    import stat

    import pandas as pd

    from synthera.io import write_text
    from synthera.metadata import Metadata, infer_metadata

    path = tmp_path / "m.json"
    infer_metadata(pd.DataFrame({"a": [1, 2, 3]})).save(path)
    os.chmod(path, 0o600)
    Metadata.load(path)
    write_text("x", tmp_path / "out.txt")
    assert stat.S_IMODE(os.stat(tmp_path / "out.txt").st_mode) & 0o077 == 0
