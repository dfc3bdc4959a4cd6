#!/usr/bin/env bash
# load-image.sh: put an image into the running cluster's containerd (namespace
# k8s.io), where pods with imagePullPolicy IfNotPresent or Never find it.
#   load-image.sh REF BINARY [DEST]   package one static binary as a one-layer
#                                     image (entrypoint DEST, default /<basename>)
#   load-image.sh --archive FILE      import a docker-archive, e.g. from `make image`
# Example (what the e2e suite does):
#   CGO_ENABLED=0 go build -o bin/trace-runner ./cmd/trace-runner
#   hack/cluster/load-image.sh xtrace.local/trace-runner:e2e bin/trace-runner
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
source "$HERE/lib.sh"
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 2 ]] || usage
alive containerd || { echo "load-image: containerd of $STATE is not running; run hack/cluster/up.sh first" >&2; exit 1; }
SNAP=$(cat "$STATE/snapshotter")

if [[ $1 == --archive ]]; then
  tar=$2
else
  REF=$1 BINARY=$2 DEST=${3:-/$(basename "$2")}
  [[ -x $TOOLS/image ]] || (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$TOOLS/" ./hack/tools/image)
  tar="$(mktemp /tmp/xtrace-image.XXXXXX.tar)"
  trap 'rm -f "$tar"' EXIT
  "$TOOLS/image" -o "$tar" -t "$REF" -f "$BINARY:$DEST" -dir /tmp -entrypoint "$DEST" >/dev/null
fi
ctr -a "$SOCK" -n k8s.io images import --snapshotter "$SNAP" "$tar" | sed 's/^/load-image: /'
