#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite, model tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/gongkai ] || bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy extraction service
.venv/bin/python -m pytest -q -n 2 -m "not load" "$@"
# timed load tests on an otherwise idle machine
.venv/bin/python -m pytest -q -m load "$@"
