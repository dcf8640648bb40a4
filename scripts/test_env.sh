# Sourced by `make test`: starts a throw-away PostgreSQL server for the shared-store test and
# exports its URL, and a private one-node SLURM cluster for the job-array tests and exports
# SLURM_CONF and SWEEPKIT_TEST_SLURM. What it started (SWEEPKIT_PG_OWNED, SWEEPKIT_SLURM_OWNED) `make
# test` stops afterwards.
# Either not installed (or, for SLURM, not root): its tests skip and say why. Installed but failing
# to start: one line naming the log, and `make test` stops.
_env_ok=0
if [ -z "${SWEEPKIT_TEST_PG_URL:-}" ]; then
  _pg_log=${TMPDIR:-/tmp}/sweepkit-pg-setup-$(id -u).log
  _pg_data=${SWEEPKIT_PG_DATA:-${TMPDIR:-/tmp}/sweepkit-pg-$(id -u)}
  _pg_was_up=0
  [ -f "$_pg_data/postmaster.pid" ] && _pg_was_up=1
  _pg_url=$(bash scripts/start_postgres.sh 2>"$_pg_log")
  _pg_rc=$?
  if [ "$_pg_rc" -eq 0 ]; then
    export SWEEPKIT_TEST_PG_URL="$_pg_url"
    # started here: `make test` stops it afterwards, so the next run starts its own again
    [ "$_pg_was_up" -eq 0 ] && export SWEEPKIT_PG_OWNED=1
  elif [ "$_pg_rc" -eq 3 ]; then
    echo "setup: PostgreSQL is not installed; the shared-store test will skip" >&2
  else
    echo "setup: step 'start the test PostgreSQL' failed; see $_pg_log" >&2
    _env_ok=1
  fi
fi
if [ -z "${SWEEPKIT_TEST_SLURM:-}" ]; then
  _slurm_log=${TMPDIR:-/tmp}/sweepkit-slurm-setup-$(id -u).log
  _slurm_conf=$(bash scripts/start_slurm.sh 2>"$_slurm_log")
  _slurm_rc=$?
  if [ "$_slurm_rc" -eq 0 ]; then
    export SLURM_CONF="$_slurm_conf" SWEEPKIT_TEST_SLURM=1 SWEEPKIT_SLURM_OWNED=1
  elif [ "$_slurm_rc" -eq 3 ]; then
    echo "setup: no test SLURM cluster ($(tail -n 1 "$_slurm_log")); the slurm tests will skip" >&2
  else
    echo "setup: step 'start the test SLURM cluster' failed; see $_slurm_log" >&2
    _env_ok=1
  fi
fi
[ "$_env_ok" -eq 0 ]
