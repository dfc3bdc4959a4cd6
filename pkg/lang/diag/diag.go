// Package diag holds compile errors with precise source positions.
//
// Every pass of the compiler reports problems into a List instead of stopping
// at the first one, so a user sees all the mistakes of a one-liner at once.
// An error prints as `file:line:col: message`, followed by the source line
// and a caret under the offending column, the way compilers do.
package diag

import (
	"fmt"
	"sort"
	"strings"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
)

// MaxErrors caps how many errors a List keeps: past it, later errors are
// almost always consequences of the first ones.
const MaxErrors = 10

// Error is one problem at one place in the source.
type Error struct {
	File *ast.File
	Pos  ast.Pos
	Msg  string
}

// Position resolves the error's offset to a line and column.
func (e *Error) Position() ast.Position { return e.File.Position(e.Pos) }

// Error returns the one-line form `file:line:col: message`.
func (e *Error) Error() string {
	return e.Position().String() + ": " + e.Msg
}

// Detail returns the one-line form followed by the source line and a caret
// pointing at the column.
func (e *Error) Detail() string {
	p := e.Position()
	line := e.File.Line(p.Line)
	var b strings.Builder
	b.WriteString(e.Error())
	b.WriteByte('\n')
	b.WriteString(line)
	b.WriteByte('\n')
	// Keep tabs so the caret lines up under tab-indented source.
	for i := 0; i < p.Column-1 && i < len(line); i++ {
		if line[i] == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteByte('^')
	return b.String()
}

// List collects errors from one or more passes.
type List []*Error

// Add records an error unless the list is full or the same message was
// already reported at the same place.
func (l *List) Add(f *ast.File, pos ast.Pos, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, e := range *l {
		if e.Pos == pos && e.Msg == msg {
			return
		}
	}
	if len(*l) >= MaxErrors {
		return
	}
	*l = append(*l, &Error{File: f, Pos: pos, Msg: msg})
}

// Sort orders the errors by position.
func (l List) Sort() {
	sort.SliceStable(l, func(i, j int) bool { return l[i].Pos < l[j].Pos })
}

// Err returns nil for an empty list and the sorted list otherwise.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.Sort()
	return l
}

// Error joins the errors' detailed forms, one block per error.
func (l List) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Detail()
	}
	return strings.Join(parts, "\n")
}
