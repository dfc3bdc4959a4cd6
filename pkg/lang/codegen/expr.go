package codegen

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/check"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// gen emits the program of one expanded attach point.
type gen struct {
	fn
	c    *compiler
	pt   *point
	vars map[string]loc
	ret  string // label of the program's exit
}

func (g *gen) typeOf(e ast.Expr) program.Type { return g.c.info.Types[e] }

func (g *gen) internal(pos ast.Pos, format string, args ...any) {
	g.errs = append(g.errs, fmt.Errorf("%w at %s: %s", ErrInternal, g.c.file.Position(pos), fmt.Sprintf(format, args...)))
}

// isScalar reports whether values of t are a single u64, computed in R0.
func isScalar(t program.Type) bool {
	switch t.Kind {
	case program.Int, program.KSym, program.KStack, program.ProbeName:
		return true
	}
	return false
}

// sameLayout reports whether values of a and b have identical bytes layouts.
func sameLayout(a, b program.Type) bool {
	if a.Size != b.Size || a.Kind != b.Kind || len(a.Elems) != len(b.Elems) {
		return isScalar(a) && isScalar(b)
	}
	for i := range a.Elems {
		if !sameLayout(a.Elems[i], b.Elems[i]) {
			return false
		}
	}
	return true
}

// value evaluates e into freshly allocated memory.
func (g *gen) value(e ast.Expr) loc {
	l := g.alloc(g.typeOf(e).Size)
	g.eval(e, l)
	return l
}

// evalAs evaluates e into dst laid out as type dt, which may differ from
// e's own type by string sizes (a short string stored into a longer map
// value, say).
func (g *gen) evalAs(e ast.Expr, dst loc, dt program.Type) {
	st := g.typeOf(e)
	if sameLayout(st, dt) {
		g.eval(e, dst)
		return
	}
	m := g.save()
	tmp := g.value(e)
	g.convert(tmp, st, dst, dt)
	g.restore(m)
}

// convert copies a value of type st at src into dst as type dt.
func (g *gen) convert(src loc, st program.Type, dst loc, dt program.Type) {
	switch {
	case sameLayout(st, dt):
		g.copy(dst, src, dt.Size)
	case st.Kind == program.Tuple && dt.Kind == program.Tuple && len(st.Elems) == len(dt.Elems):
		so, do := 0, 0
		for i := range st.Elems {
			g.convert(src.plus(so), st.Elems[i], dst.plus(do), dt.Elems[i])
			so += st.Elems[i].Size
			do += dt.Elems[i].Size
		}
	default:
		n := min(st.Size, dt.Size)
		g.copy(dst, src, n)
		g.zero(dst.plus(n), dt.Size-n)
	}
}

// eval writes the value of e to dst (typeOf(e).Size bytes).
func (g *gen) eval(e ast.Expr, dst loc) {
	t := g.typeOf(e)
	if isScalar(t) {
		g.intReg(e)
		g.store(dst, asm.R0)
		return
	}
	switch e := e.(type) {
	case *ast.ParenExpr:
		g.eval(e.X, dst)
	case *ast.StringLit:
		g.stringLit(e.Value, dst, t.Size)
	case *ast.Builtin:
		switch e.Name {
		case "comm":
			g.zero(dst, 16)
			g.addr(asm.R1, dst)
			g.emit(asm.Mov.Imm(asm.R2, 16))
			g.call(asm.FnGetCurrentComm)
		case "ustack":
			g.ustack(dst)
		case "func":
			g.funcAddr()
			g.store(dst, asm.R0)
			g.storePid(dst.plus(8))
		default:
			g.internal(e.Pos(), "builtin %s is not a kind %d value", e.Name, t.Kind)
		}
	case *ast.VarExpr:
		g.copy(dst, g.vars[e.Name], t.Size)
	case *ast.MapExpr:
		um := g.c.maps[e.Name]
		m := g.save()
		key := g.key(um, e.Keys, 0)
		g.lookup(um, key)
		g.restore(m)
		found, end := g.label(), g.label()
		g.emit(asm.JNE.Imm(asm.R0, 0, found))
		g.zero(dst, t.Size)
		g.emit(asm.Ja.Label(end))
		g.mark(found)
		g.copy(dst, loc{asm.R0, 0}, t.Size)
		g.mark(end)
	case *ast.FieldExpr:
		g.fieldString(e, dst, t)
	case *ast.CallExpr:
		g.callValue(e, dst, t)
	case *ast.TernaryExpr:
		g.intReg(e.Cond)
		other, end := g.label(), g.label()
		g.emit(asm.JEq.Imm(asm.R0, 0, other))
		g.evalAs(e.X, dst, t)
		g.emit(asm.Ja.Label(end))
		g.mark(other)
		g.evalAs(e.Y, dst, t)
		g.mark(end)
	case *ast.TupleExpr:
		off := 0
		for i, x := range e.Elems {
			g.evalAs(x, dst.plus(off), t.Elems[i])
			off += t.Elems[i].Size
		}
	default:
		g.internal(e.Pos(), "cannot evaluate %T as kind %d", e, t.Kind)
	}
}

