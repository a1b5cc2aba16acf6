"""The examples in examples/ run end to end on tiny data; `synthera init` writes them; the dossier opens offline."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from synthera.cli import app
from tests.helpers import dp_public_metadata, make_dp_frame, one_line_error
from tests.pipeline.conftest import ROOT, ran, write_yaml

runner = CliRunner()
EXAMPLES = ROOT / "examples"


def _example(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())


def _steps(spec: dict) -> dict:
    return {s["id"]: s for s in spec["steps"]}


@pytest.mark.parametrize("name", ["tabular", "dp", "private-db"])
def test_init_writes_the_example_of_examples_folder(tmp_path, name):
    out = tmp_path / f"{name}.yaml"
    result = runner.invoke(app, ["init", "--example", name, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert out.read_text() == (EXAMPLES / f"{name}.yaml").read_text()
    assert out.read_text().startswith("# ")  # commented
    one_line_error(runner.invoke(app, ["init", "--example", name, "--out", str(out)]), "already exists")
    one_line_error(runner.invoke(app, ["init", "--example", "poetry"]), "unknown example 'poetry'")


def test_the_tabular_example_runs_end_to_end(tmp_path):
    """On 200 Adult rows; hf-eval is left out here: fine-tuning MiniLM takes minutes on a CPU."""
    spec = _example("tabular")
    spec["source"]["limit"] = 200
    steps = _steps(spec)
    steps["sample"]["params"]["rows"] = 200
    spec["steps"] = [s for s in spec["steps"] if s["kind"] != "hf-eval"]
    file = write_yaml(tmp_path / "tabular.yaml", spec)
    result = runner.invoke(app, ["run", str(file)])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    ws = tmp_path / "adult-work"
    assert ran(ws) == ["fit", "sample", "evaluate", "bias"]
    assert len([line for line in result.stdout.splitlines() if line.startswith("[")]) == 4  # one line per step
    for report in ("evaluate/report/report.html", "bias/report/report.html", "sample/synthetic.parquet"):
        assert (ws / report).is_file(), report
    page = (ws / "dossier.html").read_text()
    for link in ("evaluate/report/report.html", "bias/report/report.html"):
        assert f'href="{link}"' in page
    assert "Synthetic data keeps" in page and "synthera" in page and "Versions" in page
    assert not re.search(r"""(src|href)=["']https?://""", page), "the dossier must open offline"
    _chromium_loads(ws / "dossier.html")


def test_the_dp_example_keeps_one_ledger(tmp_path):
    """On a 400-row table with a declared public domain (the bundled Adult rows need more rows than a test has)."""
    make_dp_frame(400).to_csv(tmp_path / "rows.csv", index=False)
    dp_public_metadata().save(tmp_path / "public.json")
    spec = _example("dp")
    spec["source"] = {"table": "rows.csv"}
    steps = _steps(spec)
    steps["fit"]["reads"] = {"metadata": "public.json"}
    steps["sample"]["params"]["rows"] = 200
    steps["evaluate"]["params"]["target"] = "label"
    steps["classifier"]["params"].update(target="label", epochs=1)
    steps["classifier"]["reads"] = {"metadata": "public.json"}
    file = write_yaml(tmp_path / "dp.yaml", spec)
    plan = runner.invoke(app, ["run", str(file), "--dry-run"])
    assert "ε ledger: fit 1 + classifier 1 = 2 of 2 declared" in plan.stdout
    result = runner.invoke(app, ["run", str(file)])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    page = (tmp_path / "dp-work" / "dossier.html").read_text()
    assert "Privacy budget (ε ledger)" in page and "declared total ε = 2" in page
    spent = re.findall(r"<td>(fit|classifier)</td><td>[^<]*</td><td>1</td><td>(0\.\d+|1)</td>", page)
    assert [s[0] for s in spent] == ["fit", "classifier"], page[page.find("ledger"):][:800]
    spec["privacy"]["epsilon"] = 1.5
    write_yaml(file, spec)
    one_line_error(runner.invoke(app, ["run", str(file)]), "more than the declared total 1.5")


def test_the_dry_run_names_secrets_never_their_values(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_FLOCK_KEY", "flk-very-secret-value-0123456789")
    file = write_yaml(tmp_path / "p.yaml", {
        "workspace": "ws", "source": {"table": "dataset:adult"},
        "steps": [{"id": "submit", "kind": "flock-submit",
                   "params": {"task_id": 7, "repo_id": "me/model", "revision": "abc123", "base_model": "qwen1.5",
                              "api_key_env": "MY_FLOCK_KEY"}}],
    })
    result = runner.invoke(app, ["run", str(file), "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert "MY_FLOCK_KEY (set)" in result.stdout
    assert "very-secret" not in result.stdout + result.stderr


def _browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_browser() is None, reason="no chromium on PATH")
def test_the_dossier_renders_in_headless_chromium(tmp_path):
    from tests.pipeline import slow_steps  # noqa: F401 - registers the `copy` kind

    (tmp_path / "in.txt").write_text("hello")
    file = write_yaml(tmp_path / "p.yaml", {"workspace": "ws", "source": {"table": "in.txt"},
                                           "steps": [{"id": "a", "kind": "copy"}]})
    assert runner.invoke(app, ["run", str(file)]).exit_code == 0
    _chromium_loads(tmp_path / "ws" / "dossier.html")


def _chromium_loads(page: Path) -> None:
    """Render the page in headless Chromium when it is installed (as the evaluation report is checked)."""
    browser = _browser()
    if browser is None:
        return
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={page.parent / '.chromium'}"]
    done = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'id="steps-overview"' in done.stdout and 'id="versions"' in done.stdout
