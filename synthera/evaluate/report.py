"""The evaluation report: results as JSON, a plain-words headline, one HTML file.

:func:`run_metrics` runs every registered metric whose needs are met and
collects one :class:`Report`. A metric that raises becomes an entry in
``errors`` (its keys are ``None``); one whose needs are missing, or whose
tables hold fewer rows than :data:`~synthera.evaluate._data.MIN_ROWS`, is
listed in ``skipped`` with the reason (and the headline says so). Neither
stops the others. :meth:`Report.save` writes ``results.json``,
``report.html`` and ``column_pairs.parquet`` (every scored column pair).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthera.evaluate._data import MIN_ROWS, EvalData
from synthera.evaluate.registry import METRICS, SECTIONS

__all__ = ["Report", "run_metrics"]

_NEED_HINTS = {
    "holdout": "a holdout table of real rows the synthesizer never saw (holdout)",
    "target": "a target column (target)",
    "sensitive": "one or more sensitive columns (sensitive)",
}


@dataclass
class Report:
    """What :func:`synthera.evaluate.evaluate` returns.

    ``results`` is the JSON-ready dict (sections ``fidelity``, ``utility``,
    ``privacy``, ``fairness``, plus ``headline``, ``errors``, ``skipped``,
    ``timings_s``); ``plots`` holds the arrays the HTML report draws;
    ``tables`` holds detail too long for the JSON (``column_pairs``: every
    scored column pair), saved as Parquet beside it.
    """

    results: dict
    plots: dict = field(default_factory=dict, repr=False)
    tables: dict = field(default_factory=dict, repr=False)

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

        return render(self.results, self.plots)

    def add_sequences(self, results: dict, plots: dict) -> Report:
        """Add the history metrics of a long table of events (see :mod:`synthera.sequences.report`).

        They go into ``results["sequences"]``, the headline and a "Histories" section of the HTML page.
        """
        self.results["sequences"] = results
        self.plots["sequences"] = plots
        self.results["headline"] = headline(self.results)
        return self

    def save(self, folder: str | Path) -> list[Path]:
        """Write ``results.json``, ``report.html`` and one ``NAME.parquet`` per table into ``folder``, atomically."""
        from synthera.io import atomic_path, write_text

        folder = Path(folder)
        written = [write_text(self.to_json(), folder / "results.json"),
                   write_text(self.to_html(), folder / "report.html")]
        for name, frame in self.tables.items():
            target = folder / f"{name}.parquet"
            with atomic_path(target) as tmp:
                frame.to_parquet(tmp, index=False)
            written.append(target)
        return written


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


def _usable_rows(data: EvalData) -> dict[str, int]:
    """Rows per table; the holdout counts only rows with a target value (the rows models are tested on)."""
    rows = {f: len(data.frame(f)) for f in data.frames}
    if data.holdout is not None and data.target is not None:
        rows["holdout_with_target"] = int(data.holdout[data.target].notna().sum())
    return rows


def _too_small(metric, rows: dict[str, int]) -> str | None:
    """Why a metric's number would mean little on these tables, or ``None``."""
    for frame in metric.min_rows:
        tested = frame == "holdout" and "target" in metric.needs
        n = rows.get("holdout_with_target" if tested else frame)
        if n is not None and n < MIN_ROWS[frame]:
            what = " with a target value" if tested and n != rows[frame] else ""
            return (f"the {frame} table has {n} row{'s' if n != 1 else ''}{what}; this metric needs at least "
                    f"{MIN_ROWS[frame]} to mean anything")
    return None


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
    tables: dict = {}
    given = {"holdout": data.holdout is not None, "target": data.target is not None, "sensitive": bool(data.sensitive)}
    rows = _usable_rows(data)
    names = list(METRICS) if metrics is None else metrics
    for name in names:
        metric = METRICS[name]
        missing = [n for n in metric.needs if not given[n]]
        reason = "needs " + " and ".join(_NEED_HINTS[m] for m in missing) if missing else _too_small(metric, rows)
        if reason:
            results["skipped"].append({"metric": name, "section": metric.section, "reason": reason,
                                       **({"too_few_rows": True} if not missing else {})})
            continue
        start = time.perf_counter()
        try:
            out = metric.fn(data)
        except Exception as exc:  # noqa: BLE001 - a failing metric is a row, not a crash
            message = " ".join(str(exc).split()) or type(exc).__name__
            results["errors"].append({"metric": name, "section": metric.section,
                                      "error": f"{type(exc).__name__}: {message}"})
            out = {key: None for key in metric.keys}
        results["timings_s"][name] = round(time.perf_counter() - start, 3)
        if "_plot" in out:
            plots[name] = out.pop("_plot")
        tables.update(out.pop("_tables", {}))
        results[metric.section].update(out)
    results["headline"] = headline(results)
    return Report(results, plots, tables)


# --------------------------------------------------------------------------- headline


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


WEAK_GAP = 0.05  # TSTR this far below TRTR (accuracy, ROC AUC, R²): the synthetic rows are weak for training
_STEP_MATCH_OK = 0.95


def headline(results: dict) -> list[str]:
    """A few plain sentences that summarise the results, most important first."""
    lines = [*_size_lines(results), *_replay_lines(results), *_fidelity_lines(results), *_utility_lines(results),
             *_privacy_lines(results), *_fairness_lines(results), *_sequence_lines(results)]
    if results["errors"]:
        failed = ", ".join(e["metric"] for e in results["errors"])
        lines.append(f"{len(results['errors'])} metric(s) could not be computed: {failed} (see errors).")
    return lines


def _sequence_lines(results: dict) -> list[str]:
    if not results.get("sequences"):
        return []
    from synthera.sequences.report import headline_lines

    return headline_lines(results["sequences"])


def _size_lines(results: dict) -> list[str]:
    small = [f"the {f} table has {n} row{'s' if n != 1 else ''}" for f, n in results["rows"].items() if n < MIN_ROWS[f]]
    skipped = [s["metric"] for s in results["skipped"] if s.get("too_few_rows")]
    if not small and not skipped:
        return []
    if not small:  # the holdout is big enough but too few of its rows have a target value
        small = [next(s["reason"].split(";")[0] for s in results["skipped"] if s.get("too_few_rows"))]
    text = f"Too few rows for firm numbers: {', '.join(small)} (at least {min(MIN_ROWS.values())} are needed)"
    if skipped:
        text += f"; skipped: {', '.join(skipped)}"
    return [text + "; read what follows as rough."]


def _replay_lines(results: dict) -> list[str]:
    replayed = results["privacy"].get("replayed_values") or {}
    flagged = {c: e for c, e in replayed.items() if e.get("flagged")}
    if not flagged:
        return []
    shown = [
        f"'{c}' ({e['replayed_cells']:,} of {e['synthetic_cells']:,} synthetic cells"
        + (f", {e['rare_replayed_cells']:,} of them values held by fewer than 5 real rows)"
           if e["rare_replayed_cells"] else ")")
        for c, e in list(flagged.items())[:5]
    ]
    more = f" and {len(flagged) - 5} more column(s)" if len(flagged) > 5 else ""
    personal = any(e["kind"] in ("pii", "id") for e in flagged.values())
    what = "personal data or identifiers" if personal else "rare real values"
    return [f"Privacy warning: the synthetic rows replay {what} from the real table in {', '.join(shown)}{more}; "
            "do not share them as they are (see privacy.replayed_values)."]


def _fidelity_lines(results: dict) -> list[str]:
    lines = []
    fid = results["fidelity"]
    if fid.get("column_shapes") is not None:
        text = f"Synthetic data keeps {_pct(fid['column_shapes'])} of column shapes"
        if fid.get("column_pair_trends") is not None:
            text += f" and {_pct(fid['column_pair_trends'])} of column pair trends"
        lines.append(text + " (100% is a perfect match).")
    for col, entry in (fid.get("datetime_step_match") or {}).items():
        if entry.get("share") is not None and entry["share"] < _STEP_MATCH_OK:
            lines.append(f"Dates in '{col}' lose the real data's {entry['step']} step: only {_pct(entry['share'])} "
                         "of synthetic values fall on it.")
    if fid.get("detection_auc") is not None:
        auc = fid["detection_auc"]
        verdict = "can hardly tell" if auc < 0.6 else "can partly tell" if auc < 0.8 else "easily tells"
        lines.append(f"A classifier {verdict} synthetic rows from real ones (AUC {auc:.2f}; 0.50 is ideal).")
    return lines


def _interval(row: dict, source: str, score: str) -> str:
    got = (row.get(f"{source}_interval") or {}).get(score)
    return f" (95% interval {got[0]:.3f}–{got[1]:.3f})" if got and None not in got else ""


