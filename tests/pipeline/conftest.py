"""Helpers for the pipeline tests: small tables on disk and pipeline files written from dicts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def events(workspace: Path) -> list[dict]:
    """The events of ``run.jsonl`` (every run appended)."""
    log = workspace / "run.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def last_run(workspace: Path) -> list[dict]:
    found = events(workspace)
    if not found:
        return []
    run = found[-1]["run"]
    return [e for e in found if e["run"] == run]


def ran(workspace: Path) -> list[str]:
    """The steps the last run started (not the cached ones)."""
    return [e["step"] for e in last_run(workspace) if e["event"] == "step-start"]


@pytest.fixture
def small_table(tmp_path) -> Path:
    """A 300-row table with a biased income column (CSV)."""
    sys.path.insert(0, str(ROOT))
    from tests.helpers import biased_frame

    path = tmp_path / "people.csv"
    biased_frame(300).to_csv(path, index=False)
    return path
