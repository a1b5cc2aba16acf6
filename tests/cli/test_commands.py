"""The CLI: every command has help, user mistakes are one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from synthera.cli import app
from synthera.io import write_table
from tests.helpers import one_line_error as _one_line_error

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,4,5\n")
    (tmp_path / "header_only.csv").write_text("a,b\n")
    (tmp_path / "nulls.csv").write_text("a,b\n1,\n2,\n")
    (tmp_path / "ok.csv").write_text("age,city\n31,Lagos\n45,Lima\n27,Lagos\n")
    (tmp_path / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    write_table(pd.DataFrame({"x": [1]}), tmp_path / "db.sqlite", table="people")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["inspect", "{d}/missing.csv"], ["file not found", "check the path"]),
        (["inspect", "{d}/db.sqlite", "--table", "nope"], ["table 'nope' not found", "people"]),
        (["inspect", "{d}/bad.csv"], ["malformed CSV", "wrong number of fields"]),
        (["inspect", "{d}/header_only.csv"], ["no rows"]),
        (["inspect", "{d}/nulls.csv"], ["column 'b' is entirely empty", "drop it or fill it"]),
        (["inspect", "dataset:nope"], ["unknown dataset 'nope'", "adult"]),
        (["inspect", "{d}/ok.csv", "--metadata", "{d}/missing.json"], ["metadata file not found"]),
        (["inspect", "{d}/ok.csv", "--format", "xlsx"], ["unknown format 'xlsx'"]),
        (["inspect", "{d}/sheet.xlsx"], ["spreadsheet", "save the sheet as CSV"]),
        (["inspect", "{d}", ], ["is a folder"]),
        (["convert", "{d}/ok.csv", "{d}/out.xlsx"], ["cannot tell which format"]),
    ],
)
def test_user_mistakes_are_one_line_exit_2(files, args, needles):
    result = runner.invoke(app, [a.format(d=files) for a in args])
    _one_line_error(result, *needles)


def test_edited_metadata_that_contradicts_the_data(files):
    meta = files / "m.json"
    columns = {"age": {"kind": "datetime", "datetime_format": "%Y"}}
    meta.write_text(json.dumps({"format_version": 1, "columns": columns}))
    result = runner.invoke(app, ["inspect", str(files / "ok.csv"), "--metadata", str(meta)])
    _one_line_error(result, "do not match datetime format")


@pytest.mark.parametrize("command", [[], ["inspect"], ["datasets"], ["convert"]])
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.stdout


def test_inspect_prints_kinds_and_writes_metadata(files):
    out = files / "meta" / "ok.json"
    result = runner.invoke(app, ["inspect", str(files / "ok.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "numerical" in result.stdout and "categorical" in result.stdout
    data = json.loads(out.read_text())
    assert data["columns"]["age"]["kind"] == "numerical"
    assert data["columns"]["city"]["categories"] == ["Lagos", "Lima"]


def test_inspect_accepts_its_own_metadata_back(files):
    out = files / "m.json"
    assert runner.invoke(app, ["inspect", str(files / "ok.csv"), "-o", str(out)]).exit_code == 0
    doc = json.loads(out.read_text())
    doc["columns"]["age"]["max"] = 120
    out.write_text(json.dumps(doc))
    again = files / "m2.json"
    result = runner.invoke(app, ["inspect", str(files / "ok.csv"), "-m", str(out), "-o", str(again)])
    assert result.exit_code == 0, result.stderr
    assert json.loads(again.read_text())["columns"]["age"]["max"] == 120


def test_inspect_sqlite_table_and_bundled_dataset(files):
    result = runner.invoke(app, ["inspect", str(files / "db.sqlite")])  # one table: no --table needed
    assert result.exit_code == 0, result.stderr
    result = runner.invoke(app, ["inspect", "dataset:adult:test"])
    assert result.exit_code == 0 and "16,281 rows" in result.stdout


def test_mixed_types_warning_is_one_stderr_line(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"m": 1}\n{"m": "a"}\n{"m": 2}\n')
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: column 'm' mixes value types")


def test_datasets_lists_what_ships():
    result = runner.invoke(app, ["datasets"])
    assert result.exit_code == 0
    for name in ("adult", "compas", "german", "48,842", "CC BY 4.0"):
        assert name in result.stdout


def test_convert_between_formats(files):
    target = files / "out" / "adult.parquet"
    result = runner.invoke(app, ["convert", "dataset:german", str(target)])
    assert result.exit_code == 0, result.stderr
    assert pd.read_parquet(target).shape == (700, 21)


def test_console_script_error_has_no_traceback(tmp_path):
    """The installed entry point, as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "synthera", "inspect", str(tmp_path / "nope.csv")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == f"error: file not found: {tmp_path / 'nope.csv'}; check the path\n"
    assert proc.stdout == ""
