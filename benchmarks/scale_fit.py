"""Fit beyond memory: the flagship fitted on a 50M-row Parquet dataset, against an in-memory fit on a 5M-row sample.

    .venv/bin/python benchmarks/scale_fit.py [--rows 50000000] [--memory-rows 5000000] [--workers 2]
        [--eval-rows 1000000] [--workdir /tmp/synthera-scale-fit]

1. The dataset: Adult's train split resampled with replacement into parts of
   ``--rows-per-file`` rows, with noise (ages and hours moved by up to a year or
   an hour, weights and non-zero capital amounts scaled by a few per cent), so
   that it holds many more distinct rows than Adult. Part ``i`` depends only on
   ``SeedSequence(0, spawn_key=(i,))``; the parts are written by the workers and
   kept in ``--workdir`` for the next run.
2. ``fit_dataset`` on ``--workers`` local workers: statistics of every part, the
   model fitted on a bounded sample, leaf frequencies re-counted over every row.
   Wall and CPU time, peak RSS of each worker and of the driver (the driver fits
   the trees on the sample).
3. The same synthesizer fitted in memory on a fixed-seed ``--memory-rows`` sample.
4. Each model samples ``--eval-rows`` rows (seed 0), scored in memory (column
   shapes and pair trends, as ``synthera evaluate``) against the same fixed-seed
   ``--eval-rows`` sample of the dataset: the reference's own sampling error is
   common to both models.

Each phase runs in a fresh process, so its memory is its own.
Writes benchmarks/results/scale_fit.json and benchmarks/results/scale_fit.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _make_part(_shared, index: int, rows: int, folder: str) -> dict:
    """Task: part ``index``, ``rows`` rows of Adult resampled with noise, written under a temporary name."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synthera import datasets

    adult = datasets.load("adult")[0]
    rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(index,)))
    frame = adult.iloc[rng.integers(0, len(adult), size=rows)].reset_index(drop=True)
    for name, step in (("age", 1), ("hours_per_week", 1)):
        moved = frame[name].to_numpy() + rng.integers(-step, step + 1, size=rows)
        frame[name] = np.clip(moved, adult[name].min(), adult[name].max())
    for name in ("fnlwgt", "capital_gain", "capital_loss"):
        values = frame[name].to_numpy(dtype=float)
        frame[name] = np.round(values * np.exp(rng.normal(0, 0.03, size=rows))).astype(np.int64)
    path = Path(folder) / f"part-{index:05d}.parquet"
    staging = path.with_suffix(".tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), staging, compression="snappy")
    os.replace(staging, path)
    return {"rows": rows}


def make_data(args) -> dict:
    """The dataset, written once by the workers (a finished one in ``--workdir`` is reused)."""
    from synthera.distributed import cluster, run_tasks

    folder = Path(args.workdir) / f"data-{args.rows}-{args.rows_per_file}"
    done = folder / "_DONE"
    if done.exists():
        return {"folder": str(folder), "reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sizes = [min(args.rows_per_file, args.rows - start) for start in range(0, args.rows, args.rows_per_file)]
    t0 = time.perf_counter()
    with cluster(workers=args.workers) as client:
        run_tasks(_make_part, [(i, n, str(folder)) for i, n in enumerate(sizes)], client=client, name="make-data")
    done.write_text(json.dumps({"rows": args.rows, "parts": len(sizes)}))
    return {"folder": str(folder), "reused": False, "wall_s": round(time.perf_counter() - t0, 1)}


def dist_fit(args) -> dict:
    """Phase 2, in its own process: ``fit_dataset`` on a local cluster."""
    from synthera.distributed import cluster, fit_dataset
    from synthera.tabular import DEFAULT_SYNTHESIZER, get_synthesizer

    with cluster(workers=args.workers) as client:
        before, driver = client.run(_cpu_s), _cpu_s()
        t0 = time.perf_counter()
        model, info = fit_dataset(args.data, get_synthesizer(DEFAULT_SYNTHESIZER)(), sample_rows=args.sample_rows,
                                  client=client)
        wall = time.perf_counter() - t0
        after, driver = client.run(_cpu_s), _cpu_s() - driver
        peaks = sorted(round(p) for p in client.run(_peak_mb).values())
    model.save(Path(args.workdir) / "model-dataset")
    return {"wall_s": round(wall, 1), "cpu_s": round(driver + sum(after[k] - before[k] for k in after), 1),
            "worker_peak_rss_mb": peaks, "driver_peak_rss_mb": round(_peak_mb()), **info}


def mem_fit(args) -> dict:
    """Phase 3, in its own process: the same synthesizer fitted in memory on a fixed-seed sample."""
    from synthera.distributed._parts import allocate, count_rows, list_parts, sample_part
    from synthera.tabular import DEFAULT_SYNTHESIZER, get_synthesizer

    parts = list_parts(args.data)
    counts = [count_rows(p) for p in parts]
    frames = [sample_part(None, p, i, n, take, 1) for i, (p, n, take)
              in enumerate(zip(parts, counts, allocate(counts, args.memory_rows), strict=True)) if take]
    import pandas as pd

    sample = pd.concat(frames, ignore_index=True)
    del frames
    t0, cpu = time.perf_counter(), _cpu_s()
    model = get_synthesizer(DEFAULT_SYNTHESIZER)().fit(sample)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu
    model.save(Path(args.workdir) / "model-memory")
    return {"rows": len(sample), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_rss_mb": round(_peak_mb())}


def score(args) -> dict:
    """Phase 4: each model's sample scored against a fixed-seed sample of the dataset, in memory."""
    from synthera.distributed._parts import allocate, count_rows, list_parts, sample_part
    from synthera.evaluate import evaluate
    from synthera.tabular import load_synthesizer

    parts = list_parts(args.data)
    counts = [count_rows(p) for p in parts]
    import pandas as pd

    real = pd.concat([sample_part(None, p, i, n, take, 2) for i, (p, n, take)
                      in enumerate(zip(parts, counts, allocate(counts, args.eval_rows), strict=True)) if take],
                     ignore_index=True)
    out = {"real_rows": len(real)}
    for name in ("dataset", "memory"):
        synthetic = load_synthesizer(Path(args.workdir) / f"model-{name}").sample(args.eval_rows, seed=0)
        fid = evaluate(real, synthetic, metrics=["column_shapes", "column_pair_trends"], seed=0)["fidelity"]
        out[name] = {"column_shapes": round(fid["column_shapes"], 4),
                     "column_pair_trends": round(fid["column_pair_trends"], 4),
                     "per_column": {c: round(e["score"], 4) for c, e in fid["per_column"].items()}}
    return out


PHASES = {"data": make_data, "dist-fit": dist_fit, "mem-fit": mem_fit, "score": score}


def _spawn(phase: str, args) -> dict:
    cmd = [sys.executable, __file__, "--phase", phase] + [
        f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k != "phase" and v is not None]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{phase} failed:\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    print(phase, json.dumps(result), flush=True)
    return result


def _markdown(r: dict) -> str:
    d, m, s = r["dataset_fit"], r["memory_fit"], r["scores"]
    diff = {k: round(abs(s["dataset"][k] - s["memory"][k]), 4) for k in ("column_shapes", "column_pair_trends")}
    lines = [
        "# Fit beyond memory: the flagship on a Parquet dataset", "",
        f"{r['when']}; {r['machine']}. Command: `{r['command']}`.", "",
        f"Dataset: {d['rows']:,} rows in {d['parts']} Parquet parts (Adult resampled with noise). "
        f"`fit_dataset` on {r['workers']} local workers fitted the trees on a {d['sample_rows']:,}-row sample and "
        f"re-counted the leaves over {d['recounted_rows']:,} rows ({d['skipped_rows']:,} skipped). "
        f"In memory: the same synthesizer on a fixed-seed {m['rows']:,}-row sample. Each model sampled "
        f"{r['eval_rows']:,} rows (seed 0), scored against the same fixed-seed {s['real_rows']:,}-row sample of the "
        "dataset.", "",
        "| fit | wall s | CPU s | peak RSS per worker MB | driver / process peak RSS MB | column shapes "
        "| pair trends |",
        "|---|---:|---:|---|---:|---:|---:|",
        f"| dataset, {r['workers']} workers | {d['wall_s']} | {d['cpu_s']} | "
        f"{', '.join(map(str, d['worker_peak_rss_mb']))} | {d['driver_peak_rss_mb']} | "
        f"{s['dataset']['column_shapes']} | {s['dataset']['column_pair_trends']} |",
        f"| in memory, {m['rows']:,} rows | {m['wall_s']} | {m['cpu_s']} | - | {m['peak_rss_mb']} | "
        f"{s['memory']['column_shapes']} | {s['memory']['column_pair_trends']} |", "",
        f"Difference: column shapes {diff['column_shapes']}, pair trends {diff['column_pair_trends']} "
        f"(target: within 0.005). Peak RSS per worker under 2 GB: "
        f"**{max(d['worker_peak_rss_mb']) < 2048}**.", "",
        "| column | dataset fit | in-memory fit |", "|---|---:|---:|",
    ]
    lines += [f"| {c} | {v} | {s['memory']['per_column'].get(c)} |" for c, v in s["dataset"]["per_column"].items()]
    return "\n".join(lines + [""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--rows-per-file", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, default=5_000_000)
    parser.add_argument("--sample-rows", type=int, default=1_000_000, help="fit_dataset's bounded sample")
    parser.add_argument("--eval-rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", default="/tmp/synthera-scale-fit")
    parser.add_argument("--data", default=None)
    parser.add_argument("--phase", default=None, choices=sorted(PHASES))
    parser.add_argument("--results", default=str(RESULTS), help="folder for scale_fit.json and scale_fit.md")
    args = parser.parse_args()
    if args.phase:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            print("RESULT " + json.dumps(PHASES[args.phase](args)))
        return
    load_start = os.getloadavg()[0]
    args.data = _spawn("data", args)["folder"]
    result = {"when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "command": "python benchmarks/scale_fit.py " + " ".join(sys.argv[1:]), "workers": args.workers,
              "eval_rows": args.eval_rows, "dataset_fit": _spawn("dist-fit", args),
              "memory_fit": _spawn("mem-fit", args), "scores": _spawn("score", args)}
    result["machine"] = (f"{os.cpu_count()} CPUs, load average {load_start:.1f} at the start and "
                         f"{os.getloadavg()[0]:.1f} at the end")
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / "scale_fit.json").write_text(json.dumps(result, indent=2) + "\n")
    (results / "scale_fit.md").write_text(_markdown(result))
    print(_markdown(result))


if __name__ == "__main__":
    main()