def _utility_lines(results: dict) -> list[str]:
    models = results["utility"].get("models") or {}
    best = models.get("lightgbm") or next(iter(models.values()), None)
    if not (best and best.get("tstr") and best.get("trtr")):
        return []
    score = "roc_auc" if best["trtr"].get("roc_auc") is not None else next(iter(best["trtr"]))
    trtr, tstr = best["trtr"][score], best["tstr"][score]
    if trtr is None or tstr is None:
        return []
    name = "ROC AUC" if score == "roc_auc" else "R²" if score == "r2" else score
    share = f" ({_pct(tstr / trtr)} of real)" if trtr > 0 else ""
    lines = [f"Models trained on synthetic data reach {name} {tstr:.3f}{_interval(best, 'tstr', score)} on real "
             f"holdout rows, against {trtr:.3f}{_interval(best, 'trtr', score)} when trained on real data{share}."]
    if trtr - tstr > WEAK_GAP:
        lines.append(f"Models trained on the synthetic rows are much weaker than on real rows ({name} {tstr:.2f} "
                     f"against {trtr:.2f}): the synthetic data is weak for training models.")
    return lines


def _privacy_lines(results: dict) -> list[str]:
    lines = []
    priv = results["privacy"]
    parts = []
    if priv.get("exact_copy_rate") is not None:
        flagged = any(e.get("flagged") for e in (priv.get("replayed_values") or {}).values())
        text = f"{_pct(priv['exact_copy_rate'])} of synthetic rows copy a real row exactly in the compared columns"
        parts.append(text + (", yet single columns replay real values (see the warning above)" if flagged else ""))
    if priv.get("dcr_share") is not None:
        parts.append(f"{_pct(priv['dcr_share'])} are nearer to training rows than to unseen ones (50% is ideal)")
    if priv.get("mia_auc") is not None:
        parts.append(f"a membership attack reaches AUC {priv['mia_auc']:.2f} (0.50 is ideal)")
    if parts:
        lines.append("Privacy: " + "; ".join(parts) + ".")
    risks = [(k.replace("_risk", "").replace("_", " "), priv.get(k))
             for k in ("singling_out_risk", "linkability_risk", "inference_risk")]
    risks = [(k, v) for k, v in risks if v is not None]
    if risks:
        named = ", ".join(f"{k} {v:.3f}" for k, v in risks)
        lines.append(f"Attack risks beyond what unseen rows give away: {named} (0 is ideal).")
    return lines


def _fairness_lines(results: dict) -> list[str]:
    lines = []
    for name, entry in (results["fairness"].get("groups") or {}).items():
        real, syn = entry.get("trained_on_real", {}), entry.get("trained_on_synthetic", {})
        if "demographic_parity_difference" in real and "demographic_parity_difference" in syn:
            lines.append(
                f"Fairness by {name}: demographic parity difference {syn['demographic_parity_difference']:.3f} "
                f"when trained on synthetic data, {real['demographic_parity_difference']:.3f} on real data."
            )
        lines.extend(_amplified_lines(name, entry))
        lines.extend(_off_rate_lines(name, entry))
    return lines


_DISPARITY_NAMES = {"demographic_parity_difference": "demographic parity difference",
                    "equalized_odds_difference": "equalized odds difference"}


def _amplified_lines(name: str, entry: dict) -> list[str]:
    """A warning per disparity that the synthetic-trained model amplifies beyond the real data's bootstrap noise."""
    noise = entry.get("disparity_noise") or {}
    lines = []
    for metric, label in _DISPARITY_NAMES.items():
        got = noise.get(metric) or {}
        if not got.get("amplified"):
            continue
        moved = noise.get("groups_moved") or []
        groups = f"; the groups whose selection rate moved: {', '.join(moved[:6])}" if moved else ""
        lines.append(
            f"Bias warning: a model trained on the synthetic data is more disparate by {name} than one trained on "
            f"real data, beyond the real data's own sampling noise ({label} {got['synthetic']:.3f} against "
            f"{got['real']:.3f}, whose 95% interval ends at {got['real_interval'][1]:.3f}){groups}."
        )
    return lines


def _off_rate_lines(name: str, entry: dict) -> list[str]:
    """The groups whose synthetic target rate lies outside the real rate's Jeffreys interval."""
    off = [(g, row["target_rate"]) for g, row in (entry.get("by_group") or {}).items()
           if row.get("target_rate", {}).get("within_interval") is False]
    if not off:
        return []
    shown = ", ".join(f"{g} ({_pct(r['synthetic'])} against {_pct(r['real'])})" for g, r in off[:6])
    more = f" and {len(off) - 6} more" if len(off) > 6 else ""
    return [f"By {name}, the synthetic target rate falls outside the real rate's 95% interval for {shown}{more}."]
