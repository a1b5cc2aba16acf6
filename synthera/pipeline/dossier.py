"""``dossier.html``: one offline page for a whole run, built with the shared report kit.

It links each step's report (relative links, so the workspace can be moved or zipped), shows each step's headline
and numbers, the ε ledger (planned and spent), the timings and the versions of Synthera and its libraries.
"""

from __future__ import annotations

import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from synthera import __version__
from synthera.pipeline.plan import Plan, finite, read_record

__all__ = ["write_dossier", "DOSSIER"]

DOSSIER = "dossier.html"
_LIBRARIES = ("numpy", "pandas", "scikit-learn", "torch", "opacus", "transformers", "peft", "pydantic", "PyYAML")


def _versions() -> list[list[str]]:
    rows = [["synthera", __version__], ["python", platform.python_version()]]
    for name in _LIBRARIES:
        try:
            rows.append([name, metadata.version(name)])
        except metadata.PackageNotFoundError:
            continue
    return rows


def _link(path: str | None, label: str) -> str:
    from synthera._report.html import escape

    return f'<a href="{escape(path)}">{escape(label)}</a>' if path else ""


def _step_section(step, record: dict | None, status: str) -> str:
    from synthera._report.html import escape, table

    if record is None:
        return f'<section class="step" id="step-{escape(step.id)}"><h2>{escape(step.id)} ({escape(step.kind.name)})' \
               f'</h2><p class="muted">{escape(status)}</p></section>'
    report = record.get("report")
    if report and Path(report).suffix == "":
        report = f"{report}/report.html"
    outputs = ", ".join(_link(o["path"], name) for name, o in record.get("outputs", {}).items())
    parts = [f'<section class="step" id="step-{escape(step.id)}"><h2>{escape(step.id)} ({escape(step.kind.name)})'
             "</h2>",
             f'<p class="muted">{escape(status)}; {record.get("seconds", 0):.1f} s; outputs: {outputs}'
             + (f"; report: {_link(report, 'open')}" if report else "") + "</p>"]
    if record.get("headline"):
        parts.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in record["headline"]) + "</ul>")
    numbers = record.get("numbers") or {}
    if numbers:
        parts.append(table(["number", "value"], [[k, v] for k, v in numbers.items()]))
    return "\n".join(parts) + "</section>"


def _ledger(plan: Plan, records: dict) -> str:
    from synthera._report.html import table

    if not plan.ledger:
        return ""
    rows = [[sid, kind, finite(eps), finite(records.get(sid, {}).get("epsilon_spent"))]
            for sid, kind, eps in plan.ledger]
    spent = [r.get("epsilon_spent") for r in records.values() if r.get("epsilon_spent") is not None]
    total = plan.spec.privacy.epsilon if plan.spec.privacy else None
    rows.append(["total", "", finite(plan.epsilon_planned), finite(sum(spent)) if spent else "–"])
    note = f"declared total ε = {total:g}" if total is not None else "no total declared"
    return (f'<section id="ledger"><h2>Privacy budget (ε ledger)</h2><p class="muted">{note}; the ε of the steps '
            "add up (sequential composition on the same rows).</p>"
            + table(["step", "kind", "ε planned", "ε spent"], rows) + "</section>")


def write_dossier(plan: Plan, summary) -> Path:
    """Write ``WORKSPACE/dossier.html`` atomically and return its path."""
    from synthera._report.html import escape, page, table
    from synthera.io import write_text

    statuses = {o.id: o.status for o in summary.outcomes}
    records = {s.id: r for s in plan.steps if (r := read_record(plan.record_path(s.id))) is not None}
    done = sum(1 for s in plan.steps if s.id in records)
    headline = [f"{done} of {len(plan.steps)} steps done" + (f"; {summary.failed.id} failed: {summary.failed.error}"
                                                             if summary.failed else "")]
    for step in plan.steps:
        first = (records.get(step.id) or {}).get("headline") or []
        if first:
            headline.append(f"{step.id}: {first[0]}")
    if plan.ledger:
        from synthera.pipeline.run import ledger_line

        headline.append(ledger_line(plan))
    overview = table(["step", "kind", "status", "seconds", "report"], [
        [s.id, s.kind.name, statuses.get(s.id, "done" if s.id in records else "not run"),
         (records.get(s.id) or {}).get("seconds"), (records.get(s.id) or {}).get("report") or ""]
        for s in plan.steps])
    body = [f'<section id="steps-overview"><h2>Steps</h2>{overview}</section>', _ledger(plan, records),
            *[_step_section(s, records.get(s.id), statuses.get(s.id, "done" if s.id in records else "not run"))
              for s in plan.steps],
            f'<section id="versions"><h2>Versions</h2>{table(["package", "version"], _versions())}</section>']
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"pipeline {escape(plan.spec.path)} · {escape(when)} · {escape(sys.platform)}"
    timings = {s.id: float((records.get(s.id) or {}).get("seconds") or 0.0) for s in plan.steps}
    text = page("Synthera pipeline dossier", subtitle, headline, body, timings)
    return write_text(text, plan.workspace / DOSSIER)
