#!/usr/bin/env bash
# install-deps.sh: install what building and testing need on a Debian 12
# machine that has only Go. Idempotent and quiet when everything is there.
# Runs as root (apt-get). Used by `make test-all` and .ci/run.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# bpftrace 0.17: the reference for output parity tests. containerd, runc,
# the CNI plugins, etcd, iptables, conntrack: the local cluster of the e2e
# suite. qemu, busybox, cpio: the second kernel of test/kernels. The rest:
# the scripts (flock from util-linux, ss from iproute2, procps).
pkgs=(make git ca-certificates bpftrace containerd runc containernetworking-plugins etcd-server
      iptables conntrack iproute2 openssl curl util-linux procps
      qemu-system-x86 busybox-static cpio)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi
