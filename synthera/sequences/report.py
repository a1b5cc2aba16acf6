"""The sequence part of an evaluation: metrics on whole histories, their headline and their HTML section.

:func:`sequence_report` runs :func:`~synthera.sequences.metrics.evaluate_sequences` and gathers what the
report draws: the number of events per entity and the gaps between events (real and synthetic), and a
handful of real and synthetic histories of the first few numeric columns that change within a history.
:func:`render_section` turns them into HTML with the shared kit (:mod:`synthera._report.html`).

>>> results, plots = sequence_report(real, synthetic, sequence_key="patient",
...                                  sequence_index="date", holdout=holdout)   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["headline_lines", "render_section", "sequence_report"]

#: histories drawn per side, and numeric columns drawn (one row of plots each)
N_HISTORIES = 5
N_COLUMNS = 3
_DAY = 86400.0


def _gaps(frame: pd.DataFrame, key: str, index: str) -> tuple[np.ndarray, str]:
    """Index differences between consecutive events of an entity: days for dates, else the index's numbers."""
    f = frame.sort_values([key, index], kind="stable")
    values = f[index]
    if pd.api.types.is_datetime64_any_dtype(values):
        numbers, unit = values.astype("int64").to_numpy(np.float64) / 1e9 / _DAY, "days"
    else:
        numbers, unit = pd.to_numeric(values, errors="coerce").to_numpy(np.float64), "index units"
    keys = f[key].to_numpy()
    same = keys[1:] == keys[:-1]
    return (numbers[1:] - numbers[:-1])[same], unit


def _histories(frame: pd.DataFrame, key: str, index: str, columns: list[str], seed: int) -> list[dict]:
    """A few histories (at least 3 events where there are such): each column's values by position."""
    lengths = frame[key].value_counts()
    pool = lengths[lengths >= 3].index if (lengths >= 3).any() else lengths.index
    rng = np.random.default_rng(seed)
    chosen = rng.choice(np.asarray(pool, dtype=object), size=min(N_HISTORIES, len(pool)), replace=False)
    out = []
    for entity in chosen:
        rows = frame[frame[key] == entity].sort_values(index, kind="stable")
        out.append({c: pd.to_numeric(rows[c], errors="coerce").to_numpy(np.float64) for c in columns})
    return out


def _varying_numeric(real: pd.DataFrame, key: str, index: str) -> list[str]:
    cols = [c for c in real.columns if c not in (key, index) and pd.api.types.is_numeric_dtype(real[c])
            and not pd.api.types.is_bool_dtype(real[c])]
    if not cols:
        return []
    changes = real.groupby(key)[cols].nunique(dropna=False).max()
    return [c for c in cols if int(changes[c]) > 1][:N_COLUMNS]


