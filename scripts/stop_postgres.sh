#!/usr/bin/env bash
# Stops the test PostgreSQL cluster that start_postgres.sh started, and removes its data dir.
set -uo pipefail
DATA=${SWEEPKIT_PG_DATA:-${TMPDIR:-/tmp}/sweepkit-pg-$(id -u)}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ -n "$BIN" ] && [ -f "$DATA/postmaster.pid" ]; then
  as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
fi
rm -rf "$DATA"
