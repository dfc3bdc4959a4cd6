package attach

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// Places tracefs may live, newest convention first. Classic tracepoints,
// their formats and the lists of events are only visible through it.
var tracefsCandidates = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

var (
	tracefsMu  sync.Mutex
	tracefsDir string
)

// Tracefs returns the directory where tracefs is mounted. If it is mounted
// nowhere, it mounts it at /sys/kernel/tracing, as minimal node images
// and fresh VMs often leave it unmounted; it never unmounts anything.
func Tracefs() (string, error) {
	tracefsMu.Lock()
	defer tracefsMu.Unlock()
	if tracefsDir != "" {
		return tracefsDir, nil
	}
	for _, dir := range tracefsCandidates {
		if isTracefs(dir) {
			tracefsDir = dir
			return dir, nil
		}
	}
	dir := tracefsCandidates[0]
	if err := unix.Mount("nodev", dir, "tracefs", 0, ""); err != nil {
		return "", fmt.Errorf("tracefs is not mounted and mounting it at %s failed (run as root, or mount it with `mount -t tracefs nodev %s`): %w", dir, dir, err)
	}
	if !isTracefs(dir) {
		return "", fmt.Errorf("mounted tracefs at %s but it has no events directory: %w", dir, ErrUnsupported)
	}
	tracefsDir = dir
	return dir, nil
}

func isTracefs(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	if st.Type != unix.TRACEFS_MAGIC && st.Type != unix.DEBUGFS_MAGIC {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "events"))
	return err == nil
}

// ReadTracepointFormat reads and parses <tracefs>/events/CAT/NAME/format.
// A tracepoint that does not exist yields an error wrapping
// program.ErrNotFound.
func ReadTracepointFormat(tracefs, category, name string) (*program.TracepointFormat, error) {
	if !validEventName(category) || !validEventName(name) {
		return nil, fmt.Errorf("tracepoint %s:%s: invalid name: %w", category, name, program.ErrNotFound)
	}
	f, err := os.Open(filepath.Join(tracefs, "events", category, name, "format"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tracepoint %s:%s does not exist (list them with `ls %s/events/%s`): %w",
			category, name, tracefs, category, program.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the format of tracepoint %s:%s: %w", category, name, err)
	}
	defer f.Close()
	return ParseTracepointFormat(category, name, f)
}

// validEventName refuses names that would walk out of the events directory.
func validEventName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

// ParseTracepointFormat parses the text of a tracepoint's format file:
//
//	name: sys_enter_openat
//	ID: 648
//	format:
//		field:unsigned short common_type;	offset:0;	size:2;	signed:0;
//		...
//		field:const char * filename;	offset:24;	size:8;	signed:0;
func ParseTracepointFormat(category, name string, r io.Reader) (*program.TracepointFormat, error) {
	tf := &program.TracepointFormat{Category: category, Name: name}
	haveID := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "ID:"):
			id, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "ID:")), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("tracepoint %s:%s: bad ID line %q: %w", category, name, line, err)
			}
			tf.ID, haveID = id, true
		case strings.HasPrefix(line, "field:"):
			f, err := parseField(line)
			if err != nil {
				return nil, fmt.Errorf("tracepoint %s:%s: %w", category, name, err)
			}
			tf.Fields = append(tf.Fields, f)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the format of tracepoint %s:%s: %w", category, name, err)
	}
	if !haveID || len(tf.Fields) == 0 {
		return nil, fmt.Errorf("tracepoint %s:%s: format has no ID or no fields", category, name)
	}
	return tf, nil
}

// parseField parses one "field:DECL; offset:O; size:S; signed:X;" line.
func parseField(line string) (program.TracepointField, error) {
	var f program.TracepointField
	var decl string
	haveOffset, haveSize := false, false
	for _, part := range strings.Split(line, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "field":
			decl = strings.TrimSpace(v)
		case "offset":
			f.Offset, err = strconv.Atoi(v)
			haveOffset = err == nil
		case "size":
			f.Size, err = strconv.Atoi(v)
			haveSize = err == nil
		case "signed":
			f.Signed = v == "1"
		}
		if err != nil {
			return f, fmt.Errorf("field line %q: bad %s: %w", line, k, err)
		}
	}
	if decl == "" || !haveOffset || !haveSize {
		return f, fmt.Errorf("field line %q lacks a declaration, offset or size", line)
	}
	// The name is the last word of the declaration; a fixed array keeps its
	// dimension on the name ("char comm[16]": CType "char", Array 16), a
	// __data_loc its empty brackets on the type ("__data_loc char[] name").
	i := strings.LastIndexAny(decl, " *")
	if i < 0 {
		return f, fmt.Errorf("field line %q: no type in %q", line, decl)
	}
	f.CType = strings.TrimSpace(decl[:i+1])
	f.Name = decl[i+1:]
	if open := strings.IndexByte(f.Name, '['); open >= 0 {
		dim := strings.TrimSuffix(f.Name[open+1:], "]")
		f.Name = f.Name[:open]
		if n, err := strconv.Atoi(dim); err == nil {
			f.Array = n
		} else {
			// A dimension the kernel left symbolic (e.g. TASK_COMM_LEN):
			// count bytes, which is right for the char arrays it is used on.
			f.Array = f.Size
		}
	}
	f.DataLoc = strings.HasPrefix(f.CType, "__data_loc")
	f.Pointer = !f.DataLoc && strings.Contains(f.CType, "*")
	return f, nil
}

// ListTracepoints lists every tracepoint as {category, name}, sorted.
func ListTracepoints(tracefs string) ([][2]string, error) {
	var out [][2]string
	f, err := os.Open(filepath.Join(tracefs, "available_events"))
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if cat, name, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok {
				out = append(out, [2]string{cat, name})
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading the list of tracepoints: %w", err)
		}
	} else {
		// Without available_events, walk the events directory.
		formats, gerr := filepath.Glob(filepath.Join(tracefs, "events", "*", "*", "format"))
		if gerr != nil {
			return nil, fmt.Errorf("listing tracepoints: %w", gerr)
		}
		for _, p := range formats {
			dir := filepath.Dir(p)
			out = append(out, [2]string{filepath.Base(filepath.Dir(dir)), filepath.Base(dir)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	return out, nil
}

// Match reports whether s matches a bpftrace wildcard pattern, where * is
// any run of characters and ? any one character. Nothing else is special.
func Match(pattern, s string) bool {
	// Iterative glob matching with backtracking to the last *.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// HasWildcard reports whether s holds * or ?.
func HasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }
