package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

// Close writes the end record, flushes and syncs records.jsonl, replaces
// meta.json with the final one and releases the trace's lock. end carries
// the reason, the error and the runner's count of lost events; the store
// fills in Records and Bytes. The end record is written even past the cap:
// without it a reader cannot tell a finished trace from a killed one.
func (t *Trace) Close(end record.End) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	t.closed = true
	t.mu.Unlock()
	close(t.stop)
	t.wg.Wait()

	t.mu.Lock()
	defer t.mu.Unlock()
	end.Records = t.meta.Records
	end.Bytes = uint64(t.meta.Bytes)
	end.Lost = max(end.Lost, t.meta.Lost)
	rec := record.Record{V: record.Version, Type: record.TypeEnd, Time: time.Now().UTC(), Node: t.meta.Node, End: &end}
	var errs []error
	if line, err := json.Marshal(&rec); err != nil {
		errs = append(errs, fmt.Errorf("encoding end record: %w", err))
	} else if err := t.writeLine(append(line, '\n')); err != nil {
		errs = append(errs, err)
	}
	if err := t.w.Flush(); err != nil {
		errs = append(errs, fmt.Errorf("flushing records of trace %s: %w", t.id, err))
	}
	if err := t.f.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("syncing records of trace %s: %w", t.id, err))
	}
	t.meta.State = StateFinished
	t.meta.EndTime = rec.Time
	t.meta.End = &end
	t.meta.Lost = end.Lost
	// meta.json is final before the lock goes, so that nobody sees an
	// unlocked trace without its end and takes it for a killed one.
	if err := writeMeta(t.dir, &t.meta); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, t.f.Close(), t.dir.Close(), t.root.Close())
	return errors.Join(errs...)
}

// background flushes the buffer every FlushInterval and prunes the node
// every PruneInterval until Close.
func (t *Trace) background() {
	defer t.wg.Done()
	flush := time.NewTicker(t.limits.FlushInterval)
	defer flush.Stop()
	prune := time.NewTicker(t.limits.PruneInterval)
	defer prune.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-flush.C:
			t.mu.Lock()
			// A flush error sticks in the bufio.Writer and comes back from
			// the next Write, where the runner can act on it.
			_ = t.w.Flush()
			t.mu.Unlock()
		case <-prune.C:
			t.prune()
		}
	}
}

// prune keeps the node under its cap, records what it removed in the
// trace's metadata, and stops events when only running traces are left
// over the cap. A failure is not fatal (the trace itself is fine); it
// becomes a warning record after the next record written, so that the
// runner's start record stays the first.
func (t *Trace) prune() {
	removed, remaining, err := prune(t.root, t.limits.NodeBytes)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.meta.Pruned = append(t.meta.Pruned, removed...)
	if err == nil && remaining > t.limits.NodeBytes {
		t.nodeCapHit = true
	}
	if err != nil {
		t.warnings = append(t.warnings, fmt.Sprintf("pruning old traces to respect the node output cap failed: %v", err))
	}
}

// writeWarnings writes the pending warnings as warning records.
func (t *Trace) writeWarnings() error {
	warnings := t.warnings
	t.warnings = nil
	for _, w := range warnings {
		line, err := json.Marshal(&record.Record{V: record.Version, Type: record.TypeWarning, Time: time.Now().UTC(), Node: t.meta.Node, Text: w})
		if err != nil {
			return fmt.Errorf("encoding warning record: %w", err)
		}
		line = append(line, '\n')
		if capName, limit := t.capFor(record.TypeWarning); t.meta.Bytes+int64(len(line)) > limit {
			if err := t.refuse(&record.Record{Type: record.TypeWarning}, capName); err != nil {
				return err
			}
			continue
		}
		if err := t.writeLine(line); err != nil {
			return err
		}
	}
	return nil
}

// writeMeta replaces meta.json atomically: a reader sees the old or the new
// file, never a half-written one.
func writeMeta(dir *os.Root, m *Meta) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", MetaFile, err)
	}
	f, err := dir.OpenFile(metaTmpFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s: %w", MetaFile, err)
	}
	_, werr := f.Write(append(data, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("writing %s: %w", MetaFile, err)
	}
	if err := dir.Rename(metaTmpFile, MetaFile); err != nil {
		return fmt.Errorf("replacing %s: %w", MetaFile, err)
	}
	// The rename is durable only once the directory is synced.
	d, err := dir.Open(".")
	if err != nil {
		return fmt.Errorf("syncing trace directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing trace directory: %w", err)
	}
	return nil
}

// kernelRelease returns `uname -r`, or "" if uname fails (it does not on
// Linux; the field is informational).
func kernelRelease() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return ""
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}
