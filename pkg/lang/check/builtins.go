package check

import (
	"strconv"
	"strings"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// kindSet is a set of probe kinds.
type kindSet []ast.ProbeKind

func (s kindSet) has(k ast.ProbeKind) bool {
	for _, x := range s {
		if x == k {
			return true
		}
	}
	return false
}

func (s kindSet) String() string {
	names := make([]string, len(s))
	for i, k := range s {
		names[i] = k.String()
	}
	return strings.Join(names, ", ")
}

// Probe kinds that provide a context with registers or a stack to walk.
var (
	regsKinds    = kindSet{ast.Kprobe, ast.Kretprobe, ast.Uprobe, ast.Uretprobe}
	argKinds     = kindSet{ast.Kprobe, ast.Uprobe, ast.RawTracepoint}
	retKinds     = kindSet{ast.Kretprobe, ast.Uretprobe}
	contextKinds = kindSet{ast.Tracepoint, ast.RawTracepoint, ast.Kprobe, ast.Kretprobe,
		ast.Uprobe, ast.Uretprobe, ast.Profile, ast.Interval}
)

// MaxArg is the highest argN builtin.
const MaxArg = 5

// requireKinds reports name if a probe of the current block is not in allowed.
func (c *checker) requireKinds(pos ast.Pos, name string, allowed kindSet) bool {
	for _, k := range c.kinds {
		if !allowed.has(k) {
			c.errorf(pos, "%s is not available in %s probes (only in %s)", name, k, allowed)
			return false
		}
	}
	return true
}

func (c *checker) builtin(e *ast.Builtin) program.Type {
	switch e.Name {
	case "pid", "tid", "uid", "gid", "nsecs", "elapsed", "cpu", "cgroup", "rand":
		return intType
	case "comm":
		return commType
	case "probe":
		return probeType
	case "retval":
		c.requireKinds(e.Pos(), e.Name, retKinds)
		return intType
	case "func":
		if !c.requireKinds(e.Pos(), e.Name, regsKinds) {
			return ksymType
		}
		return c.funcType(e.Pos())
	case "kstack":
		c.requireKinds(e.Pos(), e.Name, contextKinds)
		return kstackType
	case "ustack":
		c.requireKinds(e.Pos(), e.Name, contextKinds)
		return ustackType
	case "args":
		c.errorf(e.Pos(), "args can only be used with a field, e.g. args.filename")
		return unknownType
	}
	if n, ok := argIndex(e.Name); ok {
		if n > MaxArg {
			c.errorf(e.Pos(), "%s is out of range: only arg0 to arg%d are available", e.Name, MaxArg)
			return intType
		}
		c.requireKinds(e.Pos(), e.Name, argKinds)
		return intType
	}
	if unsupportedBuiltins[e.Name] {
		c.errorf(e.Pos(), "builtin %s is not supported by xtrace", e.Name)
		return unknownType
	}
	c.errorf(e.Pos(), "unknown builtin %s", e.Name)
	return unknownType
}

// unsupportedBuiltins are bpftrace builtins outside the language subset:
// curtask needs kernel struct types, cpid a child process, username user
// space lookups.
var unsupportedBuiltins = map[string]bool{"curtask": true, "cpid": true, "username": true}

// argIndex parses "argN".
func argIndex(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "arg")
	if !ok || rest == "" {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// funcType is the type of `func`: a kernel symbol in kprobes, a user
// symbol (address and pid) in uprobes.
func (c *checker) funcType(pos ast.Pos) program.Type {
	kernel, user := false, false
	for _, k := range c.kinds {
		if k == ast.Uprobe || k == ast.Uretprobe {
			user = true
		} else {
			kernel = true
		}
	}
	if kernel && user {
		c.errorf(pos, "func cannot be used in a block that mixes kernel and user probes")
	}
	if user {
		return usymType
	}
	return ksymType
}

// ---------------------------------------------------------------------------
// Calls

// aggregations maps each aggregation function to the map kind it creates
// and its argument count.
var aggregations = map[string]struct {
	kind  program.MapKind
	nargs int
}{
	"count": {program.Count, 0},
	"sum":   {program.Sum, 1},
	"avg":   {program.Avg, 1},
	"min":   {program.Min, 1},
	"max":   {program.Max, 1},
	"stats": {program.Stats, 1},
	"hist":  {program.Hist, 1},
	"lhist": {program.LHist, 4},
}

// maxLHistBuckets is bpftrace 0.17's limit on in-range lhist buckets.
const maxLHistBuckets = 1000

func (c *checker) call(e *ast.CallExpr) program.Type {
	switch e.Func {
	case "printf":
		c.printf(e)
		return voidType
	case "print":
		c.print(e)
		return voidType
	case "clear", "zero":
		c.clearZero(e)
		return voidType
	case "delete":
		c.delete(e)
		return voidType
	case "exit":
		c.arity(e, 0, 0)
		return voidType
	case "str":
		if c.arity(e, 1, 2) {
			c.intArg(e, 0)
			if len(e.Args) == 2 {
				c.intArg(e, 1)
			}
		}
		return stringType(c.info.StrLen)
	case "ksym":
		if c.arity(e, 1, 1) {
			c.intArg(e, 0)
		}
		return ksymType
	case "usym":
		if c.arity(e, 1, 1) {
			c.intArg(e, 0)
		}
		return usymType
	case "kstack", "ustack":
		if len(e.Args) > 0 {
			c.errorf(e.Pos(), "%s() takes no arguments: stack modes and limits are not supported", e.Func)
		}
		c.requireKinds(e.Pos(), e.Func, contextKinds)
		if e.Func == "kstack" {
			return kstackType
		}
		return ustackType
	}
	if _, ok := aggregations[e.Func]; ok {
		c.errorf(e.Pos(), "%s() can only be used as the whole right-hand side of a map assignment, e.g. @x = %s(...)", e.Func, e.Func)
		for _, a := range e.Args {
			c.expr(a)
		}
		return intType
	}
	c.errorf(e.Pos(), "unknown function %s()", e.Func)
	for _, a := range e.Args {
		c.expr(a)
	}
	return unknownType
}

// arity checks the argument count of e.
func (c *checker) arity(e *ast.CallExpr, min, max int) bool {
	n := len(e.Args)
	if n >= min && n <= max {
		return true
	}
	var want string
	switch {
	case min == 0 && max == 0:
		want = "no arguments"
	case min == max:
		want = plural(min, "argument")
	case n < min:
		want = "at least " + plural(min, "argument")
	default:
		want = "at most " + plural(max, "argument")
	}
	c.errorf(e.Pos(), "%s() takes %s, but %d given", e.Func, want, n)
	for _, a := range e.Args {
		c.expr(a)
	}
	return false
}

func (c *checker) intArg(e *ast.CallExpr, i int) {
	t := c.valueExpr(e.Args[i])
	if !isVoid(t) && !isInt(t) {
		c.errorf(e.Args[i].Pos(), "argument %d of %s() must be an integer, not %s", i+1, e.Func, an(t))
	}
}

func (c *checker) aggregate(lhs *ast.MapExpr, call *ast.CallExpr, agg struct {
	kind  program.MapKind
	nargs int
}) {
	if !c.arity(call, agg.nargs, agg.nargs) {
		c.useKeys(lhs)
		return
	}
	var arg program.Type = intType
	if agg.nargs > 0 {
		arg = c.valueExpr(call.Args[0])
		if !isVoid(arg) && !isInt(arg) {
			c.errorf(call.Args[0].Pos(), "%s() needs an integer, not %s", call.Func, an(arg))
		}
	}
	c.useKeys(lhs)
	m, ok := c.defineMap(lhs, agg.kind)
	if !ok {
		return
	}
	m.Value = intType
	switch agg.kind {
	case program.Sum, program.Min, program.Max, program.Avg, program.Stats:
		// Signedness follows the first call that knows its argument's type.
		if !m.signSet && !Unknown(arg) {
			m.signSet, m.Signed = true, arg.Signed
			c.changed = true
		}
	case program.LHist:
		c.lhistParams(m, call)
	}
	c.info.Types[lhs] = m.Value
	c.info.Types[call] = m.Value
}

// lhistParams checks lhist's literal min, max and step.
func (c *checker) lhistParams(m *MapInfo, call *ast.CallExpr) {
	var vals [3]int64
	for i := 0; i < 3; i++ {
		a := call.Args[i+1]
		v, ok := constInt(a)
		if !ok {
			c.errorf(a.Pos(), "lhist() needs integer literals for min, max and step")
			return
		}
		vals[i] = v
	}
	p := program.LHistParams{Min: vals[0], Max: vals[1], Step: vals[2]}
	switch {
	case p.Step <= 0:
		c.errorf(call.Args[3].Pos(), "lhist() step must be greater than 0")
		return
	case p.Max <= p.Min:
		c.errorf(call.Args[2].Pos(), "lhist() max must be greater than min")
		return
	case uint64(p.Max-p.Min)/uint64(p.Step) > maxLHistBuckets:
		c.errorf(call.Args[3].Pos(), "lhist() would have more than %d buckets: raise the step or narrow min..max", maxLHistBuckets)
		return
	}
	if m.LHist == (program.LHistParams{}) {
		m.LHist = p
		c.changed = true
	} else if m.LHist != p {
		c.errorf(call.Pos(), "%s is already an lhist(min %d, max %d, step %d); all lhist() calls on a map need the same parameters",
			m.Name, m.LHist.Min, m.LHist.Max, m.LHist.Step)
	}
}

// constInt evaluates an integer literal, possibly negated or parenthesised.
func constInt(e ast.Expr) (int64, bool) {
	switch e := e.(type) {
	case *ast.IntLit:
		return int64(e.Value), true
	case *ast.ParenExpr:
		return constInt(e.X)
	case *ast.UnaryExpr:
		if e.Op == "-" {
			v, ok := constInt(e.X)
			return -v, ok
		}
	}
	return 0, false
}

func (c *checker) printf(e *ast.CallExpr) {
	if len(e.Args) == 0 {
		c.errorf(e.Pos(), "printf() needs a format string")
		return
	}
	lit, ok := e.Args[0].(*ast.StringLit)
	if !ok {
		c.errorf(e.Args[0].Pos(), "the first argument of printf() must be a string literal")
		for _, a := range e.Args {
			c.expr(a)
		}
		return
	}
	c.expr(lit)
	verbs, err := ParseFormat(lit.Value)
	if err != nil {
		c.errorf(lit.Pos(), "printf: %v", err)
		for _, a := range e.Args[1:] {
			c.expr(a)
		}
		return
	}
	args := e.Args[1:]
	if len(verbs) != len(args) {
		c.errorf(e.Pos(), "printf: the format has %s but %s given", plural(len(verbs), "conversion"), plural(len(args), "argument"))
	}
	for i, a := range args {
		t := c.valueExpr(a)
		if i >= len(verbs) || isVoid(t) {
			continue
		}
		if t.Kind == program.Tuple {
			c.errorf(a.Pos(), "printf: a tuple cannot be printed with %s; print its elements one by one", verbs[i].Text)
			continue
		}
		if !verbAccepts(verbs[i].Conv, t) {
			want := "an integer"
			if verbs[i].Conv == 's' {
				want = "a string"
			}
			hint := ""
			if verbs[i].Conv == 's' && t.Kind == program.Int {
				hint = " (str() reads the string at an address)"
			}
			c.errorf(a.Pos(), "printf: %s needs %s, but argument %d is %s%s", verbs[i].Text, want, i+1, an(t), hint)
		}
	}
}

// IsMapPrint reports whether print(...) prints a whole map (print(@m)) rather
// than a single value.
func IsMapPrint(e *ast.CallExpr) bool {
	if len(e.Args) == 0 {
		return false
	}
	m, ok := e.Args[0].(*ast.MapExpr)
	return ok && m.Keys == nil
}

func (c *checker) print(e *ast.CallExpr) {
	if !c.arity(e, 1, 3) {
		return
	}
	if IsMapPrint(e) {
		c.mapUse(e.Args[0].(*ast.MapExpr))
		for i := 1; i < len(e.Args); i++ {
			c.intArg(e, i)
		}
		return
	}
	if len(e.Args) > 1 {
		c.errorf(e.Args[1].Pos(), "print() of a value takes no top or div arguments; they only apply to maps")
	}
	c.valueExpr(e.Args[0])
}

// mapUse records a whole-map use (print, clear, zero) of m.
func (c *checker) mapUse(m *ast.MapExpr) {
	if _, ok := c.usedMaps[m.Name]; !ok {
		c.usedMaps[m.Name] = m.Pos()
	}
	c.info.Types[m] = intType
}

func (c *checker) clearZero(e *ast.CallExpr) {
	if !c.arity(e, 1, 1) {
		return
	}
	m, ok := e.Args[0].(*ast.MapExpr)
	if !ok || m.Keys != nil {
		c.errorf(e.Args[0].Pos(), "%s() needs a whole map, e.g. %s(@x)", e.Func, e.Func)
		return
	}
	c.mapUse(m)
}

// DeleteTarget returns the map element that delete(...) removes: the
// argument of delete(@m[k]), or @m[k] assembled from delete(@m, k), where a
// tuple k supplies the keys of a multi-key map.
func DeleteTarget(e *ast.CallExpr) (*ast.MapExpr, bool) {
	if len(e.Args) == 0 {
		return nil, false
	}
	m, ok := e.Args[0].(*ast.MapExpr)
	if !ok {
		return nil, false
	}
	switch len(e.Args) {
	case 1:
		return m, true
	case 2:
		if m.Keys != nil {
			return nil, false
		}
		keys := []ast.Expr{e.Args[1]}
		if t, ok := e.Args[1].(*ast.TupleExpr); ok {
			keys = t.Elems
		}
		return &ast.MapExpr{Start: m.Start, Name: m.Name, Keys: keys}, true
	}
	return nil, false
}

func (c *checker) delete(e *ast.CallExpr) {
	if !c.arity(e, 1, 2) {
		return
	}
	target, ok := DeleteTarget(e)
	if !ok {
		c.errorf(e.Args[0].Pos(), "delete() needs a map element: delete(@m[key]) or delete(@m, key)")
		return
	}
	if _, ok := c.usedMaps[target.Name]; !ok {
		c.usedMaps[target.Name] = target.Pos()
	}
	c.useKeys(target)
	c.info.Types[e.Args[0]] = intType
	if m := c.info.Maps[target.Name]; m != nil && m.defined && (m.Kind == program.Hist || m.Kind == program.LHist) {
		c.errorf(e.Pos(), "delete() cannot remove one key of the %s() map %s; use clear(%s)", m.Kind, m.Name, m.Name)
	}
}
