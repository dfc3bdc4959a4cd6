package record

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// TextRenderer turns records into the text bpftrace 0.17 prints. Program
// output (printf text, the exit separator and maps) goes to stdout; messages
// about the trace itself (attached probes, lost events, warnings, errors) go
// to stderr, as bpftrace 0.24+ does, so that stdout stays byte-identical to
// what a script's author expects.
type TextRenderer struct {
	stdout io.Writer
	stderr io.Writer
}

// NewTextRenderer returns a renderer writing program output to stdout and
// diagnostics to stderr.
func NewTextRenderer(stdout, stderr io.Writer) *TextRenderer {
	return &TextRenderer{stdout: stdout, stderr: stderr}
}

// Write is Render, so a TextRenderer can stand wherever a record Writer
// does (the runner's --local mode prints text instead of JSON lines).
func (t *TextRenderer) Write(r *Record) error { return t.Render(r) }

// Render writes one record.
func (t *TextRenderer) Render(r *Record) error {
	var err error
	switch r.Type {
	case TypeStart:
		// The header is shown by the plugin from the trace's metadata;
		// bpftrace prints nothing comparable on stdout.
	case TypeAttached:
		noun := "probes"
		if r.Probes == 1 {
			noun = "probe"
		}
		_, err = fmt.Fprintf(t.stderr, "Attached %d %s\n", r.Probes, noun)
	case TypePrintf:
		_, err = io.WriteString(t.stdout, r.Text)
	case TypeExit:
		_, err = io.WriteString(t.stdout, "\n\n")
	case TypeMap:
		if r.Map == nil {
			return fmt.Errorf("map record without a map: the record stream is corrupt")
		}
		_, err = io.WriteString(t.stdout, FormatMap(r.Map))
	case TypeLost:
		_, err = fmt.Fprintf(t.stderr, "Lost %d events\n", r.Lost)
	case TypeWarning:
		_, err = fmt.Fprintf(t.stderr, "WARNING: %s\n", strings.TrimSuffix(r.Text, "\n"))
	case TypeError:
		_, err = fmt.Fprintf(t.stderr, "ERROR: %s\n", strings.TrimSuffix(r.Text, "\n"))
	case TypeCap:
		_, err = fmt.Fprintf(t.stderr, "WARNING: output cap reached, later events are not recorded: %s\n",
			strings.TrimSuffix(r.Text, "\n"))
	case TypeEnd:
		if r.End != nil && r.End.Lost > 0 {
			_, err = fmt.Fprintf(t.stderr, "Total lost event count: %d\n", r.End.Lost)
		}
	default:
		return fmt.Errorf("unknown record type %q: upgrade kubectl-xtrace to read this output", r.Type)
	}
	if err != nil {
		return fmt.Errorf("writing %s record: %w", r.Type, err)
	}
	return nil
}

// FormatMap returns a map's text exactly as bpftrace 0.17 prints it, at exit
// or for print(@m).
func FormatMap(m *Map) string {
	var b strings.Builder
	if len(m.Entries) == 0 {
		// bpftrace 0.17 formats an empty map as an empty string and still
		// ends it with a newline; avg and stats maps get their usual blank
		// line on top of that.
		b.WriteString("\n")
		if m.Kind == "avg" || m.Kind == "stats" {
			b.WriteString("\n")
		}
		return b.String()
	}
	for _, e := range m.Entries {
		b.WriteString(m.Name)
		if len(e.Key) > 0 {
			b.WriteString("[")
			for i, k := range e.Key {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(formatValue(k, keyStackIndent))
			}
			b.WriteString("]")
		}
		b.WriteString(": ")
		switch m.Kind {
		case "hist", "lhist":
			b.WriteString("\n")
			writeHistogram(&b, m, e.Buckets)
			b.WriteString("\n")
		case "stats":
			if e.Stats != nil {
				fmt.Fprintf(&b, "count %d, average %d, total %d\n", e.Stats.Count, e.Stats.Average, e.Stats.Total)
			} else {
				b.WriteString("\n")
			}
		default:
			if e.Value != nil {
				b.WriteString(formatValue(*e.Value, valueStackIndent))
			}
			b.WriteString("\n")
		}
	}
	if m.Kind == "avg" || m.Kind == "stats" {
		b.WriteString("\n")
	}
	return b.String()
}

