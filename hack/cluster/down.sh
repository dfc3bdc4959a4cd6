#!/usr/bin/env bash
# down.sh: stop exactly what up.sh started (by its pid files), remove every
# pod sandbox through CRI first (so CNI DEL runs and veths, IPs and portmap
# rules go away), unmount what lies under the state dir, delete the CNI bridge
# and the kubepods cgroups, and restore the host sysctls. Safe to run twice,
# and after a failed or partial up.sh.
#   --purge  also delete the state dir (certs, etcd data, imported images);
#            the built Kubernetes binaries are kept.
# It exits non-zero only if something it started is still running.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
T0=$(date +%s)
log() { echo "[down +$(( $(date +%s) - T0 ))s] $*"; }
[[ -d $STATE ]] || { log "no state dir $STATE: nothing to stop"; exit 0; }
# up.sh calls us with the lock already held (XTRACE_CLUSTER_LOCKED=1).
if [[ -z ${XTRACE_CLUSTER_LOCKED:-} ]]; then
  exec 9>"$XK8S_ROOT/lock"
  flock -w 600 9 || { log "ERROR: another up.sh/down.sh holds $XK8S_ROOT/lock"; exit 1; }
fi

stop() { # name [timeout-seconds]: TERM, then KILL after the timeout
  local n=$1 to=${2:-20} f="$RUN/$1.pid" p
  [[ -f $f ]] || return 0
  if alive "$n"; then
    p=$(cat "$f")
    kill -TERM "$p" 2>/dev/null || true
    local end=$(( $(date +%s) + to ))
    while kill -0 "$p" 2>/dev/null && (( $(date +%s) < end )); do sleep 0.2; done
    if kill -0 "$p" 2>/dev/null; then
      log "$n (pid $p) ignored TERM for ${to}s, sending KILL"
      kill -KILL "$p" 2>/dev/null || true; sleep 0.5
    fi
    log "stopped $n (pid $p)"
  fi
  rm -f "$f"
}

# kubelet first, so it does not restart the containers crirm removes.
stop kubelet
if alive containerd && [[ -x $TOOLS/crirm ]]; then
  "$TOOLS/crirm" -endpoint "unix://$SOCK" -timeout 60s || log "WARNING: crirm reported errors"
fi
stop kube-proxy & stop kube-scheduler & stop kube-controller-manager & stop kube-apiserver & wait

# kube-proxy's iptables chains. --cleanup removes most; it leaves KUBE-FIREWALL
# (and its INPUT/OUTPUT jumps), KUBE-KUBELET-CANARY and KUBE-IPTABLES-HINT,
# which kubelet made. Only this cluster creates KUBE-* chains on a test host.
if [[ -x $BIN/kube-proxy ]]; then
  "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
fi
if command -v iptables-save >/dev/null; then
  for t in filter nat mangle; do
    jumps=$(iptables-save -t "$t" 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-' | sed 's/^-A /-D /' || true)
    while read -r rule; do
      [[ -n $rule ]] || continue
      read -ra words <<<"$rule"; iptables -t "$t" "${words[@]}" 2>/dev/null || true
    done <<<"$jumps"
    chains=$(iptables-save -t "$t" 2>/dev/null | sed -n 's/^:\(KUBE-[A-Za-z0-9-]*\) .*/\1/p' || true)
    for c in $chains; do iptables -t "$t" -F "$c" 2>/dev/null || true; done
    for c in $chains; do iptables -t "$t" -X "$c" 2>/dev/null || true; done
  done
fi
stop containerd 30 & stop etcd & wait

# Shims still serving OUR containerd socket (containerd does not stop them),
# found by their command line, killed by pid.
for d in /proc/[0-9]*; do
  cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
  if [[ $cmd == *"-address $SOCK "* ]]; then
    p=${d#/proc/}; log "killing leftover shim pid $p"; kill -KILL "$p" 2>/dev/null || true
  fi
done
# Container processes that outlived their shim (containerd or the shim was
# killed rather than stopped): every process in a kubepods cgroup belongs to
# this cluster's pods, since only our kubelet creates kubepods.
pids=$(cat /sys/fs/cgroup/unified/kubepods/cgroup.procs /sys/fs/cgroup/unified/kubepods/*/cgroup.procs \
           /sys/fs/cgroup/unified/kubepods/*/*/cgroup.procs /sys/fs/cgroup/unified/kubepods/*/*/*/cgroup.procs \
           /sys/fs/cgroup/kubepods/cgroup.procs /sys/fs/cgroup/kubepods/*/cgroup.procs \
           /sys/fs/cgroup/kubepods/*/*/cgroup.procs /sys/fs/cgroup/kubepods/*/*/*/cgroup.procs 2>/dev/null | sort -un || true)
for p in $pids; do log "killing leftover container process $p ($(cat /proc/"$p"/comm 2>/dev/null))"; kill -KILL "$p" 2>/dev/null || true; done
sleep 0.5
# Mounts under the state dir (overlay rootfs, shm, projected volumes), deepest first.
mounts=$(awk '{print $5}' /proc/self/mountinfo | grep "^$STATE/" | sort -r || true)
for m in $mounts; do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  log "unmounted $m"
done
if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE" && log "deleted bridge $BRIDGE"; fi
# kubepods cgroups created by our kubelet/runc: empty directories only, leaves first.
for h in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods /sys/fs/cgroup/kubepods; do
  [[ -d $h ]] || continue
  find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  if [[ -d $h ]]; then log "WARNING: could not remove $h (still busy?)"; fi
done
# Network namespaces of sandboxes that were not removed through CRI (after an
# unclean stop): CNI names them cni-<uuid>. One with no process left in it is
# an orphan; deleting it also deletes its veth.
for ns in $(ls /var/run/netns 2>/dev/null | grep '^cni-' || true); do
  if [[ -z $(ip netns pids "$ns" 2>/dev/null) ]]; then
    ip netns delete "$ns" 2>/dev/null && log "deleted orphan network namespace $ns"
  else
    log "WARNING: network namespace $ns still has processes; left alone"
  fi
done
# Restore the host sysctls recorded by up.sh before its first start.
if [[ -f "$STATE/sysctl.orig" ]]; then
  while IFS='=' read -r key val; do [[ -n $key ]] && sysctl -qw "$key=$val" || true; done <"$STATE/sysctl.orig"
  rm -f "$STATE/sysctl.orig"
  log "restored sysctls (ip_forward panic panic_on_oops overcommit: $(sysctl -n net.ipv4.ip_forward kernel.panic kernel.panic_on_oops vm.overcommit_memory | tr '\n' ' '))"
fi
# Empty directories kubelet and containerd create at hard-coded paths outside
# the state dir, and the device-plugin socket kubelet leaves behind.
rm -f /var/lib/kubelet/device-plugins/kubelet.sock
for d in /var/lib/kubelet/device-plugins /var/lib/kubelet/plugins_registry /var/lib/kubelet/plugins \
         /var/lib/kubelet/pod-resources /var/lib/kubelet /var/log/containers /var/log/pods \
         /run/containerd/s /run/containerd/runc /run/containerd; do
  [[ -d $d ]] && rmdir "$d" 2>/dev/null || true
done
if [[ ${1:-} == --purge ]]; then rm -rf "$STATE"; log "purged $STATE"; fi

still=()
for n in kubelet kube-proxy kube-scheduler kube-controller-manager kube-apiserver containerd etcd; do
  alive "$n" && still+=("$n")
done
if ((${#still[@]})); then log "ERROR: still running: ${still[*]}"; exit 1; fi
log "done"
