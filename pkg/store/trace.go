package store

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// bufferSize is the write buffer of records.jsonl. Flushing is driven by
// time, so the buffer only needs to absorb bursts between flushes.
const bufferSize = 64 << 10

// Trace is one trace being written. Its methods are safe for concurrent use.
type Trace struct {
	root   *os.Root // the store root, for pruning
	dir    *os.Root // the trace's directory
	id     string
	limits Limits

	stop chan struct{}
	wg   sync.WaitGroup

	mu          sync.Mutex
	f           *os.File // records.jsonl, holding the trace's lock
	w           *bufio.Writer
	meta        Meta
	nodeCapHit  bool     // set by the pruner when finished traces alone cannot make room
	finalCapHit bool     // a final record was refused and a cap record says so
	warnings    []string // written after the next record
	closed      bool
}

// Open creates <root>/<traceID>, takes the trace's lock, writes meta.json,
// prunes the oldest finished traces if the node is over its cap, and starts
// the periodic flush and prune. meta carries what the caller knows (Spec,
// Node, Scope, StartTime; Kernel is filled from uname if empty); the store
// fills in the rest. The root is created if missing.
func Open(root, traceID string, meta Meta, limits Limits) (*Trace, error) {
	if err := spec.ValidTraceID(traceID); err != nil {
		return nil, err
	}
	limits = limits.withDefaults()
	if err := limits.validate(); err != nil {
		return nil, err
	}
	if filepath.IsAbs(root) && filepath.Clean(root) == root {
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, fmt.Errorf("creating store root: %w", err)
		}
	}
	r, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	t, err := create(r, traceID, meta, limits)
	if err != nil {
		r.Close()
		return nil, err
	}
	// Pruning before the first record makes room for this trace; the
	// trace's own lock keeps it out of the candidates.
	t.prune()
	t.wg.Add(1)
	go t.background()
	return t, nil
}

func create(r *os.Root, id string, meta Meta, limits Limits) (*Trace, error) {
	// Mkdir fails if the directory exists, which makes the id ours alone.
	if err := r.Mkdir(id, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: %s under %s; trace ids must be unique", ErrExists, id, r.Name())
		}
		return nil, fmt.Errorf("creating trace directory: %w", err)
	}
	dir, err := r.OpenRoot(id)
	if err != nil {
		return nil, fmt.Errorf("opening trace directory: %w", err)
	}
	f, err := dir.OpenFile(RecordsFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		dir.Close()
		return nil, fmt.Errorf("creating %s: %w", RecordsFile, err)
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		dir.Close()
		return nil, fmt.Errorf("locking trace %s: %w", id, err)
	}
	if meta.Kernel == "" {
		meta.Kernel = kernelRelease()
	}
	if meta.StartTime.IsZero() {
		meta.StartTime = time.Now().UTC()
	}
	meta.TraceID = id
	meta.State = StateRunning
	t := &Trace{
		root:   r,
		dir:    dir,
		id:     id,
		limits: limits,
		stop:   make(chan struct{}),
		f:      f,
		w:      bufio.NewWriterSize(f, bufferSize),
		meta:   meta,
	}
	if err := writeMeta(dir, &t.meta); err != nil {
		f.Close()
		dir.Close()
		return nil, err
	}
	return t, nil
}

// ID returns the trace id.
func (t *Trace) ID() string { return t.id }

// Stats returns the trace's metadata as it stands: counts, cap state and
// pruned traces. The runner uses it to build the end record it streams.
func (t *Trace) Stats() Meta {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.meta
	m.Pruned = append([]string(nil), t.meta.Pruned...)
	return m
}

// Write appends one record. Event records (printf, lost, warning) stop
// being persisted when the trace reaches its cap minus the final reserve,
// or the node its cap; the first one refused is replaced by a cap record.
// Other records (exit, maps, errors) are written up to the trace cap itself.
// A refused record is not an error. Write end records with Close.
func (t *Trace) Write(rec *record.Record) error {
	if rec.Type == record.TypeEnd {
		return errors.New("store: write the end record with Close")
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding %s record: %w", rec.Type, err)
	}
	line = append(line, '\n')

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if rec.Type == record.TypeLost {
		t.meta.Lost += rec.Lost
	}
	if capName, limit := t.capFor(rec.Type); t.meta.Bytes+int64(len(line)) > limit {
		return t.refuse(rec, capName)
	}
	if err := t.writeLine(line); err != nil {
		return err
	}
	return t.writeWarnings()
}

// capFor returns the cap that applies to a record of type typ and the
// file size it may reach.
func (t *Trace) capFor(typ record.Type) (string, int64) {
	if !isEvent(typ) {
		return CapTrace, t.limits.TraceBytes
	}
	if t.nodeCapHit {
		return CapNode, t.meta.Bytes // nothing more fits
	}
	return CapTrace, t.limits.TraceBytes - t.limits.FinalReserve
}

// isEvent says whether a record type is produced at the rate of events and
// may therefore be dropped once a cap is hit.
func isEvent(typ record.Type) bool {
	switch typ {
	case record.TypePrintf, record.TypeLost, record.TypeWarning:
		return true
	}
	return false
}

// refuse drops rec and, the first time events are refused and the first
// time a final record is, writes a cap record saying so.
func (t *Trace) refuse(rec *record.Record, capName string) error {
	t.meta.Dropped++
	if isEvent(rec.Type) {
		if t.meta.CapHit != "" {
			return nil
		}
		t.meta.CapHit = capName
		if capName == CapNode {
			return t.writeCap(fmt.Sprintf("node output cap of %d bytes reached and no finished trace is left to prune: further events are not persisted; the final maps still are. Delete traces or raise the node limit",
				t.limits.NodeBytes))
		}
		return t.writeCap(fmt.Sprintf("trace output cap of %d bytes reached: further events are not persisted; the final maps still are. Raise --output-limit to keep more",
			t.limits.TraceBytes))
	}
	if t.finalCapHit {
		return nil
	}
	t.finalCapHit = true
	t.meta.CapHit = CapTrace
	return t.writeCap(fmt.Sprintf("trace output cap of %d bytes reached while writing the final records: this %s record and the ones after it are not persisted. Raise --output-limit to keep more",
		t.limits.TraceBytes, rec.Type))
}

func (t *Trace) writeCap(text string) error {
	rec := record.Record{V: record.Version, Type: record.TypeCap, Time: time.Now().UTC(), Node: t.meta.Node, Text: text}
	line, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("encoding cap record: %w", err)
	}
	// The cap record is written past the cap if need be: the reserve makes
	// that rare, and a silent cap is worse than a few hundred bytes more.
	return t.writeLine(append(line, '\n'))
}

func (t *Trace) writeLine(line []byte) error {
	n, err := t.w.Write(line)
	t.meta.Bytes += int64(n)
	if err != nil {
		return fmt.Errorf("persisting record of trace %s: %w (free space under %s; the live stream is unaffected)", t.id, err, t.root.Name())
	}
	t.meta.Records++
	return nil
}
