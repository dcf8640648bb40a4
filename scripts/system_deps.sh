#!/usr/bin/env bash
# Installs the system packages the test suite drives for real: Debian chromium (report
# rendering test) and PostgreSQL (shared-store test). Idempotent; skipped when not root.
set -uo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "system_deps: cannot install ${need[*]} (not root or no apt-get); tests needing them will say so" >&2
  exit 0
fi
echo "system_deps: installing ${need[*]} ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  || echo "system_deps: apt-get install ${need[*]} failed" >&2
