"""The flagship's aggregate Adult figures over seeds, with and without the sensitive columns it finds by name.

Issue 21 asks that modelling small groups faithfully leaves the flagship's
aggregate figures where they are: column shapes >= 0.994, pair trends >= 0.985,
TSTR AUC >= 0.918 and DCR share <= 0.53. For each seed the cascade is fitted on
Adult's train split (exported as benchmarks/tabular.py does) twice: as it ships
(``sensitive="auto"``: sex and race found by name) and with ``sensitive=()``
(no columns treated as sensitive), and a third time with the opt-in forest of
five randomized trees per column (``n_trees=5``), samples as many rows as the train
split, and every sample is scored by benchmarks/scoring/score.py in the peer venv (sdmetrics
quality report, XGBoost trained on synthetic and tested on the official test
split, DCR share): the same scorer as benchmarks/tabular.py, in one run.

    bash benchmarks/peers/setup.sh      # once: the peer venv with sdmetrics and xgboost
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/flagship.py [--seeds 0 1 2]

Writes benchmarks/results/flagship.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peers"))
from bench_sdv import PEER_PY, export_adult, loadavg, score_fields  # noqa: E402

RESULTS = HERE / "results"
SCORE = HERE / "scoring" / "score.py"
#: arm: (sensitive, n_trees, file stem)
ARMS = {"default (sensitive found by name)": ("auto", 1, "auto"), "no sensitive columns": ((), 1, "none"),
        "n_trees=5 (opt-in; sensitive found by name)": ("auto", 5, "trees5")}
FIELDS = ("column_shapes", "column_pair_trends", "tstr_auc", "dcr_share", "exact_copies")
TARGETS = {"column_shapes": (">=", 0.994), "column_pair_trends": (">=", 0.985), "tstr_auc": (">=", 0.918),
           "dcr_share": ("<=", 0.53)}


def run_arm(arm: tuple, seed: int, train: Path, test: Path, workdir: Path) -> dict:
    """Fit, sample and score one arm at one seed."""
    import pandas as pd

    from synthera.tabular import CascadeSynthesizer

    sensitive, n_trees, stem = arm
    frame = pd.read_parquet(train)
    start = time.perf_counter()
    model = CascadeSynthesizer(sensitive=sensitive, n_trees=n_trees, seed=seed).fit(frame)
    fit_s = time.perf_counter() - start
    out = workdir / f"{stem}_{seed}.csv"
    model.sample(len(frame), seed=seed).to_csv(out, index=False)
    score = workdir / f"{out.stem}.score.json"
    subprocess.run([str(PEER_PY), str(SCORE), "--train", str(train), "--test", str(test), "--synthetic", str(out),
                    "--target", "income", "--out", str(score)], check=True, capture_output=True)
    fields = score_fields(json.loads(score.read_text()))
    return {"seed": seed, "fit_s": round(fit_s, 2), "sensitive_used": list(model.sensitive_),
            **{k: fields[k] for k in FIELDS}}


def markdown(results: dict) -> str:
    lines = ["# The flagship on Adult: aggregate figures with and without the sensitive columns found by name", "",
             f"Command: `{results['command']}`  ", f"Load average: {results['load_start']} at start, "
             f"{results['load_end']} at the end (2 shared cores).", "",
             "| arm | sensitive columns | seeds | column shapes | pair trends | TSTR AUC (XGBoost) | DCR share | "
             "exact copies | fit s |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for arm, r in results["summary"].items():
        lines.append(f"| {arm} | {', '.join(r['sensitive_used']) or 'none'} | {r['seeds']} | "
                     f"{r['column_shapes']:.4f} | {r['column_pair_trends']:.4f} | {r['tstr_auc']:.4f} | "
                     f"{r['dcr_share']:.3f} | {r['exact_copies']:.0f} | {r['fit_s']:.1f} |")
    lines += ["", "Means over the seeds; per seed:", "", "| arm | seed | shapes | trends | TSTR AUC | DCR share |",
              "|---|---:|---:|---:|---:|---:|"]
    for arm, runs in results["runs"].items():
        for r in runs:
            lines.append(f"| {arm} | {r['seed']} | {r['column_shapes']:.4f} | {r['column_pair_trends']:.4f} | "
                         f"{r['tstr_auc']:.4f} | {r['dcr_share']:.3f} |")
    lines += ["", "Targets (issue 21): " + ", ".join(f"{k} {op} {v}" for k, v_ in TARGETS.items()
                                                     for op, v in [v_]) + "."]
    for arm, r in results["summary"].items():
        met = [k for k, (op, v) in TARGETS.items() if (r[k] >= v if op == ">=" else r[k] <= v)]
        missed = [k for k in TARGETS if k not in met]
        lines.append(f"- {arm}: {'all met' if not missed else 'missed: ' + ', '.join(missed)}")
    return "\n".join(lines) + "\n"


def main() -> None:
    import os

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/flagship_bench"))
    args = p.parse_args()
    if not PEER_PY.exists():
        raise SystemExit("error: the peer venv is missing; run `bash benchmarks/peers/setup.sh` first")
    args.workdir.mkdir(parents=True, exist_ok=True)
    train, test, _ = export_adult(args.workdir)
    load_start = loadavg()
    runs = {arm: [] for arm in ARMS}
    for seed in args.seeds:
        for arm, spec in ARMS.items():
            runs[arm].append(run_arm(spec, seed, train, test, args.workdir))
            print(arm, runs[arm][-1], flush=True)
    summary = {arm: {"seeds": ", ".join(map(str, args.seeds)), "sensitive_used": rs[0]["sensitive_used"],
                     **{k: statistics.fmean(r[k] for r in rs) for k in (*FIELDS, "fit_s")}}
               for arm, rs in runs.items()}
    results = {"benchmark": "flagship", "started": datetime.now(UTC).isoformat(timespec="seconds"),
               "command": (f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} .venv/bin/python "
                           "benchmarks/flagship.py " + " ".join(sys.argv[1:])).strip(),
               "load_start": load_start, "load_end": loadavg(), "summary": summary, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "flagship.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "flagship.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
