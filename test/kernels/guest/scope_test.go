//go:build kernels_guest

package guest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/runner"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/scope"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// Every scoping test runs an "inside" worker that must be counted and an
// "outside" one that must not, both doing a known number of reads, under
// a program that counts vfs_read calls by process and thread name. The
// workers name their reading thread, so its count is exact; any key with
// the outside worker's pid (any of its threads) is a leak. The outside
// worker runs
// first; the inside one's getppid at its end ends the trace (exitOn), so
// the outside worker's getppid must not have.
const (
	countByComm = `kprobe:vfs_read { @[pid, comm] = count(); }`
	// anyExit: the scope alone decides whose getppid ends the trace.
	anyExit      = countByComm + ` tracepoint:syscalls:sys_enter_getppid { exit(); }`
	insideReads  = 100
	outsideReads = 300
)

// checkInsideOnly fails unless the trace counted the inside worker's reads
// exactly and nothing of the outside one's.
func checkInsideOnly(t *testing.T, stdout string, in, out *workload) {
	t.Helper()
	vals := mapValues(t, stdout)
	inKey := fmt.Sprintf("@[%d, %s]", in.cmd.Process.Pid, in.comm)
	if got := vals[inKey]; got != insideReads {
		t.Errorf("%s = %d, want %d: the target's reads must all be counted", inKey, got, insideReads)
	}
	outPid := fmt.Sprintf("@[%d, ", out.cmd.Process.Pid)
	for key, v := range vals {
		if strings.HasPrefix(key, outPid) || strings.Contains(key, out.comm) {
			t.Errorf("%s: %d: the outside worker was counted", key, v)
		}
	}
}

// mkCgroup creates the cgroup directory root/rel (and its parents below
// root) and removes them after the test, once the workers are gone (their
// cleanups, registered later, run first).
func mkCgroup(t *testing.T, root, rel string) string {
	t.Helper()
	dir := filepath.Join(root, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("creating cgroup: %v", err)
	}
	t.Cleanup(func() {
		for d := dir; d != root && strings.HasPrefix(d, root+"/"); d = filepath.Dir(d) {
			err := os.Remove(d)
			if errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.ENOTEMPTY) {
				return // a parent that another cgroup of the test still uses
			}
			if err != nil {
				t.Errorf("removing cgroup: %v", err)
				return
			}
		}
	})
	return dir
}

// intoCgroupV2 starts a process directly in a cgroup v2 directory
// (clone3 with CLONE_INTO_CGROUP), so it is never counted elsewhere.
func intoCgroupV2(t *testing.T, dir string) *syscall.SysProcAttr {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
}

// TestScopeCgroupV2Local: `run --local --cgroup DIR` on a pure v2 host
// counts only the processes in DIR and below.
func TestScopeCgroupV2Local(t *testing.T) {
	requireCgroups(t, "v2")
	leaf := mkCgroup(t, "/sys/fs/cgroup", "xt-local/in/leaf")
	other := mkCgroup(t, "/sys/fs/cgroup", "xt-local/out")
	in := startWorker(t, "xt-in", insideReads, intoCgroupV2(t, leaf))
	out := startWorker(t, "xt-out", outsideReads, intoCgroupV2(t, other))
	// The parent of the inside worker's cgroup: descendants count too.
	stdout, _ := traceLocal(t, runner.LocalOptions{Program: anyExit, CgroupPath: "/sys/fs/cgroup/xt-local/in"}, byExit, func() {
		out.run(t)
		in.run(t)
	})
	checkInsideOnly(t, stdout, in, out)
}

// TestScopePodCgroupV2: a pod target on a pure v2 node is matched by its
// cgroup (scope.ForTarget), the way trace-runner scopes a Job's target.
func TestScopePodCgroupV2(t *testing.T) {
	requireCgroups(t, "v2")
	uidIn, uidOut := uuid.NewString(), uuid.NewString()
	const cid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	ctrIn := mkCgroup(t, "/sys/fs/cgroup", "kubepods/besteffort/pod"+uidIn+"/"+cid)
	ctrOut := mkCgroup(t, "/sys/fs/cgroup", "kubepods/besteffort/pod"+uidOut+"/"+cid)
	in := startWorker(t, "xt-in", insideReads, intoCgroupV2(t, ctrIn))
	out := startWorker(t, "xt-out", outsideReads, intoCgroupV2(t, ctrOut))

	ms, err := scope.ForTarget(spec.Target{Node: "xtrace-guest", Pods: []spec.Pod{{Namespace: "default", Name: "in", UID: uidIn}}}, scope.Options{})
	if err != nil {
		t.Fatalf("ForTarget: %v", err)
	}
	t.Logf("scope: %s", scope.DescribeAll(ms))
	if len(ms) != 1 || ms[0].Scope.Mode != program.ScopeCgroup {
		t.Fatalf("ForTarget = %+v, want one cgroup v2 match", ms)
	}
	stdout, _ := traceScoped(t, anyExit, ms[0], func() {
		out.run(t)
		in.run(t)
	})
	checkInsideOnly(t, stdout, in, out)
}

// intoCgroupsV1 moves a process into the same path of several v1
// hierarchies, as a container runtime on a cgroup v1 node does.
func intoCgroupsV1(t *testing.T, pid int, rel string) {
	t.Helper()
	for _, h := range []string{"systemd", "cpu,cpuacct", "memory", "pids", "freezer"} {
		dir := mkCgroup(t, filepath.Join("/sys/fs/cgroup", h), rel)
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatalf("moving %d into %s: %v", pid, dir, err)
		}
	}
}

