package attach

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// RawTracepoint attaches a RawTracepoint program to the raw tracepoint
// name, e.g. "sys_enter". Raw tracepoints need no tracefs.
func RawTracepoint(name string, prog *ebpf.Program) (link.Link, error) {
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: name, Program: prog})
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("raw tracepoint does not exist (raw tracepoints are named like sys_enter or sched_switch, without a category): %w", program.ErrNotFound)
	}
	if errors.Is(err, ebpf.ErrNotSupported) {
		return nil, fmt.Errorf("raw tracepoints need Linux 4.17: %w", ErrUnsupported)
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}
