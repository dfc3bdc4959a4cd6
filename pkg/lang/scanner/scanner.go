// Package scanner turns the source of a tracing program into tokens.
//
// Like go/scanner, a Scanner yields (position, token, literal) triples and
// reports malformed input through an error handler instead of stopping, so
// the parser can go on and report more than the first mistake. Positions
// are byte offsets into the source (ast.Pos).
//
// Attach points such as `uprobe:/bin/bash:readline` do not follow the lexical
// rules of expressions (a path may hold `/` and `-`), so the parser reads
// their colon-separated fields with AttachField, which works on raw bytes.
package scanner

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
)

// ErrorHandler receives each lexical error with the offset it refers to.
type ErrorHandler func(pos ast.Pos, msg string)

// Scanner reads tokens from a program's source. The zero value is not
// usable; call Init first.
type Scanner struct {
	src string
	off int // offset of the next unread byte
	err ErrorHandler

	// ErrorCount counts the errors reported so far.
	ErrorCount int
}

// Init prepares s to scan src, reporting errors to err (which may be nil).
func (s *Scanner) Init(src string, err ErrorHandler) {
	s.src = src
	s.off = 0
	s.err = err
	s.ErrorCount = 0

	// A `#!` line lets a program file be executable; it is a comment.
	if strings.HasPrefix(src, "#!") {
		s.skipLine()
	}
}

// Offset returns the offset of the next unread byte. Right after Scan, it is
// the end of the token just returned.
func (s *Scanner) Offset() ast.Pos { return ast.Pos(s.off) }

func (s *Scanner) error(off int, format string, args ...any) {
	s.ErrorCount++
	if s.err != nil {
		s.err(ast.Pos(off), fmt.Sprintf(format, args...))
	}
}

// Scan returns the next token. Comments and white space are skipped;
// characters that cannot start a token are reported and skipped, so Scan
// only ever returns real tokens and finally EOF.
//
// The literal is the identifier's name for IDENT, the text as written for
// INT, VAR and MAP, and the decoded value for STRING; it is empty for
// operators.
func (s *Scanner) Scan() (pos ast.Pos, tok Token, lit string) {
	for {
		s.skipSpaceAndComments(true)
		start := s.off
		if s.off >= len(s.src) {
			return ast.Pos(start), EOF, ""
		}
		c := s.src[s.off]
		switch {
		case isLetter(c):
			s.off++
			for s.off < len(s.src) && isIdentChar(s.src[s.off]) {
				s.off++
			}
			return ast.Pos(start), IDENT, s.src[start:s.off]
		case isDigit(c):
			return ast.Pos(start), INT, s.scanNumber()
		case c == '"':
			return ast.Pos(start), STRING, s.scanString()
		case c == '$':
			return ast.Pos(start), VAR, s.scanVar()
		case c == '@':
			s.off++
			for s.off < len(s.src) && isIdentChar(s.src[s.off]) {
				s.off++
			}
			return ast.Pos(start), MAP, s.src[start:s.off]
		case c == '#':
			s.scanDirective()
			continue
		}
		if tok := s.scanOperator(); tok != EOF {
			return ast.Pos(start), tok, ""
		}
		r, size := utf8.DecodeRuneInString(s.src[s.off:])
		if r >= ' ' && r != utf8.RuneError && r != 0x7f {
			s.error(start, "invalid character %q", r)
		} else {
			s.error(start, "invalid character %U", r)
		}
		s.off += size
	}
}

// skipSpaceAndComments advances over white space and comments. It reports
// an unterminated /* comment only when report is set, so that peeking ahead
// stays silent.
func (s *Scanner) skipSpaceAndComments(report bool) {
	for s.off < len(s.src) {
		switch c := s.src[s.off]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			s.off++
		case strings.HasPrefix(s.src[s.off:], "//"):
			s.skipLine()
		case strings.HasPrefix(s.src[s.off:], "/*"):
			end := strings.Index(s.src[s.off+2:], "*/")
			if end < 0 {
				if report {
					s.error(s.off, "unterminated comment")
				}
				s.off = len(s.src)
				return
			}
			s.off += 2 + end + 2
		default:
			return
		}
	}
}

func (s *Scanner) skipLine() {
	if i := strings.IndexByte(s.src[s.off:], '\n'); i >= 0 {
		s.off += i
	} else {
		s.off = len(s.src)
	}
}

