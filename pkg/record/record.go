// Package record defines the one output format of xtrace: JSON lines flowing
// from the runner to the plugin and onto the node's disk.
//
// A record is one JSON object per line. Every record carries the format
// version V so readers can refuse what they do not understand. The runner
// writes records; the plugin renders them as bpftrace-compatible text, or
// passes them through with -o json. Live and offline output are the same
// records, so they render identically. docs/record-format.md documents the
// format for users.
package record

import "time"

// Version is the record format version written in every record's "v".
const Version = 1

// Type says what a record carries.
type Type string

const (
	// TypeStart opens a trace: Start is set.
	TypeStart Type = "start"
	// TypeAttached says every probe is live: Probes is set. Rendered as
	// "Attached N probes" on stderr.
	TypeAttached Type = "attached"
	// TypePrintf is output of printf() or print(value): Text is set.
	TypePrintf Type = "printf"
	// TypeExit marks the end of tracing, after END ran and before the final
	// map dump. Rendered as two newlines, as bpftrace does.
	TypeExit Type = "exit"
	// TypeMap is a map printed by print() or at exit: Map is set.
	TypeMap Type = "map"
	// TypeLost reports events dropped by a full ring buffer: Lost is the
	// count since the previous lost record.
	TypeLost Type = "lost"
	// TypeWarning is a non-fatal message for the user: Text is set.
	TypeWarning Type = "warning"
	// TypeError is a fatal error from the runner: Text is set.
	TypeError Type = "error"
	// TypeCap says a size cap was hit and events are no longer written:
	// Text says which cap.
	TypeCap Type = "cap"
	// TypeEnd closes a trace: End is set. Nothing follows it.
	TypeEnd Type = "end"
)

// Record is one line of output.
type Record struct {
	V    int       `json:"v"`
	Type Type      `json:"type"`
	Time time.Time `json:"time"`

	// Node and Pod say where the record came from. The runner sets Node; the
	// plugin may set Pod when it merges several streams.
	Node string `json:"node,omitempty"`
	Pod  string `json:"pod,omitempty"`

	Text   string `json:"text,omitempty"`
	Probes int    `json:"probes,omitempty"`
	Lost   uint64 `json:"lost,omitempty"`
	Map    *Map   `json:"map,omitempty"`
	Start  *Start `json:"start,omitempty"`
	End    *End   `json:"end,omitempty"`
}

// Start describes a trace as it begins.
type Start struct {
	TraceID string `json:"traceID"`
	Node    string `json:"node,omitempty"`
	Kernel  string `json:"kernel,omitempty"`
	// Scope is a human-readable account of the in-kernel filter in force,
	// e.g. "cgroup v2 id 1234 (pod default/web-1)" or "none (whole node)".
	Scope string `json:"scope"`
}

// End summarises a finished trace.
type End struct {
	// Reason is why tracing stopped: "exit" (exit() called), "signal",
	// "deadline", "error", or "probe-gone".
	Reason  string `json:"reason"`
	Records uint64 `json:"records"` // records written before this one
	Lost    uint64 `json:"lost"`    // events lost in the ring buffer in total
	Bytes   uint64 `json:"bytes"`   // bytes of records written before this one
	Error   string `json:"error,omitempty"`
}

// Map is one map, printed. Entries are already in the order bpftrace prints
// them (and already cut by print's top and divided by its div), so
// renderers only lay them out.
type Map struct {
	Name string `json:"name"` // "@name" or "@"
	// Kind is the aggregation: "count", "sum", "min", "max", "avg", "stats",
	// "hist", "lhist", or "value" for plain assignment.
	Kind    string       `json:"kind"`
	LHist   *LHistParams `json:"lhist,omitempty"` // set for lhist
	Entries []Entry      `json:"entries"`
}

// LHistParams are lhist's min, max and step, needed to label its buckets.
type LHistParams struct {
	Min  int64 `json:"min"`
	Max  int64 `json:"max"`
	Step int64 `json:"step"`
}

// Entry is one key of a map and its value.
type Entry struct {
	Key []Value `json:"key,omitempty"` // absent for a map used without keys

	// Value is set for count, sum, min, max, avg and value maps.
	Value *Value `json:"value,omitempty"`
	// Stats is set for stats maps.
	Stats *Stats `json:"stats,omitempty"`
	// Buckets is set for hist and lhist: the buckets from the lowest to the
	// highest non-zero one, zeros in between included.
	Buckets []Bucket `json:"buckets,omitempty"`
}

// Stats is the value of a stats() map entry.
type Stats struct {
	Count   int64 `json:"count"`
	Average int64 `json:"average"`
	Total   int64 `json:"total"`
}

// Bucket is one histogram row. Index follows bpftrace: for hist, 0 is
// negative values, 1 is zero, i ≥ 2 is [2^(i-2), 2^(i-1)); for lhist, 0 is
// below min, the last index is max and above, others are
// [min+(i-1)*step, min+i*step).
type Bucket struct {
	Index int    `json:"index"`
	Count uint64 `json:"count"`
	// Raw is the count before print's div, set only when a div applied:
	// bpftrace scales the bars by the undivided counts.
	Raw uint64 `json:"raw,omitempty"`
}

// ValueKind says how to print a Value.
type ValueKind string

const (
	Int    ValueKind = "int"    // Int, printed signed
	Uint   ValueKind = "uint"   // Uint, printed unsigned
	String ValueKind = "str"    // Str, printed raw
	KStack ValueKind = "kstack" // Stack frames, symbolised
	UStack ValueKind = "ustack" // Stack frames, symbolised
	Sym    ValueKind = "sym"    // Str holds a symbol name (ksym, usym, probe)
	Tuple  ValueKind = "tuple"  // Tuple
)

// Value is one typed value: a map key element, a map value or a tuple element.
type Value struct {
	Kind  ValueKind `json:"kind"`
	Int   int64     `json:"int,omitempty"`
	Uint  uint64    `json:"uint,omitempty"`
	Str   string    `json:"str,omitempty"`
	Stack []string  `json:"stack,omitempty"` // one symbolised frame per element, innermost first
	Tuple []Value   `json:"tuple,omitempty"`
}
