package record

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The golden files are the stdout of bpftrace 0.17 running testdata/NAME.bt
// (without its "Attaching N probes..." line, which xtrace prints on stderr).
// -update rewrites them from our renderer; -bpftrace re-runs bpftrace to
// check that the golden files still are its real output.
var (
	update      = flag.Bool("update", false, "rewrite testdata/*.golden from the renderer")
	runBpftrace = flag.Bool("bpftrace", false, "check testdata/*.golden against a local bpftrace (needs root)")
)

func i64(v int64) *Value  { return &Value{Kind: Int, Int: v} }
func u64(v uint64) *Value { return &Value{Kind: Uint, Uint: v} }
func str(s string) Value  { return Value{Kind: String, Str: s} }
func key(vs ...Value) []Value {
	return vs
}
func ikey(v int64) Value { return Value{Kind: Int, Int: v} }

func buckets(first int, counts ...uint64) []Bucket {
	bs := make([]Bucket, len(counts))
	for i, c := range counts {
		bs[i] = Bucket{Index: first + i, Count: c}
	}
	return bs
}

func printf(s string) *Record { return &Record{V: Version, Type: TypePrintf, Text: s} }
func mapRec(m Map) *Record    { return &Record{V: Version, Type: TypeMap, Map: &m} }

// withZeros returns one bucket at each index in idx with count 1 and zero
// buckets in between.
func ones(idx ...int) []Bucket {
	var bs []Bucket
	for i := idx[0]; i <= idx[len(idx)-1]; i++ {
		c := uint64(0)
		for _, j := range idx {
			if i == j {
				c = 1
			}
		}
		bs = append(bs, Bucket{Index: i, Count: c})
	}
	return bs
}

var mapsRecords = []*Record{
	{V: Version, Type: TypeStart, Start: &Start{TraceID: "t", Scope: "none"}},
	{V: Version, Type: TypeAttached, Probes: 1},
	printf("-42|   42|42   |00042|ff|FF|10|\n"),
	printf("str|ab    |    cd|A|0x1000|%|4294967295|abc|7|ff|\n"),
	printf("     005|ff      |44|4464|-1|3|    x|\n"),
	{V: Version, Type: TypeExit},
	mapRec(Map{Name: "@", Kind: "sum", Entries: []Entry{
		{Key: key(ikey(1)), Value: i64(-5)}, {Key: key(ikey(-2)), Value: i64(3)}}}),
	mapRec(Map{Name: "@a", Kind: "avg", Entries: []Entry{{Value: i64(7)}}}),
	mapRec(Map{Name: "@ak", Kind: "avg", Entries: []Entry{{Key: key(str("q")), Value: i64(5)}}}),
	mapRec(Map{Name: "@c", Kind: "count", Entries: []Entry{{Key: key(str("x"), ikey(3)), Value: u64(1)}}}),
	mapRec(Map{Name: "@e", Kind: "value"}),
	mapRec(Map{Name: "@ea", Kind: "avg"}),
	mapRec(Map{Name: "@h", Kind: "hist", Entries: []Entry{{Buckets: ones(0, 2, 11, 14)}}}),
	mapRec(Map{Name: "@hk", Kind: "hist", Entries: []Entry{
		{Key: key(str("a")), Buckets: ones(3)},
		{Key: key(str("b")), Buckets: ones(2, 22, 33)}}}),
	mapRec(Map{Name: "@l", Kind: "lhist", LHist: &LHistParams{Min: 0, Max: 5000, Step: 1000},
		Entries: []Entry{{Buckets: ones(0, 2, 6)}}}),
	mapRec(Map{Name: "@mn", Kind: "min", Entries: []Entry{{Value: i64(3)}}}),
	mapRec(Map{Name: "@mx", Kind: "max", Entries: []Entry{{Value: i64(5)}}}),
	mapRec(Map{Name: "@s", Kind: "stats", Entries: []Entry{{Stats: &Stats{Count: 2, Average: 3, Total: 7}}}}),
	mapRec(Map{Name: "@sk", Kind: "stats", Entries: []Entry{{Key: key(ikey(1)), Stats: &Stats{Count: 1, Average: 4, Total: 4}}}}),
	mapRec(Map{Name: "@str", Kind: "value", Entries: []Entry{{Value: &Value{Kind: String, Str: "hello"}}}}),
	mapRec(Map{Name: "@t", Kind: "value", Entries: []Entry{{Value: &Value{Kind: Tuple,
		Tuple: []Value{{Kind: Int, Int: 1}, str("ab"), {Kind: Int, Int: -3}}}}}}),
	{V: Version, Type: TypeEnd, End: &End{Reason: "exit"}},
}

// hh is @hh = hist(0) twice and hist(2^40) once, which 0.17 saturates into
// the [2G, 4G) bucket.
func hh(div uint64) []Bucket {
	bs := make([]Bucket, 33)
	for i := range bs {
		bs[i] = Bucket{Index: i + 1}
	}
	bs[0].Count, bs[32].Count = 2, 1
	if div > 1 {
		bs[0].Raw, bs[32].Raw = 2, 1
		bs[0].Count, bs[32].Count = 2/div, 1/div
	}
	return bs
}

