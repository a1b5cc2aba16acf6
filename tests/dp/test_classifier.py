"""The DP classifier: never overshoots ε, reproducible, saved without pickle, refuses tampering."""

from __future__ import annotations

import hashlib
import json
import math
import pickle

import numpy as np
import pytest

from synthera._persist import manifest_digest
from synthera.dp.accounting import epsilon_spent
from synthera.dp.classifier import DPClassifier
from synthera.errors import ModelFileError, NotFittedError, UserInputError
from tests.helpers import PicklePayload
from tests.helpers import dp_public_metadata as public_metadata
from tests.helpers import make_dp_frame as make_frame

FAST = {"epochs": 5, "batch_size": 256, "hidden": (16,)}


@pytest.fixture(scope="module")
def fitted():
    df = make_frame(800)
    return df, DPClassifier(epsilon=2.0, seed=0, **FAST).fit(df, target="label", metadata=public_metadata())


def test_fit_records_a_budget_the_accountant_confirms(fitted):
    _, clf = fitted
    assert clf.classes_ == ("no", "yes")
    assert clf.epsilon_domain_ == 0 and clf.domain_["age"].source == "public"
    assert clf.delta_ == 1e-4  # 1/(10·800) rounded down to a power of ten
    recomputed = epsilon_spent(noise_multiplier=clf.noise_multiplier_, sample_rate=clf.sample_rate_,
                               steps=clf.steps_, delta=clf.delta_training_)
    assert clf.epsilon_spent_ == pytest.approx(recomputed, rel=1e-12)
    assert 1.9 < clf.epsilon_spent_ <= 2.0
    assert clf.steps_ == 5 * math.ceil(800 / 256) and clf.sample_rate_ == 256 / 800


def test_it_learns_the_signal(fitted):
    _, clf = fitted
    test = make_frame(2000, seed=5)
    accuracy = np.mean(clf.predict(test) == test["label"].to_numpy())
    assert accuracy > 0.62  # the majority class is ~0.5; the Bayes rate is ~0.75
    proba = clf.predict_proba(test)
    assert proba.shape == (2000, 2) and np.allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    "params",
    [
        {"epochs": 1, "batch_size": 64},
        {"epochs": 200, "batch_size": 800},  # many epochs: the noise grows to fit them in
        {"epochs": 3000, "batch_size": 800, "max_noise_multiplier": 5.0},  # capped noise: stops early
        {"epochs": 2, "batch_size": 10},  # tiny batches, many steps
    ],
)
def test_a_run_asked_for_epsilon_one_never_reports_more(params, frame, public):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = DPClassifier(epsilon=1.0, hidden=(), seed=1, **params).fit(frame, target="label", metadata=public)
    assert clf.epsilon_spent_ <= 1.0
    again = epsilon_spent(noise_multiplier=clf.noise_multiplier_, sample_rate=clf.sample_rate_, steps=clf.steps_,
                          delta=clf.delta_training_)
    assert again <= 1.0 and again == pytest.approx(clf.epsilon_training_, rel=1e-12)


def test_the_budget_also_pays_for_an_estimated_domain():
    df = make_frame(3000)
    clf = DPClassifier(epsilon=1.0, seed=0, **FAST).fit(df, target="label")
    assert clf.epsilon_domain_ == pytest.approx(0.2)  # the default domain share
    assert clf.epsilon_spent_ == pytest.approx(clf.epsilon_domain_ + clf.epsilon_training_)
    assert clf.epsilon_spent_ <= 1.0 and clf.delta_ <= 1e-5
    assert all(c.source == "dp" for c in clf.domain_.columns.values())
    assert clf.classes_ == ("no", "yes")


def test_same_seed_same_model_and_another_seed_differs(frame, public):
    a = DPClassifier(epsilon=1.0, seed=3, **FAST).fit(frame, target="label", metadata=public)
    b = DPClassifier(epsilon=1.0, seed=3, **FAST).fit(frame, target="label", metadata=public)
    c = DPClassifier(epsilon=1.0, seed=4, **FAST).fit(frame, target="label", metadata=public)
    assert np.array_equal(a.predict_proba(frame), b.predict_proba(frame))
    assert not np.allclose(a.predict_proba(frame), c.predict_proba(frame))


def test_without_a_seed_the_noise_is_fresh_each_fit(frame, public):
    assert DPClassifier().seed is None
    a = DPClassifier(epsilon=1.0, **FAST).fit(frame, target="label", metadata=public)
    b = DPClassifier(epsilon=1.0, **FAST).fit(frame, target="label", metadata=public)
    weights = [np.concatenate([p.detach().numpy().ravel() for p in m.net_.parameters()]) for m in (a, b)]
    assert not np.allclose(*weights)
    saved = a.get_params()
    assert saved["seed"] is None


def test_non_private_baseline_uses_no_noise(frame, public):
    clf = DPClassifier(epsilon=math.inf, seed=0, **FAST).fit(frame, target="label", metadata=public)
    assert clf.noise_multiplier_ == 0 and math.isinf(clf.epsilon_spent_)


def test_predict_before_fit_says_call_fit_first(frame):
    with pytest.raises(NotFittedError, match="call fit first"):
        DPClassifier().predict(frame)


@pytest.mark.parametrize(
    ("params", "target", "needle"),
    [
        ({"epsilon": 0}, "label", "epsilon must be > 0"),
        ({"epsilon": -2}, "label", "epsilon must be > 0"),
        ({"delta": 1.0}, "label", "delta must lie strictly between 0 and 1"),
        ({"epsilon": 1e-6}, "label", "too small for even one training step"),
        ({}, "nope", "target column 'nope' is not in the data"),
        ({}, "age", "must be categorical or boolean"),
        ({"hidden": (0,)}, "label", "hidden must be a tuple of layer widths >= 1"),
        ({"seed": -1}, "label", "seed must be a whole number >= 0 or None"),
        ({"epochs": 0}, "label", "epochs must be a whole number >= 1; got 0"),
    ],
)
def test_bad_parameters_are_user_errors(frame, public, params, target, needle):
    with pytest.raises(UserInputError, match=needle):
        DPClassifier(**{**FAST, **params}).fit(frame, target=target, metadata=public)


