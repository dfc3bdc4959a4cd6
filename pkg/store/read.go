package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

// List returns the metadata of every trace under root, oldest first, with
// State, Truncated and DiskBytes as found now. A root that does not exist
// holds no traces. Traces that cannot be read are reported in the error,
// joined, after the ones that can.
func List(root string) ([]Meta, error) {
	r, err := openRoot(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ids, err := traceIDs(r)
	if err != nil {
		return nil, err
	}
	var metas []Meta
	var errs []error
	for _, id := range ids {
		info, err := inspect(r, id, false)
		if errors.Is(err, ErrNotFound) {
			continue // removed while we looked
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		metas = append(metas, info.meta)
	}
	sort.SliceStable(metas, func(i, j int) bool {
		if !metas[i].StartTime.Equal(metas[j].StartTime) {
			return metas[i].StartTime.Before(metas[j].StartTime)
		}
		return metas[i].TraceID < metas[j].TraceID
	})
	return metas, errors.Join(errs...)
}

// Cat streams the complete records of trace id to w, as they are on disk.
// A running trace is streamed up to its last complete record. A trace whose
// runner was killed is streamed up to its last complete record, then Cat
// returns an error wrapping ErrTruncated: the cut last line (if any) and the
// missing end record are reported, never passed on.
func Cat(root, id string, w io.Writer) error {
	r, f, err := openTraceForReading(root, id)
	if err != nil {
		return err
	}
	defer r.Close()
	defer f.Close()

	last, partial, err := copyLines(w, f)
	if err != nil {
		return fmt.Errorf("reading records of trace %s: %w", id, err)
	}
	if lastType(last) == record.TypeEnd {
		return nil
	}
	// No end record yet: fine if a runner is still writing, a truncation if
	// not. Whether the runner is alive is decided after reading, so a trace
	// that ended while we read is not reported as truncated.
	stopped, err := runnerStopped(r, id)
	if err != nil {
		return err
	}
	if !stopped {
		return nil
	}
	return truncatedError(id, partial)
}

// openTraceForReading opens the store root and the records file of trace
// id, which must be a real trace directory. The caller closes both; the
// root stays open so that the caller can ask whether the runner stopped.
func openTraceForReading(root, id string) (*os.Root, *os.File, error) {
	r, err := openRoot(root)
	if err != nil {
		return nil, nil, err
	}
	if err := checkTraceDir(r, id); err != nil {
		r.Close()
		return nil, nil, err
	}
	f, err := openRecords(r, id)
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, f, nil
}

// truncatedError reports a trace whose runner stopped before writing the
// end record. partial is the length of a cut last line, which is never
// passed on: it is only counted here.
func truncatedError(id string, partial int) error {
	if partial > 0 {
		return fmt.Errorf("%w: trace %s: its runner stopped without finishing it; the last record was cut after %d bytes and is left out", ErrTruncated, id, partial)
	}
	return fmt.Errorf("%w: trace %s: its runner stopped without writing the end record; every record before that is shown", ErrTruncated, id)
}

// copyLines copies the newline-terminated lines of r to w. It returns the
// last complete line and the length of a trailing incomplete one.
func copyLines(w io.Writer, r io.Reader) (last []byte, partial int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if _, werr := w.Write(line); werr != nil {
				return nil, 0, werr
			}
			last = line
			continue
		}
		if errors.Is(err, io.EOF) {
			return last, len(line), nil
		}
		if err != nil {
			return nil, 0, err
		}
	}
}

func lastType(line []byte) record.Type {
	var r struct {
		Type record.Type `json:"type"`
	}
	if json.Unmarshal(bytes.TrimSpace(line), &r) != nil {
		return ""
	}
	return r.Type
}

// Remove deletes trace id. It refuses a running trace: stop its Job first.
func Remove(root, id string) error {
	r, err := openRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	info, err := inspect(r, id, true)
	if err != nil {
		return err
	}
	if info.lock != nil {
		defer info.lock.Close()
	}
	if info.meta.State == StateRunning {
		return fmt.Errorf("%w: %s; stop it first (kubectl xtrace delete stops its Job)", ErrRunning, id)
	}
	if err := r.RemoveAll(id); err != nil {
		return fmt.Errorf("removing trace %s: %w", id, err)
	}
	return nil
}

// Prune removes the oldest finished traces under root (killed ones count as
// finished when their records stopped growing) until all traces together
// take at most nodeCap bytes. Running traces are never removed, nor
// directories being created. nodeCap 0 removes every finished trace.
func Prune(root string, nodeCap int64) (removed []string, err error) {
	if nodeCap < 0 {
		return nil, fmt.Errorf("node cap %d is negative", nodeCap)
	}
	r, err := openRoot(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	removed, _, err = prune(r, nodeCap)
	return removed, err
}

// prune does Prune's work and also returns the bytes left under the root.
func prune(r *os.Root, nodeCap int64) (removed []string, remaining int64, err error) {
	ids, err := traceIDs(r)
	if err != nil {
		return nil, 0, err
	}
	var candidates []*traceInfo
	var errs []error
	defer func() {
		for _, c := range candidates {
			c.lock.Close()
		}
	}()
	for _, id := range ids {
		info, err := inspect(r, id, true)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		remaining += info.meta.DiskBytes
		prunable := info.meta.State == StateFinished || info.meta.State == StateKilled ||
			(info.meta.State == StateIncomplete && time.Since(info.ended) > incompleteGrace)
		switch {
		case prunable:
			candidates = append(candidates, info)
		case info.lock != nil:
			info.lock.Close()
		}
	}
	slices.SortFunc(candidates, func(a, b *traceInfo) int {
		if c := a.ended.Compare(b.ended); c != 0 {
			return c
		}
		return strings.Compare(a.meta.TraceID, b.meta.TraceID)
	})
	for _, c := range candidates {
		if remaining <= nodeCap {
			break
		}
		// The lock is still held, so no runner can be writing this trace.
		if err := r.RemoveAll(c.meta.TraceID); err != nil {
			errs = append(errs, fmt.Errorf("pruning trace %s: %w", c.meta.TraceID, err))
			continue
		}
		remaining -= c.meta.DiskBytes
		removed = append(removed, c.meta.TraceID)
	}
	return removed, remaining, errors.Join(errs...)
}
