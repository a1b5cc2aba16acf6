"""The HTML report of a database evaluation: the schema graph with each relationship's score, per-table fidelity."""

from __future__ import annotations

import json
import re

import pandas as pd

from synthera.relational import RelationalSynthesizer, evaluate_database
from tests.relational.conftest import shop


def test_report_draws_the_schema_graph_with_scores(tmp_path):
    real, schema = shop(n_customers=80)
    synthetic = RelationalSynthesizer().fit(real, schema=schema).sample(seed=0)
    result = evaluate_database(real, synthetic, schema)
    json.dumps(result)  # still a plain results dict
    assert set(result["tables"]) == set(real)
    assert 0 < result["tables"]["orders"]["column_shapes"] <= 1
    html = result.to_html()
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    svg = re.search(r'<figure class="plot" data-plot="schema-graph">(<svg.*?</svg>)</figure>', html).group(1)
    for t in real:
        assert f'data-table="{t}"' in svg
    for fk in schema.foreign_keys:  # one arrow per foreign key, its cardinality score on it
        card = result["cardinality"]["foreign_keys"][fk.name]
        assert f'data-fk="{fk.name}"' in svg
        assert f"{'+'.join(fk.columns)}: card {card:.2f}" in svg
    # parents are drawn above their children
    y = {t: float(m) for t, m in re.findall(r'data-table="(\w+)"><rect x="[\d.]+" y="([\d.]+)"', svg)}
    assert y["customers"] < y["orders"] < y["items"] and y["products"] < y["items"]
    assert "Per-table fidelity" in html and "Relationships" in html
    path = result.save_html(tmp_path / "report.html")
    assert path.read_text(encoding="utf-8") == html


def test_report_handles_self_reference_and_failed_metrics():
    people = pd.DataFrame({"id": range(1, 41), "boss": [None] + [i // 3 + 1 for i in range(1, 40)],
                           "age": [20 + i % 30 for i in range(40)]})
    people["boss"] = people["boss"].astype("Int64")
    spec = {"tables": {"people": {"primary_key": ["id"]}},
            "foreign_keys": [{"child": "people", "columns": ["boss"], "parent": "people", "parent_columns": ["id"],
                              "nullable": True}]}
    model = RelationalSynthesizer().fit({"people": people}, schema=spec)
    result = evaluate_database({"people": people}, model.sample(seed=0), model.schema_)
    result["privacy"] = {"error": "ValueError: broken"}
    html = result.to_html()
    assert 'data-fk="people.boss"' in html and "Metrics that failed" in html