// stringLit stores s NUL-padded to size bytes.
func (g *gen) stringLit(s string, dst loc, size int) {
	buf := make([]byte, size)
	copy(buf, s)
	for i := 0; i < size; i += 8 {
		v := binary.LittleEndian.Uint64(buf[i:])
		if v == 0 {
			g.storeImm(dst.plus(i), 0)
			continue
		}
		g.movImm(asm.R1, int64(v))
		g.store(dst.plus(i), asm.R1)
	}
}

// storePid writes the current process id (tgid) at l.
func (g *gen) storePid(l loc) {
	g.call(asm.FnGetCurrentPidTgid)
	g.emit(asm.RSh.Imm(asm.R0, 32))
	g.store(l, asm.R0)
}

// ustack writes {stack id, pid} at dst.
func (g *gen) ustack(dst loc) {
	g.c.usesUStack = true
	g.emit(asm.Mov.Reg(asm.R1, regCtx))
	g.mapPtr(asm.R2, UStackMapName)
	g.emit(asm.Mov.Imm(asm.R3, 1<<8)) // BPF_F_USER_STACK
	g.call(asm.FnGetStackid)
	g.store(dst, asm.R0)
	g.storePid(dst.plus(8))
}

// callValue evaluates the value-returning functions whose results are not
// scalars.
func (g *gen) callValue(e *ast.CallExpr, dst loc, t program.Type) {
	switch e.Func {
	case "str":
		g.str(e, dst, t.Size)
	case "usym":
		g.intReg(e.Args[0])
		g.store(dst, asm.R0)
		g.storePid(dst.plus(8))
	case "ustack":
		g.ustack(dst)
	default:
		g.internal(e.Pos(), "%s() does not yield a kind %d value", e.Func, t.Kind)
	}
}

// str reads a NUL-terminated string from the address p into dst.
func (g *gen) str(e *ast.CallExpr, dst loc, size int) {
	m := g.save()
	ptr := g.alloc(8)
	g.intReg(e.Args[0])
	g.store(ptr, asm.R0)
	g.zero(dst, size)
	if len(e.Args) == 2 {
		// bpftrace 0.17 reads n+1 bytes (room for the NUL), at most the
		// string size.
		g.intReg(e.Args[1])
		g.emit(asm.Add.Imm(asm.R0, 1))
		ok := g.label()
		g.emit(asm.JLE.Imm(asm.R0, int32(size), ok))
		g.emit(asm.Mov.Imm(asm.R0, int32(size)))
		g.mark(ok)
		g.emit(asm.Mov.Reg(asm.R2, asm.R0))
	} else {
		g.emit(asm.Mov.Imm(asm.R2, int32(size)))
	}
	g.addr(asm.R1, dst)
	g.load(asm.R3, ptr)
	g.call(g.readStrHelper(e.Args[0]))
	g.restore(m)
}

