package codegen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// trace is a loaded spec with helpers to run, attach and read it.
type trace struct {
	t    *testing.T
	spec *program.Spec
	coll *ebpf.Collection
	rd   *ringbuf.Reader
}

func startTrace(t *testing.T, src string, opts Options) *trace {
	t.Helper()
	requireRoot(t)
	return startTraceEnv(t, newTestEnv(t), src, opts)
}

// startTraceEnv is startTrace with a given environment, for programs that
// need no tracefs.
func startTraceEnv(t *testing.T, env program.Env, src string, opts Options) *trace {
	t.Helper()
	requireRoot(t)
	spec := compile(t, env, src, opts)
	coll := load(t, spec)
	rd, err := ringbuf.NewReader(coll.Maps[spec.OutputMap])
	if err != nil {
		t.Fatalf("ringbuf reader: %v", err)
	}
	t.Cleanup(func() { rd.Close() })
	return &trace{t: t, spec: spec, coll: coll, rd: rd}
}

// program returns the loaded program of probe i.
func (tr *trace) program(i int) *ebpf.Program {
	return tr.coll.Programs[tr.spec.Probes[i].Program]
}

// run executes probe i once with BPF_PROG_TEST_RUN, as the runner does for
// BEGIN and END.
func (tr *trace) run(i int) {
	tr.t.Helper()
	if _, err := tr.program(i).Run(&ebpf.RunOptions{}); err != nil {
		tr.t.Fatalf("run %s: %v", tr.spec.Probes[i].Name, err)
	}
}

// attachTracepoint attaches probe i to its tracepoint.
func (tr *trace) attachTracepoint(i int) {
	tr.t.Helper()
	p := tr.spec.Probes[i]
	l, err := link.Tracepoint(p.Target, p.Func, tr.program(i), nil)
	if err != nil {
		tr.t.Fatalf("attach %s: %v", p.Name, err)
	}
	tr.t.Cleanup(func() { l.Close() })
}

// events reads every ring buffer record available now.
func (tr *trace) events() [][]byte {
	tr.t.Helper()
	var out [][]byte
	tr.rd.SetDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		rec, err := tr.rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return out
		}
		if err != nil {
			tr.t.Fatalf("ringbuf read: %v", err)
		}
		out = append(out, append([]byte(nil), rec.RawSample...))
	}
}

// bpfMap returns the kernel map of user map name.
func (tr *trace) bpfMap(name string) (*ebpf.Map, program.Map) {
	tr.t.Helper()
	for _, m := range tr.spec.Maps {
		if m.Name == name {
			return tr.coll.Maps[m.BPFName], m
		}
	}
	tr.t.Fatalf("no map %s", name)
	return nil, program.Map{}
}

// perCPU sums word w (0-based u64 index) of a per-CPU value over all CPUs.
func (tr *trace) perCPU(name string, key []byte, w int) (sum uint64, found bool) {
	tr.t.Helper()
	m, _ := tr.bpfMap(name)
	var vals [][]byte
	if err := m.Lookup(key, &vals); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return 0, false
		}
		tr.t.Fatalf("lookup %s: %v", name, err)
	}
	for _, v := range vals {
		sum += binary.LittleEndian.Uint64(v[8*w:])
	}
	return sum, true
}

// value reads a plain (non-per-CPU) map value.
func (tr *trace) value(name string, key []byte) []byte {
	tr.t.Helper()
	m, _ := tr.bpfMap(name)
	var v []byte
	if err := m.Lookup(key, &v); err != nil {
		tr.t.Fatalf("lookup %s: %v", name, err)
	}
	return v
}

// words encodes u64s as a key.
func words(vs ...uint64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

// str encodes s NUL-padded to size bytes.
func str(s string, size int) []byte {
	b := make([]byte, size)
	copy(b, s)
	return b
}

func u64(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[8*i:]) }

