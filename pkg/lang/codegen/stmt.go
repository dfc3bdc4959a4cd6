package codegen

import (
	"sort"

	"github.com/cilium/ebpf/asm"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/check"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// body emits the whole program after the prologue: scope filter, scratch
// variables, predicate, statements, exit.
func (g *gen) body() {
	p := g.pt.probe
	// BEGIN and END run once, for the trace itself; an interval timer fires
	// in whatever task CPU 0 happens to run, so filtering it by the current
	// task would drop ticks at random. Every other probe fires in the
	// context of the task that caused the event, and only the target's
	// count. profile is scoped too: it samples only the target's tasks.
	if g.pt.kind != ast.Begin && g.pt.kind != ast.End && g.pt.kind != ast.Interval {
		g.scope()
	}
	// Scratch variables get a fixed, zeroed slot each, so a variable read
	// on a path that did not assign it reads zero rather than upsetting
	// the verifier with uninitialised stack.
	vars := g.c.info.Vars[p]
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		l := g.alloc(vars[name].Size)
		g.zero(l, vars[name].Size)
		g.vars[name] = l
	}
	if p.Predicate != nil {
		m := g.save()
		g.intReg(p.Predicate)
		g.restore(m)
		g.emit(asm.JEq.Imm(asm.R0, 0, g.ret))
	}
	if p.Body != nil {
		g.block(p.Body)
	}
	g.mark(g.ret)
	g.emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
}

// scope emits the target filter: events that do not belong to the target
// end the program at once.
func (g *gen) scope() {
	s := g.c.opts.Scope
	switch s.Mode {
	case program.ScopeCgroup:
		in := g.label()
		for _, cg := range s.Cgroups() {
			if cg.Level >= 0 {
				g.emit(asm.Mov.Imm(asm.R1, int32(cg.Level)))
				g.call(asm.FnGetCurrentAncestorCgroupId)
			} else {
				g.call(asm.FnGetCurrentCgroupId)
			}
			g.movImm(asm.R1, int64(cg.ID))
			g.emit(asm.JEq.Reg(asm.R0, asm.R1, in))
		}
		g.emit(asm.Ja.Label(g.ret))
		g.mark(in)
	case program.ScopePid:
		g.call(asm.FnGetCurrentPidTgid)
		g.emit(asm.RSh.Imm(asm.R0, 32))
		g.movImm(asm.R1, int64(s.Pid))
		g.emit(asm.JNE.Reg(asm.R0, asm.R1, g.ret))
	case program.ScopePidNS:
		// bpf_get_ns_current_pid_tgid succeeds only when the task is in
		// the pid namespace named by dev and ino.
		m := g.save()
		nsdata := g.alloc(8)
		in := g.label()
		for _, ns := range s.PidNamespaces {
			g.zero(nsdata, 8)
			g.movImm(asm.R1, int64(ns.Dev))
			g.movImm(asm.R2, int64(ns.Ino))
			g.addr(asm.R3, nsdata)
			g.emit(asm.Mov.Imm(asm.R4, 8))
			g.call(asm.FnGetNsCurrentPidTgid)
			g.emit(asm.JEq.Imm(asm.R0, 0, in))
		}
		g.emit(asm.Ja.Label(g.ret))
		g.mark(in)
		g.restore(m)
	}
}

// block emits b's statements and reports whether control never falls out
// of it (it always ends in return or exit). Statements after such an end
// are dead and not emitted: the verifier rejects unreachable instructions.
func (g *gen) block(b *ast.Block) bool {
	for _, s := range b.Stmts {
		m := g.save()
		done := g.stmt(s)
		g.restore(m)
		if done {
			return true
		}
	}
	return false
}

// stmt emits s and reports whether control never falls out of it.
func (g *gen) stmt(s ast.Stmt) bool {
	switch s := s.(type) {
	case *ast.Block:
		return g.block(s)
	case *ast.ExprStmt:
		return g.exprStmt(s.X)
	case *ast.AssignStmt:
		g.assign(s)
	case *ast.IncDecStmt:
		g.incDec(s.X, s.Inc, !s.Prefix)
	case *ast.IfStmt:
		g.intReg(s.Cond)
		other, end := g.label(), g.label()
		g.emit(asm.JEq.Imm(asm.R0, 0, other))
		thenDone := g.block(s.Then)
		if s.Else != nil && !thenDone {
			g.emit(asm.Ja.Label(end))
		}
		g.mark(other)
		if s.Else == nil {
			return false
		}
		m := g.save()
		elseDone := g.stmt(s.Else)
		g.restore(m)
		if !thenDone {
			g.mark(end)
		}
		return thenDone && elseDone
	case *ast.ReturnStmt:
		g.emit(asm.Ja.Label(g.ret))
		return true
	default:
		g.internal(s.Pos(), "unsupported statement %T", s)
	}
	return false
}

