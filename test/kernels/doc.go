// Package kernels boots real Linux kernels under qemu and runs Go test
// binaries inside them, so that code which needs kernel features this
// machine lacks (kprobes, fentry, a pure cgroup v1 or pure cgroup v2 host)
// is exercised for real instead of only loaded.
//
// The pieces, in the order a boot uses them:
//
//   - setup.sh installs qemu and a static busybox from Debian and caches a
//     Debian kernel (vmlinuz) under /var/cache/xtrace-kernels; Setup runs it.
//   - BuildTestBinary compiles a package's tests with `go test -c` into a
//     static binary (CGO_ENABLED=0): the guest has no libc.
//   - WriteInitramfs packs busybox, a generated /init and the binaries into a
//     cpio "newc" archive, the format the kernel unpacks into its root file
//     system.
//   - Boot starts qemu with TCG (KVM guests hang on this VM), the console on
//     the serial port, and reads the serial output: /init mounts the file
//     systems (one cgroup layout per boot), runs every binary with -test.v
//     and prints a marker with each exit status, then powers off.
//
// The host-side tests in this directory (build tag "kernels") use these
// pieces; the guest-side tests are in ./guest (build tag "kernels_guest", so
// that they never run on the host by accident). Run:
//
//	go test -tags kernels -v ./test/kernels/
//
// See docs/kernel-matrix.md for what runs in which boot.
package kernels
