// Package decode turns the bytes a compiled program leaves in the kernel,
// ring buffer events and maps, back into records, following the layouts
// documented in package program and printing values the way bpftrace 0.17
// does.
package decode

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

// ErrFormat is wrapped by Printf when the format string and the arguments
// do not fit together. The checker should have caught it; seeing it means
// the compiler and the decoder disagree.
var ErrFormat = errors.New("printf format does not match its arguments")

// Printf formats args with a C printf format as bpftrace 0.17 does.
//
// Conversions: %d %i %u %x %X %o %c %p %s and %%, with the flags - 0 + space
// #, a width, a precision and the length modifiers hh h l ll j z t. As in C
// (bpftrace hands each argument to snprintf), an integer is cut to the width
// its conversion names: %d prints the low 32 bits as an int, %hhd as a
// signed char, %ld all 64 bits. %p prints 0x-prefixed hex, or "(nil)" for 0.
//
// bpftrace 0.17 passes each specifier to snprintf together with the text
// before it and appends the text after the last specifier unformatted, so
// "%%" collapses to "%" only before a specifier: printf("100%%\n") prints
// "100%%". Printf reproduces that.
func Printf(format string, args []record.Value) (string, error) {
	f, err := ParseFormat(format)
	if err != nil {
		return "", err
	}
	return f.Apply(args)
}

// Format is a printf format parsed once, so that formatting an event does
// not parse its format again: the decoder keeps one per printf call site.
type Format struct {
	src   string
	parts []formatPart
	tail  string // the text after the last conversion, as written
}

// formatPart is the text before one conversion (with %% already turned into
// %, as bpftrace's snprintf did) and the conversion.
type formatPart struct {
	text string
	spec spec
}

// ParseFormat parses a printf format.
func ParseFormat(format string) (*Format, error) {
	f := &Format{src: format}
	rest := format
	for {
		i := nextSpec(rest)
		if i < 0 {
			break
		}
		sp, n, err := parseSpec(rest[i:])
		if err != nil {
			return nil, err
		}
		f.parts = append(f.parts, formatPart{text: strings.ReplaceAll(rest[:i], "%%", "%"), spec: sp})
		rest = rest[i+n:]
	}
	f.tail = rest
	return f, nil
}

// Apply formats args, one per conversion.
func (f *Format) Apply(args []record.Value) (string, error) {
	if len(args) != len(f.parts) {
		if len(args) < len(f.parts) {
			return "", fmt.Errorf("%q needs more than the %d arguments given: %w", f.src, len(args), ErrFormat)
		}
		return "", fmt.Errorf("%q has %d conversions for %d arguments: %w", f.src, len(f.parts), len(args), ErrFormat)
	}
	var out strings.Builder
	for i, p := range f.parts {
		out.WriteString(p.text)
		s, err := p.spec.format(args[i])
		if err != nil {
			return "", fmt.Errorf("argument %d of %q: %w", i+1, f.src, err)
		}
		out.WriteString(s)
	}
	out.WriteString(f.tail)
	return out.String(), nil
}

// nextSpec returns the index of the next conversion in s, skipping "%%", or
// -1.
func nextSpec(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			i++
			continue
		}
		return i
	}
	return -1
}

// spec is one parsed conversion such as %-8.3lld.
type spec struct {
	minus, plus, space, zero, alt bool
	width, prec                   int // -1 when absent
	length                        string
	verb                          byte
}

