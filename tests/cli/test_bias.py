"""The command line: `synthera bias` and `synthera sample --balance/--parity`."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from synthera.cli import app
from tests.helpers import one_line_error

runner = CliRunner()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, bias_frame, bias_cascade):
    d = tmp_path_factory.mktemp("bias_cli")
    bias_frame.to_csv(d / "data.csv", index=False)
    bias_cascade.save(d / "model")
    return d


def test_bias_writes_the_report(workdir):
    result = runner.invoke(app, ["bias", str(workdir / "data.csv"), "--target", "income", "--sensitive", "sex",
                                 "--sensitive", "race", "--out", str(workdir / "report")])
    assert result.exit_code == 0, result.stderr
    data = json.loads((workdir / "report" / "results.json").read_text())
    assert set(data["base_rates"]) == {"sex", "race", "sex & race"}
    assert (workdir / "report" / "report.html").read_text().count("<figure") >= 3
    assert "Strongest proxies of sex" in result.stdout


def test_sample_with_parity_and_balance(workdir):
    out = workdir / "fair.parquet"
    result = runner.invoke(app, ["sample", str(workdir / "model"), "--rows", "3000", "--out", str(out), "--seed", "0",
                                 "--parity", "income", "--sensitive", "sex", "--balance", "sex"])
    assert result.exit_code == 0, result.stderr
    df = pd.read_parquet(out)
    counts = df["sex"].value_counts()
    assert len(df) == 3000 and abs(counts["Female"] - counts["Male"]) <= 2
    rates = (df["income"] == ">50K").groupby(df["sex"]).mean()
    assert abs(rates["Female"] - rates["Male"]) < 0.05
    assert "income=>50K rate" in result.stdout


@pytest.mark.parametrize("args, needles", [
    (["--balance", "nope"], ["unknown column 'nope'"]),
    (["--parity", "income"], ["add --sensitive"]),
    (["--parity", "income", "--sensitive", "age"], ["'age' is numerical", "bin it"]),
    (["--balance", "sex", "--where", "race=Z"], ["impossible condition race=Z"]),
    (["--parity", "income", "--sensitive", "sex", "--relabel", "-1"], ["between 0 and 1"]),
])
def test_sample_mistakes_are_one_line_errors(workdir, args, needles):
    result = runner.invoke(app, ["sample", str(workdir / "model"), "--rows", "100",
                                 "--out", str(workdir / "x.csv"), *args])
    one_line_error(result, *needles)
    assert not (workdir / "x.csv").exists()


@pytest.mark.parametrize("args, needles", [
    (["--target", "nope", "--sensitive", "sex"], ["unknown column 'nope'"]),
    (["--target", "income", "--sensitive", "hours"], ["bin it"]),
])
def test_bias_mistakes_are_one_line_errors(workdir, args, needles):
    result = runner.invoke(app, ["bias", str(workdir / "data.csv"), *args, "--out", str(workdir / "bad")])
    one_line_error(result, *needles)


def test_bias_missing_file_is_a_one_line_error(workdir):
    result = runner.invoke(app, ["bias", str(workdir / "missing.csv"), "--target", "income", "--sensitive", "sex",
                                 "--out", str(workdir / "bad")])
    one_line_error(result, "missing.csv")
