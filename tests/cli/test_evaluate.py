"""The ``synthera evaluate`` command."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synthera.cli import app


@pytest.fixture
def files(people, tmp_path):
    real, holdout, syn = people
    paths = {}
    for name, df in (("real", real), ("holdout", holdout), ("synthetic", syn)):
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    return paths


def test_writes_results_and_report(files, tmp_path):
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, [
        "evaluate", "--real", str(files["real"]), "--synthetic", str(files["synthetic"]),
        "--holdout", str(files["holdout"]), "--target", "income", "--sensitive", "sex", "--sensitive", "group",
        "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    assert "Synthetic data keeps" in result.output
    assert str(out / "report.html") in " ".join(result.output.split())
    data = json.loads((out / "results.json").read_text())
    assert data["errors"] == [] and data["fairness"]["groups"]["sex & group"]
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left behind


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target", "incom"], "--target column 'incom' is not in the data"),
        (["--holdout", "missing.csv"], "missing.csv"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(files, tmp_path, extra, message):
    result = CliRunner().invoke(app, [
        "evaluate", "--real", str(files["real"]), "--synthetic", str(files["synthetic"]), "--out", str(tmp_path / "o"),
        *extra,
    ])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_mismatched_schemas_are_refused(files, people, tmp_path):
    _, _, syn = people
    other = tmp_path / "other.csv"
    syn.drop(columns="group").to_csv(other, index=False)
    result = CliRunner().invoke(
        app, ["evaluate", "--real", str(files["real"]), "--synthetic", str(other), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "mismatched schemas" in result.output and "'group'" in result.output
