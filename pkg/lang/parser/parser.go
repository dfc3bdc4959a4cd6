// Package parser builds the syntax tree of a tracing program.
//
// It is a hand-written recursive-descent parser in the manner of go/parser:
// one token of lookahead, precedence climbing for C's binary operators, and
// errors collected in a diag.List rather than stopping at the first. After
// an error in a statement the parser skips to the next `;` or `}` and goes
// on; after an error in a probe's header it skips to the probe's `{`, so one
// run reports the independent mistakes of a whole program.
//
// The syntax is bpftrace's, restricted to the subset in PRODUCT.md §2, with
// these choices where bpftrace leaves room:
//
//   - Inside a /predicate/, a `/` followed by `{` (or the end of input) closes
//     the predicate; any other `/` divides, so `/pid / 2 == 0/` works without
//     the parentheses bpftrace needs.
//   - `;` separates statements; it is optional before `}` and after an if
//     statement's block, and empty statements are allowed.
//   - An identifier followed by `(` is a call, whatever its name; the checker
//     decides which functions exist. Any other identifier must be a builtin
//     (see IsBuiltin), else it is an "unknown identifier" error.
//   - Probe types are fixed (ast.ProbeKind); their fields are checked here
//     (count, profile/interval unit and rate), while whether a tracepoint
//     or function exists is left to the kernel.
//   - Casts, struct types, pointer dereference, `&`, loops, positional
//     parameters and #include are outside the subset and get a message
//     that says so rather than a generic syntax error.
package parser

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/diag"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/scanner"
)

// ParseFile parses the program src; name is the file name shown in error
// messages ("-e" for a program given on the command line).
//
// On success the error is nil. Otherwise it is a diag.List (sorted by
// position, at most diag.MaxErrors entries) and the returned Program holds
// what could be parsed: it may miss nodes or contain *ast.BadExpr, and must
// not be passed on to later passes.
func ParseFile(name, src string) (*ast.Program, error) {
	p := &parser{file: ast.NewFile(name, src)}
	p.sc.Init(src, p.error)
	p.next()
	prog := p.parseProgram()
	return prog, p.errs.Err()
}

// maxNesting bounds how deeply expressions may nest, so that hostile input
// such as ten thousand `(` cannot exhaust the stack.
const maxNesting = 1000

type parser struct {
	file *ast.File
	sc   scanner.Scanner
	errs diag.List

	// The current token.
	pos ast.Pos
	tok scanner.Token
	lit string

	inPredicate bool // parsing /predicate/: a `/` before `{` closes it
	nesting     int  // depth of nested expressions
}

// bailout is raised with panic to abandon the current statement or probe
// header after a syntax error; the statement or probe loop recovers it and
// resynchronises.
type bailout struct{}

func (p *parser) next() {
	p.pos, p.tok, p.lit = p.sc.Scan()
}

// error records an error unless one was already reported at pos: a second
// error at the same place is almost always a consequence of the first (say,
// an unterminated string and then the token the parser expected).
func (p *parser) error(pos ast.Pos, msg string) {
	for _, e := range p.errs {
		if e.Pos == pos {
			return
		}
	}
	p.errs.Add(p.file, pos, "%s", msg)
}

func (p *parser) errorf(pos ast.Pos, format string, args ...any) {
	p.error(pos, fmt.Sprintf(format, args...))
}

// fail records an error and abandons the current statement.
func (p *parser) fail(pos ast.Pos, format string, args ...any) {
	p.errorf(pos, format, args...)
	panic(bailout{})
}

// failExpected reports that the current token is not what was wanted.
func (p *parser) failExpected(want string) {
	p.fail(p.pos, "expected %s, found %s", want, p.found())
}

// failExpectedClose reports a missing closing token; a `=` in its place is
// most likely a comparison written with one `=`, so the message says so.
func (p *parser) failExpectedClose(want string) {
	if p.tok == scanner.ASSIGN {
		p.fail(p.pos, "expected %s, found '=' (use == to compare)", want)
	}
	p.failExpected(want)
}

// found describes the current token for "expected X, found Y" messages,
// quoting it as written in the source.
func (p *parser) found() string {
	switch p.tok {
	case scanner.EOF:
		return "end of file"
	case scanner.STRING:
		return "string " + shorten(p.file.Src[p.pos:p.sc.Offset()])
	}
	return "'" + shorten(p.file.Src[p.pos:p.sc.Offset()]) + "'"
}

