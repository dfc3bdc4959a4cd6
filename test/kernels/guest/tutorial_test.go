//go:build kernels_guest

package guest

import (
	"fmt"
	"testing"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/runner"
)

// The kprobe lessons of the bpftrace one-liner tutorial, in their original
// form: unfiltered, so the whole guest is traced while the test reads. The
// tutorial ends them with Ctrl-C; here an extra block ends them by exit()
// when the test is done (TestRunnerStopsOnCancel covers Ctrl-C).

// TestTutorialReadBytes is lesson 5, "Kernel dynamic tracing of read()
// bytes".
func TestTutorialReadBytes(t *testing.T) {
	tid := lockThread(t)
	r := newReader(t)
	stdout, _ := traceLocal(t, runner.LocalOptions{
		Program: `kretprobe:vfs_read { @bytes = lhist(retval, 0, 2000, 200); }` + exitOn(fmt.Sprint("tid == ", tid)),
	}, byExit, func() { r.read(20, 1000, 0) })
	h := histograms(t, stdout)["@bytes"]
	if h == nil {
		t.Fatal("no @bytes histogram in the output")
	}
	if h["1000, 1200"] < 20 {
		t.Errorf("@bytes bucket [1000, 1200) = %d, want at least the test's 20 reads: %v", h["1000, 1200"], h)
	}
}

// TestTutorialReadLatency is lesson 6, "Kernel dynamic tracing of read()
// latency": a kprobe and a kretprobe sharing a map keyed by tid.
func TestTutorialReadLatency(t *testing.T) {
	tid := lockThread(t)
	r := newReader(t)
	comm := threadComm(t)
	stdout, _ := traceLocal(t, runner.LocalOptions{
		Program: `kprobe:vfs_read { @start[tid] = nsecs; } kretprobe:vfs_read /@start[tid]/ { @ns[comm] = hist(nsecs - @start[tid]); delete(@start[tid]); }` +
			exitOn(fmt.Sprint("tid == ", tid)),
	}, byExit, func() { r.read(20, 1000, 0) })
	h := histograms(t, stdout)["@ns["+comm+"]"]
	if h == nil {
		t.Fatalf("no @ns[%s] histogram in the output", comm)
	}
	var n int64
	for _, c := range h {
		n += c
	}
	if n < 20 {
		t.Errorf("@ns[%s] counts %d reads, want at least the test's 20: %v", comm, n, h)
	}
}
