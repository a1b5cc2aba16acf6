"""Bias mitigation at sampling time on Adult: does parity in the data carry over to models trained on it?

On Adult's official split (sensitive = sex, target = income), for each seed the
flagship (cascade) is fitted on the train split and samples as many rows as
the train split holds, five ways: plainly; with ``--parity income --sensitive
sex`` at the default relabel share and at the two extremes (pure resampling,
pure relabelling; see synthera.bias.mitigate); and with ``--balance sex``.
XGBoost (score.py's model, in the peer venv) is trained on each table and on
the real train split, and tested on the real test split: ROC AUC, accuracy,
and the demographic parity and equalized odds differences between women and
men. Scores are means over the seeds.

Targets (issue 6): the parity table's model has at most half the demographic
parity difference of the real-trained model, and an AUC within 0.02 of the
plain synthetic table's model. Bias amplification compares the plain
synthetic table's model with the real-trained one.

    bash benchmarks/peers/setup.sh     # once: the peer venv with xgboost
    .venv/bin/python benchmarks/fairness.py [--seeds 0 1 2] [--workdir /tmp/fairness_bench]

Writes benchmarks/results/fairness.json and benchmarks/results/fairness.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PEER_PY = HERE / ".venv-peers" / "bin" / "python"
TARGET, SENSITIVE, POSITIVE = "income", "sex", ">50K"

TABLES = {
    "real": "the real train split",
    "plain": "cascade, plain sample",
    "parity": "cascade, --parity income --sensitive sex (default relabel 0.3)",
    "parity_resample": "cascade, parity by resampling only (relabel 0)",
    "parity_relabel": "cascade, parity by relabelling only (relabel 1)",
    "balance": "cascade, --balance sex",
}


def make_tables(seed: int, workdir: Path, train, test) -> dict[str, Path]:
    from synthera.bias import mitigated_sample
    from synthera.tabular import get_synthesizer

    paths = {"real": workdir / "train.parquet"}
    model = get_synthesizer("cascade")(seed=seed).fit(train)
    n = len(train)
    tables = {
        "plain": model.sample(n, seed=seed),
        "parity": mitigated_sample(model, n, parity=TARGET, sensitive=[SENSITIVE], seed=seed)[0],
        "parity_resample": mitigated_sample(model, n, parity=TARGET, sensitive=[SENSITIVE], relabel=0.0, seed=seed)[0],
        "parity_relabel": mitigated_sample(model, n, parity=TARGET, sensitive=[SENSITIVE], relabel=1.0, seed=seed)[0],
        "balance": mitigated_sample(model, n, balance=[SENSITIVE], seed=seed)[0],
    }
    for name, frame in tables.items():
        paths[name] = workdir / f"{name}_seed{seed}.parquet"
        frame.to_parquet(paths[name], index=False)
    return paths


def mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def summarise(runs: list[dict]) -> dict:
    out = {}
    for name in TABLES:
        entries = [r["tables"][name] for r in runs]
        sens = [e["by_sensitive"][SENSITIVE] for e in entries]
        groups = sorted(sens[0]["groups"])
        out[name] = {
            "roc_auc": mean(e["roc_auc"] for e in entries),
            "accuracy": mean(e["accuracy"] for e in entries),
            "demographic_parity_difference": mean(s["demographic_parity_difference"] for s in sens),
            "equalized_odds_difference": mean(s["equalized_odds_difference"] for s in sens),
            "selection_rate": {g: mean(s["groups"][g]["selection_rate"] for s in sens) for g in groups},
            "train_base_rate": {g: mean(s["train_base_rate"].get(g) for s in sens) for g in groups},
            "train_share": {g: mean(s["train_share"].get(g) for s in sens) for g in groups},
            "per_seed_dp": [s["demographic_parity_difference"] for s in sens],
        }
    return out


def markdown(results: dict) -> str:
    s = results["summary"]
    groups = sorted(s["real"]["selection_rate"])
    head = " / ".join(groups)
    lines = [(f"| trained on | share ({head}) | >50K rate in training data ({head}) | XGBoost AUC | accuracy | "
              f"selection rate ({head}) | demographic parity diff. | equalized odds diff. |"),
             "|---|---|---|---:|---:|---|---:|---:|"]
    for name, label in TABLES.items():
        r = s[name]
        share = " / ".join(f"{r['train_share'][g]:.2f}" for g in groups)
        base = " / ".join(f"{r['train_base_rate'][g]:.3f}" for g in groups)
        sel = " / ".join(f"{r['selection_rate'][g]:.3f}" for g in groups)
        lines.append(f"| {label} | {share} | {base} | {r['roc_auc']:.4f} | {r['accuracy']:.4f} | {sel} | "
                     f"{r['demographic_parity_difference']:.3f} | {r['equalized_odds_difference']:.3f} |")
    c = results["checks"]
    lines += ["", "| check | value | target | met |", "|---|---:|---:|:---:|",
              f"| parity DP diff. / real DP diff. | {c['dp_ratio']:.2f} | ≤ 0.50 | {'yes' if c['dp_ratio'] <= 0.5 else 'no'} |",
              f"| AUC(plain) − AUC(parity) | {c['auc_cost']:.4f} | ≤ 0.02 | {'yes' if c['auc_cost'] <= 0.02 else 'no'} |",
              (f"| bias amplification: DP diff. plain − real | {c['amplification']:+.3f} | – | "
               f"{'amplified' if c['amplification'] > 0 else 'not amplified'} |")]
    lines.append("")
    lines.append(f"Means over seeds {', '.join(map(str, results['seeds']))}; tested on the {results['test_rows']:,}-row "
                 "official test split; groups are the test split's.")
    return "\n".join(lines) + "\n"


def main() -> None:
    from synthera import datasets

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/fairness_bench"))
    args = p.parse_args()
    if not PEER_PY.exists():
        raise SystemExit("error: the peer venv is missing; run `bash benchmarks/peers/setup.sh` first")
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    train, test = datasets.load("adult")
    train.to_parquet(args.workdir / "train.parquet", index=False)
    test.to_parquet(args.workdir / "test.parquet", index=False)
    runs, timings = [], {}
    for seed in args.seeds:
        t = time.perf_counter()
        paths = make_tables(seed, args.workdir, train, test)
        timings[f"seed{seed}_generate_s"] = round(time.perf_counter() - t, 1)
        out = args.workdir / f"fairness_seed{seed}.json"
        cmd = [str(PEER_PY), str(HERE / "scoring" / "fairness_score.py"), "--train", str(paths["real"]),
               "--test", str(args.workdir / "test.parquet"), "--target", TARGET, "--sensitive", SENSITIVE,
               "--out", str(out)] + [a for name, path in paths.items() for a in ("--table", f"{name}={path}")]
        subprocess.run(cmd, check=True)
        runs.append(json.loads(out.read_text()))
    summary = summarise(runs)
    dp = {k: summary[k]["demographic_parity_difference"] for k in summary}
    checks = {"dp_ratio": dp["parity"] / dp["real"],
              "auc_cost": summary["plain"]["roc_auc"] - summary["parity"]["roc_auc"],
              "amplification": dp["plain"] - dp["real"]}
    results = {"benchmark": "fairness", "started": started, "seeds": args.seeds, "test_rows": len(test),
               "target": TARGET, "sensitive": SENSITIVE, "positive": POSITIVE, "model": runs[0]["model"],
               "tables": TABLES, "summary": summary, "checks": checks, "timings": timings, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fairness.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "fairness.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
