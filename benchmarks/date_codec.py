"""How long dates take on their way out: seconds back to timestamps and to text, pandas against the codec.

Every sampled date column leaves the model as float seconds since 1970
(``synthera._columns``) and is turned back into timestamps, and into text in
the column's ``datetime_format`` when it came from a CSV. This times both
steps on the same million seconds (pre-1970 dates, fractions and missing
values included), side by side in one process: pandas' ``to_datetime(unit="s")``
and ``Series.dt.strftime`` against the codec's ``datetimes`` and ``strftime``;
the outputs are checked equal. Then a whole sample: a CSV-like table with three
text date columns, a million rows, with the codec's text writer and with
pandas' (same model, same seed, same output).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/date_codec.py [--rows 1000000] [--repeat 3]

Writes benchmarks/results/date_codec.json and .md. Times are CPU seconds, the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

import synthera._columns as codec

RESULTS = Path(__file__).resolve().parent / "results"
FORMATS = ["%Y-%m-%d", "%d/%m/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f+0000"]


def cpu(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.process_time()
        out = fn()
        times.append(time.process_time() - start)
    return statistics.median(times), out


def steps(rows: int, repeat: int) -> list[dict]:
    rng = np.random.default_rng(0)
    seconds = np.r_[rng.uniform(-2e9, 4e9, rows - rows // 100), np.full(rows // 100, np.nan)]
    out = []
    t_pd, a = cpu(lambda: pd.to_datetime(pd.Series(seconds), unit="s", origin=codec.EPOCH, errors="coerce"), repeat)
    t_np, b = cpu(lambda: pd.Series(codec.datetimes(seconds)), repeat)
    out.append({"step": "seconds to timestamps", "pandas_s": t_pd, "codec_s": t_np, "equal": bool(a.equals(b))})
    stamps = b
    for fmt in FORMATS:
        t_pd, a = cpu(lambda f=fmt: stamps.dt.strftime(f).astype(object).where(stamps.notna(), None), repeat)
        t_np, b = cpu(lambda f=fmt: codec.strftime(stamps.to_numpy(), f), repeat)
        out.append({"step": f"timestamps to text {fmt}", "pandas_s": t_pd, "codec_s": t_np,
                    "equal": a.tolist() == b.tolist()})
    return out


def whole_sample(rows: int, repeat: int) -> dict:
    from synthera.tabular import CascadeSynthesizer

    rng = np.random.default_rng(0)
    n = 2_000
    start = pd.Timestamp("2021-03-01") + pd.to_timedelta(rng.integers(0, 700 * 86400, n), unit="s")
    table = pd.DataFrame({
        "opened": start.strftime("%d/%m/%Y %H:%M:%S"),
        "month": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 36, n) * 31, unit="D"))
        .to_period("M").to_timestamp().strftime("%Y-%m-%d"),
        "closed": (start + pd.to_timedelta(rng.gamma(2, 3, n), unit="D")).strftime("%Y-%m-%dT%H:%M:%S"),
        "kind": rng.choice(["a", "b", "c"], n), "amount": rng.gamma(2, 100, n).round(2)})
    model = CascadeSynthesizer(seed=0).fit(table)
    fast = codec.strftime
    try:
        codec.strftime = lambda stamps, fmt: None  # every text date through pandas
        t_pd, a = cpu(lambda: model.sample(rows, seed=1), repeat)
    finally:
        codec.strftime = fast
    t_np, b = cpu(lambda: model.sample(rows, seed=1), repeat)
    return {"step": f"sample {rows:,} rows, three text date columns", "pandas_s": t_pd, "codec_s": t_np,
            "equal": bool(a.equals(b))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    rows = [*steps(args.rows, args.repeat), whole_sample(args.rows, args.repeat)]
    for r in rows:
        r["speedup"] = r["pandas_s"] / r["codec_s"]
    result = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "rows": args.rows, "repeat": args.repeat,
              "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "loadavg": os.getloadavg(), "steps": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "date_codec.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Dates on their way out: pandas against the codec", "",
             f"Command: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/date_codec.py --rows {args.rows} "
             f"--repeat {args.repeat}`  ",
             f"CPU seconds, median of {args.repeat}; load average at the end {os.getloadavg()[0]:.2f} (2 shared cores).",
             "", "| step | pandas (CPU s) | codec (CPU s) | speed-up | same output |", "|---|---:|---:|---:|:---:|"]
    lines += [f"| {r['step']} | {r['pandas_s']:.2f} | {r['codec_s']:.2f} | {r['speedup']:.1f}x | "
              f"{'yes' if r['equal'] else 'NO'} |" for r in rows]
    (RESULTS / "date_codec.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
