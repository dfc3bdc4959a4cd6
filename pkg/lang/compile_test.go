package lang

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/codegen"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/diag"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

func TestCheckSource(t *testing.T) {
	tests := []struct {
		name, src string
		want      string // "" for no error
	}{
		{"ok", `tracepoint:syscalls:sys_enter_openat { @[comm, str(args.filename)] = count(); }`, ""},
		{"syntax", `BEGIN { printf("x" }`, "prog.bt:1:"},
		{"type", `BEGIN { @x = count(); @x = 1; }`, "prog.bt:1:23: @x already holds count()"},
		{"builtin", `tracepoint:a:b { @ = retval; }`, "prog.bt:1:22: retval is not available in tracepoint probes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSource("prog.bt", tt.src)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var list diag.List
			if !errors.As(err, &list) {
				t.Fatalf("error %v is not a diag.List", err)
			}
			if !strings.HasPrefix(list[0].Error(), tt.want) {
				t.Errorf("error %q, want prefix %q", list[0].Error(), tt.want)
			}
		})
	}
}

// fixedEnv knows one tracepoint, so Compile can run without tracefs.
type fixedEnv struct{}

func (fixedEnv) Tracepoint(category, name string) (*program.TracepointFormat, error) {
	if category != "syscalls" || name != "sys_enter_getpid" {
		return nil, program.ErrNotFound
	}
	return &program.TracepointFormat{Category: category, Name: name, Fields: []program.TracepointField{
		{Name: "__syscall_nr", CType: "int", Offset: 8, Size: 4, Signed: true},
	}}, nil
}
func (fixedEnv) MatchTracepoints(string, string) ([][2]string, error) { return nil, nil }
func (fixedEnv) MatchKernelFuncs(string) ([]string, error)            { return nil, nil }
func (fixedEnv) Arch() string                                         { return "amd64" }

func TestCompile(t *testing.T) {
	spec, err := Compile("prog.bt", `tracepoint:syscalls:sys_enter_getpid { @[args.__syscall_nr] = count(); }`,
		fixedEnv{}, codegen.Options{StrLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Probes) != 1 || len(spec.Maps) != 1 || !spec.Maps[0].Keys[0].Signed {
		t.Fatalf("spec probes %+v maps %+v", spec.Probes, spec.Maps)
	}
	if _, err := Compile("prog.bt", `tracepoint:syscalls:nope { }`, fixedEnv{}, codegen.Options{}); err == nil ||
		!strings.Contains(err.Error(), "prog.bt:1:1: tracepoint syscalls:nope does not exist") {
		t.Errorf("unknown tracepoint: error %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("loading eBPF programs needs root")
	}
	coll, err := ebpf.NewCollection(spec.Collection)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	coll.Close()
}
