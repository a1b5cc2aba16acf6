"""`synthera inspect / fit / sample / evaluate` on a long table of events, and `sample --where` on a database."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from synthera.cli import app
from tests.helpers import one_line_error
from tests.sequences.conftest import make_histories

runner = CliRunner()


def _flat(text: str) -> str:
    """Printed text with the console's line wrapping undone."""
    return " ".join(text.split())


def _ok(result):
    assert result.exit_code == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """visits.csv (80 patients, shuffled rows), its holdout (40 other patients), metadata from inspect, a model."""
    folder = tmp_path_factory.mktemp("seq")
    make_histories(80).sample(frac=1.0, random_state=0).to_csv(folder / "visits.csv", index=False)
    make_histories(40, seed=7).assign(patient=lambda d: d["patient"] + 1000).to_csv(folder / "hold.csv", index=False)
    inspected = _ok(runner.invoke(app, ["inspect", str(folder / "visits.csv"), "--out", str(folder / "m.json")]))
    fitted = _ok(runner.invoke(app, ["fit", str(folder / "visits.csv"), "--metadata", str(folder / "m.json"),
                                     "--out", str(folder / "model"), "--seed", "0"]))
    return {"dir": folder, "inspect": inspected, "fit": fitted}


def test_inspect_proposes_key_index_and_constraints_and_writes_them(files):
    out = _flat(files["inspect"].stdout)
    assert "sequence_key: patient (proposed: 80 entities" in out
    assert "sequence_index: date (proposed: dates" in out
    assert "constraint: part <= whole" in out
    md = json.loads((files["dir"] / "m.json").read_text())
    assert md["format_version"] == 3
    assert (md["sequence_key"], md["sequence_index"]) == ("patient", "date")
    assert {"low": "part", "high": "whole"} in md["constraints"]


