"""Can a language model learn as much from the synthetic rows as from the real ones?

:func:`hf_evaluate` writes the rows of three tables as text (see
:mod:`synthera.hf.serialize`), fine-tunes each model twice (once on the real
training rows, once on the synthetic rows, both from the same starting weights
and seed) and scores both on the real test rows: accuracy, F1 and ROC AUC.

Rules that keep the comparison fair and honest:

* the classes are those of the real training table; the positive label (for
  F1 and ROC AUC with two classes) is its rarer class;
* ``max_rows`` draws the same number of rows, uniformly with the seed, from
  the real and from the synthetic table; validation rows for early stopping
  come out of that draw, from the same table (the synthetic model never sees
  a real row before the test);
* every test row counts: rows whose label the real training table lacks are
  scored as wrong, rows without a label are left out and counted;
* a model built from scratch is labelled *not pretrained* in every output.

Examples
--------
>>> from synthera.io import read_table
>>> report = hf_evaluate(read_table("dataset:adult"), synthetic, read_table("dataset:adult:test"),
...                      target="income", max_rows=3000)  # doctest: +SKIP
>>> report.save("hf-eval")  # doctest: +SKIP
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from synthera.errors import DataError, SyntheraWarning, UserInputError
from synthera.hf.metrics import classification_scores
from synthera.hf.models import ModelSpec, from_scratch, resolve_model
from synthera.hf.report import HFEvalReport
from synthera.hf.serialize import RowTemplate, format_value
from synthera.hf.train import TransformerClassifier

__all__ = ["MAX_CLASSES", "SOURCES", "check_max_rows", "hf_evaluate", "resolve_models"]

SOURCES = ("real", "synthetic")
MAX_CLASSES = 50


def resolve_models(models=None, scratch=(), *, tokenizer: str | None = None, scratch_size: dict | None = None):
    """Specs for ``models`` (names, paths, hub ids; ``("bert",)`` when neither list is given) and ``scratch``."""
    names = list(models) if models else ([] if scratch else ["bert"])
    specs = [m if isinstance(m, ModelSpec) else resolve_model(m) for m in names]
    specs += [from_scratch(a, tokenizer=tokenizer, size=scratch_size) for a in scratch]
    seen = set()
    for spec in specs:
        if spec.label in seen:
            raise UserInputError(f"model {spec.name!r} is asked for twice; name each model once")
        seen.add(spec.label)
    return specs


def check_max_rows(max_rows) -> int | None:
    """``max_rows`` as an int (``None`` stays ``None``); anything but a whole number >= 10 is refused.

    Examples
    --------
    >>> check_max_rows(3000), check_max_rows(None)
    (3000, None)
    """
    if max_rows is None:
        return None
    if isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer)) or max_rows < 10:
        raise UserInputError(f"max_rows must be a whole number >= 10 (rows to train on); got {max_rows!r}")
    return int(max_rows)


def _labels(frame: pd.DataFrame, target: str) -> pd.Series:
    return pd.Series([format_value(v) for v in frame[target].tolist()], index=frame.index, dtype=object)


def _prepare(real, synthetic, test, target, template: RowTemplate):
    tables = {"real": real, "synthetic": synthetic, "test": test}
    for name, frame in tables.items():
        if not isinstance(frame, pd.DataFrame):
            raise UserInputError(f"the {name} table must be a pandas DataFrame; got {type(frame).__name__}")
        if frame.empty:
            raise DataError(f"the {name} table has no rows")
    if target not in real.columns:
        raise UserInputError(
            f"unknown target column {target!r}; the real table has: {', '.join(map(str, real.columns))}"
        )
    for name in ("synthetic", "test"):
        if target not in tables[name].columns:
            raise UserInputError(
                f"target column {target!r} is missing from the {name} table; its columns are: "
                f"{', '.join(map(str, tables[name].columns))}"
            )
    columns = template.columns(real.columns, target=target)
    for name in ("synthetic", "test"):
        missing = [c for c in columns if c not in tables[name].columns]
        if missing:
            raise UserInputError(
                f"column {missing[0]!r} of the real table is missing from the {name} table; "
                "the texts need the same columns (pass exclude with it if it should not be written)"
            )
    labels = {name: _labels(frame, target) for name, frame in tables.items()}
    classes = sorted(labels["real"].dropna().unique().tolist())
    if len(classes) < 2:
        raise DataError(f"target column {target!r} has fewer than two classes in the real table; pick another target")
    if len(classes) > MAX_CLASSES:
        raise UserInputError(
            f"target column {target!r} has {len(classes)} distinct values; hf-eval classifies, so pick a target with "
            f"at most {MAX_CLASSES} classes (or bin a numerical one first)"
        )
    return tables, labels, classes


def hf_evaluate(real: pd.DataFrame, synthetic: pd.DataFrame, test: pd.DataFrame, *, target: str, models=None,
                scratch=(), template: RowTemplate | None = None, max_rows: int | None = None, seed: int = 0,
                tokenizer: str | None = None, scratch_size: dict | None = None, progress: bool = False,
                **train_params) -> HFEvalReport:
    """Fine-tune each model on real and on synthetic rows; score both on the real test rows.

    Parameters
    ----------
    real, synthetic, test : pandas.DataFrame
        Real training rows, synthetic rows, real test rows (never trained on).
    target : str
        The column to predict (a few classes).
    models : sequence of str or ModelSpec, optional
        Aliases, local folders or hub ids; ``("bert",)`` when neither
        ``models`` nor ``scratch`` is given.
    scratch : sequence of str
        Architectures to build small and untrained (``roberta``, ``distilbert``).
    template : RowTemplate, optional
        How rows become text; the default lists every column but the target.
    max_rows : int, optional
        Rows drawn from each training table (validation rows included).
    seed : int
        Seeds the draws, the splits and the training.
    tokenizer, scratch_size
        For models built from scratch: the tokenizer folder and size overrides.
    progress : bool
        Progress bars on stderr.
    **train_params
        Settings of :class:`~synthera.hf.train.TransformerClassifier`
        (``epochs``, ``batch_size``, ``learning_rate``, ``max_length``,
        ``class_weight``, ``patience``, ``device``, ``threads``, ...).

    Returns
    -------
    HFEvalReport
        ``.results`` (a dict), ``.to_json()``, ``.to_markdown()``, ``.to_html()``, ``.save(folder)``.
    """
    start_all = time.perf_counter()
    train_params, max_rows = _check_settings(train_params, max_rows, seed)
    template = template or RowTemplate()
    specs = resolve_models(models, scratch, tokenizer=tokenizer, scratch_size=scratch_size)
    tables, labels, classes = _prepare(real, synthetic, test, target, template)
    positive = _positive_index(labels["real"], classes)
    rng = np.random.default_rng(seed)
    data, rows_info = {}, {}
    for source in SOURCES:
        data[source], rows_info[source] = _draw(tables[source], labels[source], source=source, target=target,
                                                classes=classes, max_rows=max_rows, rng=rng, template=template)
    test_texts, test_codes, rows_info["test"], notes = _test_rows(tables["test"], labels["test"], classes,
                                                                  target=target, template=template)
    results_models = [
        _fit_and_score(spec, data, test_texts, test_codes, classes=classes, positive=positive, seed=seed,
                       progress=progress, train_params=train_params)
        for spec in specs
    ]
    settings = {**TransformerClassifier(**train_params, seed=seed).get_params(), "max_rows": max_rows}
    settings.pop("model")
    results = {
        "target": target,
        "classes": classes,
        "positive_label": classes[positive] if positive is not None else None,
        "metric_note": ("F1 and ROC AUC of the positive label" if positive is not None
                        else "macro F1, one-vs-rest ROC AUC"),
        "rows": rows_info,
        "template": template.to_dict(),
        "example_text": test_texts[0] if test_texts else None,
        "settings": settings,
        "models": results_models,
        "notes": notes,
        "seconds": time.perf_counter() - start_all,
    }
    return HFEvalReport(results)


def _check_settings(train_params: dict, max_rows, seed: int) -> tuple[dict, int | None]:
    """The training settings without ``seed`` (which ``hf_evaluate`` sets), and ``max_rows``, both checked."""
    known = TransformerClassifier.param_defaults()
    unknown = set(train_params) - set(known)
    if unknown:
        raise TypeError(f"unknown training setting {min(unknown)!r}; known: {', '.join(known)}")
    train_params = {k: v for k, v in train_params.items() if k != "seed"}
    max_rows = check_max_rows(max_rows)
    TransformerClassifier(**train_params, seed=seed).check_params()
    return train_params, max_rows


def _positive_index(real_labels: pd.Series, classes: list) -> int | None:
    """With two classes, the index of the rarer one in the real training rows (the lower index on a tie)."""
    if len(classes) != 2:
        return None
    index = {c: i for i, c in enumerate(classes)}
    counts = np.bincount([index[v] for v in real_labels.dropna()], minlength=len(classes))
    return min(range(len(classes)), key=lambda i: (counts[i], -i))


def _draw(frame: pd.DataFrame, lab: pd.Series, *, source: str, target: str, classes: list, max_rows, rng,
          template: RowTemplate):
    """``((texts, labels), rows_info)`` of one training table: known labels only, at most ``max_rows`` drawn."""
    keep = lab.notna().to_numpy()
    known = lab.isin(classes).to_numpy()
    foreign = int((keep & ~known).sum())
    if foreign:
        seen = sorted(set(lab[keep & ~known]))[:3]
        warnings.warn(
            f"{foreign} {source} rows have a {target!r} value the real table lacks ({', '.join(seen)}); left out",
            SyntheraWarning, stacklevel=3,
        )
    idx = np.flatnonzero(keep & known)
    available = len(idx)
    if max_rows is not None and available > max_rows:
        idx = np.sort(rng.choice(idx, max_rows, replace=False))
    if len(np.unique(lab.iloc[idx])) < 2:
        raise DataError(f"the {source} table holds a single class of {target!r} in the rows drawn; nothing to learn")
    info = {"available": available, "used": len(idx), "null_target": int((~keep).sum()), "unknown_label": foreign}
    return (template.render(frame.iloc[idx], target=target), lab.iloc[idx].tolist()), info


def _test_rows(frame: pd.DataFrame, lab: pd.Series, classes: list, *, target: str, template: RowTemplate):
    """``(texts, codes, rows_info, notes)`` of the test table; a label the real table lacks gets code -1."""
    index = {c: i for i, c in enumerate(classes)}
    keep = lab.notna().to_numpy()
    codes = np.array([index.get(v, -1) for v in lab[keep]], dtype=int)
    notes = []
    if (codes < 0).any():
        notes.append(f"{int((codes < 0).sum())} test rows have a label the real training table lacks; "
                     "they count as wrong predictions")
    info = {"used": len(codes), "null_target": int((~keep).sum()), "unknown_label": int((codes < 0).sum())}
    return template.render(frame[keep], target=target), codes, info, notes


def _fit_and_score(spec, data: dict, test_texts: list[str], test_codes: np.ndarray, *, classes: list,
                   positive: int | None, seed: int, progress: bool, train_params: dict) -> dict:
    """One model fine-tuned on each source and scored on the test rows, with the real-minus-synthetic gap."""
    runs = {}
    for source in SOURCES:
        texts, labs = data[source]
        clf = TransformerClassifier(spec, seed=seed, **train_params)
        clf.fit(texts, labs, classes=classes, progress=progress, description=f"{spec.name} on {source}")
        start = time.perf_counter()
        proba = clf.predict_proba(test_texts, progress=progress, description=f"{spec.name} ({source}) on test")
        predict_seconds = time.perf_counter() - start
        runs[source] = {
            **classification_scores(test_codes, proba, positive=positive),
            "train_rows": clf.train_rows_, "validation_rows": clf.validation_rows_,
            "steps": clf.steps_, "planned_steps": clf.planned_steps_, "epochs_run": clf.epochs_run_,
            "stopped_early": clf.stopped_early_, "best_step": clf.best_step_,
            "best_validation_loss": clf.best_validation_loss_, "class_weights": clf.class_weights_,
            "truncated_training_texts": clf.truncated_rows_, "truncated_test_texts": clf.last_truncated_,
            "token_lengths": clf.token_lengths_, "fit_seconds": clf.fit_seconds_,
            "predict_seconds": predict_seconds, "device": str(clf.device_), "history": clf.history_,
        }
        n_parameters = clf.n_parameters_
        del clf
    gap = {k: (runs["real"][k] - runs["synthetic"][k]
               if runs["real"][k] is not None and runs["synthetic"][k] is not None else None)
           for k in ("accuracy", "f1", "roc_auc")}
    return {**spec.to_dict(), "parameters": n_parameters, "runs": runs, "gap": gap}
