package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// helperEnv makes the test binary act as a runner that gets killed; see
// TestMain and TestKilledRunnerLeavesReadableRecords.
const helperEnv = "XTRACE_STORE_TEST_HELPER"

func TestMain(m *testing.M) {
	if root := os.Getenv(helperEnv); root != "" {
		killedRunner(root, os.Getenv(helperEnv+"_ID"))
		return
	}
	os.Exit(m.Run())
}

func newID() string { return uuid.NewString() }

func printf(i int) *record.Record {
	return &record.Record{V: record.Version, Type: record.TypePrintf, Time: time.Unix(1700000000, 0).UTC(), Text: fmt.Sprintf("event %d\n", i)}
}

// readRecords decodes every line of a trace's records.jsonl.
func readRecords(t *testing.T, root, id string) []record.Record {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, id, RecordsFile))
	if err != nil {
		t.Fatal(err)
	}
	return decodeLines(t, data)
}

func decodeLines(t *testing.T, data []byte) []record.Record {
	t.Helper()
	var recs []record.Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r record.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d is not a record: %v: %q", len(recs)+1, err, sc.Text())
		}
		recs = append(recs, r)
	}
	return recs
}

func openTrace(t *testing.T, root string, limits Limits) *Trace {
	t.Helper()
	tr, err := Open(root, newID(), Meta{Node: "node-1", Scope: "none (whole node)"}, limits)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return tr
}

func TestWriteKeepsOrderAndCloseSummarises(t *testing.T) {
	root := t.TempDir()
	tr := openTrace(t, root, Limits{})
	const writers, each = 4, 250
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := tr.Write(printf(w*each + i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := tr.Close(record.End{Reason: "exit", Lost: 7}); err != nil {
		t.Fatalf("Close: %v", err)
	}

	recs := readRecords(t, root, tr.ID())
	if len(recs) != writers*each+1 {
		t.Fatalf("got %d records, want %d", len(recs), writers*each+1)
	}
	next := make([]int, writers) // each writer's records must appear in its order
	for _, r := range recs[:len(recs)-1] {
		var n int
		if _, err := fmt.Sscanf(r.Text, "event %d", &n); err != nil {
			t.Fatalf("record text %q: %v", r.Text, err)
		}
		w := n / each
		if n%each != next[w] {
			t.Fatalf("writer %d: got event %d, want %d", w, n%each, next[w])
		}
		next[w]++
	}
	end := recs[len(recs)-1]
	fi, err := os.Stat(filepath.Join(root, tr.ID(), RecordsFile))
	if err != nil {
		t.Fatal(err)
	}
	endLine, _ := json.Marshal(&end)
	if end.Type != record.TypeEnd || end.End == nil || end.End.Records != writers*each || end.End.Lost != 7 ||
		end.End.Bytes != uint64(fi.Size())-uint64(len(endLine)+1) {
		t.Errorf("end record = %+v %+v, want %d records, 7 lost, %d bytes", end, end.End, writers*each, fi.Size()-int64(len(endLine)+1))
	}

	metas, err := List(root)
	if err != nil || len(metas) != 1 {
		t.Fatalf("List = %v, %v", metas, err)
	}
	m := metas[0]
	if m.State != StateFinished || m.Records != writers*each+1 || m.Bytes != fi.Size() || m.End == nil ||
		m.End.Reason != "exit" || m.Kernel == "" || m.EndTime.IsZero() || m.Truncated || m.CapHit != "" {
		t.Errorf("meta = %+v", m)
	}
	if err := tr.Write(printf(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if err := tr.Close(record.End{}); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

func TestRecordsAreFlushedWithoutClose(t *testing.T) {
	root := t.TempDir()
	tr := openTrace(t, root, Limits{})
	defer tr.Close(record.End{Reason: "exit"})
	if err := tr.Write(printf(1)); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	seen := make(chan time.Duration)
	go func() {
		path := filepath.Join(root, tr.ID(), RecordsFile)
		for time.Since(written) < 3*time.Second {
			if data, _ := os.ReadFile(path); bytes.Contains(data, []byte(`"event 1\n"`)) {
				seen <- time.Since(written)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		seen <- -1
	}()
	if d := <-seen; d < 0 || d > 1500*time.Millisecond {
		t.Fatalf("record visible on disk after %v, want within 1.5s (-1: never)", d)
	}
}

// killedRunner is the helper process: it writes records the way a runner
// does and leaves the last one half flushed, then waits to be killed.
func killedRunner(root, id string) {
	tr, err := Open(root, id, Meta{Node: "node-1"}, Limits{FlushInterval: time.Hour})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := range 100 {
		if err := tr.Write(printf(i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	// This record overflows the write buffer: bufio writes the buffer out
	// full, which ends in the middle of this record, and keeps the rest.
	big := printf(100)
	big.Text = strings.Repeat("x", bufferSize)
	if err := tr.Write(big); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
	os.Exit(3)
}

func TestKilledRunnerLeavesReadableRecords(t *testing.T) {
	root := t.TempDir()
	id := newID()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+root, helperEnv+"_ID="+id)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		t.Fatalf("helper said %q, %v", line, err)
	}

	// While the helper lives, the trace is running and its partial last
	// line is simply not streamed yet.
	var running bytes.Buffer
	if err := Cat(root, id, &running); err != nil {
		t.Errorf("Cat of a running trace: %v", err)
	}
	if err := Remove(root, id); !errors.Is(err, ErrRunning) {
		t.Errorf("Remove of a running trace = %v, want ErrRunning", err)
	}
	if metas, err := List(root); err != nil || len(metas) != 1 || metas[0].State != StateRunning || metas[0].Node != "node-1" || metas[0].Kernel == "" {
		t.Errorf("List while running = %+v, %v; want the meta.json written at start", metas, err)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || cmd.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die of SIGKILL: %v", err)
	}

	raw, err := os.ReadFile(filepath.Join(root, id, RecordsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 || raw[len(raw)-1] == '\n' {
		t.Fatalf("records file does not end in a cut line (%d bytes); the test no longer exercises truncation", len(raw))
	}
	var buf bytes.Buffer
	err = Cat(root, id, &buf)
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "the last record was cut after") {
		t.Errorf("Cat error = %v, want ErrTruncated about a cut record", err)
	}
	recs := decodeLines(t, buf.Bytes())
	if len(recs) != 100 {
		t.Fatalf("Cat streamed %d records, want the 100 complete ones", len(recs))
	}
	for i, r := range recs {
		if r.Text != fmt.Sprintf("event %d\n", i) {
			t.Fatalf("record %d text %q", i, r.Text)
		}
	}
	if running.Len() != buf.Len() {
		t.Errorf("Cat while running gave %d bytes, after the kill %d", running.Len(), buf.Len())
	}
	var followed bytes.Buffer
	if err := Follow(context.Background(), root, id, &followed, time.Millisecond); !errors.Is(err, ErrTruncated) || followed.String() != buf.String() {
		t.Errorf("Follow after the kill = %v with %d bytes; want ErrTruncated with the %d bytes Cat gave", err, followed.Len(), buf.Len())
	}

	metas, err := List(root)
	if err != nil || len(metas) != 1 || metas[0].State != StateKilled || !metas[0].Truncated {
		t.Fatalf("List = %+v, %v; want one killed, truncated trace", metas, err)
	}
	if err := Remove(root, id); err != nil {
		t.Fatalf("Remove of a killed trace: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("trace directory still there after Remove: %v", err)
	}
}

func TestCatWithoutEndRecordIsTruncated(t *testing.T) {
	root := t.TempDir()
	id := newID()
	if err := os.MkdirAll(filepath.Join(root, id), 0o755); err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(printf(1))
	if err := os.WriteFile(filepath.Join(root, id, RecordsFile), append(line, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err := Cat(root, id, &buf)
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "without writing the end record") {
		t.Errorf("Cat = %v, want ErrTruncated about the missing end record", err)
	}
	if buf.String() != string(line)+"\n" {
		t.Errorf("Cat streamed %q", buf.String())
	}
}

func TestTraceCapKeepsFinalRecords(t *testing.T) {
	root := t.TempDir()
	const traceCap, reserve = 8 << 10, 3 << 10
	tr := openTrace(t, root, Limits{TraceBytes: traceCap, FinalReserve: reserve})
	const events = 200 // ~100 bytes each: far over the cap
	for i := range events {
		if err := tr.Write(printf(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Write(&record.Record{V: record.Version, Type: record.TypeLost, Lost: 5}); err != nil {
		t.Fatal(err)
	}
	final := []*record.Record{
		{V: record.Version, Type: record.TypeExit},
		{V: record.Version, Type: record.TypeMap, Map: &record.Map{Name: "@calls", Kind: "count",
			Entries: []record.Entry{{Key: []record.Value{{Kind: record.String, Str: strings.Repeat("k", 1000)}}, Value: &record.Value{Kind: record.Int, Int: 42}}}}},
	}
	for _, r := range final {
		if err := tr.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(record.End{Reason: "exit"}); err != nil {
		t.Fatal(err)
	}

	recs := readRecords(t, root, tr.ID())
	var types []record.Type
	caps, printfs := 0, 0
	for _, r := range recs {
		types = append(types, r.Type)
		switch r.Type {
		case record.TypeCap:
			caps++
			if !strings.Contains(r.Text, "trace output cap of 8192 bytes reached") {
				t.Errorf("cap record text %q", r.Text)
			}
		case record.TypePrintf:
			printfs++
			if caps > 0 {
				t.Errorf("printf record after the cap record")
			}
		}
	}
	n := len(types)
	if caps != 1 || printfs == 0 || printfs == events || n < 4 ||
		types[n-3] != record.TypeExit || types[n-2] != record.TypeMap || types[n-1] != record.TypeEnd {
		t.Fatalf("record types = %v; want some printfs, one cap, then exit, map, end", types)
	}
	end := recs[n-1].End
	if end.Lost != 5 || end.Bytes > traceCap {
		t.Errorf("end = %+v; want 5 lost and at most %d bytes before it", end, traceCap)
	}
	metas, err := List(root)
	if err != nil || len(metas) != 1 {
		t.Fatalf("List = %v, %v", metas, err)
	}
	if m := metas[0]; m.CapHit != CapTrace || m.Dropped != uint64(events-printfs+1) || m.Lost != 5 {
		t.Errorf("meta capHit %q dropped %d lost %d; want trace, %d, 5", m.CapHit, m.Dropped, m.Lost, events-printfs+1)
	}
}

func TestTraceCapOnFinalRecordsStillWritesEnd(t *testing.T) {
	root := t.TempDir()
	tr := openTrace(t, root, Limits{TraceBytes: 4 << 10, FinalReserve: 1 << 10})
	bigMap := &record.Record{V: record.Version, Type: record.TypeMap, Map: &record.Map{Name: "@big", Kind: "value",
		Entries: []record.Entry{{Value: &record.Value{Kind: record.String, Str: strings.Repeat("v", 3000)}}}}}
	for range 3 {
		if err := tr.Write(bigMap); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(record.End{Reason: "signal"}); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, root, tr.ID())
	var types []record.Type
	for _, r := range recs {
		types = append(types, r.Type)
	}
	want := []record.Type{record.TypeMap, record.TypeCap, record.TypeEnd}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("record types = %v, want %v", types, want)
	}
	if !strings.Contains(recs[1].Text, "while writing the final records: this map record") {
		t.Errorf("cap text %q", recs[1].Text)
	}
}

// finishedTrace writes a trace of about size bytes and closes it.
func finishedTrace(t *testing.T, root string, size int) string {
	t.Helper()
	tr := openTrace(t, root, Limits{})
	r := printf(0)
	r.Text = strings.Repeat("p", size)
	if err := tr.Write(r); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(record.End{Reason: "exit"}); err != nil {
		t.Fatal(err)
	}
	return tr.ID()
}

func TestPruneRemovesOldestFinishedFirst(t *testing.T) {
	root := t.TempDir()
	const size = 10 << 10

	// A running trace, started first and the largest: never pruned.
	running := openTrace(t, root, Limits{})
	defer running.Close(record.End{Reason: "exit"})
	big := printf(0)
	big.Text = strings.Repeat("r", 3*size)
	if err := running.Write(big); err != nil {
		t.Fatal(err)
	}

	// Started first but ended last: ordering is by end time.
	late := openTrace(t, root, Limits{})
	early := finishedTrace(t, root, size)
	time.Sleep(10 * time.Millisecond)
	middle := finishedTrace(t, root, size)
	time.Sleep(10 * time.Millisecond)
	r := printf(0)
	r.Text = strings.Repeat("l", size)
	if err := late.Write(r); err != nil {
		t.Fatal(err)
	}
	if err := late.Close(record.End{Reason: "exit"}); err != nil {
		t.Fatal(err)
	}
	// A killed trace whose records stopped long ago goes first.
	killedID := newID()
	killedDir := filepath.Join(root, killedID)
	if err := os.Mkdir(killedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	metaJSON, _ := json.Marshal(Meta{TraceID: killedID, State: StateRunning, StartTime: time.Now()})
	if err := os.WriteFile(filepath.Join(killedDir, MetaFile), metaJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(killedDir, RecordsFile), bytes.Repeat([]byte("k"), size), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(killedDir, RecordsFile), old, old); err != nil {
		t.Fatal(err)
	}
	// Not a trace: left alone whatever its size.
	if err := os.WriteFile(filepath.Join(root, "not-a-trace"), bytes.Repeat([]byte("n"), 5*size), 0o644); err != nil {
		t.Fatal(err)
	}
	running.mu.Lock()
	running.w.Flush()
	running.mu.Unlock()

	metas, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, m := range metas {
		total += m.DiskBytes
	}
	// Leave room for the running trace and about one and a half others.
	removed, err := Prune(root, total-3*size+size/2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{killedID, early, middle}; fmt.Sprint(removed) != fmt.Sprint(want) {
		t.Errorf("Prune removed %v, want %v (killed, early, middle)", removed, want)
	}
	for _, id := range []string{running.ID(), late.ID()} {
		if _, err := os.Stat(filepath.Join(root, id)); err != nil {
			t.Errorf("trace %s should remain: %v", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "not-a-trace")); err != nil {
		t.Errorf("foreign file removed: %v", err)
	}

	// Cap 0 removes every finished trace but not the running one.
	removed, err = Prune(root, 0)
	if err != nil || fmt.Sprint(removed) != fmt.Sprint([]string{late.ID()}) {
		t.Errorf("Prune(0) = %v, %v; want [%s]", removed, err, late.ID())
	}
}

func TestOpenPrunesAndRecordsIt(t *testing.T) {
	root := t.TempDir()
	old := finishedTrace(t, root, 20<<10)
	tr := openTrace(t, root, Limits{TraceBytes: 4 << 10, NodeBytes: 8 << 10})
	if err := tr.Close(record.End{Reason: "exit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, old)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old trace not pruned: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(root, tr.ID(), MetaFile))
	if err != nil {
		t.Fatal(err)
	}
	var m Meta
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(m.Pruned) != fmt.Sprint([]string{old}) {
		t.Errorf("meta.pruned = %v, want [%s]", m.Pruned, old)
	}
}

func TestNodeCapStopsEventsWhenNothingIsLeftToPrune(t *testing.T) {
	root := t.TempDir()
	tr := openTrace(t, root, Limits{NodeBytes: 2 << 10, PruneInterval: 50 * time.Millisecond})
	for i := 0; ; i++ {
		if err := tr.Write(printf(i)); err != nil {
			t.Fatal(err)
		}
		if st := tr.Stats(); st.CapHit == CapNode {
			break
		}
		if i > 100000 {
			t.Fatal("node cap never hit")
		}
		time.Sleep(time.Millisecond)
	}
	if err := tr.Close(record.End{Reason: "exit"}); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, root, tr.ID())
	if n := len(recs); recs[n-2].Type != record.TypeCap || !strings.Contains(recs[n-2].Text, "node output cap of 2048 bytes reached") || recs[n-1].Type != record.TypeEnd {
		t.Errorf("last records = %+v, %+v; want a node cap record and the end", recs[n-2], recs[n-1])
	}
}

func TestOpenRejects(t *testing.T) {
	root := t.TempDir()
	tr := openTrace(t, root, Limits{})
	defer tr.Close(record.End{Reason: "exit"})
	tests := []struct {
		name   string
		root   string
		id     string
		limits Limits
		want   error
	}{
		{"existing id", root, tr.ID(), Limits{}, ErrExists},
		{"bad id", root, "../etc", Limits{}, spec.ErrInvalidTraceID},
		{"relative root", "var/lib/xtrace", newID(), Limits{}, ErrUnsafePath},
		{"unclean root", root + "/", newID(), Limits{}, ErrUnsafePath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Open(tt.root, tt.id, Meta{}, tt.limits)
			if !errors.Is(err, tt.want) {
				if got != nil {
					got.Close(record.End{})
				}
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Open(root, newID(), Meta{}, Limits{TraceBytes: 100, FinalReserve: 100}); err == nil || !strings.Contains(err.Error(), "reserve must be smaller") {
		t.Errorf("Open with reserve = cap: %v", err)
	}
}

func TestPathEscapesAreRejected(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	outside := t.TempDir()
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(outside, RecordsFile)
	if err := os.WriteFile(secret, []byte(`{"type":"end"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A trace id that is a symbolic link out of the root.
	linkID := newID()
	if err := os.Symlink(outside, filepath.Join(root, linkID)); err != nil {
		t.Fatal(err)
	}
	// A real trace directory whose records file links out of the root.
	innerID := newID()
	if err := os.Mkdir(filepath.Join(root, innerID), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(root, innerID, RecordsFile)); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"cat dot-dot id", func() error { return Cat(root, "../x", &bytes.Buffer{}) }, spec.ErrInvalidTraceID},
		{"remove dot-dot id", func() error { return Remove(root, "..") }, spec.ErrInvalidTraceID},
		{"cat relative root", func() error { return Cat("store", newID(), &bytes.Buffer{}) }, ErrUnsafePath},
		{"cat root with dot-dot", func() error { return Cat(root+"/../store", newID(), &bytes.Buffer{}) }, ErrUnsafePath},
		{"cat symlinked trace", func() error { return Cat(root, linkID, &bytes.Buffer{}) }, ErrUnsafePath},
		{"remove symlinked trace", func() error { return Remove(root, linkID) }, ErrUnsafePath},
		{"cat missing trace", func() error { return Cat(root, newID(), &bytes.Buffer{}) }, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}

	var buf bytes.Buffer
	if err := Cat(root, innerID, &buf); err == nil || buf.Len() != 0 {
		t.Errorf("Cat through a symlinked records file = %v, streamed %q; want an error and nothing", err, buf.String())
	}
	if _, err := Prune(root, 0); err != nil {
		t.Logf("Prune reported: %v", err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("file outside the root was touched: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, linkID)); err != nil {
		t.Errorf("Prune removed the symlink it should have left alone: %v", err)
	}
}