// PeekNonSpace returns the first byte after the current offset that is not
// white space or part of a comment, or 0 at the end of the source. It
// consumes nothing. The parser uses it to tell the `/` closing a predicate
// from a division.
func (s *Scanner) PeekNonSpace() byte {
	saved := s.off
	s.skipSpaceAndComments(false)
	var c byte
	if s.off < len(s.src) {
		c = s.src[s.off]
	}
	s.off = saved
	return c
}

// AttachField reads one colon-introduced field of an attach point starting
// exactly at the current offset: if the next byte is ':', it consumes the
// colon and the longest run of characters allowed in a field and returns the
// field's offset and text (which may be empty) with ok set. Otherwise it
// consumes nothing and returns ok false.
//
// Fields hold letters, digits and `_ . * ?`; with path set they may also
// hold `/ - + @ ~`, the characters of file names like
// /lib/x86_64-linux-gnu/libstdc++.so.6.
func (s *Scanner) AttachField(path bool) (pos ast.Pos, lit string, ok bool) {
	if s.off >= len(s.src) || s.src[s.off] != ':' {
		return ast.Pos(s.off), "", false
	}
	s.off++
	start := s.off
	for s.off < len(s.src) && isFieldChar(s.src[s.off], path) {
		s.off++
	}
	return ast.Pos(start), s.src[start:s.off], true
}

func isFieldChar(c byte, path bool) bool {
	switch {
	case isIdentChar(c), c == '.', c == '*', c == '?':
		return true
	case path:
		return c == '/' || c == '-' || c == '+' || c == '@' || c == '~'
	}
	return false
}

// scanNumber reads an integer literal: decimal, 0x hexadecimal or
// 0-prefixed octal. It consumes every letter and digit that follows so that
// `12ab` is one bad literal rather than a number and an identifier, and
// reports the first character that does not belong.
func (s *Scanner) scanNumber() string {
	start := s.off
	for s.off < len(s.src) && isIdentChar(s.src[s.off]) {
		s.off++
	}
	lit := s.src[start:s.off]

	digits, base, kind := lit, 10, "decimal"
	switch {
	case len(lit) >= 2 && (lit[1] == 'x' || lit[1] == 'X') && lit[0] == '0':
		digits, base, kind = lit[2:], 16, "hexadecimal"
		if digits == "" {
			s.error(start, "hexadecimal literal has no digits")
			return lit
		}
	case len(lit) >= 2 && lit[0] == '0':
		digits, base, kind = lit[1:], 8, "octal"
	}
	for i := 0; i < len(digits); i++ {
		if digitVal(digits[i]) >= base {
			off := start + len(lit) - len(digits) + i
			s.error(off, "invalid digit %q in %s literal", digits[i], kind)
			break
		}
	}
	return lit
}

// scanVar reads `$name`. bpftrace's positional parameters `$1` are not
// part of this language, and a lone `$` is a mistake.
func (s *Scanner) scanVar() string {
	start := s.off
	s.off++ // $
	switch {
	case s.off < len(s.src) && isLetter(s.src[s.off]):
		for s.off < len(s.src) && isIdentChar(s.src[s.off]) {
			s.off++
		}
	case s.off < len(s.src) && isDigit(s.src[s.off]):
		for s.off < len(s.src) && isIdentChar(s.src[s.off]) {
			s.off++
		}
		s.error(start, "positional parameters like %s are not supported", s.src[start:s.off])
	default:
		s.error(start, "expected a variable name after '$'")
	}
	return s.src[start:s.off]
}

// scanString reads a double-quoted string and decodes its escapes. An
// unterminated string ends at the end of the line; errors are reported but
// the decoded text is still returned so parsing can go on.
func (s *Scanner) scanString() string {
	start := s.off
	s.off++ // opening quote
	var b strings.Builder
	for {
		if s.off >= len(s.src) || s.src[s.off] == '\n' {
			s.error(start, "unterminated string")
			return b.String()
		}
		c := s.src[s.off]
		switch c {
		case '"':
			s.off++
			return b.String()
		case '\\':
			s.scanEscape(&b)
		default:
			b.WriteByte(c)
			s.off++
		}
	}
}

