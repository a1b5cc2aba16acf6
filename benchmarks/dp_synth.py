"""The ε-DP marginal synthesizer (``dp_marginals``) on Adult at ε ∈ {0.3, 1, 3}, δ = 1e-5.

Every run fits on Adult's official train split (32,561 rows), samples as many
rows, and is scored three ways:

* **marginal accuracy**: mean 1 - TV over all 1-way and 2-way marginals,
  binned as MOSTLY AI's mostlyai-qa does (:mod:`synthera.evaluate.marginals`):
  ``overall`` is the mean of the univariate and bivariate means (mostlyai-qa's
  headline), ``pooled`` the plain mean over all 15 + 105 marginals;
* **SDMetrics** Column Shapes and Column Pair Trends over all 105 pairs, and
  **XGBoost TSTR** ROC AUC on the real test split, plus exact copies and DCR
  share, by ``benchmarks/scoring/score.py`` in ``benchmarks/.venv-peers`` (the
  scorer every Synthera benchmark uses);
* fit seconds and the ε the model's manifest reports.

Each ε runs with the domain declared public (``infer_metadata(train)`` passed
as metadata: bounds and categories cost nothing) and with the domain
estimated under DP (no metadata: one Gaussian pass calibrated to
``domain_share`` of ε and δ alone, composed with the measurements in one
accountant), and once more with ``target="income"`` (every other pair
measured together with income, as 3-way marginals). ``domain ρ share`` is
the domain's part of the total 1/σ² (the currency in which the Gaussians
compose): what the estimated domain really costs the measurements.
Two references put the numbers in context: the real test split, and a
non-private table whose columns are shuffled independently (exact 1-way
marginals, no dependence at all).

    .venv/bin/python benchmarks/dp_synth.py [--epsilons 0.3 1 3] [--domains public dp] \
        [--target-runs public] [--seeds 0] [--workdir /tmp/dp_synth_bench] [--no-score]

Writes benchmarks/results/dp_synth.json and benchmarks/results/dp_synth.md.
The model seed is fixed here so the table can be reproduced; a real release
leaves it unset (fresh noise from the operating system).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peers"))
sys.path.insert(0, str(HERE / "scoring"))
from bench_sdv import PEER_PY, export_adult, loadavg, score_fields, step
from score import independent_columns

RESULTS = HERE / "results"
SCORE = HERE / "scoring" / "score.py"
DELTA = 1e-5
TARGET = "income"


def _score(label: str, csv: Path, train: Path, test: Path, workdir: Path) -> dict:
    out = workdir / f"{label}.score.json"
    step(f"{label}_score", [str(PEER_PY), str(SCORE), "--train", str(train), "--test", str(test), "--synthetic",
                            str(csv), "--target", TARGET, "--out", str(out)], workdir, 3600)
    return score_fields(json.loads(out.read_text()))


def _marginals(real, synthetic) -> dict:
    from synthera.evaluate.marginals import marginal_accuracy

    result = marginal_accuracy(real, synthetic)
    return {
        "marginal_overall": result.overall, "marginal_univariate": result.univariate,
        "marginal_bivariate": result.bivariate, "marginal_pooled": result.pooled,
        "worst_pairs": result.worst_pairs(5), "per_column": result.per_column,
    }


def run_dp(domain: str, epsilon: float, seed: int, target: str | None, train_df, paths, workdir: Path,
           score: bool) -> dict:
    from synthera.metadata import infer_metadata
    from synthera.tabular import get_synthesizer

    label = f"dp_marginals_{domain}_eps{epsilon:g}_seed{seed}" + (f"_target_{target}" if target else "")
    print(f"[{datetime.now():%H:%M:%S}] {label} (load {loadavg()[0]})", flush=True)
    metadata = infer_metadata(train_df) if domain == "public" else None
    model = get_synthesizer("dp_marginals")(epsilon=epsilon, delta=DELTA, seed=seed, target=target)
    start = time.perf_counter()
    # the "public" rows declare the data's own ranges as a code book: a best case, said so in the README
    model.fit(train_df, metadata=metadata, domain_is_public=metadata is not None)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    syn = model.sample(len(train_df), seed=0)
    sample_s = time.perf_counter() - start
    csv = workdir / f"{label}.csv"
    syn.to_csv(csv, index=False)
    model.save(workdir / label)
    privacy = model.privacy_
    row = {
        "run": label, "model": "dp_marginals" + (f" (target={target})" if target else ""), "domain": domain,
        "seed": seed, "target": target,
        "epsilon": epsilon, "delta": DELTA,
        "epsilon_spent": privacy["epsilon_spent"], "delta_spent": privacy["delta"],
        "epsilon_domain_alone": privacy["domain"]["epsilon"], "domain_rho_share": _domain_rho_share(privacy),
        "sigmas": {g["name"]: round(g["sigma"], 3) for g in privacy["measurements"]["groups"]},
        "fit_s": round(fit_s, 2), "sample_s": round(sample_s, 2), "params": model.get_params(),
        "model_codes_per_column": dict(zip(model.encoder_.modelled, model.sizes_, strict=True)),
    }
    row.update(_marginals(train_df, syn))
    if score:
        row.update(_score(label, csv, *paths, workdir))
    return row


def _domain_rho_share(privacy: dict) -> float:
    """The domain's share of the summed count/σ² of every Gaussian the model composed."""
    groups = privacy["measurements"]["groups"]
    rho = [g["count"] / g["sigma"] ** 2 for g in groups]
    return round(sum(r for g, r in zip(groups, rho, strict=True) if g["name"].startswith("domain")) / sum(rho), 4)


