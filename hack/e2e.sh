#!/usr/bin/env bash
# e2e.sh: bring the project's cluster up, run the e2e suite against it, and
# bring it down again even when the suite fails (KEEP_CLUSTER=1 leaves it up
# for debugging; XTRACE_E2E_KEEP=1 also keeps the suite's namespaces).
# Extra arguments go to `go test`, e.g. hack/e2e.sh -run TestRunPodScoped.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
T0=$(date +%s)
log() { echo "[e2e +$(( $(date +%s) - T0 ))s] $*"; }

down() {
  local rc=$?
  if [[ -z ${KEEP_CLUSTER:-} ]]; then
    log "cluster down"
    hack/cluster/down.sh || rc=1
  else
    log "KEEP_CLUSTER set: cluster left running (hack/cluster/down.sh stops it)"
  fi
  log "done, exit $rc"
  exit "$rc"
}
trap down EXIT

# The krew case installs the release archive with krew: make sure it exists
# (cheap when `make release` already ran: Go's build cache).
# A release failure must not keep the other cases from running: the krew case
# then fails by itself, naming the missing artifacts.
log "make release (for the krew-installed plugin case)"
make -s release >/dev/null || log "WARNING: make release failed; TestKrewPluginGet will fail"
log "cluster up"
hack/cluster/up.sh
export KUBECONFIG
KUBECONFIG="$(bash -c 'source hack/cluster/lib.sh; echo "$KCFG"')"
log "go test -tags e2e ./test/e2e"
go test -tags e2e -count=1 -timeout 40m -v ./test/e2e "$@"
