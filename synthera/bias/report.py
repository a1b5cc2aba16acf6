"""Render a bias report (the ``results`` dict of a :class:`~synthera.bias.analysis.BiasReport`) as one HTML page.

Built from :mod:`synthera._report.html`, like the evaluation report (inline
SVG plots, no scripts, no network); every plot is a
``<figure class="plot" data-plot="NAME">``.
"""

from __future__ import annotations

import numpy as np

from synthera._report.html import REAL, SYN, escape, figure, page, plot_block, short, slug, svg, table

__all__ = ["render"]

_MAX_BARS = 12


def _groups_plot(name: str, rep: dict, rates: dict) -> str:
    groups = list(rep["groups"])[:_MAX_BARS]
    fig = figure(10, 3.0)
    left, right = fig.subplots(1, 2)
    x = np.arange(len(groups))
    left.bar(x, [rep["groups"][g]["share"] for g in groups], color=REAL)
    left.set_title(f"Share of rows by {short(name, 30)}", fontsize=9)
    right.bar(x, [rates["rate"][g] for g in groups], color=SYN)
    right.axhline(rates["overall"], color="#444", linewidth=1, linestyle="--", label="all rows")
    right.set_title(f"Positive rate by {short(name, 30)}", fontsize=9)
    right.legend(fontsize=7, frameon=False)
    for ax in (left, right):
        ax.set_xticks(x, [short(g, 18) for g in groups], rotation=30, ha="right", fontsize=7)
    return svg(fig)


def _proxy_plot(col: str, entry: dict) -> str | None:
    scores = list(entry["uncertainty_coefficient"].items())[:_MAX_BARS]
    if not scores:
        return None
    fig = figure(7, 0.35 * len(scores) + 0.8)
    ax = fig.subplots()
    names = [short(f, 24) for f, _ in scores][::-1]
    ax.barh(names, [v for _, v in scores][::-1], color=REAL)
    ax.set_xlabel(f"share of {short(col, 20)}'s information (uncertainty coefficient)", fontsize=8)
    ax.tick_params(labelsize=7)
    return svg(fig)


def _groups_section(res: dict) -> list[str]:
    """Per group set: rows, shares and positive rates, the four-fifths verdict and the plot."""
    parts = ["<h2>Representation and base rates</h2>"]
    for name, rep in res["representation"].items():
        rates = res["base_rates"][name]
        parts.append(f"<h3>{escape(name)}</h3>")
        parts.append(table(["group", "rows", "share", "positive rate"], [
            [g, f"{v['rows']:,}", v["share"], rates["rate"].get(g)] for g, v in rep["groups"].items()
        ]))
        ratio = "–" if rates["ratio"] is None else f"{rates['ratio']:.3f}"
        parts.append(f'<p class="muted">largest gap in positive rate {rates["difference"]:.3f}; lowest / highest '
                     f'{ratio} ({"meets" if rates["four_fifths_rule"] else "fails"} the four-fifths rule)</p>')
        parts.append(plot_block(f"groups-{slug(name)}", f"Groups of {name}", _groups_plot(name, rep, rates)))
    return parts


def _model_section(model: dict) -> list[str]:
    """The disparity of a model trained on the table, overall and per group."""
    if not model.get("groups"):
        return []
    parts = ["<h2>Disparity of a model trained on this table</h2>"]
    parts.append(f'<p class="muted">{escape(model["model"])}, tested by {escape(model["tested_on"])} on '
                 f'{model["test_rows"]:,} rows: accuracy {model["accuracy"]:.3f}, ROC AUC '
                 f'{"–" if model["roc_auc"] is None else format(model["roc_auc"], ".3f")}</p>')
    parts.append(table(["groups", "demographic parity diff.", "equalized odds diff."], [
        [name, e["demographic_parity_difference"], e["equalized_odds_difference"]]
        for name, e in model["groups"].items()
    ]))
    for name, e in model["groups"].items():
        parts.append(f"<h3>{escape(name)}</h3>")
        parts.append(table(["group", "selection rate", "true positive rate", "false positive rate"], [
            [g, r["selection_rate"], r["true_positive_rate"], r["false_positive_rate"]]
            for g, r in e["by_group"].items()
        ]))
    return parts


def _amplification_section(amp: dict) -> list[str]:
    """Disparity trained on the synthetic table against trained on this one, with bootstrap intervals."""
    if not amp.get("groups"):
        return []
    rows = []
    for name, entry in amp["groups"].items():
        for metric, e in entry.items():
            lo, hi = e["interval"]
            iv = "–" if lo is None else f"{lo:+.3f} to {hi:+.3f}"
            rows.append([name, metric.replace("_", " "), e["real"], e["synthetic"], e["amplification"], iv,
                         "yes" if e["amplified"] else "no"])
    return ["<h2>Bias amplification by the synthetic table</h2>",
            f'<p class="muted">{escape(amp["model"])} trained on each table, tested by {escape(amp["tested_on"])} '
            f'on {amp["test_rows"]:,} rows; intervals: 95% Bayesian bootstrap over paired reweightings of those rows, '
            "with a Jeffreys prior on each group's rates</p>",
            table(["groups", "metric", "trained on real", "trained on synthetic", "amplification", "interval",
                   "amplified"], rows)]


def _proxies_section(proxies: dict) -> list[str]:
    """Per sensitive column: the columns that carry its information, and how well they predict it."""
    if not proxies:
        return []
    parts = ["<h2>Proxies of the sensitive columns</h2>"]
    for col, entry in proxies.items():
        parts.append(f"<h3>{escape(col)}</h3>")
        if "predictability_auc" in entry:
            parts.append(f'<p class="muted">the other columns predict {escape(col)} with cross-validated ROC AUC '
                         f'{entry["predictability_auc"]:.3f} (0.5: no information)</p>')
        gain = entry.get("gain_share", {})
        parts.append(table(["column", "uncertainty coefficient", "share of model gain"], [
            [f, v, gain.get(f)] for f, v in list(entry["uncertainty_coefficient"].items())[:10]
        ]))
        parts.append(plot_block(f"proxies-{slug(col)}", f"Columns that carry {col}", _proxy_plot(col, entry)))
    return parts


def render(results: dict) -> str:
    """The bias page of a bias report's ``results`` dict."""
    res = results
    sub = ", ".join(f"{n:,} {k}" for k, n in res["rows"].items())
    subtitle = (f'{escape(sub)} rows; target {escape(res["target"])} (positive label '
                f'{escape(res["positive_label"])}); synthera {escape(res["synthera_version"])}')
    body = [*_groups_section(res), *_model_section(res.get("model") or {}),
            *_amplification_section(res.get("amplification") or {}), *_proxies_section(res.get("proxies") or {})]
    if res["errors"]:
        body += ["<h2>Not computed</h2>", table(["part", "error"], [[e["metric"], e["error"]] for e in res["errors"]])]
    return page("Synthera bias report", subtitle, res["headline"], body, res.get("timings_s", {}))
