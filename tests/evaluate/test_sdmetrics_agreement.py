"""column_shapes and column_pair_trends agree with SDMetrics (a test-only dependency).

SDMetrics runs in this venv when installed; otherwise in the peers venv
(benchmarks/.venv-peers) through a subprocess; otherwise the tests are skipped.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from synthera.evaluate import evaluate

TOLERANCE = 0.005
PEERS_PYTHON = Path(__file__).resolve().parents[2] / "benchmarks" / ".venv-peers" / "bin" / "python"

# Reference scores, the way SDMetrics' QualityReport prepares data (dates parsed first). The same
# code runs in this process when sdmetrics is importable, or in the peers venv otherwise.
_REFERENCE = textwrap.dedent(
    """
    import warnings
    import pandas as pd

    def score(real, syn, meta):
        warnings.filterwarnings("ignore")
        from sdmetrics.reports.single_table import QualityReport
        from sdmetrics.reports.single_table._properties import ColumnPairTrends
        for name, col in meta["columns"].items():
            if col["sdtype"] == "datetime":
                real[name] = pd.to_datetime(real[name], format=col["datetime_format"])
                syn[name] = pd.to_datetime(syn[name], format=col["datetime_format"])
        report = QualityReport()
        report.generate(real, syn, meta, verbose=False)
        props = report.get_properties().set_index("Property")["Score"]
        return {
            "column_shapes": float(props["Column Shapes"]),
            "column_pair_trends": float(ColumnPairTrends().get_score(real, syn, meta)),
            "quality_report_pair_trends": float(props["Column Pair Trends"]),
        }
    """
)
_MAIN = "import json, sys, pandas as pd\n" + _REFERENCE + (
    "\nprint(json.dumps(score(pd.read_pickle(sys.argv[1]), pd.read_pickle(sys.argv[2]), json.load(open(sys.argv[3])))))"
)


def _in_process() -> bool:
    try:
        import sdmetrics  # noqa: F401
    except ImportError:
        if not PEERS_PYTHON.exists():
            pytest.skip("sdmetrics is not installed here nor in benchmarks/.venv-peers; pip install sdmetrics to run")
        return False
    return True


def sdmetrics_scores(real: pd.DataFrame, syn: pd.DataFrame, metadata: dict, tmp_path: Path) -> dict:
    if _in_process():
        namespace: dict = {}
        exec(_REFERENCE, namespace)  # noqa: S102 - our own constant code
        return namespace["score"](real.copy(), syn.copy(), metadata)
    paths = [tmp_path / "real.pkl", tmp_path / "syn.pkl", tmp_path / "meta.json"]
    real.to_pickle(paths[0])
    syn.to_pickle(paths[1])
    paths[2].write_text(json.dumps(metadata))
    done = subprocess.run([str(PEERS_PYTHON), "-c", _MAIN, *map(str, paths)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def sdmetrics_metadata(md) -> dict:
    columns = {}
    for name, col in md.columns.items():
        if col.kind in ("numerical", "categorical", "boolean"):
            columns[name] = {"sdtype": col.kind}
        elif col.kind == "datetime":
            columns[name] = {"sdtype": "datetime", "datetime_format": col.datetime_format}
        else:
            columns[name] = {"sdtype": "id"}
    return {"columns": columns}


def _check(real, syn, tmp_path):
    import synthera

    md = synthera.infer_metadata(real)
    ours = evaluate(real, syn, metadata=md, metrics=["column_shapes", "column_pair_trends"])["fidelity"]
    theirs = sdmetrics_scores(real, syn, sdmetrics_metadata(md), tmp_path)
    assert ours["column_shapes"] == pytest.approx(theirs["column_shapes"], abs=TOLERANCE)
    assert ours["column_pair_trends"] == pytest.approx(theirs["column_pair_trends"], abs=TOLERANCE)
    assert ours["column_pair_trends_strong"] == pytest.approx(theirs["quality_report_pair_trends"], abs=TOLERANCE)
    return ours, theirs


def test_agrees_on_the_sdmetrics_demo(tmp_path):
    if _in_process():
        import sdmetrics

        real, syn, _ = sdmetrics.load_demo("single_table")
        real, syn = real["student_placements"], syn["student_placements"]
    else:
        code = ("import sdmetrics, sys; r, s, m = sdmetrics.load_demo('single_table'); "
                "r['student_placements'].to_pickle(sys.argv[1]); s['student_placements'].to_pickle(sys.argv[2])")
        subprocess.run([str(PEERS_PYTHON), "-c", code, str(tmp_path / "r.pkl"), str(tmp_path / "s.pkl")], check=True)
        real, syn = pd.read_pickle(tmp_path / "r.pkl"), pd.read_pickle(tmp_path / "s.pkl")
    ours, _ = _check(real, syn, tmp_path)
    assert ours["column_pair_trends"] < 0.9  # a demo pair with real differences, not a trivial match


def test_agrees_on_adult(tmp_path):
    import synthera
    from synthera.tabular import get_synthesizer

    train, _ = synthera.datasets.load("adult")
    syn = get_synthesizer("cascade")().fit(train).sample(len(train), seed=0)
    _check(train, syn, tmp_path)
