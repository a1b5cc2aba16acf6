"""Relational benchmark: Synthera's RelationalSynthesizer beside SDV's HMA, a naive floor and a real ceiling.

Writes ``benchmarks/results/relational.{json,md}``. Three parts:

1. **The nycflights13 subset HMA finishes** (airlines, airports, planes, flights; 4 tables, depth 2,
   the largest shape SDV Community accepts). 10,000 flights are drawn (seed 0); flights with a
   missing or orphan foreign key are dropped (as ``sdv.utils.drop_unknown_references`` does);
   the rest are split at random in two halves, *train* and *holdout*, each with the parent rows
   it references (parents cut to those referenced, so HMA's sampling finishes). Every arm learns
   from *train* and is scored against it:

   * ``sdv_hma``: SDV's ``HMASynthesizer`` with its defaults, in benchmarks/.venv-peers, in its
     own process (benchmarks/peers/run_hma.py), killed at ``--cap`` seconds (15 minutes);
   * ``synthera``: :class:`synthera.relational.RelationalSynthesizer`, its own process;
   * ``naive``: every table synthesized alone by the same cascade, foreign keys drawn uniformly
     among the synthetic parents' keys (the floor);
   * ``holdout``: the other half of the real flights with its parents (the ceiling). The entities
     split are the flights: their parents are shared lookups, so a split of the lookups would
     give the two halves different carriers and airports.

   Each runs twice: with every table synthesized, and with airlines and airports declared public
   reference data (``"public": true`` in the schema: copied, not synthesized), which is what a
   user of this database would declare (planes stays synthesized: a tail number identifies an
   aircraft and its owner). HMA has no such option and runs once.

   Scores: the four sdmetrics 0.32 multi-table QualityReport properties with every pair counted
   (thresholds 0), computed by sdmetrics itself in the peers venv; Synthera's own metrics beside
   them (agreement check); referential integrity; k-hop trends; exact copies of real flights
   (keys excluded) against the holdout's rate. Fit and sample time and peak memory come from
   benchmarks/peers/measure.py for every arm alike.

2. **The whole nycflights13** (336,776 flights, weather with its composite key): fit + sample
   time and peak RSS (targets: under 2 minutes, under 4 GB).
3. **Chinook** (11 tables, depth 4, a self-reference, a link table): fit + sample, integrity.

4. **Histories** (optional, ``--sequences``): planes with all their flights (``--planes`` of them to
   train, as many others as the holdout ceiling), airlines and airports public. Two Synthera arms on
   the same data: flights as rows (the default) and flights declared a history per plane
   (``"sequence_index": "time_hour"``). Scores against the training flights: hours between a
   plane's consecutive flights and flights per plane (KS complements), the lag-1 correlation of
   ``dep_delay`` within a plane, referential integrity. Runs in this process; with every other part
   skipped, it is added to the existing results file.

    .venv/bin/python benchmarks/relational.py [--cap 900] [--workdir /tmp/relational_bench]
    .venv/bin/python benchmarks/relational.py --sequences --skip subset full chinook

The machine may be shared: the load average is recorded at each step; compare the arms of one
run, not runs with each other.
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

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_PY = HERE / ".venv-peers" / "bin" / "python"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "peers"))
from measure import measure  # noqa: E402

SUBSET = ("airlines", "airports", "planes", "flights")
PUBLIC = ("airlines", "airports", "planes")  # the lookups the subset keeps
#: public reference data; a tail number identifies an aircraft, so planes stays private
DECLARED_PUBLIC = ("airlines", "airports")
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
PROPS = ("column_shapes", "column_pair_trends", "cardinality", "intertable_trends")


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S} load {loadavg()[0]}] {msg}", flush=True)


# ------------------------------------------------------------------------------------ data


def subset(n_flights: int = 10_000, seed: int = 0):
    """(train, holdout, schema): two halves of the flights, each with the parents it references."""
    from relational_data import nycflights13

    tables, schema = nycflights13(flights=n_flights, seed=seed)
    schema = schema.subset(SUBSET)
    flights = tables["flights"]
    ok = np.ones(len(flights), dtype=bool)
    for fk in schema.parents_of("flights"):
        col, pcol = fk.columns[0], fk.parent_columns[0]
        ok &= flights[col].notna().to_numpy() & flights[col].isin(tables[fk.parent][pcol]).to_numpy()
    flights = flights[ok].reset_index(drop=True)
    half = np.random.default_rng(seed).permutation(len(flights)) < len(flights) // 2 + len(flights) % 2
    out = []
    for part in (flights[half], flights[~half]):
        db = {"flights": part.reset_index(drop=True)}
        for parent in PUBLIC:
            cols = [fk.columns[0] for fk in schema.parents_of("flights") if fk.parent == parent]
            pcol = schema.tables[parent].primary_key[0]
            used = pd.unique(pd.concat([part[c] for c in cols]))
            db[parent] = tables[parent][tables[parent][pcol].isin(used)].reset_index(drop=True)
        out.append({t: db[t] for t in SUBSET})
    for fk in schema.foreign_keys:
        fk.nullable = False
    return out[0], out[1], schema


def with_public(schema, public: bool):
    """A copy of ``schema`` with the lookup tables declared public (or not)."""
    from synthera.relational import Schema

    spec = schema.to_dict()
    for t in DECLARED_PUBLIC:
        spec["tables"][t]["public"] = public
    return Schema.from_dict(spec)


def sd_metadata(tables, schema) -> dict:
    from synthera.relational.metrics import sdmetrics_metadata

    meta = sdmetrics_metadata(tables, schema)
    for cols in meta["tables"].values():
        for spec in cols["columns"].values():
            if spec["sdtype"] == "datetime":
                spec["datetime_format"] = DATETIME_FORMAT
    return meta


def write_db(folder: Path, tables, meta: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    if meta is not None:
        (folder / "metadata.json").write_text(json.dumps(meta))
    return folder


def read_db(folder: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_parquet(folder / f"{t}.parquet") for t in SUBSET}


# ------------------------------------------------------------------------------------ arms (child processes)


def naive_sample(tables, schema, seed: int) -> dict[str, pd.DataFrame]:
    """Each table alone by the cascade; primary keys fresh; foreign keys uniform among synthetic parents."""
    from synthera.relational._cascade import fit_cascade
    from synthera.relational._keys import fresh_keys, key_style

    rng = np.random.default_rng(seed)
    out = {}
    for t in schema.order():
        df = tables[t]
        pk = schema.tables[t].primary_key
        if getattr(schema.tables[t], "public", False):
            out[t] = df.copy()
            continue
        keys = set(pk) | {c for fk in schema.parents_of(t) for c in fk.columns}
        rest = df.drop(columns=sorted(keys))
        model = fit_cascade(rest, first=[], hints=None, params={"seed": seed})
        syn = model.sample(len(df), seed=seed)
        for c in pk:
            syn[c] = fresh_keys(key_style(df[c], t), len(df)).to_numpy()
        for fk in schema.parents_of(t):
            parent_keys = out[fk.parent][fk.parent_columns[0]].to_numpy()
            syn[fk.columns[0]] = parent_keys[rng.integers(0, len(parent_keys), len(df))]
        out[t] = syn[list(df.columns)]
    return out


def run_arm(arm: str, workdir: Path, public: bool, seed: int) -> int:
    """Child process: fit ``arm`` on workdir/train and write its synthetic database."""
    from synthera.relational import RelationalSynthesizer, Schema

    schema = Schema.load(workdir / "schema.json")
    schema = with_public(schema, public)
    tables = read_db(workdir / "train")
    timing = {"loadavg_start": loadavg()}
    t = time.perf_counter()
    if arm == "synthera":
        model = RelationalSynthesizer(seed=seed).fit(tables, schema=schema)
        timing["fit_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        synthetic = model.sample(scale=1.0, seed=seed)
        timing["sample_s"] = round(time.perf_counter() - t, 3)
    else:
        synthetic = naive_sample(tables, schema, seed)
        timing["fit_s"] = round(time.perf_counter() - t, 3)
        timing["sample_s"] = 0.0
    name = f"{arm}_public" if public else arm
    write_db(workdir / name, synthetic, json.loads((workdir / "train" / "metadata.json").read_text()))
    (workdir / f"{name}.timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    return 0


def _fit_and_sample(tables, schema, seed: int) -> tuple[dict, dict]:
    """The synthetic database and the common part of a child's result: times, rows, integrity."""
    from synthera.relational import RelationalSynthesizer
    from synthera.relational.metrics import referential_integrity

    t0 = time.perf_counter()
    model = RelationalSynthesizer(seed=seed).fit(tables, schema=schema)
    t1 = time.perf_counter()
    synthetic = model.sample(seed=seed)
    t2 = time.perf_counter()
    return synthetic, {"fit_s": round(t1 - t0, 2), "sample_s": round(t2 - t1, 2),
                       "rows": {t: len(df) for t, df in tables.items()},
                       "synthetic_rows": {t: len(df) for t, df in synthetic.items()},
                       "referential_integrity": referential_integrity(tables, synthetic, schema)}


