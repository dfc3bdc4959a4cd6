#!/usr/bin/env bash
# up.sh: bring up a real single-node Kubernetes cluster on this machine, with
# no registry and no Docker daemon, for the e2e tests:
# - kube-apiserver, controller-manager, scheduler, kubelet, kube-proxy and
#   kubectl are built from the Go module proxy (wrapper module k8s-build/),
#   cached per version under $XK8S_ROOT/bin/v$K8S_VERSION;
# - containerd, runc, the CNI plugins and etcd come from Debian;
# - the sandbox (pause) and test (xtest) images are built from this module's
#   hack/tools as single-layer images and imported into containerd.
# Idempotent: it starts only what is not already running; a second run of a
# healthy cluster takes seconds. Every wait is bounded.
#
# Env: K8S_VERSION   (default 1.37.2: the minor of the client-go we link)
#      XK8S_ROOT     (default /var/cache/xtrace/k8s: binaries survive reboots
#                     and CI runs on the same machine; state lives below it)
#      READY_TIMEOUT (default 180 s), SNAPSHOTTER (default: overlayfs if it
#                     mounts here, else native), BUILD_ONLY=1 (stop after the build)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
source "$HERE/lib.sh"
T0=$(date +%s)
log() { echo "[up +$(( $(date +%s) - T0 ))s] $*"; }
die() { log "ERROR: $*"; exit 1; }
[[ $(id -u) == 0 ]] || die "must run as root (it starts kubelet, containerd and changes sysctls)"
mkdir -p "$STATE" "$PKI" "$LOGS" "$RUN" "$BIN" "$TOOLS"

# Two up/down scripts running at once would race on pid files and ports.
exec 9>"$XK8S_ROOT/lock"
flock -w 600 9 || die "another up.sh/down.sh holds $XK8S_ROOT/lock"

