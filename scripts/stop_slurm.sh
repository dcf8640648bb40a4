#!/usr/bin/env bash
# Stops the test cluster that start_slurm.sh started (its jobs too) and removes its dir. munge is
# left running: it is a system service other SLURM clients on this host may share.
set -uo pipefail
DIR=${SWEEPKIT_SLURM_DIR:-${TMPDIR:-/tmp}/sweepkit-slurm-$(id -u)}
export SLURM_CONF=$DIR/slurm.conf
[ -d "$DIR" ] || exit 0
if [ -f "$SLURM_CONF" ] && command -v scancel >/dev/null 2>&1; then
  timeout 10 scancel --full --signal=KILL --user="$(id -un)" >/dev/null 2>&1 || true
  # Let slurmd reap them: a job step outlives a slurmd stopped under it.
  for _ in $(seq 50); do [ -z "$(timeout 5 squeue -h -t all 2>/dev/null)" ] && break; sleep 0.2; done
fi
for name in slurmd slurmctld; do
  pid=$(cat "$DIR/$name.pid" 2>/dev/null) || continue
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || continue
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null
done
rm -rf "$DIR"
