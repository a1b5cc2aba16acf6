#!/usr/bin/env bash
# Create benchmarks/.venv-tf449: the software FLock's loss validator pins, for benchmarks/validator_parity.py.
#
#   bash benchmarks/peers/setup_tf449.sh          # from the repo root (or from anywhere)
#   PYTHON=python3 bash benchmarks/peers/setup_tf449.sh
#
# FLock-io/llm-loss-validator (HEAD 7b6f484) pins transformers==4.49.0 and huggingface-hub==0.29.1 and asks for
# peft>=0.10.0 and accelerate>=0.27.2 (Trainer.evaluate needs accelerate). peft is pinned to 0.14.0, the release
# current when transformers 4.49 came out (the validator's image takes whatever peft was newest when it was built).
# torch==2.13.0 (the local CPU wheel) goes in FIRST and stays pinned, so nothing pulls a multi-GB CUDA build.
#
# Idempotent: if the venv already imports these exact versions, it does nothing. Never imported by synthera/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$(cd "$HERE/.." && pwd)/.venv-tf449"
PYTHON="${PYTHON:-python3.11}"
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --quiet --disable-pip-version-check)
TORCH="torch==2.13.0"
PINS=("transformers==4.49.0" "tokenizers>=0.21,<0.22" "huggingface-hub==0.29.1" "peft==0.14.0"
      "accelerate>=0.27.2,<1.5" "safetensors" "numpy<3")
CHECK='import torch, transformers, peft, accelerate
assert torch.__version__.startswith("2.13.0"), torch.__version__
assert transformers.__version__ == "4.49.0", transformers.__version__
assert peft.__version__ == "0.14.0", peft.__version__'

if [ -x "$PY" ] && "$PY" -c "$CHECK" >/dev/null 2>&1; then
    echo "tf449 venv ok: $VENV"
    exit 0
fi

command -v "$PYTHON" >/dev/null 2>&1 || { echo "error: $PYTHON not found; set PYTHON=python3" >&2; exit 2; }
[ -x "$PY" ] || "$PYTHON" -m venv "$VENV"
"${PIP[@]}" --upgrade pip
"${PIP[@]}" "$TORCH"
# torch stays pinned on the same command line, so no requirement below can swap it for a CUDA build.
"${PIP[@]}" "$TORCH" "${PINS[@]}"
"$PY" -c "$CHECK"
"$PY" -m pip check
echo "tf449 venv ready: $VENV"