# ------------------------------------------------------- kubernetes binaries
# K8S_CMDS="kubectl" BUILD_ONLY=1 builds just kubectl (what the krew test needs).
read -ra K8S_CMDS <<<"${K8S_CMDS:-kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl kube-proxy}"
need_build=0
for c in "${K8S_CMDS[@]}"; do [[ -x "$BIN/$c" ]] || need_build=1; done
if ((need_build)); then
  WRAP="$HERE/k8s-build"
  if [[ "$K8S_VERSION" != "$(sed -n 's/^require k8s.io\/kubernetes v//p' "$WRAP/go.mod")" ]]; then
    # Another version than the checked-in wrapper: generate one. k8s.io/kubernetes
    # replaces its staging modules with ./staging paths; point them at the
    # published v0.MINOR.PATCH modules instead.
    WRAP="$XK8S_ROOT/build-v$K8S_VERSION"; mkdir -p "$WRAP"
    if [[ ! -f "$WRAP/go.sum" ]]; then
      minor="0.${K8S_VERSION#1.}"
      upmod=$(cd "$WRAP" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
      mods=$(sed -n 's#^\s*k8s.io/\([a-z0-9-]*\) => ./staging/.*#\1#p' "$upmod")
      { printf 'module xk8s/build\n\ngo %s\n\n%s\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' \
          "$(sed -n 's/^go //p' "$upmod")" "$(grep '^godebug' "$upmod" || true)" "$K8S_VERSION"
        for m in $mods; do printf '\tk8s.io/%s => k8s.io/%s v%s\n' "$m" "$m" "$minor"; done
        printf ')\n'; } > "$WRAP/go.mod"
      (cd "$WRAP" && go get -tool $(for c in "${K8S_CMDS[@]}"; do printf 'k8s.io/kubernetes/cmd/%s@v%s ' "$c" "$K8S_VERSION"; done))
    fi
  fi
  log "building ${K8S_CMDS[*]} v$K8S_VERSION into $BIN (cold: ~7 min on 2 idle cores; cached afterwards)"
  minor="${K8S_VERSION#1.}"; minor="${minor%%.*}"
  # Without these the binaries report v0.0.0-master and kubelet registers the
  # node with that version, which the ready check below compares against.
  VPKG=k8s.io/component-base/version
  LDF="-s -w -X $VPKG.gitVersion=v$K8S_VERSION -X $VPKG.gitMajor=1 -X $VPKG.gitMinor=$minor -X $VPKG.gitTreeState=clean -X $VPKG.buildDate=1970-01-01T00:00:00Z"
  LDF="$LDF -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  # Build into a temporary directory and move into place, so an interrupted
  # build never leaves a binary that the check above would take as complete.
  tmpbin="$BIN.tmp"; rm -rf "$tmpbin"; mkdir -p "$tmpbin"
  (cd "$WRAP" && CGO_ENABLED=0 go build -trimpath -ldflags="$LDF" -o "$tmpbin/" \
     $(for c in "${K8S_CMDS[@]}"; do printf 'k8s.io/kubernetes/cmd/%s ' "$c"; done))
  mv -f "$tmpbin"/* "$BIN/"; rmdir "$tmpbin"
  log "built kubernetes v$K8S_VERSION"
fi
[[ -n "${BUILD_ONLY:-}" ]] && { log "BUILD_ONLY: binaries in $BIN"; exit 0; }

# ---------------------------------------------------------------- packages
pkgs=(containerd runc containernetworking-plugins etcd-server iptables conntrack openssl curl iproute2 util-linux)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's containerd and etcd packages start their own services where systemd
# runs; ours use other sockets and data dirs, but the ports of a packaged etcd
# would clash. Fail early and clearly rather than half-start.
check_port() { # port name
  local pids
  pids=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true)
  for p in $pids; do
    if ! grep -qx "$p" "$RUN"/*.pid 2>/dev/null; then
      die "port $1 ($2) is held by pid $p ($(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | cut -c1-120)), not by this cluster; stop that process (another cluster? shared/cluster/down.sh?) and re-run"
    fi
  done
}


# ------------------------------------------------- after an unclean stop
# If the machine was rebooted or our daemons were killed (a CI session ends by
# killing what it left running), mounts, the CNI bridge and sandboxes of the
# dead cluster remain: clean them with down.sh before starting anew.
any_alive=0
for n in etcd containerd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet; do
  alive "$n" && any_alive=1
done
if (( ! any_alive )) && { grep -q " $STATE/" /proc/self/mountinfo || ip link show "$BRIDGE" >/dev/null 2>&1; }; then
  log "leftovers of a cluster that was not stopped with down.sh: cleaning up first"
  XTRACE_CLUSTER_LOCKED=1 "$HERE/down.sh"
fi

# ------------------------------------------------------------ helper tools
# Built from this module (hack/tools), static, so they run in scratch images.
log "building helper tools (image pause xtest crirm)"
# A binary is replaced only when it changed: its mtime decides below whether
# the image built from it must be rebuilt and re-imported.
rm -rf "$TOOLS.new"; mkdir -p "$TOOLS.new"
(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$TOOLS.new/" ./hack/tools/image ./hack/tools/pause ./hack/tools/xtest ./hack/tools/crirm)
for f in "$TOOLS.new"/*; do cmp -s "$f" "$TOOLS/${f##*/}" || mv -f "$f" "$TOOLS/"; done
rm -rf "$TOOLS.new"
# name=image-ref; each image is one static binary at /<name>, entrypoint /<name>.
mkdir -p "$STATE/images"
for spec in "${CLUSTER_IMAGES[@]}"; do
  n=${spec%%=*}; ref=${spec#*=}
  [[ -f "$STATE/images/$n.tar" && "$STATE/images/$n.tar" -nt "$TOOLS/$n" ]] && continue
  "$TOOLS/image" -o "$STATE/images/$n.tar" -t "$ref" -f "$TOOLS/$n:/$n" -dir /tmp -entrypoint "/$n" >/dev/null
  rm -f "$STATE/images/$n.imported"
done

# ------------------------------------------------------------------- certs
cd "$PKI"
if [[ ! -f ca.crt ]]; then
  log "generating certificates in $PKI"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -keyout ca.key -out ca.crt -subj "/CN=xtrace-e2e-ca" 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
fi
mkcert() { # name subject [subjectAltName]
  local n=$1 subj=$2 san=${3:-}
  [[ -f $n.crt ]] && return 0
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$n.key" -out "$n.csr" -subj "$subj" 2>/dev/null
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n $san ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"; else echo "extendedKeyUsage=clientAuth"; fi
  } > "$n.ext"
  openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile "$n.ext" -out "$n.crt" 2>/dev/null
  rm -f "$n.csr" "$n.ext"
}
# The node IP is in the serving certs: regenerate them if the IP changed
# (a new VM with the same disk).
if [[ -f "$PKI/node-ip" && "$(cat "$PKI/node-ip")" != "$NODE_IP" ]]; then
  log "node IP changed to $NODE_IP: regenerating serving certificates"
  rm -f apiserver.crt kubelet-serving.crt
