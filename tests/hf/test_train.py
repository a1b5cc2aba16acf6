"""Fine-tuning: it learns, stops early, weighs classes, and repeats itself for a seed."""

from __future__ import annotations

import numpy as np
import pytest

from synthera.errors import NotFittedError, SyntheraWarning, UserInputError
from synthera.hf.serialize import RowTemplate
from synthera.hf.train import TransformerClassifier, balanced_class_weights, stratified_split
from tests.helpers import make_hf_frame as make_frame

FAST = {"batch_size": 8, "learning_rate": 3e-3, "max_length": 32, "threads": 1, "device": "cpu"}


def texts_labels(n, seed=0, flip=False):
    frame = make_frame(n, seed, flip=flip)
    return RowTemplate().render(frame, target="label"), frame["label"].tolist()


def test_balanced_class_weights():
    w = balanced_class_weights(np.array([0, 0, 0, 1, 2, 2]), 4)
    np.testing.assert_allclose(w, [6 / (3 * 3), 6 / (3 * 1), 6 / (3 * 2), 0.0])
    # weighted counts are equal across the present classes
    np.testing.assert_allclose(w[:3] * np.array([3, 1, 2]), [2, 2, 2])


def test_stratified_split_keeps_both_classes():
    codes = np.array([0] * 30 + [1] * 10)
    tr, va = stratified_split(codes, 0.25, seed=0)
    assert 9 <= len(va) <= 11 and set(codes[va]) == {0, 1}
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 40
    assert len(stratified_split(codes, 0.25, limit=4, seed=0)[1]) == 4
    assert len(stratified_split(codes, 0.0, seed=0)[1]) == 0


def test_learns_an_easy_signal_and_loss_falls(tiny_bert):
    texts, labels = texts_labels(48)
    clf = TransformerClassifier(tiny_bert, epochs=12, validation_fraction=0, seed=0, **FAST).fit(texts, labels)
    losses = [h["loss"] for h in clf.history_["train"]]
    assert losses[-1] < 0.5 * losses[0]
    test_texts, test_labels = texts_labels(40, seed=1)
    assert np.mean(np.array(clf.predict(test_texts)) == np.array(test_labels)) >= 0.95
    proba = clf.predict_proba(test_texts)
    assert proba.shape == (40, 2) and np.allclose(proba.sum(axis=1), 1)
    assert clf.classes_ == ["no", "yes"] and clf.positive_ in (0, 1)


def test_early_stopping_stops_when_validation_gets_worse(tiny_bert):
    texts, labels = texts_labels(48)
    val = texts_labels(16, seed=2, flip=True)  # the opposite rule: learning the training rows hurts here
    clf = TransformerClassifier(tiny_bert, epochs=20, patience=2, evals_per_epoch=1, seed=0, **FAST)
    clf.fit(texts, labels, validation=val)
    assert clf.stopped_early_
    assert clf.epochs_run_ < 20 and clf.steps_ < clf.planned_steps_
    val_losses = [h["loss"] for h in clf.history_["validation"]]
    assert clf.best_validation_loss_ == pytest.approx(min(val_losses))
    # the best weights (lowest validation loss) are the ones kept
    kept = clf._validate(val[0], np.array([clf.classes_.index(v) for v in val[1]]))
    assert kept["loss"] == pytest.approx(min(val_losses), rel=1e-4)


def test_validation_split_comes_from_the_rows(tiny_bert):
    texts, labels = texts_labels(40)
    clf = TransformerClassifier(tiny_bert, epochs=1, validation_fraction=0.25, seed=0, **FAST).fit(texts, labels)
    assert clf.validation_rows_ == 10 and clf.train_rows_ == 30
    assert len(clf.history_["validation"]) == 2  # evals_per_epoch defaults to 2
    assert {"loss", "accuracy", "f1", "roc_auc", "step", "epoch"} <= set(clf.history_["validation"][0])


def test_class_weights_are_computed_from_the_training_rows(tiny_bert):
    texts, labels = texts_labels(40)
    labels = ["yes"] * 8 + ["no"] * 32
    clf = TransformerClassifier(tiny_bert, epochs=1, validation_fraction=0, class_weight="balanced", seed=0, **FAST)
    clf.fit(texts, labels)
    assert clf.class_weights_ == pytest.approx([40 / (2 * 32), 40 / (2 * 8)])
    clf = TransformerClassifier(tiny_bert, epochs=1, validation_fraction=0, class_weight={"yes": 3.0}, seed=0, **FAST)
    assert clf.fit(texts, labels).class_weights_ == [1.0, 3.0]
    assert TransformerClassifier(tiny_bert, epochs=1, seed=0, **FAST).fit(texts, labels).class_weights_ is None


def test_class_weights_change_what_is_learned(tiny_bert):
    texts, _ = texts_labels(40)
    labels = ["yes"] * 6 + ["no"] * 34  # no signal: only the prior
    plain = TransformerClassifier(tiny_bert, epochs=6, validation_fraction=0, seed=0, **FAST).fit(texts, labels)
    weighted = TransformerClassifier(tiny_bert, epochs=6, validation_fraction=0, class_weight="balanced", seed=0,
                                     **FAST).fit(texts, labels)
    assert weighted.predict_proba(texts)[:, 1].mean() > plain.predict_proba(texts)[:, 1].mean() + 0.1