// exprStmt evaluates an expression for its effect; it reports whether the
// expression was exit().
func (g *gen) exprStmt(e ast.Expr) bool {
	if call, ok := e.(*ast.CallExpr); ok {
		switch call.Func {
		case "printf":
			g.printf(call)
			return false
		case "print":
			g.print(call)
			return false
		case "clear", "zero":
			g.clearZero(call)
			return false
		case "delete":
			g.delete(call)
			return false
		case "exit":
			g.event(program.EventExit)
			g.emit(asm.Ja.Label(g.ret))
			return true
		}
	}
	if isScalar(g.typeOf(e)) {
		g.intReg(e)
		return false
	}
	g.value(e)
	return false
}

// compoundOps maps `op=` to the ALU operation.
var compoundOps = map[string]string{"+=": "+", "-=": "-", "*=": "*", "/=": "/", "%=": "%",
	"&=": "&", "|=": "|", "^=": "^", "<<=": "<<", ">>=": ">>"}

func (g *gen) assign(s *ast.AssignStmt) {
	switch lhs := s.Lhs.(type) {
	case *ast.MapExpr:
		um := g.c.maps[lhs.Name]
		if um.info.Kind != program.Value {
			g.aggregate(um, lhs, s.Rhs.(*ast.CallExpr))
			return
		}
		if s.Op != "=" {
			g.mapCompound(um, lhs, aluOps[compoundOps[s.Op]], s.Rhs)
			return
		}
		val := g.alloc(um.info.Value.Size)
		g.evalAs(s.Rhs, val, um.info.Value)
		key := g.key(um, lhs.Keys, 0)
		g.update(um, key, val)
	case *ast.VarExpr:
		v := g.vars[lhs.Name]
		if s.Op != "=" {
			g.intReg(s.Rhs)
			g.emit(asm.Mov.Reg(asm.R2, asm.R0))
			g.load(asm.R1, v)
			g.emit(aluOps[compoundOps[s.Op]].Reg(asm.R1, asm.R2))
			g.store(v, asm.R1)
			return
		}
		vt := g.c.info.Vars[g.pt.probe][lhs.Name]
		if isScalar(vt) {
			g.intReg(s.Rhs)
			g.store(v, asm.R0)
			return
		}
		// Evaluate into a temporary first: the right-hand side may read
		// the variable it is about to overwrite.
		tmp := g.alloc(vt.Size)
		g.evalAs(s.Rhs, tmp, vt)
		g.copy(v, tmp, vt.Size)
	}
}

// mapCompound emits `@m[k] op= rhs`: read (missing reads 0), modify, write.
func (g *gen) mapCompound(um *userMap, lhs *ast.MapExpr, op asm.ALUOp, rhs ast.Expr) {
	val := g.alloc(8)
	g.intReg(rhs)
	g.store(val, asm.R0)
	key := g.key(um, lhs.Keys, 0)
	g.lookup(um, key)
	g.loadOrZero(asm.R1)
	g.load(asm.R2, val)
	g.emit(op.Reg(asm.R1, asm.R2))
	g.store(val, asm.R1)
	g.update(um, key, val)
}

// loadOrZero loads the u64 R0 points at into r, or 0 when R0 is NULL.
func (g *gen) loadOrZero(r asm.Register) {
	missing := g.label()
	g.emit(asm.Mov.Imm(r, 0), asm.JEq.Imm(asm.R0, 0, missing))
	g.emit(asm.LoadMem(r, asm.R0, 0, asm.DWord))
	g.mark(missing)
}

// incDec emits ++/-- on a variable or map; R0 ends up holding the old value
// (postfix) or the new one (prefix).
func (g *gen) incDec(x ast.Expr, inc, postfix bool) {
	delta := int32(1)
	if !inc {
		delta = -1
	}
	switch x := x.(type) {
	case *ast.VarExpr:
		v := g.vars[x.Name]
		g.load(asm.R0, v)
		g.emit(asm.Mov.Reg(asm.R1, asm.R0), asm.Add.Imm(asm.R1, delta))
		g.store(v, asm.R1)
		if !postfix {
			g.emit(asm.Mov.Reg(asm.R0, asm.R1))
		}
	case *ast.MapExpr:
		um := g.c.maps[x.Name]
		m := g.save()
		key := g.key(um, x.Keys, 0)
		g.lookup(um, key)
		g.loadOrZero(asm.R1)
		g.emit(asm.Mov.Reg(asm.R7, asm.R1), asm.Add.Imm(asm.R1, delta), asm.Mov.Reg(asm.R8, asm.R1))
		val := g.alloc(8)
		g.store(val, asm.R1)
		g.update(um, key, val)
		g.restore(m)
		if postfix {
			g.emit(asm.Mov.Reg(asm.R0, asm.R7))
		} else {
			g.emit(asm.Mov.Reg(asm.R0, asm.R8))
		}
	default:
		g.internal(x.Pos(), "++/-- on %T", x)
	}
}

