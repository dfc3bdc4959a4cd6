// Package spec defines the trace spec: everything a trace-runner needs to
// run one trace on one node. The plugin writes it into the trace's ConfigMap;
// the runner reads it from the mounted file and validates it strictly before
// doing anything.
package spec

import "time"

// APIVersion and Kind identify the spec document; a runner refuses others.
const (
	APIVersion = "xtrace.dev/v1"
	Kind       = "TraceSpec"
)

// Default limits.
const (
	DefaultOutputRoot = "/var/lib/xtrace"
	DefaultTraceLimit = 100 << 20 // bytes of records per trace
	DefaultNodeLimit  = 1 << 30   // bytes of all traces on a node
	MaxProgramBytes   = 512 << 10 // a ConfigMap holds 1 MiB; leave room for the rest
)

// TraceSpec is the whole document.
type TraceSpec struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`

	// ID is the trace id, a lower-case UUID.
	ID string `json:"id"`

	// Program is the program text; exactly one of Program and Tool is set.
	Program string `json:"program,omitempty"`
	// Tool names a program from the built-in tool library.
	Tool string `json:"tool,omitempty"`

	Targets []Target `json:"targets"`

	Limits Limits `json:"limits"`

	// OutputRoot is the directory on the node holding persisted traces,
	// mounted at the same path in the runner.
	OutputRoot string `json:"outputRoot"`
}

// Target is what one node traces.
type Target struct {
	// Node is the node name; the runner checks it against its own.
	Node string `json:"node"`
	// Pods to scope to. Empty means the whole node.
	Pods []Pod `json:"pods,omitempty"`
}

// Pod is one target pod on the node.
type Pod struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// Containers narrows the scope to these containers; empty means the
	// whole pod (and survives container restarts).
	Containers []Container `json:"containers,omitempty"`
}

// Container is one container of a target pod.
type Container struct {
	Name string `json:"name"`
	// ID is the runtime's id as the pod status shows it:
	// "<runtime>://<hex id>" (containerd://, cri-o://, docker://).
	ID string `json:"id"`
}

// Limits bound a trace.
type Limits struct {
	// Duration ends the trace after this long (0 = until exit() or a signal).
	Duration Duration `json:"duration,omitempty"`
	// TraceBytes caps the bytes of records persisted for this trace.
	TraceBytes int64 `json:"traceBytes,omitempty"`
	// NodeBytes caps the bytes of all traces under OutputRoot; the oldest
	// finished traces are pruned first.
	NodeBytes int64 `json:"nodeBytes,omitempty"`
}

// Duration is a time.Duration that reads and writes as a Go duration string
// ("30s", "5m").
type Duration struct{ time.Duration }
