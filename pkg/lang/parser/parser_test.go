package parser

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/diag"
)

func mustParse(t *testing.T, src string) *ast.Program {
	t.Helper()
	prog, err := ParseFile("test.bt", src)
	if err != nil {
		t.Fatalf("ParseFile(%q) failed:\n%v", src, err)
	}
	return prog
}

func TestParseExpressions(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want string
	}{
		{"int", "42", "42"},
		{"hex and octal keep their spelling", "0x2a + 052", "(+ 0x2a 052)"},
		{"string", `"a\tb"`, `"a\tb"`},
		{"builtin", "pid", "pid"},
		{"argN", "arg0 + arg9", "(+ arg0 arg9)"},
		{"variable", "$x", "$x"},
		{"map", "@m", "@m"},
		{"anonymous map", "@", "@"},
		{"map with key", "@m[pid]", "(@m pid)"},
		{"map with keys", "@m[pid, comm]", "(@m pid comm)"},
		{"map with tuple key", "@m[(pid, comm)]", "(@m (tuple pid comm))"},
		{"anonymous map with key", "@[comm]", "(@ comm)"},
		{"args dot", "args.filename", "(. args filename)"},
		{"args arrow", "args->filename", "(-> args filename)"},
		{"call without args", "count()", "(call count)"},
		{"call with args", "lhist(retval, 0, 2000, 200)", "(call lhist retval 0 2000 200)"},
		{"kstack builtin", "kstack", "kstack"},
		{"kstack call", "kstack(5)", "(call kstack 5)"},
		{"nested calls", "str(args->filename, 16)", "(call str (-> args filename) 16)"},
		{"paren", "(1)", "(paren 1)"},
		{"tuple", `(1, "a", pid)`, `(tuple 1 "a" pid)`},

		// Precedence, loosest to tightest, each against its neighbour.
		{"ternary below or", "a1() || b() ? 1 : 2", "(? (|| (call a1) (call b)) 1 2)"},
		{"or below and", "1 || 2 && 3", "(|| 1 (&& 2 3))"},
		{"and below bitor", "1 && 2 | 3", "(&& 1 (| 2 3))"},
		{"bitor below xor", "1 | 2 ^ 3", "(| 1 (^ 2 3))"},
		{"xor below bitand", "1 ^ 2 & 3", "(^ 1 (& 2 3))"},
		{"bitand below equality", "1 & 2 == 3", "(& 1 (== 2 3))"},
		{"equality below relational", "1 != 2 < 3", "(!= 1 (< 2 3))"},
		{"relational below shift", "1 <= 2 << 3", "(<= 1 (<< 2 3))"},
		{"shift below additive", "1 >> 2 - 3", "(>> 1 (- 2 3))"},
		{"additive below multiplicative", "1 + 2 * 3", "(+ 1 (* 2 3))"},
		{"multiplicative below unary", "-1 * ~2 % !3", "(% (* (- 1) (~ 2)) (! 3))"},
		{"left associative", "1 - 2 - 3", "(- (- 1 2) 3)"},
		{"left associative mixed", "10 % 3 / 2 * 4", "(* (/ (% 10 3) 2) 4)"},
		{"relational ops", "1 < 2 > 3 >= 4", "(>= (> (< 1 2) 3) 4)"},
		{"parens override", "(1 + 2) * 3", "(* (paren (+ 1 2)) 3)"},
		{"ternary right associative", "1 ? 2 : 3 ? 4 : 5", "(? 1 2 (? 3 4 5))"},
		{"ternary in middle", "1 ? 2 ? 3 : 4 : 5", "(? 1 (? 2 3 4) 5)"},
		{"unary chains", "!!-~1", "(! (! (- (~ 1))))"},
		{"unary binds to postfix", "-@x++", "(- (post++ @x))"},
		{"prefix increment", "++$x + --@y", "(+ (pre++ $x) (pre-- @y))"},
		{"field binds tighter than unary", "!args->ret", "(! (-> args ret))"},
		{"comparison of strings", `comm == "bash"`, `(== comm "bash")`},
		{"full C ladder", "1 & 2 == 3 | 4 ^ 5 && 6 || 7", "(|| (&& (| (& 1 (== 2 3)) (^ 4 5)) 6) 7)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog := mustParse(t, "BEGIN { @r = "+tt.expr+"; }")
			rhs := prog.Probes[0].Body.Stmts[0].(*ast.AssignStmt).Rhs
			if got := ast.Sexpr(rhs); got != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.expr, got, tt.want)
			}
		})
	}
}