// key builds the key of map um for the key expressions keys, with extra
// zeroed bytes after it (the hist/lhist bucket).
func (g *gen) key(um *userMap, keys []ast.Expr, extra int) loc {
	size := um.keySize + extra
	k := g.alloc(size)
	g.zero(k, size)
	off := 0
	for i, e := range keys {
		kt := um.info.Keys[i]
		g.evalAs(e, k.plus(off), kt)
		off += kt.Size
	}
	return k
}

// lookup leaves in R0 a pointer to the value at key, or NULL.
func (g *gen) lookup(um *userMap, key loc) {
	g.mapPtr(asm.R1, um.bpfName)
	g.addr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
}

// update writes val at key (BPF_ANY).
func (g *gen) update(um *userMap, key, val loc) {
	g.mapPtr(asm.R1, um.bpfName)
	g.addr(asm.R2, key)
	g.addr(asm.R3, val)
	g.emit(asm.Mov.Imm(asm.R4, 0))
	g.call(asm.FnMapUpdateElem)
}

// aggregate emits `@m[k] = agg(...)` with the value layouts of package
// program. The maps are per-CPU, so updating through the looked-up pointer
// needs no atomics.
func (g *gen) aggregate(um *userMap, lhs *ast.MapExpr, call *ast.CallExpr) {
	var arg loc
	if len(call.Args) > 0 {
		arg = g.alloc(8)
		g.intReg(call.Args[0])
		g.store(arg, asm.R0)
	}
	switch um.info.Kind {
	case program.Count:
		g.addTo(um, g.key(um, lhs.Keys, 0), nil)
	case program.Sum:
		g.addTo(um, g.key(um, lhs.Keys, 0), &arg)
	case program.Hist, program.LHist:
		key := g.key(um, lhs.Keys, 8)
		g.load(asm.R1, arg)
		if um.info.Kind == program.Hist {
			g.log2Bucket()
		} else {
			g.linearBucket(um.info.LHist)
		}
		g.store(key.plus(um.keySize), asm.R0)
		g.addTo(um, key, nil)
	case program.Min, program.Max:
		g.minMax(um, g.key(um, lhs.Keys, 0), arg)
	case program.Avg, program.Stats:
		g.avg(um, g.key(um, lhs.Keys, 0), arg)
	}
}

// addTo adds *arg (or 1 when arg is nil) to the u64 at key.
func (g *gen) addTo(um *userMap, key loc, arg *loc) {
	g.lookup(um, key)
	fresh, end := g.label(), g.label()
	g.emit(asm.JEq.Imm(asm.R0, 0, fresh))
	g.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord))
	if arg != nil {
		g.load(asm.R2, *arg)
		g.emit(asm.Add.Reg(asm.R1, asm.R2))
	} else {
		g.emit(asm.Add.Imm(asm.R1, 1))
	}
	g.emit(asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord), asm.Ja.Label(end))
	g.mark(fresh)
	val := g.alloc(8)
	if arg != nil {
		g.copy(val, *arg, 8)
	} else {
		g.storeImm(val, 1)
	}
	g.update(um, key, val)
	g.mark(end)
}

// minMax keeps {i64 value; u64 isset}: a slot whose isset is 0 (new, or
// reset by zero()) takes the value unconditionally.
func (g *gen) minMax(um *userMap, key, arg loc) {
	g.lookup(um, key)
	fresh, set, end := g.label(), g.label(), g.label()
	g.emit(asm.JEq.Imm(asm.R0, 0, fresh))
	g.emit(asm.LoadMem(asm.R3, asm.R0, 8, asm.DWord))
	g.emit(asm.JEq.Imm(asm.R3, 0, set))
	g.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord))
	g.load(asm.R2, arg)
	// Keep the old value when it already wins.
	keep := asm.JGE // max: old >= new
	if um.info.Kind == program.Min {
		keep = asm.JLE
	}
	if um.info.Signed {
		keep = map[asm.JumpOp]asm.JumpOp{asm.JGE: asm.JSGE, asm.JLE: asm.JSLE}[keep]
	}
	g.emit(keep.Reg(asm.R1, asm.R2, end))
	g.mark(set)
	g.load(asm.R2, arg)
	g.emit(asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord))
	g.emit(stImm64(asm.R0, 8, 1))
	g.emit(asm.Ja.Label(end))
	g.mark(fresh)
	val := g.alloc(16)
	g.copy(val, arg, 8)
	g.storeImm(val.plus(8), 1)
	g.update(um, key, val)
	g.mark(end)
}

