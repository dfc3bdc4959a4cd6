// Package store persists traces on the node's disk so they can be fetched
// after the pod and the Job are gone.
//
// Every trace lives in its own directory under a root (by default
// /var/lib/xtrace):
//
//	<root>/<trace-id>/records.jsonl  the records, one JSON object per line
//	<root>/<trace-id>/meta.json      what the trace was and how it ended
//
// records.jsonl is appended through a buffer that is flushed at least every
// FlushInterval and at Close, so a runner killed with SIGKILL leaves every
// record written more than a flush interval before the kill readable; the
// last line may be cut, and readers tolerate that. meta.json is written when
// the trace starts and replaced atomically when it ends.
//
// A running trace holds an exclusive flock on its records.jsonl. The kernel
// drops the lock when the runner dies, however it dies, which is how
// readers and the pruner tell a running trace from a killed one without
// trusting a pid that may live in another pid namespace.
//
// Two caps bound the disk use: a per-trace cap, after which event records
// are dropped (the final maps and the end record are still written, from a
// reserve kept for them), and a per-node cap, kept by removing the oldest
// finished traces. Hitting either is recorded in the records and in
// meta.json, never silent.
//
// Every path is resolved through an os.Root, so neither a trace id nor a
// symbolic link planted under the root can make the store read, write or
// delete anything outside it.
package store

import (
	"errors"
	"time"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// File names inside a trace directory.
const (
	RecordsFile = "records.jsonl"
	MetaFile    = "meta.json"
	metaTmpFile = "meta.json.tmp"
)

// Defaults for Limits fields left zero.
const (
	DefaultFlushInterval = 500 * time.Millisecond
	DefaultPruneInterval = 30 * time.Second
	// DefaultReserveFraction of the trace cap is kept for the final records
	// (exit, maps, end) once events stop being written.
	DefaultReserveFraction = 10
)

// Sentinel errors.
var (
	// ErrNotFound: no trace with this id under the root.
	ErrNotFound = errors.New("trace not found")
	// ErrExists: Open found a directory for this trace id already.
	ErrExists = errors.New("trace already exists")
	// ErrRunning: the trace is still being written by a runner.
	ErrRunning = errors.New("trace is still running")
	// ErrTruncated: the trace's records stop before its end record because
	// its runner was killed. Everything before the cut was still delivered.
	ErrTruncated = errors.New("trace output is truncated")
	// ErrUnsafePath: a root or an entry under it is not what the store
	// created (a symbolic link, a relative or unclean root...).
	ErrUnsafePath = errors.New("unsafe path")
	// ErrClosed: Write or Close after Close.
	ErrClosed = errors.New("trace store closed")
)

// State says where a trace is in its life.
type State string

const (
	// StateRunning: a runner holds the trace's lock and is writing it.
	StateRunning State = "running"
	// StateFinished: the runner closed the trace; meta.json has its end.
	StateFinished State = "finished"
	// StateKilled: the runner died without closing the trace. The records
	// up to the last flush are readable; the end record is missing.
	StateKilled State = "killed"
	// StateIncomplete: the directory lacks meta.json or records.jsonl; it is
	// being created, or a runner died while creating it.
	StateIncomplete State = "incomplete"
)

// Cap names, for Meta.CapHit.
const (
	CapTrace = "trace"
	CapNode  = "node"
)

// Meta is the content of meta.json.
type Meta struct {
	TraceID string `json:"traceID"`
	// State is StateRunning or StateFinished as written by the runner; List
	// reports StateKilled or StateIncomplete where it finds them.
	State State `json:"state"`

	Spec   *spec.TraceSpec `json:"spec,omitempty"`
	Node   string          `json:"node,omitempty"`
	Kernel string          `json:"kernel,omitempty"` // uname -r of the node
	Scope  string          `json:"scope,omitempty"`  // the in-kernel filter, described

	StartTime time.Time `json:"startTime"`
	EndTime   time.Time `json:"endTime,omitzero"`
	// End is the summary from the end record; nil while running.
	End *record.End `json:"end,omitempty"`

	// Records and Bytes count what records.jsonl holds, the end record
	// included. Lost counts events lost in the ring buffer.
	Records uint64 `json:"records"`
	Bytes   int64  `json:"bytes"`
	Lost    uint64 `json:"lost"`

	// CapHit names the cap that stopped event records ("trace" or "node"),
	// empty if none did; Dropped counts the records not persisted.
	CapHit  string `json:"capHit,omitempty"`
	Dropped uint64 `json:"dropped,omitempty"`

	// Pruned lists the traces this trace's runner removed to keep the node
	// under its cap.
	Pruned []string `json:"pruned,omitempty"`

	// Truncated is set by List for a killed trace: its records end without
	// an end record. DiskBytes is set by List: the size of every file of the
	// trace. Neither is stored.
	Truncated bool  `json:"truncated,omitempty"`
	DiskBytes int64 `json:"diskBytes,omitempty"`
}

// Limits bound one trace and the node. Zero fields take their defaults.
type Limits struct {
	TraceBytes int64 // cap on records.jsonl; default spec.DefaultTraceLimit
	NodeBytes  int64 // cap on the whole root; default spec.DefaultNodeLimit
	// FinalReserve is the part of TraceBytes kept for the final records:
	// events stop at TraceBytes-FinalReserve. Default TraceBytes/10.
	FinalReserve  int64
	FlushInterval time.Duration // default DefaultFlushInterval
	PruneInterval time.Duration // default DefaultPruneInterval
}

// LimitsFromSpec takes the caps from a trace spec and leaves the rest to
// the defaults.
func LimitsFromSpec(l spec.Limits) Limits {
	return Limits{TraceBytes: l.TraceBytes, NodeBytes: l.NodeBytes}
}

func (l Limits) withDefaults() Limits {
	if l.TraceBytes == 0 {
		l.TraceBytes = spec.DefaultTraceLimit
	}
	if l.NodeBytes == 0 {
		l.NodeBytes = spec.DefaultNodeLimit
	}
	if l.FinalReserve == 0 {
		l.FinalReserve = l.TraceBytes / DefaultReserveFraction
	}
	if l.FlushInterval == 0 {
		l.FlushInterval = DefaultFlushInterval
	}
	if l.PruneInterval == 0 {
		l.PruneInterval = DefaultPruneInterval
	}
	return l
}

func (l Limits) validate() error {
	switch {
	case l.TraceBytes < 0 || l.NodeBytes < 0 || l.FinalReserve < 0:
		return errors.New("store limits must not be negative")
	case l.FinalReserve >= l.TraceBytes:
		return errors.New("store limits: the final-record reserve must be smaller than the trace cap")
	case l.FlushInterval < 0 || l.PruneInterval < 0:
		return errors.New("store intervals must not be negative")
	}
	return nil
}