// shorten cuts long token text for messages, at a character boundary.
func shorten(s string) string {
	const max = 24
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func (p *parser) expect(tok scanner.Token) ast.Pos {
	pos := p.pos
	if p.tok != tok {
		p.failExpected("'" + tok.String() + "'")
	}
	p.next()
	return pos
}

// recovering runs f and reports whether it finished without a bailout.
func (p *parser) recovering(f func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, isBailout := r.(bailout); !isBailout {
				panic(r)
			}
			p.inPredicate = false
			p.nesting = 0
			ok = false
		}
	}()
	f()
	return true
}

// ---------------------------------------------------------------------------
// Probes

func (p *parser) parseProgram() *ast.Program {
	prog := &ast.Program{File: p.file}
	for p.tok != scanner.EOF {
		if probe := p.parseProbe(); probe != nil {
			prog.Probes = append(prog.Probes, probe)
		}
	}
	if len(prog.Probes) == 0 && len(p.errs) == 0 {
		p.error(p.pos, "empty program: expected at least one probe such as BEGIN { ... }")
	}
	return prog
}

// parseProbe parses `point, point... /predicate/ { body }`. It returns nil
// when the input does not start a probe at all; then it has skipped that
// input, up to and including the next block.
func (p *parser) parseProbe() *ast.Probe {
	if p.tok != scanner.IDENT {
		p.errorf(p.pos, "expected probe, found %s", p.found())
		p.skipJunk()
		return nil
	}
	probe := &ast.Probe{Start: p.pos}
	header := p.recovering(func() {
		for {
			if p.tok != scanner.IDENT {
				p.failExpected("probe")
			}
			probe.Points = append(probe.Points, p.parseAttachPoint())
			if p.tok != scanner.COMMA {
				break
			}
			p.next()
		}
		if p.tok == scanner.QUO {
			probe.Predicate = p.parsePredicate()
		} else if p.tok != scanner.LBRACE {
			p.failExpected("',', '/' or '{'")
		}
		if p.tok != scanner.LBRACE {
			p.failExpected("'{'")
		}
	})
	if !header {
		// Skip to the body and still parse it, to report its errors too.
		for p.tok != scanner.LBRACE && p.tok != scanner.EOF {
			p.next()
		}
		if p.tok == scanner.EOF {
			return probe
		}
	}
	probe.Body = p.parseBlock()
	return probe
}

// skipJunk skips input that cannot start a probe, up to and including the
// next brace-delimited block, so the next probe starts cleanly.
func (p *parser) skipJunk() {
	for p.tok != scanner.LBRACE && p.tok != scanner.EOF {
		if p.tok == scanner.IDENT {
			// Could be the start of the next probe (after a stray `}`, say).
			return
		}
		p.next()
	}
	depth := 0
	for p.tok != scanner.EOF {
		switch p.tok {
		case scanner.LBRACE:
			depth++
		case scanner.RBRACE:
			depth--
		}
		p.next()
		if depth == 0 {
			return
		}
	}
}

func (p *parser) parsePredicate() ast.Expr {
	p.next() // opening /
	p.inPredicate = true
	x := p.parseExpr()
	p.inPredicate = false
	if p.tok != scanner.QUO {
		p.failExpectedClose("'/' to end the predicate")
	}
	p.next()
	return x
}

// probeTypes maps every spelling of a probe type, long and short, to its
// kind.
var probeTypes = map[string]ast.ProbeKind{
	"BEGIN": ast.Begin, "begin": ast.Begin,
	"END": ast.End, "end": ast.End,
	"tracepoint": ast.Tracepoint, "t": ast.Tracepoint,
	"rawtracepoint": ast.RawTracepoint, "rt": ast.RawTracepoint,
	"kprobe": ast.Kprobe, "k": ast.Kprobe,
	"kretprobe": ast.Kretprobe, "kr": ast.Kretprobe,
	"uprobe": ast.Uprobe, "u": ast.Uprobe,
	"uretprobe": ast.Uretprobe, "ur": ast.Uretprobe,
	"profile": ast.Profile, "p": ast.Profile,
	"interval": ast.Interval, "i": ast.Interval,
}

// probeFields names the colon-separated fields each kind takes, for
// messages and for the "want" form shown with them.
var probeFields = map[ast.ProbeKind][]string{
	ast.Begin:         nil,
	ast.End:           nil,
	ast.Tracepoint:    {"category", "event"},
	ast.RawTracepoint: {"event"},
	ast.Kprobe:        {"function"},
	ast.Kretprobe:     {"function"},
	ast.Uprobe:        {"path", "symbol"},
	ast.Uretprobe:     {"path", "symbol"},
	ast.Profile:       {"unit", "number"},
	ast.Interval:      {"unit", "number"},
}

