"""How long a full `synthera.evaluate` takes on Adult, against SDMetrics' QualityReport alone.

Real: Adult's 32,561 training rows; synthetic: as many rows from the flagship
(`cascade`, seed 0); holdout: Adult's 16,281 test rows; target `income`,
sensitive `sex` and `race`. Synthera's time covers every metric (fidelity,
utility, privacy, fairness) and, separately, writing the HTML report.
SDMetrics (QualityReport: column shapes and pair trends only) runs in the peers
venv (benchmarks/.venv-peers), or in this one when it has sdmetrics; its time
excludes its import. Both agree on column_shapes and column_pair_trends, which
are written too. Each timing is the best of --repeat runs.

    .venv/bin/python benchmarks/evaluate.py [--repeat 3]

Writes benchmarks/results/evaluate.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import synthera
from synthera.evaluate import evaluate
from synthera.tabular import get_synthesizer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PEERS_PYTHON = HERE / ".venv-peers" / "bin" / "python"

_SDMETRICS = textwrap.dedent(
    """
    import json, sys, time, warnings
    import pandas as pd
    warnings.filterwarnings("ignore")
    from sdmetrics.reports.single_table import QualityReport
    real, syn, meta, repeat = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2]), json.load(open(sys.argv[3])), int(sys.argv[4])
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        report = QualityReport()
        report.generate(real, syn, meta, verbose=False)
        times.append(time.perf_counter() - start)
    props = report.get_properties().set_index("Property")["Score"]
    import sdmetrics
    print(json.dumps({"seconds": min(times), "version": sdmetrics.__version__,
                      "column_shapes": float(props["Column Shapes"]), "column_pair_trends": float(props["Column Pair Trends"])}))
    """
)


def sdmetrics_python() -> str | None:
    if PEERS_PYTHON.exists():
        return str(PEERS_PYTHON)
    try:
        import sdmetrics  # noqa: F401

        return sys.executable
    except ImportError:
        return None


def run_sdmetrics(real, syn, md, repeat: int) -> dict | None:
    python = sdmetrics_python()
    if python is None:
        return None
    columns = {n: ({"sdtype": c.kind} if c.kind in ("numerical", "categorical", "boolean") else {"sdtype": "id"})
               for n, c in md.columns.items()}
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / "real.parquet", Path(tmp) / "syn.parquet", Path(tmp) / "meta.json"]
        real.to_parquet(paths[0])
        syn.to_parquet(paths[1])
        paths[2].write_text(json.dumps({"columns": columns}))
        done = subprocess.run([python, "-c", _SDMETRICS, *map(str, paths), str(repeat)],
                              capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    train, test = synthera.datasets.load("adult")
    syn = get_synthesizer("cascade")().fit(train).sample(len(train), seed=0)
    md = synthera.infer_metadata(train)

    runs, report = [], None
    for _ in range(args.repeat):
        start = time.perf_counter()
        report = evaluate(train, syn, holdout=test, target="income", sensitive=("sex", "race"), metadata=md)
        runs.append(time.perf_counter() - start)
    start = time.perf_counter()
    report.to_html()
    html_s = time.perf_counter() - start
    start = time.perf_counter()
    evaluate(train, syn, metadata=md, metrics=["column_shapes", "column_pair_trends"])
    quality_s = time.perf_counter() - start
    peer = run_sdmetrics(train, syn, md, args.repeat)

    fid = report["fidelity"]
    result = {
        "dataset": {"real": len(train), "synthetic": len(syn), "holdout": len(test), "target": "income",
                    "sensitive": ["sex", "race"]},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "synthera": {
            "full_evaluation_s": round(min(runs), 2),
            "all_runs_s": [round(t, 2) for t in runs],
            "html_report_s": round(html_s, 2),
            "shapes_and_pair_trends_only_s": round(quality_s, 3),
            "per_metric_s": report.results["timings_s"],
            "column_shapes": fid["column_shapes"],
            "column_pair_trends": fid["column_pair_trends"],
            "column_pair_trends_strong": fid["column_pair_trends_strong"],
            "marginal_accuracy": fid.get("marginal_accuracy"),
            "headline": report.headline,
        },
        "sdmetrics": peer,
    }
    if peer:
        result["agreement"] = {
            "column_shapes_abs_diff": abs(fid["column_shapes"] - peer["column_shapes"]),
            "quality_report_pair_trends_abs_diff": abs(fid["column_pair_trends_strong"] - peer["column_pair_trends"]),
        }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "evaluate.json").write_text(json.dumps(result, indent=2) + "\n")

    lines = [
        "# Evaluation speed on Adult",
        "",
        (f"{len(train):,} real, {len(syn):,} synthetic (cascade, seed 0), {len(test):,} holdout rows; target income, "
         f"sensitive sex and race; {os.cpu_count()} CPUs; best of {args.repeat}."),
        "",
        "| what | seconds |",
        "|---|---:|",
        f"| Synthera: full evaluation (fidelity, utility, privacy, fairness) | {min(runs):.2f} |",
        f"| Synthera: writing report.html | {html_s:.2f} |",
        f"| Synthera: column shapes + pair trends only | {quality_s:.3f} |",
    ]
    if peer:
        lines.append(f"| SDMetrics {peer['version']} QualityReport (shapes + pair trends only) | {peer['seconds']:.2f} |")
        lines += [
            "",
            "| score | Synthera | SDMetrics |",
            "|---|---:|---:|",
            f"| column shapes | {fid['column_shapes']:.6f} | {peer['column_shapes']:.6f} |",
            f"| column pair trends (QualityReport's pairs) | {fid['column_pair_trends_strong']:.6f} | {peer['column_pair_trends']:.6f} |",
            f"| column pair trends (all pairs) | {fid['column_pair_trends']:.6f} | – |",
        ]
    else:
        lines.append("| SDMetrics QualityReport | not installed |")
    lines += ["", "Per metric (s): " + ", ".join(f"{k} {v:.2f}" for k, v in report.results["timings_s"].items()), ""]
    (RESULTS / "evaluate.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
