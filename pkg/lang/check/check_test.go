package check

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/diag"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/parser"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

func parse(t testing.TB, src string) *ast.Program {
	t.Helper()
	prog, err := parser.ParseFile("t.bt", src)
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	return prog
}

// errorLines renders a checker error as "line:col: message" lines.
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	var list diag.List
	if !errors.As(err, &list) {
		t.Fatalf("error %v is not a diag.List", err)
	}
	out := make([]string, len(list))
	for i, e := range list {
		p := e.Position()
		out[i] = fmt.Sprintf("%d:%d: %s", p.Line, p.Column, e.Msg)
	}
	return out
}

func TestCheckErrors(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{"BEGIN { @x = count(); @x = 5; }", []string{"1:23: @x already holds count() (first assigned at 1:9); it cannot also hold plain values"}},
		{"BEGIN { @x = 5; @x = count(); }", []string{"1:17: @x already holds plain values (first assigned at 1:9); it cannot also hold count()"}},
		{"BEGIN { @x = hist(1); @x = lhist(1, 0, 10, 1); }", []string{"1:23: @x already holds hist() (first assigned at 1:9); it cannot also hold lhist()"}},
		{"BEGIN { @x[1] = 1; @x[1, 2] = 2; }", []string{"1:20: @x is used with 2 keys here but with 1 key at 1:9"}},
		{"BEGIN { @y[\"a\"] = 1; @y[2] = 1; }", []string{"1:25: key 1 of @y is an integer here but a string at 1:9"}},
		{"BEGIN { @s = \"a\"; @s = 1; }", []string{"1:24: cannot assign an integer to @s, which holds string values"}},
		{"BEGIN { $s = \"a\"; $s = 1; }", []string{"1:24: cannot assign an integer to $s, which holds a string"}},
		{"BEGIN { print(@nope); }", []string{"1:15: map @nope is used but never assigned"}},
		{"BEGIN { @c = count(); if (@c > 1) { exit(); } }", []string{"1:27: @c holds count() results, which can be printed but not read in a probe"}},
		{"BEGIN { printf(\"%d\\n\", $x); }", []string{"1:24: variable $x is used before it is assigned"}},
		{"tracepoint:a:b { print(retval); }", []string{"1:24: retval is not available in tracepoint probes (only in kretprobe, uretprobe)"}},
		{"kprobe:f { print(args.x); }", []string{"1:18: args is only available in tracepoint probes, not in kprobe probes"}},
		{"tracepoint:a:b { print(arg0); }", []string{"1:24: arg0 is not available in tracepoint probes (only in kprobe, uprobe, rawtracepoint)"}},
		{"BEGIN { print(arg9); }", []string{"1:15: arg9 is out of range: only arg0 to arg5 are available"}},
		{"BEGIN { print(kstack); }", []string{"1:15: kstack is not available in BEGIN probes (only in tracepoint, rawtracepoint, kprobe, kretprobe, uprobe, uretprobe, profile, interval)"}},
		{"profile:hz:99 { print(func); }", []string{"1:23: func is not available in profile probes (only in kprobe, kretprobe, uprobe, uretprobe)"}},
		{"kprobe:f, uprobe:/bin/sh:main { print(func); }", []string{"1:39: func cannot be used in a block that mixes kernel and user probes"}},
		{"BEGIN { print(curtask); }", []string{"1:15: builtin curtask is not supported by xtrace"}},
		{"BEGIN { foo(1); }", []string{"1:9: unknown function foo()"}},
		{"BEGIN { print(); }", []string{"1:9: print() takes at least 1 argument, but 0 given"}},
		{"BEGIN { @x = str(); }", []string{"1:14: str() takes at least 1 argument, but 0 given"}},
		{"BEGIN { printf(\"%d %s\\n\", 1); }", []string{"1:9: printf: the format has 2 conversions but 1 argument given"}},
		{"BEGIN { printf(\"%d\\n\", 1, 2); }", []string{"1:9: printf: the format has 1 conversion but 2 arguments given"}},
		{"BEGIN { printf(\"%d\\n\", \"a\"); }", []string{"1:24: printf: %d needs an integer, but argument 1 is a string"}},
		{"BEGIN { printf(\"%s\\n\", 1); }", []string{"1:24: printf: %s needs a string, but argument 1 is an integer (str() reads the string at an address)"}},
		{"BEGIN { printf(\"%q\\n\", 1); }", []string{"1:16: printf: unknown conversion \"%q\" in the format (use one of %d %i %u %x %X %o %c %s %p)"}},
		{"BEGIN { printf(\"abc %\"); }", []string{"1:16: printf: incomplete conversion \"%\" at the end of the format"}},
		{"BEGIN { $f = \"x\"; printf($f); }", []string{"1:26: the first argument of printf() must be a string literal"}},
		{"BEGIN { printf(\"%d\\n\", (1, 2)); }", []string{"1:24: printf: a tuple cannot be printed with %d; print its elements one by one"}},
		{"BEGIN { @x = lhist(1, 0, 10, 0); }", []string{"1:30: lhist() step must be greater than 0"}},
		{"BEGIN { @x = lhist(1, 10, 5, 1); }", []string{"1:27: lhist() max must be greater than min"}},
		{"BEGIN { @x = lhist(1, 0, 100000, 1); }", []string{"1:34: lhist() would have more than 1000 buckets: raise the step or narrow min..max"}},
		{"BEGIN { $n = 10; @x = lhist(1, 0, $n, 1); }", []string{"1:35: lhist() needs integer literals for min, max and step"}},
		{"BEGIN { @x = lhist(1, 0, 10, 1); @x = lhist(2, 0, 20, 1); }", []string{"1:39: @x is already an lhist(min 0, max 10, step 1); all lhist() calls on a map need the same parameters"}},
		{"BEGIN { count(); }", []string{"1:9: count() must be assigned to a map, e.g. @x = count(...)"}},
		{"BEGIN { $x = count(); }", []string{"1:14: count() can only be assigned to a map, not to $x"}},
		{"BEGIN { @y = count() + 1; }", []string{"1:14: count() can only be used as the whole right-hand side of a map assignment, e.g. @x = count(...)"}},
		{"BEGIN { @y = sum(\"a\"); }", []string{"1:18: sum() needs an integer, not a string"}},
		{"BEGIN { @y = count(1); }", []string{"1:14: count() takes no arguments, but 1 given"}},
		{"BEGIN { @y = str(1) + 1; }", []string{"1:14: operator + needs integers, but its left operand is a string"}},
		{"BEGIN { if (\"a\") { exit(); } }", []string{"1:13: the if condition must be an integer, not a string"}},
		{"BEGIN { @x = \"a\" == 1; }", []string{"1:18: cannot compare a string with an integer"}},
		{"BEGIN { @x = printf(\"a\"); }", []string{"1:14: printf() does not return a value"}},
		{"BEGIN { @x = 1 ? \"a\" : 2; }", []string{"1:24: both branches of ?: must have the same type, not string and integer"}},
		{"BEGIN { exit(1); }", []string{"1:9: exit() takes no arguments, but 1 given"}},
		{"BEGIN { clear(@x[1]); @x[1] = 1; }", []string{"1:15: clear() needs a whole map, e.g. clear(@x)"}},
		{"BEGIN { @h[1] = hist(2); delete(@h[1]); }", []string{"1:26: delete() cannot remove one key of the hist() map @h; use clear(@h)"}},
		{"BEGIN { @h[1] = 1; delete(@h[1], 2); }", []string{"1:27: delete() needs a map element: delete(@m[key]) or delete(@m, key)"}},
		{"BEGIN { print(1, 2); }", []string{"1:18: print() of a value takes no top or div arguments; they only apply to maps"}},
		{"BEGIN { $x++; }", []string{"1:9: variable $x is used before it is assigned"}},
		{"BEGIN { $s = \"a\"; $s++; }", []string{"1:19: ++ and -- need an integer variable, but $s is a string"}},
		{"BEGIN { @s = \"a\"; @s += 1; }", []string{"1:22: += needs an integer on the left, not a string"}},
		{"BEGIN, tracepoint:a:b { exit(); }", []string{"1:1: BEGIN cannot share a block with other probes"}},
		{"BEGIN { @x = ksym(\"a\"); }", []string{"1:19: argument 1 of ksym() must be an integer, not a string"}},
		{"kprobe:f { @x = kstack(5); }", []string{"1:17: kstack() takes no arguments: stack modes and limits are not supported"}},
		{"BEGIN { @x = -\"a\"; }", []string{"1:14: operator - needs an integer, not a string"}},
		{"BEGIN { @x = args; }", []string{"1:14: args can only be used with a field, e.g. args.filename"}},
		{"BEGIN {\n  @x = 1;\n  @x = \"two\";\n  foo();\n}", []string{"3:8: cannot assign a string to @x, which holds integer values", "4:3: unknown function foo()"}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := Check(parse(t, tt.src))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			got := errorLines(t, err)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// validPrograms must check cleanly: the tutorial one-liners and programs
// that use every builtin, function and aggregation.
var validPrograms = []string{
	`BEGIN { printf("hello world\n"); }`,
	`tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args->filename)); }`,
	`tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }`,
	`tracepoint:syscalls:sys_exit_read /pid == 18644/ { @bytes = hist(args->ret); }`,
	`kretprobe:vfs_read { @bytes = lhist(retval, 0, 2000, 200); }`,
	`kprobe:vfs_read { @start[tid] = nsecs; } kretprobe:vfs_read /@start[tid]/ { @ns[comm] = hist(nsecs - @start[tid]); delete(@start[tid]); }`,
	`tracepoint:sched:sched* { @[probe] = count(); } interval:s:5 { exit(); }`,
	`profile:hz:99 { @[kstack] = count(); }`,
	`tracepoint:sched:sched_switch { @[kstack] = count(); }`,
	`tracepoint:block:block_rq_issue { @ = hist(args.bytes); }`,
	`tracepoint:syscalls:sys_enter_openat /comm == "bash"/ { printf("%s\n", str(args.filename)); }`,
	`kprobe:f { @[func, probe, ksym(arg0)] = sum(arg1); printf("%s %s %d\n", func, ksym(arg2), arg5); }`,
	`uprobe:/bin/bash:readline { printf("%s %s\n", usym(arg0), func); @[ustack] = count(); @k[ustack()] = count(); }`,
	`uretprobe:/bin/bash:readline { printf("%s\n", str(retval, 10)); }`,
	`rawtracepoint:sys_enter { @[arg1] = count(); }`,
	`BEGIN { $a = 1; $a += 2; $a++; --$a; $s = "x"; $s = comm; $t = (1, "x"); print($t); print(@m); @m = $a; }`,
	`BEGIN { @a = 1; @a <<= 2; @b[1, "x"]++; @c = @a + @b[1, "x"]; print(@b, 5, 2); clear(@a); zero(@c); delete(@b, (1, "x")); }`,
	`BEGIN { @mn = min(1); @mx = max(-1); @av = avg(2); @st = stats(3); printf("%-10s %5d %08x %lu %llu %ld %lld %%\n", comm, 1, 2, 3, 4, 5, 6); }`,
	`BEGIN { if (1) { return; } else if (2) { exit(); } else { printf("x"); } }`,
	`BEGIN { @x = nsecs > 0 ? elapsed : cpu + cgroup + rand + uid + gid; }`,
	`tracepoint:sched:sched_switch { $t = (args.prev_comm, 1); $t = ("x", 2); @[$t] = count(); }`,
}

func TestCheckValid(t *testing.T) {
	for _, src := range validPrograms {
		t.Run(src, func(t *testing.T) {
			if _, err := Check(parse(t, src)); err != nil {
				t.Errorf("unexpected error:\n%v", err)
			}
		})
	}
}

// TestCheckInfo checks what the checker records about maps and variables.
func TestCheckInfo(t *testing.T) {
	src := `tracepoint:a:b { @c[comm, pid] = count(); @s = sum(-1); @u = sum(1 + pid);
		@l = lhist(pid, -10, 10, 5); @v = "ab"; $x = "a"; $x = comm; @v = $x; @t[1] = (1, "x"); @t[2] = (2, comm); }`
	info, err := Check(parse(t, src))
	if err != nil {
		t.Fatal(err)
	}
	str := func(n int) program.Type { return program.Type{Kind: program.String, Size: n} }
	tests := []struct {
		name   string
		kind   program.MapKind
		keys   []program.Type
		value  program.Type
		signed bool
	}{
		{"@c", program.Count, []program.Type{str(16), intType}, intType, false},
		{"@s", program.Sum, nil, intType, true},
		{"@u", program.Sum, nil, intType, false},
		{"@l", program.LHist, nil, intType, false},
		{"@v", program.Value, nil, str(16), false},
		{"@t", program.Value, []program.Type{sintType}, tupleType([]program.Type{sintType, str(16)}), false},
	}
	for _, tt := range tests {
		m := info.Maps[tt.name]
		if m == nil {
			t.Errorf("no map %s", tt.name)
			continue
		}
		if m.Kind != tt.kind || m.Signed != tt.signed || len(m.Keys) != len(tt.keys) || !sameType(m.Value, tt.value) {
			t.Errorf("%s = %+v, want kind %v keys %v value %+v signed %v", tt.name, m, tt.kind, tt.keys, tt.value, tt.signed)
			continue
		}
		for i := range tt.keys {
			if !sameType(m.Keys[i], tt.keys[i]) {
				t.Errorf("%s key %d = %+v, want %+v", tt.name, i, m.Keys[i], tt.keys[i])
			}
		}
	}
	if p := info.Maps["@l"].LHist; p != (program.LHistParams{Min: -10, Max: 10, Step: 5}) {
		t.Errorf("@l params %+v", p)
	}
	for p, vars := range info.Vars {
		if len(vars) != 1 || !sameType(vars["x"], str(16)) {
			t.Errorf("vars of %v = %+v, want $x string[16]", p.Pos(), vars)
		}
	}
	if got := info.StrLen; got != DefaultStrLen {
		t.Errorf("StrLen = %d", got)
	}
}

// TestCheckFieldResolver checks that field types from Options.Field flow
// into expressions and maps, and that its errors land on the field.
func TestCheckFieldResolver(t *testing.T) {
	prog := parse(t, `tracepoint:a:b { @[args.name] = count(); printf("%s\n", args.name); @n = args.nr; }`)
	field := func(_ *ast.Probe, f *ast.FieldExpr) (program.Type, error) {
		switch f.Field {
		case "name":
			return program.Type{Kind: program.String, Size: 16}, nil
		case "nr":
			return sintType, nil
		}
		return program.Type{}, errors.New("no such field")
	}
	info, err := CheckOptions(prog, Options{Field: field, StrLen: 100})
	if err != nil {
		t.Fatal(err)
	}
	if k := info.Maps["@"].Keys; len(k) != 1 || k[0].Kind != program.String || k[0].Size != 16 {
		t.Errorf("@ keys = %+v", k)
	}
	if v := info.Maps["@n"]; !v.Signed {
		t.Errorf("@n = %+v, want signed", v)
	}
	if info.StrLen != 104 || !info.FieldsResolved {
		t.Errorf("StrLen %d FieldsResolved %v", info.StrLen, info.FieldsResolved)
	}

	_, err = CheckOptions(parse(t, `tracepoint:a:b { @ = args.bogus; }`), Options{Field: field})
	if got := errorLines(t, err); len(got) != 1 || got[0] != "1:27: no such field" {
		t.Errorf("errors %q", got)
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		format string
		want   string
	}{
		{"%d %u %x %X %s %c %p", "d u x X s c p"},
		{"%lu %llu %ld %lld %-10s %5d %08x %%", "u u d d s d x"},
		{"%hhd %zu %.3s %+d %#x", "d u s d x"},
	}
	for _, tt := range tests {
		verbs, err := ParseFormat(tt.format)
		if err != nil {
			t.Fatalf("%q: %v", tt.format, err)
		}
		var convs []string
		for _, v := range verbs {
			convs = append(convs, string(v.Conv))
		}
		if got := strings.Join(convs, " "); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.format, got, tt.want)
		}
	}
}

func TestPrintFormat(t *testing.T) {
	tests := []struct {
		t    program.Type
		want string
	}{
		{sintType, "%d\n"},
		{intType, "%u\n"},
		{commType, "%s\n"},
		{tupleType([]program.Type{intType, commType, tupleType([]program.Type{sintType, ksymType})}), "(%u, %s, (%d, %s))\n"},
	}
	for _, tt := range tests {
		if got := PrintFormat(tt.t); got != tt.want {
			t.Errorf("PrintFormat(%+v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, src := range validPrograms {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		prog, err := parser.ParseFile("fuzz.bt", src)
		if err != nil {
			return
		}
		info, err := Check(prog)
		if err != nil {
			var list diag.List
			if !errors.As(err, &list) && !errors.Is(err, ErrNoProgram) {
				t.Fatalf("error is neither a diag.List nor ErrNoProgram: %v", err)
			}
			return
		}
		// A clean program has a type for every map and a known layout.
		for name, m := range info.Maps {
			if m.Value.Size%8 != 0 {
				t.Fatalf("map %s value size %d", name, m.Value.Size)
			}
		}
	})
}
