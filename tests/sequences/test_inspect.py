"""Proposing a sequence key, index and constraints: the API and `synthera inspect`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from synthera.cli import app
from synthera.metadata import infer_metadata
from synthera.sequences.constraints import detect_constraints
from synthera.sequences.inference import evidence_lines, infer_sequence, parse_dates

from .conftest import make_histories

runner = CliRunner()


def _text_dates(n: int = 60) -> pd.DataFrame:
    df = make_histories(n)
    stay = np.random.default_rng(0).integers(0, 9, len(df))
    return df.assign(leave=(df["date"] + pd.to_timedelta(stay, unit="D")).dt.strftime("%Y-%m-%d"),
                     date=df["date"].dt.strftime("%Y-%m-%d"))


def test_text_dates_are_proposed_as_the_index_with_evidence():
    proposal = infer_sequence(_text_dates())
    assert (proposal["sequence_key"], proposal["sequence_index"]) in {("patient", "date"), ("patient", "leave")}
    assert proposal["evidence"]["index_is_date"] and proposal["evidence"]["distinct_keys"] == 60
    key_line, index_line = evidence_lines(proposal)
    assert key_line.startswith("sequence_key: patient (proposed: 60 entities")
    assert "pairs are unique" in index_line and "\n" not in key_line + index_line


def test_a_position_column_is_an_index_and_rows_without_order_are_not():
    df = pd.DataFrame({"user_id": np.repeat(np.arange(30), 4), "step": np.tile(np.arange(4), 30),
                       "x": np.arange(120.0)})
    assert infer_sequence(df)["sequence_index"] == "step"
    assert infer_sequence(df.drop(columns=["step"])) is None
    assert infer_sequence(pd.DataFrame({"a": np.arange(50), "b": np.arange(50.0)})) is None


def test_end_never_before_start_is_found_once_dates_are_read():
    df = _text_dates()
    md = infer_metadata(df)
    assert detect_constraints(df, ["date", "leave"]) == []  # text: nothing to compare
    parsed = parse_dates(df, md)
    assert pd.api.types.is_datetime64_any_dtype(parsed["leave"])
    assert {"low": "date", "high": "leave"} in detect_constraints(parsed, ["date", "leave"])
    assert pd.api.types.is_datetime64_any_dtype(parse_dates(df)["date"])  # without metadata: read them


def test_inspect_prints_and_writes_the_proposal(tmp_path):
    _text_dates().to_csv(tmp_path / "visits.csv", index=False)
    result = runner.invoke(app, ["inspect", str(tmp_path / "visits.csv"), "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "sequence_key: patient (proposed" in out
    assert "constraint: date <= leave" in out and "constraint: part <= whole" in out
    md = json.loads((tmp_path / "m.json").read_text())
    assert md["sequence_key"] == "patient" and {"low": "date", "high": "leave"} in md["constraints"]


def test_inspect_keeps_a_declared_sequence_and_its_edited_constraints(tmp_path):
    make_histories(40).to_csv(tmp_path / "visits.csv", index=False)
    md = json.loads(infer_metadata(pd.read_csv(tmp_path / "visits.csv")).to_json())
    md.update(format_version=3, sequence_key="patient", sequence_index="date", constraints=[])
    (tmp_path / "m.json").write_text(json.dumps(md))
    result = runner.invoke(app, ["inspect", str(tmp_path / "visits.csv"), "--metadata", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "sequence_key: patient (declared)" in out and "constraints (declared): none" in out


def test_inspect_proposes_nothing_for_a_table_of_rows(tmp_path):
    pd.DataFrame({"age": np.arange(40) % 7, "income": np.arange(40.0)}).to_csv(tmp_path / "rows.csv", index=False)
    result = runner.invoke(app, ["inspect", str(tmp_path / "rows.csv")])
    assert result.exit_code == 0 and "sequence_key" not in result.stdout


def _purchases(n: int = 300) -> pd.DataFrame:
    """A plain table: one row per purchase, an age and a city beside (nearly unique) purchase dates."""
    rng = np.random.default_rng(1)
    return pd.DataFrame({"age": rng.integers(18, 90, n), "city": rng.choice(["Lyon", "Oslo", "Pune"], n),
                         "bought": (pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 270 * 24, n),
                                                                                 unit="h")).strftime("%d/%m/%Y"),
                         "amount": rng.uniform(1, 1e4, n).round(2)})


def test_a_plain_table_with_dates_proposes_no_entity(tmp_path):
    df = _purchases()
    assert infer_sequence(df) is None  # age and city repeat, and (age, date) pairs are unique: no evidence
    df.to_csv(tmp_path / "plain.csv", index=False)
    result = runner.invoke(app, ["inspect", str(tmp_path / "plain.csv"), "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.stderr
    assert "sequence_key" not in result.stdout and "sequence_key" not in (tmp_path / "m.json").read_text()


def test_an_entity_not_named_like_one_is_found_by_the_order_it_explains():
    rng = np.random.default_rng(2)
    # an index every entity shares (visit 0, 1, 2, ...): the entity alone keeps its rows apart
    visits = pd.DataFrame({"mrn": np.repeat(np.arange(50), 5), "visit": np.tile(np.arange(5), 50),
                           "value": rng.normal(size=250)})
    assert infer_sequence(visits)["sequence_key"] == "mrn"
    assert infer_sequence(visits.assign(mrn=rng.permutation(visits["mrn"].to_numpy()))) is None  # chance: no key
    # departures at (nearly) unique times explain nothing: a plane's carrier, constant per plane, is no key
    planes = np.repeat(np.arange(60), 8)
    departure = pd.Timestamp("2013-01-01") + pd.to_timedelta(rng.permutation(60 * 8 * 53)[:480], unit="min")
    flights = pd.DataFrame({"plane": [f"N{p:03d}" for p in planes],
                            "carrier": np.array(["UA", "DL", "B6", "AA"])[planes % 4],
                            "departure": departure, "delay": rng.normal(0, 10, 480)})
    assert infer_sequence(flights) is None
    proposal = infer_sequence(flights.rename(columns={"plane": "tailnum"}))  # named like an entity: evident
    assert (proposal["sequence_key"], proposal["sequence_index"]) == ("tailnum", "departure")