// readStrHelper picks the probe_read_*_str helper for the address space the
// pointer p belongs to (bpftrace 0.17's rules, see the notes §6).
func (g *gen) readStrHelper(p ast.Expr) asm.BuiltinFunc {
	for {
		pe, ok := p.(*ast.ParenExpr)
		if !ok {
			break
		}
		p = pe.X
	}
	if f, ok := p.(*ast.FieldExpr); ok && g.pt.format != nil {
		if fld, err := findField(g.pt.format, f.Field); err == nil && fld.DataLoc {
			return asm.FnProbeReadKernelStr
		}
	}
	switch g.pt.kind {
	case ast.Uprobe, ast.Uretprobe:
		return asm.FnProbeReadUserStr
	case ast.Tracepoint:
		if g.pt.target == "syscalls" {
			return asm.FnProbeReadUserStr
		}
		return asm.FnProbeReadKernelStr
	case ast.Kprobe, ast.Kretprobe, ast.RawTracepoint:
		return asm.FnProbeReadKernelStr
	}
	// No address space is implied (BEGIN, END, profile, interval): the
	// legacy helper tries both where the architecture allows it.
	if g.c.env != nil && g.c.env.Arch() == "amd64" {
		return asm.FnProbeReadStr
	}
	return asm.FnProbeReadKernelStr
}

// intReg evaluates a scalar expression into R0. It clobbers R0-R5 and R7-R8.
func (g *gen) intReg(e ast.Expr) {
	switch e := e.(type) {
	case *ast.IntLit:
		g.movImm(asm.R0, int64(e.Value))
	case *ast.ParenExpr:
		g.intReg(e.X)
	case *ast.Builtin:
		g.builtinInt(e)
	case *ast.VarExpr:
		g.load(asm.R0, g.vars[e.Name])
	case *ast.MapExpr:
		um := g.c.maps[e.Name]
		m := g.save()
		key := g.key(um, e.Keys, 0)
		g.lookup(um, key)
		g.restore(m)
		missing := g.label()
		g.emit(asm.JEq.Imm(asm.R0, 0, missing))
		g.emit(asm.LoadMem(asm.R0, asm.R0, 0, asm.DWord))
		g.mark(missing)
	case *ast.FieldExpr:
		g.fieldInt(e)
	case *ast.CallExpr:
		switch e.Func {
		case "ksym":
			g.intReg(e.Args[0])
		case "kstack":
			g.kstack()
		default:
			g.internal(e.Pos(), "%s() is not a scalar", e.Func)
		}
	case *ast.UnaryExpr:
		g.unary(e)
	case *ast.BinaryExpr:
		g.binary(e)
	case *ast.TernaryExpr:
		g.intReg(e.Cond)
		other, end := g.label(), g.label()
		g.emit(asm.JEq.Imm(asm.R0, 0, other))
		g.intReg(e.X)
		g.emit(asm.Ja.Label(end))
		g.mark(other)
		g.intReg(e.Y)
		g.mark(end)
	default:
		g.internal(e.Pos(), "%T is not a scalar", e)
	}
}

func (g *gen) kstack() {
	g.c.usesKStack = true
	g.emit(asm.Mov.Reg(asm.R1, regCtx))
	g.mapPtr(asm.R2, KStackMapName)
	g.emit(asm.Mov.Imm(asm.R3, 0))
	g.call(asm.FnGetStackid)
}

func (g *gen) builtinInt(e *ast.Builtin) {
	switch e.Name {
	case "pid":
		g.call(asm.FnGetCurrentPidTgid)
		g.emit(asm.RSh.Imm(asm.R0, 32))
	case "tid":
		g.call(asm.FnGetCurrentPidTgid)
		g.low32(asm.R0)
	case "uid":
		g.call(asm.FnGetCurrentUidGid)
		g.low32(asm.R0)
	case "gid":
		g.call(asm.FnGetCurrentUidGid)
		g.emit(asm.RSh.Imm(asm.R0, 32))
	case "nsecs":
		g.call(asm.FnKtimeGetNs)
	case "elapsed":
		g.elapsed()
	case "cpu":
		g.call(asm.FnGetSmpProcessorId)
	case "cgroup":
		g.call(asm.FnGetCurrentCgroupId)
	case "rand":
		g.call(asm.FnGetPrandomU32)
	case "probe":
		g.movImm(asm.R0, int64(g.pt.index))
	case "retval":
		g.ctxWord(asm.R0, g.regs().ret)
	case "func":
		g.funcAddr()
	case "kstack":
		g.kstack()
	default:
		n, ok := argIndex(e.Name)
		if !ok {
			g.internal(e.Pos(), "unknown builtin %s", e.Name)
			return
		}
		if g.pt.kind == ast.RawTracepoint {
			g.ctxWord(asm.R0, 8*n)
			return
		}
		g.ctxWord(asm.R0, g.regs().args[n])
	}
}

