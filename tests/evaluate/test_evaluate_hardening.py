"""Issue 15, the evaluate side: replayed values, date steps, tiny inputs, refused arguments, wide tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import synthera.cli.evaluate  # noqa: F401  registers the command
from synthera.cli import app
from synthera.errors import DataError, UserInputError
from synthera.evaluate import evaluate
from tests.helpers import make_people, one_line_error

FAST = ["column_shapes", "exact_copy_rate", "replayed_values"]


def _luhn_cards(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct Luhn-valid 16-digit card numbers, as integers."""
    cards = set()
    while len(cards) < n:
        digits = [4, *rng.integers(0, 10, 14).tolist()]
        total = 0
        for i, d in enumerate(reversed(digits)):  # the check digit will sit right of these
            d = d * 2 if i % 2 == 0 else d
            total += d - 9 if d > 9 else d
        cards.add(int("".join(map(str, digits)) + str((10 - total % 10) % 10)))
    return np.array(sorted(cards), dtype=np.int64)


def _with_personal_columns(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = df.copy()
    out["card"] = rng.permutation(_luhn_cards(len(df), rng))
    out["phone"] = rng.permutation(np.unique(rng.integers(2_000_000_000, 9_999_999_999, 2 * len(df)))[: len(df)])
    return out


# --------------------------------------------------------------------------- item 2: real values replayed


def test_a_synthetic_table_that_copies_real_cards_and_phones_is_flagged():
    real = _with_personal_columns(make_people(200, 1), 1)
    fresh = _with_personal_columns(make_people(200, 3), 3)
    leaky = fresh.copy()
    leaky["card"] = real["card"].sample(frac=1, random_state=0).to_numpy()
    leaky["phone"] = real["phone"].sample(frac=1, random_state=1).to_numpy()

    report = evaluate(real, leaky, metrics=FAST)
    replayed = report["privacy"]["replayed_values"]
    for col in ("card", "phone"):
        assert replayed[col]["flagged"], replayed[col]
        assert replayed[col]["rare_replayed_cells"] == 200 and replayed[col]["replayed_share"] == 1.0
    assert not replayed["hours"]["flagged"] and not replayed["sex"]["flagged"]
    warning = next(line for line in report.headline if line.startswith("Privacy warning"))
    assert "'card' (200 of 200" in warning and "'phone'" in warning
    copy_line = next(line for line in report.headline if line.startswith("Privacy:"))
    assert "yet single columns replay real values" in copy_line
    assert "Privacy warning" in json.loads(report.to_json())["headline"][0]

    clean = evaluate(real, fresh, metrics=FAST)
    assert not any(e["flagged"] for e in clean["privacy"]["replayed_values"].values())
    assert not any(line.startswith("Privacy warning") for line in clean.headline)


def test_replayed_personal_data_and_ids_are_flagged_but_row_numbers_are_not():
    from synthera.metadata import ColumnMetadata, infer_metadata

    real = make_people(120, 1)
    syn = make_people(120, 2)
    real["email"] = [f"person{i}@example.org" for i in range(120)]
    syn["email"] = [f"person{i}@example.org" if i < 3 else f"fake{i}@example.net" for i in range(120)]
    real["row"], syn["row"] = np.arange(1, 121), np.random.default_rng(0).permutation(np.arange(1, 121))
    real["account"] = [f"AC{i * 7919 % 100000:05d}" for i in range(120)]
    syn["account"] = real["account"].to_numpy()[::-1]
    md = infer_metadata(real)
    md.columns["email"] = ColumnMetadata(kind="pii", pii_type="email")
    md.columns["row"] = ColumnMetadata(kind="id", integer=True)
    md.columns["account"] = ColumnMetadata(kind="id")

    replayed = evaluate(real, syn, metadata=md, metrics=FAST)["privacy"]["replayed_values"]
    assert replayed["email"]["flagged"] and replayed["email"]["replayed_cells"] == 3
    assert replayed["account"]["flagged"]
    assert not replayed["row"]["flagged"]  # 1..n in both tables identifies no one


def test_a_high_cardinality_number_on_a_coarse_grid_is_not_flagged_by_chance():
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"amount": rng.integers(0, 300, 2000), "g": rng.choice(list("ab"), 2000)})
    syn = pd.DataFrame({"amount": rng.integers(0, 300, 2000), "g": rng.choice(list("ab"), 2000)})
    hold = pd.DataFrame({"amount": rng.integers(0, 300, 2000), "g": rng.choice(list("ab"), 2000)})
    for holdout in (None, hold):
        entry = evaluate(real, syn, holdout=holdout, metrics=FAST)["privacy"]["replayed_values"]["amount"]
        assert not entry["flagged"], entry