func TestParseStatements(t *testing.T) {
	tests := []struct {
		name  string
		stmts string
		want  string
	}{
		{"empty block", "", "(block)"},
		{"expression statement", `printf("hi\n");`, `(block (expr (call printf "hi\n")))`},
		{"trailing semicolon optional", "exit()", "(block (expr (call exit)))"},
		{"empty statements", ";; exit();;", "(block (expr (call exit)))"},
		{"assign", "@x = 1; $y = @x;", "(block (= @x 1) (= $y @x))"},
		{"compound assignments",
			"$x += 1; $x -= 1; $x *= 2; $x /= 2; $x %= 2; $x &= 1; $x |= 1; $x ^= 1; $x <<= 1; $x >>= 1",
			"(block (+= $x 1) (-= $x 1) (*= $x 2) (/= $x 2) (%= $x 2) (&= $x 1) (|= $x 1) (^= $x 1) (<<= $x 1) (>>= $x 1))"},
		{"increments", "@x++; @y--; ++$z; --@m[1]",
			"(block (post++ @x) (post-- @y) (pre++ $z) (pre-- (@m 1)))"},
		{"aggregation", "@[comm] = count()", "(block (= (@ comm) (call count)))"},
		{"if", "if (pid == 1) { exit(); }", "(block (if (== pid 1) (block (expr (call exit)))))"},
		{"if else", "if (1) { @a = 1 } else { @a = 2 }", "(block (if 1 (block (= @a 1)) (block (= @a 2))))"},
		{"else if chain", "if (1) {} else if (2) {} else {}", "(block (if 1 (block) (if 2 (block) (block))))"},
		{"if needs no semicolon", "if (1) {} @a = 1;", "(block (if 1 (block)) (= @a 1))"},
		{"nested if", "if (1) { if (2) { return; } }", "(block (if 1 (block (if 2 (block (return))))))"},
		{"return", "return;", "(block (return))"},
		{"return last", "@a = 1; return", "(block (= @a 1) (return))"},
		{"delete", "delete(@start[tid]);", "(block (expr (call delete (@start tid))))"},
		{"print tuple", `print((1, "a"));`, `(block (expr (call print (tuple 1 "a"))))`},
		{"comments between statements", "@a = 1; // one\n/* two */ @b = 2;", "(block (= @a 1) (= @b 2))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog := mustParse(t, "BEGIN { "+tt.stmts+" }")
			if got := ast.Sexpr(prog.Probes[0].Body); got != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.stmts, got, tt.want)
			}
		})
	}
}

// tutorial holds the bpftrace one-liners tutorial's lessons, in both the
// args-> and args. spellings, with the tree each must produce. Lesson 11
// uses a cast and is in TestParseErrors.
var tutorial = []struct {
	name string
	src  string
	want string
}{
	{"1 hello", `BEGIN { printf("hello world\n"); }`,
		`(program (probe BEGIN (block (expr (call printf "hello world\n")))))`},
	{"2 openat", `tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args->filename)); }`,
		`(program (probe tracepoint:syscalls:sys_enter_openat (block (expr (call printf "%s %s\n" comm (call str (-> args filename)))))))`},
	{"2 openat dot", `tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args.filename)); }`,
		`(program (probe tracepoint:syscalls:sys_enter_openat (block (expr (call printf "%s %s\n" comm (call str (. args filename)))))))`},
	{"3 syscall counts", `tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }`,
		`(program (probe tracepoint:raw_syscalls:sys_enter (block (= (@ comm) (call count)))))`},
	{"4 read bytes", `tracepoint:syscalls:sys_exit_read /pid == 18644/ { @bytes = hist(args->ret); }`,
		`(program (probe tracepoint:syscalls:sys_exit_read (pred (== pid 18644)) (block (= @bytes (call hist (-> args ret))))))`},
	{"4 read bytes dot", `tracepoint:syscalls:sys_exit_read /pid == 18644/ { @bytes = hist(args.ret); }`,
		`(program (probe tracepoint:syscalls:sys_exit_read (pred (== pid 18644)) (block (= @bytes (call hist (. args ret))))))`},
	{"5 lhist", `kretprobe:vfs_read { @bytes = lhist(retval, 0, 2000, 200); }`,
		`(program (probe kretprobe:vfs_read (block (= @bytes (call lhist retval 0 2000 200)))))`},
	{"6 read latency", `kprobe:vfs_read { @start[tid] = nsecs; } kretprobe:vfs_read /@start[tid]/ { @ns[comm] = hist(nsecs - @start[tid]); delete(@start[tid]); }`,
		`(program (probe kprobe:vfs_read (block (= (@start tid) nsecs))) (probe kretprobe:vfs_read (pred (@start tid)) (block (= (@ns comm) (call hist (- nsecs (@start tid)))) (expr (call delete (@start tid))))))`},
	{"7 sched wildcard", `tracepoint:sched:sched* { @[probe] = count(); } interval:s:5 { exit(); }`,
		`(program (probe tracepoint:sched:sched* (block (= (@ probe) (call count)))) (probe interval:s:5 (block (expr (call exit)))))`},
	{"8 profile", `profile:hz:99 { @[kstack] = count(); }`,
		`(program (probe profile:hz:99 (block (= (@ kstack) (call count)))))`},
	{"9 sched_switch", `tracepoint:sched:sched_switch { @[kstack] = count(); }`,
		`(program (probe tracepoint:sched:sched_switch (block (= (@ kstack) (call count)))))`},
	{"10 block io", `tracepoint:block:block_rq_issue { @ = hist(args->bytes); }`,
		`(program (probe tracepoint:block:block_rq_issue (block (= @ (call hist (-> args bytes))))))`},
	{"10 block io dot", `tracepoint:block:block_rq_issue { @ = hist(args.bytes); }`,
		`(program (probe tracepoint:block:block_rq_issue (block (= @ (call hist (. args bytes))))))`},
	{"12 string predicate", `tracepoint:syscalls:sys_enter_openat /comm == "bash"/ { printf("%s\n", str(args.filename)); }`,
		`(program (probe tracepoint:syscalls:sys_enter_openat (pred (== comm "bash")) (block (expr (call printf "%s\n" (call str (. args filename)))))))`},
	{"12 string predicate arrow", `tracepoint:syscalls:sys_enter_openat /comm == "bash"/ { printf("%s\n", str(args->filename)); }`,
		`(program (probe tracepoint:syscalls:sys_enter_openat (pred (== comm "bash")) (block (expr (call printf "%s\n" (call str (-> args filename)))))))`},
}

