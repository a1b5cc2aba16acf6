"""CTGAN and TVAE against SDV's over several seeds: is a quality gap real or seed noise?

One seed of a GAN or VAE moves TSTR AUC by several thousandths, as much as
the gap between two implementations. This runs ours and SDV's at the same
epochs for each seed, in the same run, scores every sample the way
benchmarks/tabular.py does, and reports the mean and spread per model.

    .venv/bin/python benchmarks/tabular_seeds.py [--models tvae ctgan] [--seeds 0 1 2] [--epochs 30]

Fit times are listed but this script makes no speed claim: run
benchmarks/tabular.py on an idle machine for that. Writes
benchmarks/results/tabular_seeds.json and benchmarks/results/tabular_seeds.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from tabular import PEER_PY, RESULTS, export_adult, run_model  # noqa: E402

SCORES = ("column_shapes", "column_pair_trends", "tstr_auc")


def runs(model: str, seed: int, epochs: int, workdir: Path, train: Path, test: Path, timeout: float) -> list[dict]:
    """Fit and score ours and SDV's ``model`` at one seed."""
    rows = []
    for label, python, script in ((model, sys.executable, HERE / "synth_run.py"),
                                  (f"sdv_{model}", str(PEER_PY), HERE / "peers" / "run_sdv.py")):
        tag = f"{label}_seed{seed}"
        out_csv, timing = workdir / f"{tag}.csv", workdir / f"{tag}.timing.json"
        cmd = [python, str(script), "--model", model, "--train", str(train), "--out", str(out_csv),
               "--timing", str(timing), "--epochs", str(epochs), "--seed", str(seed)]
        row = run_model(tag, cmd, out_csv, timing, train, test, "income", workdir, timeout)
        rows.append({**row, "model": label, "seed": seed})
    return rows


def summary(rows: list[dict]) -> list[dict]:
    out = []
    for label in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == label]
        entry = {"model": label, "seeds": [r["seed"] for r in mine],
                 "fit_s_mean": statistics.fmean(r["fit_s"] for r in mine)}
        for key in SCORES:
            values = [r[key] for r in mine]
            entry[f"{key}_mean"] = statistics.fmean(values)
            entry[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out.append(entry)
    return out


def markdown(results: dict) -> str:
    lines = ["| model | seeds | fit (s, mean) | column shapes | pair trends (105) | TSTR AUC |",
             "|---|---|---:|---:|---:|---:|"]
    for s in results["summary"]:
        cells = [f"{s[f'{k}_mean']:.4f} ± {s[f'{k}_sd']:.4f}" for k in SCORES]
        lines.append(f"| {s['model']} | {', '.join(map(str, s['seeds']))} | {s['fit_s_mean']:.1f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "Mean ± standard deviation over seeds. Per seed:", "",
              "| model | seed | fit (s) | column shapes | pair trends | TSTR AUC |", "|---|---:|---:|---:|---:|---:|"]
    for r in results["runs"]:
        lines.append(f"| {r['model']} | {r['seed']} | {r['fit_s']:.1f} | {r['column_shapes']:.4f} | "
                     f"{r['column_pair_trends']:.4f} | {r['tstr_auc']:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="*", default=["tvae", "ctgan"])
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/tabular_seeds"))
    p.add_argument("--timeout", type=float, default=3 * 3600)
    args = p.parse_args()
    if not PEER_PY.exists():
        raise SystemExit("error: the peer venv is missing; run `bash benchmarks/peers/setup.sh` first")
    args.workdir.mkdir(parents=True, exist_ok=True)
    train, test, _ = export_adult(args.workdir)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = [r for model in args.models for seed in args.seeds
            for r in runs(model, seed, args.epochs, args.workdir, train, test, args.timeout)]
    results = {"benchmark": "tabular_seeds", "started": started, "epochs": args.epochs,
               "runs": rows, "summary": summary(rows)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tabular_seeds.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (RESULTS / "tabular_seeds.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
