"""`synthera train-private` and `synthera predict`: what they report is what the accountants compute."""

from __future__ import annotations

import json
import re

import dp_accounting
import numpy as np
import pandas as pd
import pytest
from opacus.accountants import RDPAccountant
from typer.testing import CliRunner

from synthera.cli import app
from synthera.dp.accounting import ALPHAS
from synthera.io import write_table
from tests.helpers import dp_public_metadata as public_metadata
from tests.helpers import make_dp_frame as make_frame
from tests.helpers import one_line_error as _one_line_error

runner = CliRunner()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("private")
    write_table(make_frame(1500), d / "train.csv")
    write_table(make_frame(300, seed=9).drop(columns=["label"]), d / "new.parquet")
    public_metadata().save(d / "public.json")
    return d


def _train(workdir, *extra):
    args = ["train-private", str(workdir / "train.csv"), "--target", "label", *extra]
    return runner.invoke(app, args)


@pytest.fixture(scope="module")
def trained(workdir):
    result = _train(workdir, "--epsilon", "1", "--epochs", "3", "--out", str(workdir / "model"))
    assert result.exit_code == 0, result.stderr
    return result, workdir / "model"


def test_reported_epsilon_equals_an_independent_accountant_computation(trained):
    result, model = trained
    manifest = json.loads((model / "manifest.json").read_text())
    reported = float(re.search(r"ε spent: ([0-9.]+) of 1", result.stdout).group(1))
    sigma, q, steps = manifest["noise_multiplier"], manifest["sample_rate"], manifest["steps"]
    delta_training = manifest["delta_training"]

    opacus = RDPAccountant()
    opacus.history = [(sigma, q, steps)]
    by_opacus = opacus.get_epsilon(delta_training, alphas=list(ALPHAS))
    google = dp_accounting.rdp.RdpAccountant(orders=list(ALPHAS))
    google.compose(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
    by_google = google.get_epsilon(delta_training)

    assert manifest["epsilon_training"] == pytest.approx(by_opacus, rel=1e-12)
    assert manifest["epsilon_training"] == pytest.approx(by_google, rel=1e-6)
    # the domain was estimated under DP (no --metadata): its share adds up by basic composition
    assert manifest["epsilon_domain"] == pytest.approx(0.2)
    assert manifest["epsilon_spent"] == pytest.approx(by_opacus + manifest["epsilon_domain"], rel=1e-12)
    assert reported == pytest.approx(manifest["epsilon_spent"], abs=5e-5)  # printed with 4 decimals
    assert manifest["epsilon_spent"] <= 1.0
    assert manifest["delta"] == pytest.approx(manifest["delta_training"] + manifest["delta_domain"])
    assert manifest["delta"] <= 1e-4 < 1 / 1500
    assert f"δ = {manifest['delta']:.3g}" in result.stdout
    assert manifest["accountant"] == "opacus.accountants.RDPAccountant"


@pytest.mark.parametrize("epsilon", ["0.5", "1"])
@pytest.mark.parametrize("epochs", ["1", "60"])
def test_a_run_never_reports_more_than_asked(workdir, epsilon, epochs):
    out = workdir / f"m-{epsilon}-{epochs}"
    result = _train(workdir, "--epsilon", epsilon, "--epochs", epochs, "--metadata", str(workdir / "public.json"),
                    "--out", str(out))
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["epsilon_spent"] <= float(epsilon)
    assert manifest["epsilon_domain"] == 0  # everything declared public
    assert all(c["source"] == "public" for c in manifest["domain"]["columns"].values())
    assert manifest["domain"]["columns"]["age"]["lower"] == 0 and manifest["domain"]["columns"]["age"]["upper"] == 120


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--epsilon", "0"], ["--epsilon must be > 0"]),
        (["--epsilon", "-1"], ["--epsilon must be > 0"]),
        (["--epsilon", "abc"], ["--epsilon must be a number"]),
        (["--epsilon", "1", "--delta", "1"], ["--delta must lie strictly between 0 and 1"]),
        (["--epsilon", "1", "--delta", "0"], ["--delta must lie strictly between 0 and 1"]),
        (["--epsilon", "1e-7"], ["too small for even one training step", "raise --epsilon"]),
        (["--epsilon", "1", "--epochs", "0"], ["--epochs must be at least 1"]),
    ],
)
def test_bad_parameters_are_one_line_errors(workdir, args, needles):
    _one_line_error(_train(workdir, *args, "--out", str(workdir / "bad")), *needles)
    assert not (workdir / "bad" / "manifest.json").exists()


def test_unknown_target_is_a_one_line_error(workdir):
    result = runner.invoke(app, ["train-private", str(workdir / "train.csv"), "--target", "salary", "--epsilon", "1",
                                 "--out", str(workdir / "bad")])
    _one_line_error(result, "target column 'salary' is not in the data", "label")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_predict_writes_a_label_and_probabilities_that_sum_to_one(trained, workdir, suffix):
    _, model = trained
    out = workdir / f"pred.{suffix}"
    result = runner.invoke(app, ["predict", str(model), "--data", str(workdir / "new.parquet"), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    pred = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
    assert list(pred.columns) == ["prediction", "probability_no", "probability_yes"]
    assert len(pred) == 300
    assert np.allclose(pred[["probability_no", "probability_yes"]].sum(axis=1), 1.0)
    best = np.where(pred["probability_yes"] > pred["probability_no"], "yes", "no")
    assert (pred["prediction"] == best).all()
    assert not list(workdir.glob(f".pred.{suffix}.*"))  # no temporary file left behind


def test_predict_refuses_a_tampered_model_and_missing_columns(trained, workdir, tmp_path):
    import shutil

    _, model = trained
    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["epsilon_spent"] = 0.01
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = runner.invoke(app, ["predict", str(copy), "--data", str(workdir / "new.parquet"),
                                 "--out", str(tmp_path / "p.csv")])
    _one_line_error(result, "privacy claim")
    write_table(make_frame(10).drop(columns=["age"]), tmp_path / "noage.csv")
    result = runner.invoke(app, ["predict", str(model), "--data", str(tmp_path / "noage.csv"),
                                 "--out", str(tmp_path / "p.csv")])
    _one_line_error(result, "column 'age' is missing")


@pytest.mark.parametrize("command", [["train-private"], ["predict"]])
def test_commands_have_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.stdout


def _weights(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".safetensors", ".npz")}


def test_without_seed_two_runs_draw_different_noise(tmp_path):
    write_table(make_frame(400), tmp_path / "train.csv")
    runs = {}
    for name, extra in (("a", []), ("b", []), ("c", ["--seed", "3"]), ("d", ["--seed", "3"])):
        result = runner.invoke(app, ["train-private", str(tmp_path / "train.csv"), "--target", "label", "--epsilon",
                                     "1", "--epochs", "1", "--out", str(tmp_path / name), *extra])
        assert result.exit_code == 0, result.stderr
        runs[name] = _weights(tmp_path / name)
    assert runs["a"], "no weight file found in the model folder"
    assert runs["a"] != runs["b"]  # the DP noise comes from the OS unless a seed is given
    assert runs["c"] == runs["d"]  # and then only in tests: the same seed gives the same model
