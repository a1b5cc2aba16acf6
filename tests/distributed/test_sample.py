"""Sampling by seeded blocks: the same rows (and Parquet bytes) in-process, on 1 or 2 workers, via --scheduler."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from synthera.cli import app
from synthera.distributed import cluster, read_manifest, sample_to_parquet
from synthera.errors import UserInputError
from synthera.tabular import load_synthesizer
from synthera.tabular.base import BLOCK_ROWS, DRAW_ROWS
from tests.helpers import kill_when_written, one_line_error

pytest.importorskip("dask.distributed")

REPO = Path(__file__).resolve().parents[2]
ROWS = 3 * DRAW_ROWS + 1234  # four draws, the last one partial
PER_FILE = DRAW_ROWS + 5000  # part boundaries that cut draws


def _hashes(manifest: dict) -> list[str]:
    return [part["sha256"] for part in manifest["parts"]]


def _rows(folder: Path) -> pd.DataFrame:
    manifest = read_manifest(folder)
    return pd.concat([pq.read_table(folder / p["file"]).to_pandas() for p in manifest["parts"]], ignore_index=True)


@pytest.fixture(scope="module")
def reference(model_dir, tmp_path_factory):
    """The in-process dataset every other run must reproduce byte for byte."""
    out = tmp_path_factory.mktemp("ref") / "synthetic"
    return out, sample_to_parquet(model_dir, rows=ROWS, out=out, seed=11, rows_per_file=PER_FILE)


def test_small_sample_is_the_prefix_of_a_large_one(model_dir):
    model = load_synthesizer(model_dir)
    big = model.sample(2 * DRAW_ROWS + 10, seed=5)
    pd.testing.assert_frame_equal(model.sample(7, seed=5), big.head(7))
    middle = model.sample_rows(DRAW_ROWS - 3, DRAW_ROWS + 40, seed=5)
    pd.testing.assert_frame_equal(middle, big.iloc[DRAW_ROWS - 3:DRAW_ROWS + 40].reset_index(drop=True))
    assert big["customer_id"].is_unique  # numbered ids are shifted per draw, never repeated
    assert not model.sample(50, seed=6).equals(model.sample(50, seed=5))


def test_in_process_dataset_equals_sample(model_dir, reference):
    out, manifest = reference
    pd.testing.assert_frame_equal(_rows(out), load_synthesizer(model_dir).sample(ROWS, seed=11))
    assert manifest["rows"] == ROWS and manifest["seed"] == 11 and manifest["block_rows"] == BLOCK_ROWS
    assert sorted(p.name for p in out.iterdir()) == ["_SUCCESS", "_manifest.json", "part-00000.parquet",
                                                     "part-00001.parquet", "part-00002.parquet"]
    model_hash = json.loads((Path(model_dir) / "manifest.json").read_text())["manifest_sha256"]
    assert manifest["model_sha256"] == model_hash
    assert [p.name for p in out.parent.iterdir()] == ["synthetic"]  # no staging folder left behind


def test_rows_per_file_moves_only_file_boundaries(model_dir, reference, tmp_path):
    out, _ = reference
    manifest = sample_to_parquet(model_dir, rows=ROWS, out=tmp_path / "other", seed=11, rows_per_file=ROWS)
    assert len(manifest["parts"]) == 1
    pd.testing.assert_frame_equal(_rows(tmp_path / "other"), _rows(out))


def test_two_workers_write_the_same_bytes(model_dir, reference, dask_client, tmp_path):
    _, expected = reference
    manifest = sample_to_parquet(model_dir, rows=ROWS, out=tmp_path / "d", seed=11, rows_per_file=PER_FILE,
                                 client=dask_client)
    assert _hashes(manifest) == _hashes(expected)


def test_scheduler_and_worker_processes_through_the_cli(model_dir, reference, tmp_path):
    """`dask scheduler` + one `dask worker` on 127.0.0.1 (the 1-worker case), driven by `sample --scheduler`."""
    _, expected = reference
    dask = str(Path(sys.executable).parent / "dask")
    info = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(info)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        procs.append(subprocess.Popen([dask, "worker", "--scheduler-file", str(info), "--nthreads", "1",
                                       "--no-dashboard", "--no-nanny", "--host", "127.0.0.1"], env=env, cwd=REPO,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        result = CliRunner().invoke(app, ["sample", str(model_dir), "--rows", str(ROWS), "--out",
                                          str(tmp_path / "s"), "--seed", "11", "--scheduler", address,
                                          "--rows-per-file", str(PER_FILE)])
        assert result.exit_code == 0, result.output
        assert _hashes(read_manifest(tmp_path / "s")) == _hashes(expected)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_a_killed_worker_costs_a_rerun_not_the_result(model_dir, dask_client, tmp_path):
    rows, out = 12 * DRAW_ROWS, tmp_path / "k"
    expected = sample_to_parquet(model_dir, rows=rows, out=tmp_path / "ref", seed=3, rows_per_file=DRAW_ROWS)
    done: dict = {}

    def run():
        try:
            done["manifest"] = sample_to_parquet(model_dir, rows=rows, out=out, seed=3, rows_per_file=DRAW_ROWS,
                                                 client=dask_client)
        except BaseException as exc:  # pragma: no cover - reported below
            done["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".k.tmp-*/part-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert thread.is_alive(), "the run ended before a worker could be killed"
    pids = dask_client.run(os.getpid)
    os.kill(sorted(pids.values())[0], signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive() and "error" not in done, done.get("error")
    assert _hashes(done["manifest"]) == _hashes(expected)


def test_a_killed_driver_leaves_no_dataset(model_dir, tmp_path):
    out = tmp_path / "never"
    kill_when_written(["-m", "synthera", "sample", str(model_dir), "--rows", str(60 * DRAW_ROWS), "--out", str(out),
                       "--seed", "0", "--rows-per-file", str(DRAW_ROWS)],
                      watch=tmp_path, pattern=".never.tmp-*/part-*.parquet", repo=REPO)
    assert not out.exists()
    assert list(tmp_path.glob(".never.tmp-*"))  # the half-built dataset stays hidden beside it


def test_seed_none_is_recorded_and_reproduces(model_dir, tmp_path):
    first = sample_to_parquet(model_dir, rows=1000, out=tmp_path / "a", seed=None, rows_per_file=400)
    assert first["seed_given"] is False and isinstance(first["seed"], int)
    again = sample_to_parquet(model_dir, rows=1000, out=tmp_path / "b", seed=first["seed"], rows_per_file=400)
    assert _hashes(again) == _hashes(first)


def test_conditions_and_balance_in_a_dataset(model_dir, tmp_path):
    manifest = sample_to_parquet(model_dir, rows=900, out=tmp_path / "c", seed=1, rows_per_file=500,
                                 conditions={"segment": "gold"})
    assert manifest["rows"] == 900 and set(_rows(tmp_path / "c")["segment"]) == {"gold"}
    sample_to_parquet(model_dir, rows=3000, out=tmp_path / "b", seed=1, rows_per_file=1000,
                      mitigation={"balance": ["segment"]})
    shares = _rows(tmp_path / "b")["segment"].value_counts(normalize=True)
    assert shares.max() - shares.min() < 0.01


def test_user_errors_are_one_line(model_dir, tmp_path, reference):
    with pytest.raises(UserInputError, match="workers must be a whole number >= 1"):
        with cluster(workers=0):
            pass
    with pytest.raises(UserInputError, match="not both"):
        with cluster(workers=1, scheduler="tcp://127.0.0.1:1"):
            pass
    with pytest.raises(UserInputError, match="already exists; pick another out folder or pass replace=True"):
        sample_to_parquet(model_dir, rows=10, out=reference[0], seed=0)
    with pytest.raises(UserInputError, match="rows_per_file must be a whole number >= 1"):
        sample_to_parquet(model_dir, rows=10, out=tmp_path / "x", seed=0, rows_per_file=0)
    runner = CliRunner()
    base = ["sample", str(model_dir), "--rows", "10", "--out", str(tmp_path / "y")]
    one_line_error(runner.invoke(app, [*base, "--rows-per-file", "5", "--format", "csv"]), "Parquet dataset")
    one_line_error(runner.invoke(app, [*base, "--workers", "0"]), "workers")
    one_line_error(runner.invoke(app, [*base, "--scheduler", "127.0.0.1:8786"]), "tcp://host:8786")
    with pytest.raises(UserInputError, match="seed must be a whole number >= 0"):
        load_synthesizer(model_dir).sample(3, seed=-1)


def test_missing_dask_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(UserInputError, match=r"pip install 'synthera\[dask\]'"):
        with cluster(workers=1):
            pass
