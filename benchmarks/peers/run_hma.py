"""SDV's HMASynthesizer on a database, and sdmetrics' multi-table QualityReport as the judge.

Runs ONLY inside benchmarks/.venv-peers (SDV is BUSL-1.1 and must never be imported by the
synthera package). benchmarks/relational.py writes each database as a folder of Parquet
files (``<table>.parquet``) plus ``metadata.json`` (an sdmetrics/SDV multi-table metadata dict)
and calls this script, measured by measure.py:

* ``fit``: ``HMASynthesizer(metadata)`` with SDV's defaults, ``fit`` then ``sample_scale(1.0)``;
  writes the synthetic tables to ``--out`` and ``fit_s`` / ``sample_s`` to ``--timing``.
* ``score``: for each ``--synthetic`` folder, ``QualityReport`` with every pair counted
  (``real_correlation_threshold = 0``, ``real_association_threshold = 0``) against ``--real``;
  writes the four properties and the per-relationship Cardinality and Intertable Trends.

    benchmarks/.venv-peers/bin/python benchmarks/peers/run_hma.py fit --real DIR --out DIR --timing T.json
    benchmarks/.venv-peers/bin/python benchmarks/peers/run_hma.py score --real DIR --synthetic A=DIR B=DIR --json S.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import pandas as pd


def read_db(folder) -> tuple[dict[str, pd.DataFrame], dict]:
    """The tables of ``folder`` and its metadata dict."""
    folder = Path(folder)
    meta = json.loads((folder / "metadata.json").read_text())
    return {t: pd.read_parquet(folder / f"{t}.parquet") for t in meta["tables"]}, meta


def fit(args) -> int:
    import numpy as np
    import sdv
    from sdv.metadata import Metadata
    from sdv.multi_table import HMASynthesizer

    tables, meta = read_db(args.real)
    np.random.seed(args.seed)
    timing = {"sdv_version": sdv.__version__, "loadavg_start": [round(x, 2) for x in os.getloadavg()],
              "rows": {t: len(df) for t, df in tables.items()}}
    synth = HMASynthesizer(Metadata.load_from_dict(meta))
    t = time.perf_counter()
    synth.fit(tables)
    timing["fit_s"] = round(time.perf_counter() - t, 3)
    print(f"fit {timing['fit_s']} s", file=sys.stderr, flush=True)
    if hasattr(synth, "_set_random_state"):  # SDV otherwise reseeds with its fixed seed
        synth._set_random_state(args.seed)
    t = time.perf_counter()
    synthetic = synth.sample_scale(scale=1.0)
    timing["sample_s"] = round(time.perf_counter() - t, 3)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in synthetic.items():
        df.to_parquet(out / f"{name}.parquet", index=False)
    (out / "metadata.json").write_text(json.dumps(meta))
    timing["synthetic_rows"] = {t: len(df) for t, df in synthetic.items()}
    timing["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.timing).write_text(json.dumps(timing, indent=2) + "\n")
    return 0


def score(args) -> int:
    import sdmetrics
    from sdmetrics.reports import QualityReport

    real, meta = read_db(args.real)
    out = {"sdmetrics_version": sdmetrics.__version__, "thresholds": 0, "arms": {}}
    for item in args.synthetic:
        name, folder = item.split("=", 1)
        synthetic, _ = read_db(folder)
        report = QualityReport()
        report.real_correlation_threshold = 0
        report.real_association_threshold = 0
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report.generate(real, synthetic, meta, verbose=False)
        props = report.get_properties()
        entry = {"score": float(report.get_score()), "seconds": round(time.perf_counter() - t, 2)}
        entry.update({row["Property"].lower().replace(" ", "_"): float(row["Score"]) for _, row in props.iterrows()})
        for prop in ("Cardinality", "Intertable Trends"):
            details = report.get_details(prop)
            if prop == "Cardinality":
                entry["cardinality_per_fk"] = {f"{r['Child Table']}.{r['Foreign Key']}": float(r["Score"])
                                               for _, r in details.iterrows()}
            else:
                per = details.groupby(["Child Table", "Foreign Key"])["Score"].mean()
                entry["intertable_per_fk"] = {f"{c}.{fk}": float(v) for (c, fk), v in per.items()}
        out["arms"][name] = entry
        print(f"{name}: {entry['score']:.4f} ({entry['seconds']} s)", file=sys.stderr, flush=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit")
    f.add_argument("--real", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--timing", required=True)
    f.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score")
    s.add_argument("--real", required=True)
    s.add_argument("--synthetic", nargs="+", required=True, help="NAME=FOLDER ...")
    s.add_argument("--json", required=True)
    args = p.parse_args(argv)
    return fit(args) if args.cmd == "fit" else score(args)


if __name__ == "__main__":
    sys.exit(main())
