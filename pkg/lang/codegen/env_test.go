package codegen

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// tracefsEnv is a minimal program.Env for tests, read from this machine's
// tracefs. The runner's real one lives in package attach.
type tracefsEnv struct{ root string }

func newTestEnv(t testing.TB) *tracefsEnv {
	t.Helper()
	root := "/sys/kernel/tracing"
	if _, err := os.Stat(filepath.Join(root, "events")); err != nil {
		t.Skipf("tracefs is not mounted at %s: %v", root, err)
	}
	return &tracefsEnv{root: root}
}

var fieldRE = regexp.MustCompile(`field:(.*) ([A-Za-z_][A-Za-z0-9_]*)(\[(\d*)\])?;\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d);`)

func (e *tracefsEnv) Tracepoint(category, name string) (*program.TracepointFormat, error) {
	data, err := os.ReadFile(filepath.Join(e.root, "events", category, name, "format"))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("tracepoint %s:%s: %w", category, name, program.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	f := &program.TracepointFormat{Category: category, Name: name}
	for _, line := range strings.Split(string(data), "\n") {
		if id, ok := strings.CutPrefix(line, "ID: "); ok {
			f.ID, _ = strconv.ParseUint(strings.TrimSpace(id), 10, 64)
		}
		m := fieldRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		off, _ := strconv.Atoi(m[5])
		size, _ := strconv.Atoi(m[6])
		fld := program.TracepointField{Name: m[2], CType: m[1], Offset: off, Size: size, Signed: m[7] == "1"}
		fld.DataLoc = strings.HasPrefix(fld.CType, "__data_loc")
		fld.Pointer = strings.Contains(fld.CType, "*")
		if m[3] != "" && !fld.DataLoc {
			fld.Array, _ = strconv.Atoi(m[4])
		}
		f.Fields = append(f.Fields, fld)
	}
	return f, nil
}

func (e *tracefsEnv) MatchTracepoints(category, name string) ([][2]string, error) {
	fh, err := os.Open(filepath.Join(e.root, "available_events"))
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var out [][2]string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		cat, ev, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		if m1, _ := path.Match(category, cat); !m1 {
			continue
		}
		if m2, _ := path.Match(name, ev); m2 {
			out = append(out, [2]string{cat, ev})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+":"+out[i][1] < out[j][0]+":"+out[j][1] })
	return out, sc.Err()
}

func (e *tracefsEnv) MatchKernelFuncs(pattern string) ([]string, error) {
	// available_filter_functions may be unreadable (lockdown), so text
	// symbols come from kallsyms.
	data, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 3 || (fields[1] != "T" && fields[1] != "t") || len(fields) > 3 {
			continue
		}
		name := fields[2]
		if ok, _ := path.Match(pattern, name); ok && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (e *tracefsEnv) Arch() string { return runtime.GOARCH }

// fakeEnv answers with fixed data, for tests that need no kernel.
type fakeEnv struct {
	arch    string
	formats map[string]*program.TracepointFormat
	funcs   []string
}

func (e *fakeEnv) Tracepoint(category, name string) (*program.TracepointFormat, error) {
	if f, ok := e.formats[category+":"+name]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("tracepoint %s:%s: %w", category, name, program.ErrNotFound)
}

func (e *fakeEnv) MatchTracepoints(category, name string) ([][2]string, error) {
	var out [][2]string
	for k := range e.formats {
		cat, ev, _ := strings.Cut(k, ":")
		m1, _ := path.Match(category, cat)
		m2, _ := path.Match(name, ev)
		if m1 && m2 {
			out = append(out, [2]string{cat, ev})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+out[i][1] < out[j][0]+out[j][1] })
	return out, nil
}

func (e *fakeEnv) MatchKernelFuncs(pattern string) ([]string, error) {
	var out []string
	for _, f := range e.funcs {
		if ok, _ := path.Match(pattern, f); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

func (e *fakeEnv) Arch() string { return e.arch }