def run_full(seed: int) -> int:
    """Child process: the whole nycflights13, fit + sample, integrity."""
    from relational_data import nycflights13

    from synthera.relational.metrics import cardinality

    tables, schema = nycflights13()
    synthetic, out = _fit_and_sample(tables, schema, seed)
    out["cardinality"] = cardinality(tables, synthetic, schema)
    print("RESULT " + json.dumps(out, default=float), flush=True)
    return 0


def run_chinook(seed: int) -> int:
    """Child process: Chinook fit + sample, integrity and the quality summary."""
    from relational_data import chinook

    from synthera.relational.metrics import khop_trends, quality_score

    tables, schema = chinook()
    synthetic, out = _fit_and_sample(tables, schema, seed)
    out["tables"] = len(tables)
    out["quality"] = quality_score(tables, synthetic, schema, seed=seed)
    out["khop_trends"] = {k: v for k, v in khop_trends(tables, synthetic, schema, seed=seed).items() if k != "paths"}
    print("RESULT " + json.dumps(out, default=float), flush=True)
    return 0


def part_sequences(n_planes: int, seed: int) -> dict:
    """Flights as rows against flights as histories per plane (see the module docstring, part 4)."""
    from relational_data import nycflights13
    from scipy.stats import ks_2samp

    from synthera.relational import RelationalSynthesizer

    tables, schema = nycflights13()
    flights = tables["flights"][tables["flights"]["tailnum"].isin(tables["planes"]["tailnum"])]
    names = np.random.default_rng(seed).permutation(pd.unique(flights["tailnum"]))[: 2 * n_planes]

    def part(chosen) -> dict:
        f = flights[flights["tailnum"].isin(chosen)]
        f = f.iloc[np.lexsort((pd.to_datetime(f["time_hour"], utc=True).to_numpy(), f["tailnum"].to_numpy()))]
        return {"airlines": tables["airlines"], "airports": tables["airports"],
                "planes": tables["planes"][tables["planes"]["tailnum"].isin(chosen)].reset_index(drop=True),
                "flights": f.reset_index(drop=True)}

    train, holdout = part(names[:n_planes]), part(names[n_planes:])
    spec = schema.subset(SUBSET).to_dict()
    for t in DECLARED_PUBLIC:
        spec["tables"][t]["public"] = True

    def scores(f: pd.DataFrame, planes: pd.DataFrame) -> dict:
        f = f.assign(_t=pd.to_datetime(f["time_hour"], utc=True, format="mixed"))
        f = f.sort_values(["tailnum", "_t"], kind="stable")
        real = train["flights"].assign(_t=pd.to_datetime(train["flights"]["time_hour"], utc=True))

        def gaps(x):
            return (x.groupby("tailnum", sort=False)["_t"].diff().dt.total_seconds() / 3600).dropna()

        def lag1(x):
            prev = x.groupby("tailnum", sort=False)["dep_delay"].shift(1)
            ok = prev.notna() & x["dep_delay"].notna()
            return float(np.corrcoef(prev[ok], x["dep_delay"][ok])[0, 1])

        return {"gap_similarity": 1 - float(ks_2samp(gaps(real), gaps(f)).statistic),
                "length_similarity": 1 - float(ks_2samp(real["tailnum"].value_counts(),
                                                        f["tailnum"].value_counts()).statistic),
                "lag1_dep_delay": lag1(f), "lag1_dep_delay_real": lag1(real),
                "integrity": float(f["tailnum"].isin(planes["tailnum"]).mean()), "flights": len(f)}

    out = {"planes": n_planes, "rows": {t: len(df) for t, df in train.items()},
           "arms": {"holdout": scores(holdout["flights"], holdout["planes"])}}
    for arm, index in (("synthera_rows", None), ("synthera_histories", "time_hour")):
        s = json.loads(json.dumps(spec))
        if index:
            s["tables"]["flights"]["sequence_index"] = index
        t0 = time.perf_counter()
        model = RelationalSynthesizer(seed=seed).fit(train, schema=s)
        t1 = time.perf_counter()
        synthetic = model.sample(seed=seed)
        t2 = time.perf_counter()
        out["arms"][arm] = scores(synthetic["flights"], synthetic["planes"]) | {
            "fit_s": round(t1 - t0, 2), "sample_s": round(t2 - t1, 2)}
        log(f"sequences: {arm} {out['arms'][arm]}")
    return out


