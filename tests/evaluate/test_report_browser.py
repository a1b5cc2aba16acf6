"""report.html opens offline in headless Chromium and its plots are drawn."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from synthera.evaluate import evaluate

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not found; install Debian's `chromium` package to run this test"
)
PLOTS = ("distributions", "correlation_difference", "utility", "dcr", "fairness-sex")


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], check=False, capture_output=True, text=True, timeout=120)


@pytest.fixture
def report_file(people, tmp_path):
    real, holdout, syn = people
    path = tmp_path / "report.html"
    path.write_text(evaluate(real, syn, holdout=holdout, target="income", sensitive="sex").to_html(), encoding="utf-8")
    return path


def test_browser_parses_every_plot_as_svg(report_file, tmp_path):
    dom = _chromium(tmp_path, "--dump-dom", report_file.as_uri()).stdout
    for name in PLOTS:
        figure = re.search(rf'<figure class="plot" data-plot="{name}">(.*?)</figure>', dom, flags=re.DOTALL)
        assert figure, f"plot {name} missing from the rendered page"
        assert "<svg" in figure.group(1) and figure.group(1).count("<path") > 5, f"plot {name} has no drawing"
    assert "Synthetic data keeps" in dom


def test_screenshot_shows_real_and_synthetic_colours(report_file, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    _chromium(tmp_path, "--window-size=1200,6000", f"--screenshot={shot}", report_file.as_uri())
    assert shot.exists(), "Chromium wrote no screenshot"
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)

    def share(rgb: tuple[int, int, int]) -> float:
        return float((np.abs(pixels - np.array(rgb)).sum(axis=1) < 40).mean())

    assert share((255, 255, 255)) < 0.95, "the page is (nearly) blank"  # 0.98 with the plots removed
    real_colour = (0x1F, 0x4E, 0x79)
    assert share(real_colour) > 0.01, "no bars or areas in the real-data colour were drawn"  # 0.001 without plots
    assert share((0xE0, 0x7B, 0x00)) > 0.01, "no bars or lines in the synthetic-data colour were drawn"
