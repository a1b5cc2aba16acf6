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
    """

    name: str
    section: str
    fn: Callable
    keys: tuple[str, ...]
    needs: tuple[str, ...] = ()
    description: str = ""


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str,
    *,
    section: str,
    keys: tuple[str, ...] | None = None,
    needs: tuple[str, ...] = (),
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
    replace
        Set to ``True`` to replace a metric of the same name on purpose.
    """
    if section not in SECTIONS:
        raise ValueError(f"section must be one of {', '.join(SECTIONS)}; got {section!r}")
    unknown = set(needs) - {"holdout", "target", "sensitive"}
    if unknown:
        raise ValueError(f"unknown need {min(unknown)!r}; use holdout, target or sensitive")

    def decorate(fn: Callable) -> Callable:
        if name in METRICS and not replace:
            raise ValueError(f"metric '{name}' is already registered; pass replace=True to replace it")
        doc = (fn.__doc__ or "").strip().splitlines()
        METRICS[name] = Metric(name, section, fn, tuple(keys or (name,)), tuple(needs), doc[0] if doc else "")
        return fn

    return decorate
