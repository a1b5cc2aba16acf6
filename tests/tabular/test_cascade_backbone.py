"""Wide tables draw their numbers from a class-conditional Gaussian backbone (issue 21, item 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthera.tabular import load_synthesizer
from synthera.tabular.cascade import CascadeSynthesizer

WIDE = [f"x{k}" for k in range(24)]  # 25 columns on 200 rows: more columns than a tenth of the rows


def _classes(n: int = 200, numbers: list[str] = WIDE, seed: int = 0) -> pd.DataFrame:
    """Numbers sharing one factor, all shifted up by 1 for the minority class (as a target shifts a panel)."""
    rng = np.random.default_rng(seed)
    label = rng.choice(["no", "yes"], n, p=[0.65, 0.35])
    factor = rng.normal(size=n)
    shift = np.where(label == "yes", 1.0, 0.0)
    return pd.DataFrame({"label": label, **{x: shift + factor + 0.5 * rng.normal(size=n) for x in numbers}})


def _within(frame: pd.DataFrame) -> float:
    """Mean correlation between the numbers inside the majority class."""
    corr = frame[frame["label"] == "no"][WIDE].corr().to_numpy()
    return float(corr[np.triu_indices(len(WIDE), 1)].mean())


def _gap(frame: pd.DataFrame) -> float:
    means = frame.groupby("label")[WIDE].mean()
    return float((means.loc["yes"] - means.loc["no"]).mean())


def test_a_wide_table_keeps_the_class_shift_and_the_correlations(tmp_path):
    real = _classes()
    model = CascadeSynthesizer(seed=0).fit(real)
    relations = {model.columns_[j]: r for j, r in model.relations_.steered.items()}
    assert sorted(relations) == sorted(WIDE) and all(r.alone for r in relations.values())
    assert all([model.columns_[k] for k in r.groups] == ["label"] for r in relations.values())
    fake = model.sample(3000, seed=0)
    # the trees' leaves, which also split on the label, would apply the backbone's class shift a second time
    assert abs(_gap(fake) - _gap(real)) < 0.2
    assert abs(_within(fake) - _within(real)) < 0.06
    assert not np.isin(fake[WIDE].to_numpy(), real[WIDE].to_numpy()).any()  # values come from the bins
    model.save(tmp_path / "m")
    again = load_synthesizer(tmp_path / "m")
    assert all(r.alone for r in again.relations_.steered.values())
    pd.testing.assert_frame_equal(model.sample(300, seed=3), again.sample(300, seed=3))


def test_narrow_and_tiny_tables_keep_no_backbone():
    for table in (_classes(1500, WIDE[:4]), _classes(200, WIDE[:4]),  # Adult's or German credit's shape
                  _classes(60)):  # wide, but too few rows for a covariance
        model = CascadeSynthesizer(seed=0).fit(table)
        assert not any(r.alone for r in model.relations_.steered.values())


def test_the_model_keeps_no_arrays_of_a_sample():
    model = CascadeSynthesizer(seed=0).fit(_classes())
    model.sample(500, seed=0)
    # the scores cached while sampling, and the backbone's terms, are dropped
    assert "_scored" not in model.relations_.__dict__ and "_backbone_terms" not in model.relations_.__dict__


def test_too_many_numbers_keep_their_trees_and_bins(monkeypatch):
    from synthera.tabular import cascade

    monkeypatch.setattr(cascade, "BACKBONE_MAX_NUMBERS", 10)  # 24 numbers: over the bound
    model = CascadeSynthesizer(seed=0).fit(_classes())
    assert not any(r.alone for r in model.relations_.steered.values())
    assert max(d.n_codes for d in model.discretizers_.values()) > 200 // cascade.BACKBONE_BIN_ROWS  # usual bins


def test_the_backbone_sums_its_means_by_blocks_and_draws_as_its_normal_says(monkeypatch):
    """The fast paths of a backbone's sample give what the relations say term by term, CDF by CDF."""
    from synthera.tabular import cascade

    monkeypatch.setattr(cascade, "BACKBONE_BLOCK", 5)  # 24 relations: five blocks, the last one short
    model = CascadeSynthesizer(seed=0).fit(_classes())
    relations, rng, m = model.relations_, np.random.default_rng(0), 400
    cols = np.vstack([rng.integers(0, k, m) for k in model.n_codes_]).astype(np.float32)
    levels = {j: rng.random(m) for j in relations.scales}
    for j in sorted(relations.steered):
        rel, scale = relations.steered[j], relations.scales[j]
        scores = {int(k): relations.scales[int(k)].score(cols[int(k)].astype(np.int64), levels[int(k)])
                  for k in rel.cols}
        mean = relations._mean(j, cols, levels)
        np.testing.assert_allclose(mean, rel.mean(scores, cols), rtol=1e-12, atol=1e-12)
        u, v = rng.random(m), rng.random(m)
        codes, drawn = rel.draw(None, scale, mean, u, v)
        chance = np.diff(rel._mass(scale, mean), axis=1)  # each code's chance under the regression's normal
        assert np.array_equal(codes, (np.cumsum(chance, axis=1) < u[:, None]).sum(axis=1))
        np.testing.assert_array_equal(drawn, rel.level(scale, mean, codes, v))
    relations.forget()
