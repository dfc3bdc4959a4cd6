package parser

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/diag"
)

// fuzzSeeds are programs beyond the tutorial lessons: every probe form,
// every statement and operator, and some broken input.
var fuzzSeeds = []string{
	`kprobe:vfs_open { printf("open path: %s\n", str(((struct path *)arg0)->dentry->d_name.name)); }`,
	"uprobe:/bin/bash:readline { @[comm] = count(); } uretprobe:/bin/bash:readline /retval/ { printf(\"%s\\n\", str(retval)); }",
	"u:/lib/x86_64-linux-gnu/libc.so.6:malloc, ur:/lib/x86_64-linux-gnu/libc.so.6:malloc { @s = sum(arg0); }",
	"rawtracepoint:sched_switch, rt:sched_wakeup { @[probe] = count(); }",
	"profile:s:1, p:ms:10, profile:us:100 { @[ustack] = count(); @k[kstack(5)] = count(); }",
	"interval:ms:100, i:hz:1, interval:us:9 { print(@); clear(@); zero(@x); }",
	"BEGIN, begin { $x = 1; $x += 2; $x <<= 1; @y++; --@y; } END, end { exit(); }",
	"t:syscalls:sys_enter_* /pid / 2 == 0 && comm != \"sh\"/ { @[func, cpu] = stats(args.id); }",
	"k:vfs_* { if (arg0 > 10) { @a = avg(arg0); } else if (!arg1) { @b = min(arg1); } else { return; } }",
	"kr:do_sys_openat2 { @r = max(retval < 0 ? -retval : retval); @t[(pid, tid)] = (uid, gid); }",
	"BEGIN { @x = 0x7fffffffffffffff | 0777 & ~1 ^ 2 >> 3 % 4; printf(\"%d %s\\t\\x41\\101\\\\\\\"\\n\", @x, ksym(arg0)); }",
	"BEGIN { @ = elapsed + nsecs - rand * cgroup / 3; @u[usym(arg0)] = count(); $s = curtask; $c = cpid; $n = username; }",
	"#!/usr/bin/env bpftrace\n// comment\n/* block\ncomment */\nBEGIN\n{\n\tprintf(\"hi\\n\");\n}\n",
	"BEGIN { @x = ; } kprobe { } foo:bar { } profile:hz: { } interval:xx:1 { } t:a:b:c { }",
	`BEGIN { "unterminated }`,
	"BEGIN { /* unterminated",
	"BEGIN { @x = 08 + 0x + 12ab + 99999999999999999999; $1; $; ` }",
	"#include <linux/fs.h>\nkprobe:f { @x[] = 1; @y = args->; if pid { } while (1) { } }",
	"BEGIN { @x = ((((((((((((((((((((1)))))))))))))))))))); @y = !!!!!!!!--@z; }",
	"",
	"}",
	"kprobe:f /pid",
}

func FuzzParse(f *testing.F) {
	for _, tt := range tutorial {
		f.Add(tt.src)
	}
	for _, src := range fuzzSeeds {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		prog, err := ParseFile("fuzz.bt", src)
		if prog == nil {
			t.Fatal("ParseFile returned a nil program")
		}
		if err != nil {
			checkErrors(t, src, err)
			return
		}
		checkTree(t, src, prog)

		// Printing the tree back as source and parsing that must give the
		// same tree: this catches precedence and predicate mistakes that
		// position checks cannot see.
		printed := formatProgram(prog)
		again, err := ParseFile("printed.bt", printed)
		if err != nil {
			t.Fatalf("reparsing the printed program failed:\nsource:  %q\nprinted: %q\n%v", src, printed, err)
		}
		if a, b := ast.Sexpr(prog), ast.Sexpr(again); a != b {
			t.Fatalf("reparsing the printed program changed the tree:\nsource:  %q\nprinted: %q\n got %s\nwant %s", src, printed, b, a)
		}
	})
}

// checkErrors asserts the invariants of a failed parse's error list.
func checkErrors(t *testing.T, src string, err error) {
	var list diag.List
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, not a diag.List: %v", err, err)
	}
	if len(list) == 0 || len(list) > diag.MaxErrors {
		t.Fatalf("error list has %d entries", len(list))
	}
	for i, e := range list {
		if e.Pos < 0 || int(e.Pos) > len(src) {
			t.Errorf("error %q at %d, outside the source of length %d", e.Msg, e.Pos, len(src))
		}
		if i > 0 && list[i-1].Pos > e.Pos {
			t.Errorf("errors not sorted: %d before %d", list[i-1].Pos, e.Pos)
		}
		if e.Msg == "" || !strings.HasPrefix(e.Error(), "fuzz.bt:") {
			t.Errorf("malformed error %q", e.Error())
		}
	}
}