# --------------------------------------------------------------------------- item 11: date steps


def test_datetime_step_match_sees_monthly_dates_given_random_days():
    rng = np.random.default_rng(0)
    months = pd.date_range("2015-01-01", periods=60, freq="MS")
    real = pd.DataFrame({"when": rng.choice(months, 300), "x": rng.normal(size=300)})
    real["when"] = real["when"].dt.strftime("%Y-%m-%d")
    monthly = real.sample(frac=1, random_state=1).reset_index(drop=True)
    monthly["x"] = rng.normal(size=300)
    daily = monthly.copy()
    shifted = pd.to_datetime(daily["when"]) + pd.to_timedelta(rng.integers(0, 28, 300), unit="D")
    daily["when"] = shifted.dt.strftime("%Y-%m-%d")

    good = evaluate(real, monthly, metrics=["column_shapes", "datetime_step_match"])
    bad = evaluate(real, daily, metrics=["column_shapes", "datetime_step_match"])
    assert good["fidelity"]["datetime_step_match"]["when"] == {"step": "month", "share": 1.0, "synthetic_values": 300}
    entry = bad["fidelity"]["datetime_step_match"]["when"]
    assert entry["step"] == "month" and entry["share"] < 0.2
    assert any("'when' lose the real data's month step" in line for line in bad.headline)
    assert not any("step" in line for line in good.headline)


def test_datetime_step_of_hourly_stamps():
    from synthera.evaluate.fidelity import datetime_step

    hourly = pd.Series(pd.date_range("2024-03-01 05:00", periods=50, freq="h"))
    assert datetime_step(hourly) == "hour"
    assert datetime_step(hourly + pd.Timedelta(seconds=7)) == "second"
    assert datetime_step(pd.Series(pd.to_datetime(["2020-01-01", "2021-01-01"]))) == "year"


# --------------------------------------------------------------------------- item 15: tiny inputs


def test_a_one_row_holdout_gives_no_confident_utility_headline(people):
    real, holdout, syn = people
    report = evaluate(real, syn, holdout=holdout.head(1), target="income")
    skipped = {s["metric"]: s["reason"] for s in report.results["skipped"]}
    assert "utility" in skipped and "has 1 row" in skipped["utility"] and "50" in skipped["utility"]
    assert report["utility"] == {}
    assert report.headline[0].startswith("Too few rows") and "holdout table has 1 row" in report.headline[0]
    assert not any("Models trained" in line or "accuracy" in line for line in report.headline)


def test_five_synthetic_rows_get_no_detection_verdict(people):
    real, _, syn = people
    report = evaluate(real, syn.head(5))
    assert report["fidelity"].get("detection_auc") is None
    assert "detection_auc" in {s["metric"] for s in report.results["skipped"]}
    assert not any("classifier" in line for line in report.headline)
    assert "synthetic table has 5 rows" in report.headline[0]


def test_utility_scores_come_with_bootstrap_intervals(people):
    real, holdout, syn = people
    report = evaluate(real, syn, holdout=holdout, target="income", metrics=["utility"])
    row = report["utility"]["models"]["lightgbm"]
    for source in ("trtr", "tstr"):
        for score in ("accuracy", "roc_auc"):
            lo, hi = row[f"{source}_interval"][score]
            assert lo < row[source][score] < hi and hi - lo < 0.2
    assert any("95% interval" in line for line in report.headline)