// Stack frames are indented by 4 spaces in a map key and by 8 anywhere else
// (a map value, printf), as in bpftrace.
const (
	keyStackIndent   = 4
	valueStackIndent = 8
)

// FormatValue returns a value as bpftrace prints it in printf's %s and as a
// map value: strings raw, tuples as "(a, b)", stacks one frame a line
// indented by 8 spaces.
func FormatValue(v Value) string { return formatValue(v, valueStackIndent) }

func formatValue(v Value, stackIndent int) string {
	switch v.Kind {
	case Int:
		return strconv.FormatInt(v.Int, 10)
	case Uint:
		return strconv.FormatUint(v.Uint, 10)
	case String, Sym:
		return v.Str
	case KStack, UStack:
		// A stack starts on a new line and every frame ends with one, so
		// `@[kstack]: 1` reads as a block.
		var b strings.Builder
		b.WriteString("\n")
		pad := strings.Repeat(" ", stackIndent)
		for _, f := range v.Stack {
			b.WriteString(pad)
			b.WriteString(f)
			b.WriteString("\n")
		}
		return b.String()
	case Tuple:
		parts := make([]string, len(v.Tuple))
		for i, e := range v.Tuple {
			parts[i] = formatValue(e, stackIndent)
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return ""
}

// Histogram rows: label left-aligned in 16 columns, count right-aligned in
// 8, and a bar of up to 52 '@' between pipes.
const barWidth = 52

func writeHistogram(b *strings.Builder, m *Map, buckets []Bucket) {
	// Bars are scaled by the counts before print()'s div, so they compare
	// the real numbers even when the printed counts were divided.
	var max uint64
	for _, bk := range buckets {
		if c := barCount(bk); c > max {
			max = c
		}
	}
	for _, bk := range buckets {
		var label string
		if m.Kind == "lhist" && m.LHist != nil {
			label = lhistLabel(bk.Index, *m.LHist)
		} else {
			label = histLabel(bk.Index)
		}
		bar := 0
		if max > 0 {
			bar = int(float64(barCount(bk)) / float64(max) * barWidth)
		}
		fmt.Fprintf(b, "%-16s%8d |%-52s|\n", label, bk.Count, strings.Repeat("@", bar))
	}
}

func barCount(b Bucket) uint64 {
	if b.Raw != 0 {
		return b.Raw
	}
	return b.Count
}

// histLabel labels a log2 bucket: (..., 0), [0], [1], then [2^(i-2), 2^(i-1)).
func histLabel(i int) string {
	switch {
	case i <= 0:
		return "(..., 0)"
	case i == 1:
		return "[0]"
	case i == 2:
		return "[1]"
	}
	return "[" + powerOfTwo(i-2) + ", " + powerOfTwo(i-1) + ")"
}

// powerOfTwo prints 2^p with the largest power-of-1024 suffix, as bpftrace's
// hist_index_label does: 512, 1K, 2K, ..., 1M, ... 1G, 1T.
func powerOfTwo(p int) string {
	suffixes := []string{"", "K", "M", "G", "T", "P", "E"}
	s := p / 10
	if s >= len(suffixes) {
		s = len(suffixes) - 1
	}
	return strconv.FormatUint(uint64(1)<<uint(p-s*10), 10) + suffixes[s]
}

// lhistLabel labels a linear bucket: (..., min), [lo, hi), and [max, ...)
// for the last one.
func lhistLabel(i int, p LHistParams) string {
	if i <= 0 {
		return "(..., " + lhistNumber(p.Min) + ")"
	}
	if p.Step > 0 && int64(i) >= 1+(p.Max-p.Min)/p.Step {
		return "[" + lhistNumber(p.Max) + ", ...)"
	}
	lo := p.Min + int64(i-1)*p.Step
	return "[" + lhistNumber(lo) + ", " + lhistNumber(lo+p.Step) + ")"
}

// lhistNumber is bpftrace 0.17's lhist_index_label: exact multiples of 1M
// and 1K get a suffix, everything else prints plain.
func lhistNumber(n int64) string {
	switch {
	case n == 0:
		return "0"
	case n%(1024*1024) == 0:
		return strconv.FormatInt(n/(1024*1024), 10) + "M"
	case n%1024 == 0:
		return strconv.FormatInt(n/1024, 10) + "K"
	}
	return strconv.FormatInt(n, 10)
}
