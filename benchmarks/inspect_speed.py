"""How long `synthera inspect` takes: bundled Adult and a 1,000,000-row CSV.

The large CSV is Adult resampled to 1M rows (seed 0) plus a date column, an
email column and a float column, so every detector has work to do. Each
timing is the best of --repeat runs of the command a user types, in a fresh
process (so import time counts), and of the Python API alone.

    .venv/bin/python benchmarks/inspect_speed.py [--rows 1000000] [--repeat 3]

Writes benchmarks/results/inspect_speed.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from synthera import datasets
from synthera.io import read_table, write_table
from synthera.metadata import infer_metadata

RESULTS = Path(__file__).resolve().parent / "results"


def make_big_csv(path: Path, rows: int) -> None:
    train, test = datasets.load("adult")
    adult = pd.concat([train, test], ignore_index=True)
    rng = np.random.default_rng(0)
    big = adult.iloc[rng.integers(0, len(adult), rows)].reset_index(drop=True)
    days = rng.integers(0, 3650, rows)
    big["signup_date"] = (pd.Timestamp("2015-01-01") + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d")
    big["email"] = [f"user{i}@example.org" for i in range(rows)]
    big["balance"] = np.round(rng.normal(1000, 250, rows), 2)
    write_table(big, path)


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cli(source: str) -> None:
    subprocess.run([sys.executable, "-m", "synthera", "inspect", source], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.csv"
        make_big_csv(big, args.rows)
        size_mb = big.stat().st_size / 1e6
        cases = [("Adult train (bundled Parquet)", "dataset:adult", 32_561), (f"{args.rows:,}-row CSV ({size_mb:.0f} MB)", str(big), args.rows)]
        rows = []
        for label, source, n in cases:
            df = read_table(source)
            rows.append({
                "case": label,
                "rows": n,
                "columns": df.shape[1],
                "read_s": round(best_of(lambda: read_table(source), args.repeat), 3),
                "infer_s": round(best_of(lambda: infer_metadata(df), args.repeat), 3),
                "cli_total_s": round(best_of(lambda: cli(source), args.repeat), 3),
            })

    report = {"benchmark": "inspect_speed", "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
              "python": platform.python_version(), "results": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "inspect_speed.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["| case | rows | columns | read (s) | infer (s) | `synthera inspect` total (s) |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['case']} | {r['rows']:,} | {r['columns']} | {r['read_s']} | {r['infer_s']} | {r['cli_total_s']} |" for r in rows]
    (RESULTS / "inspect_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