func argIndex(name string) (int, bool) {
	if len(name) != 4 || name[:3] != "arg" || name[3] < '0' || name[3] > '0'+check.MaxArg {
		return 0, false
	}
	return int(name[3] - '0'), true
}

// low32 keeps the low 32 bits of r. (An AND with the immediate 0xffffffff
// would be sign-extended to all ones.)
func (g *gen) low32(r asm.Register) {
	g.emit(asm.LSh.Imm(r, 32), asm.RSh.Imm(r, 32))
}

// funcAddr puts the traced function's address into R0. In a kretprobe the
// saved instruction pointer is already the return address in the caller, so
// the function's entry comes from bpf_get_func_ip (kernel 5.15); elsewhere
// the instruction pointer is the probed address itself.
func (g *gen) funcAddr() {
	if g.pt.kind == ast.Kretprobe {
		g.emit(asm.Mov.Reg(asm.R1, regCtx))
		g.call(asm.FnGetFuncIp)
		return
	}
	g.ctxWord(asm.R0, g.regs().ip)
}

// ctxWord loads the 8-byte context word at off into r.
func (g *gen) ctxWord(r asm.Register, off int) {
	g.emit(asm.LoadMem(r, regCtx, off16(off), asm.DWord))
}

// elapsed is nsecs minus the start time user space wrote into the elapsed
// map before BEGIN.
func (g *gen) elapsed() {
	g.c.usesElapsed = true
	g.call(asm.FnKtimeGetNs)
	g.emit(asm.Mov.Reg(asm.R7, asm.R0))
	m := g.save()
	key := g.alloc(8)
	g.storeImm(key, 0)
	g.mapPtr(asm.R1, ElapsedMapName)
	g.addr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.restore(m)
	missing := g.label()
	g.emit(asm.JEq.Imm(asm.R0, 0, missing))
	g.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord))
	g.emit(asm.Sub.Reg(asm.R7, asm.R1))
	g.mark(missing)
	g.emit(asm.Mov.Reg(asm.R0, asm.R7))
}

// ptRegs gives the pt_regs offsets of an architecture.
type ptRegs struct {
	args    [check.MaxArg + 1]int
	ret, ip int
}

var regsByArch = map[string]ptRegs{
	// struct pt_regs: r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip ...
	"amd64": {args: [6]int{112, 104, 96, 88, 72, 64}, ret: 80, ip: 128},
	// struct user_pt_regs: regs[31], sp, pc, pstate.
	"arm64": {args: [6]int{0, 8, 16, 24, 32, 40}, ret: 0, ip: 256},
}

func (g *gen) regs() ptRegs {
	arch := "amd64"
	if g.c.env != nil {
		arch = g.c.env.Arch()
	}
	r, ok := regsByArch[arch]
	if !ok {
		g.errs = append(g.errs, fmt.Errorf("%w: registers of architecture %q are unknown", ErrUnsupported, arch))
	}
	return r
}

// field returns the format field args.F reads in this program.
func (g *gen) field(e *ast.FieldExpr) *program.TracepointField {
	if g.pt.format == nil {
		g.internal(e.Pos(), "args used outside a tracepoint")
		return nil
	}
	fld, err := findField(g.pt.format, e.Field)
	if err != nil {
		g.errs = append(g.errs, err)
		return nil
	}
	return fld
}

var loadSizes = map[int]asm.Size{1: asm.Byte, 2: asm.Half, 4: asm.Word, 8: asm.DWord}

