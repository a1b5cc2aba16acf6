"""Fit one SDV 2.0 single-table synthesizer and sample from it, timing each step.

Runs ONLY inside benchmarks/.venv-peers (SDV is BUSL-1.1 and must never be imported by
the synthera package). Measures, in this process:

* ``detect_s``: ``Metadata.detect_from_dataframes`` on the training table;
* ``fit_s``: ``synthesizer.fit`` (SDV's preprocessing plus model training);
* ``sample_s``: ``synthesizer.sample(--rows)``, without writing the file;
* ``sample_1m_s``: ``synthesizer.sample(1_000_000)`` when ``--sample-1m`` is given
  (the rows are discarded); best of three draws, all listed in ``sample_1m_draws_s``.

Peak memory belongs to the caller: run this script under benchmarks/peers/measure.py.
To measure the fit and the 1M-row sampling separately, fit with ``--save-model`` and
``--rows N``, then sample in a second process with ``--load-model --rows 0 --sample-1m``.

Seeds: ``random``, ``numpy`` and ``torch`` are seeded with ``--seed`` before the fit.
SDV itself ignores those global seeds when it samples. On the first ``sample`` after a
fit it reseeds the model with the fixed ``FIXED_RNG_SEED`` (73251). So this script also
calls the synthesizer's ``_set_random_state(--seed)`` after fitting or loading (a private
SDV method; it is skipped if missing), and ``--seed`` then decides the samples.

    benchmarks/.venv-peers/bin/python benchmarks/peers/run_sdv.py --model gaussian_copula \
        --train /tmp/peer_runs/adult_train.parquet --rows 32561 \
        --out /tmp/peer_runs/gaussian_copula.csv --timing /tmp/peer_runs/gaussian_copula.timing.json \
        [--epochs 30] [--seed 0] [--sample-1m] [--save-model M.pkl | --load-model M.pkl]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

MODELS = {"gaussian_copula": "GaussianCopulaSynthesizer", "ctgan": "CTGANSynthesizer", "tvae": "TVAESynthesizer"}
NEURAL = {"ctgan", "tvae"}


def read_frame(path) -> pd.DataFrame:
    """Read a CSV or Parquet file (chosen by the extension)."""
    path = Path(path)
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def write_frame(df: pd.DataFrame, path) -> None:
    """Write a CSV or Parquet file (chosen by the extension), without the index."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build(model: str, metadata, epochs: int | None):
    """Return an unfitted SDV synthesizer with SDV's defaults, except ``epochs`` if given.

    Parameters
    ----------
    model : {"gaussian_copula", "ctgan", "tvae"}
    metadata : sdv.metadata.Metadata
    epochs : int or None
        Training epochs for CTGAN and TVAE; None keeps SDV's default (300).
        Ignored for GaussianCopula.
    """
    import sdv.single_table

    cls = getattr(sdv.single_table, MODELS[model])
    kwargs = {}
    if model in NEURAL:
        kwargs["verbose"] = True  # per-epoch losses on stderr
        if epochs is not None:
            kwargs["epochs"] = epochs
    return cls(metadata, **kwargs)


def loadavg() -> list[float]:
    """1, 5 and 15-minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def main(argv=None) -> int:
    """Parse arguments, fit or load, sample, and write the output and timing JSON."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(MODELS), required=True)
    p.add_argument("--train", help="training table, .csv or .parquet (required unless --load-model)")
    p.add_argument("--rows", type=int, default=None, help="rows to sample and write (default: as many as --train)")
    p.add_argument("--out", help="where to write the --rows sample (.csv or .parquet)")
    p.add_argument("--epochs", type=int, default=None, help="CTGAN/TVAE epochs (default: SDV's 300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timing", required=True, help="timing JSON to write")
    p.add_argument("--sample-1m", action="store_true", help="also time sampling 1,000,000 rows")
    p.add_argument("--table", default="adult", help="table name given to SDV (default: adult)")
    p.add_argument("--save-model", help="save the fitted synthesizer here (cloudpickle)")
    p.add_argument("--load-model", help="load a fitted synthesizer instead of fitting")
    args = p.parse_args(argv)
    if not args.load_model and not args.train:
        p.error("--train is required unless --load-model is given")

    import sdv
    import torch
    from sdv.metadata import Metadata
    from sdv.utils import load_synthesizer

    timing = {
        "model": args.model, "sdv_version": sdv.__version__, "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
        "seed": args.seed, "epochs": args.epochs if args.model in NEURAL else None,
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "loadavg_start": loadavg(),
        "train": args.train, "train_rows": None, "detect_s": None, "fit_s": None,
        "sample_rows": None, "sample_s": None, "sample_1m_s": None,
    }
    seed_everything(args.seed)

    if args.load_model:
        t = time.perf_counter()
        synth = load_synthesizer(args.load_model)
        timing["load_s"] = round(time.perf_counter() - t, 3)
        timing["model_file"] = args.load_model
        if args.model in NEURAL:
            timing["epochs"] = getattr(synth, "epochs", timing["epochs"])
        train_rows = None
    else:
        train = read_frame(args.train)
        train_rows = timing["train_rows"] = len(train)
        t = time.perf_counter()
        metadata = Metadata.detect_from_dataframes({args.table: train})
        timing["detect_s"] = round(time.perf_counter() - t, 3)
        timing["metadata"] = metadata.to_dict()
        synth = build(args.model, metadata, args.epochs)
        if args.model in NEURAL:
            timing["epochs"] = synth.epochs
        t = time.perf_counter()
        synth.fit({args.table: train})
        timing["fit_s"] = round(time.perf_counter() - t, 3)
        del train
        if args.save_model:
            synth.save(args.save_model)
            timing["model_file"] = args.save_model
            timing["model_bytes"] = Path(args.save_model).stat().st_size

    if hasattr(synth, "_set_random_state"):  # see the module docstring
        synth._set_random_state(args.seed)
        timing["sample_seed"] = args.seed
    else:
        timing["sample_seed"] = "SDV default (FIXED_RNG_SEED)"

    rows = args.rows if args.rows is not None else train_rows
    if rows:
        if not args.out:
            p.error("--out is required when sampling --rows")
        t = time.perf_counter()
        sample = synth.sample(rows)[args.table]  # SDV 2.0: a dict of table name -> DataFrame
        timing["sample_s"] = round(time.perf_counter() - t, 3)
        timing["sample_rows"] = len(sample)
        write_frame(sample, args.out)
        timing["out"] = args.out
        del sample

    if args.sample_1m:
        draws = []
        for _ in range(3):  # best of three, as benchmarks/synth_run.py does for Synthera
            t = time.perf_counter()
            big = synth.sample(1_000_000)[args.table]
            draws.append(round(time.perf_counter() - t, 3))
            timing["sample_1m_rows"] = len(big)
            del big
        timing["sample_1m_s"] = min(draws)
        timing["sample_1m_draws_s"] = draws

    # Linux: KiB. The caller's measure.py is the reference; this is a cross-check.
    timing["self_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    timing["loadavg_end"] = loadavg()
    Path(args.timing).parent.mkdir(parents=True, exist_ok=True)
    Path(args.timing).write_text(json.dumps(timing, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in timing.items() if k != "metadata"}, default=str), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