func TestTutorialLessons(t *testing.T) {
	for _, tt := range tutorial {
		t.Run(tt.name, func(t *testing.T) {
			if got := ast.Sexpr(mustParse(t, tt.src)); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParsePrograms(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"several points share a block", "kprobe:a, kretprobe:b,t:c:d { exit() }",
			"(program (probe kprobe:a kretprobe:b tracepoint:c:d (block (expr (call exit)))))"},
		{"predicate division", "kprobe:f /pid / 2 == 1/ { }", "(program (probe kprobe:f (pred (== (/ pid 2) 1)) (block)))"},
		{"predicate division in parens", "kprobe:f /(pid / 2) == 1/ { }",
			"(program (probe kprobe:f (pred (== (paren (/ pid 2)) 1)) (block)))"},
		{"predicate without spaces", "kprobe:f/pid/{}", "(program (probe kprobe:f (pred pid) (block)))"},
		{"predicate before newline brace", "kprobe:f /pid/\n{}", "(program (probe kprobe:f (pred pid) (block)))"},
		{"uprobe path then predicate", "uprobe:/bin/bash:readline/pid/{}",
			"(program (probe uprobe:/bin/bash:readline (pred pid) (block)))"},
		{"lowercase begin and end", "begin {} end {}", "(program (probe BEGIN (block)) (probe END (block)))"},
		{"multi-line with comments", "// count opens\nt:syscalls:sys_enter_openat\n{\n\t@[comm] = count(); /* per comm */\n}\n",
			"(program (probe tracepoint:syscalls:sys_enter_openat (block (= (@ comm) (call count)))))"},
		{"shebang", "#!/usr/bin/env bpftrace\nBEGIN { exit(); }", "(program (probe BEGIN (block (expr (call exit)))))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ast.Sexpr(mustParse(t, tt.src)); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestAttachPoints(t *testing.T) {
	tests := []struct {
		spec string
		want ast.AttachPoint // Start is always 0
	}{
		{"BEGIN", ast.AttachPoint{Kind: ast.Begin}},
		{"begin", ast.AttachPoint{Kind: ast.Begin}},
		{"END", ast.AttachPoint{Kind: ast.End}},
		{"end", ast.AttachPoint{Kind: ast.End}},
		{"tracepoint:syscalls:sys_enter_openat", ast.AttachPoint{Kind: ast.Tracepoint, Target: "syscalls", Func: "sys_enter_openat"}},
		{"t:sys*:sys_?nter_*", ast.AttachPoint{Kind: ast.Tracepoint, Target: "sys*", Func: "sys_?nter_*"}},
		{"rawtracepoint:sched_switch", ast.AttachPoint{Kind: ast.RawTracepoint, Func: "sched_switch"}},
		{"rt:sched_switch", ast.AttachPoint{Kind: ast.RawTracepoint, Func: "sched_switch"}},
		{"kprobe:vfs_read", ast.AttachPoint{Kind: ast.Kprobe, Func: "vfs_read"}},
		{"k:vfs_*", ast.AttachPoint{Kind: ast.Kprobe, Func: "vfs_*"}},
		{"kprobe:kfree_skb.isra.0", ast.AttachPoint{Kind: ast.Kprobe, Func: "kfree_skb.isra.0"}},
		{"kretprobe:vfs_read", ast.AttachPoint{Kind: ast.Kretprobe, Func: "vfs_read"}},
		{"kr:vfs_read", ast.AttachPoint{Kind: ast.Kretprobe, Func: "vfs_read"}},
		{"uprobe:/bin/bash:readline", ast.AttachPoint{Kind: ast.Uprobe, Target: "/bin/bash", Func: "readline"}},
		{"u:/lib/x86_64-linux-gnu/libc.so.6:malloc", ast.AttachPoint{Kind: ast.Uprobe, Target: "/lib/x86_64-linux-gnu/libc.so.6", Func: "malloc"}},
		{"uretprobe:/usr/lib/libstdc++.so.6:_Znwm", ast.AttachPoint{Kind: ast.Uretprobe, Target: "/usr/lib/libstdc++.so.6", Func: "_Znwm"}},
		{"ur:./a.out:main", ast.AttachPoint{Kind: ast.Uretprobe, Target: "./a.out", Func: "main"}},
		{"profile:hz:99", ast.AttachPoint{Kind: ast.Profile, Unit: "hz", Rate: 99}},
		{"p:s:1", ast.AttachPoint{Kind: ast.Profile, Unit: "s", Rate: 1}},
		{"profile:ms:10", ast.AttachPoint{Kind: ast.Profile, Unit: "ms", Rate: 10}},
		{"profile:us:500", ast.AttachPoint{Kind: ast.Profile, Unit: "us", Rate: 500}},
		{"interval:s:5", ast.AttachPoint{Kind: ast.Interval, Unit: "s", Rate: 5}},
		{"i:ms:100", ast.AttachPoint{Kind: ast.Interval, Unit: "ms", Rate: 100}},
		{"interval:us:18446744073709551615", ast.AttachPoint{Kind: ast.Interval, Unit: "us", Rate: 18446744073709551615}},
		{"interval:hz:2", ast.AttachPoint{Kind: ast.Interval, Unit: "hz", Rate: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			prog := mustParse(t, tt.spec+" {}")
			got := *prog.Probes[0].Points[0]
			want := tt.want
			want.Raw = tt.spec
			if got != want {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestAttachPointNames(t *testing.T) {
	src := "k:f, kr:f, t:a:b, rt:x, u:/b:s, ur:/b:s, p:hz:9, i:s:1, begin {}"
	want := []string{"kprobe:f", "kretprobe:f", "tracepoint:a:b", "rawtracepoint:x",
		"uprobe:/b:s", "uretprobe:/b:s", "profile:hz:9", "interval:s:1", "BEGIN"}
	var got []string
	for _, a := range mustParse(t, src).Probes[0].Points {
		got = append(got, a.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("names\n got %v\nwant %v", got, want)
	}
}

// errorLines parses src and returns its errors as "line:col: message".
func errorLines(t *testing.T, src string) []string {
	t.Helper()
	_, err := ParseFile("test.bt", src)
	if err == nil {
		return nil
	}
	var list diag.List
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, not a diag.List: %v", err, err)
	}
	var lines []string
	for _, e := range list {
		p := e.Position()
		lines = append(lines, fmt.Sprintf("%d:%d: %s", p.Line, p.Column, e.Msg))
	}
	return lines
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		// The program as a whole.
		{"empty program", "", []string{"1:1: empty program: expected at least one probe such as BEGIN { ... }"}},
		{"only a comment", "// nothing\n", []string{"2:1: empty program: expected at least one probe such as BEGIN { ... }"}},
		{"not a probe", "42 { }", []string{"1:1: expected probe, found '42'"}},
		{"stray brace then probe", "} BEGIN { @x = y; }", []string{
			"1:1: expected probe, found '}'",
			`1:16: unknown identifier "y"`}},

		// Lexical errors, reported with positions inside the program.
		{"unterminated string", `BEGIN { printf("abc); }`, []string{
			"1:16: unterminated string",
			"1:24: expected ')', found end of file"}},
		{"unterminated comment", "BEGIN { /* x", []string{
			"1:9: unterminated comment",
			"1:13: missing '}' to close the block opened at 1:7"}},
		{"bad numbers", "BEGIN { @x = 0x; @y = 08; @z = 12ab; }", []string{
			"1:14: hexadecimal literal has no digits",
			"1:24: invalid digit '8' in octal literal",
			"1:34: invalid digit 'a' in decimal literal"}},
		{"number too large", "BEGIN { @x = 18446744073709551616; }",
			[]string{"1:14: integer literal 18446744073709551616 does not fit in 64 bits"}},
		{"bad escapes", `BEGIN { printf("a\q\x\777"); }`, []string{
			`1:18: invalid escape sequence '\q'`,
			`1:20: invalid escape sequence '\x': want 1 or 2 hexadecimal digits after it`,
			`1:22: octal escape value \777 is larger than 255`}},
		{"invalid character", "BEGIN {\n\t@x = 1 ` 2;\n}", []string{
			"2:9: invalid character '`'",
			"2:11: expected ';' or '}' after statement, found '2'"}},
		{"include", "#include <linux/sched.h>\nBEGIN { }", []string{
			"1:1: preprocessor directive #include is not supported: this language has no C headers or struct types"}},
		{"positional parameter", "BEGIN { @x = $1; }", []string{"1:14: positional parameters like $1 are not supported"}},

		// Probe headers.
		{"unknown probe type", "foo:bar { }", []string{`1:1: unknown probe type "foo"`}},
		{"unknown probe type later in list", "kprobe:f,\n  usdt:/bin/x:p { }", []string{`2:3: unknown probe type "usdt" (bpftrace's usdt probes are not supported)`}},
		{"unknown probe type without fields", "BEGINN { }", []string{`1:1: unknown probe type "BEGINN" (did you mean BEGIN?)`}},
		{"probe type typo", "kprob:vfs_read { }", []string{`1:1: unknown probe type "kprob" (did you mean kprobe?)`}},
		{"probe type case", "Interval:s:1 { }", []string{`1:1: unknown probe type "Interval" (did you mean interval?)`}},
		{"short probe type gets no guess", "x:y { }", []string{`1:1: unknown probe type "x"`}},
		{"unsupported short probe type", "f:vfs_read { }", []string{`1:1: unknown probe type "f" (bpftrace's f probes are not supported)`}},
		{"profile without number", "profile:hz: { }", []string{`1:12: missing number in probe "profile:hz:" (want profile:UNIT:NUMBER)`}},
		{"profile without unit", "p { }", []string{`1:2: missing unit in probe "p" (want p:UNIT:NUMBER)`}},
		{"profile zero", "profile:hz:0 { }", []string{`1:12: invalid number "0" in probe "profile:hz:0" (want a positive integer)`}},
		{"profile word", "profile:hz:fast { }", []string{`1:12: invalid number "fast" in probe "profile:hz:fast" (want a positive integer)`}},
		{"profile overflow", "profile:hz:18446744073709551616 { }",
			[]string{`1:12: invalid number "18446744073709551616" in probe "profile:hz:18446744073709551616" (want a positive integer)`}},
		{"interval bad unit", "interval:xx:1 { }", []string{`1:10: unknown unit "xx" in probe "interval:xx:1" (want hz, s, ms or us)`}},
		{"tracepoint without event", "tracepoint:syscalls { }", []string{`1:20: missing event in probe "tracepoint:syscalls" (want tracepoint:CATEGORY:EVENT)`}},
		{"tracepoint empty event", "t:syscalls: { }", []string{`1:12: missing event in probe "t:syscalls:" (want t:CATEGORY:EVENT)`}},
		{"tracepoint too many fields", "t:a:b:c { }", []string{`1:6: too many fields in probe "t:a:b:c" (want t:CATEGORY:EVENT)`}},
		{"kprobe without function", "kprobe { }", []string{`1:7: missing function in probe "kprobe" (want kprobe:FUNCTION)`}},
		{"kprobe space before colon", "kprobe :f { }", []string{
			`1:7: missing function in probe "kprobe" (want kprobe:FUNCTION)`,
			"1:8: expected ',', '/' or '{', found ':'"}},
		{"kprobe offset", "kprobe:f+4 { }", []string{"1:9: expected ',', '/' or '{', found '+'"}},
		{"uprobe without symbol", "uprobe:/bin/bash { }", []string{`1:17: missing symbol in probe "uprobe:/bin/bash" (want uprobe:PATH:SYMBOL)`}},
		{"uprobe empty path", "ur::readline { }", []string{`1:4: missing path in probe "ur::readline" (want ur:PATH:SYMBOL)`}},
		{"BEGIN with argument", "BEGIN:x { }", []string{`1:6: BEGIN probe takes no arguments, found ":x"`}},
		{"END with argument", "END:a:b { }", []string{`1:4: END probe takes no arguments, found ":a:b"`}},
		{"kprobe with module", "kprobe:ext4:ext4_sync_fs { }", []string{`1:12: too many fields in probe "kprobe:ext4:ext4_sync_fs" (want kprobe:FUNCTION)`}},
		{"rawtracepoint without event", "rt: { }", []string{`1:4: missing event in probe "rt:" (want rt:EVENT)`}},
		{"profile bad unit", "profile:sec:1 { }", []string{`1:9: unknown unit "sec" in probe "profile:sec:1" (want hz, s, ms or us)`}},
		{"interval new syntax", "interval:1s { }", []string{`1:12: missing number in probe "interval:1s" (want interval:UNIT:NUMBER)`}},
		{"each bad point reported", "k:, t:a, p:x:1 { }", []string{
			`1:3: missing function in probe "k:" (want k:FUNCTION)`,
			`1:8: missing event in probe "t:a" (want t:CATEGORY:EVENT)`,
			`1:12: unknown unit "x" in probe "p:x:1" (want hz, s, ms or us)`}},
		{"missing comma", "kprobe:f kprobe:g { }", []string{"1:10: expected ',', '/' or '{', found 'kprobe'"}},
		{"trailing comma", "kprobe:f, { }", []string{"1:11: expected probe, found '{'"}},
		{"missing body", "kprobe:f", []string{"1:9: expected ',', '/' or '{', found end of file"}},
		{"missing body after predicate", "kprobe:f /pid/", []string{"1:15: expected '{', found end of file"}},
		{"unclosed predicate", "kprobe:f /pid { }", []string{"1:15: expected '/' to end the predicate, found '{'"}},
		{"bad predicate", "kprobe:f /pid == / { @x = 1; }", []string{"1:18: expected expression, found '/'"}},
		{"assignment in predicate", "kprobe:f /pid = 1/ { }", []string{"1:15: expected '/' to end the predicate, found '=' (use == to compare)"}},
		{"predicate before end of file", "kprobe:f /pid", []string{"1:14: expected '/' to end the predicate, found end of file"}},
		{"body parsed after header error", "kprobe:f +/ { @x = y; }", []string{
			"1:10: expected ',', '/' or '{', found '+'",
			`1:20: unknown identifier "y"`}},

		// Blocks and statements.
		{"missing closing brace", "BEGIN { @x = 1;\n", []string{"2:1: missing '}' to close the block opened at 1:7"}},
		{"missing closing brace of if", "BEGIN {\n  if (1) {\n    @x = 1;\n}", []string{"4:2: missing '}' to close the block opened at 1:7"}},
		{"missing semicolon", "BEGIN { @x = 1 @y = 2; }", []string{"1:16: expected ';' or '}' after statement, found '@y'"}},
		{"missing semicolon recovers", "BEGIN { @x = 1 @y = 2; @z = q; }", []string{
			"1:16: expected ';' or '}' after statement, found '@y'",
			`1:29: unknown identifier "q"`}},
		{"unknown identifier", "BEGIN { @x = foo; }", []string{`1:14: unknown identifier "foo"`}},
		{"function without parentheses", "BEGIN { @x = count; }", []string{`1:14: unknown identifier "count" (to call it, write count())`}},
		{"builtin typo", "BEGIN { @x[comn] = 1; }", []string{`1:12: unknown identifier "comn" (did you mean comm?)`}},
		{"builtin case", "BEGIN { @x = PID; }", []string{`1:14: unknown identifier "PID" (did you mean pid?)`}},
		{"builtin extra letter", "BEGIN { @x = retvals; }", []string{`1:14: unknown identifier "retvals" (did you mean retval?)`}},
		{"argument out of range", "BEGIN { @x = arg10; }", []string{`1:14: unknown identifier "arg10" (the arguments are arg0 to arg9)`}},
		{"unknown identifier in field", "BEGIN { @x = a.b; }", []string{`1:14: unknown identifier "a"`}},
		{"several errors in one probe", "BEGIN { @x = ; @y = (1; $z = 1 +; }", []string{
			"1:14: expected expression, found ';'",
			"1:23: expected ')', found ';'",
			"1:33: expected expression, found ';'"}},
		{"errors in several probes", "BEGIN { @x = ; } kprobe:f { @y = ]; }", []string{
			"1:14: expected expression, found ';'",
			"1:34: expected expression, found ']'"}},
		{"assign to builtin", "BEGIN { pid = 1; }", []string{"1:9: cannot assign to builtin pid (want a $variable or an @map)"}},
		{"assign to call", "BEGIN { count() = 1; }", []string{"1:9: cannot assign to the result of count() (want a $variable or an @map)"}},
		{"increment literal", "BEGIN { 3++; }", []string{"1:9: cannot apply ++ to integer 3 (want a $variable or an @map)"}},
		{"decrement field", "t:a:b { --args.x; }", []string{"1:11: cannot apply -- to field x (want a $variable or an @map)"}},
		{"if without parens", "BEGIN { if pid { } }", []string{"1:12: expected '(' after if, found 'pid'"}},
		{"if without block", "BEGIN { if (pid) @x = 1; }", []string{"1:18: expected '{', found '@x'"}},
		{"assignment in if", "BEGIN { if ($x = 1) { } }", []string{"1:16: expected ')', found '=' (use == to compare)"}},
		{"unclosed if condition", "BEGIN { if ($x == 1 { } }", []string{"1:21: expected ')', found '{'"}},
		{"if at end of file", "BEGIN { if", []string{"1:11: expected '(' after if, found end of file"}},
		{"else without if", "BEGIN { else { } }", []string{"1:9: else without a preceding if"}},
		{"else followed by junk", "BEGIN { if (1) {} else @x = 1; }", []string{"1:24: expected 'if' or '{' after else, found '@x'"}},
		{"return with value", "BEGIN { return 1; }", []string{"1:16: expected ';' after return (return takes no value), found '1'"}},
		{"while loop", "BEGIN { while (1) { } @x = y; }", []string{
			"1:9: while loops are not supported",
			`1:28: unknown identifier "y"`}},
		{"for loop", "BEGIN { for ($i = 0; $i < 3; $i++) { } }", []string{"1:9: for loops are not supported"}},
		{"unroll", "BEGIN { unroll(3) { @x++; } }", []string{"1:9: unroll is not supported"}},
		{"break", "BEGIN { break; @x = y; }", []string{"1:9: break is not supported (there are no loops)", `1:21: unknown identifier "y"`}},
		{"continue", "BEGIN { continue }", []string{"1:9: continue is not supported (there are no loops)"}},
		{"bare block", "BEGIN { { } }", []string{"1:9: expected statement, found '{'"}},

		// Expressions.
		{"empty map key", "BEGIN { @x[] = 1; }", []string{"1:12: expected map key, found ']'"}},
		{"unclosed map key", "BEGIN { @x[1 = 1; }", []string{"1:14: expected ']', found '='"}},
		{"missing field name", "t:a:b { @x = args->; }", []string{"1:20: expected field name, found ';'"}},
		{"empty parens", "BEGIN { @x = (); }", []string{"1:15: expected expression, found ')'"}},
		{"trailing comma in call", "BEGIN { printf(\"%d\", 1,); }", []string{"1:24: expected expression, found ')'"}},
		{"unclosed call", "BEGIN { printf(\"x\"; }", []string{"1:19: expected ')', found ';'"}},
		{"ternary without colon", "BEGIN { @x = 1 ? 2; }", []string{"1:19: expected ':' in conditional expression, found ';'"}},
		{"keyword as expression", "BEGIN { @x = if; }", []string{"1:14: expected expression, found 'if'"}},
		{"string in found", `BEGIN { @x = 1 "abc"; }`, []string{`1:16: expected ';' or '}' after statement, found string "abc"`}},
		{"long token shortened", "BEGIN { @x = 1 @a_very_long_map_name_indeed_yes = 2; }",
			[]string{"1:16: expected ';' or '}' after statement, found '@a_very_long_map_name_in...'"}},
		{"unclosed call at semicolon", "BEGIN { @x = count(; }", []string{"1:20: expected expression, found ';'"}},
		{"unclosed printf", `BEGIN { printf("%d\n", @x[1]; }`, []string{"1:29: expected ')', found ';'"}},
		{"map of maps", "BEGIN { @x[1][2] = 1; }", []string{"1:14: expected ';' or '}' after statement, found '['"}},
		{"two strings", `BEGIN { @x = "a" "b"; }`, []string{`1:18: expected ';' or '}' after statement, found string "b"`}},
		{"columns count bytes", "BEGIN { @x = é; }", []string{"1:14: invalid character 'é'", "1:16: expected expression, found ';'"}},
		{"error on a later line", "BEGIN\n{\n  @x = 1;\n  @y = @x +* 2;\n}", []string{"4:12: pointer dereference is not supported"}},
		{"extra closing brace", "BEGIN { @x = 1 } }", []string{"1:18: expected probe, found '}'"}},
		{"semicolon between probes", "k:f { } ; k:g { }", []string{"1:9: expected probe, found ';'"}},
		{"junk after last probe", "BEGIN { } extra", []string{
			`1:11: unknown probe type "extra"`,
			"1:16: expected ',', '/' or '{', found end of file"}},
		{"empty predicate", "kprobe:f / { }", []string{"1:12: expected expression, found '{'"}},
		{"dereference", "BEGIN { @x = *arg0; }", []string{"1:14: pointer dereference is not supported"}},
		{"address of", "BEGIN { @x = &arg0; }", []string{"1:14: taking an address with & is not supported"}},
		{"tutorial lesson 11 cast", `kprobe:vfs_open { printf("open path: %s\n", str(((struct path *)arg0)->dentry->d_name.name)); }`,
			[]string{"1:50: casts and struct types are not supported"}},
		{"integer cast", "BEGIN { @x = (uint32)arg0; }", []string{"1:14: casts and struct types are not supported"}},
		{"struct outside a cast", "BEGIN { @x = struct; }", []string{"1:14: casts and struct types are not supported"}},
		{"nesting limit", "BEGIN { @x = " + strings.Repeat("(", 600) + "1" + strings.Repeat(")", 600) + "; }",
			[]string{"1:514: expression nested too deeply"}},
		{"unary nesting limit", "BEGIN { @x = " + strings.Repeat("!", 2000) + "1; }",
			[]string{"1:1013: expression nested too deeply"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorLines(t, tt.src)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors for %q\n got %q\nwant %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestPartialProgramOnError(t *testing.T) {
	prog, err := ParseFile("t", "BEGIN { @x = 1; @y = ; @z = foo; } kprobe:f { exit(); }")
	if err == nil {
		t.Fatal("no error")
	}
	want := "(program (probe BEGIN (block (= @x 1) (= @z (bad)))) (probe kprobe:f (block (expr (call exit)))))"
	if got := ast.Sexpr(prog); got != want {
		t.Errorf("partial program\n got %s\nwant %s", got, want)
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := ParseFile("-e", "BEGIN {\n\t@x = foo;\n}")
	want := "-e:2:7: unknown identifier \"foo\"\n\t@x = foo;\n\t     ^"
	if err == nil || err.Error() != want {
		t.Errorf("error text\n got %q\nwant %q", err, want)
	}
}

func TestErrorsAreSortedAndCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("BEGIN {")
	for i := 0; i < 3*diag.MaxErrors; i++ {
		b.WriteString(" @x = ;")
	}
	b.WriteString(" }")
	lines := errorLines(t, b.String())
	if len(lines) != diag.MaxErrors {
		t.Fatalf("got %d errors, want the cap %d", len(lines), diag.MaxErrors)
	}
	_, err := ParseFile("t", b.String())
	list := err.(diag.List)
	for i := 1; i < len(list); i++ {
		if list[i-1].Pos >= list[i].Pos {
			t.Errorf("errors not sorted by position: %d before %d", list[i-1].Pos, list[i].Pos)
		}
	}
	if first := lines[0]; first != "1:14: expected expression, found ';'" {
		t.Errorf("first error %q is not the first in the source", first)
	}
}

// TestPositions checks the exact offset of every node of a program that
// exercises each node type.
func TestPositions(t *testing.T) {
	src := "kprobe:f,\n t:a:b /$v/ {\n @m[1, \"s\"] = -@q++ * args->x ? (pid, $y) : cnt(kstack);\n if (!@) { ++@n; } else { return; }\n}"
	prog := mustParse(t, src)
	var got []string
	ast.Inspect(prog, func(n ast.Node) bool {
		if n == nil {
			return false
		}
		text := src[n.Pos():]
		if i := strings.IndexAny(text, " \n"); i >= 0 {
			text = text[:i]
		}
		got = append(got, fmt.Sprintf("%T@%d:%s", n, n.Pos(), text))
		return true
	})
	want := []string{
		"*ast.Program@0:kprobe:f,",
		"*ast.Probe@0:kprobe:f,",
		"*ast.AttachPoint@0:kprobe:f,",
		"*ast.AttachPoint@11:t:a:b",
		"*ast.VarExpr@18:$v/",
		"*ast.Block@22:{",
		"*ast.AssignStmt@25:@m[1,",
		"*ast.MapExpr@25:@m[1,",
		"*ast.IntLit@28:1,",
		"*ast.StringLit@31:\"s\"]",
		"*ast.TernaryExpr@38:-@q++",
		"*ast.BinaryExpr@38:-@q++",
		"*ast.UnaryExpr@38:-@q++",
		"*ast.UnaryExpr@39:@q++",
		"*ast.MapExpr@39:@q++",
		"*ast.FieldExpr@46:args->x",
		"*ast.Builtin@46:args->x",
		"*ast.TupleExpr@56:(pid,",
		"*ast.Builtin@57:pid,",
		"*ast.VarExpr@62:$y)",
		"*ast.CallExpr@68:cnt(kstack);",
		"*ast.Builtin@72:kstack);",
		"*ast.IfStmt@82:if",
		"*ast.UnaryExpr@86:!@)",
		"*ast.MapExpr@87:@)",
		"*ast.Block@90:{",
		"*ast.IncDecStmt@92:++@n;",
		"*ast.MapExpr@94:@n;",
		"*ast.Block@105:{",
		"*ast.ReturnStmt@107:return;",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("positions\n got %q\nwant %q", got, want)
	}

	// Positions of parts that are not node starts.
	stmt := prog.Probes[0].Body.Stmts[0].(*ast.AssignStmt)
	if stmt.OpPos != 36 {
		t.Errorf("AssignStmt.OpPos = %d, want 36", stmt.OpPos)
	}
	field := stmt.Rhs.(*ast.TernaryExpr).Cond.(*ast.BinaryExpr).Y.(*ast.FieldExpr)
	if field.FPos != 52 || !field.Arrow {
		t.Errorf("FieldExpr.FPos = %d arrow %v, want 52 and true", field.FPos, field.Arrow)
	}
	call := stmt.Rhs.(*ast.TernaryExpr).Y.(*ast.CallExpr)
	if call.Rparen != 78 {
		t.Errorf("CallExpr.Rparen = %d, want 78", call.Rparen)
	}
	inc := prog.Probes[0].Body.Stmts[1].(*ast.IfStmt).Then.Stmts[0].(*ast.IncDecStmt)
	if inc.OpPos != 92 || !inc.Inc || !inc.Prefix {
		t.Errorf("IncDecStmt = %+v, want prefix ++ at 92", inc)
	}
}

func TestIsBuiltin(t *testing.T) {
	for _, name := range []string{"pid", "tid", "uid", "gid", "comm", "nsecs", "elapsed", "cpu",
		"cgroup", "retval", "arg0", "arg5", "arg9", "probe", "func", "kstack", "ustack", "rand",
		"args", "curtask", "cpid", "username"} {
		if !IsBuiltin(name) {
			t.Errorf("IsBuiltin(%q) = false, want true", name)
		}
	}
	for _, name := range []string{"arg10", "printf", "count", "if", "BEGIN", "Pid", ""} {
		if IsBuiltin(name) {
			t.Errorf("IsBuiltin(%q) = true, want false", name)
		}
	}
}
