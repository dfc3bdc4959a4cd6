package scanner

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
)

// scanAll returns every token of src as "pos:TOKEN:literal" and every error
// as "pos: message".
func scanAll(src string) (toks, errs []string) {
	var s Scanner
	s.Init(src, func(pos ast.Pos, msg string) {
		errs = append(errs, fmt.Sprintf("%d: %s", pos, msg))
	})
	for {
		pos, tok, lit := s.Scan()
		if tok == EOF {
			if int(pos) != len(src) {
				toks = append(toks, fmt.Sprintf("EOF at %d, want %d", pos, len(src)))
			}
			return toks, errs
		}
		toks = append(toks, fmt.Sprintf("%d:%s:%s", pos, tok, lit))
	}
}

func TestScanTokens(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // tokens joined by spaces
	}{
		{"identifiers", "pid arg0 _x9", "0:identifier:pid 4:identifier:arg0 9:identifier:_x9"},
		{"numbers", "0 42 0x2A 017", "0:integer:0 2:integer:42 5:integer:0x2A 10:integer:017"},
		{"variables and maps", "$x @ @name @a_1", "0:variable:$x 3:map:@ 5:map:@name 11:map:@a_1"},
		{"longest operator first", "<<= >>= << >> <= >= < > == = != !",
			"0:<<=: 4:>>=: 8:<<: 11:>>: 14:<=: 17:>=: 20:<: 22:>: 24:==: 27:=: 29:!=: 32:!:"},
		{"arithmetic", "+ ++ += - -- -= -> * *= / /= % %=",
			"0:+: 2:++: 5:+=: 8:-: 10:--: 13:-=: 16:->: 19:*: 21:*=: 24:/: 26:/=: 29:%: 31:%=:"},
		{"bitwise and logic", "& && &= | || |= ^ ^= ~", "0:&: 2:&&: 5:&=: 8:|: 10:||: 13:|=: 16:^: 18:^=: 21:~:"},
		{"punctuation", "()[]{},;:?.", "0:(: 1:): 2:[: 3:]: 4:{: 5:}: 6:,: 7:;: 8::: 9:?: 10:.:"},
		{"no space needed", "a->b.c", "0:identifier:a 1:->: 3:identifier:b 4:.: 5:identifier:c"},
		{"line comment", "a // b c\nd", "0:identifier:a 9:identifier:d"},
		{"block comment", "a /* b\n c */ d", "0:identifier:a 13:identifier:d"},
		{"division is not a comment", "a / b", "0:identifier:a 2:/: 4:identifier:b"},
		{"shebang line", "#!/usr/bin/env bpftrace\nBEGIN", "24:identifier:BEGIN"},
		{"string", `"a b"`, "0:string:a b"},
		{"crlf is white space", "a\r\nb", "0:identifier:a 3:identifier:b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks, errs := scanAll(tt.src)
			if len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if got := strings.Join(toks, " "); got != tt.want {
				t.Errorf("Scan(%q)\n got %s\nwant %s", tt.src, got, tt.want)
			}
		})
	}
}

func TestScanStringEscapes(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{`"plain"`, "plain"},
		{`"a\nb\tc"`, "a\nb\tc"},
		{`"\\ \" \r"`, "\\ \" \r"},
		{`"\x41\x4a\x7"`, "AJ\x07"},
		{`"\101\60\0"`, "A0\x00"},
		{`"\1234"`, "S4"}, // octal escapes take at most three digits
		{`"\x414"`, "A4"}, // hex escapes take at most two digits
		{`"héllo"`, "héllo"},
		{`""`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			var s Scanner
			var errs []string
			s.Init(tt.src, func(pos ast.Pos, msg string) { errs = append(errs, msg) })
			_, tok, lit := s.Scan()
			if tok != STRING || lit != tt.want || len(errs) > 0 {
				t.Errorf("Scan(%s) = %v %q (errors %v), want string %q", tt.src, tok, lit, errs, tt.want)
			}
			if _, tok, _ := s.Scan(); tok != EOF {
				t.Errorf("string did not end at its closing quote: next token %v", tok)
			}
		})
	}
}

func TestScanErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unterminated string at end", `a "abc`, []string{"2: unterminated string"}},
		{"unterminated string at newline", "\"abc\nd", []string{"0: unterminated string"}},
		{"backslash at end", `"abc\`, []string{"0: unterminated string"}},
		{"unterminated comment", "a /* b", []string{"2: unterminated comment"}},
		{"bad escape", `"a\qb"`, []string{`2: invalid escape sequence '\q'`}},
		{"bad hex escape", `"\xg"`, []string{`1: invalid escape sequence '\x': want 1 or 2 hexadecimal digits after it`}},
		{"octal escape too large", `"\400"`, []string{`1: octal escape value \400 is larger than 255`}},
		{"hex without digits", "0x", []string{"0: hexadecimal literal has no digits"}},
		{"bad hex digit", "0x1g", []string{"3: invalid digit 'g' in hexadecimal literal"}},
		{"bad octal digit", "0129", []string{"3: invalid digit '9' in octal literal"}},
		{"letters after decimal", "12ab", []string{"2: invalid digit 'a' in decimal literal"}},
		{"lone dollar", "$ x", []string{"0: expected a variable name after '$'"}},
		{"positional parameter", "$1", []string{"0: positional parameters like $1 are not supported"}},
		{"invalid character", "a ` b", []string{"2: invalid character '`'"}},
		{"control character", "a \x01", []string{"2: invalid character U+0001"}},
		{"non-ASCII character", "a é", []string{"2: invalid character 'é'"}},
		{"include directive", "#include <linux/fs.h>\nBEGIN",
			[]string{"0: preprocessor directive #include is not supported: this language has no C headers or struct types"}},
		{"lone hash", "a # b", []string{"2: invalid character '#'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := scanAll(tt.src)
			if strings.Join(errs, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors for %q\n got %q\nwant %q", tt.src, errs, tt.want)
			}
		})
	}
}

func TestAttachField(t *testing.T) {
	tests := []struct {
		name string
		src  string // starts right after a probe type
		path []bool // path flag for each field read
		want string // fields as pos=text, then the next token
	}{
		{"tracepoint", ":syscalls:sys_enter_*{", []bool{false, false}, "1=syscalls 10=sys_enter_* next={"},
		{"uprobe path", ":/lib/x86_64-linux-gnu/libstdc++.so.6:_Znwm /", []bool{true, false},
			"1=/lib/x86_64-linux-gnu/libstdc++.so.6 38=_Znwm next=/"},
		{"slash ends a symbol", ":/bin/bash:readline/pid/", []bool{true, false}, "1=/bin/bash 11=readline next=/"},
		{"empty field", ":hz: {", []bool{false, false}, "1=hz 4= next={"},
		{"no colon", " :x", []bool{false}, "next=:"},
		{"comma ends a field", ":vfs_read,k:x", []bool{false}, "1=vfs_read next=,"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Scanner
			s.Init(tt.src, nil)
			var got []string
			for _, path := range tt.path {
				pos, lit, ok := s.AttachField(path)
				if !ok {
					break
				}
				got = append(got, fmt.Sprintf("%d=%s", pos, lit))
			}
			_, tok, _ := s.Scan()
			got = append(got, "next="+tok.String())
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("got %s, want %s", g, tt.want)
			}
		})
	}
}

func TestPeekNonSpace(t *testing.T) {
	tests := []struct {
		src  string
		want byte
	}{
		{"  {", '{'},
		{" /* c */ \n // d\n {", '{'},
		{"   ", 0},
		{" 2", '2'},
		{" /* unterminated", 0},
	}
	for _, tt := range tests {
		var s Scanner
		errs := 0
		s.Init(tt.src, func(ast.Pos, string) { errs++ })
		if got := s.PeekNonSpace(); got != tt.want {
			t.Errorf("PeekNonSpace(%q) = %q, want %q", tt.src, got, tt.want)
		}
		if s.Offset() != 0 || errs != 0 {
			t.Errorf("PeekNonSpace(%q) consumed input or reported errors", tt.src)
		}
	}
}

func TestTokenPrecedence(t *testing.T) {
	// C's order, loosest first.
	levels := [][]Token{{LOR}, {LAND}, {OR}, {XOR}, {AND}, {EQL, NEQ},
		{LSS, LEQ, GTR, GEQ}, {SHL, SHR}, {ADD, SUB}, {MUL, QUO, REM}}
	for i, level := range levels {
		for _, tok := range level {
			if got := tok.Precedence(); got != i+1 {
				t.Errorf("%v.Precedence() = %d, want %d", tok, got, i+1)
			}
		}
	}
	for _, tok := range []Token{ASSIGN, ADD_ASSIGN, NOT, BNOT, QUESTION, LPAREN, IDENT} {
		if tok.Precedence() != Lowest {
			t.Errorf("%v is not a binary operator but has precedence %d", tok, tok.Precedence())
		}
	}
}
