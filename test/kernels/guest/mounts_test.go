//go:build kernels_guest

package guest

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

type mount struct{ point, fstype, options string }

func mounts(t *testing.T) []mount {
	t.Helper()
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ms []mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 4 {
			ms = append(ms, mount{point: fields[1], fstype: fields[2], options: fields[3]})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestCgroupV2Only proves the pure v2 boot: cgroup2 at /sys/fs/cgroup and
// no v1 hierarchy, mounted or mountable.
func TestCgroupV2Only(t *testing.T) {
	requireCgroups(t, "v2")
	var v2 []string
	for _, m := range mounts(t) {
		switch m.fstype {
		case "cgroup":
			t.Errorf("a cgroup v1 hierarchy is mounted at %s (%s)", m.point, m.options)
		case "cgroup2":
			v2 = append(v2, m.point)
		}
	}
	if len(v2) != 1 || v2[0] != "/sys/fs/cgroup" {
		t.Errorf("cgroup2 mounts: %v, want exactly [/sys/fs/cgroup]", v2)
	}
	// cgroup_no_v1=all: the kernel refuses v1 controllers, so nothing a
	// test does can fall back to v1 unnoticed.
	dir := t.TempDir()
	if err := mountCgroup1(dir, "pids"); err == nil {
		unmount(dir)
		t.Errorf("mounting a v1 pids hierarchy worked; the boot should have cgroup_no_v1=all")
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(self)) != "0::/" {
		t.Errorf("/proc/self/cgroup = %q, want only the v2 line 0::/", self)
	}
}

// TestCgroupV1Only proves the pure v1 boot: v1 hierarchies under a tmpfs
// at /sys/fs/cgroup and no cgroup2 mounted anywhere.
func TestCgroupV1Only(t *testing.T) {
	requireCgroups(t, "v1")
	v1 := map[string]bool{}
	for _, m := range mounts(t) {
		switch m.fstype {
		case "cgroup2":
			t.Errorf("cgroup2 is mounted at %s", m.point)
		case "cgroup":
			v1[m.point] = true
		case "tmpfs":
			if m.point == "/sys/fs/cgroup" {
				v1["tmpfs"] = true
			}
		}
	}
	for _, want := range []string{"tmpfs", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/freezer", "/sys/fs/cgroup/systemd"} {
		if !v1[want] {
			t.Errorf("missing v1 mount %s; have %v", want, v1)
		}
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	// Each mounted v1 hierarchy has a line "N:controllers:/"; the "0::/"
	// line of the (unmounted) default hierarchy is always there.
	if !strings.Contains(string(self), ":pids:/") || !strings.Contains(string(self), ":name=systemd:/") {
		t.Errorf("/proc/self/cgroup lacks the v1 hierarchies:\n%s", self)
	}
}
