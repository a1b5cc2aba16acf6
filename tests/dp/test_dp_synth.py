"""DP synthesis end to end: the budget calibration never reports more than asked, and the CLI's
``synthesize --epsilon`` records the spend and reports mistakes as one-line errors.

The model's own tests (tabular/dp_marginals.py) are in tests/tabular/test_dp_marginals.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from synthera.cli import app
from tests.helpers import dp_public_metadata as public_metadata
from tests.helpers import make_dp_frame as make_frame
from tests.helpers import one_line_error as _one_line_error

runner = CliRunner()


@pytest.mark.parametrize("epsilon", [0.1, 0.3, 1.0, 3.0, 8.0])
def test_a_run_never_reports_more_than_asked(epsilon):
    from synthera.dp.mechanisms import MeasurementGroup, calibrate, epsilon_spent

    plan = [MeasurementGroup("count", 1, 0.01), MeasurementGroup("1-way", 15, 0.1),
            MeasurementGroup("2-way", 105, 0.89)]
    groups = calibrate(plan, epsilon=epsilon, delta=1e-5)
    spent = epsilon_spent(groups, delta=1e-5)
    assert 0.999 * epsilon <= spent <= epsilon  # all of it, never more
    assert epsilon_spent(groups, delta=1e-5, accountant="rdp") >= spent  # RDP's bound is looser, never tighter
    shares = np.array([g.count / g.sigma**2 for g in groups])
    assert np.allclose(shares / shares.sum(), [0.01, 0.1, 0.89])


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dpcli")
    make_frame(3000).to_csv(folder / "data.csv", index=False)
    public_metadata().save(folder / "public.json")
    return folder


def test_cli_fits_a_private_model_and_records_the_spend(data_csv, tmp_path):
    args = ["fit", str(data_csv / "data.csv"), "--model", "dp_marginals", "--epsilon", "1", "--delta", "1e-6",
            "--metadata", str(data_csv / "public.json"), "--out", str(tmp_path / "m")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "spent" in result.stdout
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["epsilon_spent"] <= 1.0 and manifest["delta"] == 1e-6
    assert manifest["params"]["seed"] is None  # fresh noise unless a seed is asked for
    result = runner.invoke(app, ["sample", str(tmp_path / "m"), "-n", "50", "-o", str(tmp_path / "s.csv"),
                                 "-w", "segment=gold"])
    assert result.exit_code == 0, result.stderr
    assert (pd.read_csv(tmp_path / "s.csv")["segment"] == "gold").all()


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--model", "dp_marginals"], ["needs --epsilon"]),
        (["--model", "cascade", "--epsilon", "1"], ["not differentially private", "takes no --epsilon"]),
        (["--model", "gaussian_copula", "--delta", "1e-6"], ["takes no --delta"]),
        (["--model", "dp_marginals", "--epsilon", "0"], ["epsilon must be a finite number > 0"]),
        (["--model", "dp_marginals", "--epsilon", "-2"], ["epsilon must be a finite number > 0"]),
        (["--model", "dp_marginals", "--epsilon", "1", "--delta", "1"], ["delta must be a number in (0, 1)"]),
        (["--model", "dp_marginals", "--epsilon", "1e-5", "--delta", "1e-9", "--metadata", "{d}/public.json"],
         ["too small a budget"]),
    ],
)
def test_cli_mistakes_are_one_line_errors(data_csv, tmp_path, extra, needles):
    args = ["fit", str(data_csv / "data.csv"), "--out", str(tmp_path / "m")] + [a.format(d=data_csv) for a in extra]
    _one_line_error(runner.invoke(app, args), *needles)


def test_models_marks_which_accept_epsilon():
    result = runner.invoke(app, ["models"], terminal_width=250)
    assert result.exit_code == 0
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 3}
    assert "yes" in rows["dp_marginals"].split("│")[2]
    assert "no" in rows["cascade (default)"].split("│")[2]
