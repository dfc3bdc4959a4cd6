package attach

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// requireRoot guards the tests that load and attach programs on the real
// kernel.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("attaching eBPF programs needs root")
	}
	// Without CAP_SYS_RESOURCE the memlock limit cannot be raised; kernels
	// since 5.11 account BPF memory to the cgroup and do not need it.
	_ = rlimit.RemoveMemlock()
}

// counter loads a program of type typ that adds 1 to counts[0] each time
// it runs, and returns it with a function reading the count.
func counter(t *testing.T, typ ebpf.ProgramType) (*ebpf.Program, func() uint64) {
	t.Helper()
	counts, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { counts.Close() })
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    typ,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.LoadMapPtr(asm.R1, counts.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatalf("loading a %s program: %v", typ, err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog, func() uint64 {
		var n uint64
		if err := counts.Lookup(uint32(0), &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

func attachOK(t *testing.T, p program.Probe, prog *ebpf.Program, opts Options) {
	t.Helper()
	c, err := Probe(p, prog, opts)
	if err != nil {
		t.Fatalf("Probe(%s): %v", p.Name, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("detaching %s: %v", p.Name, err)
		}
	})
}

func TestTracepoint(t *testing.T) {
	requireRoot(t)
	prog, count := counter(t, ebpf.TracePoint)
	attachOK(t, program.Probe{Kind: ast.Tracepoint, Name: "tracepoint:syscalls:sys_enter_getppid",
		Target: "syscalls", Func: "sys_enter_getppid"}, prog, Options{})
	for range 100 {
		syscall.Getppid()
	}
	if n := count(); n < 100 {
		t.Errorf("program ran %d times for 100 getppid calls", n)
	}
}

func TestRawTracepoint(t *testing.T) {
	requireRoot(t)
	prog, count := counter(t, ebpf.RawTracepoint)
	attachOK(t, program.Probe{Kind: ast.RawTracepoint, Name: "rawtracepoint:sys_enter", Func: "sys_enter"}, prog, Options{})
	for range 100 {
		syscall.Getppid()
	}
	if n := count(); n < 100 {
		t.Errorf("program ran %d times for 100 syscalls", n)
	}
}

func TestAttachErrors(t *testing.T) {
	requireRoot(t)
	tp, _ := counter(t, ebpf.TracePoint)
	raw, _ := counter(t, ebpf.RawTracepoint)
	kp, _ := counter(t, ebpf.Kprobe)
	tests := []struct {
		name    string
		probe   program.Probe
		prog    *ebpf.Program
		wantErr error
		prefix  string
	}{
		{"missing tracepoint", program.Probe{Kind: ast.Tracepoint, Name: "tracepoint:foo:bar", Target: "foo", Func: "bar"},
			tp, program.ErrNotFound, "attaching tracepoint:foo:bar: tracepoint does not exist"},
		{"tracepoint escaping tracefs", program.Probe{Kind: ast.Tracepoint, Target: "..", Func: "x"},
			tp, program.ErrNotFound, "attaching tracepoint:..:x: "},
		{"missing raw tracepoint", program.Probe{Kind: ast.RawTracepoint, Name: "rawtracepoint:nope_nope", Func: "nope_nope"},
			raw, program.ErrNotFound, "attaching rawtracepoint:nope_nope: raw tracepoint does not exist"},
		{"missing binary", program.Probe{Kind: ast.Uprobe, Name: "uprobe:/no/such/bin:f", Target: "/no/such/bin", Func: "f"},
			kp, program.ErrNotFound, "attaching uprobe:/no/such/bin:f: binary /no/such/bin does not exist"},
		{"missing library", program.Probe{Kind: ast.Uprobe, Name: "uprobe:libnosuch:f", Target: "libnosuch", Func: "f"},
			kp, program.ErrNotFound, "attaching uprobe:libnosuch:f: library \"libnosuch\" not found"},
		{"BEGIN", program.Probe{Kind: ast.Begin, Name: "BEGIN"}, raw, ErrNotAttachable, "attaching BEGIN: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Probe(tc.probe, tc.prog, Options{})
			if err == nil {
				c.Close()
				t.Fatal("attached")
			}
			if !errors.Is(err, tc.wantErr) || !strings.HasPrefix(err.Error(), tc.prefix) {
				t.Errorf("err = %q, want prefix %q wrapping %v", err, tc.prefix, tc.wantErr)
			}
		})
	}
}

// TestKprobe checks the message on kernels without kprobes (like the test
// machine) and attaching where they exist.
func TestKprobe(t *testing.T) {
	requireRoot(t)
	prog, _ := counter(t, ebpf.Kprobe)
	for _, kind := range []ast.ProbeKind{ast.Kprobe, ast.Kretprobe} {
		p := program.Probe{Kind: kind, Name: kind.String() + ":do_sys_openat2", Func: "do_sys_openat2"}
		c, err := Probe(p, prog, Options{})
		if kprobesAvailable() == nil {
			if err != nil {
				t.Errorf("kprobes are available but Probe(%s): %v", p.Name, err)
			} else {
				c.Close()
			}
			continue
		}
		if err == nil {
			c.Close()
			t.Fatalf("Probe(%s) attached although kprobes are unavailable", p.Name)
		}
		want := "attaching " + p.Name + ": kprobes are not available on this kernel (CONFIG_KPROBES/kprobe_events missing): use a tracepoint"
		if !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ErrUnsupported) || !errors.Is(err, ebpf.ErrNotSupported) {
			t.Errorf("err = %q, want prefix %q wrapping ErrUnsupported", err, want)
		}
	}
}

// buildTarget builds testdata/uprobetarget into dir.
func buildTarget(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "uprobetarget")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/uprobetarget").CombinedOutput(); err != nil {
		t.Fatalf("building the uprobe target: %v\n%s", err, out)
	}
	return bin
}

