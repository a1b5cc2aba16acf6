"""`synthera fit`, `sample` and `models`: the happy path and every user mistake."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from synthera.cli import app
from tests.helpers import one_line_error as _one_line_error

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    data = folder.parent / "german.csv"
    assert runner.invoke(app, ["convert", "dataset:german", str(data)]).exit_code == 0
    result = runner.invoke(app, ["fit", str(data), "--out", str(folder / "m"), "--seed", "1"])
    assert result.exit_code == 0, result.stderr
    assert "fitted cascade on 700 rows" in result.stdout
    return folder / "m"


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".db"])
def test_sample_writes_the_format_of_the_suffix(model_dir, tmp_path, suffix):
    out = tmp_path / f"syn{suffix}"
    result = runner.invoke(app, ["sample", str(model_dir), "--rows", "120", "--out", str(out), "--seed", "3"])
    assert result.exit_code == 0, result.stderr
    from synthera.io import read_table

    df = read_table(out)
    assert df.shape == (120, 21)


def test_sample_with_conditions_and_seed(model_dir, tmp_path):
    args = ["sample", str(model_dir), "-n", "40", "-o", str(tmp_path / "a.csv"), "--seed", "9",
            "--where", "credit=bad", "-w", "foreign_worker=false"]
    assert runner.invoke(app, args).exit_code == 0
    df = pd.read_csv(tmp_path / "a.csv")
    assert (df["credit"] == "bad").all() and (~df["foreign_worker"]).all()
    args[5] = str(tmp_path / "b.csv")
    assert runner.invoke(app, args).exit_code == 0
    assert pd.read_csv(tmp_path / "b.csv").equals(df)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["sample", "{m}", "-n", "5", "-o", "{d}/x.csv", "-w", "credit=great"], ["impossible condition credit=great"]),
        (["sample", "{m}", "-n", "5", "-o", "{d}/x.csv", "-w", "credit"], ["--where expects COLUMN=VALUE"]),
        (["sample", "{m}", "-n", "5", "-o", "{d}/x.csv", "-w", "ghost=1"], ["unknown column 'ghost'"]),
        (["sample", "{m}", "-n", "0", "-o", "{d}/x.csv"], ["--rows must be at least 1"]),
        (["sample", "{d}/missing", "-n", "5", "-o", "{d}/x.csv"], ["model folder not found"]),
        (["sample", "{m}", "-n", "5", "-o", "{d}/x.xlsx"], ["cannot tell which format"]),
        (["fit", "dataset:german", "--out", "{d}/m2", "--model", "magic"], ["unknown model 'magic'"]),
        (["fit", "dataset:german", "--out", "{d}/m2", "--model", "gaussian_copula", "--epochs", "3"],
         ["does not train in epochs"]),
        (["fit", "{d}/missing.csv", "--out", "{d}/m2"], ["file not found"]),
    ],
)
def test_user_mistakes(model_dir, tmp_path, args, needles):
    result = runner.invoke(app, [a.format(m=model_dir, d=tmp_path) for a in args])
    _one_line_error(result, *needles)


def test_fit_refuses_a_file_as_output_before_any_work(tmp_path):
    (tmp_path / "taken").write_text("x")
    _one_line_error(runner.invoke(app, ["fit", "dataset:german", "--out", str(tmp_path / "taken")]), "is a file")


def test_models_lists_the_registry():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    assert "cascade (default)" in result.stdout and "gaussian_copula" in result.stdout


def test_fit_models_declared_sensitive_groups_first(tmp_path):
    from synthera.tabular import load_synthesizer
    from tests.helpers import one_line_error

    data = tmp_path / "german.csv"
    assert runner.invoke(app, ["convert", "dataset:german", str(data)]).exit_code == 0
    result = runner.invoke(app, ["fit", str(data), "--out", str(tmp_path / "m"), "--sensitive", "status_sex"])
    assert result.exit_code == 0, result.stderr
    model = load_synthesizer(tmp_path / "m")
    assert model.get_params()["sensitive"] in (["status_sex"], ("status_sex",))
    assert model.columns_[0] == "status_sex"  # declared groups come first in the cascade's order
    result = runner.invoke(app, ["fit", str(data), "--out", str(tmp_path / "c"), "--model", "gaussian_copula",
                                 "--sensitive", "status_sex"])
    one_line_error(result, "--sensitive")


def test_fit_models_the_sensitive_columns_the_metadata_declares(tmp_path):
    from synthera.metadata import Metadata
    from synthera.tabular import load_synthesizer

    data = tmp_path / "german.csv"
    meta = tmp_path / "german.metadata.json"
    assert runner.invoke(app, ["convert", "dataset:german", str(data)]).exit_code == 0
    assert runner.invoke(app, ["inspect", str(data), "--out", str(meta)]).exit_code == 0
    md = Metadata.load(meta)
    md.sensitive = ["status_sex"]
    meta.write_text(md.to_json())
    assert Metadata.load(meta).sensitive == ["status_sex"]  # saved and read back (format version 3)
    result = runner.invoke(app, ["fit", str(data), "--metadata", str(meta), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.stderr
    model = load_synthesizer(tmp_path / "m")
    assert list(model.get_params()["sensitive"]) == ["status_sex"]
    assert model.columns_[0] == "status_sex"
    result = runner.invoke(app, ["fit", str(data), "--metadata", str(meta), "--out", str(tmp_path / "c"),
                                 "--model", "gaussian_copula"])
    assert result.exit_code == 0, result.stderr
    assert "no special treatment" in " ".join(result.stdout.split())


def test_fit_finds_sensitive_columns_by_name_says_so_and_can_be_told_none(tmp_path):
    from synthera.metadata import Metadata
    from synthera.tabular import load_synthesizer
    from tests.helpers import one_line_error

    data = tmp_path / "german.csv"
    assert runner.invoke(app, ["convert", "dataset:german", str(data)]).exit_code == 0
    result = runner.invoke(app, ["fit", str(data), "--out", str(tmp_path / "auto")])
    assert result.exit_code == 0, result.stderr
    assert "sensitive columns found by name, their groups modelled first: status_sex" in " ".join(result.stdout.split())
    assert load_synthesizer(tmp_path / "auto").columns_[0] == "status_sex"
    result = runner.invoke(app, ["fit", str(data), "--out", str(tmp_path / "none"), "--sensitive", "none"])
    assert result.exit_code == 0, result.stderr
    assert "found by name" not in result.stdout
    model = load_synthesizer(tmp_path / "none")
    assert list(model.get_params()["sensitive"]) == [] and model.columns_[0] != "status_sex"
    one_line_error(runner.invoke(app, ["fit", str(data), "--out", str(tmp_path / "x"), "--sensitive", "none",
                                       "--sensitive", "status_sex"]), "--sensitive none")
    # inspect proposes the same columns in the metadata, and an empty list there means none
    meta = tmp_path / "german.metadata.json"
    result = runner.invoke(app, ["inspect", str(data), "--out", str(meta)])
    assert result.exit_code == 0 and "sensitive: status_sex (found by name" in " ".join(result.stdout.split())
    md = Metadata.load(meta)
    assert md.sensitive == ["status_sex"]
    md.sensitive = []
    meta.write_text(md.to_json())
    result = runner.invoke(app, ["fit", str(data), "--metadata", str(meta), "--out", str(tmp_path / "empty")])
    assert result.exit_code == 0, result.stderr
    assert load_synthesizer(tmp_path / "empty").columns_[0] != "status_sex"


def test_codes_with_leading_zeros_come_back_with_them(tmp_path):
    rng = pd.Series(range(300)).sample(frac=1, random_state=0).to_numpy()
    real = pd.DataFrame({"zip": [f"{z:05d}" for z in (rng % 6) * 17_000 + 2_134],  # 02134, 19134, ...
                         "visits": rng % 9})
    real.to_csv(tmp_path / "real.csv", index=False)
    assert runner.invoke(app, ["fit", str(tmp_path / "real.csv"), "-o", str(tmp_path / "m")]).exit_code == 0
    result = runner.invoke(app, ["sample", str(tmp_path / "m"), "-n", "200", "-o", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.stderr
    lines = (tmp_path / "s.csv").read_text().splitlines()
    zips = {line.split(",")[0] for line in lines[1:]}
    assert "02134" in zips and zips <= set(real["zip"])


def test_trees_fits_the_cascade_with_a_forest_and_is_refused_where_it_does_not_apply(tmp_path):
    from synthera.tabular import load_synthesizer
    from synthera.tabular.cascade import tree_members

    real = pd.DataFrame({"x": [i % 37 for i in range(400)], "y": [f"c{i % 5}" for i in range(400)]})
    real.to_csv(tmp_path / "real.csv", index=False)
    result = runner.invoke(app, ["fit", str(tmp_path / "real.csv"), "-o", str(tmp_path / "m"), "--trees", "3"])
    assert result.exit_code == 0, result.stderr
    model = load_synthesizer(tmp_path / "m")
    assert model.n_trees == 3 and max(len(tree_members(t)) for t in model.trees_) == 3
    for args, needle in ((["--trees", "0"], "--trees must be at least 1; got 0"),
                         (["--trees", "2", "--model", "gaussian_copula"], "takes no --trees"),
                         (["--trees", "2", "--sequence-key", "y", "--sequence-index", "x"], "--trees applies to one")):
        result = runner.invoke(app, ["fit", str(tmp_path / "real.csv"), "-o", str(tmp_path / "n"), *args])
        _one_line_error(result, needle)
