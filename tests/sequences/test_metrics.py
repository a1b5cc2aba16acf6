"""Sequence metrics: sdmetrics agreement within 0.005, and each metric telling good histories from bad ones."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from synthera.sequences.inference import infer_sequence
from synthera.sequences.metrics import (
    coherence,
    evaluate_sequences,
    gap_similarity,
    history_privacy,
    inter_row_msas,
    length_similarity,
    next_event_utility,
    statistic_msas,
)

from .conftest import make_histories

sdmetrics = pytest.importorskip("sdmetrics")


@pytest.fixture(scope="module")
def pair():
    real = make_histories(150, seed=0)
    other = make_histories(150, seed=7, max_len=14)
    other["score"] = other["score"] * 1.5 + 2
    return real, other


def test_length_similarity_matches_sdmetrics(pair):
    from sdmetrics.single_column import SequenceLengthSimilarity

    real, other = pair
    expected = SequenceLengthSimilarity.compute(real["patient"], other["patient"])
    assert abs(length_similarity(real, other, "patient") - expected) < 0.005


@pytest.mark.parametrize("stat", ["mean", "std", "min", "max", "median"])
def test_statistic_msas_matches_sdmetrics(pair, stat):
    from sdmetrics.column_pairs import StatisticMSAS

    real, other = pair
    expected = StatisticMSAS.compute((real["patient"], real["score"]), (other["patient"], other["score"]),
                                     statistic=stat)
    assert abs(statistic_msas(real, other, "patient", "score", stat) - expected) < 0.005


def test_inter_row_msas_matches_sdmetrics(pair):
    from sdmetrics.column_pairs import InterRowMSAS

    real, other = pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = InterRowMSAS.compute((real["patient"], real["score"]), (other["patient"], other["score"]))
    ours = inter_row_msas(real, other, "patient", "score", index="date")
    assert abs(ours - expected) < 0.005
    assert ours < 0.9  # the scaled drift is visible


def test_gap_and_coherence_separate_matching_from_broken_histories(pair):
    real, other = pair
    assert gap_similarity(real, real.sample(frac=1.0, random_state=0), "patient", "date") == 1.0
    broken = real.assign(date=real["date"] + pd.to_timedelta(np.random.default_rng(0).integers(0, 90, len(real)), "D"))
    assert gap_similarity(real, broken, "patient", "date") < 0.8
    shuffled = real.assign(ward=real["ward"].sample(frac=1.0, random_state=1).to_numpy())
    good = coherence(real, real, "patient", "date", "ward")
    bad = coherence(real, shuffled, "patient", "date", "ward")
    assert good["score"] == 1.0 and bad["score"] < 0.6 and good["kind"] == "persistence"
    assert coherence(real, real, "patient", "date", "score")["kind"] == "lag1_correlation"


def test_history_privacy_counts_copies_and_dcr(pair):
    real, _ = pair
    ids = real["patient"].unique()
    train, holdout = real[real["patient"].isin(ids[::2])], real[~real["patient"].isin(ids[::2])]
    copied = history_privacy(train, holdout, train, "patient", "date")
    assert copied["exact_copies"] == train["patient"].nunique() and copied["dcr_share"] == 1.0
    fresh = history_privacy(train, holdout, make_histories(75, seed=11), "patient", "date")
    assert fresh["exact_copies"] == 0 and 0.2 < fresh["dcr_share"] < 0.8


def test_next_event_utility_and_evaluate(pair):
    real, other = pair
    ids = real["patient"].unique()
    train, holdout = real[real["patient"].isin(ids[::2])], real[~real["patient"].isin(ids[::2])]
    util = next_event_utility(train, holdout, train, "patient", "date", "ward")
    assert util["metric"] == "accuracy" and util["tstr"] == util["trtr"] > 0.8
    report = evaluate_sequences(train, holdout, sequence_key="patient", sequence_index="date", holdout=holdout)
    for name in ("length", "gap", "statistic_msas", "inter_row_msas", "coherence"):
        assert 0.0 <= report[name] <= 1.0
    assert report["utility"]["target"] == "score"


def test_infer_sequence_proposes_key_and_index(pair):
    real, _ = pair
    guess = infer_sequence(real.drop(columns=["group"]))
    assert (guess["sequence_key"], guess["sequence_index"]) == ("patient", "date")
    assert infer_sequence(pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0)})) is None


def test_next_event_classifier_stops_early_and_survives_rare_classes():
    from synthera.sequences.metrics import _classifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 3))
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0)
    y[:5] = np.arange(10, 15)  # five classes seen once: no stratified split could hold them
    model = _classifier(x, y, 0)
    assert model.early_stopping is True and model.n_iter_ < 200
    assert not set(model.classes_) & set(range(10, 15))
    assert (model.predict(x[5:]) == y[5:]).mean() > 0.9
    few = _classifier(x[:40], np.arange(40) % 20, 0)  # 20 classes in 40 events: no room to validate
    assert few.early_stopping is False and few.n_iter_ == 100
