package ast

import "fmt"

// Pos returns the start of the first probe, or 0 for a program without
// probes; it makes a Program a Node so that a whole program can be walked.
func (p *Program) Pos() Pos {
	if len(p.Probes) > 0 {
		return p.Probes[0].Pos()
	}
	return 0
}

// A Visitor's Visit method is invoked for each node encountered by Walk. If
// the result w is not nil, Walk visits each of the children of node with w,
// followed by a call of w.Visit(nil).
type Visitor interface {
	Visit(node Node) (w Visitor)
}

// Walk traverses a syntax tree depth-first, like go/ast.Walk: it starts by
// calling v.Visit(node); if that returns a visitor w, Walk visits each child
// of node with w and then calls w.Visit(nil). Nil children (a probe without
// predicate, an if without else) are skipped.
//
// Children are visited in source order, so the positions seen in a
// pre-order walk of a parsed program never decrease:
//
//	Program      Probes
//	Probe        Points, Predicate, Body
//	Block        Stmts
//	ExprStmt     X
//	AssignStmt   Lhs, Rhs
//	IncDecStmt   X
//	IfStmt       Cond, Then, Else
//	MapExpr      Keys
//	FieldExpr    X
//	CallExpr     Args
//	UnaryExpr    X
//	BinaryExpr   X, Y
//	TernaryExpr  Cond, X, Y
//	TupleExpr    Elems
//	ParenExpr    X
//
// AttachPoint, ReturnStmt, IntLit, StringLit, Builtin, VarExpr and BadExpr
// have no children.
func Walk(v Visitor, node Node) {
	if v = v.Visit(node); v == nil {
		return
	}
	switch n := node.(type) {
	case *Program:
		for _, p := range n.Probes {
			Walk(v, p)
		}
	case *Probe:
		for _, a := range n.Points {
			Walk(v, a)
		}
		walkExpr(v, n.Predicate)
		if n.Body != nil {
			Walk(v, n.Body)
		}
	case *Block:
		for _, s := range n.Stmts {
			walkStmt(v, s)
		}
	case *ExprStmt:
		walkExpr(v, n.X)
	case *AssignStmt:
		walkExpr(v, n.Lhs)
		walkExpr(v, n.Rhs)
	case *IncDecStmt:
		walkExpr(v, n.X)
	case *IfStmt:
		walkExpr(v, n.Cond)
		if n.Then != nil {
			Walk(v, n.Then)
		}
		walkStmt(v, n.Else)
	case *MapExpr:
		walkExprs(v, n.Keys)
	case *FieldExpr:
		walkExpr(v, n.X)
	case *CallExpr:
		walkExprs(v, n.Args)
	case *UnaryExpr:
		walkExpr(v, n.X)
	case *BinaryExpr:
		walkExpr(v, n.X)
		walkExpr(v, n.Y)
	case *TernaryExpr:
		walkExpr(v, n.Cond)
		walkExpr(v, n.X)
		walkExpr(v, n.Y)
	case *TupleExpr:
		walkExprs(v, n.Elems)
	case *ParenExpr:
		walkExpr(v, n.X)
	case *AttachPoint, *ReturnStmt, *IntLit, *StringLit, *Builtin, *VarExpr, *BadExpr:
		// Leaves.
	default:
		panic(fmt.Sprintf("ast.Walk: unexpected node type %T", n))
	}
	v.Visit(nil)
}

// walkExpr and walkStmt skip nil interfaces, which a typed nil would not
// be, so optional children can be passed as they are.
func walkExpr(v Visitor, x Expr) {
	if x != nil {
		Walk(v, x)
	}
}

func walkStmt(v Visitor, s Stmt) {
	if s != nil {
		Walk(v, s)
	}
}

func walkExprs(v Visitor, list []Expr) {
	for _, x := range list {
		walkExpr(v, x)
	}
}

type inspector func(Node) bool

func (f inspector) Visit(node Node) Visitor {
	if f(node) {
		return f
	}
	return nil
}

// Inspect traverses a syntax tree in the order Walk documents, calling
// f(node) for each node; if f returns true, Inspect visits the node's
// children and then calls f(nil).
func Inspect(node Node, f func(Node) bool) {
	Walk(inspector(f), node)
}
