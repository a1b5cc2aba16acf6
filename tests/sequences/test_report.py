"""The history part of an evaluation: metrics, headline, and the HTML section with its plots."""

from __future__ import annotations

import json

import pytest

from synthera.evaluate import evaluate
from synthera.sequences.report import headline_lines, render_section, sequence_report

from .conftest import make_histories


@pytest.fixture(scope="module")
def tables(fitted):
    holdout = make_histories(60, seed=3).assign(patient=lambda d: d["patient"] + 10_000)
    return {"real": make_histories(), "synthetic": fitted.sample(seed=0), "holdout": holdout}


@pytest.fixture(scope="module")
def report(tables):
    return sequence_report(tables["real"], tables["synthetic"], sequence_key="patient", sequence_index="date",
                           holdout=tables["holdout"], seed=0)


def test_results_hold_every_sequence_metric(report):
    results, _ = report
    assert results["entities"] == {"real": 200, "synthetic": 200}
    for name in ("length", "gap", "statistic_msas", "inter_row_msas", "coherence"):
        assert 0.0 <= results[name] <= 1.0
    assert set(results["privacy"]) >= {"dcr_share", "exact_copies"} and set(results["utility"]) >= {"tstr", "trtr"}
    assert "error" not in results


def test_plots_hold_lengths_gaps_and_a_few_histories(report, tables):
    _, plots = report
    assert plots["lengths"]["real"].sum() == len(tables["real"])
    assert plots["gaps"]["unit"] == "days" and (plots["gaps"]["real"] >= 0).all()
    drawn = plots["histories"]
    assert drawn["columns"][0] == "score" and "group" not in drawn["columns"]  # numeric, changing within a history
    assert 1 <= len(drawn["real"]) <= 5 and len(drawn["synthetic"]) == len(drawn["real"])


def test_section_and_headline(report):
    results, plots = report
    html = "".join(render_section(results, plots))
    assert "<h2>Histories</h2>" in html and html.count("<svg") == 2
    assert 'data-plot="sequence-distributions"' in html and 'data-plot="sequence-histories"' in html
    assert "history DCR share" in html and "next-event" in html
    lines = headline_lines(results)
    assert lines[0].startswith("Histories (200 synthetic entities): length ")
    assert any("copy a training history exactly" in line for line in lines)
    assert render_section(None, None) == [] and headline_lines({}) == []


def test_a_failing_metric_is_an_error_entry_not_a_crash(tables):
    broken = tables["synthetic"].drop(columns=["ward"])
    results, plots = sequence_report(tables["real"], broken, sequence_key="patient", sequence_index="date")
    assert results["error"].startswith("KeyError")
    assert "sequence metrics failed" in "".join(render_section(results, plots))


def test_the_evaluation_report_carries_the_section(report, tables, tmp_path):
    rep = evaluate(tables["real"], tables["synthetic"], metrics=["column_shapes"])
    rep.add_sequences(*report)
    assert any(line.startswith("Histories (") for line in rep.headline)
    rep.save(tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["sequences"]["length"] == pytest.approx(report[0]["length"])
    assert "<h2>Histories</h2>" in (tmp_path / "report.html").read_text()
