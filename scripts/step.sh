# Sourced by the set-up scripts: `step NAME LOG command...` runs a set-up step quietly, its output
# going to LOG; if it fails, one line names the step and its log, and the caller exits non-zero.
step() {
  local name=$1 log=$2
  shift 2
  mkdir -p "$(dirname "$log")"
  if ! "$@" >>"$log" 2>&1; then
    echo "setup: step '$name' failed; see $log" >&2
    return 1
  fi
}
