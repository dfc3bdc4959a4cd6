package scope

import (
	"errors"
	"fmt"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// ErrNeedsScopeList: the matches mix cgroup v2 and pid namespace matches,
// which one program.Scope cannot express.
var ErrNeedsScopeList = errors.New("cgroup and pid namespace matches cannot be combined in one scope")

// Merge folds matches into the single program.Scope the code generator
// compiles. One match is itself; cgroup matches (several pods on one node,
// or several containers) merge into one scope listing every cgroup, and pid
// namespace matches into one list of namespaces. Merge never widens the
// filter to a common ancestor, which would hold other pods too.
func Merge(ms []Match) (program.Scope, error) {
	switch len(ms) {
	case 0:
		return program.Scope{}, fmt.Errorf("%w: no matches to merge", ErrCannotScope)
	case 1:
		return ms[0].Scope, nil
	}
	mode := ms[0].Scope.Mode
	for _, m := range ms {
		if m.Scope.Mode != mode || (mode != program.ScopeCgroup && mode != program.ScopePidNS) {
			return program.Scope{}, fmt.Errorf("%w: %s; trace the pods one at a time", ErrNeedsScopeList, DescribeAll(ms))
		}
	}
	if mode == program.ScopeCgroup {
		merged := ms[0].Scope
		seen := map[program.Cgroup]bool{{ID: merged.CgroupID, Level: merged.CgroupLevel}: true}
		merged.MoreCgroups = nil
		for _, m := range ms[1:] {
			for _, cg := range m.Scope.Cgroups() {
				if !seen[cg] {
					seen[cg] = true
					merged.MoreCgroups = append(merged.MoreCgroups, cg)
				}
			}
		}
		return merged, nil
	}
	merged := program.Scope{Mode: program.ScopePidNS}
	seen := make(map[program.PidNS]bool)
	for _, m := range ms {
		for _, ns := range m.Scope.PidNamespaces {
			if !seen[ns] {
				seen[ns] = true
				merged.PidNamespaces = append(merged.PidNamespaces, ns)
			}
		}
	}
	return merged, nil
}
