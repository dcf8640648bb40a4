#!/usr/bin/env bash
# Starts (or reuses) a private one-node SLURM cluster for the tests and prints its slurm.conf path.
# Config, state, spool, logs and pid files live under one throw-away dir (SWEEPKIT_SLURM_DIR, default
# ${TMPDIR:-/tmp}/sweepkit-slurm-<uid>); `scripts/stop_slurm.sh` stops the daemons and removes it.
# Every slurm command must then see SLURM_CONF=<that dir>/slurm.conf (scripts/test_env.sh exports it).
# Needs root (slurmd starts each job as its user) and Debian's slurm-wlm + munge: exit 3 without them.
# SWEEPKIT_SLURM_CPUS=N declares N CPUs on the node whatever it has (config_overrides), for a benchmark
# that runs hundreds of light tasks at once; with another SWEEPKIT_SLURM_DIR and _PORT it runs beside
# the tests' cluster.
# Idempotent: a cluster that answers is reused; daemons or state left by a killed run are cleared first.
set -euo pipefail
DIR=${SWEEPKIT_SLURM_DIR:-${TMPDIR:-/tmp}/sweepkit-slurm-$(id -u)}
# Not SLURM's default ports (6817/6818), so a site's own cluster on this host is left alone.
PORT=${SWEEPKIT_SLURM_PORT:-56817}
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF
say() { echo "start_slurm: $*" >&2; }

[ "$(id -u)" = 0 ] || { say "needs root (slurmd starts each job as the user who submitted it)"; exit 3; }
for bin in slurmctld slurmd sbatch squeue scontrol munged munge; do
  command -v "$bin" >/dev/null 2>&1 || { say "$bin not found: apt-get install slurm-wlm munge"; exit 3; }
done

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { say "$what did not happen within the deadline"; return 1; }
    sleep 0.2
  done
}

munge_ok() { munge -n </dev/null | unmunge >/dev/null; }

start_munge() {
  munge_ok 2>/dev/null && return 0
  # munged refuses root-owned dirs or logs ("Logfile is insecure") and refuses to run as root.
  mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
  chmod 0755 /run/munge
  chmod 0700 /var/log/munge /etc/munge
  [ -e /var/log/munge/munged.log ] && chown munge:munge /var/log/munge/munged.log
  if [ ! -s /etc/munge/munge.key ]; then
    runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
  fi
  # A munged killed uncleanly leaves its socket and pid file behind; --force starts over them.
  runuser -u munge -- munged --force
  wait_for 20 "munge answering" munge_ok
}

ours_alive() {  # ours_alive PIDFILE NAME: the pid file names a live process called NAME
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

cluster_up() {
  scontrol ping 2>/dev/null | grep -q "is UP" || return 1
  sinfo -h -N -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'
}

write_conf() {
  local host node mem
  host=$(hostname -s)
  # The node as slurmd sees it (CPUs, sockets, cores), with memory a little under what it reports:
  # a node configured with more memory than it has is drained at registration.
  node=$(slurmd -C | head -n 1 | sed -E 's/ RealMemory=[0-9]+//')
  mem=$(slurmd -C | head -n 1 | sed -nE 's/.*RealMemory=([0-9]+).*/\1/p')
  mem=$((mem * 9 / 10))
  local overrides=""
  if [ -n "${SWEEPKIT_SLURM_CPUS:-}" ]; then
    node="NodeName=$host CPUs=$SWEEPKIT_SLURM_CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$SWEEPKIT_SLURM_CPUS ThreadsPerCore=1"
    overrides="SlurmdParameters=config_overrides"
  fi
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
  cat >"$CONF" <<EOF
# The tests' one-node cluster (scripts/start_slurm.sh); throw-away, all state under $DIR.
ClusterName=sweepkit
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# No cgroups: the process tree is tracked by parent pid, tasks are not pinned.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
$overrides
# Accounting is off, as on many small clusters: job state is read with squeue / scontrol.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
$node RealMemory=$mem NodeAddr=127.0.0.1 State=UNKNOWN
# FORCE:8 lets an array oversubscribe the few CPUs of a test box (up to 8 tasks per CPU).
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
EOF
}

stop_stale() {  # daemons of an earlier run that no longer answer, then their pid files
  local name pidfile pid
  for name in slurmctld slurmd; do
    pidfile=$DIR/$name.pid
    if ours_alive "$pidfile" "$name"; then
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then
        say "an earlier $name ($pid) ignored SIGTERM; SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
      fi
    fi
    rm -f "$pidfile"
  done
}

start_munge
if [ -f "$CONF" ] && cluster_up; then
  echo "$CONF"
  exit 0
fi
stop_stale
rm -rf "$DIR"
write_conf
# -c: no job state from an earlier cluster in this dir (it was just removed; this says so twice).
slurmctld -c -f "$CONF" || { say "slurmctld failed; see $DIR/log/slurmctld.log"; exit 1; }
wait_for 30 "slurmctld answering" sh -c 'scontrol ping | grep -q "is UP"' \
  || { say "see $DIR/log/slurmctld.log"; exit 1; }
slurmd -f "$CONF" || { say "slurmd failed; see $DIR/log/slurmd.log"; exit 1; }
wait_for 60 "the node turning idle" cluster_up || { say "see $DIR/log/slurmd.log and slurmctld.log"; exit 1; }
echo "$CONF"
