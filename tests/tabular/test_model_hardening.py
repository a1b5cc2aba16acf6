"""Model folders swap in whole and carry a checksum over the manifest; fit refuses tiny tables,
stays quiet on small ones, bounds the cascade's trees on wide ones, and DP fits refuse measured metadata."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthera.errors import DataError, ModelFileError, SyntheraWarning, UserInputError
from synthera.tabular import CascadeSynthesizer, get_synthesizer, load_synthesizer
from synthera.tabular.cascade import tree_members


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], n)
    return pd.DataFrame({
        "group": group,
        "age": rng.integers(18, 80, n),
        "price": np.round(rng.gamma(2.0, 20.0, n) + (group == "a") * 30, 2),
        "city": rng.choice(["Lima", "Oslo", "Pune"], n),
        "active": rng.choice([True, False], n),
    })


@pytest.fixture(scope="module")
def old_model(tmp_path_factory):
    """A saved model and the rows it gives for seed 0."""
    folder = tmp_path_factory.mktemp("old") / "model"
    model = CascadeSynthesizer(seed=0).fit(_frame())
    model.save(folder)
    return folder, model.sample(50, seed=0)


# -- item 7: a save killed at any step leaves the old or the new complete model ---------------------

_SAVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np, pandas as pd
    import synthera._persist as persist
    from synthera.tabular import CascadeSynthesizer
    folder, stop, marker, exchange = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4] == "1"
    if not exchange:
        persist._exchange = lambda a, b: False
    def hold(step):
        if step == stop:
            marker.write_text(step)
            time.sleep(60)
    persist._step = hold
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"group": rng.choice(["a", "b", "c"], 200), "age": rng.integers(18, 80, 200),
                       "price": rng.random(200), "city": rng.choice(["Lima", "Oslo", "Pune"], 200),
                       "active": rng.choice([True, False], 200)})
    CascadeSynthesizer(seed=1).fit(df).save(folder)
    print("saved", flush=True)
    """
)


def _save_and_kill(folder: Path, stop: str, *, exchange: bool = True) -> bool:
    """Save a new model over ``folder`` in a child process; SIGKILL it at step ``stop``. True if killed there."""
    marker = folder.parent / f"marker-{stop.replace(':', '-')}"
    proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(folder), stop, str(marker), "1" if exchange else "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if marker.exists():
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                return True
            time.sleep(0.01)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.parametrize("stop", ["file:arrays.npz", "manifest", "verify", "swap", "exchanged"])
def test_a_save_killed_at_any_step_leaves_a_complete_model(old_model, tmp_path, stop):
    old_folder, old_rows = old_model
    folder = tmp_path / "model"
    shutil.copytree(old_folder, folder)
    assert _save_and_kill(folder, stop), "the save never reached the step"
    model = load_synthesizer(folder)  # complete: it loads, checksums and all
    rows = model.sample(50, seed=0)
    if stop == "exchanged":  # killed after the atomic exchange: the new model is in place
        assert model.get_params()["seed"] == 1 and not rows.equals(old_rows)
    else:
        pd.testing.assert_frame_equal(rows, old_rows)
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "manifest.json"]


def test_without_an_atomic_exchange_a_kill_between_renames_leaves_the_old_model_beside(old_model, tmp_path):
    old_folder, old_rows = old_model
    folder = tmp_path / "model"
    shutil.copytree(old_folder, folder)
    assert _save_and_kill(folder, "backed-up", exchange=False)
    assert not folder.exists()  # never a half-written folder under the final name
    with pytest.raises(ModelFileError, match="a save was interrupted and the previous model is in"):
        load_synthesizer(folder)
    (backup,) = tmp_path.glob(".model.*.old")
    pd.testing.assert_frame_equal(load_synthesizer(backup).sample(50, seed=0), old_rows)


def test_a_save_over_a_model_replaces_it_whole_and_cleans_stale_temporaries(old_model, tmp_path):
    old_folder, old_rows = old_model
    folder = tmp_path / "model"
    shutil.copytree(old_folder, folder)
    stale, fresh = tmp_path / ".model.abc123.tmp", tmp_path / ".model.def456.tmp"
    for leftover in (stale, fresh):
        leftover.mkdir()
        (leftover / "arrays.npz").write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    new = CascadeSynthesizer(seed=1).fit(_frame(seed=3))
    new.save(folder)
    pd.testing.assert_frame_equal(load_synthesizer(folder).sample(50, seed=0), new.sample(50, seed=0))
    assert not stale.exists() and fresh.exists()  # only leftovers older than an hour are removed
    assert not list(tmp_path.glob(".model.*.old")) and len(list(tmp_path.glob(".model.*.tmp"))) == 1


