//go:build linux

package runner

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/attach"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/codegen"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

// requireRoot skips tests that load eBPF programs when not root. CI runs as
// root, so these tests run there.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading eBPF programs needs root")
	}
}

// runText runs a program locally and returns stdout and stderr.
func runText(t *testing.T, ctx context.Context, o LocalOptions) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	o.Stdout, o.Stderr = &stdout, &stderr
	if o.Name == "" {
		o.Name = "-e"
	}
	err := RunLocal(ctx, o)
	return stdout.String(), stderr.String(), err
}

func TestRunLocalText(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name       string
		prog       string
		wantStdout string
		wantStderr string
	}{
		{
			name:       "hello and exit",
			prog:       `BEGIN { printf("hello\n"); exit(); }`,
			wantStdout: "hello\n\n\n",
			wantStderr: "Attached 1 probe\n",
		},
		{
			name:       "END runs after exit in BEGIN",
			prog:       `BEGIN { @x = 3; exit(); } END { printf("end %d\n", @x); }`,
			wantStdout: "end 3\n\n\n@x: 3\n",
			wantStderr: "Attached 2 probes\n",
		},
		{
			name:       "nothing after exit is printed",
			prog:       `BEGIN { printf("a\n"); exit(); printf("b\n"); }`,
			wantStdout: "a\n\n\n",
			wantStderr: "Attached 1 probe\n",
		},
		{
			name:       "maps print sorted by name",
			prog:       `BEGIN { @b = 2; @a = 1; @[1, "x"] = count(); exit(); }`,
			wantStdout: "\n\n@[1, x]: 1\n@a: 1\n@b: 2\n",
			wantStderr: "Attached 1 probe\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runText(t, context.Background(), LocalOptions{Program: tt.prog, Duration: 30 * time.Second})
			if err != nil {
				t.Fatalf("RunLocal: %v\n%s", err, stderr)
			}
			if stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", stdout, tt.wantStdout)
			}
			if stderr != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", stderr, tt.wantStderr)
			}
		})
	}
}

// TestRunLocalStops checks the two other ways a trace ends, the deadline and
// the caller's context (Ctrl-C/SIGTERM): both run END and print the maps.
func TestRunLocalStops(t *testing.T) {
	requireRoot(t)
	prog := `tracepoint:syscalls:sys_enter_getppid /pid == ` + strconv.Itoa(os.Getpid()) + `/ { @calls = count(); } END { printf("stopping\n"); }`

	t.Run("deadline", func(t *testing.T) {
		start := time.Now()
		stdout, stderr, err := runText(t, context.Background(), LocalOptions{Program: prog, Duration: time.Second})
		if err != nil {
			t.Fatalf("RunLocal: %v\n%s", err, stderr)
		}
		if !strings.HasPrefix(stdout, "stopping\n\n\n") {
			t.Errorf("stdout = %q, want END's output and the map", stdout)
		}
		if time.Since(start) < time.Second {
			t.Errorf("returned after %v, before the 1s duration", time.Since(start))
		}
	})

	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- RunLocal(ctx, LocalOptions{Name: "-e", Program: prog, Stdout: &stdout, Stderr: &stderr})
		}()
		waitFor(t, &stderr, "Attached 2 probes")
		for i := 0; i < 25; i++ {
			syscall.Getppid()
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("RunLocal: %v", err)
		}
		if got, want := stdout.String(), "stopping\n\n\n@calls: 25\n"; got != want {
			t.Errorf("stdout = %q, want %q", got, want)
		}
	})
}

