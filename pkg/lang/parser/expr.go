package parser

import (
	"strconv"
	"strings"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/scanner"
)

// builtins are the identifiers that name a builtin variable. The parser
// accepts all of them; the checker rejects those the code generator cannot
// provide (curtask, cpid, username).
var builtins = map[string]bool{
	"pid": true, "tid": true, "uid": true, "gid": true, "comm": true,
	"nsecs": true, "elapsed": true, "cpu": true, "cgroup": true,
	"retval": true, "probe": true, "func": true, "kstack": true,
	"ustack": true, "rand": true, "args": true, "curtask": true,
	"cpid": true, "username": true,
	"arg0": true, "arg1": true, "arg2": true, "arg3": true, "arg4": true,
	"arg5": true, "arg6": true, "arg7": true, "arg8": true, "arg9": true,
}

// IsBuiltin reports whether name is parsed as a builtin variable when it is
// not followed by `(`.
func IsBuiltin(name string) bool { return builtins[name] }

// keywords cannot be used as expressions.
var keywords = map[string]bool{"if": true, "else": true, "return": true}

// castTypes are the names that, after `(`, show that the user wrote a C
// cast, which this language does not have.
var castTypes = map[string]bool{
	"struct": true, "union": true, "enum": true, "char": true, "void": true,
	"int": true, "unsigned": true, "signed": true, "long": true, "short": true,
	"int8": true, "int16": true, "int32": true, "int64": true,
	"uint8": true, "uint16": true, "uint32": true, "uint64": true,
}

// enter and leave bound the nesting of expressions.
func (p *parser) enter() {
	p.nesting++
	if p.nesting > maxNesting {
		p.fail(p.pos, "expression nested too deeply")
	}
}

func (p *parser) leave() { p.nesting-- }

// parseExpr parses a full expression: a ternary or anything that binds
// more tightly.
func (p *parser) parseExpr() ast.Expr {
	p.enter()
	defer p.leave()
	cond := p.parseBinary(scanner.Lowest + 1)
	if p.tok != scanner.QUESTION {
		return cond
	}
	p.next()
	x := p.parseExpr()
	if p.tok != scanner.COLON {
		p.failExpected("':' in conditional expression")
	}
	p.next()
	y := p.parseExpr() // right-associative: a ? b : c ? d : e
	return &ast.TernaryExpr{Cond: cond, X: x, Y: y}
}

// parseBinary parses a sequence of binary operations whose operators bind
// at least as tightly as minPrec, by precedence climbing: all operators are
// left-associative, so the right operand only takes operators of strictly
// higher precedence.
func (p *parser) parseBinary(minPrec int) ast.Expr {
	x := p.parseUnary()
	for {
		prec := p.tok.Precedence()
		if prec < minPrec {
			return x
		}
		if p.tok == scanner.QUO && p.inPredicate && p.closesPredicate() {
			return x
		}
		pos, op := p.pos, p.tok.String()
		p.next()
		y := p.parseBinary(prec + 1)
		x = &ast.BinaryExpr{X: x, OpPos: pos, Op: op, Y: y}
	}
}

// closesPredicate reports whether the current `/` ends a predicate rather
// than dividing: it does when the probe body `{` (or the end of the input)
// comes next. bpftrace's lexer makes the same distinction.
func (p *parser) closesPredicate() bool {
	c := p.sc.PeekNonSpace()
	return c == '{' || c == 0
}

func (p *parser) parseUnary() ast.Expr {
	p.enter()
	defer p.leave()
	pos := p.pos
	switch p.tok {
	case scanner.NOT, scanner.BNOT, scanner.SUB:
		op := p.tok.String()
		p.next()
		return &ast.UnaryExpr{OpPos: pos, Op: op, X: p.parseUnary()}
	case scanner.INC, scanner.DEC:
		op := p.tok.String()
		p.next()
		x := p.parseUnary()
		p.checkIncDec(op, x)
		return &ast.UnaryExpr{OpPos: pos, Op: op, X: x}
	case scanner.MUL:
		p.fail(pos, "pointer dereference is not supported")
	case scanner.AND:
		p.fail(pos, "taking an address with & is not supported")
	}
	return p.parsePostfix(p.parsePrimary())
}