func TestRunBegin(t *testing.T) {
	tr := startTrace(t, `BEGIN {
		printf("%d %s %u %c\n", -5, "abc", 7, 65);
		$x = 6; $x *= 7; $y = $x / 5; $s = "hello";
		@v = $x; @s = $s; @t = ($y, "hi"); @k["a", 2] = $x % 5;
		@cmp = ($s == "hello") + ($s != "help") * 2 + ("hell" == $s) * 4 + (-1 < 0) * 8 + (1 > -1) * 16;
		@shr = -1 >> 60; @div = -10 / 2;
		print(@v);
		clear(@k);
		print(1 + 2);
		exit();
		printf("unreachable\n");
	}`, Options{})
	tr.run(0)

	evs := tr.events()
	if len(evs) != 5 {
		t.Fatalf("got %d events, want 5: %x", len(evs), evs)
	}
	// printf: id 0, then -5 (i64), "abc" padded to 8, 7, 65.
	want := append(append(words(0, uint64(^uint64(4))), str("abc", 8)...), words(7, 65)...)
	if !bytes.Equal(evs[0], want) {
		t.Errorf("printf record\n got %x\nwant %x", evs[0], want)
	}
	if p := tr.spec.Printfs[0]; p.Format != "%d %s %u %c\n" || len(p.Args) != 4 || p.Args[1].Kind != program.String {
		t.Errorf("printf 0 = %+v", p)
	}
	vIndex := mapIndex(t, tr.spec, "@v")
	if got, want := evs[1], words(program.EventPrint, vIndex, 0, 0); !bytes.Equal(got, want) {
		t.Errorf("print event %x, want %x", got, want)
	}
	if got, want := evs[2], words(program.EventClear, mapIndex(t, tr.spec, "@k")); !bytes.Equal(got, want) {
		t.Errorf("clear event %x, want %x", got, want)
	}
	if got, want := evs[3], words(1, 3); !bytes.Equal(got, want) {
		t.Errorf("print(1+2) event %x, want %x", got, want)
	}
	if p := tr.spec.Printfs[1]; p.Format != "%d\n" {
		t.Errorf("print(1+2) format %q", p.Format)
	}
	if got, want := evs[4], words(program.EventExit); !bytes.Equal(got, want) {
		t.Errorf("exit event %x, want %x", got, want)
	}

	tests := []struct {
		name string
		key  []byte
		want []byte
	}{
		{"@v", words(0), words(42)},
		{"@s", words(0), str("hello", 8)},
		{"@t", words(0), append(words(8), str("hi", 8)...)},
		{"@k", append(str("a", 8), words(2)...), words(2)},
		{"@cmp", words(0), words(1 + 2 + 0 + 8 + 16)},
		{"@shr", words(0), words(15)},
		{"@div", words(0), words((uint64(1<<64-10) / 2))},
	}
	for _, tt := range tests {
		if got := tr.value(tt.name, tt.key); !bytes.Equal(got, tt.want) {
			t.Errorf("%s = %x, want %x", tt.name, got, tt.want)
		}
	}
}

func mapIndex(t *testing.T, spec *program.Spec, name string) uint64 {
	for i, m := range spec.Maps {
		if m.Name == name {
			return uint64(i)
		}
	}
	t.Fatalf("no map %s", name)
	return 0
}

