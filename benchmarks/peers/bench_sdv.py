"""Measure the SDV peers on Adult and write benchmarks/results/peers_sdv.json.

Runs from the MAIN venv (it imports synthera only to export the bundled Adult split);
everything SDV runs in benchmarks/.venv-peers, one child process per step, measured by
measure.py (wall seconds, peak RSS). Steps, one at a time, for each ``--models`` entry:

1. ``fit``: run_sdv.py fits on the train split, samples as many rows as train, and saves
   the model.
2. ``sample_1m``: a new process loads that model and samples 1,000,000 rows, so its peak
   memory is separate from the fit's.
3. ``score``: benchmarks/scoring/score.py against train and test.

The real test split is then scored as the ``real_holdout`` reference. Intermediate files
and logs go to ``--workdir``, outside the repository.

    bash benchmarks/peers/setup.sh
    .venv/bin/python benchmarks/peers/bench_sdv.py [--models gaussian_copula ctgan tvae] \
        [--epochs 30] [--seed 0] [--workdir /tmp/peer_runs] [--out benchmarks/results/peers_sdv.json]

The machine is shared, so each step records the load average when it starts and ends
(``/proc/loadavg``); compare times only between runs under similar load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PEER_PY = ROOT / "benchmarks" / ".venv-peers" / "bin" / "python"
sys.path.insert(0, str(HERE))
from measure import measure  # noqa: E402


def loadavg() -> list[float]:
    """1, 5 and 15-minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def step(name: str, cmd: list, workdir: Path, timeout: float) -> dict:
    """Run one measured step, logging its output to ``workdir/name.log``; raise if it fails."""
    print(f"[{datetime.now():%H:%M:%S}] {name} (load {loadavg()[0]})", flush=True)
    with open(workdir / f"{name}.log", "w") as log:
        m = measure(cmd, cwd=ROOT, stdout=log, stderr=log, timeout=timeout)
    if m["returncode"] != 0:
        raise SystemExit(f"error: step {name} failed ({m}); see {workdir / f'{name}.log'}")
    (workdir / f"{name}.measure.json").write_text(json.dumps(m, indent=2) + "\n")
    return m


def export_adult(workdir: Path) -> tuple[Path, Path, int]:
    """Write the bundled Adult train/test split as Parquet; return the paths and the train row count."""
    import synthera

    train, test = synthera.datasets.load("adult")
    paths = workdir / "adult_train.parquet", workdir / "adult_test.parquet"
    train.to_parquet(paths[0], index=False)
    test.to_parquet(paths[1], index=False)
    return paths[0], paths[1], len(train)


def score_fields(score: dict) -> dict:
    """The headline numbers of one score.py result."""
    q, ml, pv = score["quality"], score["ml"], score["privacy"]
    ref = ml["tstr"] or ml["trtr"]  # real_holdout: TRTR is the reference
    return {
        "column_shapes": q["column_shapes"], "column_pair_trends": q["column_pair_trends"],
        "pairs_scored": q["pairs_scored"],
        "tstr_auc": ref.get("roc_auc"), "tstr_accuracy": ref.get("accuracy"), "tstr_f1": ref.get("f1"),
        "ml_train_table": "real train (TRTR)" if ml["tstr"] is None else "synthetic (TSTR)",
        "exact_copy_rate": pv["exact_copy_rate"], "exact_copies": pv["exact_copies"],
        "dcr_share": pv["dcr_share"], "dcr_median_train": pv["dcr_median_train"],
        "dcr_synthetic_rows_used": pv["dcr_synthetic_rows_used"],
    }


