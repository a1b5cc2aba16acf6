"""Fit one Synthera synthesizer and sample from it, timing each step (a child of tabular.py).

Runs in the main venv. Writes the synthetic sample (CSV) and a timing JSON:
fit seconds, seconds to sample as many rows as the training table, and
seconds to sample 1,000,000 rows (from the model re-loaded from disk, as a
user would; best of three draws, each one listed).

Synthera imports torch and scikit-learn lazily, on first use inside ``fit``;
SDV imports both when ``sdv.single_table`` is imported, before its timer
starts. So both are imported here before the timer too: each side's fit time
is then the fit alone, not library loading.

    .venv/bin/python benchmarks/synth_run.py --model cascade --train TRAIN.parquet \
        --out SYN.csv --timing TIMING.json [--epochs E] [--seed 0] [--sample-1m]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import pandas as pd

from synthera.tabular import get_synthesizer, load_synthesizer

BEST_OF = 3  # 1M-row sampling is timed this many times; the fastest counts (as timeit does)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--timing", required=True)
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-1m", action="store_true")
    args = p.parse_args()

    import sklearn.mixture  # noqa: F401  (see the module docstring)
    import sklearn.tree  # noqa: F401
    import torch  # noqa: F401

    train = pd.read_parquet(args.train)
    cls = get_synthesizer(args.model)
    params = {"seed": args.seed}
    if args.epochs is not None and "epochs" in cls._param_names():
        params["epochs"] = args.epochs
    start = time.perf_counter()
    model = cls(**params).fit(train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    syn = model.sample(len(train), seed=args.seed)
    sample_s = time.perf_counter() - start
    syn.to_csv(args.out, index=False)
    timing = {"model": args.model, "params": model.get_params(), "fit_s": fit_s, "sample_s": sample_s,
              "rows": len(train)}
    if args.sample_1m:
        with tempfile.TemporaryDirectory() as tmp:
            model.save(tmp)
            loaded = load_synthesizer(tmp)
            draws = []
            for k in range(BEST_OF):
                start = time.perf_counter()
                loaded.sample(1_000_000, seed=args.seed + k)
                draws.append(time.perf_counter() - start)
            timing["sample_1m_s"] = min(draws)
            timing["sample_1m_draws_s"] = draws
    with open(args.timing, "w") as fh:
        json.dump(timing, fh, indent=2)


if __name__ == "__main__":
    main()
