package check

import (
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// DefaultStrLen is the size of the strings str() returns, bpftrace 0.17's
// BPFTRACE_STRLEN default.
const DefaultStrLen = 64

// MaxStrLen bounds Options.StrLen. Strings larger than this would not leave
// room for anything else in a printf record or a map key.
const MaxStrLen = 1024

// Types the checker hands out. Every size is a multiple of 8 as the value
// layout in package program requires.
var (
	intType    = program.Type{Kind: program.Int, Size: 8}
	sintType   = program.Type{Kind: program.Int, Signed: true, Size: 8}
	commType   = program.Type{Kind: program.String, Size: 16}
	kstackType = program.Type{Kind: program.KStack, Size: 8}
	ustackType = program.Type{Kind: program.UStack, Size: 16}
	ksymType   = program.Type{Kind: program.KSym, Size: 8}
	usymType   = program.Type{Kind: program.USym, Size: 16}
	probeType  = program.Type{Kind: program.ProbeName, Size: 8}

	// unknownType is the type of args.F before the tracepoint's format is
	// known (always, on the client). It is compatible with every use so the
	// client never rejects a program the node would accept.
	unknownType = program.Type{Kind: program.None}

	// voidType is the "type" of calls that yield no value, such as printf.
	voidType = program.Type{Kind: program.None, Size: -1}
)

// Unknown reports whether t is the placeholder type of a tracepoint field
// whose layout the checker did not know.
func Unknown(t program.Type) bool { return t.Kind == program.None && t.Size == 0 }

func isVoid(t program.Type) bool { return t.Kind == program.None && t.Size == -1 }

// isInt reports whether t can be used where an integer is needed.
func isInt(t program.Type) bool { return t.Kind == program.Int || Unknown(t) }

// isString reports whether t can be used where a string is needed.
func isString(t program.Type) bool { return t.Kind == program.String || Unknown(t) }

// stringType returns the type of a string buffer holding at least n bytes.
func stringType(n int) program.Type {
	return program.Type{Kind: program.String, Size: roundUp8(n)}
}

func roundUp8(n int) int { return (n + 7) &^ 7 }

// tupleType lays out elems one after another; each size is already a
// multiple of 8, so no padding is needed.
func tupleType(elems []program.Type) program.Type {
	size := 0
	for _, e := range elems {
		size += e.Size
	}
	return program.Type{Kind: program.Tuple, Size: size, Elems: elems}
}

// describe names a type the way a user thinks of it, for messages.
func describe(t program.Type) string {
	switch t.Kind {
	case program.Int:
		return "integer"
	case program.String:
		return "string"
	case program.Tuple:
		return "tuple"
	case program.KStack:
		return "kstack"
	case program.UStack:
		return "ustack"
	case program.KSym:
		return "ksym"
	case program.USym:
		return "usym"
	case program.ProbeName:
		return "probe"
	}
	if isVoid(t) {
		return "no value"
	}
	return "unknown"
}

// compatible reports whether values of types a and b can live in the same
// variable, map key or map value: same kind, and for tuples the same shape.
// Strings of different sizes are compatible (the larger size wins), and so are
// signed and unsigned integers.
func compatible(a, b program.Type) bool {
	if Unknown(a) || Unknown(b) {
		return true
	}
	if a.Kind != b.Kind {
		return false
	}
	if a.Kind != program.Tuple {
		return true
	}
	if len(a.Elems) != len(b.Elems) {
		return false
	}
	for i := range a.Elems {
		if !compatible(a.Elems[i], b.Elems[i]) {
			return false
		}
	}
	return true
}

// widen merges a compatible type b into a: strings grow to the larger size,
// unknown types take the known one. Integer signedness stays as first seen.
func widen(a, b program.Type) program.Type {
	if Unknown(a) {
		return b
	}
	if Unknown(b) || a.Kind != b.Kind {
		return a
	}
	switch a.Kind {
	case program.String:
		if b.Size > a.Size {
			return b
		}
	case program.Tuple:
		if len(a.Elems) != len(b.Elems) {
			return a
		}
		elems := make([]program.Type, len(a.Elems))
		for i := range a.Elems {
			elems[i] = widen(a.Elems[i], b.Elems[i])
		}
		return tupleType(elems)
	}
	return a
}

// sameType reports whether two types are identical, for detecting when the
// checker's fixpoint iteration has settled.
func sameType(a, b program.Type) bool {
	if a.Kind != b.Kind || a.Signed != b.Signed || a.Size != b.Size || len(a.Elems) != len(b.Elems) {
		return false
	}
	for i := range a.Elems {
		if !sameType(a.Elems[i], b.Elems[i]) {
			return false
		}
	}
	return true
}

// hasUnknown reports whether t still contains an unknown part.
func hasUnknown(t program.Type) bool {
	if Unknown(t) {
		return true
	}
	for _, e := range t.Elems {
		if hasUnknown(e) {
			return true
		}
	}
	return false
}

// an names a type with its indefinite article: "an integer", "a string".
func an(t program.Type) string {
	d := describe(t)
	switch d[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + d
	}
	return "a " + d
}
