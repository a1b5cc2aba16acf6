"""Real tables that ship inside the package, with their provenance.

>>> from synthera import datasets
>>> train, test = datasets.load("adult")
>>> train.shape, test.shape
((32561, 15), (16281, 15))

``datasets.available()`` lists what ships; ``datasets.info(name)`` tells the
source, licence, target and sensitive columns. Sources and licences are in
``PROVENANCE.md`` beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple

import pandas as pd

from synthera.errors import UserInputError

__all__ = ["DatasetInfo", "Split", "available", "info", "load", "register_dataset"]


class Split(NamedTuple):
    """A train/test pair of frames; unpacks as ``train, test = load(name)``."""

    train: pd.DataFrame
    test: pd.DataFrame


@dataclass(frozen=True)
class DatasetInfo:
    """What a bundled dataset is and where it comes from."""

    name: str
    title: str
    rows: int
    columns: int
    target: str
    sensitive: tuple[str, ...]
    split: str
    source: str
    license: str

    def files(self) -> tuple[str, str]:
        return f"{self.name}_train.parquet", f"{self.name}_test.parquet"


_REGISTRY: dict[str, DatasetInfo] = {}


def register_dataset(entry: DatasetInfo) -> None:
    """Add a dataset to the registry; refuses to replace one silently."""
    if entry.name in _REGISTRY:
        raise ValueError(f"dataset '{entry.name}' is already registered")
    _REGISTRY[entry.name] = entry


register_dataset(DatasetInfo(
    name="adult",
    title="UCI Adult (Census Income, 1994)",
    rows=48_842,
    columns=15,
    target="income",
    sensitive=("sex", "race"),
    split="official: adult.data (32,561) / adult.test (16,281)",
    source="UCI Machine Learning Repository, Becker & Kohavi (1996), doi:10.24432/C5XW20",
    license="CC BY 4.0",
))
register_dataset(DatasetInfo(
    name="compas",
    title="COMPAS two-year recidivism (Broward County, 2013-2014)",
    rows=7_214,
    columns=50,
    target="two_year_recid",
    sensitive=("race", "sex"),
    split="synthera: stratified 2/3 train, 1/3 test, seed 0",
    source="ProPublica compas-analysis, compas-scores-two-years.csv (Angwin et al., 2016)",
    license="published by ProPublica for analysis; see PROVENANCE.md",
))
register_dataset(DatasetInfo(
    name="german",
    title="Statlog German credit (Hofmann, 1994), decoded",
    rows=1_000,
    columns=21,
    target="credit",
    sensitive=("status_sex", "age"),
    split="synthera: stratified 70% train, 30% test, seed 0",
    source="UCI Machine Learning Repository, Hofmann (1994), doi:10.24432/C5NC77",
    license="CC BY 4.0",
))


def available() -> list[DatasetInfo]:
    """Every bundled dataset, in registry order."""
    return list(_REGISTRY.values())


def info(name: str) -> DatasetInfo:
    """Describe one dataset; raises a clear error for an unknown name."""
    try:
        return _REGISTRY[name]
    except KeyError:
        names = ", ".join(_REGISTRY)
        raise UserInputError(f"unknown dataset '{name}'; bundled datasets are: {names}") from None


def load(name: str) -> Split:
    """Return the ``(train, test)`` frames of a bundled dataset.

    Parameters
    ----------
    name
        ``"adult"``, ``"compas"`` or ``"german"`` (see :func:`available`).

    Returns
    -------
    Split
        A named tuple of two DataFrames. Adult keeps its official split;
        datasets without one get a fixed, stratified split (see ``info``).
    """
    entry = info(name)
    folder = resources.files(__name__) / "data"
    train_file, test_file = entry.files()
    with resources.as_file(folder / train_file) as train_path, resources.as_file(folder / test_file) as test_path:
        return Split(pd.read_parquet(train_path), pd.read_parquet(test_path))