def test_same_seed_same_model_other_seed_other_model(tiny_bert):
    texts, labels = texts_labels(32)
    a = TransformerClassifier(tiny_bert, epochs=2, seed=3, **FAST).fit(texts, labels).predict_proba(texts)
    b = TransformerClassifier(tiny_bert, epochs=2, seed=3, **FAST).fit(texts, labels).predict_proba(texts)
    c = TransformerClassifier(tiny_bert, epochs=2, seed=4, **FAST).fit(texts, labels).predict_proba(texts)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_long_texts_are_cut_with_a_warning(tiny_bert):
    texts, labels = texts_labels(20)
    with pytest.warns(SyntheraWarning, match="longer than max_length=8"):
        clf = TransformerClassifier(tiny_bert, epochs=1, seed=0, **{**FAST, "max_length": 8}).fit(texts, labels)
    assert clf.truncated_rows_ > 0 and clf.token_lengths_["max"] == 8


def test_predict_before_fit_and_bad_settings(tiny_bert):
    with pytest.raises(NotFittedError, match="call fit first"):
        TransformerClassifier(tiny_bert).predict_proba(["a"])
    texts, labels = texts_labels(20)
    for bad, needle in (({"epochs": 0}, "epochs"), ({"learning_rate": 2.0}, "learning_rate"),
                        ({"class_weight": "heavy"}, "class_weight"), ({"validation_fraction": 0.7}, "validation")):
        with pytest.raises(UserInputError, match=needle):
            TransformerClassifier(tiny_bert, **bad).fit(texts, labels)
    with pytest.raises(UserInputError, match="single class"):
        TransformerClassifier(tiny_bert, **FAST).fit(texts, ["yes"] * 20, classes=["no", "yes"])
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        TransformerClassifier(tiny_bert, epoch=3)


def test_from_scratch_trains_through_the_same_loop(tiny_tokenizer):
    from synthera.hf.models import from_scratch
    from tests.helpers import TINY_SCRATCH

    texts, labels = texts_labels(32)
    for arch in ("roberta", "distilbert"):
        spec = from_scratch(arch, tokenizer=tiny_tokenizer, size=TINY_SCRATCH)
        clf = TransformerClassifier(spec, epochs=2, seed=0, **FAST).fit(texts, labels)
        assert clf.predict_proba(texts).shape == (32, 2)


def test_the_constructor_only_stores_and_check_params_is_public():
    clf = TransformerClassifier("bert", epochs=0, learning_rate=2.0)  # no error yet: validation happens at fit
    assert clf.get_params()["epochs"] == 0 and clf.get_params()["model"] == "bert"
    with pytest.raises(UserInputError, match="epochs must be a whole number >= 1; got 0"):
        clf.check_params()
    with pytest.raises(UserInputError, match="epochs"):
        clf.fit(["a", "b"], ["x", "y"])
    TransformerClassifier("bert").check_params()
    assert TransformerClassifier.param_defaults()["epochs"] == 3
    assert set(TransformerClassifier.param_defaults()) == set(TransformerClassifier().get_params()) - {"model"}


def test_check_max_rows_is_public():
    from synthera.hf.evaluate import check_max_rows

    assert check_max_rows(None) is None and check_max_rows(10) == 10
    for bad in (9, 3.5, True, "100"):
        with pytest.raises(UserInputError, match="max_rows must be a whole number >= 10"):
            check_max_rows(bad)


@pytest.mark.parametrize(("params", "message"), [
    ({"learning_rate": 0}, "learning_rate must lie in (0, 1), e.g. 5e-5; got 0"),
    ({"validation_fraction": 0.5}, "validation_fraction must lie in [0, 0.5); got 0.5"),
    ({"warmup_fraction": 1}, "warmup_fraction must lie in [0, 1); got 1"),
    ({"weight_decay": -0.1}, "weight_decay must be >= 0; got -0.1"),
    ({"class_weight": "even"}, "class_weight must be None, 'balanced' or a dict of label -> weight; got 'even'"),
    ({"max_length": 7}, "max_length must be a whole number >= 8; got 7"),
    ({"threads": 0}, "threads must be a whole number >= 1 or None; got 0"),
    ({"seed": -1}, "seed must be a whole number >= 0; got -1"),
])
def test_the_classifier_checks_its_settings_through_the_shared_estimator_layer(params, message):
    from synthera._estimator import Estimator

    assert issubclass(TransformerClassifier, Estimator)
    assert "epochs" in TransformerClassifier._parameter_constraints
    with pytest.raises(UserInputError) as info:
        TransformerClassifier("bert", **params).check_params()
    assert str(info.value) == message
    TransformerClassifier("bert", threads=None, class_weight={"a": 2.0}).check_params()