// wantForm spells out the syntax of a probe type in messages, using the type
// as the user wrote it: "kr:FUNCTION", "profile:UNIT:NUMBER".
func wantForm(typ string, kind ast.ProbeKind) string {
	form := typ
	for _, f := range probeFields[kind] {
		form += ":" + strings.ToUpper(f)
	}
	return form
}

type field struct {
	pos ast.Pos
	lit string
}

// parseAttachPoint parses one attach point. The current token is the probe
// type, an identifier; the scanner stands right after it, where the
// colon-separated fields are read as raw text.
func (p *parser) parseAttachPoint() *ast.AttachPoint {
	start, typ := p.pos, p.lit
	kind, known := probeTypes[typ]
	if !known {
		kind = ast.BadProbe
	}
	var fields []field
	for {
		// Only a uprobe's first field is a file path.
		path := len(fields) == 0 && (kind == ast.Uprobe || kind == ast.Uretprobe || !known)
		pos, lit, ok := p.sc.AttachField(path)
		if !ok {
			break
		}
		fields = append(fields, field{pos, lit})
	}
	end := p.sc.Offset()
	ap := &ast.AttachPoint{Start: start, Kind: kind, Raw: p.file.Src[start:end]}
	p.next()

	if !known {
		p.error(start, unknownProbeMsg(typ))
		return ap
	}
	if msg, pos := p.fillAttachPoint(ap, typ, fields, end); msg != "" {
		p.error(pos, msg)
		ap.Kind = ast.BadProbe
	}
	return ap
}

// fillAttachPoint checks the fields of an attach point and stores them in
// ap. It returns a message and its position for the first problem found.
func (p *parser) fillAttachPoint(ap *ast.AttachPoint, typ string, fields []field, end ast.Pos) (string, ast.Pos) {
	names := probeFields[ap.Kind]
	want := wantForm(typ, ap.Kind)
	for i, name := range names {
		if i >= len(fields) {
			return fmt.Sprintf("missing %s in probe %q (want %s)", name, ap.Raw, want), end
		}
		if fields[i].lit == "" {
			return fmt.Sprintf("missing %s in probe %q (want %s)", name, ap.Raw, want), fields[i].pos
		}
	}
	if len(fields) > len(names) {
		extra := fields[len(names)]
		colon := extra.pos - 1
		if len(names) == 0 {
			return fmt.Sprintf("%s probe takes no arguments, found %q", typ, p.file.Src[colon:end]), colon
		}
		return fmt.Sprintf("too many fields in probe %q (want %s)", ap.Raw, want), colon
	}

	switch ap.Kind {
	case ast.Tracepoint, ast.Uprobe, ast.Uretprobe:
		ap.Target, ap.Func = fields[0].lit, fields[1].lit
	case ast.RawTracepoint, ast.Kprobe, ast.Kretprobe:
		ap.Func = fields[0].lit
	case ast.Profile, ast.Interval:
		unit, num := fields[0], fields[1]
		switch unit.lit {
		case "hz", "s", "ms", "us":
		default:
			return fmt.Sprintf("unknown unit %q in probe %q (want hz, s, ms or us)", unit.lit, ap.Raw), unit.pos
		}
		rate, err := strconv.ParseUint(num.lit, 10, 64)
		if err != nil || rate == 0 {
			return fmt.Sprintf("invalid number %q in probe %q (want a positive integer)", num.lit, ap.Raw), num.pos
		}
		ap.Unit, ap.Rate = unit.lit, rate
	}
	return "", 0
}

// ---------------------------------------------------------------------------
// Statements

// parseBlock parses `{ stmt; stmt; ... }`; the current token is `{`.
func (p *parser) parseBlock() *ast.Block {
	b := &ast.Block{Lbrace: p.pos}
	p.next()
	for p.tok != scanner.RBRACE && p.tok != scanner.EOF {
		if p.tok == scanner.SEMICOLON {
			p.next() // an empty statement
			continue
		}
		var s ast.Stmt
		if !p.recovering(func() { s = p.parseStmt() }) {
			p.skipStmt()
			continue
		}
		b.Stmts = append(b.Stmts, s)
		switch p.tok {
		case scanner.SEMICOLON:
			p.next()
		case scanner.RBRACE, scanner.EOF:
			// The loop ends; a missing `}` is reported below.
		default:
			if _, isIf := s.(*ast.IfStmt); isIf {
				// An if statement ends with its block; no `;` needed.
				continue
			}
			p.errorf(p.pos, "expected ';' or '}' after statement, found %s", p.found())
			p.skipStmt()
		}
	}
	if p.tok == scanner.EOF {
		p.errorf(p.pos, "missing '}' to close the block opened at %s", p.lineCol(b.Lbrace))
		return b
	}
	p.next()
	return b
}

