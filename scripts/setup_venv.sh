#!/usr/bin/env bash
# `make venv`: the project's virtualenv with the CPU torch wheel and sweepkit (editable, with dev tools).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/step.sh
PYTHON=${PYTHON:-python3} VENV=${VENV:-.venv} TORCH=${TORCH:-torch==2.13.0}
LOG=${SETUP_LOG:-$VENV.setup.log}
: >"$LOG"
echo "setup: creating $VENV (log: $LOG)"
step "create the virtualenv" "$LOG" "$PYTHON" -m venv "$VENV"
step "upgrade pip" "$LOG" "$VENV/bin/python" -m pip install --upgrade pip
# The CPU wheel on dev/CI boxes; a plain `torch` would pull a multi-GB CUDA build.
step "install $TORCH" "$LOG" "$VENV/bin/python" -m pip install "$TORCH"
step "install sweepkit[dev]" "$LOG" "$VENV/bin/python" -m pip install -e '.[dev]'
# W&B's own sweep engine, only as a test oracle: its metadata pins numpy<2, its code runs on numpy 2.
step "install the test oracle (sweeps, no deps)" "$LOG" "$VENV/bin/python" -m pip install --no-deps 'sweeps==0.3.0'
touch "$VENV/.sweepkit-installed"