// TestRunRecords checks the record stream: its order, its end summary, and
// that the ring buffer's lost events are counted when a flood fills a
// small buffer.
func TestRunRecords(t *testing.T) {
	requireRoot(t)
	env, err := attach.NewHostEnv()
	if err != nil {
		t.Fatal(err)
	}
	src := `tracepoint:syscalls:sys_enter_getppid { printf("%d %d %d %d\n", pid, tid, nsecs, cpu); }`
	spec, err := lang.Compile("flood.bt", src, env, codegen.Options{
		Scope:       program.Scope{Mode: program.ScopePid, Pid: uint32(os.Getpid())},
		RingBufSize: 4096,
	})
	if err != nil {
		t.Fatal(err)
	}

	sink := &collect{}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Flood once the probe is attached, then stop the trace.
		for !sink.has(record.TypeAttached) {
			time.Sleep(10 * time.Millisecond)
		}
		for i := 0; i < 200000; i++ {
			syscall.Getppid()
		}
		cancel()
	}()
	end, err := Run(ctx, Config{TraceID: "t", Node: "n", Spec: spec, File: ast.NewFile("flood.bt", src), ScopeDesc: "pid", Sink: sink})
	if err != nil {
		t.Fatal(err)
	}

	types := sink.types()
	if types[0] != record.TypeStart || types[1] != record.TypeAttached || types[len(types)-2] != record.TypeExit || types[len(types)-1] != record.TypeEnd {
		t.Errorf("record order %v: want start, attached, …, exit, end", types)
	}
	var printfs, lostRecorded uint64
	for _, r := range sink.recs {
		switch r.Type {
		case record.TypePrintf:
			printfs++
		case record.TypeLost:
			lostRecorded += r.Lost
		}
		if r.V != record.Version || r.Node != "n" || r.Time.IsZero() {
			t.Fatalf("record %+v lacks version, node or time", r)
		}
	}
	if end.Reason != ReasonSignal {
		t.Errorf("end reason %q, want %q", end.Reason, ReasonSignal)
	}
	if end.Lost == 0 {
		t.Errorf("no lost events with a 4 KiB ring buffer and a flood of 200000 events (%d delivered)", printfs)
	}
	if lostRecorded != end.Lost {
		t.Errorf("lost records add up to %d, end says %d", lostRecorded, end.Lost)
	}
	if printfs+end.Lost != 200000 {
		t.Errorf("delivered %d + lost %d != 200000 events", printfs, end.Lost)
	}
}

func TestRunErrors(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name string
		o    LocalOptions
		want string
	}{
		{"syntax", LocalOptions{Program: `BEGIN { printf("x" }`}, `-e:1:20: expected ')', found '}'`},
		{"unknown tracepoint", LocalOptions{Program: `tracepoint:nosuch:thing { @ = count(); }`}, "nosuch"},
		{"kprobe on a kernel without kprobes", LocalOptions{Program: `kprobe:vfs_read { @ = count(); }`}, "kprobe"},
		{"both scopes", LocalOptions{Program: `BEGIN { exit(); }`, Pid: 1, CgroupPath: "/"}, "--cgroup and --pid"},
		{"no such pid", LocalOptions{Program: `BEGIN { exit(); }`, Pid: 4194000}, "no such process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runText(t, context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestVerifierReason(t *testing.T) {
	tests := []struct {
		log  []string
		want string
	}{
		{[]string{"0: (b7) r0 = 0", "R1 invalid mem access 'scalar'", "processed 3 insns (limit 1000000)", ""}, "R1 invalid mem access 'scalar'"},
		{[]string{"unknown func bpf_foo#999", "verification time 5 usec", "stack depth 0"}, "unknown func bpf_foo#999"},
		{nil, "no reason given"},
	}
	for _, tt := range tests {
		if got := verifierReason(tt.log); got != tt.want {
			t.Errorf("verifierReason(%q) = %q, want %q", tt.log, got, tt.want)
		}
	}
}

// collect is a Sink that keeps every record.
type collect struct {
	mu   sync.Mutex
	recs []*record.Record
}

func (c *collect) Write(r *record.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, r)
	return nil
}

func (c *collect) has(typ record.Type) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.recs {
		if r.Type == typ {
			return true
		}
	}
	return false
}

func (c *collect) types() []record.Type {
	var ts []record.Type
	for _, r := range c.recs {
		ts = append(ts, r.Type)
	}
	return ts
}

func waitFor(t *testing.T, b *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(b.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q after 60s: %q", s, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