// checkTree asserts the invariants of a successful parse: every node lies
// within the source, a pre-order walk sees positions in source order, and
// nothing is missing or marked bad.
func checkTree(t *testing.T, src string, prog *ast.Program) {
	if len(prog.Probes) == 0 {
		t.Fatal("successful parse without probes")
	}
	last := ast.Pos(0)
	ast.Inspect(prog, func(n ast.Node) bool {
		if n == nil {
			return false
		}
		if n.Pos() < 0 || int(n.Pos()) >= len(src) {
			t.Fatalf("%T at %d, outside the source of length %d", n, n.Pos(), len(src))
		}
		if n.Pos() < last {
			t.Fatalf("%T at %d comes after a node at %d", n, n.Pos(), last)
		}
		last = n.Pos()
		switch n := n.(type) {
		case *ast.BadExpr:
			t.Fatal("BadExpr in a successful parse")
		case *ast.Probe:
			if n.Body == nil || len(n.Points) == 0 {
				t.Fatal("probe without body or attach points")
			}
		case *ast.AttachPoint:
			if n.Kind == ast.BadProbe || n.Raw != src[n.Start:int(n.Start)+len(n.Raw)] {
				t.Fatalf("bad attach point %+v", n)
			}
		}
		return true
	})
}

// formatProgram prints a tree back as source, with the same tokens the
// parser saw (comments and spacing aside) so that reparsing it must yield
// the same tree.
func formatProgram(prog *ast.Program) string {
	var b strings.Builder
	for _, p := range prog.Probes {
		for i, a := range p.Points {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.Raw)
		}
		if p.Predicate != nil {
			b.WriteString(" /" + formatExpr(p.Predicate) + "/")
		}
		b.WriteString(" " + formatBlock(p.Body) + "\n")
	}
	return b.String()
}

func formatBlock(blk *ast.Block) string {
	var parts []string
	for _, s := range blk.Stmts {
		parts = append(parts, formatStmt(s))
	}
	return "{ " + strings.Join(parts, "; ") + " }"
}

func formatStmt(s ast.Stmt) string {
	switch s := s.(type) {
	case *ast.ExprStmt:
		return formatExpr(s.X)
	case *ast.AssignStmt:
		return formatExpr(s.Lhs) + " " + s.Op + " " + formatExpr(s.Rhs)
	case *ast.IncDecStmt:
		op := "--"
		if s.Inc {
			op = "++"
		}
		if s.Prefix {
			return op + " " + formatExpr(s.X)
		}
		return formatExpr(s.X) + op
	case *ast.IfStmt:
		out := "if (" + formatExpr(s.Cond) + ") " + formatBlock(s.Then)
		if s.Else != nil {
			out += " else " + formatStmt(s.Else)
		}
		return out
	case *ast.Block:
		return formatBlock(s)
	case *ast.ReturnStmt:
		return "return"
	}
	panic(fmt.Sprintf("formatStmt: unexpected %T", s))
}

func formatExpr(x ast.Expr) string {
	switch x := x.(type) {
	case *ast.IntLit:
		return x.Raw
	case *ast.StringLit:
		return quote(x.Value)
	case *ast.Builtin:
		return x.Name
	case *ast.VarExpr:
		return "$" + x.Name
	case *ast.MapExpr:
		if x.Keys == nil {
			return x.Name
		}
		return x.Name + "[" + formatExprs(x.Keys) + "]"
	case *ast.FieldExpr:
		op := "."
		if x.Arrow {
			op = "->"
		}
		return formatExpr(x.X) + op + x.Field
	case *ast.CallExpr:
		return x.Func + "(" + formatExprs(x.Args) + ")"
	case *ast.UnaryExpr:
		if x.Postfix {
			return formatExpr(x.X) + x.Op
		}
		return x.Op + " " + formatExpr(x.X)
	case *ast.BinaryExpr:
		return formatExpr(x.X) + " " + x.Op + " " + formatExpr(x.Y)
	case *ast.TernaryExpr:
		return formatExpr(x.Cond) + " ? " + formatExpr(x.X) + " : " + formatExpr(x.Y)
	case *ast.TupleExpr:
		return "(" + formatExprs(x.Elems) + ")"
	case *ast.ParenExpr:
		return "(" + formatExpr(x.X) + ")"
	}
	panic(fmt.Sprintf("formatExpr: unexpected %T", x))
}

func formatExprs(xs []ast.Expr) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = formatExpr(x)
	}
	return strings.Join(parts, ", ")
}

// quote writes a string literal using only escapes the scanner decodes;
// octal escapes always have three digits so a following digit cannot join
// them.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c >= ' ' && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\%03o`, c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
