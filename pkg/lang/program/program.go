// Package program describes a compiled trace program: the blueprint that the
// code generator produces and the runner loads.
//
// Like cilium/ebpf's CollectionSpec, a Spec is inert data. It holds the eBPF
// programs and maps to load, one Probe per program telling where to attach
// it, and the metadata user space needs to turn the bytes the kernel sends
// (ring buffer events) and keeps (maps) back into bpftrace-identical output.
//
// The byte layouts below are the contract between package codegen, which
// writes them in eBPF, and package decode, which reads them in Go.
//
// # Value layout
//
// Every value the kernel hands to user space, in an event, a map key or a map
// value, is laid out by its Type:
//
//	Int     8 bytes, host byte order; Signed says how to print it.
//	String  Size bytes, NUL-padded (Size is a multiple of 8).
//	KStack  8 bytes: the stack id in the stack map Spec.KStackMap (u64; a
//	        negative id when the kernel could not take the stack).
//	UStack  16 bytes: stack id (u64) in Spec.UStackMap, then the pid (u64)
//	        whose address space the frames belong to.
//	KSym    8 bytes: a kernel address.
//	USym    16 bytes: a user address, then the pid (u64).
//	Probe   8 bytes: an index into Spec.Probes (the `probe` builtin).
//	Tuple   the elements one after another, each starting at a multiple of
//	        8 bytes from the tuple's start; Size is the sum, a multiple of 8.
//
// # Map layout
//
// A map key is its key elements laid out like a tuple of their types (no
// padding is needed since every size is a multiple of 8). A map used without
// keys has an 8-byte key holding 0. Values by Map.Kind:
//
//	Count, Sum   per-CPU map, value Int (u64 count, or the i64/u64 sum).
//	Min, Max     per-CPU map, value {i64 value; u64 isset}: CPUs with isset 0
//	             are skipped when merging.
//	Avg, Stats   per-CPU map, value {i64 count; i64 total}.
//	Hist, LHist  per-CPU map, key = user key ++ u64 bucket index, value u64 count
//	             (without keys: the 8-byte 0 key ++ bucket, 16 bytes in all).
//	Value        plain hash map, value laid out by Map.Value.
//
// # Event layout
//
// Each ring buffer record starts with a u64 event id:
//
//	id < len(Spec.Printfs)  a printf: the arguments follow, laid out like a
//	                        tuple of Printf.Args.
//	EventExit               exit() was called; nothing follows.
//	EventPrint              print(@m[, top[, div]]): u64 map index into
//	                        Spec.Maps, u64 top, u64 div follow (0 = unset).
//	EventClear              clear(@m): u64 map index follows.
//	EventZero               zero(@m): u64 map index follows.
//
// print(expr) of a non-map value is compiled as a Printf whose Format is
// synthesised, so it needs no event of its own.
package program

import (
	"errors"

	"github.com/cilium/ebpf"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
)

// Event ids that are not printf formats. They sit far above any realistic
// number of printf statements.
const (
	EventExit  uint64 = 0xFFFF_0001
	EventPrint uint64 = 0xFFFF_0002
	EventClear uint64 = 0xFFFF_0003
	EventZero  uint64 = 0xFFFF_0004
)

// Spec is a compiled program.
type Spec struct {
	// Collection holds every eBPF program and map. Programs are named by
	// Probe.Program; user maps by Map.BPFName; the output ring buffer by
	// OutputMap.
	Collection *ebpf.CollectionSpec

	Probes  []Probe
	Maps    []Map    // user maps (@name), sorted by name as bpftrace prints them
	Printfs []Printf // indexed by event id

	OutputMap  string // the BPF_MAP_TYPE_RINGBUF carrying events
	KStackMap  string // BPF_MAP_TYPE_STACK_TRACE for kstack, "" if unused
	UStackMap  string // BPF_MAP_TYPE_STACK_TRACE for ustack, "" if unused
	ElapsedMap string // ARRAY[1] u64 where user space writes the start time (CLOCK_MONOTONIC ns) for `elapsed`, "" if unused
	// LostMap is a PERCPU_ARRAY[1] u64 that every program increments when
	// writing an event to OutputMap fails (the ring buffer is full), so the
	// runner can count and report lost events.
	LostMap string

	Scope Scope // the in-kernel filter compiled into every program but BEGIN, END and interval
}

// Probe is one eBPF program and the one place it attaches to. A wildcard
// attach point expands into one Probe per match; a block with several attach
// points yields one Probe for each.
type Probe struct {
	Kind ast.ProbeKind
	Name string // full expanded name, e.g. "tracepoint:syscalls:sys_enter_openat"; the `probe` builtin's value

	// Where to attach (see ast.AttachPoint for which fields each kind uses).
	Target string // tracepoint category, or uprobe binary path
	Func   string // tracepoint name, raw tracepoint, kernel function, or uprobe symbol
	Unit   string // profile/interval: "hz", "s", "ms", "us"
	Rate   uint64 // profile/interval: N

	Program string  // name in Spec.Collection.Programs
	Pos     ast.Pos // the attach point in the source, for error messages
}

// Kind of a user map: which aggregation, if any, it holds.
type MapKind int

