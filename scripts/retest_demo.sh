#!/usr/bin/env bash
# `make retest-demo`: re-run the demo sweep's top configs on fresh seeds, then report both together.
# SWEEP=<id> picks the sweep (default: the newest local sweep, i.e. the last `make demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export SWEEPKIT_HOME=${SWEEPKIT_HOME:-$PWD/.sweepkit}
export WANDB_MODE=${WANDB_MODE:-offline} WANDB_SILENT=${WANDB_SILENT:-true}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false
sk() { "$PY" -m agent.cli "$@"; }

id=${SWEEP:-$(sk sweeps --json 2>/dev/null | "$PY" -c '
import json, sys
rows = [s for s in json.load(sys.stdin) if not str(s.get("config", {}).get("name", "")).startswith("retest-")]
print(max(rows, key=lambda s: s.get("created_at") or "")["id"] if rows else "")')}
[ -n "$id" ] || { echo "retest-demo: no sweep to re-test; run \`make demo\` first (or pass SWEEP=<id>)" >&2; exit 1; }
start=$(date +%s)
retest=$(sk retest "$id" --top "${TOP:-2}" --seeds "${SEEDS:-3}" --out "out/retest-$id.yaml" | tail -1)
sk agent "$retest" --workers "${WORKERS:-2}"
report_line=$(sk report "$id" --retest "$retest" --out "out/report-$id" | tail -1) || report_line="(report failed; see above)"
echo
echo "retest-demo: re-test $retest of sweep $id finished in $(( $(date +%s) - start )) s (wall)"
echo "  re-test sweep YAML : out/retest-$id.yaml"
echo "  report             : $report_line"
