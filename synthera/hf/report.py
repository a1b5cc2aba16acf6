"""The results of :func:`synthera.hf.evaluate.hf_evaluate`: JSON, a markdown and HTML table, training curves.

The table has the seed project's shape, ``Model | on real | on synthetic``
(accuracy on the real test rows), followed by every score of every run.
Models built from scratch carry "not pretrained" in their name in every
table and plot.

Files written by :meth:`HFEvalReport.save`:

* ``results.json``: everything, including the training curves;
* ``results.md``: the tables in markdown;
* ``report.html``: the tables and the curves (inline SVG) in one self-contained page, built with
  :mod:`synthera._report.html` like the evaluation and bias reports;
* ``curves.png``: training loss and validation loss / ROC AUC against steps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["FORMAT", "FORMAT_VERSION", "HFEvalReport"]

FORMAT = "synthera-hf-eval"
FORMAT_VERSION = 1


def _num(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def _default(value):
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


class HFEvalReport:
    """Results of a transformer evaluation; ``results`` is a plain dict.

    Examples
    --------
    >>> report = HFEvalReport.from_json(open("hf-eval/results.json").read())  # doctest: +SKIP
    >>> print(report.to_markdown())  # doctest: +SKIP
    """

    def __init__(self, results: dict):
        self.results = results

    @classmethod
    def from_json(cls, text: str) -> HFEvalReport:
        """A report from the text of a results.json."""
        data = json.loads(text)
        return cls({k: v for k, v in data.items() if k not in ("format", "format_version", "headline")})

    # ------------------------------------------------------------------ words

    @property
    def headline(self) -> list[str]:
        """One plain sentence per model: accuracy trained on synthetic against trained on real."""
        lines = []
        for m in self.results["models"]:
            real, syn = m["runs"]["real"], m["runs"]["synthetic"]
            gap = m["gap"]["accuracy"]
            verdict = ("as well as" if abs(gap) <= 0.005 else
                       "better than" if gap < 0 else f"{gap:.3f} below")
            lines.append(
                f"{m['label']}: trained on synthetic rows it scores {syn['accuracy']:.3f} accuracy "
                f"(ROC AUC {_num(syn['roc_auc'], 3)}) on the real test rows, {verdict} trained on real rows "
                f"({real['accuracy']:.3f}, ROC AUC {_num(real['roc_auc'], 3)})."
            )
        return lines

    def table_rows(self) -> list[tuple[str, str, str]]:
        """``(model, on real, on synthetic)``: accuracy on the real test rows, like the seed's table."""
        return [(m["label"], _num(m["runs"]["real"]["accuracy"]), _num(m["runs"]["synthetic"]["accuracy"]))
                for m in self.results["models"]]

    def detail_rows(self) -> list[list[str]]:
        """Every run: model, trained on, accuracy, F1, ROC AUC, rows, steps, epochs, early stop, seconds."""
        rows = []
        for m in self.results["models"]:
            for source in ("real", "synthetic"):
                r = m["runs"][source]
                rows.append([
                    m["label"], source, _num(r["accuracy"]), _num(r["f1"]), _num(r["roc_auc"]),
                    f"{r['train_rows']:,} + {r['validation_rows']:,}", f"{r['steps']}/{r['planned_steps']}",
                    f"{r['epochs_run']:g}", "yes" if r["stopped_early"] else "no",
                    f"{r['fit_seconds']:.0f} + {r['predict_seconds']:.0f}",
                ])
        return rows

    _DETAIL_HEADER = ("model", "trained on", "accuracy", "F1", "ROC AUC", "rows (train + validation)",
                      "steps (run/planned)", "epochs", "stopped early", "seconds (fit + test)")

    def _intro(self) -> list[str]:
        r = self.results
        test_rows = r["rows"]["test"]["used"]
        pos = f"; F1 and ROC AUC for `{r['target']}` = `{r['positive_label']}`" if r.get("positive_label") else ""
        return [
            f"Target `{r['target']}`; every model is scored on the same {test_rows:,} real test rows{pos}.",
            f"Rows are written as text, e.g. `{r['example_text']}`." if r.get("example_text") else "",
        ]

    # ------------------------------------------------------------------ formats

    def to_dict(self) -> dict:
        """The results with format, version and headline."""
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "headline": self.headline, **self.results}

    def to_json(self) -> str:
        """results.json text."""
        return json.dumps(self.to_dict(), indent=1, default=_default, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        """The seed-shaped table (accuracy), then every score of every run."""
        lines = ["# Transformers fine-tuned on real and on synthetic rows", "", *[x for x in self._intro() if x], ""]
        lines += ["| Model | on real | on synthetic |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in self.table_rows()]
        lines += ["", "Accuracy on the real test rows. Every score:", ""]
        lines += ["| " + " | ".join(self._DETAIL_HEADER) + " |", "|" + "---|" * len(self._DETAIL_HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in self.detail_rows()]
        lines += ["", *[f"- {line}" for line in self.headline]]
        lines += [f"- {note}" for note in self.results.get("notes", [])]
        return "\n".join(lines) + "\n"

    def to_html(self, *, curves: bool = True) -> str:
        """A self-contained page (the shared report kit): the tables, notes and, with ``curves``, the curves as SVG."""
        from synthera._report.html import escape, page, plot_block, svg, table

        intro = " ".join(escape(x).replace("`", "") for x in self._intro() if x)
        body = [
            table(["Model", "on real", "on synthetic"], [list(row) for row in self.table_rows()]),
            "<p>Accuracy on the real test rows. Every score:</p>",
            table(list(self._DETAIL_HEADER), self.detail_rows()),
        ]
        notes = self.results.get("notes", [])
        if notes:
            body.append('<ul class="muted">' + "".join(f"<li>{escape(x)}</li>" for x in notes) + "</ul>")
        if curves and self._has_curves():
            body.append(plot_block("training-curves", "Training curves", svg(self._curves_figure())))
        return page("Transformers fine-tuned on real and on synthetic rows", intro, self.headline, body,
                    self._timings())

    def _timings(self) -> dict[str, float]:
        """Seconds to fit and test each run, for the page's footer."""
        return {f"{m['label']} on {source}": float(run["fit_seconds"] + run["predict_seconds"])
                for m in self.results["models"] for source, run in m["runs"].items()}

    def _has_curves(self) -> bool:
        return any(run["history"]["train"] or run["history"]["validation"]
                   for m in self.results["models"] for run in m["runs"].values())

    def _curves_figure(self):
        """Training and validation loss, and validation ROC AUC, against training steps (no pyplot state)."""
        from matplotlib import rcParams

        from synthera._report.html import figure

        fig = figure(11, 4)
        axes = fig.subplots(1, 2)
        colors = rcParams["axes.prop_cycle"].by_key()["color"]
        runs = [(m, source, style) for m in self.results["models"] for source, style in (("real", "-"),
                                                                                         ("synthetic", "--"))]
        for k, (m, source, style) in enumerate(runs):
            hist, color = m["runs"][source]["history"], colors[k % len(colors)]
            name = f"{m['name']}{'' if m['pretrained'] else ' (not pretrained)'} on {source}"
            if hist["train"]:
                axes[0].plot([h["step"] for h in hist["train"]], [h["loss"] for h in hist["train"]], style,
                             color=color, alpha=0.45, label=f"{name}: training")
            val = hist["validation"]
            if val:
                axes[0].plot([h["step"] for h in val], [h["loss"] for h in val], style, color=color,
                             marker="o", label=f"{name}: validation")
                auc = [(h["step"], h["roc_auc"]) for h in val if h.get("roc_auc") is not None]
                if auc:
                    axes[1].plot(*zip(*auc, strict=True), style, color=color, marker="o", label=name)
        axes[0].set_title("loss (validation rows come from the training table)")
        axes[0].set_xlabel("training step")
        axes[0].set_ylabel("cross-entropy")
        axes[1].set_title("validation ROC AUC")
        axes[1].set_xlabel("training step")
        for ax in axes:
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
        return fig

    def plot_curves(self) -> bytes:
        """PNG bytes: training and validation loss, and validation ROC AUC, against training steps."""
        import io

        buf = io.BytesIO()
        self._curves_figure().savefig(buf, format="png", dpi=110)
        return buf.getvalue()

    def save(self, folder) -> dict:
        """Write results.json, results.md, report.html and curves.png into ``folder``; returns their paths."""
        from synthera.errors import UserInputError
        from synthera.io import atomic_path, write_text

        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise UserInputError(f"{folder} is a file; the output needs a folder")
        folder.mkdir(parents=True, exist_ok=True)
        png = self.plot_curves()
        paths = {
            "json": write_text(self.to_json(), folder / "results.json"),
            "markdown": write_text(self.to_markdown(), folder / "results.md"),
            "html": write_text(self.to_html(), folder / "report.html"),
        }
        with atomic_path(folder / "curves.png") as tmp:
            Path(tmp).write_bytes(png)
        paths["curves"] = folder / "curves.png"
        return paths