def run_reference(kind: str, train_df, test_df, paths, workdir: Path, score: bool) -> dict:
    if kind == "real_test_split":
        table, csv = test_df, paths[1]
    else:  # independent columns: exact 1-way marginals, every dependence destroyed (not private)
        table = independent_columns(train_df, seed=0)
        csv = workdir / "independent_columns.csv"
        table.to_csv(csv, index=False)
    row = {"run": kind, "model": kind, "domain": "-", "epsilon": None}
    row.update(_marginals(train_df, table))
    if score:
        row.update(_score(kind, csv, *paths, workdir))
    return row


def summarise(rows: list[dict]) -> list[dict]:
    """Mean, min and max over seeds of each (model, domain, ε) with more than one seed."""
    import numpy as np

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("epsilon") is not None:
            groups.setdefault((r["model"], r["domain"], r["epsilon"]), []).append(r)
    out = []
    for (model, domain, epsilon), members in groups.items():
        if len(members) < 2:
            continue
        row = {"model": model, "domain": domain, "epsilon": epsilon, "seeds": len(members)}
        for key in ("fit_s", "marginal_overall", "marginal_pooled", "marginal_bivariate", "column_pair_trends",
                    "tstr_auc", "epsilon_spent"):
            values = np.array([m.get(key) if m.get(key) is not None else np.nan for m in members], dtype=float)
            row[key] = (float(np.mean(values)), float(np.min(values)), float(np.max(values)), float(np.std(values)))
        out.append(row)
    return out


def _configs(args) -> list[tuple[str, str | None]]:
    return [(d, None) for d in args.domains] + [(d, TARGET) for d in args.target_runs]


def _previous_rows(path: Path, *, skip: set[str]) -> list[dict]:
    """The model rows of an earlier result file whose domain is not in ``skip``, marked with the date they ran."""
    if not path.exists():
        return []
    old = json.loads(path.read_text())
    return [{**r, "ran": r.get("ran", old["date"])} for r in old["rows"]
            if r.get("epsilon") is not None and r["domain"] not in skip]


def _command(argv) -> str:
    return " ".join([".venv/bin/python", "benchmarks/dp_synth.py", *(argv if argv is not None else sys.argv[1:])])


def combine(paths: list[Path], out: Path, *, merge: bool, command: str) -> int:
    """One result from several parallel runs (same references), optionally over the rows of ``out``."""
    parts = [json.loads(p.read_text()) for p in paths]
    result = {**parts[0], "command": " & ".join(p["command"] for p in parts) + "; then " + command}
    new = [r for p in parts for r in p["rows"] if r.get("epsilon") is not None]
    kept = _previous_rows(out, skip={r["domain"] for r in new}) if merge else []
    result["rows"] = parts[0]["rows"][:2] + kept + new
    result["load_end"] = parts[-1].get("load_end")
    result["summary"] = summarise(result["rows"])
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    write_markdown(result, out.with_suffix(".md"))
    print(out.with_suffix(".md").read_text())
    return 0


