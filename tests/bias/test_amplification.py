"""Bias amplification of a synthetic table in ``synthera bias`` (issue 21, item 3)."""

from __future__ import annotations

import json

import pytest

from synthera.bias.analysis import analyze_bias
from synthera.errors import DataError, UserInputError
from tests.helpers import biased_frame


def _shunning_women(frame):
    """The outcome follows sex alone: every man earns ">50K", no woman does."""
    return frame.assign(income=frame["sex"].map({"Female": "<=50K", "Male": ">50K"}))


def test_a_synthetic_table_that_widens_the_gap_is_flagged(frame):
    holdout = biased_frame(600, seed=1)
    r = analyze_bias(frame, target="income", sensitive=["sex", "race"], holdout=holdout,
                     synthetic=_shunning_women(biased_frame(800, seed=2)))
    amp = r["amplification"]
    assert amp["tested_on"] == "holdout" and amp["test_rows"] == 600
    assert set(amp["groups"]) == {"sex", "race", "sex & race"}
    dp = amp["groups"]["sex"]["demographic_parity_difference"]
    assert dp["real"] == pytest.approx(r["model"]["groups"]["sex"]["demographic_parity_difference"])
    assert dp["amplification"] == pytest.approx(dp["synthetic"] - dp["real"]) and dp["amplification"] > 0.3
    lo, hi = dp["interval"]
    assert 0 < lo <= dp["amplification"] <= hi and dp["amplified"] is True
    assert dp["real_interval"][0] <= dp["real"] <= dp["real_interval"][1]
    assert set(amp["groups"]["sex"]) == {"demographic_parity_difference", "equalized_odds_difference"}
    assert any(line.startswith("Bias amplification by sex: demographic parity") and line.endswith("amplified.")
               for line in r.headline)
    assert "Bias amplification by the synthetic table" in r.to_html()


def test_a_fresh_draw_is_not_amplified_and_the_real_model_is_cross_validated(frame):
    r = analyze_bias(frame, target="income", sensitive=["sex"], synthetic=biased_frame(800, seed=3))
    amp = r["amplification"]
    assert amp["tested_on"] == "5-fold cross-validation" and amp["test_rows"] == len(frame)
    dp = amp["groups"]["sex"]["demographic_parity_difference"]
    assert dp["interval"][0] <= 0 <= dp["interval"][1] or abs(dp["amplification"]) < 0.05
    assert r["rows"]["synthetic"] == 800


def test_same_seed_same_amplification(frame):
    syn = _shunning_women(biased_frame(400, seed=2))
    a = analyze_bias(frame, target="income", sensitive=["sex"], synthetic=syn, seed=4)
    b = analyze_bias(frame, target="income", sensitive=["sex"], synthetic=syn, seed=4)
    assert a["amplification"] == b["amplification"]


def test_a_bad_synthetic_table_is_a_clear_error(frame):
    with pytest.raises(UserInputError, match="synthetic table lacks column"):
        analyze_bias(frame, target="income", sensitive=["sex"], synthetic=frame.drop(columns=["race"]))
    one_class = frame.assign(income="<=50K")
    with pytest.raises(DataError, match="fewer than two classes"):
        analyze_bias(frame, target="income", sensitive=["sex"], synthetic=one_class)


def test_cli_reports_amplification(frame, tmp_path):
    from typer.testing import CliRunner

    from synthera.cli import app

    real, syn = tmp_path / "real.csv", tmp_path / "syn.csv"
    frame.to_csv(real, index=False)
    _shunning_women(biased_frame(800, seed=2)).to_csv(syn, index=False)
    out = tmp_path / "out"
    got = CliRunner().invoke(app, ["bias", str(real), "--target", "income", "--sensitive", "sex",
                                   "--synthetic", str(syn), "--out", str(out)])
    assert got.exit_code == 0, got.output
    results = json.loads((out / "results.json").read_text())
    assert results["amplification"]["groups"]["sex"]["demographic_parity_difference"]["amplified"] is True
