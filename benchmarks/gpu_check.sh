#!/usr/bin/env bash
# One-shot GPU benchmark for sweepkit (issue 5): run from the repo root on one H100/H200, no network.
#
#   bash benchmarks/gpu_check.sh                 # results in $OUT (else ./out/gpu), final table last
#   SWEEPKIT_SMOKE=1 PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh   # CPU smoke: every phase, tiny sizes
#
# Needs only the box's torch + transformers (+ click, rich, psutil, pynvml, ...) and the wheels in .whl/
# (wandb, optuna, datasets, evaluate and their missing deps), installed first into /tmp/site.
# Every phase writes its results to $OUT as it goes, cheap phases run first, and a hard internal
# budget (GPU_CHECK_BUDGET_S, default 450 s) skips what would not fit, so a timeout still leaves numbers.
[ -n "${SWEEPKIT_SMOKE:-}" ] || { python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD; } || echo "gpu_check: installing .whl/*.whl failed; phases that need wandb/optuna/datasets will fail, the rest still run"

PY=${PYTHON:-python3}
OUT=${OUT:-$PWD/out/gpu}
mkdir -p "$OUT"
BUDGET=${GPU_CHECK_BUDGET_S:-450}
T0=$SECONDS
export PYTHONPATH=${PYTHONPATH:-$PWD}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline WANDB_SILENT=true
export TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export SWEEPKIT_CACHE=${SWEEPKIT_CACHE:-/tmp/sweepkit-gpu-check/cache}
export SWEEPKIT_HOME=${SWEEPKIT_HOME:-/tmp/sweepkit-gpu-check/home}
SYN=${SYN:-/tmp/sweepkit-gpu-check/synthetic}

if [ -n "${SWEEPKIT_SMOKE:-}" ]; then
  export OMP_NUM_THREADS=1
  SMALL=(--small); AB=(--device cpu --steps 8 --variants all); AB_ONLY=0,1,8,10,3,12
  OVH=(--trials 2 --max-steps 5); THR=(--n-train 256 --epochs 1 --seeds 1 --gpus none --workers 2 --budget-s 240)
  SYN_ARGS=(--small --n-train 256 --n-dev 64)
else
  # step A/B order: baseline (trial defaults), tensor collator, logging 1 / 100, fp32 without tf32,
  # for-each AdamW, pin_memory off, then multiple-of-16 buckets without and with torch.compile (slowest, last)
  SMALL=(); AB=(--device cuda --steps 40 --variants all); AB_ONLY=0,1,5,6,8,10,11,3,12
  OVH=(--trials 3 --max-steps 30); THR=(--per-gpu "${PER_GPU:-8}" --budget-s 150)
  SYN_ARGS=()
fi

left() { echo $(( BUDGET - (SECONDS - T0) )); }
# phase NAME MAX_S MIN_S CMD...: runs CMD with stdout+stderr in $OUT/NAME.txt, under min(MAX_S, time left)
phase() {
  local name=$1 max=$2 min=$3; shift 3
  local t; t=$(left); [ "$t" -gt "$max" ] && t=$max
  if [ "$t" -lt "$min" ]; then
    echo "== $name: SKIPPED (time budget: ${t}s left of ${BUDGET}s, needs ${min}s)" | tee "$OUT/$name.txt"
    return
  fi
  echo "== $name (limit ${t}s, $(( SECONDS - T0 ))s elapsed)"
  local s=$SECONDS
  timeout -s INT -k 25 "$t" "$@" > "$OUT/$name.txt" 2>&1
  local rc=$?
  echo "$name rc=$rc seconds=$(( SECONDS - s ))" >> "$OUT/phases.txt"
  tail -n 14 "$OUT/$name.txt"
}

