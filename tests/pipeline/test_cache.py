"""Caching: a change re-runs its step and everything downstream, nothing else; a cached re-run is fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from synthera.cli import app
from tests.helpers import one_line_error
from tests.pipeline.conftest import ROOT, events, last_run, ran, write_yaml

runner = CliRunner()


def _spec(table, *, fit_seed=0, rows=100, sample_seed=0):
    return {
        "workspace": "ws",
        "source": {"table": table.name},
        "steps": [
            {"id": "inspect", "kind": "inspect"},
            {"id": "fit", "kind": "fit", "params": {"model": "gaussian_copula", "seed": fit_seed}},
            {"id": "sample", "kind": "sample", "reads": {"model": "fit.model"},
             "params": {"rows": rows, "seed": sample_seed}},
            {"id": "again", "kind": "sample", "reads": {"model": "fit.model"}, "params": {"rows": 20}},
        ],
    }


def _run(file, *args):
    result = runner.invoke(app, ["run", str(file), *args])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


@pytest.fixture
def done(tmp_path, small_table):
    """A pipeline run once to the end."""
    file = write_yaml(tmp_path / "p.yaml", _spec(small_table))
    _run(file)
    assert ran(tmp_path / "ws") == ["inspect", "fit", "sample", "again"]
    return file


def test_a_changed_parameter_reruns_exactly_the_affected_steps(done, small_table):
    ws = done.parent / "ws"
    _run(done)
    assert ran(ws) == []  # nothing changed, nothing runs
    write_yaml(done, _spec(small_table, rows=120))
    _run(done)
    assert ran(ws) == ["sample"]
    write_yaml(done, _spec(small_table, rows=120, fit_seed=1))
    _run(done)
    assert ran(ws) == ["fit", "sample", "again"]  # downstream of fit; inspect reads only the source
    small_table.write_text(small_table.read_text().replace("Female", "Woman"))
    _run(done)
    assert ran(ws) == ["inspect", "fit", "sample", "again"]  # the source's contents changed


def test_a_damaged_output_or_record_is_not_taken_as_done(done):
    ws = done.parent / "ws"
    (ws / "sample" / "synthetic.parquet").write_bytes(b"not parquet")
    (ws / ".synthera" / "records" / "again.json").write_text("{broken")
    _run(done)
    assert ran(ws) == ["sample", "again"]


def test_from_reruns_a_step_and_what_reads_it(done):
    ws = done.parent / "ws"
    _run(done, "--from", "fit")
    assert ran(ws) == ["fit", "sample", "again"]
    _run(done, "--only", "again")
    assert ran(ws) == ["again"]
    one_line_error(runner.invoke(app, ["run", str(done), "--from", "nope"]), "--from nope: no step has that id")


def test_the_dry_run_shows_the_plan_and_what_is_cached(done, small_table):
    write_yaml(done, _spec(small_table, rows=120))
    before = len(events(done.parent / "ws"))
    result = _run(done, "--dry-run")
    lines = result.stdout.splitlines()
    assert "1. inspect (inspect): cached" in lines[1]
    assert "3. sample (sample): will run; reads model=fit.model; writes table -> ws/sample/synthetic.parquet" \
        in lines[3]
    assert "ε ledger: no step spends privacy budget" in result.stdout
    assert len(events(done.parent / "ws")) == before  # the dry run ran nothing


HEAVY = ("torch", "sklearn", "lightgbm", "transformers", "opacus", "dask", "matplotlib")
# A cached re-run must be cheap: it reads the plan and the cache, and never imports the modelling stack.
# (Its wall time, about 1 s, is a benchmark figure; a test on a shared machine checks the cause, not the clock.)
_PROBE = """
import json, sys
from synthera.cli import main
sys.argv = ["synthera", "run", sys.argv[1]]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "heavy": sorted(m for m in HEAVY if m in sys.modules)}))
""".replace("HEAVY", repr(HEAVY))


def test_a_cached_rerun_reruns_nothing_and_imports_no_modelling_library(done):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    probe = subprocess.run([sys.executable, "-c", _PROBE, str(done)], env=env, capture_output=True, text=True,
                           timeout=120)
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    assert report["code"] in (0, None)
    assert ran(done.parent / "ws") == []
    assert report["heavy"] == [], f"a cached re-run imported {report['heavy']}"


def test_a_failed_step_exits_1_and_says_how_to_reproduce_it(tmp_path, small_table):
    spec = _spec(small_table)
    spec["steps"].append({"id": "bias", "kind": "bias", "reads": {"data": "sample.table"},
                          "params": {"target": "no_such_column", "sensitive": ["sex"]}})
    file = write_yaml(tmp_path / "p.yaml", spec)
    result = runner.invoke(app, ["run", str(file)])
    assert result.exit_code == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: step bias failed:") and "no_such_column" in line
    assert f"`synthera run {file} --only bias`" in line
    log = tmp_path / "ws" / ".synthera" / "logs" / "bias.log"
    assert f"its log: {log}" in line and "Traceback" in log.read_text()
    assert "Traceback" not in result.stderr
    failed = [e for e in last_run(tmp_path / "ws") if e["event"] == "step-failed"]
    assert [e["step"] for e in failed] == ["bias"]
    assert not (tmp_path / "ws" / "bias").exists()
    assert "bias failed" in (tmp_path / "ws" / "dossier.html").read_text()


def test_only_needs_the_steps_it_reads_from_done(tmp_path, small_table):
    file = write_yaml(tmp_path / "p.yaml", _spec(small_table))
    one_line_error(runner.invoke(app, ["run", str(file), "--only", "sample"]), "step 'fit', which sample reads from, "
                   "has not run yet")


def test_step_folders_get_the_usual_access_and_a_private_source_keeps_them_private(tmp_path, small_table):
    umask = os.umask(0o022)
    try:
        file = write_yaml(tmp_path / "p.yaml", _spec(small_table))
        ws = tmp_path / "ws"
        _run(file, "--only", "inspect")
        assert (ws / "inspect").stat().st_mode & 0o777 == 0o755  # not the 0700 of a temporary folder
        small_table.chmod(0o600)
        _run(file, "--only", "inspect")
    finally:
        os.umask(umask)
    assert (ws / "inspect").stat().st_mode & 0o077 == 0
    assert (ws / "inspect" / "metadata.json").stat().st_mode & 0o077 == 0