// fieldInt loads an integer field (or the address of a __data_loc field)
// from the tracepoint record into R0.
func (g *gen) fieldInt(e *ast.FieldExpr) {
	fld := g.field(e)
	if fld == nil {
		return
	}
	if fld.DataLoc {
		// The low 16 bits of the u32 are the data's offset in the record.
		g.emit(asm.LoadMem(asm.R1, regCtx, off16(fld.Offset), asm.Word))
		g.emit(asm.And.Imm(asm.R1, 0xffff))
		g.emit(asm.Mov.Reg(asm.R0, regCtx))
		g.emit(asm.Add.Reg(asm.R0, asm.R1))
		return
	}
	size, ok := loadSizes[fld.Size]
	if !ok {
		g.errs = append(g.errs, fmt.Errorf("%w: field %s has size %d", ErrUnsupported, fld.Name, fld.Size))
		return
	}
	if fld.Offset%fld.Size == 0 {
		g.emit(asm.LoadMem(asm.R0, regCtx, off16(fld.Offset), size))
	} else {
		// Context loads must be aligned to their size, so a misaligned
		// field is assembled from aligned little-endian pieces.
		g.emit(asm.Mov.Imm(asm.R0, 0))
		for i := 0; i < fld.Size; {
			w := fld.Size
			for (fld.Offset+i)%w != 0 || i+w > fld.Size {
				w /= 2
			}
			g.emit(asm.LoadMem(asm.R1, regCtx, off16(fld.Offset+i), loadSizes[w]))
			if i > 0 {
				g.emit(asm.LSh.Imm(asm.R1, int32(8*i)))
			}
			g.emit(asm.Or.Reg(asm.R0, asm.R1))
			i += w
		}
	}
	if fld.Signed && fld.Size < 8 {
		shift := int32(64 - 8*fld.Size)
		g.emit(asm.LSh.Imm(asm.R0, shift), asm.ArSh.Imm(asm.R0, shift))
	}
}

// fieldString copies a char array field from the record into dst.
func (g *gen) fieldString(e *ast.FieldExpr, dst loc, t program.Type) {
	fld := g.field(e)
	if fld == nil {
		return
	}
	g.zero(dst, t.Size)
	for i := 0; i < fld.Size && i < t.Size; {
		// Use the widest access both the record offset and the
		// destination offset are aligned for: the verifier rejects
		// misaligned stack and context accesses.
		w := 8
		for w > 1 && ((fld.Offset+i)%w != 0 || i%w != 0 || i+w > fld.Size) {
			w /= 2
		}
		g.emit(asm.LoadMem(asm.R1, regCtx, off16(fld.Offset+i), loadSizes[w]))
		g.emit(asm.StoreMem(dst.base, off16(dst.off+i), asm.R1, loadSizes[w]))
		i += w
	}
}

func (g *gen) unary(e *ast.UnaryExpr) {
	switch e.Op {
	case "-":
		g.intReg(e.X)
		g.emit(asm.Neg.Imm(asm.R0, 0))
	case "~":
		g.intReg(e.X)
		g.emit(asm.Xor.Imm(asm.R0, -1))
	case "!":
		g.intReg(e.X)
		g.boolify(asm.JEq)
	case "++", "--":
		g.incDec(e.X, e.Op == "++", e.Postfix)
	default:
		g.internal(e.Pos(), "unknown operator %s", e.Op)
	}
}

// boolify sets R0 to 1 if `R0 op 0` holds, else 0.
func (g *gen) boolify(op asm.JumpOp) {
	yes, end := g.label(), g.label()
	g.emit(op.Imm(asm.R0, 0, yes))
	g.emit(asm.Mov.Imm(asm.R0, 0), asm.Ja.Label(end))
	g.mark(yes)
	g.emit(asm.Mov.Imm(asm.R0, 1))
	g.mark(end)
}

var aluOps = map[string]asm.ALUOp{
	"+": asm.Add, "-": asm.Sub, "*": asm.Mul, "/": asm.Div, "%": asm.Mod,
	"&": asm.And, "|": asm.Or, "^": asm.Xor, "<<": asm.LSh, ">>": asm.RSh,
}

var unsignedJumps = map[string]asm.JumpOp{"==": asm.JEq, "!=": asm.JNE, "<": asm.JLT, "<=": asm.JLE, ">": asm.JGT, ">=": asm.JGE}
var signedJumps = map[string]asm.JumpOp{"==": asm.JEq, "!=": asm.JNE, "<": asm.JSLT, "<=": asm.JSLE, ">": asm.JSGT, ">=": asm.JSGE}

