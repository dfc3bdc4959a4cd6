// Package attach connects loaded eBPF programs to the kernel events their
// probes name, one file per kind of probe as in cilium/ebpf's link package,
// and describes the host to the compiler (HostEnv).
package attach

import (
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// ErrUnsupported is wrapped when the kernel lacks what a probe needs. It
// wraps ebpf.ErrNotSupported, so either can be checked with errors.Is.
var ErrUnsupported error = unsupportedError{}

type unsupportedError struct{}

func (unsupportedError) Error() string { return "not supported by this kernel" }
func (unsupportedError) Unwrap() error { return ebpf.ErrNotSupported }

// ErrNotAttachable is returned for BEGIN and END, which are run with
// Program.Run rather than attached.
var ErrNotAttachable = errors.New("BEGIN and END probes are run, not attached")

// Options tune how probes attach.
type Options struct {
	// Root is the root directory uprobe binary paths are resolved in, such
	// as /proc/<pid>/root for a process in a container, so programs name
	// paths as the container sees them. Empty means the host's /.
	Root string
}

// Probe attaches prog where p says. Closing the result detaches it. Errors
// name the probe, e.g. "attaching tracepoint:foo:bar: ...", and wrap
// program.ErrNotFound when the target does not exist and ErrUnsupported
// when the kernel cannot do it.
func Probe(p program.Probe, prog *ebpf.Program, opts Options) (io.Closer, error) {
	var c io.Closer
	var err error
	switch p.Kind {
	case ast.Tracepoint:
		c, err = Tracepoint(p.Target, p.Func, prog)
	case ast.RawTracepoint:
		c, err = RawTracepoint(p.Func, prog)
	case ast.Kprobe:
		c, err = Kprobe(p.Func, prog, false)
	case ast.Kretprobe:
		c, err = Kprobe(p.Func, prog, true)
	case ast.Uprobe:
		c, err = Uprobe(p.Target, p.Func, prog, false, opts)
	case ast.Uretprobe:
		c, err = Uprobe(p.Target, p.Func, prog, true, opts)
	case ast.Profile:
		c, err = Profile(p.Unit, p.Rate, prog)
	case ast.Interval:
		c, err = Interval(p.Unit, p.Rate, prog)
	case ast.Begin, ast.End:
		err = ErrNotAttachable
	default:
		err = fmt.Errorf("unknown probe kind %v", p.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("attaching %s: %w", probeName(p), err)
	}
	return c, nil
}

func probeName(p program.Probe) string {
	if p.Name != "" {
		return p.Name
	}
	ap := ast.AttachPoint{Kind: p.Kind, Target: p.Target, Func: p.Func, Unit: p.Unit, Rate: p.Rate}
	return ap.Name()
}

// closers closes several resources, last opened first.
type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if err := cs[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type closeFunc func() error

func (f closeFunc) Close() error { return f() }