var printRecords = []*Record{
	mapRec(Map{Name: "@c", Kind: "count", Entries: []Entry{
		{Key: key(str("a")), Value: u64(2)}, {Key: key(str("c")), Value: u64(3)}}}),
	mapRec(Map{Name: "@c", Kind: "count", Entries: []Entry{
		{Key: key(str("b")), Value: u64(0)}, {Key: key(str("a")), Value: u64(1)}, {Key: key(str("c")), Value: u64(1)}}}),
	mapRec(Map{Name: "@l", Kind: "lhist", LHist: &LHistParams{Min: 0, Max: 4194304, Step: 1048576},
		Entries: []Entry{{Buckets: ones(1, 3)}}}),
	mapRec(Map{Name: "@hh", Kind: "hist", Entries: []Entry{{Buckets: hh(2)}}}),
	{V: Version, Type: TypeExit},
	mapRec(Map{Name: "@av", Kind: "avg", Entries: []Entry{
		{Key: key(str("z")), Value: i64(-4)}, {Key: key(str("y")), Value: i64(2)}, {Key: key(str("x")), Value: i64(10)}}}),
	mapRec(Map{Name: "@c", Kind: "count", Entries: []Entry{
		{Key: key(str("b")), Value: u64(1)}, {Key: key(str("a")), Value: u64(2)}, {Key: key(str("c")), Value: u64(3)}}}),
	mapRec(Map{Name: "@hh", Kind: "hist", Entries: []Entry{{Buckets: hh(1)}}}),
	mapRec(Map{Name: "@i", Kind: "value", Entries: []Entry{
		{Key: key(ikey(2)), Value: i64(-20)}, {Key: key(ikey(-1)), Value: i64(10)}, {Key: key(ikey(3)), Value: i64(30)}}}),
	mapRec(Map{Name: "@k", Kind: "lhist", LHist: &LHistParams{Min: 0, Max: 10240, Step: 1024},
		Entries: []Entry{{Buckets: ones(1, 3, 11)}}}),
	mapRec(Map{Name: "@l", Kind: "lhist", LHist: &LHistParams{Min: 0, Max: 4194304, Step: 1048576},
		Entries: []Entry{{Buckets: ones(1, 3)}}}),
	mapRec(Map{Name: "@mm", Kind: "max", Entries: []Entry{
		{Key: key(str("q")), Value: i64(1)}, {Key: key(str("p")), Value: i64(9)}}}),
	mapRec(Map{Name: "@n", Kind: "lhist", LHist: &LHistParams{Min: 100, Max: 300, Step: 50},
		Entries: []Entry{{Buckets: ones(2, 4)}}}),
	mapRec(Map{Name: "@s", Kind: "value", Entries: []Entry{
		{Key: key(str("a")), Value: &Value{Kind: String, Str: "aa"}},
		{Key: key(str("m")), Value: &Value{Kind: String, Str: "mm"}},
		{Key: key(str("z")), Value: &Value{Kind: String, Str: "zz"}}}}),
	mapRec(Map{Name: "@uu", Kind: "value", Entries: []Entry{{Value: i64(-1)}}}),
	mapRec(Map{Name: "@z", Kind: "count", Entries: []Entry{{Key: key(ikey(1)), Value: u64(0)}}}),
}

var kframes = []string{"perf_syscall_enter+475", "syscall_trace_enter+384"}

var stacksRecords = []*Record{
	printf("\n        perf_syscall_enter+475\n        syscall_trace_enter+384\n|0|0|\n"),
	{V: Version, Type: TypeExit},
	mapRec(Map{Name: "@f", Kind: "count", Entries: []Entry{
		{Key: key(Value{Kind: KStack, Stack: kframes}), Value: u64(1)}}}),
	mapRec(Map{Name: "@kk", Kind: "value", Entries: []Entry{{Value: &Value{Kind: Sym, Str: "0"}}}}),
	mapRec(Map{Name: "@s", Kind: "value", Entries: []Entry{{Value: &Value{Kind: KStack,
		Stack: append(append([]string{}, kframes...), "do_syscall_64+527")}}}}),
	mapRec(Map{Name: "@u", Kind: "count", Entries: []Entry{
		{Key: key(Value{Kind: UStack, Stack: []string{"0x7f0f7239a4f7"}}), Value: u64(1)}}}),
	mapRec(Map{Name: "@us", Kind: "value", Entries: []Entry{{Value: &Value{Kind: Sym, Str: "0"}}}}),
}

