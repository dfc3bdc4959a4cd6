package attach

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// Tracepoint attaches a TracePoint program to tracepoint category:name.
// Tracefs is mounted first if needed, since the kernel names tracepoints
// only there.
func Tracepoint(category, name string, prog *ebpf.Program) (link.Link, error) {
	dir, err := Tracefs()
	if err != nil {
		return nil, err
	}
	if !validEventName(category) || !validEventName(name) {
		return nil, fmt.Errorf("invalid tracepoint name %q:%q: %w", category, name, program.ErrNotFound)
	}
	l, err := link.Tracepoint(category, name, prog, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tracepoint does not exist (list them with `ls %s/events/%s`): %w", dir, category, program.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}