// TestRunTracepointAggregations attaches to sys_enter_getppid, scoped to
// this process, calls getppid n times and checks every aggregation. Not
// getpid: the Go runtime calls getpid itself to signal its threads for
// preemption, which would add stray events on a loaded machine.
func TestRunTracepointAggregations(t *testing.T) {
	const n = 100
	tr := startTrace(t, `tracepoint:syscalls:sys_enter_getppid {
		@i++;
		$v = @i;
		@c = count(); @ck[comm, pid] = count();
		@sum = sum($v); @min = min($v); @max = max($v); @avg = avg($v); @st[1] = stats($v);
		@smin = min(-7); @smax = max(-5);
		@h = hist($v); @l = lhist($v, 0, 50, 10);
		@h64 = hist(1 << 40); @h0 = hist(0); @hneg = hist(-1);
		if ($v == 1) { printf("%d %s\n", args.__syscall_nr, comm); }
	}`, Options{Scope: program.Scope{Mode: program.ScopePid, Pid: uint32(os.Getpid())}})
	pid := uint64(os.Getpid())
	tr.attachTracepoint(0)
	for i := 0; i < n; i++ {
		syscall.Getppid()
	}

	comm, err := os.ReadFile("/proc/thread-self/comm")
	if err != nil {
		t.Fatal(err)
	}
	comm = bytes.TrimSpace(comm)
	ck := append(str(string(comm), 16), words(pid)...)
	checks := []struct {
		name string
		key  []byte
		word int
		want uint64
	}{
		{"@c", words(0), 0, n},
		{"@sum", words(0), 0, n * (n + 1) / 2},
		{"@avg", words(0), 0, n},               // count
		{"@avg", words(0), 1, n * (n + 1) / 2}, // total
		{"@st", words(1), 0, n},
		{"@h", words(0, 2), 0, 1},  // [1]
		{"@h", words(0, 3), 0, 2},  // [2, 4)
		{"@h", words(0, 7), 0, 32}, // [32, 64)
		{"@h", words(0, 8), 0, 37}, // [64, 128)
		{"@l", words(0, 1), 0, 9},  // [0, 10): 1..9
		{"@l", words(0, 2), 0, 10}, // [10, 20)
		{"@l", words(0, 6), 0, 51}, // [50, ...)
		{"@h64", words(0, 42), 0, n},
		{"@h0", words(0, 1), 0, n},
		{"@hneg", words(0, 0), 0, n},
	}
	for _, c := range checks {
		got, found := tr.perCPU(c.name, c.key, c.word)
		if !found || got != c.want {
			t.Errorf("%s[%x] word %d = %d (found %v), want %d", c.name, c.key, c.word, got, found, c.want)
		}
	}
	if got, _ := tr.perCPU("@ck", ck, 0); got < n {
		t.Errorf("@ck[%s, pid] = %d, want >= %d", comm, got, n)
	}
	// min/max: {value, isset} on the CPUs that saw events.
	minMax := []struct {
		name string
		want int64
		max  bool
	}{{"@min", 1, false}, {"@max", n, true}, {"@smin", -7, false}, {"@smax", -5, true}}
	for _, c := range minMax {
		m, _ := tr.bpfMap(c.name)
		var vals [][]byte
		if err := m.Lookup(words(0), &vals); err != nil {
			t.Fatalf("lookup %s: %v", c.name, err)
		}
		seen := false
		var best int64
		for _, v := range vals {
			if u64(v, 1) == 0 {
				continue
			}
			x := int64(u64(v, 0))
			if !seen || (c.max && x > best) || (!c.max && x < best) {
				best, seen = x, true
			}
		}
		if !seen || best != c.want {
			t.Errorf("%s = %d (set %v), want %d", c.name, best, seen, c.want)
		}
	}
	evs := tr.events()
	if len(evs) != 1 {
		t.Fatalf("got %d printf events, want 1", len(evs))
	}
	want := append(words(0, syscall.SYS_GETPPID), str(string(comm), 16)...)
	if !bytes.Equal(evs[0], want) {
		t.Errorf("printf record\n got %x\nwant %x", evs[0], want)
	}
}

// TestRunScopeFilters checks that the scope filter drops other processes'
// events: a pid scope naming another process sees nothing.
func TestRunScopeFilters(t *testing.T) {
	tests := []struct {
		name  string
		scope program.Scope
		want  bool
	}{
		{"own pid", program.Scope{Mode: program.ScopePid, Pid: uint32(os.Getpid())}, true},
		{"other pid", program.Scope{Mode: program.ScopePid, Pid: 1}, false},
		{"own cgroup", program.Scope{Mode: program.ScopeCgroup, CgroupID: ownCgroupID(t), CgroupLevel: -1}, true},
		{"other cgroup", program.Scope{Mode: program.ScopeCgroup, CgroupID: 1 << 40, CgroupLevel: -1}, false},
		{"own cgroup root ancestor", program.Scope{Mode: program.ScopeCgroup, CgroupID: rootCgroupID, CgroupLevel: 0}, true},
		{"other ancestor", program.Scope{Mode: program.ScopeCgroup, CgroupID: 1 << 40, CgroupLevel: 0}, false},
		{"own pid namespace", program.Scope{Mode: program.ScopePidNS, PidNamespaces: []program.PidNS{{Dev: 1 << 30, Ino: 1}, ownPidNS(t)}}, true},
		{"other pid namespace", program.Scope{Mode: program.ScopePidNS, PidNamespaces: []program.PidNS{{Dev: ownPidNS(t).Dev, Ino: 1}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := startTrace(t, `tracepoint:syscalls:sys_enter_getppid { @ = count(); }`, Options{Scope: tt.scope})
			tr.attachTracepoint(0)
			for i := 0; i < 10; i++ {
				syscall.Getppid()
			}
			got, _ := tr.perCPU("@", words(0), 0)
			if (got >= 10) != tt.want {
				t.Errorf("count = %d, want events %v", got, tt.want)
			}
		})
	}
}

// rootCgroupID is the id of the cgroup v2 root, every task's level-0
// ancestor.
const rootCgroupID = 1

// ownPidNS identifies this process's pid namespace as stat reports it.
func ownPidNS(t *testing.T) program.PidNS {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		t.Fatal(err)
	}
	return program.PidNS{Dev: st.Dev, Ino: st.Ino}
}

