"""The explicit list of evaluation metrics.

A metric is a plain function ``fn(data: EvalData) -> dict`` whose dict holds
the result keys it promises (``keys``) plus, optionally, a ``"_plot"`` entry of
arrays that the HTML report draws. :func:`register_metric` adds one and refuses
to replace an existing name by accident. The built-in metrics are registered
when :mod:`synthera.evaluate` is imported, in the order they run.

>>> from synthera.evaluate.registry import METRICS
>>> METRICS["column_shapes"].section
'fidelity'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["METRICS", "SECTIONS", "Metric", "register_metric"]

SECTIONS = ("fidelity", "utility", "privacy", "fairness")


@dataclass(frozen=True)
class Metric:
    """One registered metric.

    ``needs`` names what must be given for it to run: ``"holdout"``,
    ``"target"`` and/or ``"sensitive"``; without them it is listed as skipped.
    ``min_rows`` names the tables (``real``, ``synthetic``, ``holdout``) that
    must hold at least :data:`synthera.evaluate._data.MIN_ROWS` rows for the
    number to mean anything; below, the metric is skipped with the reason.
    """

    name: str
    section: str
    fn: Callable
    keys: tuple[str, ...]
    needs: tuple[str, ...] = ()
    description: str = ""
    min_rows: tuple[str, ...] = ()


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str,
    *,
    section: str,
    keys: tuple[str, ...] | None = None,
    needs: tuple[str, ...] = (),
    min_rows: tuple[str, ...] = (),
    replace: bool = False,
):
    """Decorator that registers ``fn`` as metric ``name`` in ``section``.

    Parameters
    ----------
    name
        Unique metric name.
    section
        One of ``fidelity``, ``utility``, ``privacy``, ``fairness``.
    keys
        Result keys the function returns (default: ``(name,)``); on failure
        each is set to ``None`` and the error is recorded once.
    needs
        Inputs the metric requires: ``holdout``, ``target``, ``sensitive``.
    min_rows
        Tables that need a minimum row count: ``real``, ``synthetic``, ``holdout``.
    replace
        Set to ``True`` to replace a metric of the same name on purpose.
    """
    if section not in SECTIONS:
        raise ValueError(f"section must be one of {', '.join(SECTIONS)}; got {section!r}")
    unknown = set(needs) - {"holdout", "target", "sensitive"}
    if unknown:
        raise ValueError(f"unknown need {min(unknown)!r}; use holdout, target or sensitive")
    if set(min_rows) - {"real", "synthetic", "holdout"}:
        raise ValueError(f"min_rows names tables: real, synthetic or holdout; got {min_rows!r}")

    def decorate(fn: Callable) -> Callable:
        if name in METRICS and not replace:
            raise ValueError(f"metric '{name}' is already registered; pass replace=True to replace it")
        doc = (fn.__doc__ or "").strip().splitlines()
        METRICS[name] = Metric(
            name, section, fn, tuple(keys or (name,)), tuple(needs), doc[0] if doc else "", tuple(min_rows)
        )
        return fn

    return decorate
