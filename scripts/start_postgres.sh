#!/usr/bin/env bash
# Starts (or reuses) a private PostgreSQL cluster on 127.0.0.1 and prints its URL on stdout.
# The cluster is throw-away test state: per user, under ${TMPDIR:-/tmp}; its server log is inside
# the data dir, owned by whoever runs the server. `scripts/stop_postgres.sh` removes it.
# max_connections: the server's default (100) unless SWEEPKIT_PG_MAX_CONNECTIONS says otherwise; an agent
# holds a connection only while it reads or writes the store (agent/backends/local/store.py).
set -euo pipefail
PORT=${SWEEPKIT_PG_PORT:-55432}
DATA=${SWEEPKIT_PG_DATA:-${TMPDIR:-/tmp}/sweepkit-pg-$(id -u)}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$BIN" ] || { echo "postgresql is not installed" >&2; exit 3; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
init() {
  rm -rf "$DATA"; mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown postgres "$DATA"
  chmod 700 "$DATA"
  as_pg "$BIN/initdb" -D "$DATA" -A trust -U postgres >/dev/null
}
start() {
  as_pg "$BIN/pg_ctl" -D "$DATA" -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1${SWEEPKIT_PG_MAX_CONNECTIONS:+ -c max_connections=$SWEEPKIT_PG_MAX_CONNECTIONS}" \
    -l "$DATA/server.log" -w -t 60 start >/dev/null
}
if ! as_pg "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q; then
  [ -f "$DATA/PG_VERSION" ] || init
  # A cluster left by a killed session may not start again (stale pid/shm): it is throw-away, so re-init.
  if ! start; then
    echo "start_postgres: the cluster in $DATA would not start ($(tail -n 1 "$DATA/server.log" 2>/dev/null)); re-initialising" >&2
    init
    start || { echo "start_postgres: server failed; see $DATA/server.log" >&2; exit 1; }
  fi
fi
as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='sweepkit_test'" \
  | grep -q 1 || as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres sweepkit_test
echo "postgresql+psycopg2://postgres@127.0.0.1:$PORT/sweepkit_test"
