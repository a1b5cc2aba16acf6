"""The shared HTML kit (synthera._report.html) and the pages built on it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import matplotlib

from synthera.bias.analysis import analyze_bias
from synthera.evaluate import evaluate
from tests.helpers import biased_frame

ROOT = Path(__file__).resolve().parents[2] / "synthera"


def test_rendering_a_report_leaves_matplotlibs_global_settings_alone(people):
    real, holdout, syn = people
    report = evaluate(real, syn, holdout=holdout, target="income", sensitive="sex")
    before = dict(matplotlib.rcParams)
    page = report.to_html()
    after = dict(matplotlib.rcParams)
    assert {k: (before[k], after[k]) for k in before if before[k] != after[k]} == {}
    assert matplotlib.rcParams["svg.fonttype"] == before["svg.fonttype"]
    # the settings still apply inside the page: text stays text, and the same report gives the same file
    assert "<text" in page and page == report.to_html()


def test_bias_page_leaves_matplotlibs_global_settings_alone():
    before = dict(matplotlib.rcParams)
    analyze_bias(biased_frame(300), target="income", sensitive=["sex"]).to_html()
    assert dict(matplotlib.rcParams) == before


def test_pages_render_plain_dicts(people):
    from synthera.bias.report import render as bias_render
    from synthera.evaluate._html import render

    real, holdout, syn = people
    report = evaluate(real, syn, holdout=holdout, target="income", sensitive="sex")
    page = render(report.results, report.plots)
    assert re.findall(r'data-plot="([^"]+)"', page)[:2] == ["distributions", "correlation_difference"]
    bias = analyze_bias(biased_frame(300), target="income", sensitive=["sex"])
    assert "<h2>Proxies of the sensitive columns</h2>" in bias_render(dict(bias.results))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_the_kit_imports_no_report_and_no_module_imports_private_report_names():
    assert not {m for m in _imports(ROOT / "_report" / "html.py") if m.startswith("synthera.")}
    assert "synthera.evaluate.report" not in _imports(ROOT / "evaluate" / "_html.py")
    assert not {m for m in _imports(ROOT / "bias" / "report.py") if m.startswith("synthera.evaluate")}
