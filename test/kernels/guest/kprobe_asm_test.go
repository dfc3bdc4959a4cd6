//go:build kernels_guest

package guest

import (
	"os"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// pt_regs offset of ax on x86_64 (r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax):
// a kretprobe's return value.
const ptRegsAX = 10 * 8

// TestKprobeAsm proves the guest kernel attaches kprobes and kretprobes,
// independently of the compiler: hand-written programs on vfs_read count
// this thread's calls and add up what they returned.
func TestKprobeAsm(t *testing.T) {
	// stats[0] counts kprobe hits, stats[1] sums kretprobe return values.
	stats, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	if err != nil {
		t.Fatalf("creating the map: %v", err)
	}
	defer stats.Close()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()

	// add(slot, value register) adds a register to stats[slot] if the
	// current thread is ours. R6 holds the value across the helper calls.
	prog := func(slot int32, value asm.Instructions) asm.Instructions {
		insns := append(value, // leaves the value in R6
			asm.FnGetCurrentPidTgid.Call(),
			// The low 32 bits are the thread id.
			asm.LSh.Imm(asm.R0, 32),
			asm.RSh.Imm(asm.R0, 32),
			asm.JNE.Imm(asm.R0, int32(tid), "out"),
			asm.StoreImm(asm.RFP, -4, int64(slot), asm.Word),
			asm.LoadMapPtr(asm.R1, stats.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.StoreXAdd(asm.R0, asm.R6, asm.DWord),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		)
		return insns
	}
	entry := load(t, prog(0, asm.Instructions{asm.Mov.Imm(asm.R6, 1)}))
	exit := load(t, prog(1, asm.Instructions{asm.LoadMem(asm.R6, asm.R1, ptRegsAX, asm.DWord)}))

	kp, err := link.Kprobe("vfs_read", entry, nil)
	if err != nil {
		t.Fatalf("link.Kprobe(vfs_read): %v", err)
	}
	defer kp.Close()
	krp, err := link.Kretprobe("vfs_read", exit, nil)
	if err != nil {
		t.Fatalf("link.Kretprobe(vfs_read): %v", err)
	}
	defer krp.Close()

	// Attaching read files on this thread (cilium/ebpf looks up the kprobe
	// PMU in sysfs); count from here on.
	for slot := range uint32(2) {
		if err := stats.Update(slot, uint64(0), ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
	}

	const reads, size = 50, 100
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, size)
	for range reads {
		if n, err := unix.Pread(int(f.Fd()), buf, 0); err != nil || n != size {
			t.Fatalf("pread: %d, %v", n, err)
		}
	}
	kp.Close()
	krp.Close()

	var hits, sum uint64
	if err := stats.Lookup(uint32(0), &hits); err != nil {
		t.Fatal(err)
	}
	if err := stats.Lookup(uint32(1), &sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("kprobe hits %d, kretprobe bytes %d", hits, sum)
	if hits != reads {
		t.Errorf("kprobe:vfs_read counted %d calls of this thread, want %d", hits, reads)
	}
	if sum != reads*size {
		t.Errorf("kretprobe:vfs_read summed %d bytes, want %d", sum, reads*size)
	}
}

func load(t *testing.T, insns asm.Instructions) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Kprobe, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatalf("loading a kprobe program: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
