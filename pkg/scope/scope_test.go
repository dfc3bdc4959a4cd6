package scope

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// requireCgroup2 returns the machine's cgroup2 hierarchy, or skips the test
// where there is none to create cgroups in.
func requireCgroup2(t *testing.T) *hierarchy {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root")
	}
	h, err := findHierarchy(Options{})
	if errors.Is(err, ErrNoCgroup2) {
		t.Skipf("no cgroup2 hierarchy on this machine: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// makeCgroups creates the given directories (relative to a fresh
// xtrace-test-<rand> cgroup) and removes them, deepest first, when the test
// ends. It returns the test cgroup's path relative to the mount.
func makeCgroups(t *testing.T, h *hierarchy, dirs ...string) string {
	t.Helper()
	base := "xtrace-test-" + uuid.NewString()[:8]
	var created []string
	t.Cleanup(func() {
		for i := len(created) - 1; i >= 0; i-- {
			// A cgroup whose last process just exited may still read as
			// busy for a moment.
			for try := 0; ; try++ {
				err := os.Remove(created[i])
				if err == nil || errors.Is(err, os.ErrNotExist) || try == 50 {
					if err != nil && !errors.Is(err, os.ErrNotExist) {
						t.Errorf("removing test cgroup: %v", err)
					}
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	for _, d := range append([]string{""}, dirs...) {
		parts := strings.Split(filepath.Join(base, d), "/")
		for i := range parts {
			p := filepath.Join(h.mount, filepath.Join(parts[:i+1]...))
			if err := os.Mkdir(p, 0o755); err == nil {
				created = append(created, p)
			} else if !errors.Is(err, os.ErrExist) {
				t.Fatal(err)
			}
		}
	}
	return base
}

// runIn starts a sleeping process in the cgroup rel and returns its pid;
// it is killed when the test ends.
func runIn(t *testing.T, h *hierarchy, rel string) int {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Registered after makeCgroups' cleanup, so it runs before it.
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	if err := os.WriteFile(filepath.Join(h.mount, rel, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatalf("moving pid %d into %s: %v", pid, rel, err)
	}
	return pid
}

// kernelLevel returns the depth of the v2 cgroup the kernel reports for pid.
func kernelLevel(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return depth(p)
		}
	}
	t.Fatalf("pid %d has no cgroup v2 line: %q", pid, data)
	return 0
}

func ino(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

const (
	cidA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cidB = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func TestForTargetFindsPodCgroups(t *testing.T) {
	h := requireCgroup2(t)
	uid := uuid.NewString()
	under := strings.ReplaceAll(uid, "-", "_")
	tests := []struct {
		name       string
		podDir     string // relative to the test cgroup
		ctrDir     string // relative to podDir
		containers []spec.Container
		what       string
	}{
		{name: "cgroupfs besteffort pod", podDir: "kubepods/besteffort/pod" + uid, ctrDir: cidA, what: "pod default/web"},
		{name: "cgroupfs guaranteed pod", podDir: "kubepods/pod" + uid, ctrDir: cidA, what: "pod default/web"},
		{name: "systemd burstable pod", podDir: "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + under + ".slice",
			ctrDir: "cri-containerd-" + cidA + ".scope", what: "pod default/web"},
		{name: "cgroupfs container", podDir: "kubepods/besteffort/pod" + uid, ctrDir: cidA,
			containers: []spec.Container{{Name: "app", ID: "containerd://" + cidA}}, what: "container app of pod default/web"},
		{name: "systemd crio container", podDir: "kubepods.slice/kubepods-pod" + under + ".slice", ctrDir: "crio-" + cidA + ".scope",
			containers: []spec.Container{{Name: "app", ID: "cri-o://" + cidA}}, what: "container app of pod default/web"},
		{name: "docker container", podDir: "kubepods.slice/kubepods-pod" + under + ".slice", ctrDir: "docker-" + cidA + ".scope",
			containers: []spec.Container{{Name: "app", ID: "docker://" + cidA}}, what: "container app of pod default/web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctr := tt.podDir + "/" + tt.ctrDir
			base := makeCgroups(t, h, ctr, tt.podDir+"/"+cidB)
			pid := runIn(t, h, base+"/"+ctr)
			target := spec.Target{Node: "n", Pods: []spec.Pod{{Namespace: "default", Name: "web", UID: uid, Containers: tt.containers}}}
			ms, err := ForTarget(target, Options{})
			if err != nil {
				t.Fatalf("ForTarget: %v", err)
			}
			wantDir, wantLevel := base+"/"+tt.podDir, kernelLevel(t, pid)-1
			if len(tt.containers) > 0 {
				wantDir, wantLevel = base+"/"+ctr, kernelLevel(t, pid)
			}
			want := Match{Scope: program.Scope{Mode: program.ScopeCgroup, CgroupID: ino(t, filepath.Join(h.mount, wantDir)), CgroupLevel: wantLevel}, What: tt.what}
			if len(ms) != 1 || ms[0].Scope.Mode != want.Scope.Mode || ms[0].Scope.CgroupID != want.Scope.CgroupID ||
				ms[0].Scope.CgroupLevel != want.Scope.CgroupLevel || ms[0].What != want.What {
				t.Fatalf("ForTarget = %+v, want [%+v]", ms, want)
			}
		})
	}
}

func TestForTargetSeveralPodsAndErrors(t *testing.T) {
	h := requireCgroup2(t)
	uid1, uid2, uidEmpty := uuid.NewString(), uuid.NewString(), uuid.NewString()
	base := makeCgroups(t, h, "kubepods/besteffort/pod"+uid1+"/"+cidA, "kubepods/burstable/pod"+uid2+"/"+cidB,
		"kubepods/besteffort/pod"+uidEmpty+"/"+cidA)
	runIn(t, h, base+"/kubepods/besteffort/pod"+uid1+"/"+cidA)
	runIn(t, h, base+"/kubepods/burstable/pod"+uid2+"/"+cidB)

	ms, err := ForTarget(spec.Target{Node: "n", Pods: []spec.Pod{
		{Namespace: "a", Name: "one", UID: uid1}, {Namespace: "b", Name: "two", UID: uid2},
	}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Scope.CgroupID != ino(t, filepath.Join(h.mount, base, "kubepods/besteffort/pod"+uid1)) ||
		ms[1].Scope.CgroupID != ino(t, filepath.Join(h.mount, base, "kubepods/burstable/pod"+uid2)) {
		t.Fatalf("ForTarget = %+v", ms)
	}
	if got, want := DescribeAll(ms), "cgroup v2 id "; !strings.HasPrefix(got, want) || !strings.Contains(got, "at level 4 (pod a/one); cgroup v2 id") {
		t.Errorf("DescribeAll = %q", got)
	}

	emptyProc := t.TempDir() // no processes: the fallback finds nothing
	if err := os.MkdirAll(filepath.Join(emptyProc, "1", "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(emptyProc, "1", "ns", "pid"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pod  spec.Pod
		want []string
	}{
		{"missing container", spec.Pod{Namespace: "a", Name: "one", UID: uid1, Containers: []spec.Container{{Name: "side", ID: "containerd://" + cidB}}},
			[]string{"cannot scope to container side of pod a/one: no cgroup for container id " + cidB}},
		{"pod without processes", spec.Pod{Namespace: "c", Name: "idle", UID: uidEmpty},
			[]string{"cannot scope to pod c/idle: its cgroup v2 directory " + base + "/kubepods/besteffort/pod" + uidEmpty + " holds no processes",
				"no process of it found through " + emptyProc}},
		{"unknown pod", spec.Pod{Namespace: "d", Name: "gone", UID: uuid.NewString()},
			[]string{"cannot scope to pod d/gone: no cgroup v2 directory for pod UID", "no process of it found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ForTarget(spec.Target{Node: "n", Pods: []spec.Pod{tt.pod}}, Options{ProcRoot: emptyProc})
			if !errors.Is(err, ErrCannotScope) {
				t.Fatalf("ForTarget error = %v, want ErrCannotScope", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestForTargetNode(t *testing.T) {
	ms, err := ForTarget(spec.Target{Node: "node-1"}, Options{CgroupRoot: t.TempDir()})
	if err != nil || len(ms) != 1 || ms[0].Scope.Mode != program.ScopeNone || ms[0].String() != "none (whole node) (node node-1)" {
		t.Fatalf("ForTarget(node) = %+v, %v", ms, err)
	}
}

// fakeProc builds a proc root: pid -> cgroup file content, and the pid
// namespace file each process points at ("self" links to this test's real
// pid namespace; other names are regular files shared by name, standing in
// for namespaces).
func fakeProc(t *testing.T, procs map[int][2]string) string {
	t.Helper()
	root := t.TempDir()
	nsFiles := filepath.Join(root, "nsfiles")
	if err := os.Mkdir(nsFiles, 0o755); err != nil {
		t.Fatal(err)
	}
	for pid, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		if p[0] != "" {
			if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(p[0]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		target := "/proc/self/ns/pid"
		if p[1] != "self" {
			target = filepath.Join(nsFiles, p[1])
			if err := os.WriteFile(target, nil, 0o644); err != nil && !errors.Is(err, os.ErrExist) {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(target, filepath.Join(dir, "ns", "pid")); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func nsOf(t *testing.T, path string) program.PidNS {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return program.PidNS{Dev: kernelDev(st.Dev), Ino: st.Ino}
}

func TestPidNamespaceFallback(t *testing.T) {
	uid, other, initNS := uuid.NewString(), uuid.NewString(), uuid.NewString()
	under := strings.ReplaceAll(uid, "-", "_")
	v1 := func(path string) string { return "4:memory:" + path + "\n3:pids:" + path + "\n0::/\n" }
	procs := map[int][2]string{
		1:   {v1("/"), "host"},
		100: {v1("/kubepods/besteffort/pod" + uid + "/" + cidA), "nsA"},
		101: {v1("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + under + ".slice/cri-containerd-" + cidB + ".scope"), "nsB"},
		102: {v1("/kubepods/besteffort/pod" + other + "/" + cidA[:60] + "ffff"), "nsOther"},
		103: {"", "nsKthread"}, // no cgroup file: skipped
		200: {v1("/kubepods/pod" + other + "/" + cidB), "host"},
		// In the kernel's initial pid namespace (this test's own), which is
		// refused even though pid 1 of this proc root is elsewhere.
		300: {v1("/kubepods/pod" + initNS + "/" + cidB), "self"},
	}
	proc := fakeProc(t, procs)
	nsA := nsOf(t, filepath.Join(proc, "nsfiles", "nsA"))
	nsB := nsOf(t, filepath.Join(proc, "nsfiles", "nsB"))
	opts := Options{CgroupRoot: t.TempDir(), ProcRoot: proc} // no cgroup2 there: fallback

	tests := []struct {
		name    string
		pod     spec.Pod
		want    []Match
		wantErr string
	}{
		{name: "whole pod", pod: spec.Pod{Namespace: "default", Name: "web", UID: uid},
			want: []Match{{Scope: program.Scope{Mode: program.ScopePidNS, PidNamespaces: []program.PidNS{nsA, nsB}}, What: "pod default/web"}}},
		{name: "one container", pod: spec.Pod{Namespace: "default", Name: "web", UID: uid, Containers: []spec.Container{{Name: "b", ID: "containerd://" + cidB}}},
			want: []Match{{Scope: program.Scope{Mode: program.ScopePidNS, PidNamespaces: []program.PidNS{nsB}}, What: "container b of pod default/web"}}},
		{name: "hostPID pod", pod: spec.Pod{Namespace: "kube-system", Name: "agent", UID: other, Containers: []spec.Container{{Name: "a", ID: "docker://" + cidB}}},
			wantErr: "cannot scope to pod kube-system/agent: no cgroup2 file system at " + opts.CgroupRoot + " or " + opts.CgroupRoot + "/unified: mount the host's /sys/fs/cgroup there; the pid namespace fallback cannot separate it: process 200 shares the host's pid namespace (hostPID)"},
		{name: "initial pid namespace", pod: spec.Pod{Namespace: "kube-system", Name: "node-agent", UID: initNS},
			wantErr: "process 300 shares the host's pid namespace (hostPID)"},
		{name: "not running", pod: spec.Pod{Namespace: "default", Name: "gone", UID: uuid.NewString()},
			wantErr: "no process of it found through " + proc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.pod.UID == initNS && nsOf(t, "/proc/self/ns/pid").Ino != initPidNSIno {
				t.Skip("this test runs in a nested pid namespace; the initial one is out of reach")
			}
			ms, err := ForTarget(spec.Target{Node: "n", Pods: []spec.Pod{tt.pod}}, opts)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrCannotScope) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v\nwant ErrCannotScope containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", ms, tt.want)
			}
			for i := range ms {
				got, want := ms[i], tt.want[i]
				if got.What != want.What || got.Scope.Mode != want.Scope.Mode || !sameNamespaces(got.Scope.PidNamespaces, want.Scope.PidNamespaces) {
					t.Errorf("match %d = %+v, want %+v", i, got, want)
				}
			}
		})
	}
}

func sameNamespaces(a, b []program.PidNS) bool {
	if len(a) != len(b) {
		return false
	}
	set := make(map[program.PidNS]bool)
	for _, ns := range a {
		set[ns] = true
	}
	for _, ns := range b {
		if !set[ns] {
			return false
		}
	}
	return true
}

func TestForCgroupPath(t *testing.T) {
	h := requireCgroup2(t)
	base := makeCgroups(t, h, "kubepods/besteffort")
	want := ino(t, filepath.Join(h.mount, base, "kubepods/besteffort"))
	tests := []struct {
		path    string
		opts    Options
		wantErr string
	}{
		{path: filepath.Join(h.mount, base, "kubepods/besteffort")},
		{path: "/" + base + "/kubepods/besteffort"},
		{path: base + "/kubepods/besteffort/"},
		// CgroupRoot may name the cgroup2 mount itself, as on a pure v2
		// node (on a hybrid one it is usually its parent).
		{path: base + "/kubepods/besteffort", opts: Options{CgroupRoot: h.mount}},
		{path: base + "/kubepods/../../etc", wantErr: `"..\" is not allowed`},
		{path: base + "/kubepods/guaranteed", wantErr: "no such file or directory"},
		{path: base + "/cgroup.procs", wantErr: "is not a cgroup directory"},
		{path: base, opts: Options{CgroupRoot: "/nonexistent"}, wantErr: "no cgroup2 file system at /nonexistent"},
	}
	if filepath.Base(h.mount) == "unified" {
		// A hybrid node: the Job mounts the host's /sys/fs/cgroup, the
		// parent of the cgroup2 mount.
		tests = append(tests, struct {
			path    string
			opts    Options
			wantErr string
		}{path: base + "/kubepods/besteffort", opts: Options{CgroupRoot: filepath.Dir(h.mount)}})
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			m, err := tt.opts.CgroupPath(tt.path)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrCannotScope) || !strings.Contains(err.Error(), strings.ReplaceAll(tt.wantErr, `\"`, `"`)) {
					t.Fatalf("error = %v, want ErrCannotScope containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Scope.Mode != program.ScopeCgroup || m.Scope.CgroupID != want || m.Scope.CgroupLevel != 3 || m.What != "cgroup /"+base+"/kubepods/besteffort" {
				t.Errorf("CgroupPath = %+v, want id %d level 3", m, want)
			}
			if tt.opts.CgroupRoot == "" {
				if s, err := ForCgroupPath(tt.path); err != nil || s.Mode != m.Scope.Mode || s.CgroupID != m.Scope.CgroupID || s.CgroupLevel != m.Scope.CgroupLevel {
					t.Errorf("ForCgroupPath = %+v, %v; want %+v", s, err, m.Scope)
				}
			}
		})
	}
}

func TestForPid(t *testing.T) {
	m, err := Options{}.Pid(os.Getpid())
	comm, _ := os.ReadFile("/proc/self/comm")
	if err != nil || m.Scope.Mode != program.ScopePid || m.Scope.Pid != uint32(os.Getpid()) || m.What != strings.TrimSpace(string(comm)) {
		t.Fatalf("ForPid(self) = %+v, %v", m, err)
	}
	for _, pid := range []int{0, -1, 1 << 23} {
		if _, err := ForPid(pid); !errors.Is(err, ErrCannotScope) {
			t.Errorf("ForPid(%d) = %v, want ErrCannotScope", pid, err)
		}
	}
	if _, err := (Options{ProcRoot: t.TempDir()}).Pid(1234567); err == nil || !strings.Contains(err.Error(), "no such process") {
		t.Errorf("ForPid(missing) = %v", err)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		scope program.Scope
		want  string
	}{
		{program.Scope{}, "none (whole node)"},
		{program.Scope{Mode: program.ScopeCgroup, CgroupID: 1234, CgroupLevel: 4}, "cgroup v2 id 1234 at level 4"},
		{program.Scope{Mode: program.ScopeCgroup, CgroupID: 1234, CgroupLevel: -1}, "cgroup v2 id 1234"},
		{program.Scope{Mode: program.ScopePidNS, PidNamespaces: make([]program.PidNS, 2)}, "pid namespace fallback (2 namespaces)"},
		{program.Scope{Mode: program.ScopePidNS, PidNamespaces: make([]program.PidNS, 1)}, "pid namespace fallback (1 namespace)"},
		{program.Scope{Mode: program.ScopePid, Pid: 42}, "pid 42"},
	}
	for _, tt := range tests {
		if got := Describe(tt.scope); got != tt.want {
			t.Errorf("Describe(%+v) = %q, want %q", tt.scope, got, tt.want)
		}
	}
	m := Match{Scope: program.Scope{Mode: program.ScopeCgroup, CgroupID: 7, CgroupLevel: 4}, What: "pod default/web"}
	if got := m.String(); got != "cgroup v2 id 7 at level 4 (pod default/web)" {
		t.Errorf("Match.String = %q", got)
	}
}

func TestMountinfoParsing(t *testing.T) {
	mi := filepath.Join(t.TempDir(), "mountinfo")
	content := `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
41 31 0:38 / /host/sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
42 31 0:38 /kubepods/besteffort /with\040space rw,relatime - cgroup2 cgroup2 rw
`
	if err := os.WriteFile(mi, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	mounts, err := cgroup2Mounts(mi)
	if err != nil || strings.Join(mounts, ",") != "/host/sys/fs/cgroup/unified,/with space" {
		t.Errorf("cgroup2Mounts = %q, %v", mounts, err)
	}
	root, err := mountRoot(mi, "/with space")
	if err != nil || root != "/kubepods/besteffort" || depth(root) != 2 {
		t.Errorf("mountRoot = %q, %v", root, err)
	}
	if _, err := mountRoot(mi, "/nowhere"); !errors.Is(err, ErrNoCgroup2) {
		t.Errorf("mountRoot(/nowhere) = %v, want ErrNoCgroup2", err)
	}
}

func TestKernelDev(t *testing.T) {
	tests := []struct{ user, kernel uint64 }{
		{4, 4},                       // major 0, minor 4: both encodings agree
		{0x0801, 8<<20 | 1},          // major 8, minor 1
		{0x100005, 0x105},            // major 0, minor 0x105: glibc keeps minor bits 8+ at bit 20+
		{0x1000 << 32, 0x1000 << 20}, // major 0x1000: glibc keeps major bits 12+ at bit 44+
	}
	for _, tt := range tests {
		if got := kernelDev(tt.user); got != tt.kernel {
			t.Errorf("kernelDev(%#x) = %#x, want %#x", tt.user, got, tt.kernel)
		}
	}
}

func TestMerge(t *testing.T) {
	cg := func(id uint64) Match {
		return Match{Scope: program.Scope{Mode: program.ScopeCgroup, CgroupID: id, CgroupLevel: 4}, What: "pod p" + strconv.FormatUint(id, 10)}
	}
	ns := func(inos ...uint64) Match {
		m := Match{Scope: program.Scope{Mode: program.ScopePidNS}}
		for _, ino := range inos {
			m.Scope.PidNamespaces = append(m.Scope.PidNamespaces, program.PidNS{Dev: 4, Ino: ino})
		}
		return m
	}
	tests := []struct {
		name    string
		in      []Match
		want    string // Describe of the result
		wantErr error
	}{
		{"one cgroup", []Match{cg(7)}, "cgroup v2 id 7 at level 4", nil},
		{"pid namespaces", []Match{ns(1, 2), ns(2, 3)}, "pid namespace fallback (3 namespaces)", nil},
		{"two cgroups", []Match{cg(7), cg(8), cg(7)}, "cgroup v2 (2 cgroups)", nil},
		{"mixed", []Match{cg(7), ns(1)}, "", ErrNeedsScopeList},
		{"none", nil, "", ErrCannotScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Merge(tt.in)
			if !errors.Is(err, tt.wantErr) || (err == nil && Describe(got) != tt.want) {
				t.Errorf("Merge = %q, %v; want %q, %v", Describe(got), err, tt.want, tt.wantErr)
			}
		})
	}
}