def sequences_markdown(seq: dict) -> list[str]:
    lines = ["", "## Histories: flights per plane, as rows or as sequences (`--sequences`)", "",
             f"{seq['planes']} planes with all their flights ({seq['rows']['flights']:,} flights) to train, as many "
             "other planes as the holdout; airlines and airports public. Similarities are KS complements against "
             "the training flights; fit and sample seconds in this process.", "",
             "| arm | gap similarity (hours) | flights-per-plane similarity | lag-1 dep_delay (real "
             f"{fmt(seq['arms']['holdout']['lag1_dep_delay_real'])}) | integrity | fit s | sample s |",
             "|---|---|---|---|---|---|---|"]
    for arm, e in seq["arms"].items():
        lines.append(f"| {arm} | {fmt(e['gap_similarity'])} | {fmt(e['length_similarity'])} | "
                     f"{fmt(e['lag1_dep_delay'])} | {fmt(e['integrity'])} | {fmt(e.get('fit_s'), 1)} | "
                     f"{fmt(e.get('sample_s'), 1)} |")
    return lines


# ------------------------------------------------------------------------------------ driver


def measured(name: str, cmd: list, workdir: Path, timeout: float | None) -> dict:
    log(f"{name} ...")
    start = loadavg()
    with open(workdir / f"{name}.log", "w") as fh:
        m = measure(cmd, cwd=ROOT, stdout=fh, stderr=fh, timeout=timeout)
    m["loadavg_start"], m["loadavg_end"] = start, loadavg()
    log(f"{name}: rc {m['returncode']}, {m['wall_s']} s, {m['peak_rss_mib']} MiB")
    if m["returncode"] != 0:  # the results say why an arm has no numbers (a missing package, an error)
        lines = (workdir / f"{name}.log").read_text(errors="replace").strip().splitlines()
        m["log_tail"] = lines[-1][:300] if lines else ""
    return m