def test_headline_says_plainly_when_synthetic_rows_are_weak_for_training(people):
    real, holdout, syn = people
    noise = syn.copy()
    noise["income"] = noise["income"].sample(frac=1, random_state=0).to_numpy()  # no link left to the features
    weak = evaluate(real, noise, holdout=holdout, target="income", metrics=["utility"])
    line = next(x for x in weak.headline if "much weaker" in x)
    assert line.startswith("Models trained on the synthetic rows are much weaker than on real rows (ROC AUC 0.")
    good = evaluate(real, syn, holdout=holdout, target="income", metrics=["utility"])
    assert not any("much weaker" in x for x in good.headline)


# --------------------------------------------------------------------------- item 16: arguments refused up front


def test_a_numerical_sensitive_column_is_refused_with_the_same_line_as_bias(people):
    from synthera.bias.analysis import analyze_bias

    real, holdout, syn = people
    with pytest.raises(UserInputError) as from_evaluate:
        evaluate(real, syn, holdout=holdout, target="income", sensitive=("age",))
    with pytest.raises(UserInputError) as from_bias:
        analyze_bias(real, target="income", sensitive=["age"])
    assert str(from_evaluate.value) == str(from_bias.value)
    assert "'age' is numerical" in str(from_evaluate.value)


def test_other_arguments_nothing_can_be_computed_with_are_refused(people):
    real, holdout, syn = people
    many = real.assign(city=[f"c{i % 60}" for i in range(len(real))])
    with pytest.raises(UserInputError, match="has 60 groups"):
        evaluate(many, syn.assign(city="c1"), holdout=holdout.assign(city="c1"), target="income", sensitive=("city",))
    with pytest.raises(DataError, match="fewer than two classes"):
        evaluate(real.assign(income="<=50K"), syn, holdout=holdout, target="income")
    with pytest.raises(UserInputError, match="fairness needs a categorical target"):
        evaluate(real, syn, holdout=holdout, target="hours", sensitive=("sex",))
    assert evaluate(real, syn, holdout=holdout, target="hours",
                    metrics=["utility"])["utility"]["task"]["kind"] == "regression"


@pytest.fixture
def files(people, tmp_path):
    paths = {}
    for name, df in zip(("real", "holdout", "synthetic"), people, strict=True):
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    return paths


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--target", "income", "--sensitive", "age"], ["sensitive column 'age' is numerical", "bin it"]),
        (["--target", "incom"], ["--target column 'incom' is not in the data"]),
        (["--target", "hours", "--sensitive", "sex"], ["fairness needs a categorical target"]),
    ],
)
def test_cli_refuses_bad_arguments_with_one_line_and_exit_2(files, tmp_path, extra, needles):
    out = tmp_path / "o"
    result = CliRunner().invoke(app, [
        "evaluate", "--real", str(files["real"]), "--synthetic", str(files["synthetic"]),
        "--holdout", str(files["holdout"]), "--out", str(out), *extra,
    ])
    one_line_error(result, *needles)
    assert not (out / "results.json").exists()


# --------------------------------------------------------------------------- item 7: output folder, encoding


