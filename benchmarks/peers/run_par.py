"""SDV's PARSynthesizer on one long table of histories (runs ONLY inside benchmarks/.venv-peers).

benchmarks/sequences.py writes the training histories as Parquet and calls this script,
measured by measure.py (which kills it at the benchmark's time cap). It fits PAR with the
given epochs, samples ``--n-sequences`` histories, and writes them to ``--out`` (Parquet)
and ``fit_s`` / ``sample_s`` to ``--timing``.

``--fit-deadline S`` stops training after the epoch that is running when S seconds of fitting
have passed (the benchmark's cap less time to sample), so a run that cannot finish its epochs
within the cap still samples from what it reached; ``epochs_done`` says how far it got.

    benchmarks/.venv-peers/bin/python benchmarks/peers/run_par.py --train T.parquet --key id --index day \
        --context futime sex --epochs 32 --n-sequences 156 --out S.parquet --timing T.json
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


def metadata(df: pd.DataFrame, key: str, index: str) -> dict:
    cols = {}
    for name in df.columns:
        s = df[name]
        if name == key:
            cols[name] = {"sdtype": "id"}
        elif pd.api.types.is_datetime64_any_dtype(s):
            cols[name] = {"sdtype": "datetime", "datetime_format": "%Y-%m-%d %H:%M:%S"}
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            cols[name] = {"sdtype": "numerical"}
        else:
            cols[name] = {"sdtype": "categorical"}
    return {"tables": {"events": {"columns": cols, "sequence_key": key, "sequence_index": index}},
            "METADATA_SPEC_VERSION": "V1"}


def stop_at(deadline_s: float | None, done: list[int]) -> None:
    """Make deepecho's PAR epoch loop (``for epoch in tqdm(range(epochs))``) end once ``deadline_s`` has passed."""
    import deepecho.models.par as par

    start = time.perf_counter()

    def epochs(iterable, **_):
        for epoch in iterable:
            if deadline_s is not None and time.perf_counter() - start > deadline_s:
                return
            done.append(epoch)
            yield epoch

    par.tqdm = epochs


def main() -> int:
    import numpy as np
    import sdv
    from sdv.metadata import Metadata
    from sdv.sequential import PARSynthesizer

    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--context", nargs="*", default=[])
    ap.add_argument("--epochs", type=int, default=128)
    ap.add_argument("--n-sequences", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--timing", required=True)
    ap.add_argument("--fit-deadline", type=float, default=None)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    df = pd.read_parquet(args.train)
    np.random.seed(args.seed)
    import torch

    torch.manual_seed(args.seed)
    timing = {"sdv_version": sdv.__version__, "epochs": args.epochs, "rows": len(df),
              "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    synth = PARSynthesizer(Metadata.load_from_dict(metadata(df, args.key, args.index)),
                           context_columns=args.context, epochs=args.epochs, verbose=False)
    done: list[int] = []
    stop_at(args.fit_deadline, done)
    t = time.perf_counter()
    synth.fit({"events": df})  # sdv 2.0 takes {table name: DataFrame}
    timing["fit_s"] = round(time.perf_counter() - t, 3)
    timing["fit_cpu_s"] = round(time.process_time(), 3)
    timing["epochs_done"] = len(done)
    print(f"fit {timing['fit_s']} s", file=sys.stderr, flush=True)
    t = time.perf_counter()
    out = synth.sample_sequences(num_sequences=args.n_sequences)
    if isinstance(out, dict):  # sdv 2.0: {table name: DataFrame}
        out = next(iter(out.values()))
    timing["sample_s"] = round(time.perf_counter() - t, 3)
    timing["sampled_events"] = len(out)
    timing["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out.to_parquet(args.out)
    Path(args.timing).write_text(json.dumps(timing, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