def result_line(workdir: Path, name: str) -> dict | None:
    for line in (workdir / f"{name}.log").read_text().splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return None


def exact_copies(real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str]) -> float:
    """Share of synthetic rows equal to some real row on ``columns``."""
    if not len(synthetic):
        return 0.0
    r = pd.util.hash_pandas_object(real[columns].astype(str), index=False)
    s = pd.util.hash_pandas_object(synthetic[columns].astype(str), index=False)
    return float(s.isin(set(r)).mean())


def our_scores(train, synthetic, schema, seed: int) -> dict:
    from synthera.relational.metrics import khop_trends, quality_score, referential_integrity

    kinds_keys = {c for fk in schema.parents_of("flights") for c in fk.columns}
    cols = [c for c in train["flights"].columns if c not in kinds_keys]
    kh = khop_trends(train, synthetic, schema, seed=seed)
    return {"quality": quality_score(train, synthetic, schema, seed=seed),
            "intertable_pairs": intertable_pairs(train, synthetic, schema, seed),
            "referential_integrity": referential_integrity(train, synthetic, schema)["score"],
            "khop_trends": kh.get("score"),
            "exact_copies_flights": exact_copies(train["flights"], synthetic["flights"], cols)}


def identifier_columns(tables, schema) -> list[str]:
    """Parent columns (``table.column``) whose every value is rare (held by < 5 rows), e.g. an airline's name.

    A synthesizer that copies no rare value cannot reproduce such a column, so its inter-table
    pairs score 0 for every arm that synthesizes the table (the holdout shares the real values).
    """
    from synthera.relational.metrics import column_kinds

    kinds = column_kinds(tables, schema)
    out = []
    for t in {fk.parent for fk in schema.foreign_keys}:
        for c, k in kinds[t].items():
            if k == "categorical" and len(tables[t]) and (tables[t][c].value_counts() < 5).all():
                out.append(f"{t}.{c}")
    return sorted(out)