def test_save_load_round_trip_gives_identical_predictions(fitted, tmp_path):
    df, clf = fitted
    clf.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["manifest.json", "model.safetensors"]
    loaded = DPClassifier.load(tmp_path / "m")
    assert np.array_equal(loaded.predict_proba(df), clf.predict_proba(df))
    assert loaded.epsilon_spent_ == clf.epsilon_spent_ and loaded.domain_ == clf.domain_


def _tamper_manifest(folder, **changes):
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"epsilon_spent": 0.5, "epsilon_training": 0.5}, "privacy claim"),
        ({"noise_multiplier": 100.0}, "privacy claim"),
        ({"steps": 1}, "privacy claim"),
        ({"classes": ["no", "maybe"]}, "classes"),
        ({"format": "something-else"}, "not a Synthera DP classifier"),
        ({"format_version": 99}, "upgrade"),
        ({"params": {"epsilon": 2.0}}, "parameter"),
    ],
)
def test_a_tampered_manifest_is_refused(fitted, tmp_path, changes, needle):
    _, clf = fitted
    folder = clf.save(tmp_path / "m")
    _tamper_manifest(folder, **changes)
    with pytest.raises(ModelFileError, match=needle):
        DPClassifier.load(folder)


def test_tampered_weights_are_refused(fitted, tmp_path):
    _, clf = fitted
    folder = clf.save(tmp_path / "m")
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        DPClassifier.load(folder)


def test_weights_of_the_wrong_shape_are_refused_even_with_a_matching_checksum(fitted, tmp_path):
    import torch
    from safetensors.torch import save_file

    _, clf = fitted
    folder = clf.save(tmp_path / "m")
    save_file({"0.weight": torch.zeros(3, 3)}, str(folder / "model.safetensors"))
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    _tamper_manifest(folder, weights_sha256=digest)
    with pytest.raises(ModelFileError, match="do not match the architecture"):
        DPClassifier.load(folder)


def test_a_missing_folder_or_pickled_manifest_is_refused_without_running_it(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        DPClassifier.load(tmp_path / "none")
    (tmp_path / "p").mkdir()
    marker = tmp_path / "ran"
    (tmp_path / "p" / "manifest.json").write_bytes(pickle.dumps(PicklePayload(marker)))
    with pytest.raises(ModelFileError, match="not valid JSON"):
        DPClassifier.load(tmp_path / "p")
    assert not marker.exists(), "loading unpickled the manifest"


def test_pickled_weights_never_run_even_with_matching_checksums(fitted, tmp_path):
    _, clf = fitted
    folder = clf.save(tmp_path / "m")
    marker = tmp_path / "ran"
    (folder / "model.safetensors").write_bytes(pickle.dumps({"0.weight": PicklePayload(marker)}))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["weights_sha256"] = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="not a valid DPClassifier model"):
        DPClassifier.load(folder)
    assert not marker.exists(), "loading unpickled the weights"


def test_metadata_inferred_from_the_same_rows_draws_a_warning(frame):
    from synthera.errors import SyntheraWarning
    from synthera.metadata import infer_metadata

    with pytest.warns(SyntheraWarning, match="not public"):
        DPClassifier(epsilon=1.0, **FAST).fit(frame, target="label", metadata=infer_metadata(frame))


@pytest.mark.parametrize("epsilon", [math.inf, 50.0])
def test_every_column_kind_is_encoded_and_survives_a_round_trip(mixed_frame, tmp_path, epsilon):
    clf = DPClassifier(epsilon=epsilon, **FAST).fit(mixed_frame, target="active")
    names = [f.name for f in clf.features_]
    assert names == ["âge", "income", "score", "segment", "joined"]  # no id, email or free text
    assert clf.domain_["joined"].kind == "numerical"  # dates as seconds
    loaded = DPClassifier.load(clf.save(tmp_path / "m"))
    assert np.array_equal(loaded.predict_proba(mixed_frame), clf.predict_proba(mixed_frame))
    assert set(loaded.predict(mixed_frame)) <= {"yes", "no"}


def test_features_are_coded_by_the_shared_codec_by_value_then_by_text():
    import pandas as pd

    from synthera.dp.classifier import _codes

    values = pd.Series([3, "3", 3.0, None, "x", [1]], dtype=object)
    # 3, "3" (its text) and 3.0 (the same number) are category 0; null, unknown and unhashable are "other" (2)
    assert _codes(values, (3, "y")).tolist() == [0, 0, 0, 2, 2, 2]
    assert _codes(pd.Series([True, 1]), (1, True)).tolist() == [1, 0]  # True is not 1


def test_a_missing_dp_library_names_the_extra_to_install(monkeypatch, fitted, tmp_path):
    import sys

    from synthera.dp.mechanisms import MeasurementGroup, calibrate

    monkeypatch.setitem(sys.modules, "dp_accounting", None)  # as if `pip install synthera` without [dp]
    with pytest.raises(UserInputError, match=r"dp_accounting is not installed.*pip install 'synthera\[dp\]'"):
        calibrate([MeasurementGroup("count", 1, 1.0)], epsilon=1.0, delta=1e-5)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(UserInputError, match=r"safetensors.torch is not installed.*synthera\[dp\]"):
        fitted[1].save(tmp_path / "m")
    assert not (tmp_path / "m").exists()
