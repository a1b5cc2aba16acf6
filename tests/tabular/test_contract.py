"""The contract every registered synthesizer keeps, checked two ways: built from the registry, and after
save/load. (The registry hands out the very class its module defines, so a "direct" build would fit the
same model again; ``test_the_registry_hands_out_each_module_s_own_class`` checks that instead.)"""

from __future__ import annotations

import hashlib
import importlib
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from synthera._persist import manifest_digest
from synthera.errors import ModelFileError, NotFittedError, UserInputError
from synthera.tabular import Synthesizer, available_synthesizers, get_synthesizer, load_synthesizer
from tests.helpers import FAST, PicklePayload, fit_kwargs

N = 300


def _frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    age = rng.integers(18, 80, n)
    return pd.DataFrame(
        {
            "user_id": np.arange(10_000, 10_000 + n),
            "group": group,
            "rare": np.where(np.arange(n) % 50 == 0, "unicorn", "horse"),  # 6 of 300 rows: rare, yet above k = 5
            "age": age,
            "score": pd.array(np.where(rng.random(n) < 0.2, None, rng.integers(0, 5, n)), dtype="Int64"),
            "price": np.round(rng.gamma(2.0, 20.0, n) + (group == "a") * 30, 2),
            "active": rng.choice([True, False], n),
            "joined": pd.Series(pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"))
            .dt.strftime("%d/%m/%Y"),
            "city": np.where(rng.random(n) < 0.1, None, rng.choice(["Lima", "Oslo", "Pune"], n)),
            "email": [f"person{i}@example.org" for i in range(n)],
        }
    )


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return _frame()


def _own_class(name: str) -> type[Synthesizer]:
    """The class as its own module defines it (e.g. synthera.tabular.cascade.CascadeSynthesizer)."""
    registered = get_synthesizer(name)
    return getattr(importlib.import_module(registered.__module__), registered.__name__)


def _build(name: str, how: str, real: pd.DataFrame, tmp_path_factory) -> Synthesizer:
    params = {**FAST.get(name, {}), "seed": 0}
    model = get_synthesizer(name)(**params).fit(real, **fit_kwargs(name, real))
    if how == "registry":
        return model
    folder = tmp_path_factory.mktemp(f"{name}-model")
    model.save(folder)
    return load_synthesizer(folder)


BUILDS = [(m, h) for m in available_synthesizers() for h in ("registry", "loaded")]


@pytest.fixture(scope="module", params=BUILDS, ids=lambda p: f"{p[0]}-{p[1]}")
def fitted(request, real, tmp_path_factory):
    name, how = request.param
    return name, _build(name, how, real, tmp_path_factory)


def test_columns_and_dtypes_match(fitted, real):
    _, model = fitted
    syn = model.sample(500, seed=1)
    assert list(syn.columns) == list(real.columns)
    assert syn.dtypes.astype(str).to_dict() == real.dtypes.astype(str).to_dict()
    assert len(syn) == 500


def test_values_stay_inside_what_was_learned(fitted, real):
    _, model = fitted
    syn = model.sample(500, seed=2)
    assert set(syn["group"].dropna()) <= set(real["group"])
    assert set(syn["city"].dropna()) <= set(real["city"].dropna())
    assert syn["age"].between(real["age"].min(), real["age"].max()).all()
    assert syn["price"].between(real["price"].min(), real["price"].max()).all()
    assert np.allclose(syn["price"], syn["price"].round(2))  # decimals keep their precision
    assert syn["user_id"].is_unique
    parsed = pd.to_datetime(syn["joined"], format="%d/%m/%Y", errors="coerce")
    assert parsed.notna().all()  # the datetime format is kept
    assert parsed.between(pd.Timestamp("2020-01-01"), pd.Timestamp("2022-06-19")).all()


def test_null_rates_are_kept(fitted, real):
    _, model = fitted
    syn = model.sample(3000, seed=3)
    for col in ("score", "city"):
        assert abs(syn[col].isna().mean() - real[col].isna().mean()) < 0.08, col
    assert syn["age"].notna().all()


def test_personal_data_is_never_copied(fitted, real):
    _, model = fitted
    syn = model.sample(1000, seed=4)
    assert syn["email"].str.contains("@").all()
    assert not set(syn["email"]) & set(real["email"])


def test_same_seed_same_rows(fitted):
    _, model = fitted
    pd.testing.assert_frame_equal(model.sample(200, seed=7), model.sample(200, seed=7))
    assert not model.sample(200, seed=7).equals(model.sample(200, seed=8))


def test_conditions_are_honoured_even_for_rare_values(fitted):
    name, model = fitted
    syn = model.sample(50, seed=5, conditions={"rare": "unicorn", "group": "b"})
    assert len(syn) == 50
    assert (syn["rare"] == "unicorn").all() and (syn["group"] == "b").all()
    syn = model.sample(20, seed=5, conditions={"age": "33"})
    assert (syn["age"] == 33).all()


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"group": "zebra"}, "impossible condition group=zebra"),
        ({"age": 500}, "impossible condition age=500"),
        ({"nope": 1}, "unknown column 'nope'"),
        ({"email": "x@y.z"}, "cannot condition on 'email'"),
    ],
)
def test_impossible_conditions_are_clear_errors(fitted, conditions, message):
    _, model = fitted
    with pytest.raises(UserInputError, match=message):
        model.sample(10, seed=0, conditions=conditions)


@pytest.mark.parametrize("name", available_synthesizers())
def test_same_seed_same_model(name, real, tmp_path):
    a = get_synthesizer(name)(**FAST.get(name, {}), seed=3).fit(real, **fit_kwargs(name, real))
    b = get_synthesizer(name)(**FAST.get(name, {}), seed=3).fit(real, **fit_kwargs(name, real))
    pd.testing.assert_frame_equal(a.sample(300, seed=1), b.sample(300, seed=1))
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    with np.load(tmp_path / "a" / "arrays.npz") as x, np.load(tmp_path / "b" / "arrays.npz") as y:
        assert x.files == y.files
        assert all(np.array_equal(x[key], y[key]) for key in x.files)


@pytest.mark.parametrize("name", available_synthesizers())
def test_save_load_gives_identical_samples(name, real, tmp_path):
    fast = {k: tuple(v) if isinstance(v, list) else v for k, v in FAST.get(name, {}).items()}
    model = get_synthesizer(name)(**fast).fit(real, **fit_kwargs(name, real))
    model.save(tmp_path)
    again = load_synthesizer(tmp_path)
    assert type(again) is type(model) and again.get_params() == model.get_params()
    pd.testing.assert_frame_equal(model.sample(400, seed=11), again.sample(400, seed=11))
    cond = {"group": "c"}
    pd.testing.assert_frame_equal(model.sample(50, seed=2, conditions=cond), again.sample(50, seed=2, conditions=cond))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["format_version"] == 2 and manifest["class"] == name
    assert set(manifest["metadata"]["columns"]) == set(real.columns)


@pytest.mark.parametrize("name", available_synthesizers())
def test_sample_before_fit(name):
    with pytest.raises(NotFittedError, match="call fit first"):
        get_synthesizer(name)().sample(5)


@pytest.fixture
def saved(real, tmp_path):
    get_synthesizer(available_synthesizers()[0])().fit(real).save(tmp_path)
    return tmp_path


def test_tampered_arrays_are_refused(saved):
    path = saved / "arrays.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum differs"):
        load_synthesizer(saved)


def _forge(folder, **fields) -> None:
    """Set manifest fields and recompute every checksum, as a forger would."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(fields)
    manifest["arrays_sha256"] = hashlib.sha256((folder / "arrays.npz").read_bytes()).hexdigest()
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_pickled_arrays_never_run_even_with_matching_checksums(saved, tmp_path_factory):
    """A forger who recomputes every checksum still cannot make loading run code."""
    marker = tmp_path_factory.mktemp("marker") / "ran"
    np.savez(saved / "arrays.npz", n_codes=np.array([PicklePayload(marker)], dtype=object), allow_pickle=True)
    _forge(saved)
    with pytest.raises(ModelFileError, match="not a valid"):
        load_synthesizer(saved)
    assert not marker.exists(), "loading unpickled the arrays"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update({"class": "os.system"}), "unknown model 'os.system'"),
        (lambda m: m.update({"class": ["cascade"]}), "unknown model"),
        (lambda m: m.update({"format_version": 99}), "upgrade"),
        (lambda m: m.update({"format": "pickle"}), "not a Synthera model manifest"),
        (lambda m: m["params"].update({"__class__": "x"}), "unknown parameter"),
    ],
)
def test_foreign_manifests_are_refused(saved, edit, message):
    manifest = json.loads((saved / "manifest.json").read_text())
    edit(manifest)
    (saved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match=message):
        load_synthesizer(saved)


def test_damaged_or_missing_files(saved, tmp_path_factory):
    (saved / "manifest.json").write_text("{ not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_synthesizer(saved)
    with pytest.raises(ModelFileError, match="not found"):
        load_synthesizer(tmp_path_factory.mktemp("empty") / "absent")
    with pytest.raises(ModelFileError, match="no manifest.json"):
        load_synthesizer(tmp_path_factory.mktemp("empty"))


def test_constructor_only_stores(real):
    for name in available_synthesizers():
        model = get_synthesizer(name)(**FAST.get(name, {}))
        assert not hasattr(model, "metadata_")
        assert model.fit(real, **fit_kwargs(name, real)) is model


@pytest.mark.parametrize("name", available_synthesizers())
def test_the_registry_hands_out_each_module_s_own_class(name):
    cls = _own_class(name)
    assert get_synthesizer(name) is cls and cls.name == name
    assert cls.__module__.startswith("synthera.tabular.")


def test_registry_refuses_duplicates_and_unknown_names():
    from synthera.tabular import register_synthesizer

    with pytest.raises(ValueError, match="already registered"):
        register_synthesizer(get_synthesizer("cascade"), "cascade")
    with pytest.raises(UserInputError, match="unknown model 'nope'; available models are: cascade"):
        get_synthesizer("nope")


def test_garbage_arrays_are_a_clear_error(saved):
    path = saved / "arrays.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("n_codes.npy", b"garbage")
    _forge(saved)
    with pytest.raises(ModelFileError, match="not a valid"):
        load_synthesizer(saved)
