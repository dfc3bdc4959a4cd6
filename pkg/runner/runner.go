//go:build linux

package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/attach"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/decode"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

// Exit reasons written in the end record.
const (
	ReasonExit     = "exit"     // the program called exit()
	ReasonSignal   = "signal"   // SIGINT/SIGTERM, or the caller's context
	ReasonDeadline = "deadline" // the trace's duration passed
	ReasonError    = "error"    // the trace could not go on
)

// Sink receives the records of a trace in order.
type Sink interface {
	Write(r *record.Record) error
}

// Config describes one trace to run.
type Config struct {
	TraceID string
	Node    string
	Spec    *program.Spec
	File    *ast.File // the source, to point verifier errors at a line

	// ScopeDesc says, for the start record, which in-kernel filter is in
	// force (Spec.Scope), e.g. "cgroup v2 id 1234 at level 4".
	ScopeDesc string

	// Duration stops the trace after this long; zero means no limit.
	Duration time.Duration

	// AttachRoot is the directory uprobe paths are resolved under, such as
	// /proc/<pid>/root for a container; empty means this host's root.
	AttachRoot string

	Sink Sink
}

// Run executes the trace until the program calls exit(), the duration
// passes, or ctx is done; then it runs END and writes the final maps. It
// returns the end summary, which it has also written to the sink. Errors
// before tracing starts (load, attach) are returned; the caller decides how
// to report them.
func Run(ctx context.Context, cfg Config) (*record.End, error) {
	t := &trace{cfg: cfg, spec: cfg.Spec}
	defer t.close()
	if err := t.load(); err != nil {
		return nil, err
	}
	if err := t.start(); err != nil {
		return nil, err
	}
	reason := t.wait(ctx)
	return t.finish(reason)
}

// trace is a running trace: everything in it is live and must be closed.
type trace struct {
	cfg  Config
	spec *program.Spec

	coll    *ebpf.Collection
	events  *ringbuf.Reader
	links   []io.Closer
	decoder *decode.Decoder

	lost lostCounter

	mu      sync.Mutex // serialises emit between the event loop and wait
	written uint64     // records handed to the sink

	// exitCalled is closed by the event loop when the program calls exit().
	exitCalled chan struct{}
	// loopDone is closed when the event loop has returned.
	loopDone chan struct{}
	// loopErr is the error that ended the event loop early, if any.
	loopErr error
	// stopping tells the event loop that a deadline error is a request to
	// return rather than a failure.
	stopping atomic.Bool
}

// load creates the maps and programs in the kernel and prepares the reader
// and decoder. Nothing runs yet.
func (t *trace) load() error {
	removeMemlockLimit()
	coll, err := ebpf.NewCollection(t.spec.Collection)
	if err != nil {
		return t.explainLoadError(err)
	}
	t.coll = coll

	out := coll.Maps[t.spec.OutputMap]
	if out == nil {
		return fmt.Errorf("compiled program has no output map %q: this is a bug in xtrace", t.spec.OutputMap)
	}
	t.events, err = ringbuf.NewReader(out)
	if err != nil {
		return fmt.Errorf("opening the event ring buffer: %w", err)
	}
	if t.spec.LostMap != "" {
		t.lost.m = coll.Maps[t.spec.LostMap]
	}
	t.decoder, err = decode.NewDecoder(t.spec, coll)
	if err != nil {
		return fmt.Errorf("preparing the output decoder: %w", err)
	}
	return nil
}

// start writes the start record, runs BEGIN, attaches every other probe and
// starts reading events.
func (t *trace) start() error {
	uname := kernelRelease()
	if err := t.emit(&record.Record{Type: record.TypeStart, Start: &record.Start{
		TraceID: t.cfg.TraceID, Node: t.cfg.Node, Kernel: uname, Scope: t.cfg.ScopeDesc,
	}}); err != nil {
		return err
	}
	if err := t.setElapsedStart(); err != nil {
		return err
	}

	// The event loop starts before BEGIN so that BEGIN's output is read as
	// soon as it is written, and an exit() in BEGIN ends the trace.
	t.exitCalled = make(chan struct{})
	t.loopDone = make(chan struct{})
	go t.readEvents()

	if err := t.runSpecial(ast.Begin); err != nil {
		return err
	}
	attached := 0
	for _, p := range t.spec.Probes {
		if p.Kind == ast.Begin || p.Kind == ast.End {
			attached++
			continue
		}
		prog := t.coll.Programs[p.Program]
		l, err := attach.Probe(p, prog, attach.Options{Root: t.cfg.AttachRoot})
		if err != nil {
			// attach's errors already name the probe.
			if t.cfg.File != nil && p.Pos != ast.NoPos {
				return fmt.Errorf("%s: %w", t.cfg.File.Position(p.Pos), err)
			}
			return err
		}
		t.links = append(t.links, l)
		attached++
	}
	return t.emit(&record.Record{Type: record.TypeAttached, Probes: attached})
}

