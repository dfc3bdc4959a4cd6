// Package ast declares the syntax tree of the xtrace tracing language, a
// subset of bpftrace's language.
//
// The tree is plain data: the parser builds it, and each later pass (the
// checker in package check, the code generator in package codegen) walks it
// with Inspect and records what it learns in side tables rather than in the
// nodes, the way go/types does for go/ast.
package ast

// Pos is a byte offset into the program source. Offsets are turned into
// line:column only when an error is printed (see File.Position), which keeps
// every node small.
type Pos int

// NoPos marks a node that has no place in the source, such as a probe that a
// wildcard expanded into.
const NoPos Pos = -1

// Node is implemented by every syntax tree node.
type Node interface {
	Pos() Pos // the offset of the node's first character
}

// Expr is a node that yields a value.
type Expr interface {
	Node
	exprNode()
}

// Stmt is a node that performs an action.
type Stmt interface {
	Node
	stmtNode()
}

// Program is a whole source file: a list of probe blocks.
type Program struct {
	File   *File
	Probes []*Probe
}

// Probe is one block: one or more attach points sharing an optional
// predicate and a body.
//
//	tracepoint:syscalls:sys_enter_openat, t:syscalls:sys_enter_open /pid == 42/ { ... }
type Probe struct {
	Start     Pos
	Points    []*AttachPoint
	Predicate Expr // nil when there is no /predicate/
	Body      *Block
}

func (p *Probe) Pos() Pos { return p.Start }

// ProbeKind says which kernel or user-space mechanism an attach point uses.
type ProbeKind int

const (
	BadProbe ProbeKind = iota
	Begin
	End
	Tracepoint
	RawTracepoint
	Kprobe
	Kretprobe
	Uprobe
	Uretprobe
	Profile
	Interval
)

var probeKindNames = [...]string{
	BadProbe:      "invalid",
	Begin:         "BEGIN",
	End:           "END",
	Tracepoint:    "tracepoint",
	RawTracepoint: "rawtracepoint",
	Kprobe:        "kprobe",
	Kretprobe:     "kretprobe",
	Uprobe:        "uprobe",
	Uretprobe:     "uretprobe",
	Profile:       "profile",
	Interval:      "interval",
}

func (k ProbeKind) String() string {
	if int(k) < len(probeKindNames) {
		return probeKindNames[k]
	}
	return "invalid"
}

// AttachPoint is one probe specification such as `kprobe:vfs_read` or
// `profile:hz:99`. The parser normalises short forms (`t:`, `k:`, `kr:`,
// `u:`, `ur:`, `p:`, `i:`) and `begin`/`end` to their ProbeKind, and keeps the
// text as written in Raw for messages.
//
// Which fields are set depends on Kind:
//
//	Tracepoint     Target = category, Func = event name (either may hold * or ? wildcards)
//	RawTracepoint  Func = tracepoint name
//	Kprobe/Kretprobe Func = kernel function (may hold wildcards)
//	Uprobe/Uretprobe Target = binary or library path, Func = symbol
//	Profile/Interval Unit = "hz", "s", "ms", "us"; Rate = N
type AttachPoint struct {
	Start  Pos
	Kind   ProbeKind
	Raw    string
	Target string
	Func   string
	Unit   string
	Rate   uint64
}

func (a *AttachPoint) Pos() Pos { return a.Start }

// Name returns the canonical long form, the value of the `probe` builtin,
// e.g. "tracepoint:syscalls:sys_enter_openat", "profile:hz:99", "BEGIN".
func (a *AttachPoint) Name() string {
	switch a.Kind {
	case Begin, End:
		return a.Kind.String()
	case Tracepoint:
		return "tracepoint:" + a.Target + ":" + a.Func
	case RawTracepoint:
		return "rawtracepoint:" + a.Func
	case Kprobe, Kretprobe:
		return a.Kind.String() + ":" + a.Func
	case Uprobe, Uretprobe:
		return a.Kind.String() + ":" + a.Target + ":" + a.Func
	case Profile, Interval:
		return a.Kind.String() + ":" + a.Unit + ":" + uitoa(a.Rate)
	}
	return a.Raw
}

func uitoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

// ---------------------------------------------------------------------------
// Statements

// Block is a brace-delimited list of statements.
type Block struct {
	Lbrace Pos
	Stmts  []Stmt
}

// ExprStmt is an expression evaluated for its effect: a call such as
// printf(...), exit(), or an aggregation assignment written as a call.
type ExprStmt struct {
	X Expr
}

// AssignStmt is `lhs = rhs` or a compound `lhs op= rhs`. Op is "=" or one of
// "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=".
// Lhs is a *MapExpr or a *VarExpr.
type AssignStmt struct {
	Lhs   Expr
	OpPos Pos
	Op    string
	Rhs   Expr
}

// IncDecStmt is `x++`, `x--`, `++x` or `--x` used as a statement.
type IncDecStmt struct {
	X      Expr // *MapExpr or *VarExpr
	OpPos  Pos
	Inc    bool // true for ++
	Prefix bool
}

