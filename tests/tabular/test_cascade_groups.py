"""The cascade keeps declared sensitive groups apart (issue 21, item 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.errors import UserInputError
from synthera.tabular.cascade import CascadeSynthesizer, tree_members


def _table(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Group B (4% of rows) links x and y the opposite way from group A."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["A", "B"], n, p=[0.96, 0.04])
    x = rng.integers(0, 8, n)
    high = np.where(group == "A", x < 4, x >= 4)
    y = np.where(rng.random(n) < np.where(high, 0.9, 0.1), "yes", "no")
    return pd.DataFrame({"group": group, "x": [f"x{v}" for v in x], "y": y, "z": rng.normal(size=n).round(2)})


def _high_x_rate(frame: pd.DataFrame) -> float:
    b = frame[(frame["group"] == "B") & frame["x"].isin(["x4", "x5", "x6", "x7"])]
    return float((b["y"] == "yes").mean())


def test_a_small_group_keeps_its_own_relation():
    real = _table()
    plain = CascadeSynthesizer(min_samples_leaf=200, seed=0).fit(real).sample(40_000, seed=1)
    grouped = CascadeSynthesizer(min_samples_leaf=200, sensitive=["group"], seed=0).fit(real)
    syn = grouped.sample(40_000, seed=1)
    assert _high_x_rate(real) > 0.8
    assert _high_x_rate(plain) < 0.5  # leaves of 200 rows mix B (160 rows) with A: B gets A's relation
    assert abs(_high_x_rate(syn) - _high_x_rate(real)) < 0.1
    assert (syn["group"] == "B").mean() == pytest.approx((real["group"] == "B").mean(), abs=0.01)


def test_sensitive_columns_come_first_and_every_leaf_of_a_later_tree_is_split_by_the_small_group():
    real = _table()
    model = CascadeSynthesizer(sensitive=["group"], seed=0).fit(real)
    assert model.columns_[0] == "group"
    rows = np.zeros((len(model.columns_), 2), dtype=np.float32)
    rows[0] = [0, 1]  # one row of group A and one of group B, alike in every other column
    for tree in (member for column in model.trees_[1:] for member in tree_members(column)):
        on_group = tree.feature == 0
        assert on_group.any() and np.all(tree.threshold[on_group] == 0.5)  # the chains ask: group A or B?
        assert np.all(tree.left[on_group] != tree.right[on_group])
        a, b = tree.apply(rows)
        assert a != b  # B's row lands in a leaf of its own


def test_a_group_that_follows_the_majority_borrows_its_leaves_and_one_that_departs_keeps_its_own():
    from synthera.tabular.cascade import MIN_PRIOR_STRENGTH, _prior_strength

    rng = np.random.default_rng(0)
    pooled = [rng.dirichlet(np.ones(4)) for _ in range(30)]
    alike = [rng.multinomial(40, p) for p in pooled]  # 40 rows per leaf drawn from the pooled frequencies
    assert _prior_strength(pooled, alike, cap=160.0) > 40  # chance alone: shrunk hard toward the pooled leaf
    unlike = [rng.multinomial(40, p[::-1]) for p in pooled]  # the group's own, reversed frequencies
    assert _prior_strength(pooled, unlike, cap=160.0) < 5
    assert _prior_strength(pooled, [np.eye(4, dtype=np.int64)[0] * 40] * 30, cap=160.0) == MIN_PRIOR_STRENGTH
    assert _prior_strength(pooled, [np.zeros(4, dtype=np.int64)] * 30, cap=160.0) == 160.0  # no rows: the cap


def test_same_seed_same_rows_and_the_model_survives_save_and_load(tmp_path):
    real = _table(1500)
    a = CascadeSynthesizer(sensitive=["group"], seed=2).fit(real)
    b = CascadeSynthesizer(sensitive=["group"], seed=2).fit(real)
    pd.testing.assert_frame_equal(a.sample(500, seed=3), b.sample(500, seed=3))
    path = a.save(tmp_path / "model.synthera")
    loaded = CascadeSynthesizer.load(path)
    pd.testing.assert_frame_equal(loaded.sample(500, seed=3), a.sample(500, seed=3))
    assert list(loaded.sensitive) == ["group"]
    assert (a.sample(300, seed=0, conditions={"group": "B"})["group"] == "B").all()


def test_without_sensitive_columns_the_cascade_is_unchanged():
    real = _table(1500)
    model = CascadeSynthesizer(seed=0).fit(real)
    assert model.columns_ == ["group", "y", "x", "z"]  # fewest codes first, as before
    assert model.group_columns_ == []


@pytest.mark.parametrize("sensitive, message", [
    (["nope"], "sensitive column 'nope' is not a modelled column"),
    (["z"], "sensitive column 'z' is numerical"),
    ("group", "sensitive must be a list of column names"),
])
def test_bad_sensitive_columns_are_one_line_errors(sensitive, message):
    with pytest.raises(UserInputError, match=message) as got:
        CascadeSynthesizer(sensitive=sensitive).fit(_table(300))
    assert "\n" not in str(got.value)


# -- sensitive columns found by name when none are declared (the default, sensitive="auto") ------------------------

def _people(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """The group table with its group column named as a protected attribute, plus a numerical age."""
    real = _table(n, seed).rename(columns={"group": "ethnicity"})
    return real.assign(age=np.random.default_rng(seed).integers(18, 90, n))


def test_the_default_finds_sensitive_columns_by_name_and_keeps_the_small_group_apart():
    real = _people()
    auto = CascadeSynthesizer(min_samples_leaf=200, seed=0).fit(real)
    assert auto.sensitive == "auto" and auto.sensitive_ == ["ethnicity"]  # the numerical age is not a group
    assert auto.columns_[0] == "ethnicity" and auto.group_columns_ == [0]
    declared = CascadeSynthesizer(min_samples_leaf=200, sensitive=["ethnicity"], seed=0).fit(real)
    pd.testing.assert_frame_equal(auto.sample(3000, seed=1), declared.sample(3000, seed=1))
    syn = auto.sample(40_000, seed=1).rename(columns={"ethnicity": "group"})
    assert abs(_high_x_rate(syn) - _high_x_rate(real.rename(columns={"ethnicity": "group"}))) < 0.1


def test_sensitive_none_turns_the_default_off():
    real = _people()
    model = CascadeSynthesizer(min_samples_leaf=200, sensitive=(), seed=0).fit(real)
    assert model.sensitive_ == [] and model.group_columns_ == []
    syn = model.sample(40_000, seed=1).rename(columns={"ethnicity": "group"})
    assert _high_x_rate(syn) < 0.5  # what the default prevents: the small group gets the majority's relation


def test_tables_without_protected_names_are_fitted_as_before():
    real = _table(1500)
    model = CascadeSynthesizer(seed=0).fit(real)
    assert model.sensitive_ == [] and model.group_columns_ == []
    plain = CascadeSynthesizer(sensitive=(), seed=0).fit(real)
    pd.testing.assert_frame_equal(model.sample(500, seed=3), plain.sample(500, seed=3))


def test_detection_keeps_the_number_of_groups_bounded():
    from synthera.tabular.sensitive import MAX_GROUPS, detect_sensitive

    columns = {"Sex": 2, "raceCode": 6, "religion": 12, "gender_identity": 3, "nationality": 40, "age": None,
               "AgeBand": 4, "disability_flag": 2, "stage": 3, "usage_sexagesimal": 5}
    found = detect_sensitive(columns)
    assert found == ["Sex", "disability_flag", "gender_identity", "AgeBand"]  # fewest categories first
    assert np.prod([columns[c] for c in found]) <= MAX_GROUPS
    assert detect_sensitive({"race": 1, "sex": 500}) == []  # a constant or a near-unique column is no group


def test_a_chosen_leaf_size_holds_when_no_group_is_kept_apart():
    # Two even groups (each over LARGE_GROUP_SHARE of the rows): nothing to keep apart. The user's leaf of
    # every row must then allow no split, so color comes out independent of label; it used to be capped at
    # 30 rows here (a group's leaf size), and color followed label.
    rng = np.random.default_rng(0)
    label = rng.choice(["yes", "no"], 200)
    follows = rng.random(200) < 0.9  # color follows label on most rows (all rows: color would be derived)
    real = pd.DataFrame({"sex": rng.choice(["F", "M"], 200), "label": label,
                         "color": np.where((label == "yes") == follows, "red", "blue")})
    synthetic = CascadeSynthesizer(min_samples_leaf=200, sensitive=["sex"], seed=0).fit(real).sample(2000, seed=0)
    agree = ((synthetic["label"] == "yes") == (synthetic["color"] == "red")).mean()
    assert 0.4 < agree < 0.6
    default = CascadeSynthesizer(sensitive=["sex"], seed=0).fit(real).sample(2000, seed=0)
    assert ((default["label"] == "yes") == (default["color"] == "red")).mean() > 0.85


def test_few_valued_columns_get_smaller_leaves_only_when_the_leaf_size_is_the_default():
    real = _table(12_000)  # default leaf: 60 rows
    model = CascadeSynthesizer(sensitive=(), seed=0).fit(real)
    assert model.leaf_size_ == 60
    leaves = {name: model._column_leaf(j) for j, name in enumerate(model.columns_)}
    assert leaves == {"group": 30, "y": 30, "x": 30, "z": None}  # z: 64 bins, more than FEW_CODES
    chosen = CascadeSynthesizer(sensitive=(), min_samples_leaf=60, seed=0).fit(real)
    assert all(chosen._column_leaf(j) is None for j in range(len(chosen.columns_)))
