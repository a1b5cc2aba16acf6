"""Render a :class:`~synthera.bias.analysis.BiasReport` as one self-contained HTML page.

Same look and rules as the evaluation report (inline SVG plots drawn with
matplotlib's object API, no scripts, no network); every plot is a
``<figure class="plot" data-plot="NAME">``.
"""

from __future__ import annotations

import re

import numpy as np

from synthera.evaluate._html import _CSS, _REAL, _SYN, _figure, _plot_block, _short, _svg, _table
from synthera.evaluate.report import escape

__all__ = ["render"]

_MAX_BARS = 12


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _groups_plot(name: str, rep: dict, rates: dict) -> str:
    groups = list(rep["groups"])[:_MAX_BARS]
    fig = _figure(10, 3.0)
    left, right = fig.subplots(1, 2)
    x = np.arange(len(groups))
    left.bar(x, [rep["groups"][g]["share"] for g in groups], color=_REAL)
    left.set_title(f"Share of rows by {_short(name, 30)}", fontsize=9)
    right.bar(x, [rates["rate"][g] for g in groups], color=_SYN)
    right.axhline(rates["overall"], color="#444", linewidth=1, linestyle="--", label="all rows")
    right.set_title(f"Positive rate by {_short(name, 30)}", fontsize=9)
    right.legend(fontsize=7, frameon=False)
    for ax in (left, right):
        ax.set_xticks(x, [_short(g, 18) for g in groups], rotation=30, ha="right", fontsize=7)
    return _svg(fig)


def _proxy_plot(col: str, entry: dict) -> str | None:
    scores = list(entry["uncertainty_coefficient"].items())[:_MAX_BARS]
    if not scores:
        return None
    fig = _figure(7, 0.35 * len(scores) + 0.8)
    ax = fig.subplots()
    names = [_short(f, 24) for f, _ in scores][::-1]
    ax.barh(names, [v for _, v in scores][::-1], color=_REAL)
    ax.set_xlabel(f"share of {_short(col, 20)}'s information (uncertainty coefficient)", fontsize=8)
    ax.tick_params(labelsize=7)
    return _svg(fig)


def render(report) -> str:
    res = report.results
    sub = ", ".join(f"{n:,} {k}" for k, n in res["rows"].items())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Synthera bias report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Synthera bias report</h1>",
        (f'<p class="muted">{escape(sub)} rows; target {escape(res["target"])} (positive label '
         f'{escape(res["positive_label"])}); synthera {escape(res["synthera_version"])}</p>'),
        ('<section class="headline" id="headline"><ul>'
         + "".join(f"<li>{escape(line)}</li>" for line in res["headline"]) + "</ul></section>"),
        "<h2>Representation and base rates</h2>",
    ]
    for name, rep in res["representation"].items():
        rates = res["base_rates"][name]
        parts.append(f"<h3>{escape(name)}</h3>")
        parts.append(_table(["group", "rows", "share", "positive rate"], [
            [g, f"{v['rows']:,}", v["share"], rates["rate"].get(g)] for g, v in rep["groups"].items()
        ]))
        ratio = "–" if rates["ratio"] is None else f"{rates['ratio']:.3f}"
        parts.append(f'<p class="muted">largest gap in positive rate {rates["difference"]:.3f}; lowest / highest '
                     f'{ratio} ({"meets" if rates["four_fifths_rule"] else "fails"} the four-fifths rule)</p>')
        parts.append(_plot_block(f"groups-{_slug(name)}", f"Groups of {name}", _groups_plot(name, rep, rates)))

    model = res.get("model") or {}
    if model.get("groups"):
        parts.append("<h2>Disparity of a model trained on this table</h2>")
        parts.append(f'<p class="muted">{escape(model["model"])}, tested by {escape(model["tested_on"])} on '
                     f'{model["test_rows"]:,} rows: accuracy {model["accuracy"]:.3f}, ROC AUC '
                     f'{"–" if model["roc_auc"] is None else format(model["roc_auc"], ".3f")}</p>')
        parts.append(_table(["groups", "demographic parity diff.", "equalized odds diff."], [
            [name, e["demographic_parity_difference"], e["equalized_odds_difference"]]
            for name, e in model["groups"].items()
        ]))
        for name, e in model["groups"].items():
            parts.append(f"<h3>{escape(name)}</h3>")
            parts.append(_table(["group", "selection rate", "true positive rate", "false positive rate"], [
                [g, r["selection_rate"], r["true_positive_rate"], r["false_positive_rate"]]
                for g, r in e["by_group"].items()
            ]))

    proxies = res.get("proxies") or {}
    if proxies:
        parts.append("<h2>Proxies of the sensitive columns</h2>")
        for col, entry in proxies.items():
            parts.append(f"<h3>{escape(col)}</h3>")
            if "predictability_auc" in entry:
                parts.append(f'<p class="muted">the other columns predict {escape(col)} with cross-validated ROC AUC '
                             f'{entry["predictability_auc"]:.3f} (0.5: no information)</p>')
            gain = entry.get("gain_share", {})
            parts.append(_table(["column", "uncertainty coefficient", "share of model gain"], [
                [f, v, gain.get(f)] for f, v in list(entry["uncertainty_coefficient"].items())[:10]
            ]))
            parts.append(_plot_block(f"proxies-{_slug(col)}", f"Columns that carry {col}", _proxy_plot(col, entry)))

    if res["errors"]:
        parts.append("<h2>Not computed</h2>")
        parts.append(_table(["part", "error"], [[e["metric"], e["error"]] for e in res["errors"]]))
    timings = res.get("timings_s", {})
    parts.append(f'<p class="muted">computed in {sum(timings.values()):.1f} s: '
                 + escape(", ".join(f"{k} {v:.2f} s" for k, v in timings.items())) + "</p>")
    parts.append("</body></html>\n")
    return "\n".join(p for p in parts if p)