fi
echo "$NODE_IP" > "$PKI/node-ip"
mkcert apiserver "/CN=kube-apiserver" "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:10.0.0.1,IP:$NODE_IP"
mkcert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
mkcert admin "/O=system:masters/CN=xtrace-e2e-admin"
mkcert controller-manager "/CN=system:kube-controller-manager"
mkcert scheduler "/CN=system:kube-scheduler"
mkcert kubelet-client "/O=system:nodes/CN=system:node:$NODE"
mkcert kube-proxy "/CN=system:kube-proxy"
mkcert kubelet-serving "/CN=$NODE" "DNS:$NODE,DNS:localhost,IP:$NODE_IP,IP:127.0.0.1"
mkkcfg() { # file cert-name
  cat > "$1" <<K
apiVersion: v1
kind: Config
clusters:
- name: xtrace-e2e
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: "$PKI/ca.crt"}
users:
- name: $2
  user: {client-certificate: "$PKI/$2.crt", client-key: "$PKI/$2.key"}
contexts:
- name: xtrace-e2e
  context: {cluster: xtrace-e2e, user: $2}
current-context: xtrace-e2e
K
}
mkkcfg "$KCFG" admin
mkkcfg "$STATE/controller-manager.kubeconfig" controller-manager
mkkcfg "$STATE/scheduler.kubeconfig" scheduler
mkkcfg "$STATE/kubelet.kubeconfig" kubelet-client
mkkcfg "$STATE/kube-proxy.kubeconfig" kube-proxy
cd "$STATE"

# --------------------------------------------------------- process helper
start() { # name cmd...
  local n=$1; shift
  if alive "$n"; then log "$n already running (pid $(cat "$RUN/$n.pid"))"; return 0; fi
  rm -f "$RUN/$n.pid"
  # The inner shell writes its own pid, then execs the daemon: the pid file
  # names the daemon itself, which is what down.sh signals.
  # 9>&-: the daemon must not inherit the lock's descriptor, or it would hold
  # the lock for as long as it runs.
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$RUN/$n.pid" "$@" >>"$LOGS/$n.log" 2>&1 </dev/null 9>&- &
  local i; for i in $(seq 1 25); do [[ -s "$RUN/$n.pid" ]] && break; sleep 0.2; done
  [[ -s "$RUN/$n.pid" ]] || die "$n did not start (see $LOGS/$n.log)"
  log "started $n pid $(cat "$RUN/$n.pid")"
}
waitfor() { # description timeout-seconds cmd...
  local d=$1 to=$2; shift 2; local end=$(( $(date +%s) + to ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) > end )) && { log "TIMEOUT after ${to}s waiting for $d"; return 1; }
    sleep 0.5
  done
}
k() { "$KUBECTL" --kubeconfig "$KCFG" "$@"; }

# ----------------------------------------------------------------- sysctls
# kubelet (protectKernelDefaults=false) sets vm.overcommit_memory=1,
# kernel.panic=10, kernel.panic_on_oops=1 and kernel.keys.*; kube-proxy sets
# route_localnet=1; the bridge CNI plugin sets ip_forward=1. Record the host's
# values before our first start; down.sh restores them. panic_on_oops=1 left
# behind on a developer machine would turn the next oops into a reboot.
if [[ ! -f "$STATE/sysctl.orig" ]] && ! alive kubelet; then
  for k in "${SYSCTLS[@]}"; do echo "$k=$(sysctl -n "$k")"; done > "$STATE/sysctl.orig"
fi

# -------------------------------------------------------------------- etcd
alive etcd || { check_port 2379 etcd; check_port 2380 etcd-peer; }
mkdir -p "$STATE/etcd"; chmod 700 "$STATE/etcd"
start etcd /usr/bin/etcd --name xtrace-e2e --data-dir "$STATE/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster xtrace-e2e=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
waitfor etcd 30 curl -fsS http://127.0.0.1:2379/health || die "etcd not healthy (see $LOGS/etcd.log)"

# ------------------------------------------------------------- containerd
if [[ -z "${SNAPSHOTTER:-}" ]]; then
  if [[ -f "$STATE/snapshotter" ]]; then
    SNAPSHOTTER=$(cat "$STATE/snapshotter")
  else
    t="$STATE/ovl-test"; mkdir -p "$t"/{l,u,w,m}
    if mount -t overlay overlay -o "lowerdir=$t/l,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then
      umount "$t/m"; SNAPSHOTTER=overlayfs; else SNAPSHOTTER=native; fi
    rm -rf "$t"
  fi
fi
echo "$SNAPSHOTTER" > "$STATE/snapshotter"
mkdir -p "$STATE/containerd" "$STATE/cni/net.d" "$STATE/cni/ipam"
cat > "$STATE/containerd/config.toml" <<C
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Root on these VMs lacks CAP_SYS_RESOURCE, so a negative oom_score_adj
  # (-998 for sandboxes, -997 for Guaranteed pods) fails in runc with "can't
  # get final child's PID from pipe: EOF". Clamp to containerd's own value.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "$SNAPSHOTTER"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "$STATE/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
