// Package runner runs one compiled trace on this host: it loads the eBPF
// programs and maps, runs BEGIN, attaches every probe, turns the events the
// kernel sends into records, and at the end detaches, runs END and dumps the
// maps, the way bpftrace does.
//
// The same code serves `kubectl xtrace run --local` (records rendered as
// text on the terminal) and trace-runner inside a Job (records written as
// JSON lines to stdout and to the node's disk). Where the records go is the
// caller's choice: a Sink.
//
// The lifecycle mirrors cilium/ebpf's split between blueprints and live
// objects: a program.Spec describes the trace; a running trace owns a
// collection, links and a ring buffer reader, and closes them in reverse
// order.
package runner

import (
	"io"
	"time"
)

// LocalOptions describe a trace of this host run in-process, without
// Kubernetes: `kubectl xtrace run --local`.
type LocalOptions struct {
	Name       string // program file name for messages ("-e" for inline)
	Program    string // program text
	CgroupPath string // --cgroup: scope to this cgroup v2 directory and its descendants
	Pid        int    // --pid: scope to this process
	Duration   time.Duration
	JSON       bool // -o json: write records instead of text
	Stdout     io.Writer
	Stderr     io.Writer
}
