#!/usr/bin/env bash
# One local sweep through its life: create, agents in the background (`--workers 2`, the "first
# terminal"), pause, resume, a point that fails on its first run, `rerun`, `sweep --extend` (more grid
# values), cancel, and a resume that completes the grid; `sweepkit status` after each step. Quick
# trials (no training): each runs for a second, and longer while ./hold exists (so the walkthrough, not
# the machine's speed, decides when the trials it pauses or cancels end); the point a=3 fails on its
# first run only (a marker file remembers it failed once).
#   bash scripts/sweep_life.sh [DIR]       (DIR: where it works; default: a new temporary folder)
# Its output, as run on the project's CPU box, is docs/examples/sweep_life.txt.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}
WORK=${1:-$(mktemp -d -t sweep-life-XXXX)}
mkdir -p "$WORK"
cd "$WORK"
export SWEEPKIT_HOME=$WORK/.sweepkit PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH}
export WANDB_MODE=offline WANDB_SILENT=true MARK=$WORK/failed-once HOLD=$WORK/hold
sk() { "$PY" -m agent.cli "$@"; }
say() { printf '\n$ %s\n' "$*"; }
run() { say "sweepkit $*"; sk "$@"; }
show() { run status "$SWEEP" 2>&1 | sed 's/[[:space:]]*$//'; }
# wait_for WHAT PYTHON-EXPR: poll `status --json` (as `s`: its runs as `runs`) until EXPR holds.
wait_for() {
  local what=$1 expr=$2
  for _ in $(seq 600); do
    if sk status "$SWEEP" --json | "$PY" -c "
import json, sys
s = json.load(sys.stdin); runs = s['runs']
n = lambda state: sum(r['state'] == state for r in runs)
sys.exit(0 if ($expr) else 1)"; then return 0; fi
    sleep 0.5
  done
  echo "sweep_life: timed out waiting for $what" >&2
  exit 1
}

cat > prog.py <<'EOF'
import json, os, sys, time
args = json.loads(sys.argv[1])
time.sleep(float(args["sleep"]))
while os.path.exists(os.environ["HOLD"]):
    time.sleep(0.05)
if args["a"] == 3 and not os.path.exists(os.environ["MARK"]):
    open(os.environ["MARK"], "w").close()
    print("injected failure: a=3 fails on its first run", file=sys.stderr)
    sys.exit(1)
print(f"a={args['a']} done")
EOF
cat > sweep.yaml <<'EOF'
program: prog.py
command: ["${interpreter}", "${program}", "${args_json}"]
method: grid
parameters:
  a: {values: [1, 2, 3, 4, 5, 6]}
  sleep: {value: 1}
EOF
sed 's/values: \[1, 2, 3, 4, 5, 6\]/values: [1, 2, 3, 4, 5, 6, 7, 8]/' sweep.yaml > bigger.yaml

echo "# sweep_life: one local sweep, in $WORK"
say "sweepkit sweep sweep.yaml"
SWEEP=$(sk sweep sweep.yaml | tail -1)
echo "$SWEEP"

touch hold
say "sweepkit agent $SWEEP --workers 2 > agents.log 2>&1 &      # the first terminal"
sk agent "$SWEEP" --workers 2 > agents.log 2>&1 &
AGENTS=$!
wait_for "two running runs" "n('running') == 2"
run sweep --pause "$SWEEP"
show
say "rm hold      # the running trials go on to their end"
rm hold
wait_for "the running runs to end" "n('running') == 0"
show
for _ in $(seq 300); do grep -q "the sweep is paused: waiting" agents.log && break; sleep 0.2; done
say "cat agents.log      # the first terminal, so far: the two workers wait, and take nothing new"
cat agents.log

run sweep --resume "$SWEEP"
wait "$AGENTS"
echo "(the agents finished the grid and exited $?)"
show

run rerun "$SWEEP"
show
run agent "$SWEEP"
show

run sweep bigger.yaml --extend "$SWEEP"
show
touch hold
say "sweepkit agent $SWEEP --workers 2 > agents2.log 2>&1 &      # the first terminal again"
sk agent "$SWEEP" --workers 2 > agents2.log 2>&1 &
AGENTS=$!
wait_for "two running runs" "n('running') == 2"
run sweep --cancel "$SWEEP"
code=0
wait "$AGENTS" || code=$?
echo "(the agents stopped their runs and exited $code)"
show
run sweep --pause "$SWEEP" || true

rm hold
run sweep --resume "$SWEEP"
run agent "$SWEEP"
show

say "cat agents.log agents2.log      # what the first terminal showed"
cat agents.log agents2.log