def test_fit_with_metadata_fits_the_sequence_model_and_says_the_input_was_sorted_once(files):
    result = files["fit"]
    assert "fitted the sequence model on 80 histories" in _flat(result.stdout)
    assert "constraints kept: part <= whole" in _flat(result.stdout)
    warned = [line for line in result.stderr.splitlines() if "not sorted" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: ")


def test_sample_entities_seed_and_where(files, tmp_path):
    model = str(files["dir"] / "model")
    args = ["sample", model, "--entities", "25", "--out", str(tmp_path / "a.csv"), "--seed", "0"]
    assert "wrote 25 synthetic histories" in _flat(_ok(runner.invoke(app, args)).stdout)
    a = pd.read_csv(tmp_path / "a.csv")
    assert a["patient"].nunique() == 25 and (a["part"] <= a["whole"]).all()
    args[5] = str(tmp_path / "b.csv")
    _ok(runner.invoke(app, args))
    assert pd.read_csv(tmp_path / "b.csv").equals(a)
    _ok(runner.invoke(app, ["sample", model, "--out", str(tmp_path / "c.csv"), "--seed", "1", "--where", "group=a"]))
    c = pd.read_csv(tmp_path / "c.csv")
    assert c["patient"].nunique() == 80 and set(c["group"]) == {"a"}  # default: as many entities as in training


def test_evaluate_adds_history_metrics_and_plots(files, tmp_path):
    d = files["dir"]
    _ok(runner.invoke(app, ["sample", str(d / "model"), "--out", str(tmp_path / "s.csv"), "--seed", "0"]))
    result = _ok(runner.invoke(app, ["evaluate", "--real", str(d / "visits.csv"), "--synthetic",
                                     str(tmp_path / "s.csv"), "--holdout", str(d / "hold.csv"),
                                     "--model", str(d / "model"), "--out", str(tmp_path / "ev")]))
    assert "Histories (80 synthetic entities): length" in _flat(result.stdout)
    seq = json.loads((tmp_path / "ev" / "results.json").read_text())["sequences"]
    for name in ("length", "gap", "statistic_msas", "inter_row_msas", "coherence"):
        assert 0.0 <= seq[name] <= 1.0, name
    assert seq["privacy"]["exact_copies"] == 0 and 0.0 <= seq["privacy"]["dcr_share"] <= 1.0
    assert {"tstr", "trtr", "metric"} <= set(seq["utility"])
    page = (tmp_path / "ev" / "report.html").read_text()
    assert "<h2>Histories</h2>" in page
    assert 'data-plot="sequence-distributions"' in page and 'data-plot="sequence-histories"' in page


def test_fit_with_flags_and_no_metadata(files, tmp_path):
    result = _ok(runner.invoke(app, ["fit", str(files["dir"] / "visits.csv"), "--out", str(tmp_path / "m"),
                                     "--sequence-key", "patient", "--sequence-index", "date", "--max-length", "50"]))
    assert "fitted the sequence model on 80 histories" in _flat(result.stdout)


@pytest.mark.parametrize(("extra", "needles"), [
    (["--sequence-key", "patient"], ["--sequence-key needs --sequence-index"]),
    (["--sequence-key", "ghost", "--sequence-index", "date"], ["--sequence-key 'ghost' is not a column"]),
    (["--sequence-key", "patient", "--sequence-index", "date", "--max-length", "3"],
     ["entities have more than --max-length=3 events", "raise --max-length"]),
    (["--sequence-key", "patient", "--sequence-index", "date", "--model", "ctgan"],
     ["--model applies to one table", "sequence model"]),
    (["--max-length", "5"], ["--max-length applies to a sequence model"]),
])
def test_fit_mistakes_are_one_line(tmp_path, extra, needles):
    make_histories(40).to_csv(tmp_path / "sorted.csv", index=False)  # sorted: no warning before the error
    result = runner.invoke(app, ["fit", str(tmp_path / "sorted.csv"), "--out", str(tmp_path / "m"), *extra])
    one_line_error(result, *needles)


def test_single_event_entities_refused_and_duplicates_kept_with_one_warning(tmp_path):
    df = make_histories(60).sort_values(["patient", "date"])
    df.groupby("patient").head(1).to_csv(tmp_path / "single.csv", index=False)
    flags = ["--sequence-key", "patient", "--sequence-index", "date"]
    one_line_error(runner.invoke(app, ["fit", str(tmp_path / "single.csv"), "--out", str(tmp_path / "m1"), *flags]),
                   "every entity has a single event")
    pd.concat([df, df.iloc[:12]]).sort_values(["patient", "date"], kind="stable").to_csv(tmp_path / "dup.csv",
                                                                                          index=False)
    result = _ok(runner.invoke(app, ["fit", str(tmp_path / "dup.csv"), "--out", str(tmp_path / "m2"), *flags]))
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 1 and "12 events share their index" in warned[0]


@pytest.mark.parametrize(("extra", "needles"), [
    (["--rows", "5"], ["this is a sequence model", "--entities", "drop --rows"]),
    (["--entities", "0"], ["--entities must be at least 1"]),
    (["--where", "score=1"], ["--where may name per-entity columns only", "'score'"]),
    (["--balance", "group"], ["--balance applies to one table; this is a sequence model"]),
    (["--scale", "2"], ["--scale applies to database models"]),
])
def test_sample_mistakes_are_one_line(files, tmp_path, extra, needles):
    result = runner.invoke(app, ["sample", str(files["dir"] / "model"), "--out", str(tmp_path / "x.csv"), *extra])
    one_line_error(result, *needles)


def test_entities_on_a_row_model_is_one_line(files, tmp_path):
    plain = tmp_path / "plain.csv"
    pd.read_csv(files["dir"] / "visits.csv").drop(columns=["patient"]).head(200).to_csv(plain, index=False)
    _ok(runner.invoke(app, ["fit", str(plain), "--out", str(tmp_path / "rows")]))
    result = runner.invoke(app, ["sample", str(tmp_path / "rows"), "--entities", "5", "--out", str(tmp_path / "x.csv")])
    one_line_error(result, "--entities applies to sequence models", "--rows")


# --------------------------------------------------------------------------- --where on a database model


@pytest.fixture(scope="module")
def shop_model(tmp_path_factory):
    from synthera.relational import write_database
    from tests.relational.conftest import shop

    folder = tmp_path_factory.mktemp("shop")
    tables, schema = shop(n_customers=60)
    write_database(tables, schema, folder / "shop.db")
    _ok(runner.invoke(app, ["fit", str(folder / "shop.db"), "--out", str(folder / "shop-model")]))
    return folder / "shop-model"


def test_where_on_a_database_conditions_that_table(shop_model, tmp_path):
    from synthera.relational import read_database

    out = tmp_path / "synthetic.db"
    _ok(runner.invoke(app, ["sample", str(shop_model), "--where", "customers.country=FR", "--out", str(out),
                            "--seed", "0"]))
    tables, _ = read_database(out)
    assert len(tables["customers"]) > 0 and set(tables["customers"]["country"]) == {"FR"}
    assert tables["orders"]["customer_id"].isin(tables["customers"]["id"]).all()


@pytest.mark.parametrize(("where", "needles"), [
    ("country=FR", ["--where on a database model takes TABLE.COLUMN=VALUE", "'country' names no table"]),
    ("ghost.country=FR", ["unknown table 'ghost' in --where", "customers"]),
    ("customers.planet=Mars", ["table 'customers' has no column 'planet' (in --where)"]),
    ("customers.country=Atlantis", ["impossible condition"]),
])
def test_where_mistakes_on_a_database_are_one_line(shop_model, tmp_path, where, needles):
    result = runner.invoke(app, ["sample", str(shop_model), "--where", where, "--out", str(tmp_path / "x.db")])
    one_line_error(result, *needles)


@pytest.mark.parametrize(("extra", "needles"), [
    (["--sequence-key", "patient"], ["--sequence-key needs --sequence-index"]),
    (["--sequence-key", "ghost", "--sequence-index", "date"], ["the --real table has no column 'ghost'"]),
    (["--model", "{d}"], ["--model", "is not a model folder"]),
])
def test_evaluate_mistakes_are_one_line(files, tmp_path, extra, needles):
    d = files["dir"]
    extra = [a.replace("{d}", str(tmp_path)) for a in extra]
    result = runner.invoke(app, ["evaluate", "--real", str(d / "hold.csv"), "--synthetic", str(d / "hold.csv"),
                                 "--out", str(tmp_path / "ev"), *extra])
    one_line_error(result, *needles)


def test_evaluate_reads_the_sequence_from_the_metadata(files, tmp_path):
    d = files["dir"]
    result = _ok(runner.invoke(app, ["evaluate", "--real", str(d / "visits.csv"), "--synthetic", str(d / "hold.csv"),
                                     "--metadata", str(d / "m.json"), "--out", str(tmp_path / "ev")]))
    seq = json.loads((tmp_path / "ev" / "results.json").read_text())["sequences"]
    assert seq["sequence_key"] == "patient" and "privacy" not in seq  # no holdout: no history privacy
    assert "Histories (40 synthetic entities)" in _flat(result.stdout)


def test_a_csv_with_dates_in_its_own_format_gets_them_back_in_that_format_and_order(tmp_path):
    visits = make_histories(80)
    stay = pd.to_timedelta(visits["patient"] % 9, unit="D")
    visits = visits.assign(leave=(visits["date"] + stay).dt.strftime("%d/%m/%Y"),
                           date=visits["date"].dt.strftime("%d.%m.%Y"))
    visits.to_csv(tmp_path / "v.csv", sep=";", index=False)
    _ok(runner.invoke(app, ["fit", str(tmp_path / "v.csv"), "--sequence-key", "patient", "--sequence-index", "date",
                            "--out", str(tmp_path / "model")]))
    _ok(runner.invoke(app, ["sample", str(tmp_path / "model"), "--seed", "0", "--out", str(tmp_path / "s.csv")]))
    out = pd.read_csv(tmp_path / "s.csv", dtype=str)
    start = pd.to_datetime(out["date"], format="%d.%m.%Y")  # raises on any other format
    end = pd.to_datetime(out["leave"], format="%d/%m/%Y")
    assert (start <= end).all() and ((end - start).dt.days <= 8).all()
