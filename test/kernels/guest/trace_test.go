//go:build kernels_guest

package guest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/attach"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/codegen"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/runner"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/scope"
)

// attachTimeout bounds compiling, loading and attaching under TCG, which
// is 10–50 times slower than the host.
const attachTimeout = 90 * time.Second

// output collects what a trace writes and notices the "Attached N probes"
// line, after which the probes are live.
type output struct {
	mu       sync.Mutex
	stdout   bytes.Buffer
	stderr   bytes.Buffer
	attached chan struct{}
	once     sync.Once
}

func newOutput() *output { return &output{attached: make(chan struct{})} }

type outWriter struct {
	o   *output
	err bool
}

func (w outWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	if !w.err {
		return w.o.stdout.Write(p)
	}
	n, err := w.o.stderr.Write(p)
	if strings.Contains(w.o.stderr.String(), "Attached ") {
		w.o.once.Do(func() { close(w.o.attached) })
	}
	return n, err
}

func (o *output) texts() (string, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stdout.String(), o.stderr.String()
}

// ending says how a test ends its trace.
type ending int

const (
	// byExit: the program ends itself. Tests append exitOn(...) to it and
	// the test thread (or the inside worker) calls getppid when done.
	// Counting with it does not depend on how fast a stop takes effect.
	byExit ending = iota
	// byCancel: the caller's context is cancelled, as Ctrl-C does.
	byCancel
	// byDuration: LocalOptions.Duration runs out.
	byDuration
)

func (e ending) String() string {
	return [...]string{"exit()", "cancel (Ctrl-C)", "--duration"}[e]
}

// exitOn is a probe block that ends the trace when a thread matching the
// predicate calls getppid(2), which nothing else in the tests does.
func exitOn(predicate string) string {
	return fmt.Sprintf(" tracepoint:syscalls:sys_enter_getppid /%s/ { exit(); }", predicate)
}

// endWait bounds the wait for a trace to end after its end was triggered.
const endWait = 30 * time.Second

// traceLocal runs a program the way `kubectl xtrace run --local` does
// (runner.RunLocal). Once its probes are attached it calls during, then
// ends the trace as end says and returns stdout and stderr.
func traceLocal(t *testing.T, o runner.LocalOptions, end ending, during func()) (string, string) {
	t.Helper()
	out := newOutput()
	o.Stdout, o.Stderr = outWriter{o: out}, outWriter{o: out, err: true}
	if o.Name == "" {
		o.Name = "-e"
	}
	return runTrace(t, out, o.Program, end, during, func(ctx context.Context) error { return runner.RunLocal(ctx, o) })
}

// traceScoped compiles and runs a program under a scope.Match the way
// trace-runner does for a pod target: lang.Compile with the match's
// in-kernel filter, then runner.Run. The program must end itself (byExit).
func traceScoped(t *testing.T, src string, m scope.Match, during func()) (string, string) {
	t.Helper()
	out := newOutput()
	return runTrace(t, out, src, byExit, during, func(ctx context.Context) error {
		env, err := attach.NewHostEnv()
		if err != nil {
			return fmt.Errorf("reading the kernel's probes: %w", err)
		}
		spec, err := lang.Compile("-e", src, env, codegen.Options{Scope: m.Scope})
		if err != nil {
			return err
		}
		end, err := runner.Run(ctx, runner.Config{
			TraceID:   uuid.NewString(),
			Node:      "xtrace-guest",
			Spec:      spec,
			File:      ast.NewFile("-e", src),
			ScopeDesc: m.String(),
			Sink:      record.NewTextRenderer(outWriter{o: out}, outWriter{o: out, err: true}),
		})
		if err != nil {
			return err
		}
		if end.Reason == runner.ReasonError {
			return fmt.Errorf("the trace stopped early: %s", end.Error)
		}
		return nil
	})
}

// runTrace runs a trace, calls during once it is attached, then ends it.
func runTrace(t *testing.T, out *output, src string, end ending, during func(), run func(context.Context) error) (string, string) {
	t.Helper()
	t.Logf("program: %s", src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- run(ctx) }()

	var err error
	select {
	case <-out.attached:
		t.Logf("attached after %s", time.Since(start).Round(time.Millisecond))
	case err = <-done:
		stdout, stderr := out.texts()
		t.Fatalf("the trace ended before attaching: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	case <-time.After(attachTimeout):
		t.Fatalf("the trace did not attach in %s", attachTimeout)
	}
	during()
	switch end {
	case byExit:
		syscall.Getppid()
	case byCancel:
		cancel()
	}
	triggered := time.Now()
	select {
	case err = <-done:
		t.Logf("ended by %s after %s", end, time.Since(triggered).Round(time.Millisecond))
	case <-time.After(endWait):
		stdout, stderr := out.texts()
		t.Fatalf("the trace did not end within %s of its end by %s (runner hang?)\nstdout so far:\n%s\nstderr so far:\n%s", endWait, end, stdout, stderr)
	}
	stdout, stderr := out.texts()
	t.Logf("stdout:\n%s", stdout)
	if stderr != "" {
		t.Logf("stderr:\n%s", stderr)
	}
	if err != nil {
		t.Fatalf("trace failed: %v", err)
	}
	return stdout, stderr
}

// mapLine matches a scalar map entry such as "@: 50" or "@[xt-in]: 100".
var mapLine = regexp.MustCompile(`(?m)^(@\w*(?:\[.*\])?): (-?\d+)$`)

// mapValues returns the scalar entries of printed maps by their key text.
func mapValues(t *testing.T, stdout string) map[string]int64 {
	t.Helper()
	vals := make(map[string]int64)
	for _, m := range mapLine.FindAllStringSubmatch(stdout, -1) {
		v, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil {
			t.Fatalf("map line %q: %v", m[0], err)
		}
		vals[m[1]] = v
	}
	return vals
}

// histLine matches one bucket of a printed hist or lhist:
// "[1000, 1200)          20 |@@@@@   |".
var histLine = regexp.MustCompile(`^\[([^\]]+?)[\])]\s+(\d+) \|[@ ]*\|$`)

// histograms returns the buckets of each printed histogram by map name
// ("@bytes", "@ns[guest.test]") and bucket label ("0, 200", "4K, 8K").
func histograms(t *testing.T, stdout string) map[string]map[string]int64 {
	t.Helper()
	hs := make(map[string]map[string]int64)
	var cur map[string]int64
	for _, line := range strings.Split(stdout, "\n") {
		// A histogram's header is its name alone: "@bytes: ".
		if strings.HasPrefix(line, "@") && strings.HasSuffix(line, ": ") {
			cur = make(map[string]int64)
			hs[strings.TrimSuffix(line, ": ")] = cur
			continue
		}
		if m := histLine.FindStringSubmatch(line); m != nil && cur != nil {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			cur[m[1]] = n
		}
	}
	return hs
}

// reader does preads of given sizes on this goroutine's locked thread.
type reader struct {
	t   *testing.T
	f   *os.File
	buf []byte
}

func newReader(t *testing.T) *reader {
	t.Helper()
	// 4 KiB of known content, so reads return exactly what they ask for
	// up to that size and 0 past the end.
	path := t.TempDir() + "/data"
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &reader{t: t, f: f, buf: make([]byte, 4096)}
}

// read does n reads of size bytes at offset off; each returns
// min(size, 4096-off) bytes.
func (r *reader) read(n, size int, off int64) {
	r.t.Helper()
	for range n {
		if _, err := r.f.ReadAt(r.buf[:size], off); err != nil && off < 4096 {
			r.t.Fatalf("reading %d bytes at %d: %v", size, off, err)
		}
	}
}
