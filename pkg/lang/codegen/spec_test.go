package codegen

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/check"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/diag"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/parser"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// testFormats are tracepoint layouts for the fake environment.
func fakeTestEnv(arch string) *fakeEnv {
	common := []program.TracepointField{
		{Name: "common_type", CType: "unsigned short", Offset: 0, Size: 2},
		{Name: "common_pid", CType: "int", Offset: 4, Size: 4, Signed: true},
	}
	withCommon := func(fields ...program.TracepointField) []program.TracepointField {
		return append(append([]program.TracepointField(nil), common...), fields...)
	}
	return &fakeEnv{
		arch: arch,
		formats: map[string]*program.TracepointFormat{
			"syscalls:sys_enter_openat": {Category: "syscalls", Name: "sys_enter_openat", Fields: withCommon(
				program.TracepointField{Name: "filename", CType: "const char *", Offset: 24, Size: 8, Pointer: true},
				program.TracepointField{Name: "flags", CType: "int", Offset: 32, Size: 8})},
			"syscalls:sys_enter_open": {Category: "syscalls", Name: "sys_enter_open", Fields: withCommon(
				program.TracepointField{Name: "filename", CType: "const char *", Offset: 16, Size: 8, Pointer: true})},
			"sched:sched_switch": {Category: "sched", Name: "sched_switch", Fields: withCommon(
				program.TracepointField{Name: "prev_comm", CType: "char", Offset: 8, Size: 16, Array: 16},
				program.TracepointField{Name: "prev_pid", CType: "pid_t", Offset: 24, Size: 4, Signed: true})},
		},
		funcs: []string{"vfs_read", "vfs_readv", "vfs_write"},
	}
}

func compileFake(t *testing.T, env program.Env, src string, opts Options) (*program.Spec, error) {
	t.Helper()
	prog, err := parser.ParseFile("t.bt", src)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	info, err := check.Check(prog)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return Compile(prog, info, env, opts)
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{`tracepoint:nope:nope { }`, "1:1: tracepoint nope:nope does not exist on this kernel"},
		{`BEGIN { } tracepoint:zz*:x* { }`, "1:11: tracepoint:zz*:x* matches no tracepoint"},
		{`kprobe:zzz* { }`, "1:1: kprobe:zzz* matches no kernel function"},
		{`uprobe:/bin/*:main { }`, "1:1: uprobe does not support wildcards; name the binary and symbol exactly"},
		{`tracepoint:syscalls:sys_enter_openat { @ = args.nofield; }`,
			`1:49: tracepoint syscalls:sys_enter_openat has no field "nofield" (its fields: filename, flags): no such field`},
		{"tracepoint:syscalls:sys_enter_open* {\n @[args.flags] = count(); }",
			`2:9: tracepoint syscalls:sys_enter_open has no field "flags" (its fields: filename): no such field`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := compileFake(t, fakeTestEnv("amd64"), tt.src, Options{})
			var list diag.List
			if !errors.As(err, &list) {
				t.Fatalf("error %v is not a diag.List", err)
			}
			p := list[0].Position()
			if got := fmt.Sprintf("%d:%d: %s", p.Line, p.Column, list[0].Msg); got != tt.want || len(list) != 1 {
				t.Errorf("got %q (%d errors), want %q", got, len(list), tt.want)
			}
		})
	}
}

func TestCompileOptions(t *testing.T) {
	tests := []struct {
		opts Options
		want error
	}{
		{Options{RingBufSize: 1000}, ErrBadOptions},
		{Options{StrLen: 5000}, ErrBadOptions},
		{Options{Scope: program.Scope{Mode: program.ScopeCgroup}}, ErrBadOptions},
		{Options{Scope: program.Scope{Mode: program.ScopePidNS}}, ErrBadOptions},
		{Options{Scope: program.Scope{Mode: program.ScopePid}}, ErrBadOptions},
		{Options{Scope: program.Scope{Mode: 7, Pid: 1}}, ErrBadOptions},
		{Options{Scope: program.Scope{Mode: program.ScopePid, Pid: 1}}, nil},
		{Options{}, nil},
	}
	for _, tt := range tests {
		_, err := compileFake(t, fakeTestEnv("amd64"), `BEGIN { exit(); }`, tt.opts)
		if !errors.Is(err, tt.want) {
			t.Errorf("%+v: error %v, want %v", tt.opts, err, tt.want)
		}
	}
}

