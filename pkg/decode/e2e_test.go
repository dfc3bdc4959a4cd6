package decode

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/attach"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/codegen"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

var runBpftrace = flag.Bool("bpftrace", false, "check testdata/*.golden against a local bpftrace (needs root)")

// beginOnly is the Env of programs that use only BEGIN: they need no
// tracepoint or kernel function.
type beginOnly struct{}

func (beginOnly) Tracepoint(c, n string) (*program.TracepointFormat, error) {
	return nil, program.ErrNotFound
}
func (beginOnly) MatchTracepoints(c, n string) ([][2]string, error) { return nil, program.ErrNotFound }
func (beginOnly) MatchKernelFuncs(p string) ([]string, error)       { return nil, program.ErrNotFound }
func (beginOnly) Arch() string                                      { return "amd64" }

// The testdata scripts run only BEGIN, so their output is deterministic;
// the golden files are bpftrace 0.17's stdout for them, without its
// "Attaching 1 probe..." line.
var e2eScripts = []string{"maps", "print"}

// TestEndToEnd compiles each script with our compiler, runs its BEGIN
// program in the kernel, decodes the events and maps as the runner does, and
// renders them: the text must be bpftrace's, byte for byte.
func TestEndToEnd(t *testing.T) {
	requireBPF(t)
	for _, name := range e2eScripts {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", name+".bt"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			if got := runBegin(t, name+".bt", string(src)); got != string(want) {
				t.Errorf("output differs from bpftrace's\n--- got\n%s\n--- want\n%s", got, want)
			}
		})
	}
}

func runBegin(t *testing.T, name, src string) string {
	t.Helper()
	spec, err := lang.Compile(name, src, beginOnly{}, codegen.Options{})
	if err != nil {
		t.Fatalf("compiling: %v", err)
	}
	coll, err := ebpf.NewCollection(spec.Collection)
	if err != nil {
		t.Fatalf("loading: %v", err)
	}
	defer coll.Close()
	rd, err := ringbuf.NewReader(coll.Maps[spec.OutputMap])
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	d, err := NewDecoder(spec, coll)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range spec.Probes {
		if p.Kind == ast.Begin {
			if _, err := coll.Programs[p.Program].Run(&ebpf.RunOptions{}); err != nil {
				t.Fatalf("running BEGIN: %v", err)
			}
		}
	}

	var out strings.Builder
	r := record.NewTextRenderer(&out, &out)
	render := func(rec *record.Record) {
		if err := r.Render(rec); err != nil {
			t.Fatal(err)
		}
	}
	rd.SetDeadline(time.Now().Add(100 * time.Millisecond))
	for exited := false; !exited; {
		raw, err := rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("BEGIN did not call exit()")
		}
		if err != nil {
			t.Fatal(err)
		}
		ev, err := d.Event(raw.RawSample)
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case EventPrintf:
			render(&record.Record{Type: record.TypePrintf, Text: ev.Text})
		case EventPrint:
			m, err := d.Map(ev.Map, ev.Top, ev.Div)
			if err != nil {
				t.Fatal(err)
			}
			render(&record.Record{Type: record.TypeMap, Map: m})
		case EventClear, EventZero:
			ms := spec.Maps[ev.Map]
			op := ClearMap
			if ev.Kind == EventZero {
				op = ZeroMap
			}
			if err := op(coll.Maps[ms.BPFName], ms); err != nil {
				t.Fatal(err)
			}
		case EventExit:
			exited = true
		}
	}
	render(&record.Record{Type: record.TypeExit})
	for i := range spec.Maps {
		m, err := d.Map(i, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		render(&record.Record{Type: record.TypeMap, Map: m})
	}
	return out.String()
}

// TestGoldenIsBpftraceOutput re-runs the scripts under a real bpftrace 0.17
// to prove the golden files are its output.
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
	for _, name := range e2eScripts {
		t.Run(name, func(t *testing.T) {
			// bpftrace exits by itself (the programs call exit()); the
			// timeout turns a hang into a failure.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, filepath.Join("testdata", name+".bt")).Output()
			if err != nil {
				t.Fatalf("bpftrace: %v", err)
			}
			_, got, _ := strings.Cut(string(out), "\n") // drop "Attaching N probes..."
			want, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("bpftrace output differs from the golden file\n--- bpftrace\n%s\n--- golden\n%s", got, want)
			}
		})
	}
}

