"""Schema: JSON round trip, order, cycles, bad input as one line, key inference with evidence."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synthera.errors import MetadataError, UserInputError
from synthera.relational import Schema, count_orphans, infer_schema
from tests.relational.conftest import company, flights_like, shop


def test_json_round_trip_is_versioned_and_editable(tmp_path):
    _, schema = shop()
    path = schema.save(tmp_path / "shop.schema.json")
    data = json.loads(path.read_text())
    assert data["format_version"] == 1 and data["format"] == "synthera-schema"
    data["foreign_keys"][0]["orphans"] = "drop"  # a user edit
    path.write_text(json.dumps(data))
    again = Schema.load(path)
    assert again.foreign_keys[0].orphans == "drop"
    assert again.tables["items"].primary_key == ["order_id", "line"]


def test_newer_format_is_refused():
    with pytest.raises(MetadataError, match="newer"):
        Schema.from_dict({"format_version": 99, "tables": {}})


def test_order_puts_parents_first_and_breaks_cycles_at_nullable_keys():
    _, schema = shop()
    order = schema.order()
    assert order.index("customers") < order.index("orders") < order.index("items")
    assert order.index("products") < order.index("items")
    _, cyc = company()
    assert cyc.cycles() == [["departments", "employees"]]
    assert cyc.broken_edges() == ["departments.head"]
    assert cyc.order().index("departments") < cyc.order().index("employees")


def test_cycle_without_nullable_key_is_one_line_naming_tables():
    _, cyc = company()
    cyc.foreign_keys[0].nullable = False
    with pytest.raises(UserInputError) as err:
        cyc.order()
    msg = str(err.value)
    assert "\n" not in msg and "departments" in msg and "employees" in msg and "nullable" in msg


def test_foreign_key_to_missing_table_or_column():
    with pytest.raises(UserInputError, match="'ghosts'"):
        Schema.from_dict({"tables": {"a": {}}, "foreign_keys": [
            {"child": "a", "columns": ["g"], "parent": "ghosts", "parent_columns": ["id"]}]})
    tables, schema = shop()
    schema.foreign_keys[0].parent_columns = ["nope"]
    with pytest.raises(UserInputError, match=r"customers\.nope") as err:
        schema.check(tables)
    assert "\n" not in str(err.value)


def test_duplicate_primary_key_values_are_counted_not_quoted():
    tables, schema = shop()
    tables["customers"].loc[1, "id"] = 1
    with pytest.raises(UserInputError, match=r"customers\.id has 1 duplicate") as err:
        schema.check(tables)
    assert "\n" not in str(err.value)


def test_unknown_table_in_subset():
    _, schema = shop()
    with pytest.raises(UserInputError, match="unknown table 'nope'"):
        schema.subset(["customers", "nope"])


def test_orphans_are_counted():
    tables, schema = flights_like()
    fk = next(f for f in schema.foreign_keys if f.name == "flights.dest")
    assert count_orphans(tables, fk) == {"rows": 600, "null": 0, "orphans": 30}
    fk = next(f for f in schema.foreign_keys if f.name == "flights.tailnum")
    assert count_orphans(tables, fk)["null"] == 30


def test_inference_finds_keys_with_evidence():
    tables, declared = shop()
    schema = infer_schema(tables)
    assert schema.tables["customers"].primary_key == ["id"]
    assert schema.tables["orders"].primary_key == ["order_id"]
    found = {(fk.child, fk.columns[0], fk.parent) for fk in schema.foreign_keys}
    assert found == {("orders", "customer_id", "customers"), ("items", "order_id", "orders"),
                     ("items", "product_id", "products")}
    ev = schema.foreign_keys[0].evidence
    assert ev["containment"] == 1.0 and ev["orphans"] == 0 and ev["name_match"] is True


def test_inference_by_name_allows_a_small_orphan_share():
    planes = pd.DataFrame({"tailnum": [f"N{i}" for i in range(20)], "seats": range(20)})
    flights = pd.DataFrame({"tailnum": [f"N{i % 25}" for i in range(100)], "delay": np.arange(100.0)})
    schema = infer_schema({"planes": planes, "flights": flights})
    (fk,) = schema.foreign_keys
    assert (fk.child, fk.parent, fk.parent_columns) == ("flights", "planes", ["tailnum"])
    assert fk.evidence["orphans"] == 20 and fk.evidence["containment"] == 0.8


def test_inference_does_not_link_plain_numbers():
    a = pd.DataFrame({"id": range(1, 101), "qty": np.arange(100) % 5 + 1})
    b = pd.DataFrame({"id": range(1, 11), "name": list("abcdefghij")})
    assert infer_schema({"a": a, "b": b}).foreign_keys == []


def test_two_hundred_tables_and_empty_tables():
    spec = {"tables": {f"t{i}": {"primary_key": ["id"]} for i in range(200)},
            "foreign_keys": [{"child": f"t{i}", "columns": ["p"], "parent": f"t{i - 1}", "parent_columns": ["id"]}
                             for i in range(1, 200)]}
    schema = Schema.from_dict(spec)
    assert schema.order() == [f"t{i}" for i in range(200)]
    assert schema.cycles() == []


def test_a_history_table_with_several_foreign_keys_names_its_entity():
    tables, schema = flights_like()
    schema.tables["flights"].sequence_index = "delay"
    with pytest.raises(UserInputError) as err:
        schema.check(tables)
    msg = str(err.value)
    assert "\n" not in msg and "sequence_key" in msg and "tailnum" in msg and "flights" in msg
    schema.tables["flights"].sequence_key = ["tailnum"]
    schema.check(tables)
    assert schema.sequence_foreign_key("flights").name == "flights.tailnum"
    again = Schema.from_json(schema.to_json())
    assert again.tables["flights"].sequence_key == ["tailnum"]
    assert json.loads(schema.to_json())["format_version"] == 2