// avg keeps {i64 count; i64 total} for avg() and stats().
func (g *gen) avg(um *userMap, key, arg loc) {
	g.lookup(um, key)
	fresh, end := g.label(), g.label()
	g.emit(asm.JEq.Imm(asm.R0, 0, fresh))
	g.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord), asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord))
	g.emit(asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord))
	g.load(asm.R2, arg)
	g.emit(asm.Add.Reg(asm.R1, asm.R2), asm.StoreMem(asm.R0, 8, asm.R1, asm.DWord), asm.Ja.Label(end))
	g.mark(fresh)
	val := g.alloc(16)
	g.storeImm(val, 1)
	g.copy(val.plus(8), arg, 8)
	g.update(um, key, val)
	g.mark(end)
}

// log2Bucket computes hist()'s bucket of the value in R1 into R0: 0 for
// negative values, 1 for 0, else 2 + floor(log2 v) with the full 64-bit
// search (six halving steps), unlike bpftrace 0.17's saturation at 2^32.
func (g *gen) log2Bucket() {
	end := g.label()
	g.emit(asm.Mov.Imm(asm.R0, 0), asm.JSLT.Imm(asm.R1, 0, end))
	g.emit(asm.Mov.Imm(asm.R0, 1), asm.JEq.Imm(asm.R1, 0, end))
	g.emit(asm.Mov.Imm(asm.R0, 2))
	for i := 5; i >= 0; i-- {
		shift := int32(1) << i
		skip := g.label()
		if i == 5 {
			g.movImm(asm.R2, 1<<32)
			g.emit(asm.JLT.Reg(asm.R1, asm.R2, skip))
		} else {
			g.emit(asm.JLT.Imm(asm.R1, int32(1)<<shift, skip))
		}
		g.emit(asm.RSh.Imm(asm.R1, shift), asm.Add.Imm(asm.R0, shift))
		g.mark(skip)
	}
	g.mark(end)
}

// linearBucket computes lhist()'s bucket of the value in R1 into R0 (notes
// §1.7): 0 below min, 1 + (max-min)/step from max on, else 1 + (v-min)/step.
func (g *gen) linearBucket(p program.LHistParams) {
	end := g.label()
	g.movImm(asm.R2, p.Min)
	g.emit(asm.Mov.Imm(asm.R0, 0), asm.JSLT.Reg(asm.R1, asm.R2, end))
	g.movImm(asm.R3, p.Max)
	g.movImm(asm.R0, 1+int64(uint64(p.Max-p.Min)/uint64(p.Step)))
	g.emit(asm.JSGT.Reg(asm.R1, asm.R3, end))
	g.emit(asm.Sub.Reg(asm.R1, asm.R2))
	g.movImm(asm.R2, p.Step)
	g.emit(asm.Div.Reg(asm.R1, asm.R2), asm.Add.Imm(asm.R1, 1), asm.Mov.Reg(asm.R0, asm.R1))
	g.mark(end)
}

// Ring buffer flags and query (linux/bpf.h).
const (
	ringbufAvailData     = 0 // BPF_RB_AVAIL_DATA
	ringbufNoWakeup      = 1 // BPF_RB_NO_WAKEUP
	ringbufForceWakeup   = 2 // BPF_RB_FORCE_WAKEUP
	ringbufWakeupBacklog = 64 << 10
)

// output sends size bytes at rec to the ring buffer, and counts the event
// as lost in LostMapName when the buffer is full.
//
// Waking the reader for every event costs the traced workload more than
// the event itself (measured here: 0.30 of the untraced rate against 0.70),
// so an event wakes the reader only once 64 KiB are pending; the runner
// polls for the rest at least every 20 ms.
func (g *gen) output(rec loc, size int) {
	g.c.usesOutput = true
	g.mapPtr(asm.R1, OutputMapName)
	g.emit(asm.Mov.Imm(asm.R2, ringbufAvailData))
	g.call(asm.FnRingbufQuery)
	quiet := g.label()
	g.emit(asm.Mov.Imm(asm.R4, ringbufNoWakeup))
	g.emit(asm.JLT.Imm(asm.R0, ringbufWakeupBacklog, quiet))
	g.emit(asm.Mov.Imm(asm.R4, ringbufForceWakeup))
	g.mark(quiet)
	g.mapPtr(asm.R1, OutputMapName)
	g.addr(asm.R2, rec)
	g.emit(asm.Mov.Imm(asm.R3, int32(size)))
	g.call(asm.FnRingbufOutput)

	done := g.label()
	g.emit(asm.JEq.Imm(asm.R0, 0, done))
	m := g.save()
	key := g.alloc(8)
	g.storeImm(key, 0)
	g.mapPtr(asm.R1, LostMapName)
	g.addr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.restore(m)
	g.emit(asm.JEq.Imm(asm.R0, 0, done))
	g.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord))
	g.emit(asm.Add.Imm(asm.R1, 1))
	g.emit(asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord))
	g.mark(done)
}