func (p *parser) checkIncDec(op string, x ast.Expr) {
	if !assignable(x) {
		p.errorf(x.Pos(), "cannot apply %s to %s (want a $variable or an @map)", op, describe(x))
	}
}

// parsePostfix parses field accesses and postfix ++/-- after an operand.
func (p *parser) parsePostfix(x ast.Expr) ast.Expr {
	for {
		switch p.tok {
		case scanner.PERIOD, scanner.ARROW:
			arrow := p.tok == scanner.ARROW
			p.next()
			if p.tok != scanner.IDENT {
				p.failExpected("field name")
			}
			x = &ast.FieldExpr{X: x, Arrow: arrow, Field: p.lit, FPos: p.pos}
			p.next()
		case scanner.INC, scanner.DEC:
			op := p.tok.String()
			p.checkIncDec(op, x)
			x = &ast.UnaryExpr{OpPos: p.pos, Op: op, X: x, Postfix: true}
			p.next()
		default:
			return x
		}
	}
}

func (p *parser) parsePrimary() ast.Expr {
	pos, lit := p.pos, p.lit
	switch p.tok {
	case scanner.INT:
		p.next()
		v, err := strconv.ParseUint(lit, 0, 64)
		if err != nil && isRangeError(err) {
			p.errorf(pos, "integer literal %s does not fit in 64 bits", lit)
		}
		// Malformed literals were reported by the scanner; they read as 0.
		return &ast.IntLit{Start: pos, Raw: lit, Value: v}
	case scanner.STRING:
		p.next()
		return &ast.StringLit{Start: pos, Value: lit}
	case scanner.VAR:
		p.next()
		return &ast.VarExpr{Start: pos, Name: strings.TrimPrefix(lit, "$")}
	case scanner.MAP:
		p.next()
		m := &ast.MapExpr{Start: pos, Name: lit}
		if p.tok == scanner.LBRACK {
			p.next()
			if p.tok == scanner.RBRACK {
				p.failExpected("map key")
			}
			m.Keys = p.parseExprList()
			p.expect(scanner.RBRACK)
		}
		return m
	case scanner.IDENT:
		return p.parseIdent()
	case scanner.LPAREN:
		return p.parseParen()
	}
	p.failExpected("expression")
	return nil
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// parseIdent parses a call `f(...)` or a builtin variable.
func (p *parser) parseIdent() ast.Expr {
	pos, name := p.pos, p.lit
	if keywords[name] {
		p.failExpected("expression")
	}
	if name == "struct" || name == "union" {
		p.fail(pos, "casts and struct types are not supported")
	}
	p.next()
	if p.tok == scanner.LPAREN {
		p.next()
		call := &ast.CallExpr{Start: pos, Func: name}
		if p.tok != scanner.RPAREN {
			call.Args = p.parseExprList()
		}
		call.Rparen = p.expect(scanner.RPAREN)
		return call
	}
	if builtins[name] {
		return &ast.Builtin{Start: pos, Name: name}
	}
	p.error(pos, unknownIdentMsg(name))
	return &ast.BadExpr{From: pos}
}

// parseParen parses `(x)` or a tuple `(a, b, ...)`, and recognises C casts
// to report them clearly.
func (p *parser) parseParen() ast.Expr {
	lparen := p.pos
	p.next()
	if p.tok == scanner.IDENT && castTypes[p.lit] {
		p.fail(lparen, "casts and struct types are not supported")
	}
	if p.tok == scanner.RPAREN {
		p.failExpected("expression")
	}
	x := p.parseExpr()
	if p.tok != scanner.COMMA {
		p.expect(scanner.RPAREN)
		return &ast.ParenExpr{Lparen: lparen, X: x}
	}
	elems := []ast.Expr{x}
	for p.tok == scanner.COMMA {
		p.next()
		elems = append(elems, p.parseExpr())
	}
	p.expect(scanner.RPAREN)
	return &ast.TupleExpr{Lparen: lparen, Elems: elems}
}

// parseExprList parses one or more comma-separated expressions.
func (p *parser) parseExprList() []ast.Expr {
	list := []ast.Expr{p.parseExpr()}
	for p.tok == scanner.COMMA {
		p.next()
		list = append(list, p.parseExpr())
	}
	return list
}
