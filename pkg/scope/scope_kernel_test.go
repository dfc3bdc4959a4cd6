package scope

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/google/uuid"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/check"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/codegen"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/parser"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// workloadEnv makes the test binary a workload: it waits for a line on
// stdin, then calls getppid the given number of times and exits.
const workloadEnv = "XTRACE_SCOPE_TEST_WORKLOAD"

func TestMain(m *testing.M) {
	if n := os.Getenv(workloadEnv); n != "" {
		calls, _ := strconv.Atoi(n)
		bufio.NewReader(os.Stdin).ReadString('\n')
		for range calls {
			syscall.Getppid()
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// workload is a started, waiting workload process.
type workload struct {
	cmd *exec.Cmd
	go_ *os.File
}

func startWorkload(t *testing.T, calls int, newPidNS bool) *workload {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workloadEnv+"="+strconv.Itoa(calls))
	if newPidNS {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	t.Cleanup(func() { w.Close(); cmd.Process.Kill(); cmd.Wait() })
	return &workload{cmd: cmd, go_: w}
}

func (w *workload) run(t *testing.T) {
	t.Helper()
	if _, err := w.go_.WriteString("go\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
}

// countGetppid loads a program counting getppid calls under scope s and
// returns a function that reads the count.
func countGetppid(t *testing.T, s program.Scope) func() uint64 {
	t.Helper()
	src := `rawtracepoint:sys_enter { @[arg1] = count(); }`
	prog, err := parser.ParseFile("scope.bt", src)
	if err != nil {
		t.Fatal(err)
	}
	info, err := check.Check(prog)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := codegen.Compile(prog, info, nil, codegen.Options{Scope: s})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	coll, err := ebpf.NewCollection(ps.Collection)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { coll.Close() })
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: coll.Programs[ps.Probes[0].Program]})
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	m := coll.Maps[ps.Maps[0].BPFName]
	return func() uint64 {
		key := binary.LittleEndian.AppendUint64(nil, uint64(syscall.SYS_GETPPID))
		var vals [][]byte
		if err := m.Lookup(key, &vals); errors.Is(err, ebpf.ErrKeyNotExist) {
			return 0
		} else if err != nil {
			t.Fatal(err)
		}
		var sum uint64
		for _, v := range vals {
			sum += binary.LittleEndian.Uint64(v)
		}
		return sum
	}
}

// TestScopeCountsOnlyTheTarget runs two workloads, one inside the target
// and one outside, under the filter this package computes, and checks that
// the kernel counted exactly the inside one.
func TestScopeCountsOnlyTheTarget(t *testing.T) {
	h := requireCgroup2(t)
	const inside, outside = 1000, 3000
	uid := uuid.NewString()
	podRel := "kubepods/besteffort/pod" + uid
	base := makeCgroups(t, h, podRel+"/"+cidA, podRel+"/"+cidB)

	tests := []struct {
		name       string
		containers []spec.Container
		ctr        string // the inside workload's container
		want       uint64
	}{
		{name: "whole pod", ctr: cidB, want: inside},
		{name: "selected container", containers: []spec.Container{{Name: "a", ID: "containerd://" + cidA}}, ctr: cidA, want: inside},
		{name: "other container", containers: []spec.Container{{Name: "a", ID: "containerd://" + cidA}}, ctr: cidB, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A process keeps the pod populated, as its pause container does.
			runIn(t, h, base+"/"+podRel+"/"+cidA)
			ms, err := ForTarget(spec.Target{Node: "n", Pods: []spec.Pod{{Namespace: "default", Name: "web", UID: uid, Containers: tt.containers}}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			// The match names a process of the target, for resolving
			// uprobe paths in its container.
			if cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", ms[0].Pid)); err != nil || !strings.Contains(string(cg), podRel) {
				t.Errorf("match pid %d is not in the pod (cgroup %q, %v)", ms[0].Pid, cg, err)
			}
			count := countGetppid(t, ms[0].Scope)
			in, out := startWorkload(t, inside, false), startWorkload(t, outside, false)
			if err := os.WriteFile(filepath.Join(h.mount, base, podRel, tt.ctr, "cgroup.procs"), []byte(strconv.Itoa(in.cmd.Process.Pid)), 0o644); err != nil {
				t.Fatal(err)
			}
			in.run(t)
			out.run(t)
			if got := count(); got != tt.want {
				t.Errorf("%s: counted %d getppid calls, want %d (inside %d, outside %d)", ms[0], got, tt.want, inside, outside)
			}
		})
	}
}

// TestPidNSScopeCountsOnlyTheTarget checks the cgroup v1 fallback in the
// kernel: the inside workload runs in its own pid namespace, and a fake
// proc root makes it look like the pod's process.
func TestPidNSScopeCountsOnlyTheTarget(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading eBPF programs and creating pid namespaces needs root")
	}
	const inside, outside = 1000, 3000
	in, out := startWorkload(t, inside, true), startWorkload(t, outside, false)
	uid := uuid.NewString()
	proc := t.TempDir()
	for pid, p := range map[int][2]string{
		1:   {"0::/\n", "/proc/1/ns/pid"},
		100: {"4:memory:/kubepods/besteffort/pod" + uid + "/" + cidA + "\n", fmt.Sprintf("/proc/%d/ns/pid", in.cmd.Process.Pid)},
	} {
		dir := filepath.Join(proc, strconv.Itoa(pid))
		if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(p[0]), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p[1], filepath.Join(dir, "ns", "pid")); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := ForTarget(spec.Target{Node: "n", Pods: []spec.Pod{{Namespace: "default", Name: "web", UID: uid}}},
		Options{CgroupRoot: t.TempDir(), ProcRoot: proc})
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Scope.Mode != program.ScopePidNS {
		t.Fatalf("ForTarget = %+v, want the pid namespace fallback", ms)
	}
	count := countGetppid(t, ms[0].Scope)
	in.run(t)
	out.run(t)
	if got := count(); got != inside {
		t.Errorf("%s: counted %d getppid calls, want %d (inside %d, outside %d)", ms[0], got, inside, inside, outside)
	}
}