// TestScopePodPidNSV1: on a pure v1 node a pod target falls back to its
// processes' pid namespaces; in the kernel only the pod's are counted.
func TestScopePodPidNSV1(t *testing.T) {
	requireCgroups(t, "v1")
	uidIn, uidOut := uuid.NewString(), uuid.NewString()
	const cid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	newPidNS := func() *syscall.SysProcAttr { return &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID} }
	in := startWorker(t, "xt-in", insideReads, newPidNS())
	out := startWorker(t, "xt-out", outsideReads, newPidNS())
	intoCgroupsV1(t, in.cmd.Process.Pid, "kubepods/besteffort/pod"+uidIn+"/"+cid)
	intoCgroupsV1(t, out.cmd.Process.Pid, "kubepods/besteffort/pod"+uidOut+"/"+cid)

	ms, err := scope.ForTarget(spec.Target{Node: "xtrace-guest", Pods: []spec.Pod{{Namespace: "default", Name: "in", UID: uidIn}}}, scope.Options{})
	if err != nil {
		t.Fatalf("ForTarget: %v", err)
	}
	t.Logf("scope: %s", scope.DescribeAll(ms))
	if len(ms) != 1 || ms[0].Scope.Mode != program.ScopePidNS || len(ms[0].Scope.PidNamespaces) != 1 {
		t.Fatalf("ForTarget = %+v, want the pid namespace fallback with one namespace", ms)
	}
	stdout, _ := traceScoped(t, anyExit, ms[0], func() {
		out.run(t)
		in.run(t)
	})
	checkInsideOnly(t, stdout, in, out)
}

// TestScopeContainerPidNSV1: `-c` on a pure v1 node: of two containers of
// one pod, each with its own pid namespace, only the selected one counts.
func TestScopeContainerPidNSV1(t *testing.T) {
	requireCgroups(t, "v1")
	uid := uuid.NewString()
	const cidA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	const cidB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	newPidNS := func() *syscall.SysProcAttr { return &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID} }
	in := startWorker(t, "xt-in", insideReads, newPidNS())
	out := startWorker(t, "xt-out", outsideReads, newPidNS())
	// The systemd driver's names this time: cri-containerd-<id>.scope
	// under kubepods-besteffort-pod<UID>.slice.
	pod := "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice"
	intoCgroupsV1(t, in.cmd.Process.Pid, pod+"/cri-containerd-"+cidA+".scope")
	intoCgroupsV1(t, out.cmd.Process.Pid, pod+"/cri-containerd-"+cidB+".scope")

	ms, err := scope.ForTarget(spec.Target{Node: "xtrace-guest", Pods: []spec.Pod{{
		Namespace: "default", Name: "two", UID: uid,
		Containers: []spec.Container{{Name: "a", ID: "containerd://" + cidA}},
	}}}, scope.Options{})
	if err != nil {
		t.Fatalf("ForTarget: %v", err)
	}
	t.Logf("scope: %s", scope.DescribeAll(ms))
	if len(ms) != 1 || ms[0].Scope.Mode != program.ScopePidNS || len(ms[0].Scope.PidNamespaces) != 1 {
		t.Fatalf("ForTarget = %+v, want the pid namespace fallback with one namespace", ms)
	}
	stdout, _ := traceScoped(t, anyExit, ms[0], func() {
		out.run(t)
		in.run(t)
	})
	checkInsideOnly(t, stdout, in, out)
}

// TestScopeV1NeverUnscoped: where scoping is impossible the trace fails
// with the reason and never runs unscoped: --cgroup needs cgroup v2, and a
// pod whose process shares the host's pid namespace cannot be separated.
func TestScopeV1NeverUnscoped(t *testing.T) {
	requireCgroups(t, "v1")
	out := newOutput()
	err := runner.RunLocal(t.Context(), runner.LocalOptions{
		Name: "-e", Program: countByComm, CgroupPath: "/sys/fs/cgroup/pids",
		Duration: time.Second, Stdout: outWriter{o: out}, Stderr: outWriter{o: out, err: true},
	})
	t.Logf("--cgroup on v1: %v", err)
	if !errors.Is(err, scope.ErrCannotScope) || !errors.Is(err, scope.ErrNoCgroup2) {
		t.Errorf("RunLocal(--cgroup) on a v1 host = %v, want ErrCannotScope wrapping ErrNoCgroup2", err)
	}
	if stdout, stderr := out.texts(); strings.Contains(stderr, "Attached") {
		t.Errorf("the trace attached anyway:\n%s%s", stdout, stderr)
	}

	uid := uuid.NewString()
	host := startWorker(t, "xt-hostpid", 1, nil)
	intoCgroupsV1(t, host.cmd.Process.Pid, "kubepods/besteffort/pod"+uid+"/c1")
	_, err = scope.ForTarget(spec.Target{Node: "xtrace-guest", Pods: []spec.Pod{{Namespace: "default", Name: "hostpid", UID: uid}}}, scope.Options{})
	t.Logf("hostPID pod on v1: %v", err)
	if !errors.Is(err, scope.ErrCannotScope) {
		t.Errorf("ForTarget(pod in the host pid namespace) = %v, want ErrCannotScope", err)
	}
	host.run(t)
}

// TestScopePidLocal: `run --local --pid PID` counts only that process.
func TestScopePidLocal(t *testing.T) {
	in := startWorker(t, "xt-in", insideReads, nil)
	out := startWorker(t, "xt-out", outsideReads, nil)
	stdout, _ := traceLocal(t, runner.LocalOptions{Program: anyExit, Pid: in.cmd.Process.Pid}, byExit, func() {
		out.run(t)
		in.run(t)
	})
	checkInsideOnly(t, stdout, in, out)
}
