"""Synthera's synthesizers against SDV's, side by side, in one run.

On Adult's official split, every model fits on the train split (32,561 rows),
samples as many rows, and is scored by benchmarks/scoring/score.py against
train (SDMetrics Column Shapes and Column Pair Trends over all 105 pairs;
exact copies; DCR share against the test split) and test (XGBoost trained
on synthetic, tested on real). Each fit runs in its own process, measured
for wall time and peak memory by benchmarks/peers/measure.py. SDV runs in
benchmarks/.venv-peers (set up by benchmarks/peers/setup.sh); Synthera never
imports it.

The flagship is also fitted on COMPAS and German credit (id, personal-data
and free-text columns left out of the scores, dates scored as numbers).

    bash benchmarks/peers/setup.sh          # once: the peer venv with SDV, sdmetrics, xgboost
    .venv/bin/python benchmarks/tabular.py [--models cascade gaussian_copula ctgan tvae] \
        [--peers gaussian_copula ctgan tvae] [--epochs 30] [--sample-1m] [--workdir /tmp/tabular_bench]

Writes benchmarks/results/tabular.json and benchmarks/results/tabular.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "peers"))
from bench_sdv import PEER_PY, export_adult, loadavg, score_fields, step  # noqa: E402

RESULTS = HERE / "results"
SCORE = HERE / "scoring" / "score.py"
OTHER = {"compas": "two_year_recid", "german": "credit"}


def run_model(label: str, cmd: list, out_csv: Path, timing: Path, train: Path, test: Path, target: str,
              workdir: Path, timeout: float) -> dict:
    """Fit (measured), then score; return one row of the results table."""
    measured = step(label, cmd, workdir, timeout)
    times = json.loads(timing.read_text())
    times.setdefault("rows", times.get("sample_rows"))  # run_sdv.py names it sample_rows
    score_json = workdir / f"{label}.score.json"
    step(f"{label}_score", [str(PEER_PY), str(SCORE), "--train", str(train), "--test", str(test),
                            "--synthetic", str(out_csv), "--target", target, "--out", str(score_json)],
         workdir, timeout)
    row = {"model": label, "fit_s": times["fit_s"], "sample_s": times["sample_s"],
           "sample_rows_per_s": times["rows"] / times["sample_s"],
           "process_wall_s": measured["wall_s"], "peak_rss_mib": measured["peak_tree_rss_mib"],
           "params": times.get("params")}
    if times.get("sample_1m_s") is not None:
        row["sample_1m_s"] = times["sample_1m_s"]
        row["sample_1m_rows_per_s"] = 1_000_000 / times["sample_1m_s"]
    row.update(score_fields(json.loads(score_json.read_text())))
    return row


def scoreable(name: str, workdir: Path):
    """Export a bundled dataset with only the modelled columns, dates as day numbers.

    Returns the train and test paths, the full train frame (what the model
    learns from), its metadata and the scored column names.
    """
    import synthera
    from synthera.metadata import infer_metadata

    train, test = synthera.datasets.load(name)
    md = infer_metadata(train)
    keep = md.of_kind("numerical", "categorical", "boolean", "datetime")
    paths = []
    for split, frame in (("train", train), ("test", test)):
        path = workdir / f"{name}_{split}.parquet"
        prepare(frame, md, keep).to_parquet(path, index=False)
        paths.append(path)
    return paths[0], paths[1], train, md, keep


def prepare(frame, md, keep):
    """The columns that scores compare, with dates as days since 1970 and booleans as text."""
    import pandas as pd

    out = frame[keep].copy()
    for name in keep:
        col = md[name]
        if col.kind == "datetime":
            parsed = pd.to_datetime(out[name], format=col.datetime_format, errors="coerce")
            out[name] = (parsed - pd.Timestamp("1970-01-01")).dt.days
        elif col.kind == "boolean":
            out[name] = out[name].astype(str)
    return out


def markdown(results: dict) -> str:
    lines = ["| model | fit (s) | sample rows/s | peak RSS (MiB) | column shapes | pair trends (105) | "
             "TSTR AUC | exact copies | DCR share |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["adult"]:
        def f(key, fmt):
            return format(r[key], fmt) if r.get(key) is not None else "–"
        lines.append(f"| {r['model']} | {f('fit_s', '.1f')} | {f('sample_rows_per_s', ',.0f')} | "
                     f"{f('peak_rss_mib', ',.0f')} | {f('column_shapes', '.4f')} | {f('column_pair_trends', '.4f')} | "
                     f"{f('tstr_auc', '.4f')} | {f('exact_copy_rate', '.4f')} | {f('dcr_share', '.3f')} |")
    if results.get("ratios"):
        lines += ["", "| comparison | ratio |", "|---|---:|"]
        lines += [f"| {k} | {v:.1f}× |" for k, v in results["ratios"].items()]
    if results.get("other"):
        lines += ["", "| dataset | table scored | rows (train) | column shapes | pair trends | TSTR AUC | TRTR AUC | "
                  "DCR share |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in results["other"]:
            tstr = f"{r['tstr_auc']:.4f}" if r["model"] == "cascade" else "–"
            lines.append(f"| {r['dataset']} | {r['model']} | {r['rows']:,} | {r['column_shapes']:.4f} | "
                         f"{r['column_pair_trends']:.4f} | {tstr} | {r['trtr_auc']:.4f} | {r['dcr_share']:.3f} |")
    return "\n".join(lines) + "\n"


def ratios(rows: list[dict]) -> dict:
    by = {r["model"]: r for r in rows}
    out = {}
    for ours, theirs in (("gaussian_copula", "sdv_gaussian_copula"), ("ctgan", "sdv_ctgan"), ("tvae", "sdv_tvae"),
                         ("cascade", "sdv_ctgan")):
        if ours in by and theirs in by:
            out[f"fit speed: {ours} vs {theirs}"] = by[theirs]["fit_s"] / by[ours]["fit_s"]
            out[f"sampling speed: {ours} vs {theirs}"] = by[ours]["sample_rows_per_s"] / by[theirs]["sample_rows_per_s"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="*", default=["cascade", "gaussian_copula", "ctgan", "tvae"])
    p.add_argument("--peers", nargs="*", default=["gaussian_copula", "ctgan", "tvae"])
    p.add_argument("--epochs", type=int, default=30, help="epochs for CTGAN/TVAE, ours and SDV's alike")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-1m", action="store_true", help="also time sampling 1,000,000 rows from the saved model")
    p.add_argument("--no-other", action="store_true", help="skip COMPAS and German credit")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/tabular_bench"))
    p.add_argument("--timeout", type=float, default=3 * 3600)
    args = p.parse_args()
    if not PEER_PY.exists() and args.peers:
        raise SystemExit("error: the peer venv is missing; run `bash benchmarks/peers/setup.sh` first")
    args.workdir.mkdir(parents=True, exist_ok=True)
    train, test, _ = export_adult(args.workdir)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_start = loadavg()

    rows = []
    for model in args.models:
        out_csv, timing = args.workdir / f"{model}.csv", args.workdir / f"{model}.timing.json"
        cmd = [sys.executable, str(HERE / "synth_run.py"), "--model", model, "--train", str(train), "--out", str(out_csv),
               "--timing", str(timing), "--epochs", str(args.epochs), "--seed", str(args.seed)]
        rows.append(run_model(model, cmd + (["--sample-1m"] if args.sample_1m else []), out_csv, timing, train, test,
                              "income", args.workdir, args.timeout))
    for model in args.peers:
        label = f"sdv_{model}"
        out_csv, timing = args.workdir / f"{label}.csv", args.workdir / f"{label}.timing.json"
        cmd = [str(PEER_PY), str(HERE / "peers" / "run_sdv.py"), "--model", model, "--train", str(train),
               "--out", str(out_csv), "--timing", str(timing), "--epochs", str(args.epochs), "--seed", str(args.seed)]
        rows.append(run_model(label, cmd + (["--sample-1m"] if args.sample_1m else []), out_csv, timing, train, test,
                              "income", args.workdir, args.timeout))
    holdout = args.workdir / "real_holdout.score.json"
    step("real_holdout_score", [str(PEER_PY), str(SCORE), "--train", str(train), "--test", str(test), "--synthetic",
                                str(test), "--target", "income", "--out", str(holdout)], args.workdir, args.timeout)
    rows.append({"model": "real holdout (test split)", **score_fields(json.loads(holdout.read_text()))})

    other = []
    if not args.no_other:
        from synthera.tabular import get_synthesizer

        for name, target in OTHER.items():
            tr, te, full, md, keep = scoreable(name, args.workdir)
            syn = get_synthesizer("cascade")(seed=args.seed).fit(full).sample(len(full), seed=args.seed)
            syn_path = args.workdir / f"{name}_cascade.csv"
            prepare(syn, md, keep).to_csv(syn_path, index=False)
            score_json = args.workdir / f"{name}_cascade.score.json"
            step(f"{name}_score", [str(PEER_PY), str(SCORE), "--train", str(tr), "--test", str(te), "--synthetic",
                                   str(syn_path), "--target", target, "--out", str(score_json)],
                 args.workdir, args.timeout)
            score = json.loads(score_json.read_text())
            other.append({"dataset": name, "model": "cascade", "rows": len(full), **score_fields(score),
                          "trtr_auc": score["ml"]["trtr"]["roc_auc"]})
            ref_json = args.workdir / f"{name}_holdout.score.json"
            step(f"{name}_holdout_score", [str(PEER_PY), str(SCORE), "--train", str(tr), "--test", str(te),
                                           "--synthetic", str(te), "--target", target, "--out", str(ref_json)],
                 args.workdir, args.timeout)
            ref = json.loads(ref_json.read_text())
            other.append({"dataset": name, "model": "real holdout", "rows": len(full), **score_fields(ref),
                          "trtr_auc": ref["ml"]["trtr"]["roc_auc"]})

    results = {
        "benchmark": "tabular", "started": started, "python": platform.python_version(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "load_average_start": load_start, "load_average_end": loadavg(), "epochs": args.epochs,
        "adult": rows, "ratios": ratios(rows), "other": other,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tabular.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (RESULTS / "tabular.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
