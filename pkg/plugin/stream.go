package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// source is one log stream of a trace: the runner or reader pod of a node.
type source struct {
	Node      string
	Namespace string
	Pod       string // the pod whose log is read
	// TargetPod is the traced pod when the node has exactly one; merged
	// streams put it in Record.Pod.
	TargetPod string
	// tagged is set when several streams are merged: records then carry
	// their node and pod, and text lines a "[node/pod] " prefix.
	tagged bool
}

func (s *source) tag() string {
	if s.TargetPod != "" {
		return s.Node + "/" + s.TargetPod
	}
	return s.Node
}

// stamp fills in the node and pod that a record of a merged stream lacks,
// so that each record says where it came from.
func (s *source) stamp(rec *record.Record) {
	if !s.tagged {
		return
	}
	if rec.Node == "" {
		rec.Node = s.Node
	}
	if rec.Pod == "" {
		rec.Pod = s.TargetPod
	}
}

// targetPod returns the pod a node traces when it traces exactly one,
// the source's TargetPod; "" for a whole node or several pods.
func targetPod(t spec.Target) string {
	if len(t.Pods) == 1 {
		return t.Pods[0].Name
	}
	return ""
}

// outcome is what one stream showed about its runner.
type outcome struct {
	src *source
	// errorText is the Text of the last error record: the runner's own
	// account of why it failed.
	errorText string
	// fromRecord says errorText came from an error record, which the text
	// renderer has shown already.
	fromRecord bool
	attached   bool
	end        *record.End
	// readErr is set when the stream could not be opened or read.
	readErr error
	tail    tailBuffer
}

// failed says whether the stream itself reports a failure.
func (o *outcome) failed() bool {
	return o.errorText != "" || o.readErr != nil || o.end != nil && o.end.Reason == "error"
}

// sink receives the merged records, one at a time.
type sink interface {
	record(src *source, r *record.Record) error
	flush() error
}

// newSink returns the sink of an -o format: JSON lines for json, and
// rendered text for text or the default "".
func newSink(format string, out, errOut io.Writer) sink {
	if format == "json" {
		return newJSONSink(out)
	}
	return newTextSink(out, errOut)
}

type item struct {
	src *source
	rec *record.Record
}

// streamLogs follows the logs of every source, decodes the records and
// hands them to the sink from this goroutine only, so sinks need no locks.
// It returns when every stream has ended or ctx is cancelled.
func streamLogs(ctx context.Context, f *Factory, sources []*source, follow bool, s sink) ([]*outcome, error) {
	outcomes := make([]*outcome, len(sources))
	items := make(chan item)
	var wg sync.WaitGroup
	for i, src := range sources {
		src.tagged = len(sources) > 1
		o := &outcome{src: src}
		outcomes[i] = o
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.readErr = readStream(ctx, f, o, follow, items)
		}()
	}
	go func() {
		wg.Wait()
		close(items)
	}()
	var sinkErr error
	for it := range items {
		if sinkErr != nil {
			continue // drain so the readers can finish
		}
		it.src.stamp(it.rec)
		sinkErr = s.record(it.src, it.rec)
	}
	if err := s.flush(); sinkErr == nil {
		sinkErr = err
	}
	if sinkErr != nil {
		return outcomes, fmt.Errorf("writing the output: %w", sinkErr)
	}
	return outcomes, ctx.Err()
}

// readStream reads one pod's log until it ends, noting what the outcome
// needs and passing every record on.
func readStream(ctx context.Context, f *Factory, o *outcome, follow bool, items chan<- item) error {
	rc, err := f.Logs(ctx, o.src.Namespace, o.src.Pod, &corev1.PodLogOptions{Container: containerName, Follow: follow})
	if err != nil {
		return fmt.Errorf("reading the log of pod %s on node %s: %w", o.src.Pod, o.src.Node, err)
	}
	defer rc.Close()
	r := record.NewReader(io.TeeReader(rc, &o.tail))
	for {
		rec, err := r.Read()
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, record.ErrTruncated):
			// A killed runner leaves a cut last line; every record
			// before it has been delivered.
			return nil
		case errors.Is(err, record.ErrVersion):
			return err
		case ctx.Err() != nil:
			return nil
		case err != nil && !notARecord(err):
			return fmt.Errorf("reading the log of pod %s on node %s: %w", o.src.Pod, o.src.Node, err)
		case err != nil:
			// Not a record: pod logs interleave the runner's stderr
			// (human-readable diagnostics, a Go panic) with its records.
			// The tail keeps those lines for the failure message.
			continue
		}
		switch rec.Type {
		case record.TypeError:
			o.errorText, o.fromRecord = rec.Text, true
		case record.TypeAttached:
			o.attached = true
		case record.TypeEnd:
			o.end = rec.End
		}
		select {
		case items <- item{src: o.src, rec: rec}:
		case <-ctx.Done():
			return nil
		}
	}
}

