"""Fixtures of the distributed tests: one small saved model per module, one 2-worker local Dask cluster in all."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest


def small_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": np.arange(1, n + 1),
        "age": rng.integers(18, 90, n),
        "income": np.round(rng.lognormal(10, 0.5, n), 2),
        "segment": rng.choice(["gold", "silver", "bronze"], n, p=[0.2, 0.3, 0.5]),
        "active": rng.choice([True, False], n),
    })


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from synthera.tabular import get_synthesizer

    folder = tmp_path_factory.mktemp("model") / "model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        get_synthesizer("cascade")().fit(small_frame()).save(folder)
    return folder


@pytest.fixture(scope="package")
def dask_client():
    """LocalCluster(processes=True, n_workers=2, threads_per_worker=1): started once for this folder, always closed."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                           silence_logs=50)
    client = Client(cluster, timeout=60)
    try:
        yield client
    finally:
        client.close(timeout=20)
        cluster.close(timeout=20)