def test_a_folder_holding_other_files_is_not_replaced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserInputError, match="not part of a Synthera model; .* pick a new or empty folder"):
        CascadeSynthesizer().fit(_frame()).save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_saved_files_get_the_default_mode(tmp_path):
    from synthera.io import default_file_mode

    folder = CascadeSynthesizer().fit(_frame()).save(tmp_path / "m")
    for name in ("manifest.json", "arrays.npz"):
        assert (folder / name).stat().st_mode & 0o777 == default_file_mode()


# -- item 8: the checksum covers the manifest --------------------------------------------------------

def _edit_manifest(folder: Path, edit) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def test_editing_a_category_in_the_manifest_is_refused(old_model, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(old_model[0], folder)
    cities = json.loads((folder / "manifest.json").read_text())["metadata"]["columns"]["city"]["categories"]
    assert cities == ["Lima", "Oslo", "Pune"]
    _edit_manifest(folder, lambda m: m["metadata"]["columns"]["city"]["categories"].__setitem__(0, "Paris"))
    with pytest.raises(ModelFileError, match=r"manifest.json does not match its checksum \(checksum differs\)"):
        load_synthesizer(folder)


@pytest.mark.parametrize("edit, needle", [
    (lambda m: m.pop("manifest_sha256"), "has no checksum"),
    (lambda m: m.update(format_version=1), "model format 1, whose manifest has no checksum; fit the model again"),
    (lambda m: m.update(n_rows=m["n_rows"] + 1), "checksum differs"),
])
def test_other_manifest_edits_are_refused(old_model, tmp_path, edit, needle):
    folder = tmp_path / "m"
    shutil.copytree(old_model[0], folder)
    _edit_manifest(folder, edit)
    with pytest.raises(ModelFileError, match=needle):
        load_synthesizer(folder)


def test_dp_classifier_manifest_is_covered_too(tmp_path):
    from synthera.dp.classifier import DPClassifier
    from synthera.metadata import Metadata

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"age": rng.integers(18, 80, 400), "label": rng.choice(["no", "yes"], 400)})
    public = Metadata.from_dict({"format_version": 1, "columns": {
        "age": {"kind": "numerical", "min": 0, "max": 120},
        "label": {"kind": "categorical", "categories": ["no", "yes"]}}})
    clf = DPClassifier(epsilon=2.0, seed=0, epochs=1, batch_size=128, hidden=(4,)).fit(df, target="label",
                                                                                      metadata=public)
    folder = clf.save(tmp_path / "clf")
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "model.safetensors"]
    assert np.array_equal(DPClassifier.load(folder).predict_proba(df), clf.predict_proba(df))
    _edit_manifest(folder, lambda m: m["domain"]["columns"]["age"].update(upper=130))
    with pytest.raises(ModelFileError, match="checksum differs"):
        DPClassifier.load(folder)


# -- item 6: a model that would not load again is never saved ----------------------------------------

def test_a_model_that_cannot_be_loaded_back_is_not_saved(old_model, tmp_path, monkeypatch):
    from synthera.tabular.base import Synthesizer

    old_folder, old_rows = old_model
    folder = tmp_path / "model"
    shutil.copytree(old_folder, folder)
    new = CascadeSynthesizer(seed=1).fit(_frame(seed=3))

    def broken(cls, where, manifest):
        raise ModelFileError(f"{where}: the datetime format of column 'when' does not round trip")

    monkeypatch.setattr(Synthesizer, "_from_manifest", classmethod(broken))
    with pytest.raises(ModelFileError, match=r"it would not load again \(.*model: the datetime format") as info:
        new.save(folder)
    assert ".tmp" not in str(info.value) and "\n" not in str(info.value)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(load_synthesizer(folder).sample(50, seed=0), old_rows)
    assert not list(tmp_path.glob(".model.*"))


# -- item 3: tiny tables -----------------------------------------------------------------------------

def test_a_table_below_the_minimum_is_refused_and_a_small_one_warned():
    from synthera.tabular.base import FEW_ROWS, MIN_ROWS

    with pytest.raises(DataError, match=f"the table has 1 row\\(s\\); fit needs at least {MIN_ROWS}") as info:
        CascadeSynthesizer().fit(_frame(1))
    assert "\n" not in str(info.value)
    with pytest.warns(SyntheraWarning, match=f"the table has only 30 rows \\(fewer than {FEW_ROWS}\\)"):
        CascadeSynthesizer().fit(_frame(30))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CascadeSynthesizer().fit(_frame(FEW_ROWS))


# -- item 1: no scikit-learn noise on small tables ---------------------------------------------------

