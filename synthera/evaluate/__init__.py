"""Evaluate synthetic data: fidelity, utility, privacy and fairness in one report.

>>> import synthera
>>> from synthera.evaluate import evaluate
>>> train, test = synthera.datasets.load("adult")
>>> report = evaluate(train[:2000], train[2000:4000], holdout=test[:2000],
...                   target="income", sensitive=("sex",))       # doctest: +SKIP
>>> report["fidelity"]["column_shapes"]                          # doctest: +SKIP
0.98...
>>> html = report.to_html()                                      # doctest: +SKIP

Modules, one per question: :mod:`~synthera.evaluate.fidelity`,
:mod:`~synthera.evaluate.utility`, :mod:`~synthera.evaluate.privacy`,
:mod:`~synthera.evaluate.fairness`, with :mod:`~synthera.evaluate.marginals`
for fidelity's marginal accuracy; :mod:`~synthera.evaluate.registry` holds
the explicit list of metrics and :mod:`~synthera.evaluate.report` the
:class:`Report`. The package itself is callable, so ``synthera.evaluate(real,
synthetic, ...)`` works once ``synthera.evaluate`` is imported.
"""

from __future__ import annotations

import sys
import types

import pandas as pd

from synthera.evaluate._data import EvalData
from synthera.evaluate.registry import METRICS, Metric, register_metric
from synthera.evaluate.report import Report, run_metrics

# Importing the metric modules registers their metrics, in this (running) order.
from synthera.evaluate import fidelity, marginals, utility, privacy, fairness  # noqa: F401  isort: skip

__all__ = ["METRICS", "EvalData", "Metric", "Report", "evaluate", "register_metric"]


def evaluate(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    holdout: pd.DataFrame | None = None,
    target: str | None = None,
    sensitive=(),
    metadata=None,
    metrics: list[str] | None = None,
    seed: int = 0,
) -> Report:
    """Compare a synthetic table with the real one it was learned from.

    Parameters
    ----------
    real
        The real (training) table the synthesizer learned from.
    synthetic
        The synthetic table; it must have the real table's columns.
    holdout
        Real rows the synthesizer never saw. Needed for utility (models are
        tested on it), fairness, and the privacy metrics that compare against
        unseen rows.
    target
        Column to predict, for utility and fairness.
    sensitive
        Column name(s) whose groups fairness compares (intersections too when
        several are given).
    metadata
        :class:`synthera.Metadata` (or its dict form); inferred from ``real``
        when omitted.
    metrics
        Names from :data:`METRICS` to run (default: all).
    seed
        Seed for every subsample and model, so a report is reproducible.

    Returns
    -------
    Report
        ``report.results`` (also ``report["fidelity"]`` ...), ``to_json()``,
        ``to_html()``.

    Raises
    ------
    synthera.errors.DataError
        Empty tables, mismatched columns, values of the wrong type.
    synthera.errors.UserInputError
        Unknown target/sensitive columns, unknown metric names, a sensitive
        column without groups (numbers, dates) or with too many, a target with
        fewer than two classes, a numerical target when fairness would run.
    """
    if metrics is not None:
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            from synthera.errors import UserInputError

            raise UserInputError(f"unknown metric '{unknown[0]}'; known metrics: {', '.join(METRICS)}")
    data = EvalData.build(
        real, synthetic, holdout=holdout, target=target, sensitive=sensitive, metadata=metadata, seed=seed
    )
    fairness_runs = data.sensitive and data.holdout is not None and (metrics is None or "fairness" in metrics)
    if fairness_runs and data.target is not None and data.is_continuous(data.target):
        from synthera.errors import UserInputError

        raise UserInputError(
            f"fairness needs a categorical target; '{data.target}' is {data.kind(data.target)}: "
            "pick a categorical target, or leave out sensitive"
        )
    return run_metrics(data, metrics)


class _CallableModule(types.ModuleType):
    """Lets ``synthera.evaluate(real, synthetic, ...)`` call :func:`evaluate`."""

    def __call__(self, *args, **kwargs) -> Report:
        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
