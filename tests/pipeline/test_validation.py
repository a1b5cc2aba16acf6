"""The whole file is checked before any step runs; each problem is one line naming the file, the line and the fix."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from synthera.cli import app
from tests.helpers import one_line_error

runner = CliRunner()

HEAD = """\
workspace: ws
source:
  table: people.csv
"""
FIT = """\
  - id: fit
    kind: fit
    params:
      model: gaussian_copula
"""
SAMPLE = """\
  - id: sample
    kind: sample
    reads:
      model: fit.model
    params:
      rows: 50
"""

#: (name, file text, line named, words the one line must hold)
CASES = [
    ("unknown top key", HEAD + "workspce: x\nsteps:\n" + FIT, 4, ["unknown key 'workspce'", "remove it"]),
    ("missing workspace", "source:\n  table: people.csv\nsteps:\n" + FIT, 1, ["workspace: is required", "add it"]),
    ("wrong type", HEAD + "steps:\n" + FIT + SAMPLE.replace("rows: 50", "rows: many"), 14,
     ["steps.1.params.rows", "whole number"]),
    ("unknown param", HEAD + "steps:\n" + FIT + "      epohcs: 3\n", 9, ["unknown key 'epohcs'"]),
    ("unknown kind", HEAD + "steps:\n  - id: x\n    kind: synthesise\n", 6, ["unknown step kind 'synthesise'",
                                                                          "use one of"]),
    ("reads a later step", HEAD + "steps:\n" + SAMPLE + FIT, 8, ["'fit.model' names no output of an earlier step",
                                                                "put the step that writes it first"]),
    ("unknown output", HEAD + "steps:\n" + FIT + SAMPLE.replace("fit.model", "fit.table"), 12,
     ["step 'fit' writes no 'table'", "it writes model"]),
    ("missing input", HEAD + "steps:\n" + FIT + SAMPLE.replace("    reads:\n      model: fit.model\n", ""), 9,
     ["needs input 'model'", "add reads"]),
    ("unknown input", HEAD + "steps:\n" + FIT + "    reads:\n      dataa: source\n", 10,
     ["fit reads no 'dataa'", "it reads data"]),
    ("over budget", HEAD + "privacy:\n  epsilon: 1.5\nsteps:\n" + FIT.replace("gaussian_copula", "dp_marginals")
     + "      epsilon: 1\n  - id: clf\n    kind: train-private\n    params:\n      target: income\n      epsilon: 1\n",
     5, ["fit 1 + clf 1 = 2", "more than the declared total 1.5", "lower a step's epsilon or raise the total"]),
    ("dp model without epsilon", HEAD + "steps:\n" + FIT.replace("gaussian_copula", "dp_marginals"), 8,
     ["dp_marginals model is differentially private and needs epsilon"]),
    ("trees without trees", HEAD + "steps:\n" + FIT + "      trees: 5\n", 9,
     ["the gaussian_copula model has no trees", "use model: cascade"]),
    ("duplicate id", HEAD + "steps:\n" + FIT + FIT, 9, ["'fit' is used twice"]),
    ("literal key", HEAD + "steps:\n  - id: submit\n    kind: flock-submit\n    params:\n      task_id: 7\n"
     "      repo_id: me/m\n      revision: abc\n      base_model: qwen1.5\n      api_key: flk-0123456789abcdef\n", 12,
     ["api_key: a secret is written in the file", "api_key_env"]),
    ("key in api_key_env", HEAD + "steps:\n  - id: submit\n    kind: flock-submit\n    params:\n      task_id: 7\n"
     "      repo_id: me/m\n      revision: abc\n      base_model: qwen1.5\n"
     "      api_key_env: sk-proj-AbCdEf0123456789xyzXYZ\n",
     12, ["api_key_env"]),
    ("bad yaml", HEAD + "steps:\n  - id: fit\n   kind: fit\n", 6, ["not valid YAML", "indentation"]),
    ("two sources", HEAD + "  database: shop.db\nsteps:\n" + FIT, 2, ["give exactly one of table", "or database"]),
    ("no test table", HEAD + "steps:\n" + FIT + SAMPLE
     + "  - id: hf\n    kind: hf-eval\n    reads:\n      synthetic: sample.table\n    params:\n      target: income\n",
     17, ["reads source.test but the source declares no test table", "add source.test"]),
    ("bad step id", HEAD + "steps:\n  - id: My Fit\n    kind: fit\n", 5, ["steps.0.id"]),
    ("negative budget", HEAD + "privacy:\n  epsilon: -1\nsteps:\n" + FIT, 5, ["privacy.epsilon", "greater than 0"]),
    ("no steps", HEAD + "steps: []\n", 4, ["steps", "add at least one"]),
]


@pytest.mark.parametrize(("name", "text", "line", "needles"), CASES, ids=[c[0] for c in CASES])
def test_each_malformed_file_gives_one_line_with_its_line_number(tmp_path, small_table, name, text, line, needles):
    file = tmp_path / "p.yaml"
    file.write_text(text)
    (tmp_path / "people.csv").write_bytes(small_table.read_bytes())
    result = runner.invoke(app, ["run", str(file)])
    one_line_error(result, f"{file}:{line}: ", *needles)
    assert not (tmp_path / "ws" / "run.jsonl").exists(), "a step ran before the file was checked"


def test_every_problem_of_a_file_is_listed_at_once(tmp_path, small_table):
    file = tmp_path / "p.yaml"
    file.write_text(HEAD + "steps:\n" + FIT + "      epohcs: 3\n" + SAMPLE.replace("rows: 50", "rows: -1"))
    result = runner.invoke(app, ["run", str(file), "--dry-run"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {file}:") for line in lines), lines
    assert ":9: " in lines[0] and ":15: " in lines[1]


def test_a_missing_file_is_one_line(tmp_path):
    one_line_error(runner.invoke(app, ["run", str(tmp_path / "nope.yaml")]), "no such pipeline file",
                   "synthera init")


def test_step_kinds_are_registered_explicitly_and_never_replaced_by_accident():
    from synthera.pipeline import STEP_KINDS, StepKind, register_step

    assert {"inspect", "fit", "sample", "evaluate", "bias", "train-private", "hf-eval", "text-generate",
            "text-finetune", "text-evaluate", "flock-submit", "relational-fit", "relational-sample",
            "relational-evaluate"} <= set(STEP_KINDS)
    fit = STEP_KINDS["fit"]
    with pytest.raises(ValueError, match="already registered"):
        register_step(StepKind("fit", fit.params, fit.run, reads={}, writes={}))
    assert STEP_KINDS["fit"] is fit


@pytest.mark.parametrize(("extra", "needle"), [
    ("workers: 0\n", "workers: Input should be greater than or equal to 1"),
    ("scheduler: localhost\n", "must be a Dask scheduler address"),
    ("workers: 2\nscheduler: tcp://h:8786\n", "either workers"),
])
def test_scale_out_settings_are_checked(tmp_path, small_table, extra, needle):
    file = tmp_path / "p.yaml"
    file.write_text(HEAD + extra + "steps:\n" + FIT)
    (tmp_path / "people.csv").write_bytes(small_table.read_bytes())
    one_line_error(runner.invoke(app, ["run", str(file)]), f"{file}:", needle)
    file.write_text(HEAD + "steps:\n" + FIT)
    one_line_error(runner.invoke(app, ["run", str(file), "--workers", "0"]), "--workers must be a whole number")