// buildCTarget compiles testdata/ctarget with the system C compiler.
func buildCTarget(dir string) (string, error) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		return "", fmt.Errorf("no C compiler to build a return-probe target: %w", err)
	}
	bin := filepath.Join(dir, "ctarget")
	if out, err := exec.Command(cc, "-O1", "-o", bin, "testdata/ctarget/ctarget.c").CombinedOutput(); err != nil {
		return "", fmt.Errorf("cc: %v: %s", err, out)
	}
	return bin, nil
}

func TestUprobe(t *testing.T) {
	requireRoot(t)
	tmp := t.TempDir()
	bin := buildTarget(t, tmp)

	// A container-like root: the binary at /bin/target and an absolute
	// symlink /usr/bin/target -> /bin/target that only makes sense inside it.
	root := filepath.Join(tmp, "root")
	for _, d := range []string{"bin", "usr/bin", "usr/lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	inRoot := filepath.Join(root, "bin", "target")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inRoot, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/bin/target", filepath.Join(root, "usr/bin/target")); err != nil {
		t.Fatal(err)
	}
	// A library found by its bare name.
	if err := os.WriteFile(filepath.Join(root, "usr/lib/libtarget.so.1"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	runCopy := filepath.Join(root, "usr/lib/libtarget.so.1")

	const goSym = "main.uprobeTarget"
	type uprobeCase struct {
		name   string
		kind   ast.ProbeKind
		target string
		sym    string
		opts   Options
		run    string // the file to execute; the probe must see its calls
	}
	tests := []uprobeCase{
		{"host path", ast.Uprobe, bin, goSym, Options{}, bin},
		{"container root symlink", ast.Uprobe, "/usr/bin/target", goSym, Options{Root: root}, inRoot},
		{"library name", ast.Uprobe, "libtarget", goSym, Options{Root: root}, runCopy},
	}
	if cbin, err := buildCTarget(tmp); err == nil {
		tests = append(tests,
			uprobeCase{"C entry", ast.Uprobe, cbin, "ctarget", Options{}, cbin},
			uprobeCase{"C return", ast.Uretprobe, cbin, "ctarget", Options{}, cbin})
	} else {
		t.Logf("uretprobe not tested: %v", err)
	}
	const calls = 50
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prog, count := counter(t, ebpf.Kprobe)
			p := program.Probe{Kind: tc.kind, Name: tc.kind.String() + ":" + tc.target + ":" + tc.sym,
				Target: tc.target, Func: tc.sym}
			c, err := Probe(p, prog, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if out, err := exec.Command(tc.run, "50").CombinedOutput(); err != nil {
				t.Fatalf("running the target: %v\n%s", err, out)
			}
			if n := count(); n != calls {
				t.Errorf("probe fired %d times for %d calls", n, calls)
			}
		})
	}

	t.Run("uretprobe on Go refused", func(t *testing.T) {
		prog, _ := counter(t, ebpf.Kprobe)
		_, err := Probe(program.Probe{Kind: ast.Uretprobe, Name: "uretprobe", Target: bin, Func: goSym}, prog, Options{})
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "is a Go program") {
			t.Errorf("err = %v, want a refusal wrapping ErrUnsupported", err)
		}
	})
	t.Run("missing symbol", func(t *testing.T) {
		prog, _ := counter(t, ebpf.Kprobe)
		_, err := Probe(program.Probe{Kind: ast.Uprobe, Name: "uprobe:x:nosuch", Target: bin, Func: "nosuch"}, prog, Options{})
		if !errors.Is(err, program.ErrNotFound) || !strings.Contains(err.Error(), `symbol "nosuch" not found`) {
			t.Errorf("err = %v, want a symbol-not-found error wrapping ErrNotFound", err)
		}
	})
	t.Run("path outside the root is not the host's", func(t *testing.T) {
		prog, _ := counter(t, ebpf.Kprobe)
		// bin exists on the host but not inside root.
		_, err := Probe(program.Probe{Kind: ast.Uprobe, Name: "uprobe", Target: bin, Func: "main.uprobeTarget"}, prog, Options{Root: root})
		if !errors.Is(err, program.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
}

// TestProfile checks that profile:hz:99 samples every online CPU, idle or
// not, by counting samples per CPU.
func TestProfile(t *testing.T) {
	requireRoot(t)
	cpus, err := onlineCPUs()
	if err != nil {
		t.Fatal(err)
	}
	perCPU, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: uint32(cpus[len(cpus)-1] + 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer perCPU.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.PerfEvent,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.FnGetSmpProcessorId.Call(),
			asm.StoreMem(asm.RFP, -4, asm.R0, asm.Word),
			asm.LoadMapPtr(asm.R1, perCPU.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	attachOK(t, program.Probe{Kind: ast.Profile, Name: "profile:hz:99", Unit: "hz", Rate: 99}, prog, Options{})
	missing := func() []int {
		var out []int
		for _, cpu := range cpus {
			var n uint64
			if err := perCPU.Lookup(uint32(cpu), &n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				out = append(out, cpu)
			}
		}
		return out
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if m := missing(); len(m) > 0 {
		t.Errorf("profile:hz:99 never fired on CPUs %v in 3s", m)
	}
}

func TestInterval(t *testing.T) {
	requireRoot(t)
	t.Run("link", testInterval)
	t.Run("ioctl fallback", func(t *testing.T) {
		saved := attachRawLink
		defer func() { attachRawLink = saved }()
		attachRawLink = func(link.RawLinkOptions) (io.Closer, error) { return nil, ebpf.ErrNotSupported }
		testInterval(t)
	})
}

func testInterval(t *testing.T) {
	prog, count := counter(t, ebpf.PerfEvent)
	c, err := Probe(program.Probe{Kind: ast.Interval, Name: "interval:ms:10", Unit: "ms", Rate: 10}, prog, Options{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// About 50 on one CPU; all CPUs would give a multiple of that.
	n := count()
	if n < 10 || n > 75 {
		t.Errorf("interval:ms:10 fired %d times in 500ms, want about 50", n)
	}
	time.Sleep(50 * time.Millisecond)
	if after := count(); after != n {
		t.Errorf("still firing after Close: %d -> %d", n, after)
	}
}

func TestHostEnv(t *testing.T) {
	requireRoot(t)
	env, err := NewHostEnv()
	if err != nil {
		t.Fatal(err)
	}
	tf, err := env.Tracepoint("syscalls", "sys_enter_openat")
	if err != nil {
		t.Fatal(err)
	}
	var filename *program.TracepointField
	for i := range tf.Fields {
		if tf.Fields[i].Name == "filename" {
			filename = &tf.Fields[i]
		}
	}
	if tf.ID == 0 || filename == nil || !filename.Pointer || filename.Size != 8 {
		t.Errorf("sys_enter_openat format = %+v, want an ID and a pointer field filename", tf)
	}
	if _, err := env.Tracepoint("syscalls", "sys_enter_nosuch"); !errors.Is(err, program.ErrNotFound) {
		t.Errorf("missing tracepoint: err = %v, want ErrNotFound", err)
	}

	tps, err := env.MatchTracepoints("sys*", "sys_enter_open*")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for i, tp := range tps {
		if tp[0] != "syscalls" || !strings.HasPrefix(tp[1], "sys_enter_open") {
			t.Errorf("match %v does not fit the pattern", tp)
		}
		if tp == [2]string{"syscalls", "sys_enter_openat"} {
			found = true
		}
		if i > 0 && tps[i-1][1] >= tp[1] {
			t.Errorf("matches not sorted: %v before %v", tps[i-1], tp)
		}
	}
	if !found {
		t.Errorf("sys_enter_open* matched %v, without sys_enter_openat", tps)
	}
	if _, err := env.MatchTracepoints("syscalls", "nothing_*_like_this"); !errors.Is(err, program.ErrNotFound) {
		t.Errorf("no match: err = %v, want ErrNotFound", err)
	}

	funcs, err := env.MatchKernelFuncs("vfs_rea?")
	if err != nil {
		t.Fatal(err)
	}
	if len(funcs) == 0 || funcs[0] != "vfs_read" {
		t.Errorf("vfs_rea? matched %v, want vfs_read first", funcs)
	}
	if env.Arch() == "" {
		t.Error("Arch is empty")
	}
}
