package attach

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// Format files as the 6.18 kernel writes them.
const (
	openatFormat = `name: sys_enter_openat
ID: 648
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int __syscall_nr;	offset:8;	size:4;	signed:1;
	field:int dfd;	offset:16;	size:8;	signed:0;
	field:const char * filename;	offset:24;	size:8;	signed:0;
	field:int flags;	offset:32;	size:8;	signed:0;
	field:umode_t mode;	offset:40;	size:8;	signed:0;

print fmt: "dfd: 0x%08lx, filename: 0x%08lx, flags: 0x%08lx, mode: 0x%08lx", ((unsigned long)(REC->dfd)), ((unsigned long)(REC->filename)), ((unsigned long)(REC->flags)), ((unsigned long)(REC->mode))
`
	execFormat = `name: sched_process_exec
ID: 365
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:__data_loc char[] filename;	offset:8;	size:4;	signed:0;
	field:pid_t pid;	offset:12;	size:4;	signed:1;
	field:pid_t old_pid;	offset:16;	size:4;	signed:1;

print fmt: "filename=%s pid=%d old_pid=%d", __get_str(filename), REC->pid, REC->old_pid
`
	switchFormat = `name: sched_switch
ID: 372
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:char prev_comm[16];	offset:8;	size:16;	signed:0;
	field:pid_t prev_pid;	offset:24;	size:4;	signed:1;
	field:unsigned long args[TASK_ARGS];	offset:32;	size:48;	signed:0;

print fmt: "prev_comm=%s", REC->prev_comm
`
)

var commonFields = []program.TracepointField{
	{Name: "common_type", CType: "unsigned short", Offset: 0, Size: 2},
	{Name: "common_flags", CType: "unsigned char", Offset: 2, Size: 1},
	{Name: "common_preempt_count", CType: "unsigned char", Offset: 3, Size: 1},
	{Name: "common_pid", CType: "int", Offset: 4, Size: 4, Signed: true},
}

func TestParseTracepointFormat(t *testing.T) {
	tests := []struct {
		cat, name, text string
		want            program.TracepointFormat
	}{
		{"syscalls", "sys_enter_openat", openatFormat, program.TracepointFormat{
			Category: "syscalls", Name: "sys_enter_openat", ID: 648,
			Fields: append(append([]program.TracepointField{}, commonFields...),
				program.TracepointField{Name: "__syscall_nr", CType: "int", Offset: 8, Size: 4, Signed: true},
				program.TracepointField{Name: "dfd", CType: "int", Offset: 16, Size: 8},
				program.TracepointField{Name: "filename", CType: "const char *", Offset: 24, Size: 8, Pointer: true},
				program.TracepointField{Name: "flags", CType: "int", Offset: 32, Size: 8},
				program.TracepointField{Name: "mode", CType: "umode_t", Offset: 40, Size: 8}),
		}},
		{"sched", "sched_process_exec", execFormat, program.TracepointFormat{
			Category: "sched", Name: "sched_process_exec", ID: 365,
			Fields: append(append([]program.TracepointField{}, commonFields...),
				program.TracepointField{Name: "filename", CType: "__data_loc char[]", Offset: 8, Size: 4, DataLoc: true},
				program.TracepointField{Name: "pid", CType: "pid_t", Offset: 12, Size: 4, Signed: true},
				program.TracepointField{Name: "old_pid", CType: "pid_t", Offset: 16, Size: 4, Signed: true}),
		}},
		{"sched", "sched_switch", switchFormat, program.TracepointFormat{
			Category: "sched", Name: "sched_switch", ID: 372,
			Fields: append(append([]program.TracepointField{}, commonFields...),
				program.TracepointField{Name: "prev_comm", CType: "char", Offset: 8, Size: 16, Array: 16},
				program.TracepointField{Name: "prev_pid", CType: "pid_t", Offset: 24, Size: 4, Signed: true},
				program.TracepointField{Name: "args", CType: "unsigned long", Offset: 32, Size: 48, Array: 48}),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTracepointFormat(tc.cat, tc.name, strings.NewReader(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestParseTracepointFormatErrors(t *testing.T) {
	tests := map[string]string{
		"no ID":      "name: x\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n",
		"no fields":  "name: x\nID: 3\nformat:\n",
		"bad offset": "ID: 3\n\tfield:int a;\toffset:zz;\tsize:4;\tsigned:1;\n",
		"no size":    "ID: 3\n\tfield:int a;\toffset:0;\tsigned:1;\n",
		"no type":    "ID: 3\n\tfield:a;\toffset:0;\tsize:4;\tsigned:1;\n",
	}
	for name, text := range tests {
		if _, err := ParseTracepointFormat("c", "n", strings.NewReader(text)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"sys_enter_open*", "sys_enter_openat", true},
		{"sys_enter_open*", "sys_enter_open", true},
		{"sys_enter_open*", "sys_exit_open", false},
		{"*", "", true},
		{"sys_?nter_read", "sys_enter_read", true},
		{"sys_?nter_read", "sys_nter_read", false},
		{"*_read*", "vfs_readv", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"[abc]", "a", false}, // only * and ? are special
		{"[abc]", "[abc]", true},
		{"exact", "exact", true},
		{"exact", "exactly", false},
	}
	for _, tc := range tests {
		if got := Match(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	tests := map[string][]int{"0": {0}, "0-3": {0, 1, 2, 3}, "0-1,4,6-7": {0, 1, 4, 6, 7}}
	for in, want := range tests {
		got, err := parseCPUList(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "1-y"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q) succeeded", bad)
		}
	}
}

func TestTimerAttr(t *testing.T) {
	tests := []struct {
		unit   string
		rate   uint64
		sample uint64
		freq   bool
		ok     bool
	}{
		{"hz", 99, 99, true, true},
		{"s", 2, 2e9, false, true},
		{"ms", 10, 10e6, false, true},
		{"us", 500, 500e3, false, true},
		{"min", 1, 0, false, false},
		{"ms", 0, 0, false, false},
	}
	for _, tc := range tests {
		attr, err := timerAttr(tc.unit, tc.rate)
		if (err == nil) != tc.ok {
			t.Errorf("timerAttr(%s, %d) error = %v", tc.unit, tc.rate, err)
			continue
		}
		if tc.ok && (attr.Sample != tc.sample || (attr.Bits&unix.PerfBitFreq != 0) != tc.freq) {
			t.Errorf("timerAttr(%s, %d) = sample %d bits %#x", tc.unit, tc.rate, attr.Sample, attr.Bits)
		}
	}
}
