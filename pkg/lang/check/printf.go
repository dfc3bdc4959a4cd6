package check

import (
	"fmt"
	"strings"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// Verb is one conversion in a printf format, such as `%-10s` or `%llu`.
type Verb struct {
	Text string // the whole conversion as written, e.g. "%08x"
	Conv byte   // the conversion character: d i u x X o c s p
}

// ParseFormat splits a printf format into its conversions. `%%` is a literal
// percent sign and yields no Verb. It accepts C's flags (-+ #0), a width, a
// precision and the length modifiers h hh l ll z j t, which make no
// difference here because every integer argument is 64 bits wide.
func ParseFormat(format string) ([]Verb, error) {
	var verbs []Verb
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		start := i
		i++
		if i < len(format) && format[i] == '%' {
			continue
		}
		for i < len(format) && strings.IndexByte("-+ #0", format[i]) >= 0 {
			i++
		}
		for i < len(format) && format[i] >= '0' && format[i] <= '9' {
			i++
		}
		if i < len(format) && format[i] == '.' {
			i++
			for i < len(format) && format[i] >= '0' && format[i] <= '9' {
				i++
			}
		}
		for i < len(format) && strings.IndexByte("hlzjt", format[i]) >= 0 {
			i++
		}
		if i >= len(format) {
			return nil, fmt.Errorf("incomplete conversion %q at the end of the format", format[start:])
		}
		conv := format[i]
		if strings.IndexByte("diuxXocsp", conv) < 0 {
			return nil, fmt.Errorf("unknown conversion %q in the format (use one of %%d %%i %%u %%x %%X %%o %%c %%s %%p)", format[start:i+1])
		}
		verbs = append(verbs, Verb{Text: format[start : i+1], Conv: conv})
	}
	return verbs, nil
}

// verbAccepts reports whether a printf conversion can print a value of type
// t. Symbols, stacks and probe names print as text, so they go with %s.
func verbAccepts(conv byte, t program.Type) bool {
	if Unknown(t) {
		return true
	}
	if conv == 's' {
		switch t.Kind {
		case program.String, program.KSym, program.USym, program.KStack, program.UStack, program.ProbeName:
			return true
		}
		return false
	}
	return t.Kind == program.Int
}

// PrintFormat returns the printf format that print(expr) uses for a value
// of type t, matching how bpftrace prints a non-map value: the value and a
// newline, tuples in parentheses. The arguments are the value's scalar
// parts in order (see FlattenTuple).
func PrintFormat(t program.Type) string {
	return valueFormat(t) + "\n"
}

func valueFormat(t program.Type) string {
	switch t.Kind {
	case program.Int:
		if t.Signed {
			return "%d"
		}
		return "%u"
	case program.Tuple:
		parts := make([]string, len(t.Elems))
		for i, e := range t.Elems {
			parts[i] = valueFormat(e)
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return "%s"
}

// FlattenTuple lists the scalar parts of t in layout order: a tuple's
// elements (recursively), or t itself.
func FlattenTuple(t program.Type) []program.Type {
	if t.Kind != program.Tuple {
		return []program.Type{t}
	}
	var out []program.Type
	for _, e := range t.Elems {
		out = append(out, FlattenTuple(e)...)
	}
	return out
}
