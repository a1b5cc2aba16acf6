"""synthera hf-eval: a run end to end, and one-line errors for every user mistake."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synthera.cli import app
from tests.helpers import make_hf_frame as make_frame
from tests.helpers import one_line_error

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    make_frame(40, 0).to_csv(tmp_path / "real.csv", index=False)
    make_frame(40, 1).to_csv(tmp_path / "syn.csv", index=False)
    make_frame(20, 2).to_csv(tmp_path / "test.csv", index=False)
    make_frame(40, 1).drop(columns="label").to_csv(tmp_path / "syn_no_target.csv", index=False)
    return tmp_path


def args(files, *extra):
    return ["hf-eval", "--real", str(files / "real.csv"), "--synthetic", str(files / "syn.csv"),
            "--test", str(files / "test.csv"), "--target", "label", "--out", str(files / "out"), *extra]


def test_help():
    result = runner.invoke(app, ["hf-eval", "--help"])
    assert result.exit_code == 0 and "--from-scratch" in result.stdout and "--max-rows" in result.stdout


def test_a_run_writes_the_results(files, tiny_bert):
    result = runner.invoke(app, args(files, "--model", tiny_bert, "--epochs", "2", "--batch-size", "8",
                                     "--lr", "3e-3", "--max-length", "32", "--threads", "1", "--device", "cpu",
                                     "--max-rows", "30", "--exclude", "age", "--class-weight", "balanced"))
    assert result.exit_code == 0, result.stderr
    assert "| Model | on real | on synthetic |" in result.stdout
    data = json.loads((files / "out" / "results.json").read_text())
    run = data["models"][0]["runs"]["real"]
    assert run["train_rows"] + run["validation_rows"] == 30
    assert run["class_weights"] is not None
    assert data["template"]["exclude"] == ["age"] and "age" not in data["example_text"]
    for name in ("results.md", "report.html", "curves.png"):
        assert (files / "out" / name).is_file()


@pytest.mark.parametrize(("extra", "needles"), [
    (["--max-rows", "0"], ["--max-rows must be a whole number >= 10"]),
    (["--max-rows", "lots"], ["--max-rows", "integer"]),
    (["--epochs", "0"], ["--epochs must be a whole number >= 1"]),
    (["--epochs", "2.5"], ["--epochs"]),
    (["--lr", "-1"], ["--learning-rate must lie in (0, 1)"]),
    (["--seed", "-1"], ["--seed must be a whole number >= 0"]),
    (["--max-length", "4"], ["--max-length must be a whole number >= 8"]),
    (["--class-weight", "heavy"], ["--class-weight must be 'none' or 'balanced'"]),
    (["--from-scratch", "gpt9"], ["unknown --from-scratch architecture 'gpt9'", "roberta, distilbert"]),
    (["--validation-fraction", "0.9"], ["--validation-fraction"]),
])
def test_bad_values_are_one_line_errors(files, tiny_bert, extra, needles):
    one_line_error(runner.invoke(app, args(files, "--model", tiny_bert, *extra)), *needles)


def test_unknown_model_offline(files, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = runner.invoke(app, args(files, "--model", "roberta-base"))
    one_line_error(result, "'roberta-base'", "impossible offline", "local model folder")


def test_missing_model_folder(files):
    one_line_error(runner.invoke(app, args(files, "--model", str(files / "no-model"))), "model folder not found")


def test_missing_file(files, tiny_bert):
    a = args(files, "--model", tiny_bert)
    a[a.index("--real") + 1] = str(files / "nope.csv")
    one_line_error(runner.invoke(app, a), "nope.csv")


def test_unknown_target(files, tiny_bert):
    a = args(files, "--model", tiny_bert)
    a[a.index("--target") + 1] = "lable"
    one_line_error(runner.invoke(app, a), "unknown target column 'lable'")


def test_target_missing_from_synthetic(files, tiny_bert):
    a = args(files, "--model", tiny_bert)
    a[a.index("--synthetic") + 1] = str(files / "syn_no_target.csv")
    one_line_error(runner.invoke(app, a), "target column 'label' is missing from the synthetic table")


def test_template_naming_the_target(files, tiny_bert):
    one_line_error(runner.invoke(app, args(files, "--model", tiny_bert, "--template", "{color} {label}")),
                   "target column {label}")


def test_out_is_a_file(files, tiny_bert):
    (files / "out").write_text("x")
    one_line_error(runner.invoke(app, args(files, "--model", tiny_bert)), "is a file")