: > "$OUT/phases.txt"
phase 00_env 60 5 bash -c "nvidia-smi -L 2>&1; nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv 2>&1; nproc; $PY -c '
import importlib, sys
print(sys.version.split()[0])
for m in (\"torch\", \"transformers\", \"accelerate\", \"tokenizers\", \"wandb\", \"optuna\", \"datasets\", \"evaluate\", \"pynvml\", \"psutil\", \"rich\", \"click\", \"yaml\"):
    try:
        mod = importlib.import_module(m); print(m, getattr(mod, \"__version__\", \"ok\"))
    except Exception as e:
        print(m, \"MISSING:\", type(e).__name__, str(e)[:120])
import torch
print(\"cuda\", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"-\",
      \"bf16\", torch.cuda.is_available() and torch.cuda.is_bf16_supported())
'"
phase 01_synthetic 120 20 "$PY" -m benchmarks.synthetic "$SYN" "${SYN_ARGS[@]}"
cp "$SYN/manifest.json" "$OUT/01_synthetic.json" 2>/dev/null
# The throughput grid is the headline: it runs before the per-step A/B, which fills whatever time is left.
phase 02_trial_overhead 100 40 "$PY" -m benchmarks.trial_overhead --synthetic "$SYN" "${SMALL[@]}" \
  --arch distilbert-base "${OVH[@]}" --out "$OUT/02_trial_overhead.json"
phase 03_throughput 300 120 "$PY" -m benchmarks.sweep_throughput --mode gpu --synthetic "$SYN" "${SMALL[@]}" \
  "${THR[@]}" --out "$OUT/03_throughput.json"
phase 04_step_ab 200 30 "$PY" -m benchmarks.step_overhead "${AB[@]}" --model-dir "$SYN/bert-base" \
  --train-file "$SYN/data/train.csv" --only "$AB_ONLY" --out "$OUT/04_step_ab.jsonl"

echo
echo "================ gpu_check summary ($(( SECONDS - T0 ))s; files in $OUT) ================"
"$PY" - "$OUT" <<'EOF' | tee "$OUT/summary.txt"
import json, os, sys
out = sys.argv[1]
def load(name):
    try:
        with open(os.path.join(out, name)) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None
def lines(name):
    try:
        with open(os.path.join(out, name)) as fh:
            return [json.loads(l) for l in fh if l.strip()]
    except (OSError, ValueError):
        return []
print(open(os.path.join(out, "phases.txt")).read().strip())
env = open(os.path.join(out, "00_env.txt")).read().strip().splitlines() if os.path.exists(os.path.join(out, "00_env.txt")) else []
print("device:", next((l for l in env if l.startswith("cuda ")), "?"))
t = load("03_throughput.json")
if t and t.get("classic") and t.get("sweepkit"):
    c, f = t["classic"], t["sweepkit"]
    print(f"\n{'way':38s} {'trials':>6s} {'wall s':>8s} {'s/trial':>8s} {'trials/h':>9s} {'mean acc':>9s}")
    for r in (c, f):
        m = f"{r['metric_mean']:.4f}" if r.get("metric_mean") is not None else "-"
        print(f"{r['way']:38s} {r['finished']:>6d} {r['wall_s']:>8.1f} {r['s_per_trial']:>8.2f} {r['trials_per_hour'] or 0:>9.1f} {m:>9s}")
    print(f"classic s/trial by model (measured): " + ", ".join(f"{os.path.basename(k)} {v:.1f}" for k, v in c["runtime_by_model"].items()))
    print(f"sweepkit mean trial runtime by model (packed): " + ", ".join(f"{os.path.basename(k)} {v:.1f}" for k, v in f["runtime_by_model"].items()))
    if t.get("classic_grid_s"):
        print(f"classic way EXTRAPOLATED to the full grid: {t['classic_grid_s']:.0f} s; sweepkit measured {f['wall_s']:.0f} s "
              f"for {f['finished']} trials -> {t.get('ratio_vs_extrapolated') or 0:.1f}x trials/hour (target >= 8x)")
elif t and t.get("classic"):
    print("throughput: only the classic subset finished:", t["classic"])
else:
    print("throughput: no result (see 03_throughput.txt)")
o = load("02_trial_overhead.json")
if o:
    cold = [r["overhead_s"] for r in o["cold"] if r.get("overhead_s") is not None]
    warm = [r["overhead_s"] for r in o["warm"][1:] if r.get("overhead_s") is not None]
    if cold and warm:
        print(f"\ntrial overhead outside the train loop: cold {sum(cold)/len(cold):.2f} s, warm (after the first) "
              f"{sum(warm)/len(warm):.2f} s (target <= 2 s); fresh-process import {o.get('import_s', 0):.1f} s")
ab = [r for r in lines("04_step_ab.jsonl") if r.get("what") == "variant"]
if ab:
    base = next((r for r in ab if "error" not in r), None)
    print(f"\n{'per-step A/B (bert-base, batch 32)':52s} {'ms/step':>8s} {'vs first':>9s}")
    for r in ab:
        if "error" in r:
            print(f"{r['name']:52s} error: {r['error'][:70]}")
        else:
            print(f"{r['name']:52s} {r['step_ms_median']:8.1f} {base['step_ms_median'] / r['step_ms_median']:8.2f}x")
cm = next((r for r in lines("04_step_ab.jsonl") if r.get("what") == "collate_micro"), None)
if cm:
    print(f"collation per batch: hf pad lists {cm['hf_pad_lists_ms']:.2f} ms, tensor collator {cm['tensor_collator_ms']:.2f} ms")
EOF