def main(argv=None) -> int:
    """Run every step and write the summary JSON."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["gaussian_copula", "ctgan", "tvae"])
    p.add_argument("--epochs", type=int, default=30, help="CTGAN/TVAE epochs (SDV's default is 300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/peer_runs"))
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "peers_sdv.json")
    p.add_argument("--timeout", type=float, default=3 * 3600, help="seconds per step")
    args = p.parse_args(argv)
    # On SIGTERM, unwind so measure() kills the running step's process group.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not PEER_PY.exists():
        raise SystemExit(f"error: {PEER_PY} not found; run: bash benchmarks/peers/setup.sh")
    wd = args.workdir
    wd.mkdir(parents=True, exist_ok=True)
    summary = {
        "benchmark": "SDV peers on UCI Adult (official split), scored by benchmarks/scoring/score.py",
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "loadavg_start": loadavg(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "seed": args.seed, "workdir": str(wd), "models": {},
    }
    train, test, n_train = export_adult(wd)
    data = ["--train", train, "--test", test, "--target", "income"]
    score_cmd = [PEER_PY, ROOT / "benchmarks" / "scoring" / "score.py", *data]

    for model in args.models:
        run = [PEER_PY, HERE / "run_sdv.py", "--model", model, "--seed", args.seed, "--epochs", args.epochs]
        fit = step(f"{model}.fit", [*run, "--train", train, "--rows", n_train, "--out", wd / f"{model}.csv",
                                    "--save-model", wd / f"{model}.pkl", "--timing", wd / f"{model}.fit.timing.json"],
                   wd, args.timeout)
        s1m = step(f"{model}.sample_1m", [*run, "--load-model", wd / f"{model}.pkl", "--rows", 0, "--sample-1m",
                                          "--timing", wd / f"{model}.sample_1m.timing.json"], wd, args.timeout)
        step(f"{model}.score", [*score_cmd, "--synthetic", wd / f"{model}.csv", "--name", model,
                                "--out", wd / f"{model}.score.json"], wd, args.timeout)
        ft = json.loads((wd / f"{model}.fit.timing.json").read_text())
        st = json.loads((wd / f"{model}.sample_1m.timing.json").read_text())
        summary["sdv_version"] = ft["sdv_version"]
        summary["torch"] = f"{ft['torch_version']} ({ft['torch_threads']} threads)"
        summary["models"][model] = {
            "epochs": ft["epochs"], "fit_s": ft["fit_s"], "fit_process_wall_s": fit["wall_s"],
            "peak_rss_fit_mib": fit["peak_rss_mib"], "peak_tree_rss_fit_mib": fit["peak_tree_rss_mib"],
            "sample_rows": ft["sample_rows"], "sample_s": ft["sample_s"],
            "sample_1m_s": st["sample_1m_s"], "peak_rss_sample_1m_mib": s1m["peak_rss_mib"],
            "peak_tree_rss_sample_1m_mib": s1m["peak_tree_rss_mib"],
            "model_bytes": ft.get("model_bytes"),
            **score_fields(json.loads((wd / f"{model}.score.json").read_text())),
            "loadavg_fit_start": ft["loadavg_start"], "loadavg_fit_end": ft["loadavg_end"],
            "loadavg_sample_1m_start": st["loadavg_start"], "loadavg_sample_1m_end": st["loadavg_end"],
        }

    step("real_holdout.score", [*score_cmd, "--synthetic", test, "--out", wd / "real_holdout.score.json"],
         wd, args.timeout)
    holdout = json.loads((wd / "real_holdout.score.json").read_text())
    summary["real_holdout"] = score_fields(holdout)
    summary["versions"] = holdout["versions"]
    summary["loadavg_end"] = loadavg()
    summary["finished_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    summary["notes"] = [
        "Times are single measurements on a shared 2-core machine; see the load averages.",
        "fit_s is synthesizer.fit inside the process; fit_process_wall_s adds start-up, "
        "metadata detection, sampling the train-sized table and saving.",
        "peak_rss_*_mib is ru_maxrss of the largest single process (benchmarks/peers/measure.py); "
        "peak_tree_rss_*_mib is the largest sum of RSS over the step's processes, sampled every 0.2 s "
        "(CTGAN and TVAE start joblib workers).",
        "Column Pair Trends counts all column pairs (sdmetrics 0.32 thresholds set to 0).",
        "real_holdout scores the real test split as if it were synthetic; its ML numbers are TRTR "
        "and its test-side DCR is leave-one-out.",
        "DCR: L1 distance, synthetic rows subsampled to 10,000 (seed 0); dcr_share ideal 0.5.",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