// notARecord says whether a reader error is about one line that is not a
// JSON record, after which reading can go on.
func notARecord(err error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syntax) || errors.As(err, &typ)
}

// textSink renders bpftrace text. Merged streams get one renderer per node
// whose lines carry a "[node/pod] " prefix.
type textSink struct {
	out, errOut io.Writer
	streams     map[*source]*textStream
	writers     []*prefixWriter
}

type textStream struct {
	renderer *record.TextRenderer
	stderr   io.Writer
}

func newTextSink(out, errOut io.Writer) *textSink {
	return &textSink{out: out, errOut: errOut, streams: map[*source]*textStream{}}
}

func (t *textSink) stream(src *source) *textStream {
	if s := t.streams[src]; s != nil {
		return s
	}
	out, stderr := t.out, t.errOut
	if src.tagged {
		prefix := "[" + src.tag() + "] "
		po, pe := &prefixWriter{w: t.out, prefix: prefix}, &prefixWriter{w: t.errOut, prefix: prefix}
		t.writers = append(t.writers, po, pe)
		out, stderr = po, pe
	}
	s := &textStream{renderer: record.NewTextRenderer(out, stderr), stderr: stderr}
	t.streams[src] = s
	return s
}

func (t *textSink) record(src *source, r *record.Record) error {
	s := t.stream(src)
	if r.Type == record.TypeStart && r.Start != nil && r.Start.Scope != "" {
		// The renderer leaves the header to us: say what is traced, which
		// matters most when scoping fell back (cgroup v1).
		if _, err := fmt.Fprintf(s.stderr, "Tracing %s\n", r.Start.Scope); err != nil {
			return err
		}
	}
	return s.renderer.Render(r)
}

func (t *textSink) flush() error {
	for _, w := range t.writers {
		if err := w.flush(); err != nil {
			return err
		}
	}
	return nil
}

// jsonSink passes records through as JSON lines (-o json).
type jsonSink struct{ w *record.Writer }

func newJSONSink(out io.Writer) *jsonSink { return &jsonSink{w: record.NewWriter(out)} }

func (j *jsonSink) record(_ *source, r *record.Record) error { return j.w.Write(r) }
func (j *jsonSink) flush() error                             { return nil }

// prefixWriter puts a prefix before every non-empty line. It holds back a
// partial line until its newline, so lines of merged streams never mix.
type prefixWriter struct {
	w       io.Writer
	prefix  string
	pending []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.pending = append(p.pending, b...)
	for {
		i := bytes.IndexByte(p.pending, '\n')
		if i < 0 {
			return len(b), nil
		}
		if err := p.writeLine(p.pending[:i+1]); err != nil {
			return 0, err
		}
		p.pending = p.pending[i+1:]
	}
}

func (p *prefixWriter) writeLine(line []byte) error {
	var err error
	if len(bytes.TrimSpace(line)) == 0 {
		_, err = p.w.Write(line)
	} else {
		_, err = p.w.Write(append([]byte(p.prefix), line...))
	}
	return err
}

func (p *prefixWriter) flush() error {
	if len(p.pending) == 0 {
		return nil
	}
	line := append(p.pending, '\n')
	p.pending = nil
	return p.writeLine(line)
}

// tailBuffer keeps the last bytes of a log, to show what a runner printed
// that was not a record when it fails.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 8 << 10

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > tailBytes {
		t.buf = t.buf[len(t.buf)-tailBytes:]
	}
	return len(b), nil
}

// plainLines returns the last n lines that are not JSON records.
func (t *tailBuffer) plainLines(n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, l := range strings.Split(string(t.buf), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || json.Valid([]byte(l)) {
			continue
		}
		out = append(out, l)
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}
