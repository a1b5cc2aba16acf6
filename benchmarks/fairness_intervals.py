"""Do the disparity intervals of ``synthera evaluate`` / ``synthera bias`` cover the truth? A simulation.

A disparity such as the demographic-parity difference is the largest minus the smallest rate over the
groups; with small groups, some rates are 0 or 1 on a handful of rows. This draws many test sets from
populations whose group rates are known, and counts how often each method's 95% interval holds the true
difference (the spread of the population rates):

* ``plain``: the percentile bootstrap of the rows (multinomial resamples), as Synthera used before;
* ``synthera``: :func:`synthera.evaluate.fairness.bootstrap_disparity`, a Bayesian bootstrap of the rows
  with a Jeffreys prior on each group's rates.

Populations: two large groups; ten groups sized like Adult's race x sex test rows (9,000 down to 46);
and two large groups with two tiny ones of extreme rates (30 rows at 2%, 8 rows at 90%).

    .venv/bin/python benchmarks/fairness_intervals.py [--tests 200] [--boot 200]

Writes benchmarks/results/fairness_intervals.json and .md.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from synthera.evaluate.fairness import bootstrap_disparity

RESULTS = Path(__file__).resolve().parent / "results"
POPULATIONS = {  # name: (group sizes in a test set, selection rate of each group)
    "two large groups": ([5000, 3000], [0.30, 0.10]),
    "Adult-like race x sex": ([9000, 4400, 800, 750, 300, 170, 90, 90, 66, 46],
                              [0.26, 0.09, 0.17, 0.05, 0.30, 0.15, 0.12, 0.12, 0.05, 0.10]),
    "two tiny groups of extreme rates": ([3000, 1000, 30, 8], [0.30, 0.20, 0.02, 0.90]),
}


def plain_bootstrap(pred: np.ndarray, groups: np.ndarray, seed: int, n_boot: int) -> np.ndarray:
    """Demographic-parity differences over multinomial resamples of the rows (the percentile bootstrap)."""
    labels, inverse = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for b in range(n_boot):
        w = np.bincount(rng.integers(0, pred.size, pred.size), minlength=pred.size)
        rows = np.bincount(inverse, weights=w, minlength=labels.size)
        sel = np.bincount(inverse, weights=w * pred, minlength=labels.size)
        rates = sel[rows > 0] / rows[rows > 0]
        out[b] = rates.max() - rates.min()
    return out


def simulate(sizes: list[int], rates: list[float], tests: int, n_boot: int) -> dict:
    groups = np.repeat(np.arange(len(sizes)).astype(str), sizes)
    truth = max(rates) - min(rates)
    rng = np.random.default_rng(0)
    covered = {"plain": 0, "synthera": 0}
    widths = {"plain": [], "synthera": []}
    points = []
    for t in range(tests):
        pred = (rng.random(groups.size) < np.repeat(rates, sizes)).astype(np.float64)
        y = rng.integers(0, 2, groups.size)
        sel = np.array([pred[groups == g].mean() for g in np.unique(groups)])
        points.append(sel.max() - sel.min())
        draws = {"plain": plain_bootstrap(pred, groups, t, n_boot),
                 "synthera": bootstrap_disparity(y, {"m": pred}, groups, seed=t, n_boot=n_boot)["m"][
                     "demographic_parity_difference"]}
        for method, d in draws.items():
            lo, hi = np.quantile(d, [0.025, 0.975])
            covered[method] += bool(lo <= truth <= hi)
            widths[method].append(hi - lo)
    return {"sizes": sizes, "rates": rates, "truth": truth, "point_mean": float(np.mean(points)),
            **{f"coverage_{m}": covered[m] / tests for m in covered},
            **{f"width_{m}": float(np.mean(widths[m])) for m in widths}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tests", type=int, default=200, help="simulated test sets per population")
    p.add_argument("--boot", type=int, default=200, help="resamples per interval (evaluate uses 200)")
    args = p.parse_args()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    rows = {}
    for name, (sizes, rates) in POPULATIONS.items():
        rows[name] = simulate(sizes, rates, args.tests, args.boot)
        print(name, rows[name], flush=True)
    results = {"benchmark": "fairness_intervals", "started": started, "tests": args.tests, "boot": args.boot,
               "command": f".venv/bin/python benchmarks/fairness_intervals.py --tests {args.tests} --boot {args.boot}",
               "populations": rows}
    lines = ["# Disparity intervals: coverage of the true demographic-parity difference", "",
             f"Command: `{results['command']}`", "",
             "| population | groups (smallest) | true difference | mean point estimate | coverage, plain bootstrap "
             "| coverage, Synthera | mean width, plain | mean width, Synthera |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {len(r['sizes'])} ({min(r['sizes'])} rows) | {r['truth']:.3f} | "
                     f"{r['point_mean']:.3f} | {r['coverage_plain']:.2f} | {r['coverage_synthera']:.2f} | "
                     f"{r['width_plain']:.3f} | {r['width_synthera']:.3f} |")
    lines += ["", f"Nominal coverage 0.95; {args.tests} simulated test sets per population, {args.boot} resamples "
              "per interval. Plain: the percentile bootstrap of the rows. Synthera: a Bayesian bootstrap with a "
              "Jeffreys prior on each group's rate (synthera.evaluate.fairness.bootstrap_disparity). A rate "
              "measured as 0 or 1 on a few rows never moves in a plain bootstrap, so its interval misses the "
              "truth when such a group sets the difference."]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fairness_intervals.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "fairness_intervals.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
