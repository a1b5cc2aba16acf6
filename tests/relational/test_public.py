"""Public reference tables (``"public": true``): copied, keys included, children linked to their real rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.errors import MetadataError, UserInputError
from synthera.relational import RelationalSynthesizer, Schema
from synthera.relational._keys import allocate
from synthera.relational.inference import propose_public
from synthera.relational.metrics import intertable_trends, referential_integrity


def airline_db(n: int = 1500, seed: int = 0) -> tuple[dict[str, pd.DataFrame], dict]:
    """16 airlines (each name held by one row) and flights whose delay depends on the airline."""
    rng = np.random.default_rng(seed)
    airlines = pd.DataFrame({"carrier": [f"C{i}" for i in range(16)], "name": [f"Airline {i} Inc." for i in range(16)]})
    weights = np.linspace(1, 6, 16)
    carrier = rng.choice(airlines["carrier"], n, p=weights / weights.sum())
    idx = pd.Series(carrier).str.slice(1).astype(int).to_numpy()
    flights = pd.DataFrame({"id": np.arange(n), "carrier": carrier,
                            "delay": np.round(idx * 5 + rng.normal(0, 2, n), 1)})
    spec = {"tables": {"airlines": {"primary_key": ["carrier"]}, "flights": {"primary_key": ["id"]}},
            "foreign_keys": [{"child": "flights", "columns": ["carrier"], "parent": "airlines",
                              "parent_columns": ["carrier"]}]}
    return {"airlines": airlines, "flights": flights}, spec


def test_public_flag_round_trips_and_is_checked():
    _, spec = airline_db(10)
    spec["tables"]["airlines"]["public"] = True
    schema = Schema.from_dict(spec)
    assert schema.tables["airlines"].public and not schema.tables["flights"].public
    again = Schema.from_json(schema.to_json())
    assert again.tables["airlines"].public
    assert "public" not in again.to_dict()["tables"]["flights"]  # only written when set
    spec["tables"]["airlines"]["public"] = "yes"
    with pytest.raises(MetadataError, match="public must be true or false"):
        Schema.from_dict(spec)
    spec["tables"]["airlines"]["public"] = False
    spec["tables"]["flights"]["public"] = True  # a public child of a synthesized parent cannot keep its keys
    with pytest.raises(UserInputError, match="table 'flights' is public but its foreign key") as err:
        Schema.from_dict(spec)
    assert "\n" not in str(err.value)


def test_public_lookup_is_copied_and_children_keep_its_trends(tmp_path):
    tables, spec = airline_db()
    private = RelationalSynthesizer().fit(tables, schema=spec).sample(seed=0)
    # 16 rows, every name held once: synthesized, the names all merge into the rare label
    assert set(private["airlines"]["name"]) == {"(other)"}
    spec["tables"]["airlines"]["public"] = True
    model = RelationalSynthesizer().fit(tables, schema=spec)
    synthetic = model.sample(seed=0)
    pd.testing.assert_frame_equal(synthetic["airlines"], tables["airlines"])  # copied, keys included
    assert synthetic["flights"]["carrier"].isin(tables["airlines"]["carrier"]).all()
    assert synthetic["flights"]["id"].is_unique
    schema = Schema.from_dict(spec)
    assert referential_integrity(tables, synthetic, schema)["score"] == 1.0
    public = intertable_trends(tables, synthetic, schema)["score"]
    assert public > 0.8 > intertable_trends(tables, private, schema)["score"]
    # the delay still follows the airline
    means = synthetic["flights"].groupby("carrier")["delay"].mean()
    assert means.corr(tables["flights"].groupby("carrier")["delay"].mean()) > 0.9
    model.save(tmp_path / "m")
    again = RelationalSynthesizer.load(tmp_path / "m").sample(seed=0)
    for t in synthetic:
        pd.testing.assert_frame_equal(again[t], synthetic[t])


def test_inspect_proposes_small_lookups_but_never_sets_them():
    tables, spec = airline_db()
    schema = Schema.from_dict(spec)
    proposed = propose_public(tables, schema)
    assert list(proposed) == ["airlines"] and "16 rows" in proposed["airlines"]
    assert not schema.tables["airlines"].public
    big = {"airlines": tables["airlines"], "flights": tables["flights"].head(100)}  # 6 children per row: not a lookup
    assert propose_public(big, schema) == {}


def test_allocation_past_the_bound_makes_more_parents_of_the_typical_size():
    rng = np.random.default_rng(0)
    quotas = np.r_[1000, np.zeros(91)]
    counts = allocate(quotas, 3000, rng, np.full(92, 1000))
    assert counts.sum() == 3000 and counts.max() <= 1000
    assert (counts > 0).sum() == 3  # three hubs, not 1000 + a thin spread over 91 parents


def test_context_codes_looked_up_per_distinct_value_match_the_slow_path():
    from synthera._columns import category_codes
    from synthera.relational._cascade import _repeated_codes

    levels = ["a", "b", 3, 4.0]
    for values in (["a", "b", None, "z", "a"] * 50, [3, 4, 3, 5] * 50, [3.0, np.nan, 4.0] * 50,
                   [True, 1, "a", None] * 10):
        series = pd.Series(values)
        assert (_repeated_codes(series, levels) == category_codes(series, levels)).all(), values
