#!/usr/bin/env bash
# Create .venv and install gongkai with its test tools (CPU-only torch, pinned).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# torch first, alone and pinned, so no resolver step can reach for a CUDA build.
.venv/bin/python -m pip install -q -c constraints.txt torch==2.13.0
.venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
# The table-structure recogniser gongkai is compared with (bench/table_recogniser_compare.py):
# its wheel ships the SLANet_plus ONNX model; --no-deps because it declares opencv-python, which
# would sit beside our opencv-python-headless (everything else it needs is already installed).
.venv/bin/python -m pip install -q --no-deps rapid_table==0.3.0