func (g *gen) binary(e *ast.BinaryExpr) {
	switch e.Op {
	case "&&", "||":
		g.logical(e)
		return
	}
	xt, yt := g.typeOf(e.X), g.typeOf(e.Y)
	if (e.Op == "==" || e.Op == "!=") && xt.Kind == program.String {
		g.strCompare(e)
		return
	}
	m := g.save()
	left := g.alloc(8)
	g.intReg(e.X)
	g.store(left, asm.R0)
	g.intReg(e.Y)
	g.emit(asm.Mov.Reg(asm.R2, asm.R0))
	g.load(asm.R1, left)
	g.restore(m)
	if op, ok := aluOps[e.Op]; ok {
		g.emit(op.Reg(asm.R1, asm.R2), asm.Mov.Reg(asm.R0, asm.R1))
		return
	}
	// Comparisons are signed only when both operands are (bpftrace 0.17).
	jumps := unsignedJumps
	if xt.Signed && yt.Signed {
		jumps = signedJumps
	}
	op, ok := jumps[e.Op]
	if !ok {
		g.internal(e.OpPos, "unknown operator %s", e.Op)
		return
	}
	end := g.label()
	g.emit(asm.Mov.Imm(asm.R0, 1), op.Reg(asm.R1, asm.R2, end), asm.Mov.Imm(asm.R0, 0))
	g.mark(end)
}

// logical evaluates && and || with short-circuit, yielding 0 or 1.
func (g *gen) logical(e *ast.BinaryExpr) {
	short, end := g.label(), g.label()
	test := asm.JEq // && stops at the first false operand
	result := int32(0)
	if e.Op == "||" {
		test, result = asm.JNE, 1
	}
	g.intReg(e.X)
	g.emit(test.Imm(asm.R0, 0, short))
	g.intReg(e.Y)
	g.emit(test.Imm(asm.R0, 0, short))
	g.emit(asm.Mov.Imm(asm.R0, 1-result), asm.Ja.Label(end))
	g.mark(short)
	g.emit(asm.Mov.Imm(asm.R0, result))
	g.mark(end)
}

// strCompare compares two strings byte by byte, fully unrolled, the way
// bpftrace 0.17 does: over min(size) bytes, equal at the first common NUL.
func (g *gen) strCompare(e *ast.BinaryExpr) {
	x, y := e.X, e.Y
	if _, ok := x.(*ast.StringLit); ok {
		x, y = y, x
	}
	m := g.save()
	a := g.value(x)
	equal, differ, end := g.label(), g.label(), g.label()
	if lit, ok := y.(*ast.StringLit); ok {
		// Against a literal, compare with immediates and stop at its NUL.
		n := min(g.typeOf(x).Size, len(lit.Value)+1)
		for i := 0; i < n; i++ {
			var ch byte
			if i < len(lit.Value) {
				ch = lit.Value[i]
			}
			g.emit(asm.LoadMem(asm.R1, a.base, off16(a.off+i), asm.Byte))
			g.emit(asm.JNE.Imm(asm.R1, int32(ch), differ))
			if ch == 0 {
				break
			}
		}
	} else {
		b := g.value(y)
		n := min(g.typeOf(x).Size, g.typeOf(y).Size)
		for i := 0; i < n; i++ {
			g.emit(asm.LoadMem(asm.R1, a.base, off16(a.off+i), asm.Byte))
			g.emit(asm.LoadMem(asm.R2, b.base, off16(b.off+i), asm.Byte))
			g.emit(asm.JNE.Reg(asm.R1, asm.R2, differ))
			g.emit(asm.JEq.Imm(asm.R1, 0, equal))
		}
	}
	g.restore(m)
	eq, ne := int32(1), int32(0)
	if e.Op == "!=" {
		eq, ne = 0, 1
	}
	g.mark(equal)
	g.emit(asm.Mov.Imm(asm.R0, eq), asm.Ja.Label(end))
	g.mark(differ)
	g.emit(asm.Mov.Imm(asm.R0, ne))
	g.mark(end)
}
