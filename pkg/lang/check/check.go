// Package check is the semantic pass of the tracing language compiler.
//
// It runs on the client as well as on the node, so it needs no kernel: it
// gives every expression a type, works out what each map holds (its kind,
// key types and value type, which must agree across all uses), and rejects
// what bpftrace would reject — builtins used in probes that do not provide
// them, unknown functions, wrong arity, printf formats that do not fit their
// arguments, aggregations outside map assignments, bad lhist parameters.
//
// Tracepoint fields (args.F) can only be typed with the tracepoint's format,
// which only the node has. Without Options.Field they get an "unknown" type
// that is compatible with every use; codegen checks again with the real
// field types.
package check

import (
	"errors"
	"fmt"
	"sort"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/diag"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// ErrNoProgram is returned for a nil program or one without probes.
var ErrNoProgram = errors.New("program has no probes")

// Options tune the checker.
type Options struct {
	// StrLen is the size of the strings str() returns (default
	// DefaultStrLen, rounded up to a multiple of 8).
	StrLen int

	// Field types args.F in probe p. It returns an error (shown at the
	// field) when the field does not exist. Nil means the formats are not
	// known here, and fields get a type compatible with any use.
	Field func(p *ast.Probe, f *ast.FieldExpr) (program.Type, error)
}

// Info is what the checker learned about a program.
type Info struct {
	// Types holds the type of every expression that yields a value.
	Types map[ast.Expr]program.Type
	// Maps holds every user map by name ("@x", "@").
	Maps map[string]*MapInfo
	// Vars holds the scratch variables of each probe block by name.
	Vars map[*ast.Probe]map[string]program.Type
	// StrLen is the string size str() was typed with.
	StrLen int
	// FieldsResolved is true when args fields were typed from real
	// tracepoint formats (Options.Field was set).
	FieldsResolved bool
}

// MapInfo describes one user map.
type MapInfo struct {
	Name   string
	Kind   program.MapKind
	Keys   []program.Type // nil for a map used without keys
	Value  program.Type   // Kind Value: what is stored; aggregations: Int
	Signed bool           // aggregations of signed values
	LHist  program.LHistParams
	Pos    ast.Pos // where the map was first assigned

	keysSet bool
	keysPos ast.Pos
	defined bool
	signSet bool
}

// SortedMaps returns the maps ordered by name, the order bpftrace prints them.
func (in *Info) SortedMaps() []*MapInfo {
	out := make([]*MapInfo, 0, len(in.Maps))
	for _, m := range in.Maps {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Check checks prog with the default options.
func Check(prog *ast.Program) (*Info, error) {
	return CheckOptions(prog, Options{})
}

// maxPasses bounds the fixpoint iteration. Types only ever widen (strings
// grow, unknown becomes known), so a handful of passes always settles.
const maxPasses = 6

// CheckOptions checks prog. Errors come back as a diag.List.
func CheckOptions(prog *ast.Program, opts Options) (*Info, error) {
	if prog == nil || len(prog.Probes) == 0 {
		return nil, ErrNoProgram
	}
	if opts.StrLen <= 0 {
		opts.StrLen = DefaultStrLen
	}
	if opts.StrLen > MaxStrLen {
		opts.StrLen = MaxStrLen
	}
	c := &checker{
		file: prog.File,
		opts: opts,
		info: &Info{
			Maps:           map[string]*MapInfo{},
			Vars:           map[*ast.Probe]map[string]program.Type{},
			StrLen:         roundUp8(opts.StrLen),
			FieldsResolved: opts.Field != nil,
		},
	}
	if c.file == nil {
		c.file = ast.NewFile("", "")
	}
	// A map or variable may be read before (in source order) the
	// assignment that gives it its type, and strings widen as more
	// assignments are seen, so types are inferred by repeating silent
	// passes until nothing changes; the last pass reports errors.
	for pass := 0; pass < maxPasses; pass++ {
		c.changed = false
		c.walk(prog)
		if !c.changed {
			break
		}
	}
	c.report = true
	c.walk(prog)
	c.checkUndefinedMaps()
	if err := c.errs.Err(); err != nil {
		return nil, err
	}
	return c.info, nil
}

type checker struct {
	file *ast.File
	opts Options
	info *Info
	errs diag.List

	report  bool // record errors (only on the final pass)
	changed bool // a map or variable type changed during this pass

	probe    *ast.Probe
	kinds    []ast.ProbeKind
	vars     map[string]program.Type
	assigned map[string]bool // variables assigned so far in this pass, in order
	usedMaps map[string]ast.Pos
}

func (c *checker) errorf(pos ast.Pos, format string, args ...any) {
	if c.report {
		c.errs.Add(c.file, pos, format, args...)
	}
}

func (c *checker) walk(prog *ast.Program) {
	c.info.Types = map[ast.Expr]program.Type{}
	c.usedMaps = map[string]ast.Pos{}
	for _, p := range prog.Probes {
		c.probe = p
		c.kinds = c.kinds[:0]
		for _, ap := range p.Points {
			c.kinds = append(c.kinds, ap.Kind)
		}
		c.checkPoints(p)
		c.vars = c.info.Vars[p]
		if c.vars == nil {
			c.vars = map[string]program.Type{}
			c.info.Vars[p] = c.vars
		}
		c.assigned = map[string]bool{}
		if p.Predicate != nil {
			c.condition(p.Predicate, "predicate")
		}
		if p.Body != nil {
			c.block(p.Body)
		}
	}
}

// checkPoints rejects attach points that cannot work whatever the kernel.
func (c *checker) checkPoints(p *ast.Probe) {
	for _, ap := range p.Points {
		switch ap.Kind {
		case ast.BadProbe:
			c.errorf(ap.Pos(), "unknown probe type in %q", ap.Raw)
		case ast.Profile, ast.Interval:
			switch ap.Unit {
			case "hz", "s", "ms", "us":
			default:
				c.errorf(ap.Pos(), "%s: unknown unit %q (use hz, s, ms or us)", ap.Kind, ap.Unit)
			}
			if ap.Rate == 0 {
				c.errorf(ap.Pos(), "%s: the rate must be greater than 0", ap.Kind)
			}
		case ast.Tracepoint:
			if ap.Target == "" || ap.Func == "" {
				c.errorf(ap.Pos(), "tracepoint needs a category and a name, e.g. tracepoint:syscalls:sys_enter_openat")
			}
		case ast.RawTracepoint, ast.Kprobe, ast.Kretprobe:
			if ap.Func == "" {
				c.errorf(ap.Pos(), "%s needs a function or tracepoint name", ap.Kind)
			}
		case ast.Uprobe, ast.Uretprobe:
			if ap.Target == "" || ap.Func == "" {
				c.errorf(ap.Pos(), "%s needs a binary path and a symbol, e.g. %s:/bin/bash:readline", ap.Kind, ap.Kind)
			}
		}
	}
	if len(p.Points) > 1 {
		for _, ap := range p.Points {
			if ap.Kind == ast.Begin || ap.Kind == ast.End {
				c.errorf(ap.Pos(), "%s cannot share a block with other probes", ap.Kind)
			}
		}
	}
}

// checkUndefinedMaps reports maps that are read, printed or deleted but
// never assigned anywhere.
func (c *checker) checkUndefinedMaps() {
	for name, pos := range c.usedMaps {
		if m := c.info.Maps[name]; m == nil || !m.defined {
			c.errs.Add(c.file, pos, "map %s is used but never assigned", name)
		}
	}
}

// ---------------------------------------------------------------------------
// Statements

func (c *checker) block(b *ast.Block) {
	for _, s := range b.Stmts {
		c.stmt(s)
	}
}

func (c *checker) stmt(s ast.Stmt) {
	switch s := s.(type) {
	case *ast.Block:
		c.block(s)
	case *ast.ExprStmt:
		c.exprStmt(s)
	case *ast.AssignStmt:
		c.assign(s)
	case *ast.IncDecStmt:
		c.incDec(s.X, s.Pos())
	case *ast.IfStmt:
		c.condition(s.Cond, "if condition")
		c.block(s.Then)
		if s.Else != nil {
			c.stmt(s.Else)
		}
	case *ast.ReturnStmt:
	default:
		c.errorf(s.Pos(), "unsupported statement")
	}
}

func (c *checker) exprStmt(s *ast.ExprStmt) {
	if call, ok := s.X.(*ast.CallExpr); ok {
		if _, agg := aggregations[call.Func]; agg {
			c.errorf(call.Pos(), "%s() must be assigned to a map, e.g. @x = %s(...)", call.Func, call.Func)
			return
		}
	}
	c.expr(s.X)
}

// condition checks an expression used as a truth value.
func (c *checker) condition(e ast.Expr, what string) {
	t := c.expr(e)
	if !isVoid(t) && !isInt(t) {
		c.errorf(e.Pos(), "the %s must be an integer, not %s", what, an(t))
	}
}

func (c *checker) assign(s *ast.AssignStmt) {
	switch lhs := s.Lhs.(type) {
	case *ast.MapExpr:
		if call, ok := s.Rhs.(*ast.CallExpr); ok && s.Op == "=" {
			if agg, ok := aggregations[call.Func]; ok {
				c.aggregate(lhs, call, agg)
				return
			}
		}
		rt := c.valueExpr(s.Rhs)
		if s.Op != "=" {
			if !c.compound(s, rt) {
				c.useKeys(lhs)
				return
			}
			rt = intType
		}
		c.storeMap(lhs, rt, s.Rhs.Pos())
	case *ast.VarExpr:
		if call, ok := s.Rhs.(*ast.CallExpr); ok {
			if _, agg := aggregations[call.Func]; agg {
				c.errorf(call.Pos(), "%s() can only be assigned to a map, not to $%s", call.Func, lhs.Name)
				return
			}
		}
		rt := c.valueExpr(s.Rhs)
		if s.Op != "=" {
			if _, ok := c.vars[lhs.Name]; !ok || !c.assigned[lhs.Name] {
				c.errorf(lhs.Pos(), "variable $%s is used before it is assigned", lhs.Name)
			}
			c.compound(s, rt)
			rt = c.varType(lhs)
		}
		c.storeVar(lhs, rt, s.Rhs.Pos())
	default:
		c.errorf(s.Lhs.Pos(), "can only assign to a map (@x) or a variable ($x)")
		c.expr(s.Rhs)
	}
}

// compound checks the operands of `x op= y` and reports whether they are
// integers.
func (c *checker) compound(s *ast.AssignStmt, rt program.Type) bool {
	ok := true
	if !isInt(rt) {
		c.errorf(s.Rhs.Pos(), "%s needs an integer on the right, not %s", s.Op, an(rt))
		ok = false
	}
	var lt program.Type
	switch lhs := s.Lhs.(type) {
	case *ast.MapExpr:
		lt = c.mapValueForUpdate(lhs)
	case *ast.VarExpr:
		lt = c.vars[lhs.Name]
	}
	if !isInt(lt) {
		c.errorf(s.OpPos, "%s needs an integer on the left, not %s", s.Op, an(lt))
		ok = false
	}
	c.info.Types[s.Lhs] = lt
	return ok
}

func (c *checker) incDec(x ast.Expr, pos ast.Pos) {
	switch x := x.(type) {
	case *ast.MapExpr:
		t := c.mapValueForUpdate(x)
		if !isInt(t) {
			c.errorf(pos, "++ and -- need an integer map, but %s holds %s values", x.Name, describe(t))
		}
		c.storeMap(x, intType, pos)
		c.info.Types[x] = c.info.Maps[x.Name].Value
	case *ast.VarExpr:
		t, ok := c.vars[x.Name]
		if !ok || !c.assigned[x.Name] {
			c.errorf(x.Pos(), "variable $%s is used before it is assigned", x.Name)
			return
		}
		if !isInt(t) {
			c.errorf(pos, "++ and -- need an integer variable, but $%s is %s", x.Name, an(t))
		}
		c.info.Types[x] = t
	default:
		c.errorf(pos, "++ and -- need a map or a variable")
	}
}

// mapValueForUpdate returns the current value type of a map that is about
// to be read and written (++, +=): unknown when the map is new or holds an
// aggregation (storeMap then reports the conflict).
func (c *checker) mapValueForUpdate(x *ast.MapExpr) program.Type {
	m := c.info.Maps[x.Name]
	if m == nil || !m.defined {
		return unknownType
	}
	if m.Kind != program.Value {
		// defineMap reports the conflict when the update is recorded.
		return unknownType
	}
	return m.Value
}

// storeVar records an assignment to a scratch variable.
func (c *checker) storeVar(v *ast.VarExpr, t program.Type, pos ast.Pos) {
	if isVoid(t) {
		return
	}
	old, ok := c.vars[v.Name]
	switch {
	case !ok:
		c.vars[v.Name] = t
		c.changed = true
	case !compatible(old, t):
		c.errorf(pos, "cannot assign %s to $%s, which holds %s", an(t), v.Name, an(old))
	default:
		if nt := widen(old, t); !sameType(nt, old) {
			c.vars[v.Name] = nt
			c.changed = true
		}
	}
	c.assigned[v.Name] = true
	c.info.Types[v] = c.vars[v.Name]
}

func (c *checker) varType(v *ast.VarExpr) program.Type {
	t, ok := c.vars[v.Name]
	if !ok {
		return unknownType
	}
	return t
}

// mapFor returns the map named by x, creating it on first sight.
func (c *checker) mapFor(x *ast.MapExpr) *MapInfo {
	m := c.info.Maps[x.Name]
	if m == nil {
		m = &MapInfo{Name: x.Name, Pos: x.Pos()}
		c.info.Maps[x.Name] = m
		c.changed = true
	}
	return m
}

// defineMap gives a map its kind at its first assignment, or reports a
// conflicting later one.
func (c *checker) defineMap(x *ast.MapExpr, kind program.MapKind) (*MapInfo, bool) {
	m := c.mapFor(x)
	if !m.defined {
		m.defined, m.Kind, m.Pos = true, kind, x.Pos()
		c.changed = true
		return m, true
	}
	if m.Kind != kind {
		c.errorf(x.Pos(), "%s already holds %s (first assigned at %s); it cannot also hold %s",
			x.Name, kindPhrase(m.Kind), c.where(m.Pos), kindPhrase(kind))
		return m, false
	}
	return m, true
}

func kindPhrase(k program.MapKind) string {
	if k == program.Value {
		return "plain values"
	}
	return k.String() + "()"
}

func (c *checker) where(p ast.Pos) string {
	pos := c.file.Position(p)
	return fmt.Sprintf("%d:%d", pos.Line, pos.Column)
}

// storeMap records `@x[k] = v` (or an update) with a value of type t.
func (c *checker) storeMap(x *ast.MapExpr, t program.Type, pos ast.Pos) {
	c.useKeys(x)
	if isVoid(t) {
		return
	}
	m, ok := c.defineMap(x, program.Value)
	if !ok {
		return
	}
	if !compatible(m.Value, t) {
		c.errorf(pos, "cannot assign %s to %s, which holds %s values", an(t), x.Name, describe(m.Value))
		return
	}
	// The zero Type is the unknown type, so the first assignment simply
	// widens it to the assigned value's type.
	if nt := widen(m.Value, t); !sameType(nt, m.Value) {
		m.Value = nt
		m.Signed = nt.Signed
		c.changed = true
	}
	c.info.Types[x] = m.Value
}

// useKeys checks x's keys against the map's earlier uses and records them.
func (c *checker) useKeys(x *ast.MapExpr) {
	keys := make([]program.Type, len(x.Keys))
	for i, k := range x.Keys {
		keys[i] = c.valueExpr(k)
		if isVoid(keys[i]) {
			return
		}
	}
	if len(keys) == 0 {
		keys = nil
	}
	m := c.mapFor(x)
	if !m.keysSet {
		m.keysSet, m.Keys, m.keysPos = true, keys, x.Pos()
		c.changed = true
		return
	}
	if len(keys) != len(m.Keys) {
		c.errorf(x.Pos(), "%s is used with %s here but with %s at %s", x.Name,
			plural(len(keys), "key"), plural(len(m.Keys), "key"), c.where(m.keysPos))
		return
	}
	for i, k := range keys {
		if !compatible(m.Keys[i], k) {
			c.errorf(x.Keys[i].Pos(), "key %d of %s is %s here but %s at %s", i+1, x.Name,
				an(k), an(m.Keys[i]), c.where(m.keysPos))
			continue
		}
		if nk := widen(m.Keys[i], k); !sameType(nk, m.Keys[i]) {
			m.Keys[i] = nk
			c.changed = true
		}
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// ---------------------------------------------------------------------------
// Expressions

// valueExpr checks an expression whose value is used, rejecting calls that
// yield nothing.
func (c *checker) valueExpr(e ast.Expr) program.Type {
	t := c.expr(e)
	if isVoid(t) {
		if call, ok := e.(*ast.CallExpr); ok {
			c.errorf(e.Pos(), "%s() does not return a value", call.Func)
		} else {
			c.errorf(e.Pos(), "expression has no value")
		}
	}
	return t
}

// expr types e and records it in Info.Types.
func (c *checker) expr(e ast.Expr) program.Type {
	t := c.exprType(e)
	c.info.Types[e] = t
	return t
}

func (c *checker) exprType(e ast.Expr) program.Type {
	switch e := e.(type) {
	case *ast.IntLit:
		return sintType
	case *ast.StringLit:
		return stringType(len(e.Value) + 1)
	case *ast.Builtin:
		return c.builtin(e)
	case *ast.VarExpr:
		t, ok := c.vars[e.Name]
		if !ok || !c.assigned[e.Name] {
			c.errorf(e.Pos(), "variable $%s is used before it is assigned", e.Name)
			return unknownType
		}
		return t
	case *ast.MapExpr:
		return c.mapRead(e)
	case *ast.FieldExpr:
		return c.field(e)
	case *ast.CallExpr:
		return c.call(e)
	case *ast.UnaryExpr:
		return c.unary(e)
	case *ast.BinaryExpr:
		return c.binary(e)
	case *ast.TernaryExpr:
		return c.ternary(e)
	case *ast.TupleExpr:
		elems := make([]program.Type, len(e.Elems))
		for i, x := range e.Elems {
			// An unknown field stays unknown so the client does not reject
			// what the node, knowing the field, would accept.
			elems[i] = c.valueExpr(x)
			if isVoid(elems[i]) {
				elems[i] = intType
			}
		}
		return tupleType(elems)
	case *ast.ParenExpr:
		return c.expr(e.X)
	}
	c.errorf(e.Pos(), "unsupported expression")
	return unknownType
}

func (c *checker) mapRead(e *ast.MapExpr) program.Type {
	if _, ok := c.usedMaps[e.Name]; !ok {
		c.usedMaps[e.Name] = e.Pos()
	}
	c.useKeys(e)
	m := c.info.Maps[e.Name]
	if m == nil || !m.defined {
		return unknownType
	}
	if m.Kind != program.Value {
		c.errorf(e.Pos(), "%s holds %s() results, which can be printed but not read in a probe", e.Name, m.Kind)
		return intType
	}
	if m.Value.Kind == program.None {
		return unknownType
	}
	return m.Value
}

func (c *checker) field(e *ast.FieldExpr) program.Type {
	if b, ok := e.X.(*ast.Builtin); !ok || b.Name != "args" {
		c.errorf(e.Pos(), "fields can only be read from args, e.g. args.filename")
		return unknownType
	}
	for _, k := range c.kinds {
		if k != ast.Tracepoint {
			c.errorf(e.Pos(), "args is only available in tracepoint probes, not in %s probes", k)
			return unknownType
		}
	}
	if c.opts.Field == nil {
		return unknownType
	}
	t, err := c.opts.Field(c.probe, e)
	if err != nil {
		c.errorf(e.FPos, "%v", err)
		return unknownType
	}
	return t
}

func (c *checker) unary(e *ast.UnaryExpr) program.Type {
	switch e.Op {
	case "++", "--":
		c.incDec(e.X, e.Pos())
		if t, ok := c.info.Types[e.X]; ok && t.Kind == program.Int {
			return t
		}
		return intType
	case "-", "~", "!":
		t := c.valueExpr(e.X)
		if !isInt(t) {
			c.errorf(e.OpPos, "operator %s needs an integer, not %s", e.Op, an(t))
			return intType
		}
		if Unknown(t) {
			return intType
		}
		return t
	}
	c.errorf(e.OpPos, "unknown operator %s", e.Op)
	return intType
}

func (c *checker) binary(e *ast.BinaryExpr) program.Type {
	lt := c.valueExpr(e.X)
	rt := c.valueExpr(e.Y)
	if isVoid(lt) || isVoid(rt) {
		return intType
	}
	if e.Op == "==" || e.Op == "!=" {
		if lt.Kind == program.String && rt.Kind == program.String {
			return intType
		}
		if (isString(lt) && isString(rt)) || (isInt(lt) && isInt(rt)) {
			return intType
		}
		c.errorf(e.OpPos, "cannot compare %s with %s", an(lt), an(rt))
		return intType
	}
	if !isInt(lt) {
		c.errorf(e.X.Pos(), "operator %s needs integers, but its left operand is %s", e.Op, an(lt))
		return intType
	}
	if !isInt(rt) {
		c.errorf(e.Y.Pos(), "operator %s needs integers, but its right operand is %s", e.Op, an(rt))
		return intType
	}
	switch e.Op {
	case "+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "<", "<=", ">", ">=", "&&", "||":
	default:
		c.errorf(e.OpPos, "unknown operator %s", e.Op)
	}
	// bpftrace 0.17: the result is signed only if both operands are.
	if lt.Signed && rt.Signed {
		return sintType
	}
	return intType
}

func (c *checker) ternary(e *ast.TernaryExpr) program.Type {
	c.condition(e.Cond, "condition of ?:")
	xt := c.valueExpr(e.X)
	yt := c.valueExpr(e.Y)
	if isVoid(xt) || isVoid(yt) {
		return intType
	}
	if !compatible(xt, yt) {
		c.errorf(e.Y.Pos(), "both branches of ?: must have the same type, not %s and %s", describe(xt), describe(yt))
		return xt
	}
	if xt.Kind == program.Int && yt.Kind == program.Int {
		if xt.Signed && yt.Signed {
			return sintType
		}
		return intType
	}
	t := widen(xt, yt)
	if Unknown(t) {
		return intType
	}
	return t
}