def sequence_report(real: pd.DataFrame, synthetic: pd.DataFrame, *, sequence_key: str, sequence_index: str,
                    holdout: pd.DataFrame | None = None, target: str | None = None,
                    seed: int = 0) -> tuple[dict, dict]:
    """The sequence metrics (JSON-ready) and the arrays the report draws.

    A metric that fails becomes an ``error`` entry; the plots are still drawn.
    """
    from synthera.sequences.metrics import evaluate_sequences

    key, index = sequence_key, sequence_index
    results: dict = {"sequence_key": key, "sequence_index": index,
                     "entities": {"real": int(real[key].nunique()), "synthetic": int(synthetic[key].nunique())}}
    try:
        results.update(evaluate_sequences(real, synthetic, sequence_key=key, sequence_index=index,
                                          holdout=holdout, target=target))
    except Exception as exc:  # noqa: BLE001 - a failing metric is a row, not a crash of the evaluation
        results["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    (real_gaps, unit), (syn_gaps, _) = _gaps(real, key, index), _gaps(synthetic, key, index)
    columns = _varying_numeric(real, key, index)
    plots = {"lengths": {"real": real[key].value_counts().to_numpy(), "synthetic": synthetic[key].value_counts()
                         .to_numpy()},
             "gaps": {"real": real_gaps, "synthetic": syn_gaps, "unit": unit},
             "histories": {"columns": columns,
                           "real": _histories(real, key, index, columns, seed) if columns else [],
                           "synthetic": _histories(synthetic, key, index, columns, seed) if columns else []}}
    return results, plots


# --------------------------------------------------------------------------- headline


def headline_lines(results: dict) -> list[str]:
    """One or two plain sentences about the histories."""
    if not results or results.get("length") is None:
        return []
    parts = [f"length {results['length']:.3f}", f"gaps {results['gap']:.3f}"]
    for name, label in (("statistic_msas", "per-history statistics"), ("inter_row_msas", "lag-1 differences"),
                        ("coherence", "coherence")):
        value = results.get(name)
        if value is not None and np.isfinite(value):
            parts.append(f"{label} {value:.3f}")
    lines = [f"Histories ({results['entities']['synthetic']:,} synthetic entities): " + ", ".join(parts)
             + " (1 is a perfect match)."]
    priv, util = results.get("privacy"), results.get("utility")
    if priv:
        lines.append(f"Whole histories: {priv['dcr_share']:.1%} of synthetic histories are nearer to training "
                     f"histories than to unseen ones (50% is ideal); {priv['exact_copies']:,} copy a training "
                     "history exactly.")
    if util:
        lines.append(f"Next-event {util['target']} ({util['metric']}): {util['tstr']:.3f} when trained on synthetic "
                     f"histories, {util['trtr']:.3f} on real ones.")
    return lines


# --------------------------------------------------------------------------- HTML


def _distributions(plot: dict) -> str:
    from synthera._report.html import REAL, SYN, figure, hist, svg

    fig = figure(10, 3.0)
    left, right = fig.subplots(1, 2)
    lengths, gaps = plot["lengths"], plot["gaps"]
    top = max(int(np.max(lengths["real"], initial=1)), int(np.max(lengths["synthetic"], initial=1)))
    bins = np.arange(0.5, min(top, 200) + 1.5) if top <= 200 else np.linspace(0.5, top + 0.5, 61)
    hist(left, np.asarray(lengths["real"]), bins, color=REAL, fill=True, label="real")
    hist(left, np.asarray(lengths["synthetic"]), bins, color=SYN, fill=False, label="synthetic")
    left.set_xlabel("events per entity", fontsize=8)
    both = np.concatenate([gaps["real"], gaps["synthetic"]])
    both = both[np.isfinite(both)]
    if both.size and both.min() < both.max():
        lo, hi = np.quantile(both, [0.0, 0.99])
        edges = np.linspace(lo, hi if hi > lo else both.max(), 41)
        hist(right, np.clip(gaps["real"], edges[0], edges[-1]), edges, color=REAL, fill=True, label="real")
        hist(right, np.clip(gaps["synthetic"], edges[0], edges[-1]), edges, color=SYN, fill=False, label="synthetic")
    right.set_xlabel(f"gap between consecutive events ({gaps['unit']})", fontsize=8)
    for ax in (left, right):
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    left.legend(fontsize=7, frameon=False)
    return svg(fig)


def _histories_plot(plot: dict) -> str | None:
    from synthera._report.html import REAL, SYN, figure, short, svg

    columns = plot["columns"]
    if not columns or not plot["real"]:
        return None
    fig = figure(10, 2.4 * len(columns))
    axes = fig.subplots(len(columns), 2, squeeze=False, sharey="row")
    for row, column in enumerate(columns):
        for ax, side, color in ((axes[row, 0], "real", REAL), (axes[row, 1], "synthetic", SYN)):
            for history in plot[side]:
                values = history[column]
                ax.plot(np.arange(len(values)), values, color=color, alpha=0.75, linewidth=1.2, marker="o",
                        markersize=2.5)
            ax.set_title(f"{side}: {short(column, 30)}", fontsize=9)
            ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("position in the history", fontsize=8)
    return svg(fig)


def _metric_rows(res: dict) -> list[list]:
    rows = [["sequence length (KS complement)", res.get("length"), "1"],
            ["gaps between events (KS complement)", res.get("gap"), "1"],
            ["per-history statistics (StatisticMSAS: mean, std, min, max)", res.get("statistic_msas"), "1"],
            ["lag-1 differences (InterRowMSAS)", res.get("inter_row_msas"), "1"],
            ["coherence (category kept / lag-1 correlation)", res.get("coherence"), "1"]]
    priv, util = res.get("privacy"), res.get("utility")
    if priv:
        rows += [["history DCR share", priv["dcr_share"], "0.5"],
                 ["synthetic histories copying a training history", priv["exact_copies"], "0"]]
    if util:
        rows += [[f"next-event {util['target']} {util['metric']}, trained on synthetic (TSTR)", util["tstr"],
                  "≈ TRTR"], [f"next-event {util['target']} {util['metric']}, trained on real (TRTR)", util["trtr"],
                              "–"]]
    return [[name, float(v) if isinstance(v, (float, np.floating)) else v, ideal] for name, v, ideal in rows]


def render_section(results: dict | None, plots: dict | None) -> list[str]:
    """The "Histories" section of the evaluation page (empty when there is no sequence)."""
    from synthera._report.html import escape, plot_block, table

    if not results:
        return []
    ents = results["entities"]
    parts = ["<h2>Histories</h2>",
             f'<p class="muted">entity {escape(results["sequence_key"])}, order {escape(results["sequence_index"])}; '
             f'{ents["real"]:,} real and {ents["synthetic"]:,} synthetic entities</p>']
    if results.get("error"):
        parts.append(f'<p class="error">sequence metrics failed: {escape(results["error"])}</p>')
    parts.append(table(["metric", "value", "ideal"], _metric_rows(results)))
    details = (results.get("details") or {}).get("coherence") or {}
    if details:
        parts.append(table(["column", "kind", "real", "synthetic", "score"],
                           [[c, d["kind"], d["real"], d["synthetic"], d["score"]] for c, d in details.items()]))
    if plots:
        parts.append(plot_block("sequence-distributions", "Events per entity and gaps between events",
                                _distributions(plots)))
        drawn = _histories_plot(plots["histories"])
        if drawn is not None:
            parts.append(plot_block("sequence-histories", "A few real and synthetic histories side by side", drawn))
            parts.append('<p class="muted">The real histories drawn above are real rows: share this report only '
                         "with those who may see the real data.</p>")
    return parts
