"""The evaluation report: results as JSON, a plain-words headline, one HTML file.

:func:`run_metrics` runs every registered metric whose needs are met and
collects one :class:`Report`. A metric that raises becomes an entry in
``errors`` (its keys are ``None``); one whose needs are missing is listed in
``skipped``. Neither stops the others.
"""

from __future__ import annotations

import html
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthera.evaluate._data import EvalData
from synthera.evaluate.registry import METRICS, SECTIONS

__all__ = ["Report", "run_metrics"]

_NEED_HINTS = {
    "holdout": "a holdout table of real rows the synthesizer never saw (--holdout)",
    "target": "a target column (--target)",
    "sensitive": "one or more sensitive columns (--sensitive)",
}


@dataclass
class Report:
    """What :func:`synthera.evaluate.evaluate` returns.

    ``results`` is the JSON-ready dict (sections ``fidelity``, ``utility``,
    ``privacy``, ``fairness``, plus ``headline``, ``errors``, ``skipped``,
    ``timings_s``); ``plots`` holds the arrays the HTML report draws.
    """

    results: dict
    plots: dict = field(default_factory=dict, repr=False)

    def __getitem__(self, section: str) -> Any:
        return self.results[section]

    @property
    def headline(self) -> list[str]:
        return self.results["headline"]

    def to_json(self) -> str:
        """The results as indented JSON (NaN and infinities become ``null``)."""
        return json.dumps(_clean(self.results), indent=2, ensure_ascii=False) + "\n"

    def to_html(self) -> str:
        """One self-contained HTML page (inline SVG plots, no scripts, no network)."""
        from synthera.evaluate._html import render

        return render(self)


def _clean(value):
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    return value


def run_metrics(data: EvalData, metrics: list[str] | None = None) -> Report:
    """Run the registered metrics (or those named) on ``data`` and build the report."""
    from synthera import __version__

    results: dict = {
        "synthera_version": __version__,
        "rows": {f: len(data.frame(f)) for f in data.frames},
        "columns": {c: data.kind(c) for c in data.columns},
        "skipped_columns": dict(data.skipped_columns),
        "target": data.target,
        "sensitive": list(data.sensitive),
        **{s: {} for s in SECTIONS},
        "errors": [],
        "skipped": [],
        "timings_s": {},
    }
    plots: dict = {}
    given = {"holdout": data.holdout is not None, "target": data.target is not None, "sensitive": bool(data.sensitive)}
    names = list(METRICS) if metrics is None else metrics
    for name in names:
        metric = METRICS[name]
        missing = [n for n in metric.needs if not given[n]]
        if missing:
            results["skipped"].append(
                {"metric": name, "section": metric.section, "reason": "needs " + " and ".join(_NEED_HINTS[m] for m in missing)}
            )
            continue
        start = time.perf_counter()
        try:
            out = metric.fn(data)
        except Exception as exc:  # noqa: BLE001 - a failing metric is a row, not a crash
            message = " ".join(str(exc).split()) or type(exc).__name__
            results["errors"].append({"metric": name, "section": metric.section, "error": f"{type(exc).__name__}: {message}"})
            out = {key: None for key in metric.keys}
        results["timings_s"][name] = round(time.perf_counter() - start, 3)
        if "_plot" in out:
            plots[name] = out.pop("_plot")
        results[metric.section].update(out)
    results["headline"] = headline(results)
    return Report(results, plots)


# --------------------------------------------------------------------------- headline


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def headline(results: dict) -> list[str]:
    """A few plain sentences that summarise the results, most important first."""
    lines = []
    fid = results["fidelity"]
    if fid.get("column_shapes") is not None:
        text = f"Synthetic data keeps {_pct(fid['column_shapes'])} of column shapes"
        if fid.get("column_pair_trends") is not None:
            text += f" and {_pct(fid['column_pair_trends'])} of column pair trends"
        lines.append(text + " (100% is a perfect match).")
    if fid.get("detection_auc") is not None:
        auc = fid["detection_auc"]
        verdict = "can hardly tell" if auc < 0.6 else "can partly tell" if auc < 0.8 else "easily tells"
        lines.append(f"A classifier {verdict} synthetic rows from real ones (AUC {auc:.2f}; 0.50 is ideal).")
    util = results["utility"]
    models = util.get("models") or {}
    best = models.get("lightgbm") or next(iter(models.values()), None)
    if best and best.get("tstr") and best.get("trtr"):
        score = "roc_auc" if best["trtr"].get("roc_auc") is not None else next(iter(best["trtr"]))
        trtr, tstr = best["trtr"][score], best["tstr"][score]
        if trtr is not None and tstr is not None:
            share = f" ({_pct(tstr / trtr)} of real)" if trtr > 0 else ""
            lines.append(
                f"Models trained on synthetic data reach {score.replace('_', ' ').upper() if score == 'roc_auc' else score} "
                f"{tstr:.3f} on real holdout rows, against {trtr:.3f} when trained on real data{share}."
            )
    priv = results["privacy"]
    parts = []
    if priv.get("exact_copy_rate") is not None:
        parts.append(f"{_pct(priv['exact_copy_rate'])} of synthetic rows copy a real row exactly")
    if priv.get("dcr_share") is not None:
        parts.append(f"{_pct(priv['dcr_share'])} are nearer to training rows than to unseen ones (50% is ideal)")
    if priv.get("mia_auc") is not None:
        parts.append(f"a membership attack reaches AUC {priv['mia_auc']:.2f} (0.50 is ideal)")
    if parts:
        lines.append("Privacy: " + "; ".join(parts) + ".")
    risks = [(k.replace("_risk", "").replace("_", " "), priv.get(k)) for k in ("singling_out_risk", "linkability_risk", "inference_risk")]
    risks = [(k, v) for k, v in risks if v is not None]
    if risks:
        lines.append("Attack risks beyond what unseen rows give away: " + ", ".join(f"{k} {v:.3f}" for k, v in risks) + " (0 is ideal).")
    for name, entry in (results["fairness"].get("groups") or {}).items():
        real, syn = entry.get("trained_on_real", {}), entry.get("trained_on_synthetic", {})
        if "demographic_parity_difference" in real and "demographic_parity_difference" in syn:
            lines.append(
                f"Fairness by {name}: demographic parity difference {syn['demographic_parity_difference']:.3f} "
                f"when trained on synthetic data, {real['demographic_parity_difference']:.3f} on real data."
            )
    if results["errors"]:
        failed = ", ".join(e["metric"] for e in results["errors"])
        lines.append(f"{len(results['errors'])} metric(s) could not be computed: {failed} (see errors).")
    return lines


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)