// TestSpecLayout checks the parts of the Spec that user space relies on:
// map order, names and BPF layouts, probe order and expansion, printf ids.
func TestSpecLayout(t *testing.T) {
	src := `tracepoint:syscalls:sys_enter_open* { @z[comm, pid] = count(); printf("%s\n", str(args.filename)); }
kprobe:vfs_read* { @a_very_long_map_name_here = hist(arg2); @b[probe] = lhist(arg2, 0, 100, 10); @c = lhist(arg2, 0, 100, 10); }
BEGIN { @m = max(1); @s = "str"; printf("%d %s\n", 1, comm); }
profile:hz:99 { @k[kstack, ustack] = count(); @e = elapsed; }`
	spec, err := compileFake(t, fakeTestEnv("amd64"), src, Options{MapMaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range spec.Probes {
		names = append(names, p.Name+"="+p.Program)
	}
	wantProbes := "tracepoint:syscalls:sys_enter_open=p0_sys_enter_op tracepoint:syscalls:sys_enter_openat=p1_sys_enter_op " +
		"kprobe:vfs_read=p2_vfs_read kprobe:vfs_readv=p3_vfs_readv BEGIN=p4_BEGIN profile:hz:99=p5_profile"
	if got := strings.Join(names, " "); got != wantProbes {
		t.Errorf("probes\n got %s\nwant %s", got, wantProbes)
	}
	wantTypes := map[string]ebpf.ProgramType{"p0_sys_enter_op": ebpf.TracePoint, "p2_vfs_read": ebpf.Kprobe,
		"p4_BEGIN": ebpf.RawTracepoint, "p5_profile": ebpf.PerfEvent}
	for name, typ := range wantTypes {
		if got := spec.Collection.Programs[name].Type; got != typ {
			t.Errorf("program %s type %v, want %v", name, got, typ)
		}
	}

	maps := []struct {
		name, bpf         string
		typ               ebpf.MapType
		key, val, entries uint32
	}{
		{"@a_very_long_map_name_here", "AT_a_very_lon_0", ebpf.PerCPUHash, 16, 8, 66},
		{"@b", "AT_b", ebpf.PerCPUHash, 16, 8, 100},
		{"@c", "AT_c", ebpf.PerCPUHash, 16, 8, 12},
		{"@e", "AT_e", ebpf.Hash, 8, 8, 1},
		{"@k", "AT_k", ebpf.PerCPUHash, 24, 8, 100},
		{"@m", "AT_m", ebpf.PerCPUHash, 8, 16, 1},
		{"@s", "AT_s", ebpf.Hash, 8, 8, 1},
		{"@z", "AT_z", ebpf.PerCPUHash, 24, 8, 100},
	}
	if len(spec.Maps) != len(maps) {
		t.Fatalf("got %d maps, want %d", len(spec.Maps), len(maps))
	}
	for i, want := range maps {
		got := spec.Maps[i]
		ms := spec.Collection.Maps[got.BPFName]
		if got.Name != want.name || got.BPFName != want.bpf || ms == nil || ms.Type != want.typ ||
			ms.KeySize != want.key || ms.ValueSize != want.val || ms.MaxEntries != want.entries {
			t.Errorf("map %d = %+v %+v, want %+v", i, got, ms, want)
		}
	}
	if spec.Maps[1].LHist != (program.LHistParams{Min: 0, Max: 100, Step: 10}) || spec.Maps[1].Kind != program.LHist {
		t.Errorf("@b = %+v", spec.Maps[1])
	}
	if spec.KStackMap == "" || spec.UStackMap == "" || spec.ElapsedMap == "" || spec.OutputMap == "" {
		t.Errorf("system maps %q %q %q %q", spec.KStackMap, spec.UStackMap, spec.ElapsedMap, spec.OutputMap)
	}
	if rb := spec.Collection.Maps[spec.OutputMap]; rb.Type != ebpf.RingBuf || rb.MaxEntries != DefaultRingBufSize {
		t.Errorf("output map %+v", rb)
	}
	// One printf per call site, however many programs it is compiled into.
	if len(spec.Printfs) != 2 || spec.Printfs[0].Format != "%s\n" || spec.Printfs[1].Format != "%d %s\n" {
		t.Errorf("printfs %+v", spec.Printfs)
	}
}

// TestArchRegisters checks where arg1, retval and func are read from for
// each architecture.
func TestArchRegisters(t *testing.T) {
	tests := []struct {
		arch string
		src  string
		off  int16
	}{
		{"amd64", `kprobe:vfs_read { @ = arg1; }`, 104},
		{"arm64", `kprobe:vfs_read { @ = arg1; }`, 8},
		{"amd64", `kretprobe:vfs_read { @ = retval; }`, 80},
		{"arm64", `kretprobe:vfs_read { @ = retval; }`, 0},
		{"amd64", `kprobe:vfs_read { @ = func; }`, 128},
		{"arm64", `kprobe:vfs_read { @ = func; }`, 256},
		{"amd64", `rawtracepoint:sys_enter { @ = arg1; }`, 8},
	}
	for _, tt := range tests {
		t.Run(tt.arch+" "+tt.src, func(t *testing.T) {
			spec, err := compileFake(t, fakeTestEnv(tt.arch), tt.src, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var offs []int16
			for _, ins := range spec.Collection.Programs[spec.Probes[0].Program].Instructions {
				if ins.OpCode.Class() == asm.LdXClass && ins.Src == regCtx {
					offs = append(offs, ins.Offset)
				}
			}
			if len(offs) != 1 || offs[0] != tt.off {
				t.Errorf("context loads at %v, want [%d]", offs, tt.off)
			}
		})
	}
	_, err := compileFake(t, fakeTestEnv("mips"), `kprobe:vfs_read { @ = arg1; }`, Options{})
	if err == nil || !strings.Contains(err.Error(), `architecture "mips"`) {
		t.Errorf("unknown architecture: error %v", err)
	}
}

// TestBPFMapName checks kernel object names stay valid and unique.
func TestBPFMapName(t *testing.T) {
	used := map[string]bool{}
	tests := []struct {
		name  string
		index int
		want  string
	}{
		{"@", 0, "AT_"},
		{"@x", 1, "AT_x"},
		{"@abcdefghijklmnop", 2, "AT_abcdefghij_2"},
		{"@abcdefghijklmnopq", 3, "AT_abcdefghij_3"},
		{"@x", 4, "AT_x_4"},
	}
	for _, tt := range tests {
		if got := bpfMapName(tt.name, tt.index, used); got != tt.want {
			t.Errorf("bpfMapName(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestNoProgram checks the sentinel for an empty program.
func TestNoProgram(t *testing.T) {
	_, err := Compile(&ast.Program{}, nil, fakeTestEnv("amd64"), Options{})
	if !errors.Is(err, check.ErrNoProgram) {
		t.Errorf("error %v, want ErrNoProgram", err)
	}
}

// FuzzCompile feeds checked programs to the code generator: it must never
// panic or hit an internal error on a program the checker accepted.
func FuzzCompile(f *testing.F) {
	for _, p := range loadPrograms {
		f.Add(p.src)
	}
	env := fakeTestEnv("amd64")
	f.Fuzz(func(t *testing.T, src string) {
		prog, err := parser.ParseFile("fuzz.bt", src)
		if err != nil {
			return
		}
		info, err := check.Check(prog)
		if err != nil {
			return
		}
		_, err = Compile(prog, info, env, Options{})
		if err != nil && (strings.Contains(err.Error(), ErrInternal.Error()) || !isSourceError(err)) {
			t.Fatalf("compile %q: %v", src, err)
		}
	})
}

// isSourceError reports whether err is about the program (a diag.List) or
// the environment rather than a compiler bug.
func isSourceError(err error) bool {
	var list diag.List
	return errors.As(err, &list) || errors.Is(err, ErrNoEnv)
}

// TestMisalignedField checks that a field at an offset not aligned to its
// size is read with aligned pieces (the verifier rejects the rest).
func TestMisalignedField(t *testing.T) {
	env := fakeTestEnv("amd64")
	env.formats["test:packed"] = &program.TracepointFormat{Category: "test", Name: "packed", Fields: []program.TracepointField{
		{Name: "v", CType: "u64", Offset: 12, Size: 8},
	}}
	spec, err := compileFake(t, env, `tracepoint:test:packed { @ = args.v; }`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var loads []string
	for _, ins := range spec.Collection.Programs[spec.Probes[0].Program].Instructions {
		if ins.OpCode.Class() == asm.LdXClass && ins.Src == regCtx {
			loads = append(loads, fmt.Sprintf("%d/%d", ins.Offset, ins.OpCode.Size().Sizeof()))
		}
	}
	if got := strings.Join(loads, " "); got != "12/4 16/4" {
		t.Errorf("context loads %s, want 12/4 16/4", got)
	}
}
