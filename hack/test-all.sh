#!/usr/bin/env bash
# test-all.sh: everything CI runs (make test-all), in order: build, unit and
# real-kernel tests, the krew install test, the e2e suite on a real cluster
# (up -> suite -> down, down even on failure), and the second kernel's tests
# under qemu. Every stage runs even if an
# earlier one failed, so one report shows all failures; the exit code is
# non-zero if any stage failed. Full logs: _output/test-all/*.log.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
LOGDIR=_output/test-all
rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"
T0=$(date +%s)
declare -a SUMMARY=()
failed=0

# stage NAME CMD...: run CMD, show its output without go test -v's per-test
# chatter (=== RUN, --- PASS), keep the full log, record status and time.
stage() {
  local name=$1; shift
  local t0 rc
  t0=$(date +%s)
  echo "==== $name: $*"
  # A failing stage must not end the script (set -e): later stages still run.
  set +e
  "$@" 2>&1 | tee "$LOGDIR/$name.log" | grep --line-buffered -vE '^\s*(=== (RUN|PAUSE|CONT|NAME)|--- PASS)'
  rc=${PIPESTATUS[0]}
  set -e
  local took=$(( $(date +%s) - t0 ))
  if (( rc == 0 )); then SUMMARY+=("PASS $name (${took}s)"); else SUMMARY+=("FAIL $name (${took}s, exit $rc)"); failed=1; fi
  echo "==== $name: exit $rc after ${took}s"
}

stage build make build
stage unit go test -count=1 -v ./...
stage kernels make test-kernels
stage krew make krew-test
stage e2e make e2e

# Counts over every go test run above (subtests included).
count() { cat "$LOGDIR"/*.log | grep -cE "^\s*--- $1:" || true; }
echo
echo "==== test-all summary ($(( $(date +%s) - T0 ))s)"
printf '  %s\n' "${SUMMARY[@]}"
grep -hE '^(ok|FAIL)\s' "$LOGDIR"/*.log | sed 's/^/  /' || true
echo "test-all: $(count PASS) passed, $(count FAIL) failed, $(count SKIP) skipped"
exit "$failed"