// scanEscape decodes the escape sequence at the current backslash.
func (s *Scanner) scanEscape(b *strings.Builder) {
	start := s.off
	s.off++ // backslash
	if s.off >= len(s.src) || s.src[s.off] == '\n' {
		// The caller reports the unterminated string.
		return
	}
	c := s.src[s.off]
	s.off++
	switch c {
	case 'n':
		b.WriteByte('\n')
	case 't':
		b.WriteByte('\t')
	case 'r':
		b.WriteByte('\r')
	case '\\', '"':
		b.WriteByte(c)
	case 'x':
		v, n := 0, 0
		for n < 2 && s.off < len(s.src) && digitVal(s.src[s.off]) < 16 {
			v = v*16 + digitVal(s.src[s.off])
			s.off++
			n++
		}
		if n == 0 {
			s.error(start, `invalid escape sequence '\x': want 1 or 2 hexadecimal digits after it`)
			return
		}
		b.WriteByte(byte(v))
	case '0', '1', '2', '3', '4', '5', '6', '7':
		v, n := digitVal(c), 1
		for n < 3 && s.off < len(s.src) && digitVal(s.src[s.off]) < 8 {
			v = v*8 + digitVal(s.src[s.off])
			s.off++
			n++
		}
		if v > 255 {
			s.error(start, `octal escape value %s is larger than 255`, s.src[start:s.off])
			return
		}
		b.WriteByte(byte(v))
	default:
		r, size := utf8.DecodeRuneInString(s.src[s.off-1:])
		s.off += size - 1
		s.error(start, `invalid escape sequence '\%c'`, r)
	}
}

// scanDirective skips a C preprocessor line such as `#include <linux/fs.h>`.
// bpftrace passes these to clang for struct definitions; this language has
// no C types, so the line is reported and skipped as a whole rather than
// producing a cascade of errors for `<linux/fs.h>`.
func (s *Scanner) scanDirective() {
	start := s.off
	end := strings.IndexByte(s.src[s.off:], '\n')
	if end < 0 {
		end = len(s.src) - s.off
	}
	word := s.src[s.off+1:]
	if i := strings.IndexFunc(word, func(r rune) bool { return !isIdentRune(r) }); i >= 0 {
		word = word[:i]
	}
	if word != "" {
		s.error(start, "preprocessor directive #%s is not supported: this language has no C headers or struct types", word)
	} else {
		s.error(start, "invalid character '#'")
	}
	s.off += end
}

func isIdentRune(r rune) bool { return r < utf8.RuneSelf && isIdentChar(byte(r)) }

// scanOperator reads the longest operator at the current offset, or returns
// EOF without consuming anything if there is none.
func (s *Scanner) scanOperator() Token {
	rest := s.src[s.off:]
	for _, op := range operators {
		if strings.HasPrefix(rest, op.text) {
			s.off += len(op.text)
			return op.tok
		}
	}
	return EOF
}

// operators lists every operator, longest first, so the first prefix match
// is the longest one.
var operators = []struct {
	text string
	tok  Token
}{
	{"<<=", SHL_ASSIGN}, {">>=", SHR_ASSIGN},

	{"&&", LAND}, {"||", LOR}, {"==", EQL}, {"!=", NEQ}, {"<=", LEQ}, {">=", GEQ},
	{"<<", SHL}, {">>", SHR}, {"+=", ADD_ASSIGN}, {"-=", SUB_ASSIGN}, {"*=", MUL_ASSIGN},
	{"/=", QUO_ASSIGN}, {"%=", REM_ASSIGN}, {"&=", AND_ASSIGN}, {"|=", OR_ASSIGN},
	{"^=", XOR_ASSIGN}, {"++", INC}, {"--", DEC}, {"->", ARROW},

	{"+", ADD}, {"-", SUB}, {"*", MUL}, {"/", QUO}, {"%", REM}, {"&", AND}, {"|", OR},
	{"^", XOR}, {"!", NOT}, {"~", BNOT}, {"<", LSS}, {">", GTR}, {"=", ASSIGN},
	{"(", LPAREN}, {")", RPAREN}, {"[", LBRACK}, {"]", RBRACK}, {"{", LBRACE},
	{"}", RBRACE}, {",", COMMA}, {";", SEMICOLON}, {":", COLON}, {"?", QUESTION},
	{".", PERIOD},
}

func isLetter(c byte) bool    { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool     { return '0' <= c && c <= '9' }
func isIdentChar(c byte) bool { return isLetter(c) || isDigit(c) }

// digitVal returns the value of a hexadecimal digit, or 16 for any other
// byte, so `digitVal(c) < base` tests membership.
func digitVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return 16
}
