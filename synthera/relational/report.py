"""The result of :func:`~synthera.relational.evaluate_database` and its HTML report.

:class:`DatabaseEvaluation` is the plain results dict (JSON as it is) that also
knows its schema, so :meth:`DatabaseEvaluation.to_html` can draw the schema
graph: tables in layers, parents above children (the topological order), each
foreign key an arrow labelled with its cardinality score (and inter-table
trends), coloured from red to green. The SVG is written by hand: no script, no
network, the same input gives the same file. Per-table fidelity, the quality
properties, k-hop trends, integrity and privacy follow as tables, on the
shared report kit (:mod:`synthera._report.html`).
"""

from __future__ import annotations

import os
from pathlib import Path

from synthera._report.html import escape, page, table
from synthera.relational.schema import Schema

__all__ = ["DatabaseEvaluation", "schema_graph_svg"]

_BOX_W, _BOX_H, _GAP_X, _GAP_Y = 170, 54, 40, 90


class DatabaseEvaluation(dict):
    """``evaluate_database``'s results (a dict) plus the schema they were computed on."""

    def __init__(self, results: dict, schema: Schema, rows: dict[str, tuple[int, int]] | None = None):
        super().__init__(results)
        self.schema = schema
        self.rows = rows or {}

    def to_html(self) -> str:
        """A self-contained HTML page: the schema graph with each relationship's score, then the tables."""
        q = self.get("quality", {})
        headline = []
        if "score" in q:
            headline.append("quality (sdmetrics recipe, all pairs): " + ", ".join(
                f"{k.replace('_', ' ')} {q[k]:.3f}" for k in ("column_shapes", "column_pair_trends", "cardinality",
                                                              "intertable_trends", "score") if k in q))
        ri = self.get("referential_integrity", {})
        if "score" in ri:
            headline.append(f"referential integrity {ri['score']:.4f}")
        kh = self.get("khop_trends", {})
        if kh.get("score") is not None:
            headline.append(f"k-hop trends {kh['score']:.3f}")
        body = ['<h2 id="schema">Schema and relationships</h2>',
                '<p class="muted">Parents above children. Each arrow is a foreign key, labelled with its '
                "cardinality score (children per parent, KS complement) and inter-table trends (it).</p>",
                f'<figure class="plot" data-plot="schema-graph">{schema_graph_svg(self.schema, self)}</figure>']
        body += self._tables_html()
        return page("Synthera database evaluation", escape(f"{len(self.schema.tables)} tables, "
                                                            f"{len(self.schema.foreign_keys)} foreign keys"),
                    headline, body, {})

    def _tables_html(self) -> list[str]:
        per_table = self.get("tables", {})
        rows = []
        for t in self.schema.order():
            entry = per_table.get(t, {})
            real, syn = self.rows.get(t, (None, None))
            public = "public (copied)" if self.schema.tables[t].public else ""
            rows.append([t, real, syn, entry.get("column_shapes"), entry.get("column_pair_trends"), public])
        out = ['<h2 id="tables">Per-table fidelity</h2>',
               table(["table", "real rows", "synthetic rows", "column shapes", "column pair trends", ""], rows)]
        card = self.get("cardinality", {}).get("foreign_keys", {})
        inter = self.get("intertable_trends", {}).get("foreign_keys", {})
        ri = self.get("referential_integrity", {}).get("foreign_keys", {})
        bounds = self.get("cardinality_bounds", {}).get("foreign_keys", {})
        fk_rows = [[fk.name, fk.parent, card.get(fk.name), inter.get(fk.name), bounds.get(fk.name), ri.get(fk.name)]
                   for fk in self.schema.foreign_keys]
        out += ['<h2 id="relationships">Relationships</h2>',
                table(["foreign key", "parent", "cardinality", "inter-table trends", "within real min/max",
                       "integrity"], fk_rows)]
        hops = self.get("khop_trends", {}).get("hops", {})
        if hops:
            out += ['<h2 id="khop">K-hop trends</h2>', table(["hops", "score"], [[k, v] for k, v in hops.items()])]
        privacy = self.get("privacy", {})
        if privacy and "error" not in privacy:
            prow = []
            for view, e in privacy.items():
                if not isinstance(e, dict) or "error" in e:
                    prow.append([view, None, None, None, e.get("error") if isinstance(e, dict) else e])
                    continue
                prow.append([view, (e.get("exact_copies") or {}).get("exact_copy_rate"),
                             (e.get("dcr") or {}).get("dcr_share"), (e.get("detection") or {}).get("detection_auc"),
                             ""])
            out += ['<h2 id="privacy">Privacy</h2>',
                    table(["view", "exact copies", "DCR share", "detection AUC", ""], prow)]
        errors = [[k, v["error"]] for k, v in self.items() if isinstance(v, dict) and "error" in v]
        if errors:
            out += ['<h2 id="errors">Metrics that failed</h2>', table(["metric", "error"], errors)]
        return out

    def save_html(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_html` atomically."""
        from synthera.io import write_text

        return Path(write_text(self.to_html(), path))


def _layers(schema: Schema) -> dict[str, int]:
    """Each table's layer: 0 for tables with no parent, else one below its deepest parent (cycles broken)."""
    broken = set(schema.broken_edges())
    layer: dict[str, int] = {}
    for t in schema.order():
        parents = [fk.parent for fk in schema.parents_of(t) if fk.parent != t and fk.name not in broken]
        layer[t] = 1 + max((layer.get(p, 0) for p in parents), default=-1)
    return layer


def _colour(score) -> str:
    if score is None:
        return "#888888"
    return "#2e7d32" if score >= 0.9 else ("#e08a00" if score >= 0.75 else "#c62828")


def schema_graph_svg(schema: Schema, results: dict | None = None) -> str:
    """The schema as an SVG: layered boxes, one arrow per foreign key with its scores on it."""
    results = results or {}
    card = (results.get("cardinality") or {}).get("foreign_keys", {})
    inter = (results.get("intertable_trends") or {}).get("foreign_keys", {})
    shapes = results.get("tables", {})
    layer = _layers(schema)
    rows: dict[int, list[str]] = {}
    for t in schema.order():
        rows.setdefault(layer[t], []).append(t)
    width = max(len(r) for r in rows.values()) * (_BOX_W + _GAP_X) + _GAP_X + 60 if rows else 200
    height = len(rows) * (_BOX_H + _GAP_Y) + _GAP_Y // 2 if rows else 80
    pos = {}
    for depth, names in rows.items():
        offset = (width - len(names) * (_BOX_W + _GAP_X) + _GAP_X) / 2
        for i, t in enumerate(names):
            pos[t] = (offset + i * (_BOX_W + _GAP_X), 20 + depth * (_BOX_H + _GAP_Y))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    seen: dict[tuple[str, str], int] = {}
    for fk in schema.foreign_keys:
        parts.append(_edge(fk, pos, seen, card.get(fk.name), inter.get(fk.name)))
    for t, (x, y) in pos.items():
        ts = schema.tables[t]
        fill = "#eef2f7" if not ts.public else "#f4f4f4"
        entry = shapes.get(t, {})
        sub = "public (copied)" if ts.public else (
            f"shapes {entry['column_shapes']:.3f}" if entry.get("column_shapes") is not None else "")
        parts.append(f'<g class="table" data-table="{escape(t)}"><rect x="{x:.0f}" y="{y:.0f}" width="{_BOX_W}" '
                     f'height="{_BOX_H}" rx="6" fill="{fill}" stroke="#1f4e79" stroke-width="1.5"/>'
                     f'<text x="{x + _BOX_W / 2:.0f}" y="{y + 22:.0f}" text-anchor="middle" font-weight="bold">'
                     f"{escape(_cut(t, 22))}</text>"
                     f'<text x="{x + _BOX_W / 2:.0f}" y="{y + 40:.0f}" text-anchor="middle" fill="#555">'
                     f"{escape(sub)}</text></g>")
    parts.append("</svg>")
    return "".join(parts)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _edge(fk, pos, seen: dict, card, inter) -> str:
    """One foreign key: a curve from the parent's bottom to the child's top (a loop for a self-reference)."""
    px, py = pos[fk.parent]
    cx, cy = pos[fk.child]
    label = f"{'+'.join(fk.columns)}: card {card:.2f}" if card is not None else "+".join(fk.columns)
    if inter is not None:
        label += f", it {inter:.2f}"
    colour = _colour(card)
    attrs = f'class="fk" data-fk="{escape(fk.name)}" fill="none" stroke="{colour}" stroke-width="2"'
    if fk.parent == fk.child:
        x, y = px + _BOX_W, py + _BOX_H / 2
        path = f"M{x:.0f},{y - 12:.0f} C{x + 50:.0f},{y - 40:.0f} {x + 50:.0f},{y + 40:.0f} {x:.0f},{y + 12:.0f}"
        tx, ty = x + 8, y + 44
    else:
        k = seen.get((fk.parent, fk.child), 0)
        seen[(fk.parent, fk.child)] = k + 1
        bend = (k - 0.0) * 36 * (1 if k % 2 else -1) if k else 0
        x1, y1 = px + _BOX_W / 2, py + _BOX_H
        x2, y2 = cx + _BOX_W / 2, cy
        if y2 <= y1:  # a key that closes a cycle points upwards: leave from the side
            x1, y1, x2, y2 = px, py + _BOX_H / 2, cx, cy + _BOX_H / 2
        mx, my = (x1 + x2) / 2 + bend, (y1 + y2) / 2
        path = f"M{x1:.0f},{y1:.0f} Q{mx:.0f},{my:.0f} {x2:.0f},{y2:.0f}"
        tx, ty = (x1 + 2 * mx + x2) / 4 + 4, (y1 + 2 * my + y2) / 4 + 4 + 14 * k
    return (f'<g><path d="{path}" {attrs} marker-end="url(#arrow)"/>'
            f'<text x="{tx:.0f}" y="{ty:.0f}" fill="{colour}" font-size="11">{escape(label)}</text></g>')