def intertable_pairs(real, synthetic, schema, seed: int) -> dict[str, float]:
    """Synthera's inter-table trend score per (parent column, child column) pair: ``fk:parent.col|child.col``."""
    from synthera.relational import metrics as m

    kinds = m.column_kinds(real, schema)
    usable = m._CONTINUOUS + m._DISCRETE
    out = {}
    for fk in schema.foreign_keys:
        if fk.parent == fk.child:
            continue
        rj, sj = m._join(real, fk), m._join(synthetic, fk)
        for a in (c for c in kinds[fk.parent] if kinds[fk.parent][c] in usable):
            for b in (c for c in kinds[fk.child] if kinds[fk.child][c] in usable):
                v = m._pair(rj, sj, f"{fk.parent}.{a}", f"{fk.child}.{b}", kinds[fk.parent][a], kinds[fk.child][b],
                            seed)
                if not np.isnan(v):
                    out[f"{fk.name}:{fk.parent}.{a}|{fk.child}.{b}"] = v
    return out


def pair_split(table: dict, identifiers: list[str]) -> dict:
    """Inter-table trends (Synthera's metric) on pairs with and without an identifier parent column, per arm."""
    out = {}
    for arm, e in table.items():
        pairs = (e.get("synthera_metrics") or {}).get("intertable_pairs") or {}
        ident = [v for k, v in pairs.items() if k.split(":", 1)[1].split("|")[0] in identifiers]
        rest = [v for k, v in pairs.items() if k.split(":", 1)[1].split("|")[0] not in identifiers]
        if pairs:
            out[arm] = {"pairs": len(pairs), "identifier_pairs": len(ident),
                        "identifier_mean": float(np.mean(ident)) if ident else None,
                        "other_mean": float(np.mean(rest)) if rest else None}
    return out


def gap_closed(value, floor, ceiling) -> float | None:
    if value is None or floor is None or ceiling is None or ceiling == floor:
        return None
    return (value - floor) / (ceiling - floor)


def part_subset(args, workdir: Path) -> dict:
    """Part 1: every arm on the subset, scored by sdmetrics (peers venv) and by Synthera's metrics."""
    train, holdout, schema = subset(seed=args.seed)
    meta = sd_metadata(train, schema)
    write_db(workdir / "train", train, meta)
    write_db(workdir / "holdout", holdout, meta)
    schema.save(workdir / "schema.json")
    rows = {"train": {t: len(df) for t, df in train.items()}, "holdout": {t: len(df) for t, df in holdout.items()}}
    log(f"subset: {rows}")
    me = [sys.executable, str(Path(__file__).resolve())]
    runs = {}
    for public in (False, True):
        for arm in ("synthera", "naive"):
            name = f"{arm}_public" if public else arm
            cmd = [*me, "--arm", arm, "--workdir", str(workdir), "--seed", str(args.seed)]
            runs[name] = measured(name, [*cmd, "--public"] if public else cmd, workdir, args.cap)
    runs["sdv_hma"] = measured("sdv_hma", [str(PEER_PY), str(HERE / "peers" / "run_hma.py"), "fit",
                                           "--real", str(workdir / "train"), "--out", str(workdir / "sdv_hma"),
                                           "--timing", str(workdir / "sdv_hma.timing.json"),
                                           "--seed", str(args.seed)], workdir, args.cap)
    for name, m in runs.items():
        timing = workdir / f"{name}.timing.json"
        m["finished"] = m["returncode"] == 0 and timing.exists()
        if m["finished"]:
            m.update({k: v for k, v in json.loads(timing.read_text()).items() if k in ("fit_s", "sample_s")})
    arms = [n for n, m in runs.items() if m["finished"]] + ["holdout"]
    sd = measured("sdmetrics", [str(PEER_PY), str(HERE / "peers" / "run_hma.py"), "score", "--real",
                                str(workdir / "train"), "--synthetic", *[f"{a}={workdir / a}" for a in arms],
                                "--json", str(workdir / "sdmetrics.json")], workdir, None)
    judged = json.loads((workdir / "sdmetrics.json").read_text())["arms"] if sd["returncode"] == 0 else {}
    table = {}
    for arm in [*runs, "holdout"]:
        entry = {"run": runs.get(arm), "sdmetrics": judged.get(arm)}
        if arm in arms:
            entry["synthera_metrics"] = our_scores(train, read_db(workdir / arm), schema, args.seed)
        table[arm] = entry
    return {"rows": rows, "arms": table, "identifier_columns": identifier_columns(train, schema),
            "targets": targets(table, identifier_columns(train, schema)), "sdmetrics_run": sd}


