#!/usr/bin/env bash
# Prepares this machine for the real-kernel tests (go test -tags kernels ./test/kernels/...):
#
#   - qemu-system-x86 and busybox-static from Debian (apt-get install);
#   - Debian's 6.1 cloud kernel, downloaded once with `apt-get download` and
#     unpacked with `dpkg-deb -x` into $XTRACE_KERNEL_CACHE (not installed:
#     this machine keeps booting its own kernel).
#
# Idempotent and quick when everything is there, so the test harness runs it
# before every boot. Its last line of output is always
#   XTRACE_KERNEL=<path of the vmlinuz to boot>
# which the harness reads; the kernel's package and version are named here and
# nowhere else.
#
# Needs root (apt-get). Usage: test/kernels/setup.sh
set -euo pipefail

# The guest kernel. Debian 12's 6.1 LTS cloud flavour: small, has kprobes
# (CONFIG_KPROBES, kprobe_events in tracefs), BTF, bpffs and both cgroup
# versions built in, and boots under qemu TCG in a few seconds. When the
# Debian archive drops this version (security updates replace it), pick the
# newest with
#   apt-cache search 'linux-image-6.1.0-.*-cloud-amd64-unsigned'
#   apt-cache policy linux-image-6.1.0-NN-cloud-amd64-unsigned
# and change both lines.
KERNEL_PKG=linux-image-6.1.0-57-cloud-amd64-unsigned
KERNEL_VERSION=6.1.192-3

CACHE=${XTRACE_KERNEL_CACHE:-/var/cache/xtrace-kernels}
dir="$CACHE/${KERNEL_PKG}_${KERNEL_VERSION}"
vmlinuz_link="$dir/vmlinuz"

say() { echo "setup.sh: $*" >&2; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
need_apt=()
for pkg in qemu-system-x86 busybox-static; do
	installed "$pkg" || need_apt+=("$pkg")
done

apt_updated=
apt_update() {
	if [ -z "$apt_updated" ]; then
		say "apt-get update"
		apt-get update -q >&2
		apt_updated=1
	fi
}

if [ ${#need_apt[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		say "missing ${need_apt[*]} and not root: install them with apt-get install ${need_apt[*]}"
		exit 1
	fi
	apt_update
	say "apt-get install ${need_apt[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}" >&2
fi

if [ ! -e "$vmlinuz_link" ]; then
	mkdir -p "$dir"
	deb="$dir/${KERNEL_PKG}_${KERNEL_VERSION}_amd64.deb"
	if [ ! -s "$deb" ]; then
		tmp=$(mktemp -d)
		trap 'rm -rf "$tmp"' EXIT
		# apt-get download writes into the current directory and fetches as
		# the unprivileged _apt user, which must be able to write there.
		chmod 755 "$tmp"
		if ! (cd "$tmp" && apt-get download -q "$KERNEL_PKG=$KERNEL_VERSION" >&2); then
			apt_update
			if ! (cd "$tmp" && apt-get download -q "$KERNEL_PKG=$KERNEL_VERSION" >&2); then
				say "cannot download $KERNEL_PKG=$KERNEL_VERSION: the archive may have dropped it; choose a newer one (see the comment above KERNEL_PKG in $0)"
				exit 1
			fi
		fi
		mv "$tmp"/*.deb "$deb"
	fi
	extract="$dir/root"
	rm -rf "$extract"
	dpkg-deb -x "$deb" "$extract"
	found=$(ls "$extract"/boot/vmlinuz-* 2>/dev/null | head -n1)
	if [ -z "$found" ]; then
		say "$deb has no /boot/vmlinuz-*"
		exit 1
	fi
	# Only the kernel image is needed: the tests use nothing from modules
	# (everything they need is built in), so drop the rest to keep the
	# cache small, but keep the config for people checking an option.
	cp "$found" "$dir/vmlinuz.tmp"
	cp "$extract"/boot/config-* "$dir/" 2>/dev/null || true
	rm -rf "$extract"
	mv "$dir/vmlinuz.tmp" "$vmlinuz_link"
	say "kernel cached at $vmlinuz_link"
fi

echo "XTRACE_KERNEL=$vmlinuz_link"