var goldenCases = []struct {
	name    string
	records []*Record
	live    bool // bpftrace's output for this script is deterministic
}{
	{"maps", mapsRecords, true},
	{"print", printRecords, true},
	{"stacks", stacksRecords, false},
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			r := NewTextRenderer(&stdout, &stderr)
			for _, rec := range tc.records {
				if err := r.Render(rec); err != nil {
					t.Fatalf("Render(%s): %v", rec.Type, err)
				}
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := stdout.String(); got != string(want) {
				t.Errorf("stdout differs from %s\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

// TestGoldenIsBpftraceOutput re-runs the scripts under a real bpftrace 0.17
// to prove the golden files are its output, not ours.
func TestGoldenIsBpftraceOutput(t *testing.T) {
	// CI installs bpftrace, so there the golden files are always checked
	// against the real thing.
	if !*runBpftrace && os.Getenv("CI") == "" {
		t.Skip("run with -bpftrace (or CI=true) to compare the golden files with a local bpftrace")
	}
	bin, err := exec.LookPath("bpftrace")
	if err != nil {
		t.Fatalf("-bpftrace given but bpftrace is not installed: %v", err)
	}
	for _, tc := range goldenCases {
		if !tc.live {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			// bpftrace exits by itself (the programs call exit()); the
			// timeout turns a hang into a failure.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, filepath.Join("testdata", tc.name+".bt")).Output()
			if err != nil {
				t.Fatalf("bpftrace: %v", err)
			}
			_, got, _ := strings.Cut(string(out), "\n") // drop "Attaching N probes..."
			want, err := os.ReadFile(filepath.Join("testdata", tc.name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("bpftrace output differs from the golden file\n--- bpftrace\n%s\n--- golden\n%s", got, want)
			}
		})
	}
}

func TestRenderStderr(t *testing.T) {
	tests := []struct {
		name       string
		rec        Record
		wantStdout string
		wantStderr string
	}{
		{"attached one", Record{Type: TypeAttached, Probes: 1}, "", "Attached 1 probe\n"},
		{"attached many", Record{Type: TypeAttached, Probes: 3}, "", "Attached 3 probes\n"},
		{"lost", Record{Type: TypeLost, Lost: 12}, "", "Lost 12 events\n"},
		{"warning", Record{Type: TypeWarning, Text: "rlimit not raised\n"}, "", "WARNING: rlimit not raised\n"},
		{"error", Record{Type: TypeError, Text: "verifier said no"}, "", "ERROR: verifier said no\n"},
		{"cap", Record{Type: TypeCap, Text: "per-trace cap 10MiB"}, "",
			"WARNING: output cap reached, later events are not recorded: per-trace cap 10MiB\n"},
		{"end quiet", Record{Type: TypeEnd, End: &End{Reason: "exit"}}, "", ""},
		{"end lost", Record{Type: TypeEnd, End: &End{Reason: "signal", Lost: 7}}, "", "Total lost event count: 7\n"},
		{"start", Record{Type: TypeStart, Start: &Start{TraceID: "x"}}, "", ""},
		{"exit", Record{Type: TypeExit}, "\n\n", ""},
		{"printf", Record{Type: TypePrintf, Text: "a%%b\n"}, "a%%b\n", ""},
	}
	// Write must behave as Render.
	var stdout, stderr bytes.Buffer
	if err := NewTextRenderer(&stdout, &stderr).Write(&Record{Type: TypeExit}); err != nil || stdout.String() != "\n\n" {
		t.Errorf("Write(exit) wrote %q, err %v", stdout.String(), err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := NewTextRenderer(&stdout, &stderr).Render(&tc.rec); err != nil {
				t.Fatal(err)
			}
			if stdout.String() != tc.wantStdout || stderr.String() != tc.wantStderr {
				t.Errorf("stdout %q stderr %q, want %q and %q", stdout.String(), stderr.String(), tc.wantStdout, tc.wantStderr)
			}
		})
	}
}

func TestRenderRejectsBadRecords(t *testing.T) {
	r := NewTextRenderer(&bytes.Buffer{}, &bytes.Buffer{})
	for _, rec := range []Record{{Type: "bogus"}, {Type: TypeMap}} {
		if err := r.Render(&rec); err == nil {
			t.Errorf("Render(%+v) succeeded, want an error", rec)
		}
	}
}

func TestLabels(t *testing.T) {
	hist := map[int]string{0: "(..., 0)", 1: "[0]", 2: "[1]", 3: "[2, 4)", 11: "[512, 1K)", 12: "[1K, 2K)",
		22: "[1M, 2M)", 33: "[2G, 4G)", 42: "[1T, 2T)"}
	for i, want := range hist {
		if got := histLabel(i); got != want {
			t.Errorf("histLabel(%d) = %q, want %q", i, got, want)
		}
	}
	p := LHistParams{Min: 0, Max: 10240, Step: 1024}
	lh := map[int]string{0: "(..., 0)", 1: "[0, 1K)", 2: "[1K, 2K)", 11: "[10K, ...)"}
	for i, want := range lh {
		if got := lhistLabel(i, p); got != want {
			t.Errorf("lhistLabel(%d) = %q, want %q", i, got, want)
		}
	}
}
