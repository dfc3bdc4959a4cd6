package ast_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/parser"
)

func parse(t *testing.T, src string) *ast.Program {
	t.Helper()
	prog, err := parser.ParseFile("test.bt", src)
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// nodeName names a node by type and, where it has one, its spelling.
func nodeName(n ast.Node) string {
	name := strings.TrimPrefix(fmt.Sprintf("%T", n), "*ast.")
	switch n := n.(type) {
	case *ast.AttachPoint:
		return name + ":" + n.Name()
	case *ast.IntLit:
		return name + ":" + n.Raw
	case *ast.StringLit:
		return name + ":" + n.Value
	case *ast.Builtin:
		return name + ":" + n.Name
	case *ast.VarExpr:
		return name + ":" + n.Name
	case *ast.MapExpr:
		return name + ":" + n.Name
	case *ast.CallExpr:
		return name + ":" + n.Func
	case *ast.FieldExpr:
		return name + ":" + n.Field
	case *ast.UnaryExpr:
		return name + ":" + n.Op
	case *ast.BinaryExpr:
		return name + ":" + n.Op
	case *ast.AssignStmt:
		return name + ":" + n.Op
	}
	return name
}

func TestInspectOrder(t *testing.T) {
	prog := parse(t, `k:f, kr:g /pid > 1/ { @m[comm, 2] = count(); if (args->x) { $v++; } else if (1 ? 2 : 3) { return; } else { printf("s", (1, 2), -(3)); } } BEGIN { }`)
	var got []string
	depth := 0
	ast.Inspect(prog, func(n ast.Node) bool {
		if n == nil {
			depth--
			got = append(got, "end")
			return false
		}
		depth++
		got = append(got, nodeName(n))
		return true
	})
	want := []string{
		"Program",
		"Probe", "AttachPoint:kprobe:f", "end", "AttachPoint:kretprobe:g", "end",
		"BinaryExpr:>", "Builtin:pid", "end", "IntLit:1", "end", "end",
		"Block",
		"AssignStmt:=", "MapExpr:@m", "Builtin:comm", "end", "IntLit:2", "end", "end", "CallExpr:count", "end", "end",
		"IfStmt", "FieldExpr:x", "Builtin:args", "end", "end",
		"Block", "IncDecStmt", "VarExpr:v", "end", "end", "end",
		"IfStmt", "TernaryExpr", "IntLit:1", "end", "IntLit:2", "end", "IntLit:3", "end", "end",
		"Block", "ReturnStmt", "end", "end",
		"Block", "ExprStmt", "CallExpr:printf", "StringLit:s", "end",
		"TupleExpr", "IntLit:1", "end", "IntLit:2", "end", "end",
		"UnaryExpr:-", "ParenExpr", "IntLit:3", "end", "end", "end",
		"end", "end", "end", // CallExpr, ExprStmt, else Block
		"end", "end", "end", "end", // inner IfStmt, outer IfStmt, body Block, Probe
		"Probe", "AttachPoint:BEGIN", "end", "Block", "end", "end",
		"end", // Program
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Inspect order\n got %v\nwant %v", got, want)
	}
	if depth != 0 {
		t.Errorf("Inspect made %d more enter than leave calls", depth)
	}
}

func TestInspectPrunes(t *testing.T) {
	prog := parse(t, "BEGIN { @a = 1 + 2; @b = hist(3); }")
	var seen []string
	ast.Inspect(prog, func(n ast.Node) bool {
		if n == nil {
			return false
		}
		seen = append(seen, nodeName(n))
		_, isAssign := n.(*ast.AssignStmt)
		return !isAssign // do not look inside assignments
	})
	want := "Program Probe AttachPoint:BEGIN Block AssignStmt:= AssignStmt:="
	if got := strings.Join(seen, " "); got != want {
		t.Errorf("pruned walk\n got %s\nwant %s", got, want)
	}
}

// countingVisitor counts nodes and checks that Walk calls Visit(nil) once
// for every node whose children it visited.
type countingVisitor struct {
	nodes, nils *int
}

func (v countingVisitor) Visit(n ast.Node) ast.Visitor {
	if n == nil {
		*v.nils++
		return nil
	}
	*v.nodes++
	return v
}

func TestWalkVisitor(t *testing.T) {
	prog := parse(t, "BEGIN { @a[1] = 2; }")
	var nodes, nils int
	ast.Walk(countingVisitor{&nodes, &nils}, prog)
	// Program Probe AttachPoint Block AssignStmt MapExpr IntLit IntLit
	if nodes != 8 || nils != 8 {
		t.Errorf("Walk visited %d nodes and %d nils, want 8 and 8", nodes, nils)
	}
}

func TestWalkSkipsMissingChildren(t *testing.T) {
	// A hand-built tree as an erroneous parse may leave it: no predicate,
	// no body, an if without else.
	prog := &ast.Program{Probes: []*ast.Probe{
		{Points: []*ast.AttachPoint{{Kind: ast.Begin}}},
		{Body: &ast.Block{Stmts: []ast.Stmt{&ast.IfStmt{Cond: &ast.BadExpr{From: 3}, Then: &ast.Block{}}}}},
	}}
	var seen []string
	ast.Inspect(prog, func(n ast.Node) bool {
		if n != nil {
			seen = append(seen, nodeName(n))
		}
		return true
	})
	want := "Program Probe AttachPoint:BEGIN Probe Block IfStmt BadExpr Block"
	if got := strings.Join(seen, " "); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestProgramPos(t *testing.T) {
	if got := parse(t, "\n\n  BEGIN {}").Pos(); got != 4 {
		t.Errorf("Program.Pos() = %d, want 4", got)
	}
	if got := (&ast.Program{}).Pos(); got != 0 {
		t.Errorf("empty Program.Pos() = %d, want 0", got)
	}
}

func TestSexpr(t *testing.T) {
	tests := []struct {
		name string
		node ast.Node
		want string
	}{
		{"nil", nil, "<nil>"},
		{"bad", &ast.BadExpr{}, "(bad)"},
		{"string is quoted", &ast.StringLit{Value: "a\"\n"}, `"a\"\n"`},
		{"map without keys", &ast.MapExpr{Name: "@x"}, "@x"},
		{"postfix decrement", &ast.UnaryExpr{Op: "--", X: &ast.VarExpr{Name: "v"}, Postfix: true}, "(post-- $v)"},
		{"prefix increment statement", &ast.IncDecStmt{X: &ast.MapExpr{Name: "@"}, Inc: true, Prefix: true}, "(pre++ @)"},
		{"probe without body", &ast.Probe{Points: []*ast.AttachPoint{{Kind: ast.End}}}, "(probe END <nil>)"},
		{"if with nil else", &ast.IfStmt{Cond: &ast.Builtin{Name: "pid"}, Then: &ast.Block{}}, "(if pid (block))"},
		{"call with a missing argument", &ast.CallExpr{Func: "f", Args: []ast.Expr{nil}}, "(call f <nil>)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ast.Sexpr(tt.node); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