def test_cli_refuses_an_unwritable_out_folder_before_reading(files, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    result = CliRunner().invoke(app, [
        "evaluate", "--real", str(tmp_path / "not-read-yet.csv"), "--synthetic", str(files["synthetic"]),
        "--out", str(blocker / "report"),
    ])
    one_line_error(result, "cannot write to")


def test_cli_reads_latin1_tables_with_encoding(tmp_path):
    rng = np.random.default_rng(0)
    frames = [pd.DataFrame({"city": rng.choice(["Zürich", "Genève", "Köln"], 120), "x": rng.normal(size=120)})
              for _ in range(2)]
    paths = []
    for i, df in enumerate(frames):
        paths.append(tmp_path / f"t{i}.csv")
        df.to_csv(paths[-1], index=False, encoding="latin-1")
    out = tmp_path / "o"
    args = ["evaluate", "--real", str(paths[0]), "--synthetic", str(paths[1]), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--encoding", "latin-1"])
    assert result.exit_code == 0, result.output
    shapes = json.loads((out / "results.json").read_text())["fidelity"]["per_column"]
    assert shapes["city"]["score"] > 0.8


# --------------------------------------------------------------------------- item 19: wide tables


def _wide(rows: int, cols: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f"c{i}": rng.normal(size=rows).round(2) if i % 2 else rng.choice(list("abcd"), rows)
                         for i in range(cols)})


def test_a_wide_table_keeps_results_json_bounded_and_every_pair_in_parquet(tmp_path):
    from synthera.evaluate.fidelity import MAX_JSON_PAIRS

    real, syn = _wide(60, 200, 1), _wide(60, 200, 2)
    report = evaluate(real, syn, metrics=["column_pair_trends"])
    written = report.save(tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    fid = data["fidelity"]
    assert len(fid["column_pairs"]) <= MAX_JSON_PAIRS
    summary = fid["column_pairs_summary"]
    assert summary["pairs_total"] == summary["pairs_scored"] == 200 * 199 // 2 and not summary["sampled"]
    pairs = pd.read_parquet(tmp_path / "column_pairs.parquet")
    assert len(pairs) == 200 * 199 // 2 and tmp_path / "column_pairs.parquet" in written
    assert fid["column_pair_trends"] == pytest.approx(pairs["score"].mean())
    listed = [p["score"] for p in fid["column_pairs"]]
    assert min(listed) == pytest.approx(pairs["score"].min()) and max(listed) == pytest.approx(pairs["score"].max())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert "the first 40 of 200 columns" in (tmp_path / "report.html").read_text()


def test_pairs_beyond_the_bound_are_sampled_and_say_so(monkeypatch):
    from synthera.evaluate import fidelity

    monkeypatch.setattr(fidelity, "MAX_PAIRS", 300)
    real, syn = _wide(80, 60, 1), _wide(80, 60, 2)
    report = evaluate(real, syn, metrics=["column_pair_trends"])
    summary = report["fidelity"]["column_pairs_summary"]
    assert summary["sampled"] and summary["pairs_scored"] == 300 and summary["pairs_total"] == 60 * 59 // 2
    table = report.tables["column_pairs"]
    assert len(table) >= 300 and not table.duplicated(["column_1", "column_2"]).any()
    heat = report.plots["column_pair_trends"]
    assert len(heat["pairs"]) == 40 * 39 // 2  # the heatmap's block is complete even when sampled


def test_mixed_utc_offsets_are_evaluated_on_their_wall_clock_step():
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=100, freq="D").strftime("%Y-%m-%dT%H:%M:%S").to_numpy()
    offsets = rng.choice(["+01:00", "+02:00", "-05:00"], 200)
    real = pd.DataFrame({"at": [f"{d}{o}" for d, o in zip(rng.choice(days, 200), offsets, strict=True)],
                         "x": rng.normal(size=200)})
    syn = real.sample(frac=1, random_state=2).reset_index(drop=True)
    report = evaluate(real, syn, metrics=["column_shapes", "datetime_step_match"])
    assert report.results["errors"] == []
    assert report["fidelity"]["datetime_step_match"]["at"]["step"] in ("day", "hour")  # the metadata may count in UTC
    assert report["fidelity"]["datetime_step_match"]["at"]["share"] == 1.0


def test_tables_the_model_accepts_are_evaluated_too():
    """A few unreadable cells and thousands separators: inference and fit accept them, so must evaluate."""
    import warnings

    import numpy as np
    import pandas as pd

    import synthera
    from synthera.errors import SyntheraWarning

    rng = np.random.default_rng(0)
    n = 200
    amounts = [f"{v:,.2f}" for v in rng.uniform(1000, 90000, n)]
    ages = [str(v) for v in rng.integers(18, 90, n)]
    ages[5] = "unknown"
    real = pd.DataFrame({"amount": amounts, "age": ages, "group": rng.choice(["a", "b"], n)})
    synthetic = real.sample(frac=1.0, random_state=1).reset_index(drop=True)
    synthetic["age"] = [str(v) for v in rng.integers(18, 90, n)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = synthera.evaluate(real, synthetic)
    column = report.results["fidelity"]["per_column"]["amount"]
    assert column["kind"] == "numerical" and column["score"] > 0.5
    messages = [str(w.message) for w in caught if issubclass(w.category, SyntheraWarning)]
    assert any("'age'" in m and "1 values" in m for m in messages), messages
    assert not any("unknown" in m for m in messages)