// event sends an event made of its id and the given u64 words.
func (g *gen) event(id uint64, words ...ast.Expr) {
	g.eventWords(id, len(words), func(i int, dst loc) {
		g.intReg(words[i])
		g.store(dst, asm.R0)
	})
}

func (g *gen) eventWords(id uint64, n int, word func(i int, dst loc)) {
	m := g.save()
	rec := g.alloc(8 * (n + 1))
	g.movImm(asm.R1, int64(id))
	g.store(rec, asm.R1)
	for i := 0; i < n; i++ {
		word(i, rec.plus(8*(i+1)))
	}
	g.output(rec, 8*(n+1))
	g.restore(m)
}

// printfID returns the event id of a printf call site (or synthesised
// print), registering it once however many programs the site appears in.
func (g *gen) printfID(call *ast.CallExpr, format string, args []program.Type) uint64 {
	if id, ok := g.c.printfIDs[call]; ok {
		return id
	}
	id := uint64(len(g.c.spec.Printfs))
	g.c.spec.Printfs = append(g.c.spec.Printfs, program.Printf{Format: format, Args: args, Pos: call.Pos()})
	if g.c.printfIDs == nil {
		g.c.printfIDs = map[*ast.CallExpr]uint64{}
	}
	g.c.printfIDs[call] = id
	return id
}

func (g *gen) printf(call *ast.CallExpr) {
	args := call.Args[1:]
	types := make([]program.Type, len(args))
	size := 8
	for i, a := range args {
		types[i] = g.typeOf(a)
		size += types[i].Size
	}
	id := g.printfID(call, call.Args[0].(*ast.StringLit).Value, types)
	g.record(id, size, func(rec loc) {
		off := 8
		for i, a := range args {
			g.eval(a, rec.plus(off))
			off += types[i].Size
		}
	})
}

// record builds a zeroed event of size bytes starting with id, lets fill
// write the rest, and sends it.
func (g *gen) record(id uint64, size int, fill func(rec loc)) {
	m := g.save()
	rec := g.alloc(size)
	g.zero(rec, size)
	g.movImm(asm.R1, int64(id))
	g.store(rec, asm.R1)
	fill(rec)
	g.output(rec, size)
	g.restore(m)
}

func (g *gen) print(call *ast.CallExpr) {
	if !check.IsMapPrint(call) {
		// print(value) is a printf with a synthesised format.
		t := g.typeOf(call.Args[0])
		id := g.printfID(call, check.PrintFormat(t), check.FlattenTuple(t))
		g.record(id, 8+t.Size, func(rec loc) { g.eval(call.Args[0], rec.plus(8)) })
		return
	}
	um := g.c.maps[call.Args[0].(*ast.MapExpr).Name]
	g.eventWords(program.EventPrint, 3, func(i int, dst loc) {
		switch {
		case i == 0:
			g.movImm(asm.R0, int64(um.index))
			g.store(dst, asm.R0)
		case i < len(call.Args):
			g.intReg(call.Args[i])
			g.store(dst, asm.R0)
		default:
			g.storeImm(dst, 0)
		}
	})
}

func (g *gen) clearZero(call *ast.CallExpr) {
	um := g.c.maps[call.Args[0].(*ast.MapExpr).Name]
	id := program.EventClear
	if call.Func == "zero" {
		id = program.EventZero
	}
	g.eventWords(id, 1, func(_ int, dst loc) {
		g.movImm(asm.R0, int64(um.index))
		g.store(dst, asm.R0)
	})
}

func (g *gen) delete(call *ast.CallExpr) {
	target, _ := check.DeleteTarget(call)
	um := g.c.maps[target.Name]
	key := g.key(um, target.Keys, 0)
	g.mapPtr(asm.R1, um.bpfName)
	g.addr(asm.R2, key)
	g.call(asm.FnMapDeleteElem)
}
