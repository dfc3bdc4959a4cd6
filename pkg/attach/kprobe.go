package attach

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// kprobePMU is where the kernel advertises the perf kprobe PMU that
// cilium/ebpf prefers over tracefs kprobe_events.
const kprobePMU = "/sys/bus/event_source/devices/kprobe/type"

// Kprobe attaches a Kprobe program to the entry of kernel function fn, or
// to its return when ret is set.
func Kprobe(fn string, prog *ebpf.Program, ret bool) (link.Link, error) {
	if err := kprobesAvailable(); err != nil {
		return nil, err
	}
	attach := link.Kprobe
	if ret {
		attach = link.Kretprobe
	}
	l, err := attach(fn, prog, nil)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("kernel function %q does not exist or cannot be probed (see available_filter_functions in tracefs): %w", fn, program.ErrNotFound)
	case errors.Is(err, ebpf.ErrNotSupported):
		return nil, fmt.Errorf("%w (%v)", errNoKprobes, err)
	case err != nil:
		return nil, err
	}
	return l, nil
}

var errNoKprobes = fmt.Errorf("kprobes are not available on this kernel (CONFIG_KPROBES/kprobe_events missing): use a tracepoint or rawtracepoint probe instead: %w", ErrUnsupported)

// kprobesAvailable checks for either way of creating a kprobe, so the user
// gets one clear message instead of cilium/ebpf's fallback chain.
func kprobesAvailable() error {
	if _, err := os.Stat(kprobePMU); err == nil {
		return nil
	}
	dir, err := Tracefs()
	if err != nil {
		return fmt.Errorf("%w; tracefs: %v", errNoKprobes, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kprobe_events")); err == nil {
		return nil
	}
	return errNoKprobes
}
