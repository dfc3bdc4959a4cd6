package codegen

import (
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// Register use in every generated program:
//
//	R0-R5  scratch, clobbered by helper calls
//	R6     the program's context pointer, saved at entry
//	R7-R8  scratch that survives helper calls within one operation
//	R9     the per-CPU scratch buffer, when the program needs one
//	R10    frame pointer
//
// Values live in memory between operations, never in registers: every
// expression writes its result to a loc (a stack slot or a piece of the
// scratch buffer), so helper calls never clobber a live value.
const (
	regCtx     = asm.R6
	regScratch = asm.R9
)

// frameSize is the kernel's limit on a program's stack.
const frameSize = 512

// maxScratch is the largest per-CPU scratch buffer: the kernel's limit on
// per-CPU map values.
const maxScratch = 32 << 10

// loc is a piece of memory addressed as base register + offset: the stack
// (R10), the scratch buffer (R9) or a map value just looked up (R0).
type loc struct {
	base asm.Register
	off  int
}

func (l loc) plus(n int) loc { return loc{l.base, l.off + n} }

// fn emits one eBPF program.
type fn struct {
	insns   asm.Instructions
	pending string // label for the next emitted instruction
	labels  int

	frame, frameMax     int // bytes of stack in use
	scratch, scratchMax int // bytes of scratch buffer in use

	errs []error // resource limits hit while emitting
}

// label returns a fresh label name.
func (f *fn) label() string {
	f.labels++
	return fmt.Sprintf("L%d", f.labels)
}

// emit appends instructions, attaching a pending label to the first.
func (f *fn) emit(ins ...asm.Instruction) {
	for _, in := range ins {
		if f.pending != "" {
			in = in.WithSymbol(f.pending)
			f.pending = ""
		}
		f.insns = append(f.insns, in)
	}
}

// nop is `ja +0`. It carries a label when two labels fall on the same place,
// since one instruction holds one symbol.
var nop = asm.Instruction{OpCode: asm.OpCode(asm.JumpClass).SetJumpOp(asm.Ja), Offset: 0}

// mark places label on the next emitted instruction.
func (f *fn) mark(label string) {
	if f.pending != "" {
		f.emit(nop)
	}
	f.pending = label
}

// alloc reserves size bytes (rounded up to 8) of memory for a value: on the
// stack while it has room, in the per-CPU scratch buffer after that.
func (f *fn) alloc(size int) loc {
	size = (size + 7) &^ 7
	if f.frame+size <= frameSize {
		f.frame += size
		f.frameMax = max(f.frameMax, f.frame)
		return loc{asm.R10, -f.frame}
	}
	off := f.scratch
	f.scratch += size
	if f.scratch > maxScratch {
		f.errs = append(f.errs, fmt.Errorf("%w: the program needs more than %d bytes of temporary memory", ErrTooLarge, maxScratch))
		f.scratch = 0
		off = 0
	}
	f.scratchMax = max(f.scratchMax, f.scratch)
	return loc{regScratch, off}
}

// allocMark is the allocator state; save and restore bracket a statement
// or an expression so the temporaries it allocated are free again after it.
type allocMark struct{ frame, scratch int }

func (f *fn) save() allocMark     { return allocMark{f.frame, f.scratch} }
func (f *fn) restore(m allocMark) { f.frame, f.scratch = m.frame, m.scratch }

// usesScratch reports whether the program needs the per-CPU scratch buffer.
func (f *fn) usesScratch() bool { return f.scratchMax > 0 }

// off16 narrows a memory offset to the instruction's field. Offsets stay
// within the 512-byte stack or the 32 KiB scratch buffer, so they fit.
func off16(n int) int16 { return int16(n) }

func (f *fn) call(fnc asm.BuiltinFunc) { f.emit(fnc.Call()) }

// store writes register r (8 bytes) at l.
func (f *fn) store(l loc, r asm.Register) {
	f.emit(asm.StoreMem(l.base, off16(l.off), r, asm.DWord))
}

// load reads 8 bytes at l into register r.
func (f *fn) load(r asm.Register, l loc) {
	f.emit(asm.LoadMem(r, l.base, off16(l.off), asm.DWord))
}

// storeImm writes a small constant, sign-extended, as 8 bytes at l.
func (f *fn) storeImm(l loc, v int32) {
	f.emit(stImm64(l.base, l.off, v))
}

// stImm64 is `*(u64 *)(dst + off) = imm`. asm.StoreImm refuses the DWord
// size although the kernel accepts it (the immediate is sign-extended), so
// the instruction is built by hand.
func stImm64(dst asm.Register, off int, v int32) asm.Instruction {
	return asm.Instruction{OpCode: asm.StoreImmOp(asm.DWord), Dst: dst, Offset: off16(off), Constant: int64(v)}
}

// addr puts the address of l into register r.
func (f *fn) addr(r asm.Register, l loc) {
	f.emit(asm.Mov.Reg(r, l.base))
	if l.off != 0 {
		f.emit(asm.Add.Imm(r, int32(l.off)))
	}
}

// movImm loads any 64-bit constant into r.
func (f *fn) movImm(r asm.Register, v int64) {
	if v >= -1<<31 && v < 1<<31 {
		f.emit(asm.Mov.Imm(r, int32(v)))
		return
	}
	f.emit(asm.LoadImm(r, v, asm.DWord))
}

// zero clears n bytes (a multiple of 8) at l.
func (f *fn) zero(l loc, n int) {
	for i := 0; i < n; i += 8 {
		f.storeImm(l.plus(i), 0)
	}
}

// copy moves n bytes (a multiple of 8) from src to dst.
func (f *fn) copy(dst, src loc, n int) {
	for i := 0; i < n; i += 8 {
		f.load(asm.R1, src.plus(i))
		f.store(dst.plus(i), asm.R1)
	}
}

// mapPtr loads the address of a map into r, resolved by name at load time.
func (f *fn) mapPtr(r asm.Register, name string) {
	f.emit(asm.LoadMapPtr(r, 0).WithReference(name))
}