def targets(table: dict, identifiers: list[str] | None = None) -> dict:
    """The issue's targets on the subset, for both settings (and the identifier-pair split, see pair_split)."""
    def prop(arm, p):
        sd = (table.get(arm) or {}).get("sdmetrics") or {}
        return sd.get(p)

    def seconds(arm):  # fit + sample, timed inside the process (imports and file writing left out)
        run = (table.get(arm) or {}).get("run") or {}
        return (run.get("fit_s") or 0) + (run.get("sample_s") or 0) if run.get("finished") else None

    out = {}
    hma = seconds("sdv_hma")
    hma_run = (table.get("sdv_hma") or {}).get("run") or {}
    for ours, naive in (("synthera", "naive"), ("synthera_public", "naive_public")):
        t = {"speed_ratio_vs_hma": (hma / seconds(ours)) if hma and seconds(ours) else None,
             "hma_hit_cap": bool(hma_run.get("timed_out"))}
        t["speed_ok"] = t["speed_ratio_vs_hma"] is not None and t["speed_ratio_vs_hma"] >= 20
        for p in PROPS:
            t[f"{p}_above_hma"] = (prop(ours, p) is not None and prop("sdv_hma", p) is not None
                                   and prop(ours, p) > prop("sdv_hma", p))
        for p in ("cardinality", "intertable_trends"):
            g = gap_closed(prop(ours, p), prop(naive, p), prop("holdout", p))
            t[f"{p}_gap_closed"] = g
            t[f"{p}_gap_ok"] = g is not None and g >= 0.8
        split = pair_split(table, identifiers or [])
        if all(a in split for a in (ours, naive, "holdout")):
            floor, ceiling = split[naive], split["holdout"]
            n = split["holdout"]["pairs"]
            share = ((ceiling["identifier_mean"] or 0) - (floor["identifier_mean"] or 0)) * ceiling["identifier_pairs"]
            whole = ((ceiling["identifier_mean"] or 0) * ceiling["identifier_pairs"]
                     + ceiling["other_mean"] * (n - ceiling["identifier_pairs"])) / n
            total = (whole - (floor["identifier_mean"] or 0) * floor["identifier_pairs"] / n
                     - floor["other_mean"] * (n - floor["identifier_pairs"]) / n) * n
            t["identifier_pairs"] = f"{ceiling['identifier_pairs']} of {n}"
            t["identifier_share_of_gap"] = share / total if total else None
            reach = ceiling["other_mean"] * (n - ceiling["identifier_pairs"]) / n
            t["intertable_reachable_without_copying"] = reach
            t["intertable_other_pairs"] = split[ours]["other_mean"]
            t["intertable_other_pairs_gap_closed"] = gap_closed(split[ours]["other_mean"], floor["other_mean"],
                                                                ceiling["other_mean"])
        t["cardinality_ok"] = (prop(ours, "cardinality") or 0) >= 0.95
        mine = ((table.get(ours) or {}).get("synthera_metrics") or {}).get("exact_copies_flights")
        ref = ((table.get("holdout") or {}).get("synthera_metrics") or {}).get("exact_copies_flights")
        t["exact_copies_ok"] = mine is not None and ref is not None and mine <= ref
        out[ours] = t
    return out