// IfStmt is `if (cond) { ... } else { ... }`; Else is nil, a *Block, or an
// *IfStmt for `else if`.
type IfStmt struct {
	If   Pos
	Cond Expr
	Then *Block
	Else Stmt
}

// ReturnStmt is `return;`: it ends the probe's program for this event.
type ReturnStmt struct {
	Return Pos
}

func (s *Block) Pos() Pos      { return s.Lbrace }
func (s *ExprStmt) Pos() Pos   { return s.X.Pos() }
func (s *AssignStmt) Pos() Pos { return s.Lhs.Pos() }
func (s *IncDecStmt) Pos() Pos {
	if s.Prefix {
		return s.OpPos
	}
	return s.X.Pos()
}
func (s *IfStmt) Pos() Pos     { return s.If }
func (s *ReturnStmt) Pos() Pos { return s.Return }

func (*Block) stmtNode()      {}
func (*ExprStmt) stmtNode()   {}
func (*AssignStmt) stmtNode() {}
func (*IncDecStmt) stmtNode() {}
func (*IfStmt) stmtNode()     {}
func (*ReturnStmt) stmtNode() {}

// ---------------------------------------------------------------------------
// Expressions

// IntLit is an integer literal. Decimal, 0x hex and 0 octal forms are
// accepted; Value holds the bits, and literals are signed 64-bit as in bpftrace.
type IntLit struct {
	Start Pos
	Raw   string
	Value uint64
}

// StringLit is a double-quoted string with escapes already decoded
// (\n \t \" \\ \xHH \NNN).
type StringLit struct {
	Start Pos
	Value string
}

// Builtin is a builtin variable: pid tid uid gid comm nsecs elapsed cpu
// cgroup retval arg0..arg5 probe func kstack ustack rand, and `args` (only as
// the operand of a FieldExpr).
type Builtin struct {
	Start Pos
	Name  string
}

// VarExpr is a scratch variable `$name`; Name excludes the `$`.
type VarExpr struct {
	Start Pos
	Name  string
}

// MapExpr is a map `@name`, `@name[k]`, `@name[k1, k2]` or the anonymous `@`.
// Name includes the `@` ("@" for the anonymous map). Keys is nil when the
// map is used without brackets.
type MapExpr struct {
	Start Pos
	Name  string
	Keys  []Expr
}

// FieldExpr is `args.F` or `args->F`.
type FieldExpr struct {
	X     Expr // always the `args` *Builtin in this subset
	Arrow bool
	Field string
	FPos  Pos
}

// CallExpr is a function call: printf, print, clear, zero, delete, exit,
// count, sum, avg, min, max, stats, hist, lhist, str, ksym, usym, kstack,
// ustack, and friends. The checker decides what is valid where.
type CallExpr struct {
	Start  Pos // the function name
	Func   string
	Args   []Expr
	Rparen Pos
}

// UnaryExpr is `-x`, `!x`, `~x`, or pre/post increment used as an
// expression (Op "++"/"--" with Postfix telling which).
type UnaryExpr struct {
	OpPos   Pos
	Op      string
	X       Expr
	Postfix bool
}

// BinaryExpr is `x op y` for the C operators
// * / % + - << >> < <= > >= == != & ^ | && ||.
type BinaryExpr struct {
	X     Expr
	OpPos Pos
	Op    string
	Y     Expr
}

// TernaryExpr is `cond ? x : y`.
type TernaryExpr struct {
	Cond Expr
	X    Expr
	Y    Expr
}

// TupleExpr is `(a, b, ...)` with at least two elements.
type TupleExpr struct {
	Lparen Pos
	Elems  []Expr
}

// ParenExpr is `(x)`; kept so error positions can point inside it.
type ParenExpr struct {
	Lparen Pos
	X      Expr
}

func (e *IntLit) Pos() Pos    { return e.Start }
func (e *StringLit) Pos() Pos { return e.Start }
func (e *Builtin) Pos() Pos   { return e.Start }
func (e *VarExpr) Pos() Pos   { return e.Start }
func (e *MapExpr) Pos() Pos   { return e.Start }
func (e *FieldExpr) Pos() Pos { return e.X.Pos() }
func (e *CallExpr) Pos() Pos  { return e.Start }
func (e *UnaryExpr) Pos() Pos {
	if e.Postfix {
		return e.X.Pos()
	}
	return e.OpPos
}
func (e *BinaryExpr) Pos() Pos  { return e.X.Pos() }
func (e *TernaryExpr) Pos() Pos { return e.Cond.Pos() }
func (e *TupleExpr) Pos() Pos   { return e.Lparen }
func (e *ParenExpr) Pos() Pos   { return e.Lparen }

func (*IntLit) exprNode()      {}
func (*StringLit) exprNode()   {}
func (*Builtin) exprNode()     {}
func (*VarExpr) exprNode()     {}
func (*MapExpr) exprNode()     {}
func (*FieldExpr) exprNode()   {}
func (*CallExpr) exprNode()    {}
func (*UnaryExpr) exprNode()   {}
func (*BinaryExpr) exprNode()  {}
func (*TernaryExpr) exprNode() {}
func (*TupleExpr) exprNode()   {}
func (*ParenExpr) exprNode()   {}