// wait blocks until the trace should stop and says why.
func (t *trace) wait(ctx context.Context) string {
	var deadline <-chan time.Time
	if t.cfg.Duration > 0 {
		timer := time.NewTimer(t.cfg.Duration)
		defer timer.Stop()
		deadline = timer.C
	}
	lostTick := time.NewTicker(time.Second)
	defer lostTick.Stop()
	for {
		select {
		case <-t.exitCalled:
			return ReasonExit
		case <-t.loopDone:
			if t.loopErr != nil {
				return ReasonError
			}
			return ReasonExit
		case <-deadline:
			return ReasonDeadline
		case <-ctx.Done():
			return ReasonSignal
		case <-lostTick.C:
			t.reportLost()
		}
	}
}

// finish detaches the probes, runs END, drains the remaining events and
// writes the maps and the end record, in bpftrace's order.
func (t *trace) finish(reason string) (*record.End, error) {
	t.detach()
	t.stopLoop()
	// Events still queued were written before the probes went away. bpftrace
	// prints them unless the program called exit(), after which it ignores
	// everything but END's own output.
	t.drain(!t.exitSeen())
	// END runs however the trace ends, as in bpftrace, so its output and its
	// last touches to the maps are never lost.
	endErr := t.runSpecial(ast.End)
	t.drain(true)
	t.reportLost()

	if err := t.emit(&record.Record{Type: record.TypeExit}); err != nil {
		return nil, err
	}
	for _, m := range t.spec.Maps {
		rec, err := t.decoder.ReadMap(t.coll.Maps[m.BPFName], m, 0, 0)
		if err != nil {
			return nil, fmt.Errorf("reading map %s: %w", m.Name, err)
		}
		if err := t.emit(&record.Record{Type: record.TypeMap, Map: rec}); err != nil {
			return nil, err
		}
	}

	end := &record.End{Reason: reason, Records: t.written, Lost: t.lost.total}
	if t.loopErr != nil {
		end.Reason = ReasonError
		end.Error = t.loopErr.Error()
	} else if endErr != nil {
		end.Error = endErr.Error()
	}
	if err := t.emit(&record.Record{Type: record.TypeEnd, End: end}); err != nil {
		return nil, err
	}
	return end, nil
}

// exitSeen reports whether the program called exit().
func (t *trace) exitSeen() bool {
	select {
	case <-t.exitCalled:
		return true
	default:
		return false
	}
}

// runSpecial runs every BEGIN or END program once, in source order, with
// BPF_PROG_TEST_RUN, as bpftrace does on kernels that support it.
func (t *trace) runSpecial(kind ast.ProbeKind) error {
	for _, p := range t.spec.Probes {
		if p.Kind != kind {
			continue
		}
		prog := t.coll.Programs[p.Program]
		if _, err := prog.Run(&ebpf.RunOptions{}); err != nil {
			return fmt.Errorf("%s: running the program: %w", t.where(p), err)
		}
	}
	return nil
}

// detach closes every link, newest first, so no more events fire.
func (t *trace) detach() {
	for i := len(t.links) - 1; i >= 0; i-- {
		t.links[i].Close()
	}
	t.links = nil
}

// close releases everything the trace holds. It is safe after a partial
// start.
func (t *trace) close() {
	t.detach()
	if t.events != nil {
		t.events.Close()
		if t.loopDone != nil {
			<-t.loopDone
		}
	}
	if t.coll != nil {
		t.coll.Close()
	}
}

// emit stamps a record and hands it to the sink.
func (t *trace) emit(r *record.Record) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	r.V = record.Version
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	if r.Node == "" {
		r.Node = t.cfg.Node
	}
	if err := t.cfg.Sink.Write(r); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	t.written++
	return nil
}

// setElapsedStart records the start time the `elapsed` builtin counts from.
// The kernel's bpf_ktime_get_ns is CLOCK_MONOTONIC.
func (t *trace) setElapsedStart() error {
	if t.spec.ElapsedMap == "" {
		return nil
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fmt.Errorf("reading the monotonic clock: %w", err)
	}
	m := t.coll.Maps[t.spec.ElapsedMap]
	if err := m.Put(uint32(0), uint64(ts.Nano())); err != nil {
		return fmt.Errorf("setting the start time for elapsed: %w", err)
	}
	return nil
}

// where names a probe and its place in the source for messages.
func (t *trace) where(p program.Probe) string {
	if t.cfg.File == nil || p.Pos == ast.NoPos {
		return p.Name
	}
	return fmt.Sprintf("%s: %s", t.cfg.File.Position(p.Pos), p.Name)
}

// removeMemlockLimit lifts RLIMIT_MEMLOCK for kernels older than 5.11,
// which charge BPF memory to it. Newer kernels account BPF memory to the
// memory cgroup instead, so failing here (no CAP_SYS_RESOURCE) only matters
// on old kernels, where loading will then fail with a clear EPERM.
func removeMemlockLimit() {
	_ = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY})
}

// kernelRelease returns `uname -r`.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// isClosed reports whether err means the ring buffer reader was closed.
func isClosed(err error) bool {
	return errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed)
}
