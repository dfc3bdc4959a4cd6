package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// incompleteGrace is how long a trace directory without meta.json is left
// alone: Open creates the directory and then its files, and the pruner must
// not remove a trace in between.
const incompleteGrace = time.Minute

// openRoot checks that root is an absolute, clean path and opens it as an
// os.Root, through which every later access goes.
func openRoot(root string) (*os.Root, error) {
	if !filepath.IsAbs(root) || filepath.Clean(root) != root {
		return nil, fmt.Errorf("%w: store root %q must be an absolute, clean path", ErrUnsafePath, root)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("opening store root: %w", err)
	}
	return r, nil
}

// checkTraceDir validates id and checks that <root>/<id> is a real
// directory, not a symbolic link: os.Root already keeps links from leaving
// the root, and refusing them altogether keeps one trace from aliasing
// another.
func checkTraceDir(r *os.Root, id string) error {
	if err := spec.ValidTraceID(id); err != nil {
		return err
	}
	fi, err := r.Lstat(id)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s under %s (see kubectl xtrace get)", ErrNotFound, id, r.Name())
	}
	if err != nil {
		return fmt.Errorf("inspecting trace %s: %w", id, err)
	}
	if !fi.IsDir() {
		what := "not a directory"
		if fi.Mode()&fs.ModeSymlink != 0 {
			what = "a symbolic link"
		}
		return fmt.Errorf("%w: %s under %s is %s, which the store never creates; remove it by hand", ErrUnsafePath, id, r.Name(), what)
	}
	return nil
}

// openRecords opens the records file of trace id for reading. It refuses a
// link in place of the file, as checkTraceDir refuses one in place of the
// directory.
func openRecords(r *os.Root, id string) (*os.File, error) {
	f, err := r.OpenFile(filepath.Join(id, RecordsFile), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("opening records of trace %s: %w", id, err)
	}
	return f, nil
}

// tryLock takes the trace's lock without waiting. It returns the open
// records file holding the lock (close it to unlock), or ok=false if a
// runner holds the lock. A missing records file returns nil, true, nil.
func tryLock(r *os.Root, id string) (f *os.File, ok bool, err error) {
	f, err = openRecords(r, id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	switch err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); {
	case err == nil:
		return f, true, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		f.Close()
		return nil, false, nil
	default:
		f.Close()
		return nil, false, fmt.Errorf("locking trace %s: %w", id, err)
	}
}

// runnerStopped says whether no runner holds the lock of trace id any
// more. It takes the lock to find out and lets go of it at once: Cat and
// Follow only read, so they have nothing to hold it for.
func runnerStopped(r *os.Root, id string) (bool, error) {
	lock, unlocked, err := tryLock(r, id)
	if err != nil {
		return false, err
	}
	if lock != nil {
		lock.Close()
	}
	return unlocked, nil
}

func flock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if !errors.Is(ferr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

// readMeta reads <id>/meta.json.
func readMeta(r *os.Root, id string) (*Meta, error) {
	data, err := r.ReadFile(filepath.Join(id, MetaFile))
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("trace %s: %s is corrupt: %w", id, MetaFile, err)
	}
	return &m, nil
}

// traceInfo is what List and Prune learn about one trace directory.
type traceInfo struct {
	meta Meta
	// ended is the time the trace stopped growing: the end time for a
	// finished trace, the records file's mtime for a killed one, the
	// directory's mtime for an incomplete one.
	ended time.Time
	// lock holds the trace's lock while the caller decides; nil for a
	// running trace or one without records.
	lock *os.File
}

// inspect determines the state of one trace directory. The caller closes
// info.lock. keepLock says whether to keep holding the lock (Prune, to
// delete safely) or release it at once (List).
func inspect(r *os.Root, id string, keepLock bool) (*traceInfo, error) {
	if err := checkTraceDir(r, id); err != nil {
		return nil, err
	}
	lock, unlocked, err := tryLock(r, id)
	if err != nil {
		return nil, err
	}
	info := &traceInfo{lock: lock}
	if !keepLock && lock != nil {
		defer func() { lock.Close(); info.lock = nil }()
	}
	m, merr := readMeta(r, id)
	switch {
	case !unlocked && merr == nil:
		info.meta = *m
		info.meta.State = StateRunning
	case !unlocked:
		// Locked but meta.json not written yet: Open is under way.
		info.meta = Meta{TraceID: id, State: StateRunning}
	case merr == nil && m.State == StateFinished:
		info.meta = *m
		info.ended = m.EndTime
	case merr == nil && lock != nil:
		info.meta = *m
		info.meta.State = StateKilled
		info.meta.Truncated = true
		fi, err := lock.Stat()
		if err != nil {
			return nil, fmt.Errorf("inspecting records of trace %s: %w", id, err)
		}
		info.ended = fi.ModTime()
	default:
		info.meta = Meta{TraceID: id, State: StateIncomplete}
		if m != nil {
			info.meta = *m
			info.meta.State = StateIncomplete
		}
		fi, err := r.Lstat(id)
		if err != nil {
			return nil, fmt.Errorf("inspecting trace %s: %w", id, err)
		}
		info.ended = fi.ModTime()
	}
	size, err := dirSize(r, id)
	if err != nil {
		return nil, err
	}
	info.meta.DiskBytes = size
	return info, nil
}

// dirSize adds up the sizes of the regular files directly in <id>; the
// store never creates subdirectories.
func dirSize(r *os.Root, id string) (int64, error) {
	d, err := r.Open(id)
	if err != nil {
		return 0, fmt.Errorf("reading trace %s: %w", id, err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return 0, fmt.Errorf("reading trace %s: %w", id, err)
	}
	var total int64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // replaced meanwhile, e.g. meta.json.tmp renamed
		}
		if err != nil {
			return 0, fmt.Errorf("reading trace %s: %w", id, err)
		}
		total += fi.Size()
	}
	return total, nil
}

// traceIDs lists the entries of the root named like trace ids. Anything
// else under the root is not ours and is left alone.
func traceIDs(r *os.Root) ([]string, error) {
	d, err := r.Open(".")
	if err != nil {
		return nil, fmt.Errorf("reading store root: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("reading store root %s: %w", r.Name(), err)
	}
	var ids []string
	for _, n := range names {
		if spec.ValidTraceID(n) == nil {
			ids = append(ids, n)
		}
	}
	return ids, nil
}
