"""The synthesizer registry maps names to classes both ways and never renames a class."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from synthera.errors import UserInputError
from synthera.tabular import CascadeSynthesizer, get_synthesizer, load_synthesizer, register_synthesizer
from synthera.tabular import base as tabular_base


@pytest.fixture
def registry():
    """Restore the registry after a test that registers classes."""
    by_name, by_class = dict(tabular_base._BY_NAME), dict(tabular_base._BY_CLASS)
    yield
    tabular_base._BY_NAME.clear()
    tabular_base._BY_NAME.update(by_name)
    tabular_base._BY_CLASS.clear()
    tabular_base._BY_CLASS.update(by_class)


def _frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"group": rng.choice(["a", "b"], n), "age": rng.integers(18, 80, n)})


def test_one_class_cannot_take_a_second_name_and_keeps_its_own(registry):
    with pytest.raises(ValueError, match="already registered as 'cascade'"):
        register_synthesizer(CascadeSynthesizer, "trees")
    assert get_synthesizer("cascade").name == "cascade"
    with pytest.raises(UserInputError, match="unknown model 'trees'"):
        get_synthesizer("trees")


def test_a_model_saved_after_registering_a_subclass_loads_in_a_fresh_process(registry, tmp_path):
    class Trees(CascadeSynthesizer):
        pass

    register_synthesizer(Trees, "trees")
    assert Trees.name == "trees" and CascadeSynthesizer.name == "cascade"
    CascadeSynthesizer(seed=0).fit(_frame()).save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["class"] == "cascade"
    folder = str(tmp_path / "m")
    code = f"from synthera.tabular import load_synthesizer; print(type(load_synthesizer({folder!r})).__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "CascadeSynthesizer"


def test_a_registered_subclass_saves_and_loads_under_its_own_name(registry, tmp_path):
    class Trees(CascadeSynthesizer):
        pass

    register_synthesizer(Trees, "trees")
    Trees(seed=0).fit(_frame()).save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["class"] == "trees"
    assert type(load_synthesizer(tmp_path / "m")) is Trees


def test_an_unregistered_subclass_is_refused_at_save_in_one_line(tmp_path):
    class Unnamed(CascadeSynthesizer):
        pass

    model = Unnamed(seed=0).fit(_frame())
    assert Unnamed.name == ""
    with pytest.raises(UserInputError, match="not a registered synthesizer") as info:
        model.save(tmp_path / "m")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "m").exists()


def test_replacing_a_name_moves_it_to_the_new_class(registry):
    class Trees(CascadeSynthesizer):
        pass

    register_synthesizer(Trees, "cascade", replace=True)
    assert get_synthesizer("cascade") is Trees and Trees.name == "cascade"
    assert CascadeSynthesizer.name == ""
