# Sourced by `make test`: starts a throw-away PostgreSQL server for the shared-store test and
# exports its URL. PostgreSQL not installed: the test skips and says why. Installed but failing
# to start: one line naming the log, and `make test` stops.
if [ -z "${SWEEPKIT_TEST_PG_URL:-}" ]; then
  _pg_log=${TMPDIR:-/tmp}/sweepkit-pg-setup-$(id -u).log
  _pg_url=$(bash scripts/start_postgres.sh 2>"$_pg_log")
  _pg_rc=$?
  if [ "$_pg_rc" -eq 0 ]; then
    export SWEEPKIT_TEST_PG_URL="$_pg_url"
  elif [ "$_pg_rc" -eq 3 ]; then
    echo "setup: PostgreSQL is not installed; the shared-store test will skip" >&2
  else
    echo "setup: step 'start the test PostgreSQL' failed; see $_pg_log" >&2
    false
  fi
fi
