package ast

import (
	"fmt"
	"strconv"
	"strings"
)

// Sexpr renders a syntax tree as a one-line S-expression, for tests and
// debugging: it shows the shape of the tree, and so operator precedence,
// at a glance. For example
//
//	kprobe:vfs_read /pid == 42/ { @[comm] = count(); }
//
// renders as
//
//	(probe kprobe:vfs_read (pred (== pid 42)) (block (= (@ comm) (call count))))
//
// Literals print as written (strings Go-quoted), builtins by name, maps with
// keys as (@name k...), fields as (. args f) or (-> args f), parentheses as
// (paren x), tuples as (tuple a b), unary operators as (- x), (pre++ x) or
// (post++ x), statements as (= lhs rhs), (if cond then else), (return) and
// (expr x) for an expression statement. Positions are not shown.
func Sexpr(n Node) string {
	var b strings.Builder
	writeSexpr(&b, n)
	return b.String()
}

func writeSexpr(b *strings.Builder, n Node) {
	list := func(head string, nodes ...Node) {
		b.WriteString("(" + head)
		for _, c := range nodes {
			b.WriteByte(' ')
			writeSexpr(b, c)
		}
		b.WriteByte(')')
	}
	switch n := n.(type) {
	case nil:
		b.WriteString("<nil>")
	case *Program:
		var kids []Node
		for _, p := range n.Probes {
			kids = append(kids, p)
		}
		list("program", kids...)
	case *Probe:
		var kids []Node
		for _, a := range n.Points {
			kids = append(kids, a)
		}
		b.WriteString("(probe")
		for _, c := range kids {
			b.WriteByte(' ')
			writeSexpr(b, c)
		}
		if n.Predicate != nil {
			b.WriteByte(' ')
			list("pred", n.Predicate)
		}
		b.WriteByte(' ')
		if n.Body != nil {
			writeSexpr(b, n.Body)
		} else {
			b.WriteString("<nil>")
		}
		b.WriteByte(')')
	case *AttachPoint:
		b.WriteString(n.Name())
	case *Block:
		var kids []Node
		for _, s := range n.Stmts {
			kids = append(kids, s)
		}
		list("block", kids...)
	case *ExprStmt:
		list("expr", n.X)
	case *AssignStmt:
		list(n.Op, n.Lhs, n.Rhs)
	case *IncDecStmt:
		list(incDecName(n.Inc, !n.Prefix), n.X)
	case *IfStmt:
		if n.Else != nil {
			list("if", n.Cond, n.Then, n.Else)
		} else {
			list("if", n.Cond, n.Then)
		}
	case *ReturnStmt:
		b.WriteString("(return)")
	case *IntLit:
		b.WriteString(n.Raw)
	case *StringLit:
		b.WriteString(strconv.Quote(n.Value))
	case *Builtin:
		b.WriteString(n.Name)
	case *VarExpr:
		b.WriteString("$" + n.Name)
	case *MapExpr:
		if n.Keys == nil {
			b.WriteString(n.Name)
			return
		}
		list(n.Name, exprNodes(n.Keys)...)
	case *FieldExpr:
		op := "."
		if n.Arrow {
			op = "->"
		}
		b.WriteString("(" + op + " ")
		writeSexpr(b, n.X)
		b.WriteString(" " + n.Field + ")")
	case *CallExpr:
		list("call "+n.Func, exprNodes(n.Args)...)
	case *UnaryExpr:
		op := n.Op
		if op == "++" || op == "--" {
			op = incDecName(op == "++", n.Postfix)
		}
		list(op, n.X)
	case *BinaryExpr:
		list(n.Op, n.X, n.Y)
	case *TernaryExpr:
		list("?", n.Cond, n.X, n.Y)
	case *TupleExpr:
		list("tuple", exprNodes(n.Elems)...)
	case *ParenExpr:
		list("paren", n.X)
	case *BadExpr:
		b.WriteString("(bad)")
	default:
		fmt.Fprintf(b, "<%T>", n)
	}
}

func incDecName(inc, post bool) string {
	op := "--"
	if inc {
		op = "++"
	}
	if post {
		return "post" + op
	}
	return "pre" + op
}

func exprNodes(xs []Expr) []Node {
	nodes := make([]Node, len(xs))
	for i, x := range xs {
		if x != nil {
			nodes[i] = x
		}
	}
	return nodes
}
