"""Building blocks of a self-contained HTML report: page frame, tables, inline SVG plots.

Plots are drawn with matplotlib's object API (no pyplot state, no display) and
inlined as SVG, so a page opens offline and carries no scripts. Every plot is
a ``<figure class="plot" data-plot="NAME">`` holding one ``<svg>``. Rendering
changes no global matplotlib setting: the SVG options apply only inside
:func:`svg`.

The kit renders plain values (dicts, lists, arrays); it imports no report
class, so evaluation and the bias tools both build on it.
"""

from __future__ import annotations

import html
import io
import re
from typing import Any

import numpy as np

__all__ = [
    "CSS", "HOLD", "REAL", "SYN", "escape", "figure", "fmt", "hist", "page", "plot_block", "short", "slug", "svg",
    "table",
]

REAL, SYN, HOLD = "#1f4e79", "#e07b00", "#6a9f3a"  # colours of real, synthetic and holdout data

# Text stays text (smaller, searchable); the same report gives the same file.
_SVG_SETTINGS = {"svg.fonttype": "none", "svg.hashsalt": "synthera"}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;\
padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{border-bottom:2px solid #1f4e79;padding-bottom:.2rem;margin-top:2.2rem}
.headline{background:#f2f6fa;border-left:5px solid #1f4e79;padding:.8rem 1.2rem;font-size:1.05rem}
.headline li{margin:.3rem 0} table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
td,th{border:1px solid #ccd;padding:.25rem .6rem;text-align:left} th{background:#eef2f7}
figure.plot{margin:1rem 0;overflow-x:auto} figure.plot svg{max-width:100%;height:auto}
figcaption{font-weight:600;margin-bottom:.3rem} .muted{color:#666;font-size:.9rem} .error{color:#a00}
"""


def escape(text: Any) -> str:
    """``text`` as HTML-safe text (quotes escaped too)."""
    return html.escape(str(text), quote=True)


def short(label: Any, width: int = 16) -> str:
    """``label`` cut to ``width`` characters with an ellipsis."""
    text = str(label)
    return text if len(text) <= width else text[: width - 1] + "…"


def slug(name: str) -> str:
    """A lower-case, dash-separated form of ``name`` for ``data-plot`` names."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# --------------------------------------------------------------------------- plots


def figure(width: float, height: float):
    """A matplotlib ``Figure`` (object API: no pyplot, no global state) of ``width`` × ``height`` inches."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def svg(fig) -> str:
    """``fig`` as one ``<svg>`` element, without date or metadata, so the same figure gives the same text."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(_SVG_SETTINGS):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text[text.index("<svg") :], flags=re.DOTALL)


def hist(ax, values: np.ndarray, bins: np.ndarray, *, color: str, fill: bool, label: str) -> None:
    """A density histogram as one path (``stairs``): far smaller SVG than one bar per bin."""
    counts, _ = np.histogram(values, bins=bins, density=True)
    if fill:
        ax.stairs(counts, bins, fill=True, color=color, alpha=0.55, label=label)
    else:
        ax.stairs(counts, bins, color=color, linewidth=1.6, label=label)


def plot_block(name: str, title: str, svg_text: str | None) -> str:
    """A ``<figure class="plot" data-plot="NAME">`` holding one SVG, or ``""`` when there is no plot."""
    if svg_text is None:
        return ""
    caption = f"<figcaption>{escape(title)}</figcaption>"
    return f'<figure class="plot" data-plot="{escape(name)}">{caption}{svg_text}</figure>'


# --------------------------------------------------------------------------- text


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: ``–`` for ``None``, floats to ``digits`` places, anything else escaped."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(value)


def table(headers: list[str], rows: list[list]) -> str:
    """An HTML table of ``rows`` under ``headers`` (cells through :func:`fmt`)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, subtitle_html: str, headline: list[str], body: list[str], timings: dict[str, float]) -> str:
    """The whole page: head and style, title, subtitle, headline list, ``body`` parts, timings footer.

    ``subtitle_html`` is inserted as it is (escape its values); empty ``body`` parts are dropped.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="muted">{subtitle_html}</p>',
        '<section class="headline" id="headline"><ul>'
        + "".join(f"<li>{escape(line)}</li>" for line in headline) + "</ul></section>",
        *body,
        f'<p class="muted">computed in {sum(timings.values()):.1f} s: '
        + escape(", ".join(f"{k} {v:.2f} s" for k, v in timings.items())) + "</p>",
        "</body></html>\n",
    ]
    return "\n".join(p for p in parts if p)
