"""Render an evaluation report (its ``results`` and ``plots`` dicts) as one self-contained HTML page.

The page is built from :mod:`synthera._report.html` (inline SVG plots, no
scripts, no network); this module adds the evaluation's plots and sections.
Every plot is an ``<figure class="plot" data-plot="NAME">`` holding one ``<svg>``.
"""

from __future__ import annotations

import numpy as np

from synthera._report.html import HOLD, REAL, SYN, escape, figure, hist, page, plot_block, short, slug, svg, table

__all__ = ["render"]

_MAX_PLOTTED_COLUMNS = 40
_MAX_LABELS = 12


def _distributions(plot: dict) -> str | None:
    cols = list(plot)[:_MAX_PLOTTED_COLUMNS]
    if not cols:
        return None
    ncols = min(4, len(cols))
    nrows = -(-len(cols) // ncols)
    fig = figure(3.2 * ncols, 2.4 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, col in zip(axes, cols, strict=False):  # the last row may have spare axes
        entry = plot[col]
        if entry["kind"] == "continuous":
            r, s = entry["real"], entry["synthetic"]
            r, s = r[np.isfinite(r)], s[np.isfinite(s)]
            both = np.concatenate([r, s])
            if both.size and both.min() < both.max():
                lo, hi = np.quantile(both, [0.005, 0.995])
                if lo == hi:
                    lo, hi = both.min(), both.max()
                bins = np.linspace(lo, hi, 31)
                hist(ax, np.clip(r, lo, hi), bins, color=REAL, fill=True, label="real")
                hist(ax, np.clip(s, lo, hi), bins, color=SYN, fill=False, label="synthetic")
            else:
                ax.text(0.5, 0.5, "no spread to plot", ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
        else:
            labels = entry["labels"]
            n = len(labels)
            r = np.bincount(entry["real"][entry["real"] >= 0], minlength=n).astype(float)
            s = np.bincount(entry["synthetic"][entry["synthetic"] >= 0], minlength=n).astype(float)
            r, s = r / max(r.sum(), 1), s / max(s.sum(), 1)
            top = np.argsort(-(r + s), kind="stable")[:_MAX_LABELS]
            x = np.arange(len(top))
            ax.bar(x - 0.2, r[top], width=0.4, color=REAL, label="real")
            ax.bar(x + 0.2, s[top], width=0.4, color=SYN, label="synthetic")
            ax.set_xticks(x, [short(labels[i], 10) for i in top], rotation=60, ha="right", fontsize=7)
            if n > _MAX_LABELS:
                ax.set_xlabel(f"top {_MAX_LABELS} of {n} labels", fontsize=7)
        ax.set_title(short(col, 28), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(cols) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, frameon=False)
    return svg(fig)


def _heatmap(plot: dict) -> str | None:
    cols = plot["columns"][:_MAX_PLOTTED_COLUMNS]
    if len(cols) < 2:
        return None
    pos = {c: i for i, c in enumerate(cols)}
    gap = np.full((len(cols), len(cols)), np.nan)
    for p in plot["pairs"]:
        a, b = pos.get(p["column_1"]), pos.get(p["column_2"])
        if a is None or b is None or p["score"] is None:
            continue
        gap[a, b] = gap[b, a] = 1.0 - p["score"]
    size = max(4.0, 0.38 * len(cols) + 2)
    fig = figure(size + 1.2, size)
    ax = fig.subplots()
    top = max(0.2, float(np.nanmax(gap)) if np.isfinite(gap).any() else 0.2)
    image = ax.imshow(np.ma.masked_invalid(gap), cmap="Reds", vmin=0, vmax=top)
    ax.set_xticks(range(len(cols)), [short(c) for c in cols], rotation=70, ha="right", fontsize=7)
    ax.set_yticks(range(len(cols)), [short(c) for c in cols], fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.8, label="1 − pair trend score")
    ax.set_title("Where real and synthetic pair trends differ", fontsize=10)
    return svg(fig)


def _utility(plot: dict) -> str | None:
    models = {k: v for k, v in plot["models"].items() if v.get("trtr") or v.get("tstr")}
    if not models:
        return None
    scores = ["r2"] if plot["kind"] == "regression" else ["accuracy", "f1", "roc_auc"]
    fig = figure(3.4 * len(scores), 3.0)
    axes = np.atleast_1d(fig.subplots(1, len(scores)))
    names = list(models)
    x = np.arange(len(names))
    for ax, score in zip(axes, scores, strict=True):
        for offset, key, color, label in ((-0.2, "trtr", REAL, "trained on real (TRTR)"),
                                          (0.2, "tstr", SYN, "trained on synthetic (TSTR)")):
            values = [(models[n].get(key) or {}).get(score) for n in names]
            ax.bar(x + offset, [v if v is not None else 0 for v in values], width=0.4, color=color, label=label)
        ax.set_xticks(x, [n.replace("_", " ") for n in names], fontsize=8)
        ax.set_title(score.replace("_", " "), fontsize=10)
        if score != "r2":
            ax.set_ylim(0, 1)
    axes[0].legend(fontsize=7, frameon=False, loc="lower left")
    return svg(fig)


def _dcr(plot: dict) -> str:
    syn, hold = plot["dcr_synthetic"], plot["dcr_holdout"]
    hi = float(np.quantile(np.concatenate([syn, hold]), 0.99)) or 1.0
    bins = np.linspace(0, hi, 41)
    fig = figure(6.5, 3.0)
    ax = fig.subplots()
    hist(ax, np.clip(syn, 0, hi), bins, color=SYN, fill=True, label="synthetic → closest training row")
    hist(ax, np.clip(hold, 0, hi), bins, color=HOLD, fill=False, label="holdout → closest training row")
    ax.set_xlabel("distance to the closest record")
    ax.set_yticks([])
    ax.legend(fontsize=8, frameon=False)
    return svg(fig)


def _fairness(name: str, plot: dict) -> str:
    selection, (real_share, syn_share) = plot["selection"], plot["representation"]
    groups = list(real_share.sort_values(ascending=False).index[:_MAX_LABELS])
    fig = figure(10, 3.2)
    left, right = fig.subplots(1, 2)
    x = np.arange(len(groups))
    for offset, source, color, label in ((-0.2, "real", REAL, "model trained on real"),
                                         (0.2, "synthetic", SYN, "model trained on synthetic")):
        if source in selection:
            rates = selection[source].reindex(groups)
            left.bar(x + offset, rates.fillna(0).to_numpy(), width=0.4, color=color, label=label)
    left.set_title(f"Selection rate on the holdout by {short(name, 30)}", fontsize=9)
    left.set_xticks(x, [short(g, 18) for g in groups], rotation=30, ha="right", fontsize=7)
    left.legend(fontsize=7, frameon=False)
    right.bar(x - 0.2, real_share.reindex(groups).to_numpy(), width=0.4, color=REAL, label="real")
    right.bar(x + 0.2, syn_share.reindex(groups).to_numpy(), width=0.4, color=SYN, label="synthetic")
    right.set_title(f"Share of rows by {short(name, 30)}", fontsize=9)
    right.set_xticks(x, [short(g, 18) for g in groups], rotation=30, ha="right", fontsize=7)
    right.legend(fontsize=7, frameon=False)
    return svg(fig)


# --------------------------------------------------------------------------- page


def _fidelity_section(fid: dict, plots: dict) -> list[str]:
    """The fidelity scores, per-column table, date steps and plots."""
    parts = ["<h2>Fidelity</h2>"]
    parts.append(table(["metric", "value", "ideal"], [
        ["column_shapes", fid.get("column_shapes"), "1"],
        ["column_pair_trends (all pairs)", fid.get("column_pair_trends"), "1"],
        ["column_pair_trends_strong (SDMetrics QualityReport pairs)", fid.get("column_pair_trends_strong"), "1"],
        ["marginal_accuracy (1 − TV over 1- and 2-way marginals)", fid.get("marginal_accuracy"), "1"],
        ["detection_auc", fid.get("detection_auc"), "0.5"],
    ]))
    if fid.get("per_column"):
        parts.append(table(["column", "kind", "metric", "score", "nulls real", "nulls synthetic"], [
            [c, v["kind"], v["metric"], v["score"], v["null_share_real"], v["null_share_synthetic"]]
            for c, v in fid["per_column"].items()
        ]))
    if "column_shapes" in plots:
        parts.append(plot_block("distributions", "Real and synthetic distributions per column",
                                 _distributions(plots["column_shapes"])))
    if fid.get("datetime_step_match"):
        steps = fid["datetime_step_match"].items()
        parts.append(table(["datetime column", "real step", "synthetic values on it"],
                            [[c, v["step"] or "finer than a second", v["share"]] for c, v in steps]))
    if "column_pair_trends" in plots:
        heat = plots["column_pair_trends"]
        title = "Pair trend differences (darker: further apart)"
        if heat.get("all_columns", 0) > len(heat["columns"]):
            title += f"; the first {len(heat['columns'])} of {heat['all_columns']} columns"
        parts.append(plot_block("correlation_difference", title, _heatmap(heat)))
    summary = fid.get("column_pairs_summary") or {}
    if summary.get("pairs_listed", 0) < summary.get("pairs_total", 0) or summary.get("sampled"):
        sampled = " (a random sample)" if summary["sampled"] else ""
        parts.append(f'<p class="muted">{summary["pairs_scored"]:,} of {summary["pairs_total"]:,} column pairs scored'
                     f'{sampled}; results.json lists {escape(summary["listed"])}, '
                     "column_pairs.parquet holds every scored pair</p>")
    return parts


def _privacy_section(priv: dict, plots: dict) -> list[str]:
    """The privacy scores, the replayed-values table and the distance plot."""
    if not priv:
        return []
    parts = ["<h2>Privacy</h2>"]
    keys = [("exact_copy_rate", "0"), ("dcr_share", "0.5"), ("dcr_median_synthetic", "≈ holdout"),
            ("dcr_median_holdout", "–"), ("nndr", "≈ holdout-like, not near 0"), ("mia_auc", "0.5"),
            ("singling_out_risk", "0"), ("linkability_risk", "0"), ("inference_risk", "0")]
    parts.append(table(["metric", "value", "ideal"], [[k, priv.get(k), ideal] for k, ideal in keys if k in priv]))
    replayed = priv.get("replayed_values") or {}
    shown = sorted(replayed.items(), key=lambda kv: (not kv[1]["flagged"], -kv[1]["rare_replayed_share"]))[:40]
    if shown:
        parts.append(table(
            ["column", "kind", "synthetic cells on a real value", "on a rare real value (< 5 rows)", "chance",
             "flagged"],
            [[c, e["kind"], e["replayed_share"], e["rare_replayed_share"], e["chance_share"],
              e["reason"] or ("yes" if e["flagged"] else "")] for c, e in shown],
        ))
    if "distance_to_closest_record" in plots:
        parts.append(plot_block("dcr", "Distance to the closest training record",
                                 _dcr(plots["distance_to_closest_record"])))
    return parts


def _utility_section(util: dict, plots: dict) -> list[str]:
    """TRTR and TSTR scores per model, and their bar plot."""
    if not util.get("models"):
        return []
    task = util["task"]
    positive = f', positive label {escape(task["positive_label"])}' if "positive_label" in task else ""
    parts = ["<h2>Utility</h2>",
             f'<p class="muted">target {escape(task["target"])} ({escape(task["kind"])}{positive}), '
             f'tested on {task["test_rows"]:,} holdout rows</p>']
    rows = []
    for name, row in util["models"].items():
        for source in ("trtr", "tstr"):
            scores = row.get(source) or {}
            rows.append([name, source.upper(), *[scores.get(k) for k in ("accuracy", "f1", "roc_auc", "r2")],
                         row.get(f"{source}_error", "")])
    parts.append(table(["model", "trained", "accuracy", "f1", "roc_auc", "r2", "error"], rows))
    if "utility" in plots:
        parts.append(plot_block("utility", "Train on synthetic (TSTR) against train on real (TRTR)",
                                _utility(plots["utility"])))
    return parts


def _fairness_section(fair: dict, plots: dict) -> list[str]:
    """Disparity of the models trained on real and on synthetic rows, per group set, with plots."""
    if not fair.get("groups"):
        return []
    parts = ["<h2>Fairness</h2>", f'<p class="muted">selection means predicting {escape(fair["positive_label"])}</p>']
    rows = []
    for name, entry in fair["groups"].items():
        for source in ("real", "synthetic"):
            got = entry.get(f"trained_on_{source}", {})
            rows.append([name, source, got.get("demographic_parity_difference"), got.get("equalized_odds_difference"),
                         entry.get("largest_representation_gap"), got.get("error", "")])
    parts.append(table(["groups", "model trained on", "demographic parity diff.", "equalized odds diff.",
                        "largest representation gap", "error"], rows))
    for name, entry in fair["groups"].items():
        parts.extend(_group_fidelity(name, entry))
        if name in plots.get("fairness", {}):
            parts.append(plot_block(f"fairness-{slug(name)}", f"Per-group fairness: {name}",
                                    _fairness(name, plots["fairness"][name])))
    return parts


def _group_fidelity(name: str, entry: dict) -> list[str]:
    """Per group: rows, column shapes, target rate with its Jeffreys interval, TSTR gap."""
    if not entry.get("by_group"):
        return []
    rows = []
    for group, row in entry["by_group"].items():
        rate, gap = row.get("target_rate", {}), row.get("tstr_gap", {})
        lo, hi = rate.get("real_interval") or [None, None]
        iv = "–" if lo is None else f"{lo:.3f}–{hi:.3f}"
        auc = gap.get("auc", {})
        rows.append([group, row["real_rows"], row["synthetic_rows"], row["column_shapes"],
                     row.get("holdout_column_shapes"), rate.get("real"), iv,
                     rate.get("synthetic"), gap.get("trtr"), gap.get("tstr"), gap.get("gap"),
                     auc.get("trtr"), auc.get("tstr"), auc.get("gap")])
    return [f"<h3>Per group: {escape(name)}</h3>",
            table(["group", "real rows", "synthetic rows", "column shapes", "holdout's shapes (ceiling)",
                   "target rate (real)", "95% interval",
                   "target rate (synthetic)", "accuracy TRTR", "accuracy TSTR", "accuracy gap",
                   "ROC AUC TRTR", "ROC AUC TSTR", "AUC gap"], rows)]


def _not_computed_section(res: dict) -> list[str]:
    """Metrics that failed (with the error) or were skipped (with the reason)."""
    if not (res["errors"] or res["skipped"]):
        return []
    parts = ["<h2>Not computed</h2>"]
    if res["errors"]:
        parts.append(table(["metric", "section", "error"],
                           [[e["metric"], e["section"], e["error"]] for e in res["errors"]]))
    if res["skipped"]:
        parts.append(table(["metric", "section", "why"],
                           [[s["metric"], s["section"], s["reason"]] for s in res["skipped"]]))
    return parts


def _sequence_section(results: dict, plots: dict) -> list[str]:
    """The "Histories" section, for a long table of events (see :mod:`synthera.sequences.report`)."""
    if not results.get("sequences"):
        return []
    from synthera.sequences.report import render_section

    return render_section(results["sequences"], plots.get("sequences"))


def render(results: dict, plots: dict) -> str:
    """The evaluation page of a report's ``results`` (its JSON dict) and ``plots`` (the arrays drawn)."""
    sub = ", ".join(f"{n:,} {k}" for k, n in results["rows"].items())
    body = [*_fidelity_section(results["fidelity"], plots), *_utility_section(results["utility"], plots),
            *_privacy_section(results["privacy"], plots), *_fairness_section(results["fairness"], plots),
            *_sequence_section(results, plots), *_not_computed_section(results)]
    return page("Synthera evaluation report", f'{escape(sub)} rows; synthera {escape(results["synthera_version"])}',
                results["headline"], body, results.get("timings_s", {}))
