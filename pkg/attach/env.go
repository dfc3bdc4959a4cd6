package attach

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// HostEnv is the program.Env of the machine this process runs on: the
// tracepoints and kernel functions it offers, read from tracefs and
// /proc/kallsyms.
type HostEnv struct {
	// tracefs is the tracefs directory; empty means find or mount it on
	// first use (see Tracefs).
	tracefs string

	mu          sync.Mutex
	tracepoints [][2]string
	funcs       []string
}

var _ program.Env = (*HostEnv)(nil)

// NewHostEnv returns the Env of this host. It finds tracefs, mounting it if
// needed, because every tracepoint lookup needs it; failing that it returns
// the reason.
func NewHostEnv() (*HostEnv, error) {
	dir, err := Tracefs()
	if err != nil {
		return nil, err
	}
	return &HostEnv{tracefs: dir}, nil
}

// NewHostEnvAt returns an Env reading tracefs from dir, for tests and for
// hosts with tracefs at an unusual place.
func NewHostEnvAt(dir string) *HostEnv { return &HostEnv{tracefs: dir} }

func (e *HostEnv) tracefsDir() (string, error) {
	if e.tracefs != "" {
		return e.tracefs, nil
	}
	return Tracefs()
}

// Tracepoint returns the record layout of one tracepoint.
func (e *HostEnv) Tracepoint(category, name string) (*program.TracepointFormat, error) {
	dir, err := e.tracefsDir()
	if err != nil {
		return nil, err
	}
	return ReadTracepointFormat(dir, category, name)
}

// MatchTracepoints expands wildcards in category and name against the
// tracepoints of this kernel. When nothing matches the error wraps
// program.ErrNotFound.
func (e *HostEnv) MatchTracepoints(category, name string) ([][2]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tracepoints == nil {
		dir, err := e.tracefsDir()
		if err != nil {
			return nil, err
		}
		if e.tracepoints, err = ListTracepoints(dir); err != nil {
			return nil, err
		}
	}
	var out [][2]string
	for _, tp := range e.tracepoints {
		if Match(category, tp[0]) && Match(name, tp[1]) {
			out = append(out, tp)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no tracepoint matches %s:%s: %w", category, name, program.ErrNotFound)
	}
	return out, nil
}

// MatchKernelFuncs expands a wildcard against the kernel functions that can
// be probed: available_filter_functions when tracefs has it, else the code
// symbols of /proc/kallsyms. When nothing matches the error wraps
// program.ErrNotFound.
func (e *HostEnv) MatchKernelFuncs(pattern string) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.funcs == nil {
		funcs, err := e.kernelFuncs()
		if err != nil {
			return nil, err
		}
		e.funcs = funcs
	}
	var out []string
	for _, f := range e.funcs {
		if Match(pattern, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no kernel function matches %q: %w", pattern, program.ErrNotFound)
	}
	return out, nil
}

func (e *HostEnv) kernelFuncs() ([]string, error) {
	var path string
	var nameField int
	if dir, err := e.tracefsDir(); err == nil {
		path = filepath.Join(dir, "available_filter_functions")
	}
	f, err := os.Open(path)
	if path == "" || err != nil {
		// Without tracefs, or where lockdown hides the filter list (EPERM),
		// use kallsyms, whose lines are "ADDR TYPE NAME [MODULE]".
		path, nameField = "/proc/kallsyms", 2
		f, err = os.Open(path)
	}
	if err != nil {
		return nil, fmt.Errorf("listing kernel functions: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) <= nameField {
			continue
		}
		if nameField == 2 && fields[1] != "t" && fields[1] != "T" {
			continue
		}
		seen[fields[nameField]] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	funcs := make([]string, 0, len(seen))
	for fn := range seen {
		funcs = append(funcs, fn)
	}
	sort.Strings(funcs)
	return funcs, nil
}

// Arch is the GOARCH of this build, which is the node's: the runner is
// built per architecture.
func (e *HostEnv) Arch() string { return runtime.GOARCH }