func (p *parser) lineCol(pos ast.Pos) string {
	at := p.file.Position(pos)
	return strconv.Itoa(at.Line) + ":" + strconv.Itoa(at.Column)
}

// skipStmt skips the rest of a broken statement: up to and including the
// next `;` outside parentheses, or up to the `}` closing the enclosing
// block, or past a nested block that the broken statement opened (the body
// of a broken if or of an unsupported loop).
func (p *parser) skipStmt() {
	parens, braces := 0, 0
	for p.tok != scanner.EOF {
		switch p.tok {
		case scanner.SEMICOLON:
			if parens == 0 && braces == 0 {
				p.next()
				return
			}
		case scanner.LPAREN, scanner.LBRACK:
			parens++
		case scanner.RPAREN, scanner.RBRACK:
			if parens > 0 {
				parens--
			}
		case scanner.LBRACE:
			braces++
			parens = 0
		case scanner.RBRACE:
			if braces == 0 {
				return
			}
			braces--
			if braces == 0 {
				p.next()
				return
			}
		}
		p.next()
	}
}

// unsupportedStmts are bpftrace statements outside this language's subset;
// naming them beats "unknown identifier".
var unsupportedStmts = map[string]string{
	"while":    "while loops are not supported",
	"for":      "for loops are not supported",
	"unroll":   "unroll is not supported",
	"break":    "break is not supported (there are no loops)",
	"continue": "continue is not supported (there are no loops)",
}

func (p *parser) parseStmt() ast.Stmt {
	if p.tok == scanner.IDENT {
		switch p.lit {
		case "if":
			return p.parseIf()
		case "return":
			s := &ast.ReturnStmt{Return: p.pos}
			p.next()
			if p.tok != scanner.SEMICOLON && p.tok != scanner.RBRACE {
				p.failExpected("';' after return (return takes no value)")
			}
			return s
		case "else":
			p.fail(p.pos, "else without a preceding if")
		}
		if msg, ok := unsupportedStmts[p.lit]; ok {
			p.fail(p.pos, "%s", msg)
		}
	}
	if p.tok == scanner.LBRACE {
		p.failExpected("statement")
	}
	return p.parseSimpleStmt()
}

func (p *parser) parseIf() *ast.IfStmt {
	s := &ast.IfStmt{If: p.pos}
	p.next()
	if p.tok != scanner.LPAREN {
		p.failExpected("'(' after if")
	}
	p.next()
	s.Cond = p.parseExpr()
	if p.tok != scanner.RPAREN {
		p.failExpectedClose("')'")
	}
	p.next()
	if p.tok != scanner.LBRACE {
		p.failExpected("'{'")
	}
	s.Then = p.parseBlock()
	if p.tok == scanner.IDENT && p.lit == "else" {
		p.next()
		switch {
		case p.tok == scanner.IDENT && p.lit == "if":
			s.Else = p.parseIf()
		case p.tok == scanner.LBRACE:
			s.Else = p.parseBlock()
		default:
			p.failExpected("'if' or '{' after else")
		}
	}
	return s
}

// parseSimpleStmt parses an assignment, an increment or decrement, or an
// expression statement. All start with an expression; what follows it
// tells them apart.
func (p *parser) parseSimpleStmt() ast.Stmt {
	x := p.parseExpr()
	if p.tok.IsAssignOp() {
		s := &ast.AssignStmt{Lhs: x, OpPos: p.pos, Op: p.tok.String()}
		if !assignable(x) {
			p.errorf(x.Pos(), "cannot assign to %s (want a $variable or an @map)", describe(x))
		}
		p.next()
		s.Rhs = p.parseExpr()
		return s
	}
	if u, ok := x.(*ast.UnaryExpr); ok && (u.Op == "++" || u.Op == "--") {
		return &ast.IncDecStmt{X: u.X, OpPos: u.OpPos, Inc: u.Op == "++", Prefix: !u.Postfix}
	}
	return &ast.ExprStmt{X: x}
}

func assignable(x ast.Expr) bool {
	switch x.(type) {
	case *ast.VarExpr, *ast.MapExpr, *ast.BadExpr:
		return true
	}
	return false
}

// describe names an expression in a message.
func describe(x ast.Expr) string {
	switch x := x.(type) {
	case *ast.Builtin:
		return "builtin " + x.Name
	case *ast.IntLit:
		return "integer " + x.Raw
	case *ast.StringLit:
		return "a string"
	case *ast.CallExpr:
		return "the result of " + x.Func + "()"
	case *ast.FieldExpr:
		return "field " + x.Field
	}
	return "an expression"
}
