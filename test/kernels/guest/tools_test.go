//go:build kernels_guest

package guest

import (
	"strings"
	"testing"
	"time"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/runner"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/tools"
)

// TestToolsAttach runs every tool of the library (`--tool NAME`) for a
// second on a stock Debian kernel: each must compile for it, attach all
// its probes and end at its --duration without an error. On the
// development machine some of their probes cannot attach at all.
func TestToolsAttach(t *testing.T) {
	names := tools.Names()
	if len(names) == 0 {
		t.Fatal("the tool library is empty")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			src, ok := tools.Lookup(name)
			if !ok {
				t.Fatalf("tools.Lookup(%q) found nothing although Names lists it", name)
			}
			out := newOutput()
			start := time.Now()
			err := runner.RunLocal(t.Context(), runner.LocalOptions{
				Name: name + ".bt", Program: src, Duration: time.Second,
				Stdout: outWriter{o: out}, Stderr: outWriter{o: out, err: true},
			})
			stdout, stderr := out.texts()
			t.Logf("%s in %s\nstdout:\n%s\nstderr:\n%s", name, time.Since(start).Round(time.Millisecond), stdout, stderr)
			if err != nil {
				t.Fatalf("--tool %s: %v", name, err)
			}
			if !strings.Contains(stderr, "Attached ") {
				t.Errorf("--tool %s ended without attaching", name)
			}
		})
	}
}
