#!/usr/bin/env bash
# `make test-optuna-range`: the offline backend's fast tests (tests/backends, the Optuna internals
# test among them) on the lowest and the newest Optuna that sweepkit's pin allows. The backend uses
# a few private Optuna names (agent/backends/local/optuna_internals.py) that any minor release may
# move; this run names the release that moved them. Each release is installed without its
# dependencies into .venv-optuna/<version> and put first on PYTHONPATH (the venv supplies the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=$VENV/bin/python
WORKERS=${PYTEST_WORKERS:-2}
ROOT=.venv-optuna
mkdir -p "$ROOT"

# The pin as installed (wherever the package metadata declares it): lowest = its >= bound exactly
# (PEP 440 pads "==5" to 5.0.0), newest = the pin itself, resolved by pip now.
read -r LOWEST NEWEST < <("$PY" - <<'PY'
from importlib.metadata import requires
from packaging.requirements import Requirement

req = next(Requirement(r) for r in requires("sweepkit") or [] if Requirement(r).name == "optuna")
floor = next(s.version for s in req.specifier if s.operator == ">=")
print(f"optuna=={floor}", f"optuna{req.specifier}")
PY
)

install() {  # $1: a requirement; prints the folder holding the release it resolved to
  local tmp ver
  tmp=$(mktemp -d "$ROOT/.tmp.XXXXXX")
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --target "$tmp" "$1" >&2
  ver=$("$PY" -c 'import sys; from importlib.metadata import version; sys.path.insert(0, sys.argv[1]); print(version("optuna"))' "$tmp" 2>/dev/null \
        || ls "$tmp" | sed -n 's/^optuna-\(.*\)\.dist-info$/\1/p')
  rm -rf "${ROOT:?}/$ver"
  mv "$tmp" "$ROOT/$ver"
  echo "$ROOT/$ver"
}

status=0
for req in "$LOWEST" "$NEWEST"; do
  dir=$(install "$req")
  ver=${dir##*/}
  got=$(PYTHONPATH="$dir" "$PY" -c 'import optuna; print(optuna.__version__)')
  [ "$got" = "$ver" ] || { echo "optuna-range: $dir imports optuna $got, not $ver" >&2; exit 1; }
  start=$(date +%s)
  if PYTHONPATH="$PWD/$dir${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m pytest -q -p no:cacheprovider -n "$WORKERS" \
      -m "not slow and not postgres and not chromium" tests/backends; then
    echo "optuna-range: optuna $ver ($req): passed in $(( $(date +%s) - start )) s"
  else
    echo "optuna-range: optuna $ver ($req): FAILED in $(( $(date +%s) - start )) s" >&2
    status=1
  fi
done
exit $status