// ownCgroupID is the cgroup id of this process as the helper sees it.
func ownCgroupID(t *testing.T) uint64 {
	t.Helper()
	requireRoot(t)
	tr := startTrace(t, `BEGIN { @id = cgroup; }`, Options{})
	tr.run(0)
	return u64(tr.value("@id", words(0)), 0)
}

// TestRunRawTracepoint attaches to raw_syscalls sys_enter and keys by the
// syscall number (arg1).
func TestRunRawTracepoint(t *testing.T) {
	tr := startTrace(t, `rawtracepoint:sys_enter { @[arg1] = count(); }`,
		Options{Scope: program.Scope{Mode: program.ScopePid, Pid: uint32(os.Getpid())}})
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: tr.program(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 20; i++ {
		syscall.Getppid()
	}
	if got, _ := tr.perCPU("@", words(syscall.SYS_GETPPID), 0); got < 20 {
		t.Errorf("@[getppid] = %d, want >= 20", got)
	}
}

// TestRunStrings checks str() of a user pointer, string keys longer than
// the stack allows (scratch buffer), and elapsed.
func TestRunStrings(t *testing.T) {
	src := `tracepoint:syscalls:sys_enter_openat /str(args.filename) == "/xtrace-test-nonexistent"/ {
		$a = str(args.filename); $b = str(args.filename); $c = str(args.filename); $d = str(args.filename);
		$e = str(args.filename); $f = str(args.filename); $g = str(args.filename);
		@[$a, $g] = count();
		@short[str(args.filename, 4)] = count();
		printf("%s|%s\n", $a, $g);
		@el = elapsed;
	}`
	tr := startTrace(t, src, Options{Scope: program.Scope{Mode: program.ScopePid, Pid: uint32(os.Getpid())}})
	if _, ok := tr.spec.Collection.Maps[ScratchMapName]; !ok {
		t.Errorf("expected the program to need the scratch map")
	}
	// User space writes the start time before anything runs.
	if err := tr.coll.Maps[tr.spec.ElapsedMap].Put(uint32(0), uint64(1)); err != nil {
		t.Fatal(err)
	}
	tr.attachTracepoint(0)
	os.Open("/xtrace-test-nonexistent")
	os.Open("/xtrace-test-other")

	name := "/xtrace-test-nonexistent"
	if got, _ := tr.perCPU("@", append(str(name, 64), str(name, 64)...), 0); got != 1 {
		t.Errorf("@[name, name] = %d, want 1", got)
	}
	if got, _ := tr.perCPU("@short", str("/xtr", 64), 0); got != 1 {
		t.Errorf("@short[/xtr] = %d, want 1", got)
	}
	evs := tr.events()
	if len(evs) != 1 || !bytes.Equal(evs[0], append(append(words(0), str(name, 64)...), str(name, 64)...)) {
		t.Errorf("printf events %q", evs)
	}
	if el := u64(tr.value("@el", words(0)), 0); el < 1e6 {
		t.Errorf("elapsed = %d, want a time since boot minus 1", el)
	}
}

// TestRunProfile attaches a perf_event program (as profile:hz:N does) to a
// CPU clock event of this thread and checks that kernel and user stacks and
// counts arrive.
func TestRunProfile(t *testing.T) {
	tr := startTrace(t, `profile:hz:1000 { @[kstack] = count(); @u[ustack] = count(); @n = count(); }`, Options{})
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_CPU_CLOCK,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Sample: 1_000_000, // a sample per millisecond of CPU time
	}
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		t.Fatalf("perf_event_open: %v", err)
	}
	defer unix.Close(fd)
	l, err := link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: tr.program(0), Attach: ebpf.AttachPerfEvent})
	if err != nil {
		t.Fatalf("attach perf event: %v", err)
	}
	defer l.Close()
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
	}
	n, _ := tr.perCPU("@n", words(0), 0)
	if n < 20 {
		t.Fatalf("@n = %d samples in 100ms of CPU, want >= 20", n)
	}
	// Every user stack key carries this process's pid.
	m, _ := tr.bpfMap("@u")
	var key []byte
	var vals [][]byte
	iter := m.Iterate()
	keys := 0
	for iter.Next(&key, &vals) {
		keys++
		if pid := u64(key, 1); pid != uint64(os.Getpid()) {
			t.Errorf("ustack key pid %d, want %d", pid, os.Getpid())
		}
	}
	if err := iter.Err(); err != nil || keys == 0 {
		t.Errorf("@u: %d keys, err %v", keys, err)
	}
	stacks := tr.coll.Maps[tr.spec.UStackMap]
	var frames [stackDepth]uint64
	if err := stacks.Lookup(uint32(u64(key, 0)), &frames); err != nil || frames[0] == 0 {
		t.Errorf("user stack %d: %v, first frame %#x", u64(key, 0), err, frames[0])
	}
}