C
cat > "$STATE/cni/net.d/10-xtrace-e2e.conflist" <<C
{
  "cniVersion": "0.4.0",
  "name": "xtrace-e2e",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$STATE/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
C
start containerd /usr/bin/containerd --config "$STATE/containerd/config.toml"
waitfor containerd 30 ctr -a "$SOCK" version || die "containerd not answering (see $LOGS/containerd.log)"
for spec in "${CLUSTER_IMAGES[@]}"; do
  n=${spec%%=*}; ref=${spec#*=}
  if [[ ! -f "$STATE/images/$n.imported" ]] || ! ctr -a "$SOCK" -n k8s.io images ls -q | grep -x "$ref" >/dev/null; then
    ctr -a "$SOCK" -n k8s.io images import --snapshotter "$SNAPSHOTTER" "$STATE/images/$n.tar" >/dev/null
    touch "$STATE/images/$n.imported"; log "imported $ref"
  fi
done

# ----------------------------------------------------------- control plane
alive kube-apiserver || check_port 6443 kube-apiserver
start kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:2379 --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="$NODE_IP" \
  --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range=10.0.0.0/24 --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction --allow-privileged=true
waitfor kube-apiserver 90 k get --raw /readyz || die "kube-apiserver not ready (see $LOGS/kube-apiserver.log)"

start kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig="$STATE/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" --cluster-name=xtrace-e2e
start kube-scheduler "$BIN/kube-scheduler" \
  --kubeconfig="$STATE/scheduler.kubeconfig" \
  --authentication-kubeconfig="$STATE/scheduler.kubeconfig" --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false

# kube-proxy (iptables mode) gives pods the Service VIPs, e.g. in-cluster
# config -> https://10.0.0.1:443. The conntrack sysctls are left alone.
start kube-proxy "$BIN/kube-proxy" --kubeconfig="$STATE/kube-proxy.kubeconfig" \
  --hostname-override="$NODE" --cluster-cidr=10.244.0.0/24 --proxy-mode=iptables \
  --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0s --conntrack-tcp-timeout-close-wait=0s \
  --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256

# ------------------------------------------------------------------ kubelet
# cgroupfs driver: containerd 1.6 cannot report its driver, and these hosts
# are cgroup v1/hybrid, which kubelet >= 1.35 refuses unless failCgroupV1 is
# false. Image GC thresholds at 100% keep the locally imported images (they
# cannot be pulled again).
mkdir -p "$STATE/kubelet"
cat > "$STATE/kubelet-config.yaml" <<C
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
containerRuntimeEndpoint: unix://$SOCK
address: 0.0.0.0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$PKI/kubelet-serving.crt"
tlsPrivateKeyFile: "$PKI/kubelet-serving.key"
clusterDomain: cluster.local
failSwapOn: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"}
resolvConf: /etc/resolv.conf
serializeImagePulls: false
podLogsDir: "$STATE/pod-logs"
C
start kubelet "$BIN/kubelet" --config="$STATE/kubelet-config.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
  --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet/pki" --hostname-override="$NODE" --node-ip="$NODE_IP"

# --------------------------------------------------------------- wait ready
# The Node object survives in etcd across down/up with its old Ready
# condition, so Ready must come from THIS kubelet: the right version and a
# heartbeat newer than the kubelet's start.
node_ready() {
  local started out ver st hb
  started=$(stat -c %Y "$RUN/kubelet.pid") || return 1
  out=$(k get node "$NODE" -o jsonpath='{.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}' 2>/dev/null) || return 1
  read -r ver st hb <<<"$out"
  [[ $ver == "v$K8S_VERSION" && $st == True && -n $hb ]] && (( $(date -d "$hb" +%s) >= started ))
}
waitfor "node $NODE Ready" "$READY_TIMEOUT" node_ready || { tail -n 30 "$LOGS/kubelet.log"; die "node $NODE not Ready after ${READY_TIMEOUT}s"; }
waitfor "default serviceaccount" 60 k -n default get serviceaccount default || die "no default serviceaccount"
waitfor "kube-root-ca.crt" 60 k -n default get configmap kube-root-ca.crt || die "no kube-root-ca.crt configmap"
log "node $NODE Ready (kubernetes v$K8S_VERSION, snapshotter $SNAPSHOTTER)"
echo "export KUBECONFIG=$KCFG"
echo "KUBECTL=$KUBECTL"
