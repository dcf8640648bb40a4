#!/usr/bin/env bash
# Installs the system packages the test suite drives for real: Debian chromium (the report is
# checked in a real browser), PostgreSQL (the shared-store test) and SLURM with munge (the job-array
# tests run on a real one-node cluster, scripts/start_slurm.sh). Idempotent. Without root or
# apt-get it installs nothing and says so; the tests that need them then skip, naming why.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/step.sh
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
{ command -v slurmctld && command -v slurmd && command -v sbatch; } >/dev/null 2>&1 || need+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || need+=(munge)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "system_deps: cannot install ${need[*]} (not root or no apt-get); the tests needing them will skip" >&2
  exit 0
fi
LOG=${SYSTEM_DEPS_LOG:-.venv.system-deps.log}
echo "system_deps: installing ${need[*]} (log: $LOG)"
export DEBIAN_FRONTEND=noninteractive
step "apt-get update" "$LOG" apt-get update -q || exit 1
step "apt-get install ${need[*]}" "$LOG" apt-get install -y -q --no-install-recommends "${need[@]}" || exit 1
