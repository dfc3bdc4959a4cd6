//go:build kernels_guest

package guest

import "golang.org/x/sys/unix"

func mountCgroup1(dir, controllers string) error {
	return unix.Mount("cgroup", dir, "cgroup", 0, controllers)
}

func unmount(dir string) { unix.Unmount(dir, 0) }
