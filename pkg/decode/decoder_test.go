package decode

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/symbol"
)

var eventSpec = &program.Spec{
	Probes: []program.Probe{{Name: "BEGIN"}, {Name: "tracepoint:syscalls:sys_enter_openat"}},
	Maps:   []program.Map{{Name: "@a"}, {Name: "@b"}},
	Printfs: []program.Printf{
		{Format: "hello\n"},
		{Format: "%s %d %u %s|%s\n", Args: []program.Type{tStr16, tInt, tUint, tProbe, tTuple}},
		{Format: "%s %s\n", Args: []program.Type{tKSym, {Kind: program.USym, Size: 16}}},
	},
}

func TestEvent(t *testing.T) {
	d, err := NewDecoder(eventSpec, nil, WithSymbolizer(nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  []byte
		want Event
	}{
		{"printf without args", u(0), Event{Kind: EventPrintf, Text: "hello\n"}},
		{"printf args", b(u(1), s("bash", 16), i(-5), u(7), u(1), i(2), s("xy", 8), u(3)),
			Event{Kind: EventPrintf, Text: "bash -5 7 tracepoint:syscalls:sys_enter_openat|(2, xy, 3)\n"}},
		{"printf symbols as hex", b(u(2), u(0xffffffff81000000), u(0x401000), u(42)),
			Event{Kind: EventPrintf, Text: "0xffffffff81000000 0x401000\n"}},
		{"exit", u(program.EventExit), Event{Kind: EventExit}},
		{"print", b(u(program.EventPrint), u(1), u(10), u(2)), Event{Kind: EventPrint, Map: 1, Top: 10, Div: 2}},
		{"clear", b(u(program.EventClear), u(0)), Event{Kind: EventClear, Map: 0}},
		{"zero", b(u(program.EventZero), u(1)), Event{Kind: EventZero, Map: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Event(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Event = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEventMalformed(t *testing.T) {
	d, err := NewDecoder(eventSpec, nil, WithSymbolizer(nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"short":              {1, 2, 3},
		"unknown id":         u(3),
		"printf cut short":   b(u(1), s("bash", 16)),
		"print map missing":  b(u(program.EventPrint), u(2), u(0), u(0)),
		"print cut short":    b(u(program.EventPrint), u(0)),
		"clear map missing":  b(u(program.EventClear), u(9)),
		"probe out of range": b(u(1), s("bash", 16), i(-5), u(7), u(5), i(2), s("xy", 8), u(3)),
	}
	for name, raw := range tests {
		if _, err := d.Event(raw); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestNewDecoderNeedsStackMaps(t *testing.T) {
	_, err := NewDecoder(&program.Spec{KStackMap: "kstacks"}, &ebpf.Collection{})
	if err == nil || !strings.Contains(err.Error(), "kstacks") {
		t.Errorf("err = %v, want one naming the missing stack map", err)
	}
}

// fakeSymbols names every address after itself, so the test sees which
// resolver was asked and with which pid.
type fakeSymbols struct{}

func (fakeSymbols) KernelFrame(a uint64) string           { return fmt.Sprintf("k%x+0", a) }
func (fakeSymbols) KernelSym(a uint64) string             { return fmt.Sprintf("k%x", a) }
func (fakeSymbols) UserFrame(pid uint32, a uint64) string { return fmt.Sprintf("u%d:%x+0", pid, a) }
func (fakeSymbols) UserSym(pid uint32, a uint64) string   { return fmt.Sprintf("u%d:%x", pid, a) }

// TestStacks has the kernel take real kernel and user stacks of this
// process's syscalls, then decodes a printf event carrying their ids.
func TestStacks(t *testing.T) {
	requireBPF(t)
	stacks := func() *ebpf.Map {
		m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.StackTrace, KeySize: 4, ValueSize: 8 * 127, MaxEntries: 1024})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	kstacks, ustacks := stacks(), stacks()
	ids, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ids.Close()

	// For each of (kernel, user): ids[i] = bpf_get_stackid(ctx, map, flags),
	// only for this process.
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.JNE.Imm(asm.R0, int32(os.Getpid()), "out"),
	}
	for idx, st := range []struct {
		m     *ebpf.Map
		flags int32
	}{{kstacks, 0}, {ustacks, 1 << 8}} {
		insns = append(insns,
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.LoadMapPtr(asm.R2, st.m.FD()),
			asm.Mov.Imm(asm.R3, st.flags),
			asm.FnGetStackid.Call(),
			asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord),
			asm.StoreImm(asm.RFP, -16, int64(idx), asm.Word),
			asm.LoadMapPtr(asm.R1, ids.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -16),
			asm.Mov.Reg(asm.R3, asm.RFP),
			asm.Add.Imm(asm.R3, -8),
			asm.Mov.Imm(asm.R4, 0),
			asm.FnMapUpdateElem.Call(),
		)
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return())
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.RawTracepoint, Instructions: insns, License: "GPL"})
	if err != nil {
		t.Fatalf("loading the stack program: %v", err)
	}
	defer prog.Close()
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: prog})
	if err != nil {
		t.Fatalf("attaching to raw_tracepoint sys_enter: %v", err)
	}
	var kid, uid int64
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (kid == 0 || uid == 0) {
		syscall.Getppid()
		_ = ids.Lookup(uint32(0), &kid)
		_ = ids.Lookup(uint32(1), &uid)
	}
	l.Close()
	if kid <= 0 && uid <= 0 {
		t.Fatalf("no stacks taken: kernel id %d, user id %d", kid, uid)
	}

	spec := &program.Spec{
		KStackMap: "k", UStackMap: "u",
		Printfs: []program.Printf{{Format: "%s|%s|", Args: []program.Type{
			{Kind: program.KStack, Size: 8}, {Kind: program.UStack, Size: 16}}}},
	}
	d, err := NewDecoder(spec, &ebpf.Collection{Maps: map[string]*ebpf.Map{"k": kstacks, "u": ustacks}}, WithSymbolizer(fakeSymbols{}))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := d.Event(b(u(0), i(kid), i(uid), u(4242)))
	if err != nil {
		t.Fatal(err)
	}
	kpart, upart, _ := strings.Cut(ev.Text, "|")
	if kid > 0 && (!strings.HasPrefix(kpart, "\n        kffff") || !strings.HasSuffix(kpart, "+0\n")) {
		t.Errorf("kernel stack text %q, want frames of kernel addresses indented 8 spaces", kpart)
	}
	if uid > 0 && !strings.HasPrefix(upart, "\n        u4242:") {
		t.Errorf("user stack text %q, want frames resolved for pid 4242", upart)
	}
	// A negative id (the kernel failed to take the stack) prints empty.
	ev, err = d.Event(b(u(0), i(-14), i(-14), u(1)))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Text != "\n|\n|" {
		t.Errorf("failed stacks print %q, want empty stacks", ev.Text)
	}
}

func TestNewDecoderDefaultsToHostSymbols(t *testing.T) {
	d, err := NewDecoder(&program.Spec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.syms.(*symbol.Resolver); !ok {
		t.Errorf("default symbolizer is %T, want *symbol.Resolver", d.syms)
	}
}
