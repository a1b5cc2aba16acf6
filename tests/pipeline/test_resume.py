"""A run SIGKILLed at any point resumes at the step it interrupted; finished steps are never repeated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipeline.conftest import ROOT, last_run, ran, write_yaml


def _pipeline(tmp_path: Path) -> Path:
    source = tmp_path / "in.txt"
    source.write_bytes(b"0123456789" * 1000)
    return write_yaml(tmp_path / "p.yaml", {
        "workspace": "ws",
        "source": {"table": "in.txt"},
        "steps": [
            {"id": "a", "kind": "copy", "params": {"suffix": "A"}},
            {"id": "b", "kind": "copy", "reads": {"data": "a.data"}, "params": {"suffix": "B"}},
            {"id": "c", "kind": "copy", "reads": {"data": "b.data"}, "params": {"suffix": "C"}},
        ],
    })


def _launch(file: Path, hang: str | None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("PIPELINE_TEST_HANG", None)
    if hang:
        env["PIPELINE_TEST_HANG"] = hang
    return subprocess.Popen([sys.executable, "-m", "tests.pipeline.slow_steps", "run", str(file)], cwd=file.parent,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the run")


@pytest.mark.parametrize("killed", ["a", "b", "c"])
def test_a_killed_run_resumes_at_the_interrupted_step(tmp_path, killed):
    file = _pipeline(tmp_path)
    ws = tmp_path / "ws"
    proc = _launch(file, hang=killed)
    # the JSON-lines log says the step started; the staging folder holds its half-written output
    _wait_for(lambda: any(e["event"] == "step-start" and e["step"] == killed for e in last_run(ws))
              and any(ws.glob(f".{killed}.*/data.txt.half")), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (ws / ".synthera" / "records" / f"{killed}.json").exists()
    assert not (ws / killed / "data.txt").exists(), "a half-written output was put in place"
    done_before = ["a", "b", "c"][: ["a", "b", "c"].index(killed)]

    resumed = _launch(file, hang=None)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert ran(ws) == ["a", "b", "c"][len(done_before):], "a finished step ran again, or the interrupted did not"
    cached = [e["step"] for e in last_run(ws) if e["event"] == "step-cached"]
    assert cached == done_before
    assert (ws / "c" / "data.txt").read_bytes() == b"0123456789" * 1000 + b"ABC"
    assert not [p for p in ws.iterdir() if p.name.startswith(".") and p.name != ".synthera"], "staging left behind"
    assert (ws / "dossier.html").is_file()