def test_the_cascade_fits_a_small_table_without_any_warning():
    rng = np.random.default_rng(0)
    n = 100
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 1000, n), "c": rng.choice(list("xyz"), n),
                       "d": rng.gamma(2, 3, n).round(2), "code": [f"k{i % 70}" for i in range(n)]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = CascadeSynthesizer().fit(df)
        syn = model.sample(200, seed=0)
    assert max(model.n_codes_) <= n // 4 + 1 or model.columns_[int(np.argmax(model.n_codes_))] == "code"
    assert set(syn["c"]) <= set(df["c"]) and syn["a"].between(df["a"].min(), df["a"].max()).all()


# -- item 19: each tree uses a bounded number of earlier columns ----------------------------------------

def test_each_tree_splits_on_at_most_max_features_columns_and_picks_informative_ones():
    rng = np.random.default_rng(0)
    n = 2000
    cols = {f"noise{i}": rng.choice(["p", "q"], n) for i in range(8)}
    cols["signal"] = rng.choice(["s", "t"], n)
    cols["target"] = np.where(cols["signal"] == "s", rng.choice(["u", "v", "w"], n, p=[0.9, 0.05, 0.05]),
                              rng.choice(["u", "v", "w"], n, p=[0.05, 0.05, 0.9]))
    df = pd.DataFrame(cols)
    model = CascadeSynthesizer(max_features=2).fit(df)
    j = model.columns_.index("target")
    assert j == len(df.columns) - 1
    for tree in (member for column in model.trees_ for member in tree_members(column)):
        assert len(set(tree.feature[tree.feature >= 0])) <= 2
    assert all(model.columns_.index("signal") in set(t.feature) for t in tree_members(model.trees_[j]))
    syn = model.sample(4000, seed=0)
    assert (syn.loc[syn["signal"] == "s", "target"] == "u").mean() > 0.8
    with pytest.raises(UserInputError, match="max_features must be a whole number >= 1 or None"):
        CascadeSynthesizer(max_features=0).fit(df)


def test_a_wide_table_fits_with_bounded_trees(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 5))
    df = pd.DataFrame({f"c{j}": np.round(base[:, j % 5] + 0.3 * rng.normal(size=200), 2) for j in range(80)})
    model = CascadeSynthesizer(max_features=10).fit(df)
    assert all(len(set(t.feature[t.feature >= 0])) <= 10 for column in model.trees_ for t in tree_members(column))
    again = load_synthesizer(model.save(tmp_path / "m"))
    pd.testing.assert_frame_equal(again.sample(100, seed=1), model.sample(100, seed=1))
    syn = model.sample(2000, seed=0)
    assert np.corrcoef(syn["c0"], syn["c5"])[0, 1] > 0.5  # a strong pair survives the bound


# -- item 14: DP fits refuse metadata measured from the data -------------------------------------------

@pytest.mark.parametrize("name", ["dp_marginals", "dp_ctgan"])
def test_dp_fits_refuse_measured_metadata_unless_declared_public(name):
    from synthera.metadata import infer_metadata

    df = _frame(300)
    md = infer_metadata(df)
    md.measured_from_data = True  # what `inspect` records
    params = {"epsilon": 5.0, "delta": 1e-5, "seed": 0}
    params.update({"steps": 50, "n_components": 8} if name == "dp_marginals" else
                  {"epochs": 1, "batch_size": 50, "generator_dim": (16,), "discriminator_dim": (16,),
                   "embedding_dim": 8})
    with pytest.raises(UserInputError, match=r"was measured from the data .*, so ε does not cover its bounds") as info:
        get_synthesizer(name)(**params).fit(df, metadata=md)
    assert "domain_is_public=True" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(UserInputError, match="measured from the data"):
        get_synthesizer(name)(**params).fit(df, metadata={**md.to_dict(), "measured_from_data": True})
    model = get_synthesizer(name)(**params).fit(df, metadata=md, domain_is_public=True)
    assert model.privacy_["epsilon_spent"] <= 5.0
    assert get_synthesizer("cascade")().fit(df, metadata=md) is not None  # not a DP model: no refusal


def test_ids_too_narrow_for_their_templates_get_a_counter_without_retrying(monkeypatch):
    """Ids like ``k7`` (one letter, one digit) crowd their short template: the collisions get a counter after a few
    redraws instead of thousands."""
    import synthera.tabular.fake as fake

    frame = pd.DataFrame({"code": [f"k{i}" for i in range(300)], "x": np.arange(300) % 7})
    model = get_synthesizer("gaussian_copula")(seed=0).fit(frame)
    calls = []
    real_fill = fake._fill
    monkeypatch.setattr(fake, "_fill", lambda t, rng: calls.append(t) or real_fill(t, rng))
    out = model.sample(5000, seed=0)
    assert out["code"].is_unique
    # rows are drawn 16,384 at a time: one fill each plus a few rounds of redraws (100 rounds made 276,203)
    assert len(calls) <= 3 * 16_384