// TestRunUprobe attaches to libc's getenv, which ls calls for QUOTING_STYLE,
// LS_COLORS and friends, and reads the variable names with str(arg0), a
// user pointer.
func TestRunUprobe(t *testing.T) {
	libc := "/lib/x86_64-linux-gnu/libc.so.6"
	if runtime.GOARCH == "arm64" {
		libc = "/lib/aarch64-linux-gnu/libc.so.6"
	}
	if _, err := os.Stat(libc); err != nil {
		t.Skipf("no glibc at %s: %v", libc, err)
	}
	tr := startTrace(t, `uprobe:`+libc+`:getenv /comm == "ls"/ { @[str(arg0)] = count(); }
uretprobe:`+libc+`:getenv /comm == "ls"/ { @ret = count(); @f[func] = count(); }`, Options{})
	exe, err := link.OpenExecutable(libc)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range tr.spec.Probes {
		attach := exe.Uprobe
		if p.Kind == ast.Uretprobe {
			attach = exe.Uretprobe
		}
		l, err := attach(p.Func, tr.program(i), nil)
		if err != nil {
			t.Fatalf("attach %s: %v", p.Name, err)
		}
		defer l.Close()
	}
	for i := 0; i < 3; i++ {
		if err := exec.Command("/bin/ls", "/").Run(); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := tr.bpfMap("@")
	var key, names []byte
	var vals [][]byte
	iter := m.Iterate()
	for iter.Next(&key, &vals) {
		names = append(append(names, bytes.TrimRight(key, "\x00")...), ' ')
	}
	if len(names) == 0 {
		t.Fatalf("no getenv calls seen (err %v)", iter.Err())
	}
	if !bytes.Contains(names, []byte("QUOTING_STYLE ")) {
		t.Errorf("getenv names %q, want QUOTING_STYLE among them", names)
	}
	if n, _ := tr.perCPU("@ret", words(0), 0); n == 0 {
		t.Errorf("@ret = 0, want the uretprobe to fire")
	}
}

// TestRunIntegerSemantics evaluates integer expressions in a BEGIN program
// and compares them with bpftrace 0.17's semantics: 64-bit wrap-around,
// unsigned / and %, logical >>, signed comparison only when both operands
// are signed, short-circuit && and ||, x/0 = 0 and x%0 = x.
func TestRunIntegerSemantics(t *testing.T) {
	tests := []struct {
		expr string
		want uint64
	}{
		{"7 + -3", 4},
		{"7 - 10", 1<<64 - 3},
		{"6 * 7", 42},
		{"-10 / 2", (1<<64 - 10) / 2},
		{"-7 % 4", (1<<64 - 7) % 4},
		{"7 % 4", 3},
		{"6 & 3", 2},
		{"6 | 3", 7},
		{"6 ^ 3", 5},
		{"1 << 40", 1 << 40},
		{"-1 >> 60", 15},
		{"~0", 1<<64 - 1},
		{"!5", 0},
		{"!0", 1},
		{"-(3)", 1<<64 - 3},
		{"(1 - 2) < 0", 1},
		{"nsecs > -1", 0},
		{"3 <= 3", 1},
		{"3 >= 4", 0},
		{"3 == 3", 1},
		{"3 != 3", 0},
		{"0 && 1 / 0", 0},
		{"1 || 0", 1},
		{"2 && 3", 1},
		{"0 || 0", 0},
		{"1 ? 10 : 20", 10},
		{"0 ? 10 : 20", 20},
		{"5 / 0", 0},
		{"5 % 0", 5},
		{"0x10 + 8", 24},
		{"0xffffffffffffffff", 1<<64 - 1},
		{"\"ab\" == \"ab\"", 1},
		{"\"ab\" != \"abc\"", 1},
	}
	var src strings.Builder
	src.WriteString("BEGIN { $x = 5; @p = $x++; @q = ++$x; @r = $x; @m[1] = 2; @m[1] *= 21; @m[1]--;\n")
	// A map without keys holds a single element, overwritten in place.
	src.WriteString("@o = 1; @o = 2; @o += 3; @o++; delete(@o); @o = 7; @o++;\n")
	for i, tt := range tests {
		fmt.Fprintf(&src, "@e%d = %s;\n", i, tt.expr)
	}
	src.WriteString("}")
	tr := startTrace(t, src.String(), Options{})
	tr.run(0)
	for i, tt := range tests {
		if got := u64(tr.value(fmt.Sprintf("@e%d", i), words(0)), 0); got != tt.want {
			t.Errorf("%s = %d (%#x), want %d (%#x)", tt.expr, got, got, tt.want, tt.want)
		}
	}
	for name, want := range map[string]uint64{"@p": 5, "@q": 7, "@r": 7, "@o": 8} {
		if got := u64(tr.value(name, words(0)), 0); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if got := u64(tr.value("@m", words(1)), 0); got != 41 {
		t.Errorf("@m[1] = %d, want 41", got)
	}
}

// TestRunTracepointFields reads fields of every shape: char arrays at an
// offset that is not 8-aligned (task_rename oldcomm at 12), 4-byte signed
// integers, and __data_loc strings read with str().
func TestRunTracepointFields(t *testing.T) {
	tr := startTrace(t, `tracepoint:task:task_rename { @[args.oldcomm, args.newcomm, args.pid] = count(); }
tracepoint:sched:sched_process_exec /args.pid == args.old_pid/ { @exec[str(args.filename)] = count(); }`,
		Options{Scope: program.Scope{Mode: program.ScopePid, Pid: uint32(os.Getpid())}})
	tr.attachTracepoint(0)
	tr.attachTracepoint(1)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := os.ReadFile("/proc/thread-self/comm")
	if err != nil {
		t.Fatal(err)
	}
	old = bytes.TrimSpace(old)
	tid := uint64(unix.Gettid())
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte("xtrace-rename\x00")[0])), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&append(old, 0)[0])), 0, 0, 0)

	key := append(append(str(string(old), 16), str("xtrace-rename", 16)...), words(tid)...)
	if got, _ := tr.perCPU("@", key, 0); got != 1 {
		t.Errorf("@[%s, xtrace-rename, %d] = %d, want 1", old, tid, got)
	}
	// exec happens in a child, outside the pid scope: nothing is counted.
	if err := exec.Command("/bin/true").Run(); err != nil {
		t.Fatal(err)
	}
	if got, found := tr.perCPU("@exec", str("/bin/true", 64), 0); found {
		t.Errorf("@exec[/bin/true] = %d for a child outside the scope", got)
	}
}

