#!/usr/bin/env bash
# `make demo`: the smoke sweep as a local (offline) sweep, end to end on CPU, then the report.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SWEEP=${SWEEP:-sweeps/smoke.yaml}
export SWEEPKIT_HOME=${SWEEPKIT_HOME:-$PWD/.sweepkit}
export WANDB_MODE=${WANDB_MODE:-offline} WANDB_SILENT=${WANDB_SILENT:-true}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false
sk() { "$PY" -m agent.cli "$@"; }

[ -f "$SWEEP" ] || { echo "demo: $SWEEP not found (it ships with the trial runner)" >&2; exit 1; }
start=$(date +%s)
sk validate "$SWEEP"
id=$(sk sweep "$SWEEP" | tail -1)
echo "demo: sweep $id"
# Two warm workers on a 2-core box: ~3x the throughput of one cold agent (benchmarks/README.md).
sk agent "$id" --workers "${WORKERS:-2}" ${COUNT:+--count "$COUNT"}
sk status "$id"
report_line=$(sk report "$id" --out "out/report-$id" | tail -1) || report_line="(report failed; see above)"
echo
echo "demo: smoke sweep $id finished in $(( $(date +%s) - start )) s (wall)"
echo "  sweep state + runs : $SWEEPKIT_HOME/sweeps/$id/  (sweepkit status $id --json)"
echo "  offline W&B runs   : $SWEEPKIT_HOME/sweeps/$id/runs/<run id>/wandb/"
echo "  report             : $report_line"
echo "  upload to W&B later: sweepkit sync $id --project <P> --dry-run"
