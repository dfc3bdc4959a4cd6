//go:build kernels_guest

package guest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/runner"
)

// lockThread pins the test to one thread and returns its id, so that a
// predicate on tid sees exactly the reads the test does.
func lockThread(t *testing.T) int {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	return unix.Gettid()
}

// TestLangKprobeCount: a kprobe one-liner compiled by our compiler,
// attached for real, counts exactly this thread's vfs_read calls.
func TestLangKprobeCount(t *testing.T) {
	tid := lockThread(t)
	r := newReader(t)
	stdout, _ := traceLocal(t, runner.LocalOptions{
		Program: fmt.Sprintf("kprobe:vfs_read /tid == %d/ { @ = count(); }", tid) + exitOn(fmt.Sprint("tid == ", tid)),
	}, byExit, func() { r.read(50, 100, 0) })
	if got := mapValues(t, stdout)["@"]; got != 50 {
		t.Errorf("@ = %d, want 50 (one per read)", got)
	}
}

// TestLangKprobeArgs: arg2 of vfs_read(file, buf, count, pos) is the size
// asked for; the short form k: and a map keyed by it.
func TestLangKprobeArgs(t *testing.T) {
	tid := lockThread(t)
	r := newReader(t)
	stdout, _ := traceLocal(t, runner.LocalOptions{
		Program: fmt.Sprintf("k:vfs_read /tid == %d/ { @[arg2] = count(); }", tid) + exitOn(fmt.Sprint("tid == ", tid)),
	}, byExit, func() {
		r.read(3, 123, 0)
		r.read(2, 456, 0)
	})
	vals := mapValues(t, stdout)
	if vals["@[123]"] != 3 || vals["@[456]"] != 2 || len(vals) != 2 {
		t.Errorf("maps = %v, want @[123]: 3 and @[456]: 2 only", vals)
	}
}

// TestLangKretprobeRetval: retval in a kretprobe is what vfs_read
// returned; sum and the linear histogram of the tutorial's lesson.
func TestLangKretprobeRetval(t *testing.T) {
	tid := lockThread(t)
	r := newReader(t)
	stdout, _ := traceLocal(t, runner.LocalOptions{
		Program: fmt.Sprintf("kretprobe:vfs_read /tid == %d/ { @bytes = lhist(retval, 0, 2000, 200); @total = sum(retval); }", tid) + exitOn(fmt.Sprint("tid == ", tid)),
	}, byExit, func() {
		r.read(30, 100, 0)
		r.read(20, 1000, 0)
		r.read(10, 100, 4096) // at the end of the file: returns 0
	})
	if got := mapValues(t, stdout)["@total"]; got != 30*100+20*1000 {
		t.Errorf("@total = %d, want %d", got, 30*100+20*1000)
	}
	h := histograms(t, stdout)["@bytes"]
	if h == nil {
		t.Fatalf("no @bytes histogram in the output")
	}
	for label, want := range map[string]int64{"0, 200": 40, "1000, 1200": 20} {
		if h[label] != want {
			t.Errorf("@bytes bucket [%s) = %d, want %d (all buckets %v)", label, h[label], want, h)
		}
	}
	var n int64
	for _, c := range h {
		n += c
	}
	if n != 60 {
		t.Errorf("@bytes counts %d reads, want 60: %v", n, h)
	}
}

// TestLangKprobeBuiltins: probe, func and comm in a kprobe, as map keys.
func TestLangKprobeBuiltins(t *testing.T) {
	tid := lockThread(t)
	r := newReader(t)
	stdout, _ := traceLocal(t, runner.LocalOptions{
		Program: fmt.Sprintf("kprobe:vfs_read /tid == %d/ { @[probe, func, comm] = count(); }", tid) + exitOn(fmt.Sprint("tid == ", tid)),
	}, byExit, func() { r.read(7, 10, 0) })
	comm := threadComm(t)
	want := fmt.Sprintf("@[kprobe:vfs_read, vfs_read, %s]", comm)
	if got := mapValues(t, stdout); got[want] != 7 || len(got) != 1 {
		t.Errorf("maps = %v, want %s: 7 only", got, want)
	}
}

// TestLangKprobePrintfExit: printf from a kprobe through the ring buffer,
// and exit() ending the trace by itself.
func TestLangKprobePrintfExit(t *testing.T) {
	tid := lockThread(t)
	r := newReader(t)
	// The exit() is in the kprobe itself: the first read ends the trace,
	// and printf output after exit() is dropped as bpftrace does.
	stdout, _ := traceLocal(t, runner.LocalOptions{
		Program: fmt.Sprintf(`kprobe:vfs_read /tid == %d/ { printf("read of %%d bytes by tid %%d\n", arg2, tid); exit(); }`, tid),
	}, byExit, func() { r.read(3, 42, 0) })
	want := fmt.Sprintf("read of 42 bytes by tid %d\n", tid)
	if !strings.HasPrefix(stdout, want) || strings.Count(stdout, "read of") != 1 {
		t.Errorf("stdout = %q, want it to start with %q, once", stdout, want)
	}
}

// TestRunnerStopsOnCancel: Ctrl-C (the caller's context) ends a trace
// whose program never writes an event, and the final maps are printed.
func TestRunnerStopsOnCancel(t *testing.T) {
	tid := lockThread(t)
	r := newReader(t)
	stdout, _ := traceLocal(t, runner.LocalOptions{
		Program: fmt.Sprintf("kprobe:vfs_read /tid == %d/ { @ = count(); }", tid),
	}, byCancel, func() { r.read(5, 100, 0) })
	if got := mapValues(t, stdout)["@"]; got != 5 {
		t.Errorf("@ = %d, want 5", got)
	}
}

// TestRunnerStopsAtDuration: --duration ends such a trace too.
func TestRunnerStopsAtDuration(t *testing.T) {
	tid := lockThread(t)
	r := newReader(t)
	stdout, _ := traceLocal(t, runner.LocalOptions{
		Program:  fmt.Sprintf("kprobe:vfs_read /tid == %d/ { @ = count(); }", tid),
		Duration: 3 * time.Second,
	}, byDuration, func() { r.read(5, 100, 0) })
	if got := mapValues(t, stdout)["@"]; got != 5 {
		t.Errorf("@ = %d, want 5", got)
	}
}

// TestLangKprobeErrors: a kernel function that does not exist is one
// readable error, and so is the tutorial's struct-cast lesson, which the
// language does not support (casts).
func TestLangKprobeErrors(t *testing.T) {
	out := newOutput()
	err := runner.RunLocal(t.Context(), runner.LocalOptions{
		Name: "-e", Program: "kprobe:xtrace_no_such_function { @ = count(); }",
		Duration: time.Second, Stdout: outWriter{o: out}, Stderr: outWriter{o: out, err: true},
	})
	t.Logf("unknown function: %v", err)
	if err == nil || !errors.Is(err, program.ErrNotFound) || !strings.Contains(err.Error(), "xtrace_no_such_function") {
		t.Errorf("err = %v, want a not-found error naming the function", err)
	}

	// bpftrace tutorial lesson 11 ("kernel struct tracing").
	const lesson = `kprobe:vfs_open { printf("open path: %s\n", str(((struct path *)arg0)->dentry->d_name.name)); }`
	err = lang.CheckSource("lesson11.bt", lesson)
	t.Logf("lesson 11: %v", err)
	if err == nil || !strings.HasPrefix(err.Error(), "lesson11.bt:1:") {
		t.Errorf("CheckSource(lesson 11) = %v, want a file:line:col error", err)
	}
}

func threadComm(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
