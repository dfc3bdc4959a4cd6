// Package scope decides how a trace is kept to its target in the kernel.
//
// A pod target becomes a cgroup v2 match: the pod's cgroup directory (or one
// container's) is found under the host's cgroup2 mount, its inode is the
// cgroup id the kernel reports, and its depth below the hierarchy root is
// the level at which bpf_get_current_ancestor_cgroup_id must return that id.
// Matching the pod's cgroup as an ancestor covers every container of the pod
// and survives container restarts.
//
// Nodes whose pods are not placed in cgroup v2 (pure v1, or hybrid with a
// runtime that leaves v2 alone) fall back to pid namespaces: the pod's
// processes are found through /proc/PID/cgroup and their pid namespaces are
// matched with bpf_get_ns_current_pid_tgid. If neither works the trace
// fails with the reason; it never runs unscoped.
package scope

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// Sentinel errors.
var (
	// ErrCannotScope: the target cannot be confined in the kernel. The
	// trace must not run.
	ErrCannotScope = errors.New("cannot scope")
	// ErrNoCgroup2: no cgroup2 hierarchy is visible to the runner.
	ErrNoCgroup2 = errors.New("no cgroup2 file system")
)

// Options say where the host's file systems are visible to the runner.
type Options struct {
	// CgroupRoot is the host's cgroup2 mount (/sys/fs/cgroup on a unified
	// host, /sys/fs/cgroup/unified on a hybrid one) or a directory holding it
	// as "unified" (the runner's hostPath mount of the host's
	// /sys/fs/cgroup, e.g. /host/sys/fs/cgroup). Empty means the first
	// cgroup2 mount in /proc/self/mountinfo.
	CgroupRoot string
	// ProcRoot is the host's /proc; the runner runs with hostPID, so the
	// default "/proc" is the host's.
	ProcRoot string
}

func (o Options) procRoot() string {
	if o.ProcRoot == "" {
		return "/proc"
	}
	return o.ProcRoot
}

// Match is one in-kernel filter and what it selects. A trace's filter is a
// list of matches: an event counts if it satisfies any of them.
type Match struct {
	Scope program.Scope
	// What names the selection for people: "pod default/web-1",
	// "container app of pod default/web-1", "cgroup /kubepods/burstable",
	// "pid 4242 (nginx)", "node node-1".
	What string
	// Pid is one process of the match, 0 if none is known. The runner
	// resolves uprobe paths under its /proc/PID/root, so that paths are
	// those seen inside the target's container.
	Pid int
}

// String describes the match for the start record, e.g.
// "cgroup v2 id 1234 at level 4 (pod default/web)".
func (m Match) String() string {
	if m.What == "" {
		return Describe(m.Scope)
	}
	return Describe(m.Scope) + " (" + m.What + ")"
}

// DescribeAll describes a list of matches, one after the other.
func DescribeAll(ms []Match) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return strings.Join(parts, "; ")
}

// Describe says in a few words which filter s applies.
func Describe(s program.Scope) string {
	switch s.Mode {
	case program.ScopeNone:
		return "none (whole node)"
	case program.ScopeCgroup:
		if n := len(s.MoreCgroups); n > 0 {
			return fmt.Sprintf("cgroup v2 (%d cgroups)", n+1)
		}
		if s.CgroupLevel < 0 {
			return fmt.Sprintf("cgroup v2 id %d", s.CgroupID)
		}
		return fmt.Sprintf("cgroup v2 id %d at level %d", s.CgroupID, s.CgroupLevel)
	case program.ScopePidNS:
		if len(s.PidNamespaces) == 1 {
			return "pid namespace fallback (1 namespace)"
		}
		return fmt.Sprintf("pid namespace fallback (%d namespaces)", len(s.PidNamespaces))
	case program.ScopePid:
		return fmt.Sprintf("pid %d", s.Pid)
	}
	return fmt.Sprintf("unknown scope mode %d", s.Mode)
}
