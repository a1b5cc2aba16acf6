"""hf_evaluate end to end on tiny frames: the scores, results.json, the tables and the curves."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthera.errors import SyntheraWarning, UserInputError
from synthera.hf.evaluate import hf_evaluate
from synthera.hf.metrics import classification_scores, positive_class
from synthera.hf.report import HFEvalReport
from tests.helpers import TINY_SCRATCH
from tests.helpers import make_hf_frame as make_frame

FAST = {"epochs": 16, "patience": 40, "batch_size": 8, "learning_rate": 3e-3, "max_length": 32, "threads": 1,
        "device": "cpu", "validation_fraction": 0.2}


@pytest.fixture(scope="module")
def report(tiny_bert, tiny_tokenizer):
    real = make_frame(40, 0)
    synthetic = make_frame(40, 1, flip=True)  # synthetic rows that teach the wrong rule
    test = make_frame(30, 2)
    return hf_evaluate(real, synthetic, test, target="label", models=[tiny_bert], scratch=["distilbert"],
                       tokenizer=tiny_tokenizer, scratch_size=TINY_SCRATCH, max_rows=36, seed=0, **FAST)


def test_real_rows_teach_the_rule_and_flipped_synthetic_rows_do_not(report):
    bert = report.results["models"][0]
    assert bert["runs"]["real"]["accuracy"] >= 0.9
    assert bert["runs"]["synthetic"]["accuracy"] <= 0.2
    runs = bert["runs"]
    assert bert["gap"]["accuracy"] == pytest.approx(runs["real"]["accuracy"] - runs["synthetic"]["accuracy"])
    assert bert["runs"]["real"]["roc_auc"] > 0.9 > bert["runs"]["synthetic"]["roc_auc"]


def test_results_hold_rows_settings_and_curves(report):
    r = report.results
    assert r["target"] == "label" and r["classes"] == ["no", "yes"]
    assert r["rows"]["real"] == {"available": 40, "used": 36, "null_target": 0, "unknown_label": 0}
    assert r["rows"]["test"]["used"] == 30
    run = r["models"][0]["runs"]["real"]
    assert run["train_rows"] + run["validation_rows"] == 36
    assert run["history"]["train"] and run["history"]["validation"]
    assert r["settings"]["max_rows"] == 36 and r["settings"]["epochs"] == 16
    assert "label" not in r["example_text"] and "color is" in r["example_text"]


def test_scratch_model_is_labelled_not_pretrained_everywhere(report):
    scratch = report.results["models"][1]
    assert scratch["pretrained"] is False and "not pretrained" in scratch["label"]
    assert "not pretrained" in report.to_markdown()
    assert "not pretrained" in report.to_html()
    assert report.results["models"][0]["pretrained"] is True


def test_markdown_has_the_seed_shaped_table(report):
    md = report.to_markdown()
    assert "| Model | on real | on synthetic |" in md
    bert = report.results["models"][0]
    row = f"| {bert['label']} | {bert['runs']['real']['accuracy']:.4f} | {bert['runs']['synthetic']['accuracy']:.4f} |"
    assert row in md
    assert "ROC AUC" in md and "F1" in md


def test_save_writes_every_file(report, tmp_path):
    paths = report.save(tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["format"] == "synthera-hf-eval" and data["format_version"] == 1
    assert data["models"][0]["runs"]["real"]["accuracy"] == report.results["models"][0]["runs"]["real"]["accuracy"]
    assert data["headline"] and "trained on synthetic rows" in data["headline"][0]
    assert paths["curves"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = paths["html"].read_text()
    assert "<table>" in page and 'data-plot="training-curves"' in page and "<svg" in page
    assert "<script" not in page and "data:image/png" not in page  # self-contained, curves as inline SVG
    again = HFEvalReport.from_json(paths["json"].read_text())
    assert again.to_markdown() == report.to_markdown()


def test_same_seed_same_scores(tiny_bert):
    args = (make_frame(30, 0), make_frame(30, 1), make_frame(20, 2))
    kw = {"target": "label", "models": [tiny_bert], "seed": 5, **FAST, "epochs": 2}
    a, b = hf_evaluate(*args, **kw), hf_evaluate(*args, **kw)
    for source in ("real", "synthetic"):
        assert a.results["models"][0]["runs"][source]["roc_auc"] == b.results["models"][0]["runs"][source]["roc_auc"]


def test_table_mistakes(tiny_bert):
    real, test = make_frame(30, 0), make_frame(20, 2)
    with pytest.raises(UserInputError, match="unknown target column 'lable'"):
        hf_evaluate(real, real, test, target="lable", models=[tiny_bert])
    with pytest.raises(UserInputError, match="missing from the synthetic table"):
        hf_evaluate(real, real.drop(columns="label"), test, target="label", models=[tiny_bert])
    with pytest.raises(UserInputError, match="column 'size' of the real table is missing from the test table"):
        hf_evaluate(real, real, test.drop(columns="size"), target="label", models=[tiny_bert])
    with pytest.raises(UserInputError, match="max_rows"):
        hf_evaluate(real, real, test, target="label", models=[tiny_bert], max_rows=3)
    with pytest.raises(UserInputError, match="at most 50 classes"):
        big = make_frame(60)
        hf_evaluate(big.assign(label=np.arange(60)), big, test, target="label", models=[tiny_bert])


def test_unknown_synthetic_labels_are_left_out_with_a_warning(tiny_bert):
    real, test = make_frame(30, 0), make_frame(20, 2)
    synthetic = make_frame(30, 1)
    synthetic.loc[:4, "label"] = "maybe"
    with pytest.warns(SyntheraWarning, match="5 synthetic rows"):
        rep = hf_evaluate(real, synthetic, test, target="label", models=[tiny_bert], **{**FAST, "epochs": 1})
    assert rep.results["rows"]["synthetic"]["unknown_label"] == 5
    assert rep.results["rows"]["synthetic"]["used"] == 25


def test_scores_follow_the_positive_label_convention():
    codes = np.array([0, 0, 0, 1])
    assert positive_class(codes, 2) == 1 and positive_class(1 - codes, 2) == 0
    proba = np.array([[0.8, 0.2], [0.7, 0.3], [0.4, 0.6], [0.1, 0.9]])
    s = classification_scores(codes, proba, positive=1)
    assert s == {"accuracy": 0.75, "f1": pytest.approx(2 / 3), "roc_auc": 1.0}
    multi = classification_scores(np.array([0, 1, 2, 2]), np.eye(3)[[0, 1, 2, 1]])
    assert multi["accuracy"] == 0.75 and 0 < multi["f1"] < 1 and multi["roc_auc"] is not None


def test_html_uses_the_shared_report_kit_and_leaves_matplotlib_alone(report):
    import matplotlib

    from synthera._report.html import CSS

    backend, settings = matplotlib.get_backend(), dict(matplotlib.rcParams)
    page = report.to_html()
    assert CSS in page and 'id="headline"' in page  # the kit's page frame, as evaluate and bias use
    assert report.headline[0].split(":")[0] in page
    for m in report.results["models"]:
        assert m["label"] in page
    assert matplotlib.get_backend() == backend and dict(matplotlib.rcParams) == settings
    assert "<svg" not in report.to_html(curves=False)
