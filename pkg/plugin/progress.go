package plugin

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// isTerminal says whether w is a terminal; progress lines would only clutter
// a pipe or a file.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressLine rewrites one status line on a terminal while the plugin
// waits, and erases it before real output starts.
type progressLine struct {
	w     io.Writer
	shown bool
}

// newProgressLine returns a progress line on errOut when out is a terminal,
// or nil, whose methods do nothing.
func newProgressLine(out, errOut io.Writer) *progressLine {
	if !isTerminal(out) {
		return nil
	}
	return &progressLine{w: errOut}
}

func (p *progressLine) update(msg string) {
	if p == nil {
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s", msg)
	p.shown = true
}

func (p *progressLine) clear() {
	if p == nil || !p.shown {
		return
	}
	fmt.Fprint(p.w, "\r\033[K")
	p.shown = false
}

// callback returns update as a function, or nil when there is no terminal.
func (p *progressLine) callback() func(string) {
	if p == nil {
		return nil
	}
	return p.update
}
