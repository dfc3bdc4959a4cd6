package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestFollowStreamsUntilTheEnd(t *testing.T) {
	root := t.TempDir()
	tr := openTrace(t, root, Limits{FlushInterval: 10 * time.Millisecond})
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Follow(context.Background(), root, tr.ID(), &out, 10*time.Millisecond) }()

	for i := range 50 {
		if err := tr.Write(printf(i)); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			// Follow must be streaming while the trace runs, not at its end.
			deadline := time.Now().Add(2 * time.Second)
			for !strings.Contains(out.String(), `"event 10\n"`) {
				if time.Now().After(deadline) {
					t.Fatal("Follow did not stream a record within 2s of its flush")
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Follow returned before the end record: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := tr.Close(record.End{Reason: "exit"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Follow = %v, want nil after the end record", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return after the end record")
	}
	file, err := os.ReadFile(filepath.Join(root, tr.ID(), RecordsFile))
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(file) {
		t.Errorf("Follow streamed %d bytes, the file has %d", len(out.String()), len(file))
	}
}

func TestFollowStopsWithContext(t *testing.T) {
	root := t.TempDir()
	tr := openTrace(t, root, Limits{})
	defer tr.Close(record.End{Reason: "exit"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := Follow(ctx, root, tr.ID(), &bytes.Buffer{}, 10*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Follow = %v, want context.DeadlineExceeded", err)
	}
}

func TestPruneFailureIsAWarningAfterTheFirstRecord(t *testing.T) {
	root := t.TempDir()
	// An entry the pruner refuses to touch makes pruning report an error.
	if err := os.Symlink(t.TempDir(), filepath.Join(root, newID())); err != nil {
		t.Fatal(err)
	}
	tr := openTrace(t, root, Limits{})
	start := &record.Record{V: record.Version, Type: record.TypeStart, Start: &record.Start{TraceID: tr.ID(), Scope: "none (whole node)"}}
	if err := tr.Write(start); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(record.End{Reason: "exit"}); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, root, tr.ID())
	if len(recs) != 3 || recs[0].Type != record.TypeStart || recs[1].Type != record.TypeWarning ||
		!strings.Contains(recs[1].Text, "pruning old traces to respect the node output cap failed: unsafe path") {
		t.Fatalf("records = %+v; want start, a warning about pruning, end", recs)
	}
}