// TestEndToEndTracepoint compiles a tracepoint program against this host,
// attaches it, makes the syscalls it counts, and checks the decoded maps,
// kernel stacks symbolised through /proc/kallsyms included.
func TestEndToEndTracepoint(t *testing.T) {
	requireBPF(t)
	env, err := attach.NewHostEnv()
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`tracepoint:syscalls:sys_enter_getppid /pid == %d/ {
	@c[probe, comm] = count(); @s[kstack] = count(); @n = args->__syscall_nr; }`, os.Getpid())
	spec, coll := compileAndAttach(t, "tp.bt", src, env)
	for range 10 {
		syscall.Getppid()
	}
	d, err := NewDecoder(spec, coll)
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for i := range spec.Maps {
		m, err := d.Map(i, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		text = append(text, record.FormatMap(m))
	}
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("@c[tracepoint:syscalls:sys_enter_getppid, %s]: 10\n", strings.TrimSpace(string(comm))); text[0] != want {
		t.Errorf("@c printed %q, want %q", text[0], want)
	}
	if want := fmt.Sprintf("@n: %d\n", syscall.SYS_GETPPID); text[1] != want {
		t.Errorf("@n printed %q, want %q", text[1], want)
	}
	// "@s[\n    sym+off\n    ...\n]: 10\n" with named frames.
	lines := strings.Split(text[2], "\n")
	if len(lines) < 4 || lines[0] != "@s[" || lines[len(lines)-2] != "]: 10" {
		t.Fatalf("@s printed %q, want one stack seen 10 times", text[2])
	}
	for _, f := range lines[1 : len(lines)-2] {
		name, off, ok := strings.Cut(strings.TrimPrefix(f, "    "), "+")
		if !strings.HasPrefix(f, "    ") || !ok || name == "" || strings.HasPrefix(name, "0x") || off == "" {
			t.Errorf("stack frame %q is not an indented sym+offset", f)
		}
	}
}

// TestEndToEndUprobe checks user stacks and usym: a uprobe on a test
// program's function, symbolised from that live process's ELF.
func TestEndToEndUprobe(t *testing.T) {
	requireBPF(t)
	bin := filepath.Join(t.TempDir(), "ustacktarget")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/ustacktarget").CombinedOutput(); err != nil {
		t.Fatalf("building the target: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()

	src := fmt.Sprintf(`uprobe:%s:main.work { @[ustack] = count(); @f = func; }`, bin)
	spec, coll := compileAndAttach(t, "u.bt", src, beginOnly{})
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := stdout.Read(buf); err != nil || string(buf) != "done\n" {
		t.Fatalf("target said %q, %v", buf, err)
	}
	d, err := NewDecoder(spec, coll)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for i := range spec.Maps {
		m, err := d.Map(i, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		got += record.FormatMap(m)
	}
	// bpftrace 0.17 prints the same frames for this program: on entry to
	// main.work its caller's frame is not linked yet, so the frame-pointer
	// walk goes from main.work straight to runtime.main.
	const want = "@[\n    main.work+0\n    runtime.main+"
	if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "]: 3\n@f: main.work\n") {
		t.Errorf("got\n%s\nwant it to start with %q and end with the count and @f: main.work", got, want)
	}
}

// compileAndAttach compiles src for env, loads it and attaches every probe,
// as the runner does; everything is released when the test ends.
func compileAndAttach(t *testing.T, name, src string, env program.Env) (*program.Spec, *ebpf.Collection) {
	t.Helper()
	spec, err := lang.Compile(name, src, env, codegen.Options{})
	if err != nil {
		t.Fatalf("compiling: %v", err)
	}
	coll, err := ebpf.NewCollection(spec.Collection)
	if err != nil {
		t.Fatalf("loading: %v", err)
	}
	t.Cleanup(coll.Close)
	for _, p := range spec.Probes {
		l, err := attach.Probe(p, coll.Programs[p.Program], attach.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}
	return spec, coll
}