// TestRunDataLoc reads a __data_loc string of an exec in a child process.
func TestRunDataLoc(t *testing.T) {
	tr := startTrace(t, `tracepoint:sched:sched_process_exec /comm == "true"/ { @[str(args.filename)] = count(); @pid = args.pid; }`, Options{})
	tr.attachTracepoint(0)
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if got, _ := tr.perCPU("@", str("/bin/true", 64), 0); got < 1 {
		t.Errorf("@[/bin/true] = %d, want >= 1", got)
	}
	if got := u64(tr.value("@pid", words(0)), 0); got == 0 {
		t.Errorf("@pid = 0, want the pid of an exec of true")
	}
}

// TestRunKprobe attaches kprobe and kretprobe programs to vfs_read and checks
// arg2 (the byte count), retval and func. Kernels built without kprobes (the
// development VM) skip it; test/kernels runs it in a guest that has them.
func TestRunKprobe(t *testing.T) {
	const count = 12345
	tr := startTraceEnv(t, fakeTestEnv(runtime.GOARCH), fmt.Sprintf(`kprobe:vfs_read /arg2 == %d/ { @calls = count(); @f = func; }
kretprobe:vfs_read /retval == %d/ { @ret = count(); @rf = func; }`, count, count),
		Options{Scope: program.Scope{Mode: program.ScopePid, Pid: uint32(os.Getpid())}})
	for i, p := range tr.spec.Probes {
		attach := link.Kprobe
		if p.Kind == ast.Kretprobe {
			attach = link.Kretprobe
		}
		l, err := attach(p.Func, tr.program(i), nil)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, ebpf.ErrNotSupported) {
			t.Skipf("this kernel cannot attach kprobes: %v", err)
		}
		if err != nil {
			t.Fatalf("attach %s: %v", p.Name, err)
		}
		defer l.Close()
	}
	zero, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer zero.Close()
	buf := make([]byte, count)
	for i := 0; i < 5; i++ {
		if _, err := zero.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"@calls", "@ret"} {
		if got, _ := tr.perCPU(name, words(0), 0); got != 5 {
			t.Errorf("%s = %d, want 5", name, got)
		}
	}
	addr := kernelSymbol(t, "vfs_read")
	for _, name := range []string{"@f", "@rf"} {
		if got := u64(tr.value(name, words(0)), 0); addr != 0 && (got < addr || got >= addr+64) {
			t.Errorf("%s = %#x, want vfs_read at %#x (+ at most the breakpoint's size)", name, got, addr)
		}
	}
}