def fmt(x, digits=3) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def markdown(result: dict) -> str:
    sub = result["subset"]
    lines = ["# Relational benchmark", "",
             f"Run {result['started_utc']} on {result['machine']}; load average at start {result['loadavg_start']}, "
             f"at end {result['loadavg_end']} (shared machine: compare arms of this run only).", "",
             "## nycflights13 subset HMA finishes (airlines, airports, planes, flights)", "",
             "Rows: train " + ", ".join(f"{t} {n:,}" for t, n in sub["rows"]["train"].items()) + "; holdout "
             + ", ".join(f"{t} {n:,}" for t, n in sub["rows"]["holdout"].items()) + ".",
             "", "Scores: sdmetrics QualityReport, all pairs (thresholds 0), computed by sdmetrics itself. "
             "'public' rows declare airlines and airports public reference data (copied, not synthesized): "
             "those tables then score 1 on their own columns by construction.", "",
             "Times: fit and sample inside the process; wall s is the whole process (imports, reading, writing) "
             "measured by benchmarks/peers/measure.py; peak MiB its peak RSS.", "",
             "| arm | fit s | sample s | wall s | peak MiB | shapes | pair trends | cardinality | intertable | "
             "overall | integrity | exact copies (flights) |", "|" + "---|" * 12]
    for arm, e in sub["arms"].items():
        run, sd, ours = e["run"] or {}, e["sdmetrics"] or {}, e.get("synthera_metrics") or {}
        wall = run.get("wall_s")
        if run.get("timed_out"):
            wall = f"cap {wall:.0f} (did not finish)"
        lines.append(f"| {arm} | {fmt(run.get('fit_s'), 1)} | {fmt(run.get('sample_s'), 1)} | {fmt(wall, 1)} | "
                     f"{fmt(run.get('peak_tree_rss_mib'), 0)} | " + " | ".join(fmt(sd.get(p)) for p in PROPS)
                     + f" | {fmt(sd.get('score'))} | {fmt(ours.get('referential_integrity'))} | "
                     f"{fmt(ours.get('exact_copies_flights'), 4)} |")
    lines += ["", "Synthera's own metrics on the same data (agreement check with sdmetrics):", "",
              "| arm | shapes | pair trends | cardinality | intertable |", "|---|---|---|---|---|"]
    for arm, e in sub["arms"].items():
        q = (e.get("synthera_metrics") or {}).get("quality") or {}
        if q:
            lines.append(f"| {arm} | " + " | ".join(fmt(q.get(p), 4) for p in PROPS) + " |")
    lines += ["", "K-hop trends: the subset has depth 2 (no path of 2 hops); see Chinook below.", "", "### Targets", ""]
    for ours, t in sub["targets"].items():
        lines.append(f"- **{ours}**: " + ", ".join(f"{k} {fmt(v)}" for k, v in t.items()))
    ident = sub.get("identifier_columns") or []
    if ident:
        lines += ["", f"Identifier parent columns (every value held by fewer than 5 rows): {', '.join(ident)}. "
                  "A synthesizer that copies no rare value cannot reproduce them, so every inter-table pair with "
                  "one of them scores 0 when the table is synthesized (the holdout shares the real names). "
                  "`identifier_share_of_gap` is their share of the naive-to-holdout gap; "
                  "`intertable_reachable_without_copying` the all-pairs ceiling with them at 0; "
                  "`intertable_other_pairs(_gap_closed)` the score (and gap closed) on the other pairs "
                  "(Synthera's metric, which matches sdmetrics)."]
    full, ch = result.get("full") or {}, result.get("chinook") or {}
    fr = full.get("result") or {}
    frun = full.get("run") or {}
    cpu = (frun.get("user_s") or 0) + (frun.get("sys_s") or 0)
    lines += ["", "## Whole nycflights13 (336,776 flights, 5 tables, composite weather key)", "",
              f"fit {fmt(fr.get('fit_s'), 1)} s + sample {fmt(fr.get('sample_s'), 1)} s (wall); the process "
              f"{fmt(frun.get('wall_s'), 1)} s wall and {cpu:.1f} s of CPU (load average "
              f"{(frun.get('loadavg_start') or ['-'])[0]} on 2 cores), peak RSS "
              f"{fmt(frun.get('peak_tree_rss_mib'), 0)} MiB (targets: < 120 s, < 4096 MiB); "
              f"referential integrity {fmt((fr.get('referential_integrity') or {}).get('score'), 4)}; "
              f"cardinality {fmt((fr.get('cardinality') or {}).get('score'))}.", "",
              "## Chinook (11 tables, depth 4, self-reference, link table)", ""]
    cr = ch.get("result") or {}
    if not cr:
        crun = ch.get("run") or {}
        lines.append(f"Did not run (exit code {crun.get('returncode', '-')}): {crun.get('log_tail') or 'no log'}.")
    else:
        lines.append(f"fit {fmt(cr.get('fit_s'), 1)} s + sample {fmt(cr.get('sample_s'), 1)} s; referential "
                     f"integrity {fmt((cr.get('referential_integrity') or {}).get('score'), 4)}; quality "
                     + ", ".join(f"{p} {fmt((cr.get('quality') or {}).get(p))}" for p in PROPS)
                     + f"; k-hop {fmt((cr.get('khop_trends') or {}).get('score'))}.")
    if result.get("sequences"):
        lines += sequences_markdown(result["sequences"])
        lines += ["", "Command (this section): `.venv/bin/python benchmarks/relational.py` "
                  + " ".join(result["sequences"].get("argv", [])), ""]
    lines += ["", "Command: `.venv/bin/python benchmarks/relational.py` " + " ".join(result["argv"]), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cap", type=float, default=900, help="seconds before an arm is killed (default 15 minutes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/relational_bench"))
    p.add_argument("--out", type=Path, default=HERE / "results" / "relational")
    p.add_argument("--arm", choices=("synthera", "naive", "full", "chinook"), help=argparse.SUPPRESS)
    p.add_argument("--public", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--skip", nargs="*", default=[], choices=("subset", "full", "chinook"))
    p.add_argument("--rewrite", action="store_true", help="recompute targets and the .md from the .json only")
    p.add_argument("--sequences", action="store_true", help="also run the histories part (flights per plane)")
    p.add_argument("--planes", type=int, default=200, help="planes to train on in the histories part")
    args = p.parse_args(argv)
    if args.rewrite:
        result = json.loads(Path(f"{args.out}.json").read_text())
        result["subset"]["targets"] = targets(result["subset"]["arms"], result["subset"].get("identifier_columns"))
        Path(f"{args.out}.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
        Path(f"{args.out}.md").write_text(markdown(result))
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.arm in ("synthera", "naive"):
        return run_arm(args.arm, args.workdir, args.public, args.seed)
    if args.arm == "full":
        return run_full(args.seed)
    if args.arm == "chinook":
        return run_chinook(args.seed)
    args.workdir.mkdir(parents=True, exist_ok=True)
    result = {"started_utc": datetime.now(UTC).isoformat(timespec="seconds"), "loadavg_start": loadavg(),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "argv": sys.argv[1:] if argv is None else list(argv), "cap_s": args.cap}
    me = [sys.executable, str(Path(__file__).resolve()), "--seed", str(args.seed)]
    if args.sequences and set(args.skip) == {"subset", "full", "chinook"} and Path(f"{args.out}.json").is_file():
        previous = json.loads(Path(f"{args.out}.json").read_text())  # add this part to the last full run
        result = previous | {"sequences": part_sequences(args.planes, args.seed) | {"argv": result["argv"]}}
        Path(f"{args.out}.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
        Path(f"{args.out}.md").write_text(markdown(result))
        log(f"added the histories part to {args.out}.json")
        return 0
    if args.sequences:
        result["sequences"] = part_sequences(args.planes, args.seed) | {"argv": result["argv"]}
    if "subset" not in args.skip:
        result["subset"] = part_subset(args, args.workdir)
    for part in ("full", "chinook"):
        if part not in args.skip:
            run = measured(part, [*me, "--arm", part], args.workdir, args.cap)
            result[part] = {"run": run, "result": result_line(args.workdir, part)}
    result["loadavg_end"] = loadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    if "subset" in result:
        Path(f"{args.out}.md").write_text(markdown(result))
    log(f"wrote {args.out}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