const (
	Value MapKind = iota // assigned with = or updated with += ++ etc.
	Count
	Sum
	Min
	Max
	Avg
	Stats
	Hist
	LHist
)

var mapKindNames = [...]string{Value: "value", Count: "count", Sum: "sum", Min: "min", Max: "max",
	Avg: "avg", Stats: "stats", Hist: "hist", LHist: "lhist"}

func (k MapKind) String() string { return mapKindNames[k] }

// Map is a user map and how to read and print it.
type Map struct {
	Name    string // "@name", or "@" for the anonymous map
	BPFName string // name in Spec.Collection.Maps
	Kind    MapKind
	Keys    []Type // empty for a map used without keys
	Value   Type   // for Kind Value; Int for the aggregations
	Signed  bool   // Sum/Min/Max/Avg/Stats: whether the aggregated value is signed
	LHist   LHistParams
}

// LHistParams are the literal arguments of lhist(v, min, max, step).
type LHistParams struct {
	Min, Max, Step int64
}

// Printf is one printf call site (or a synthesised print of a value).
type Printf struct {
	Format string // as written, escapes decoded
	Args   []Type
	Pos    ast.Pos
}

// TypeKind classifies values.
type TypeKind int

const (
	None TypeKind = iota
	Int
	String
	Tuple
	KStack
	UStack
	KSym
	USym
	ProbeName
)

// Type is the type of a value and with it its byte layout.
type Type struct {
	Kind   TypeKind
	Signed bool   // Int
	Size   int    // bytes, a multiple of 8
	Elems  []Type // Tuple
}

// ScopeMode is the in-kernel filter that restricts probes to the target.
type ScopeMode int

const (
	ScopeNone   ScopeMode = iota // trace the whole host
	ScopeCgroup                  // cgroup v2: CgroupID matched at CgroupLevel
	ScopePidNS                   // cgroup v1 fallback: the task is in one of PidNamespaces
	ScopePid                     // one process: tgid == Pid
)

// Scope is the filter compiled at the top of every probe program except
// BEGIN, END and interval (which do not run on behalf of a task), before
// the predicate.
type Scope struct {
	Mode ScopeMode

	// ScopeCgroup: the event counts if the current task's cgroup v2 ancestor
	// at CgroupLevel (bpf_get_current_ancestor_cgroup_id) has id CgroupID. A
	// CgroupLevel below 0 means compare the task's own cgroup id
	// (bpf_get_current_cgroup_id) instead.
	CgroupID    uint64
	CgroupLevel int
	// MoreCgroups are further cgroups that match as well, for a workload
	// with several pods on one node: the event counts if any of them does.
	MoreCgroups []Cgroup

	// ScopePidNS: the device and inode number of each pid namespace
	// (stat of /proc/PID/ns/pid), matched with bpf_get_ns_current_pid_tgid.
	PidNamespaces []PidNS

	// ScopePid: the process id (tgid) on the host.
	Pid uint32
}

// Cgroup is one cgroup v2 directory to match, by id, at its level.
type Cgroup struct {
	ID    uint64
	Level int
}

// Cgroups lists every cgroup a ScopeCgroup scope matches.
func (s Scope) Cgroups() []Cgroup {
	return append([]Cgroup{{ID: s.CgroupID, Level: s.CgroupLevel}}, s.MoreCgroups...)
}

// PidNS identifies a pid namespace by the nsfs device and inode.
type PidNS struct {
	Dev uint64
	Ino uint64
}

// TracepointFormat is the layout of a tracepoint's record, from
// <tracefs>/events/<category>/<name>/format or from BTF.
type TracepointFormat struct {
	Category string
	Name     string
	ID       uint64
	Fields   []TracepointField // in the format file's order, common_ fields included
}

// TracepointField is one `field:TYPE NAME; offset:O; size:S; signed:X;` line.
type TracepointField struct {
	Name    string // e.g. "filename"
	CType   string // the declared C type, e.g. "const char *", "__data_loc char[]", "int"
	Offset  int
	Size    int
	Signed  bool
	DataLoc bool // __data_loc: a u32 whose low 16 bits are the offset of the data in the record
	Pointer bool // the type is a pointer (its value is an address)
	Array   int  // element count for fixed arrays such as char[16]; 0 otherwise
}

// Env is what the code generator needs to know about the kernel it compiles
// for. The runner implements it from tracefs, /proc/kallsyms and BTF on the
// node (package attach); tests may fake it.
type Env interface {
	// Tracepoint returns the record layout of one tracepoint. It returns an
	// error wrapping ErrNotFound when the tracepoint does not exist.
	Tracepoint(category, name string) (*TracepointFormat, error)
	// MatchTracepoints expands wildcard patterns (* and ?) in the category and
	// the name into the sorted list of existing tracepoints as
	// {category, name} pairs.
	MatchTracepoints(category, name string) ([][2]string, error)
	// MatchKernelFuncs expands a wildcard pattern into the sorted list of
	// traceable kernel functions.
	MatchKernelFuncs(pattern string) ([]string, error)
	// Arch is the node's GOARCH ("amd64", "arm64"): it decides where
	// arg0..argN and retval live in pt_regs.
	Arch() string
}

// ErrNotFound is wrapped by Env methods when a probe target does not exist.
var ErrNotFound = errors.New("not found")