// kernelSymbol returns the address of a kernel function from kallsyms, or 0
// when addresses are hidden.
func kernelSymbol(t *testing.T, name string) uint64 {
	t.Helper()
	data, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[2] == name {
			var addr uint64
			fmt.Sscanf(f[0], "%x", &addr)
			return addr
		}
	}
	t.Fatalf("no symbol %s in kallsyms", name)
	return 0
}

// TestRunIntervalIgnoresScope checks which timer probes the scope filter
// applies to: profile samples only the target's tasks, while interval,
// which fires in whatever task happens to run, is not filtered, or a scoped
// trace would lose its ticks. Both programs run on CPU clock events of this
// thread, under a scope naming another process.
func TestRunIntervalIgnoresScope(t *testing.T) {
	tr := startTrace(t, `interval:ms:1 { @interval = count(); } profile:hz:1000 { @profile = count(); }`,
		Options{Scope: program.Scope{Mode: program.ScopePid, Pid: 1}})
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := range tr.spec.Probes {
		attr := unix.PerfEventAttr{
			Type:   unix.PERF_TYPE_SOFTWARE,
			Config: unix.PERF_COUNT_SW_CPU_CLOCK,
			Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
			Sample: 1_000_000,
		}
		fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			t.Fatalf("perf_event_open: %v", err)
		}
		defer unix.Close(fd)
		l, err := link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: tr.program(i), Attach: ebpf.AttachPerfEvent})
		if err != nil {
			t.Fatalf("attach perf event: %v", err)
		}
		defer l.Close()
	}
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
	}
	if n, _ := tr.perCPU("@interval", words(0), 0); n < 20 {
		t.Errorf("@interval = %d ticks in 100ms of CPU, want >= 20: interval must not be scoped", n)
	}
	if n, _ := tr.perCPU("@profile", words(0), 0); n != 0 {
		t.Errorf("@profile = %d samples of a task outside the scope, want 0", n)
	}
}
