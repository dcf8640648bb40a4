# Sourced by `make test`: starts a throw-away PostgreSQL server for the shared-store test
# and exports its URL. Safe to source when PostgreSQL is missing (the test then says why).
if [ -z "${SWEEPKIT_TEST_PG_URL:-}" ]; then
  _pg_url=$(bash scripts/start_postgres.sh 2>/tmp/sweepkit-pg.log) && export SWEEPKIT_TEST_PG_URL="$_pg_url"
fi
