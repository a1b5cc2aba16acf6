#!/usr/bin/env bash
# Create benchmarks/.venv-peers, the isolated venv for peer synthesizers (SDV) and scoring.
#
#   bash benchmarks/peers/setup.sh            # from the repo root (or from anywhere)
#   PYTHON=python3 bash benchmarks/peers/setup.sh
#
# Idempotent: if the venv exists, imports sdv, sdmetrics, xgboost, sklearn, pyarrow and
# torch 2.13.0, and has pandas < 3, it does nothing. torch==2.13.0 (the local CPU wheel)
# goes in first, so sdv's torch requirement is already met and no CUDA build is downloaded.
#
# SDV, ctgan, rdt and copulas are BUSL-1.1: they live only in this venv, never in .venv.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$(cd "$HERE/.." && pwd)/.venv-peers"
PYTHON="${PYTHON:-python3.11}"
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --quiet --disable-pip-version-check)
CHECK='import sdv, sdmetrics, xgboost, sklearn, torch, pandas, pyarrow; assert torch.__version__.startswith("2.13.0"), torch.__version__; assert int(pandas.__version__.split(".")[0]) < 3'

if [ -x "$PY" ] && "$PY" -c "$CHECK" >/dev/null 2>&1; then
    echo "peers venv ok: $VENV"
    exit 0
fi

command -v "$PYTHON" >/dev/null 2>&1 || { echo "error: $PYTHON not found; set PYTHON=python3" >&2; exit 2; }
[ -x "$PY" ] || "$PYTHON" -m venv "$VENV"
"${PIP[@]}" --upgrade pip
"${PIP[@]}" "torch==2.13.0"
# Keep torch pinned while installing the rest, so nothing can swap it for a CUDA build.
"${PIP[@]}" -r "$HERE/requirements.txt"
"$PY" -c "$CHECK"
"$PY" -m pip check
echo "peers venv ready: $VENV"
