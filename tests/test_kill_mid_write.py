"""A writer killed in the middle leaves the previous file (or nothing) under the final name.

Each test starts a real process that writes a table large enough to take a moment, waits until the
write is visibly under way (its temporary file or SQLite journal exists), kills it with SIGKILL,
and then reads what is left under the final name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from synthera.io import read_table, write_table

_ROWS = 1_500_000

_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd
    from synthera.io import write_table
    target, table = sys.argv[1], sys.argv[2] or None
    rng = np.random.default_rng(0)
    n = int(sys.argv[3])
    df = pd.DataFrame({"a": rng.integers(0, 10**9, n), "b": rng.random(n), "c": rng.choice(["x", "yy", "zzz"], n)})
    print("ready", flush=True)
    write_table(df, target, table=table, replace=True)
    print("done", flush=True)
    """
)


def _kill_during_write(target: Path, *, table: str = "", signs=("*.tmp", "*-journal", "*.tmp*")) -> bool:
    """Run the writer, SIGKILL it once a temporary file or journal appears; True if it was killed mid-write."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target), table, str(_ROWS)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if any(p != target for pattern in signs for p in target.parent.glob(pattern)):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                return True
            time.sleep(0.005)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl", ".csv.gz"])
def test_a_killed_file_write_leaves_no_file_under_the_final_name(tmp_path, suffix):
    target = tmp_path / f"out{suffix}"
    assert _kill_during_write(target), "the write finished before it could be killed; raise _ROWS"
    assert not target.exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_killed_overwrite_keeps_the_previous_file_whole(tmp_path, suffix):
    target = tmp_path / f"out{suffix}"
    before = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 0.25, 0.125], "c": ["x", "y", "z"]})
    write_table(before, target)
    assert _kill_during_write(target)
    after = read_table(str(target))
    assert after.to_dict("list") == before.to_dict("list")


def test_a_killed_write_into_an_existing_sqlite_database_rolls_back(tmp_path):
    target = tmp_path / "shop.db"
    keep = pd.DataFrame({"id": [1, 2], "name": ["a", "b"]})
    old = pd.DataFrame({"a": [7], "b": [0.5], "c": ["x"]})
    write_table(keep, target, table="customers")
    write_table(old, target, table="t")
    assert _kill_during_write(target, table="t")
    assert read_table(str(target), table="customers").to_dict("list") == keep.to_dict("list")
    assert read_table(str(target), table="t").to_dict("list") == old.to_dict("list")


def test_a_killed_new_sqlite_database_is_not_left_behind(tmp_path):
    target = tmp_path / "new.db"
    assert _kill_during_write(target, table="t")
    assert not target.exists()
