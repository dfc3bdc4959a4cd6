# lib.sh: paths and names shared by up.sh, down.sh and load-image.sh (sourced).
# Everything lives under one root so that down.sh --purge removes all state
# and the built Kubernetes binaries stay cached between runs.
K8S_VERSION="${K8S_VERSION:-1.37.2}"
XK8S_ROOT="${XK8S_ROOT:-/var/cache/xtrace/k8s}"
STATE="$XK8S_ROOT/state"
BIN="$XK8S_ROOT/bin/v$K8S_VERSION"
TOOLS="$XK8S_ROOT/tools-bin"
PKI="$STATE/pki"
LOGS="$STATE/logs"
RUN="$STATE/run"
READY_TIMEOUT="${READY_TIMEOUT:-180}"
SOCK="$STATE/containerd/containerd.sock"
KCFG="$STATE/admin.kubeconfig"
KUBECTL="$BIN/kubectl"
BRIDGE=xtrace0
NODE="$(hostname | tr 'A-Z' 'a-z')"
NODE_IP="${NODE_IP:-$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n1)}"
NODE_IP="${NODE_IP:-127.0.0.1}"
PAUSE_IMAGE=xtrace.local/pause:3.10
# name=image-ref: images built from hack/tools/<name> and imported by up.sh.
CLUSTER_IMAGES=(pause=$PAUSE_IMAGE xtest=xtrace.local/xtest:e2e)
# Host sysctls that kubelet, kube-proxy and the CNI plugins change.
SYSCTLS=(net.ipv4.ip_forward net.ipv4.conf.all.route_localnet vm.overcommit_memory vm.panic_on_oom
         kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# alive NAME: the daemon recorded in $RUN/NAME.pid is running. The pid must
# also still be that daemon (argv[0] named NAME): after a reboot a stale pid
# file may name an unrelated process, which must never be signalled.
alive() {
  local f="$RUN/$1.pid" p argv0
  [[ -f $f ]] || return 1
  p=$(cat "$f")
  [[ $p =~ ^[0-9]+$ ]] && kill -0 "$p" 2>/dev/null || return 1
  argv0=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -n1)
  [[ $(basename -- "${argv0:-/}") == "$1" ]]
}