def _f(value, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def write_markdown(result: dict, path: Path) -> None:
    lines = [
        "# dp_marginals on Adult: ε-DP synthetic data from noisy marginals",
        "",
        f"Run {result['date']} on {result['machine']} (load average at start {result['load_start']}).",
        f"Command: `{result['command']}`",
        "",
        (
            "Marginal accuracy = 1 - TV, binned like mostlyai-qa (10 quantile bins / top-10 labels); "
            "overall = mean of the univariate and bivariate means, pooled = mean over all 120 marginals. "
            "Column shapes and pair trends are SDMetrics (all 105 pairs); TSTR is XGBoost ROC AUC on the real "
            f"test split (train on real: {_f(result.get('trtr_auc'))})."
        ),
        "",
        (
            "| run | domain | ε asked | ε spent (δ) | domain ρ share | fit s | overall | univariate | bivariate "
            "| pooled | col shapes | pair trends | TSTR AUC | DCR share | exact copies |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary = summarise(result["rows"])
    for r in result["rows"]:
        spent = "–" if r.get("epsilon_spent") is None else f"{r['epsilon_spent']:.4f} ({r['delta_spent']:g})"
        name = r["model"] if r.get("seed") is None else f"{r['model']}, seed {r['seed']}"
        name += f" (ran {r['ran'][:10]})" if r.get("ran") else ""
        lines.append(
            f"| {name} | {r['domain']} | {'–' if r['epsilon'] is None else r['epsilon']} | {spent} "
            f"| {_f(r.get('domain_rho_share'), 3)} | {_f(r.get('fit_s'), 1)} | {_f(r['marginal_overall'])} "
            f"| {_f(r['marginal_univariate'])} "
            f"| {_f(r['marginal_bivariate'])} | {_f(r['marginal_pooled'])} | {_f(r.get('column_shapes'))} "
            f"| {_f(r.get('column_pair_trends'))} | {_f(r.get('tstr_auc'))} | {_f(r.get('dcr_share'))} "
            f"| {r.get('exact_copy_rate', '–')} |"
        )
    if summary:
        lines += ["", "Mean over seeds (min-max; sd) for each configuration:", "",
                  "| run | domain | ε | seeds | fit s | overall | pooled | bivariate | pair trends | TSTR AUC |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for row in summary:
            cells = [f"{m:.4f} ({lo:.4f}-{hi:.4f}; {sd:.4f})" for m, lo, hi, sd in
                     (row[k] for k in ("marginal_overall", "marginal_pooled", "marginal_bivariate",
                                       "column_pair_trends", "tstr_auc"))]
            lines.append(f"| {row['model']} | {row['domain']} | {row['epsilon']} | {row['seeds']} "
                         f"| {row['fit_s'][0]:.1f} | " + " | ".join(cells) + " |")
    lines += ["", "Worst pairs (marginal 1 - TV) per run:", ""]
    for r in result["rows"]:
        worst = ", ".join(f"{k} {v:.3f}" for k, v in r["worst_pairs"][:3])
        lines.append(f"- {r['run']}: {worst}")
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epsilons", nargs="+", type=float, default=[0.3, 1.0, 3.0])
    p.add_argument("--domains", nargs="*", choices=["public", "dp"], default=["public", "dp"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--target-runs", nargs="*", choices=["public", "dp"], default=["public"],
                   help="domains also run with target=income (3-way marginals with the target)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/dp_synth_bench"))
    p.add_argument("--no-score", action="store_true", help="skip SDMetrics and XGBoost (score.py)")
    p.add_argument("--out", type=Path, default=RESULTS / "dp_synth.json")
    p.add_argument("--merge", action="store_true",
                   help="keep the rows of --out whose domain this run does not touch (marked with the date they ran)")
    p.add_argument("--combine", nargs="+", type=Path, metavar="JSON",
                   help="fit nothing: write --out from these results of parallel runs (with --merge, plus --out's)")
    args = p.parse_args(argv)
    if args.combine:
        return combine(args.combine, args.out, merge=args.merge, command=_command(argv))
    kept = _previous_rows(args.out, skip={r for r, _ in _configs(args)}) if args.merge else []
    import synthera

    score = not args.no_score
    if score and not PEER_PY.exists():
        raise SystemExit(f"error: {PEER_PY} is missing; run `bash benchmarks/peers/setup.sh` or pass --no-score")
    args.workdir.mkdir(parents=True, exist_ok=True)
    paths = export_adult(args.workdir)[:2]
    train_df, test_df = synthera.datasets.load("adult")
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": _command(argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_start": loadavg(), "delta": DELTA, "rows": [],
    }
    for kind in ("real_test_split", "independent_columns"):
        row = run_reference(kind, train_df, test_df, paths, args.workdir, score)
        if kind == "real_test_split" and score:
            result["trtr_auc"] = row.get("tstr_auc")
        result["rows"].append(row)
    for domain, target in _configs(args):
        for epsilon in args.epsilons:
            for seed in args.seeds:
                result["rows"].append(run_dp(domain, epsilon, seed, target, train_df, paths, args.workdir, score))
                args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    result["load_end"] = loadavg()
    result["rows"] = result["rows"][:2] + kept + result["rows"][2:]
    result["summary"] = summarise(result["rows"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    write_markdown(result, args.out.with_suffix(".md"))
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