// parseSpec parses the conversion at the start of s and returns its length.
func parseSpec(s string) (spec, int, error) {
	sp := spec{width: -1, prec: -1}
	i := 1
	for ; i < len(s); i++ {
		switch s[i] {
		case '-':
			sp.minus = true
		case '+':
			sp.plus = true
		case ' ':
			sp.space = true
		case '0':
			sp.zero = true
		case '#':
			sp.alt = true
		default:
			goto width
		}
	}
width:
	num := func() int {
		n := -1
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if n < 0 {
				n = 0
			}
			n = n*10 + int(s[i]-'0')
			i++
		}
		return n
	}
	sp.width = num()
	if i < len(s) && s[i] == '.' {
		i++
		sp.prec = num()
		if sp.prec < 0 {
			sp.prec = 0 // "%.d" means precision 0 in C
		}
	}
	for _, l := range []string{"hh", "h", "ll", "l", "j", "z", "t"} {
		if strings.HasPrefix(s[i:], l) {
			sp.length = l
			i += len(l)
			break
		}
	}
	if i >= len(s) || !strings.ContainsRune("diuxXocsp", rune(s[i])) {
		return sp, 0, fmt.Errorf("unknown conversion %q: %w", s[:min(i+1, len(s))], ErrFormat)
	}
	sp.verb = s[i]
	return sp, i + 1, nil
}

func (sp spec) format(v record.Value) (string, error) {
	if sp.verb == 's' {
		return sp.formatString(v)
	}
	var u uint64
	switch v.Kind {
	case record.Int:
		u = uint64(v.Int)
	case record.Uint:
		u = v.Uint
	default:
		return "", fmt.Errorf("%%%c expects an integer, got a %s: %w", sp.verb, v.Kind, ErrFormat)
	}
	switch sp.verb {
	case 'c':
		return sp.pad(string([]byte{byte(u)})), nil
	case 'p':
		if u == 0 {
			return sp.pad("(nil)"), nil
		}
		sp.alt = true
		sp.verb = 'x'
		sp.length = "l"
		return sp.formatInt(u), nil
	}
	return sp.formatInt(u), nil
}

// formatInt formats an integer after cutting it to the C type named by the
// length modifier.
func (sp spec) formatInt(u uint64) string {
	signed := sp.verb == 'd' || sp.verb == 'i'
	var arg any
	switch sp.length {
	case "hh":
		arg = uint64(uint8(u))
		if signed {
			arg = int64(int8(u))
		}
	case "h":
		arg = uint64(uint16(u))
		if signed {
			arg = int64(int16(u))
		}
	case "":
		arg = uint64(uint32(u))
		if signed {
			arg = int64(int32(u))
		}
	default:
		arg = u
		if signed {
			arg = int64(u)
		}
	}
	verb := sp.verb
	switch verb {
	case 'i', 'u':
		verb = 'd'
	}
	f := "%"
	if sp.minus {
		f += "-"
	}
	if signed && sp.plus {
		f += "+"
	}
	if signed && sp.space && !sp.plus {
		f += " "
	}
	if sp.zero && !sp.minus {
		f += "0"
	}
	// C prints 0 without a prefix under %#x; Go would print 0x0.
	if sp.alt && (verb == 'x' || verb == 'X' || verb == 'o') && arg != any(uint64(0)) {
		f += "#"
	}
	if sp.width >= 0 {
		f += fmt.Sprint(sp.width)
	}
	if sp.prec >= 0 {
		f += "." + fmt.Sprint(sp.prec)
	}
	return fmt.Sprintf(f+string(verb), arg)
}

func (sp spec) formatString(v record.Value) (string, error) {
	switch v.Kind {
	case record.Int, record.Uint:
		return "", fmt.Errorf("%%s expects a string, got an integer: %w", ErrFormat)
	}
	s := record.FormatValue(v)
	// Precision and width count bytes, as in C, not runes as in Go.
	if sp.prec >= 0 && len(s) > sp.prec {
		s = s[:sp.prec]
	}
	return sp.pad(s), nil
}

// pad pads s with spaces to the width, on the right for the - flag.
func (sp spec) pad(s string) string {
	if n := sp.width - len(s); n > 0 {
		if sp.minus {
			return s + strings.Repeat(" ", n)
		}
		return strings.Repeat(" ", n) + s
	}
	return s
}
