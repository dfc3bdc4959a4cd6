package ast

import (
	"fmt"
	"sort"
	"strings"
)

// File is the source of one program and the table that turns a Pos into a
// line and column.
type File struct {
	Name  string // shown in messages; "-e" or "stdin" when there is no file
	Src   string
	lines []int // offsets of line starts, computed on first use
}

// NewFile wraps a program's source.
func NewFile(name, src string) *File {
	return &File{Name: name, Src: src}
}

// Position is a resolved source location; Line and Column count from 1 and
// Column counts bytes.
type Position struct {
	Filename string
	Offset   int
	Line     int
	Column   int
}

func (p Position) String() string {
	if p.Filename == "" {
		return fmt.Sprintf("%d:%d", p.Line, p.Column)
	}
	return fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
}

// Position resolves an offset. Offsets past the end resolve to the end.
func (f *File) Position(p Pos) Position {
	if f.lines == nil {
		f.lines = []int{0}
		for i := 0; i < len(f.Src); i++ {
			if f.Src[i] == '\n' {
				f.lines = append(f.lines, i+1)
			}
		}
	}
	off := int(p)
	if off < 0 {
		off = 0
	}
	if off > len(f.Src) {
		off = len(f.Src)
	}
	i := sort.Search(len(f.lines), func(i int) bool { return f.lines[i] > off }) - 1
	return Position{Filename: f.Name, Offset: off, Line: i + 1, Column: off - f.lines[i] + 1}
}

// Line returns the text of the 1-based line n without its newline.
func (f *File) Line(n int) string {
	f.Position(0) // builds the line table
	if n < 1 || n > len(f.lines) {
		return ""
	}
	start := f.lines[n-1]
	end := len(f.Src)
	if n < len(f.lines) {
		end = f.lines[n] - 1
	}
	return strings.TrimRight(f.Src[start:end], "\r")
}
