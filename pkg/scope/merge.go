package scope

import (
	"errors"
	"fmt"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// ErrNeedsScopeList: the matches cannot be expressed as one program.Scope.
var ErrNeedsScopeList = errors.New("several cgroups cannot be matched by one scope")

// Merge folds matches into the single program.Scope the code generator
// compiles today. One match is itself; pid namespace matches merge into one
// list of namespaces. Several cgroups (several pods on one node, or several
// containers) cannot merge, and Merge fails with ErrNeedsScopeList rather
// than widen the filter to a common ancestor that holds other pods too.
func Merge(ms []Match) (program.Scope, error) {
	switch len(ms) {
	case 0:
		return program.Scope{}, fmt.Errorf("%w: no matches to merge", ErrCannotScope)
	case 1:
		return ms[0].Scope, nil
	}
	merged := program.Scope{Mode: program.ScopePidNS}
	seen := make(map[program.PidNS]bool)
	for _, m := range ms {
		if m.Scope.Mode != program.ScopePidNS {
			return program.Scope{}, fmt.Errorf("%w: %s; trace one pod or container per node, or narrow the target", ErrNeedsScopeList, DescribeAll(ms))
		}
		for _, ns := range m.Scope.PidNamespaces {
			if !seen[ns] {
				seen[ns] = true
				merged.PidNamespaces = append(merged.PidNamespaces, ns)
			}
		}
	}
	return merged, nil
}
