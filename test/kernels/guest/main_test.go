//go:build kernels_guest

// Package guest holds the tests that run inside the qemu guest booted by
// test/kernels: a real Debian kernel with kprobes, BTF, and either only
// cgroup v2 or only cgroup v1 mounted. They are built with the build tag
// kernels_guest by the host harness and refuse to run anywhere else, since
// they create cgroups, attach probes and mount nothing themselves.
package guest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupsEnv is set by the guest's /init to "v1" or "v2"
// (kernels.GuestCgroupsEnv; not imported, to keep the harness out of the
// guest binary).
const cgroupsEnv = "XTRACE_GUEST_CGROUPS"

// workerEnv turns the test binary into a workload process: see worker.
const workerEnv = "XTRACE_GUEST_WORKER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(workerEnv); spec != "" {
		os.Exit(worker(spec))
	}
	// -test.list is how the host checks that every test here runs in some
	// boot; listing is harmless anywhere.
	if os.Getenv(cgroupsEnv) == "" && !listing() {
		fmt.Fprintf(os.Stderr, "these tests run inside the qemu guest of test/kernels (%s is not set): run go test -tags kernels ./test/kernels/\n", cgroupsEnv)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func listing() bool {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.list") {
			return true
		}
	}
	return false
}

// cgroups says which layout the guest has.
func cgroups() string { return os.Getenv(cgroupsEnv) }

// requireCgroups fails (not skips) a test run in the wrong boot: the host
// harness chooses the tests per boot, so a mismatch is a harness bug.
func requireCgroups(t *testing.T, want string) {
	t.Helper()
	if got := cgroups(); got != want {
		t.Fatalf("this test needs the cgroup %s boot, the guest booted with cgroup %s", want, got)
	}
}

// worker is the workload: "COMM N" sets the thread's name to COMM, waits
// for a line on stdin, reads 100 bytes N times with pread(2) (each one
// vfs_read in the kernel), calls getppid(2) (which ends a trace that has
// exitOn for it) and exits. Doing the reads on one locked thread
// whose comm is set makes the expected counts exact.
func worker(spec string) int {
	var comm string
	var n int
	if _, err := fmt.Sscan(spec, &comm, &n); err != nil {
		fmt.Fprintf(os.Stderr, "worker %q: %v\n", spec, err)
		return 2
	}
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		fmt.Fprintf(os.Stderr, "worker: %v\n", err)
		return 2
	}
	// Waiting for the go reads the stdin pipe: a vfs_read too, so the
	// thread gets its name only afterwards, and that read is not counted.
	bufio.NewReader(os.Stdin).ReadString('\n')
	runtime.LockOSThread()
	// The comm of this thread only: the reads happen on it.
	if err := os.WriteFile("/proc/thread-self/comm", []byte(comm), 0); err != nil {
		fmt.Fprintf(os.Stderr, "worker: naming the thread: %v\n", err)
		return 2
	}
	buf := make([]byte, 100)
	for range n {
		if _, err := unix.Pread(int(f.Fd()), buf, 0); err != nil {
			fmt.Fprintf(os.Stderr, "worker: pread: %v\n", err)
			return 2
		}
	}
	syscall.Getppid()
	return 0
}

// workload is a started worker waiting for its go.
type workload struct {
	cmd  *exec.Cmd
	goW  *os.File
	comm string
}

// startWorker starts a worker named comm that will do n reads; attr adds
// namespaces or a cgroup.
func startWorker(t *testing.T, comm string, n int, attr *syscall.SysProcAttr) *workload {
	t.Helper()
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+comm+" "+strconv.Itoa(n))
	cmd.SysProcAttr = attr
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting worker %s: %v", comm, err)
	}
	r.Close()
	wl := &workload{cmd: cmd, goW: w, comm: comm}
	t.Cleanup(func() {
		w.Close()
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return wl
}

// run lets the worker do its reads and waits for it.
func (w *workload) run(t *testing.T) {
	t.Helper()
	if _, err := w.goW.WriteString("go\n"); err != nil {
		t.Fatalf("worker %s: %v", w.comm, err)
	}
	w.goW.Close()
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker %s: %v", w.comm, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("worker %s did not finish its reads in 60s", w.comm)
	}
}
