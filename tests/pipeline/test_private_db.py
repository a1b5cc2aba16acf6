"""The private-db example end to end on a tiny shop database: relational synthesis, Text-to-SQL over the synthetic
database (grammar questions, no LLM), a LoRA adapter on a tiny model, the comparison, and a FLock submission to a
local emulated server with an emulated Hub upload."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from synthera.cli import app
from tests.flock.conftest import API_KEY, fake_hub, flock_server, secrets_env  # noqa: F401 - fixtures
from tests.flock.tiny_lm import build_tiny_model
from tests.pipeline.conftest import ROOT, ran, write_yaml
from tests.relational.conftest import shop

runner = CliRunner()


@pytest.fixture
def tiny_model(tmp_path):
    """The tiny Llama of the FLock tests, with room for a four-table schema in its prompts."""
    folder = build_tiny_model(tmp_path / "tiny-model")
    config = json.loads((folder / "config.json").read_text())
    config["max_position_embeddings"] = 4096  # rotary positions: the weights do not depend on it
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_the_private_db_example_runs_end_to_end(tmp_path, flock_server, fake_hub, secrets_env, tiny_model):  # noqa: F811
    from synthera.relational import write_database

    tables, schema = shop(40)
    write_database(tables, schema, tmp_path / "shop.db")
    spec = yaml.safe_load((ROOT / "examples" / "private-db.yaml").read_text())
    steps = {s["id"]: s for s in spec["steps"]}
    steps["questions"]["params"].update(model="template", n=12)
    steps["test-questions"]["params"].update(model="template", n=4)
    steps["finetune"]["params"].update(model=str(tiny_model), max_steps=2, batch_size=4, lora_r=4, lora_alpha=8,
                                       max_length=2048, template="qwen1.5")
    steps["compare"]["params"].update(model=str(tiny_model), template="qwen1.5", limit=4, max_new_tokens=8)
    steps["submit"]["params"].update(base_url=flock_server.base_url)
    file = write_yaml(tmp_path / "private-db.yaml", spec)

    plan = runner.invoke(app, ["run", str(file), "--dry-run"])
    assert "FLOCK_API_KEY (set), HF_TOKEN (set)" in plan.stdout, plan.stderr
    assert API_KEY not in plan.stdout
    result = runner.invoke(app, ["run", str(file)])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    ws = tmp_path / "shop-work"
    assert ran(ws) == ["fit", "sample", "evaluate", "questions", "test-questions", "finetune", "compare", "submit"]
    receipt = json.loads((ws / "submit" / "receipt.json").read_text())
    assert receipt["response"]["status"] == "submitted"
    sent = [r for r in flock_server.requests if r["path"].endswith("/tasks/submit-result")]
    assert sent and sent[0]["body"]["data"]["hg_repo_id"] == "your-name/shop-sql-adapter"
    uploaded = fake_hub.repos["your-name/shop-sql-adapter"]["revisions"]
    assert sent[0]["body"]["data"]["revision"] in uploaded  # the adapter was uploaded first, then submitted
    compared = json.loads((ws / "compare" / "results.json").read_text())
    assert set(compared["results"]) == {"baseline", "fine-tuned"}
    assert "referential_integrity" in json.loads((ws / "evaluate" / "results.json").read_text())
    assert API_KEY not in (ws / "dossier.html").read_text() + (ws / "run.jsonl").read_text()
