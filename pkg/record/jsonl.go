package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrTruncated is returned by Reader.Read after every complete record when
// the stream ends in the middle of a line, as it does when a runner is killed
// while writing.
var ErrTruncated = errors.New("record stream ends with a truncated line")

// ErrVersion is wrapped when a record carries a format version this build
// does not understand.
var ErrVersion = errors.New("unsupported record format version")

// Writer writes records as JSON lines.
type Writer struct {
	w   io.Writer
	buf bytes.Buffer
}

// NewWriter returns a Writer on w. Each record is written with one Write
// call, so a record is either wholly on disk or is the last, truncated line.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// Write writes one record and its newline. A record with V unset gets the
// current Version.
func (w *Writer) Write(r *Record) error {
	if r.V == 0 {
		r.V = Version
	}
	w.buf.Reset()
	enc := json.NewEncoder(&w.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encoding %s record: %w", r.Type, err)
	}
	if _, err := w.w.Write(w.buf.Bytes()); err != nil {
		return fmt.Errorf("writing %s record: %w", r.Type, err)
	}
	return nil
}

// Reader reads JSON-lines records.
type Reader struct {
	r         *bufio.Reader
	line      int
	truncated bool
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Read returns the next record. At the end of the stream it returns io.EOF,
// or an error wrapping ErrTruncated if the last line was cut short; every
// complete record before it has been returned already. A record of another
// format version is refused with an error wrapping ErrVersion.
func (r *Reader) Read() (*Record, error) {
	for {
		line, err := r.r.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("reading records: %w", err)
		}
		complete := err == nil
		if !complete && len(line) == 0 {
			return nil, io.EOF
		}
		r.line++
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 {
			if !complete {
				return nil, io.EOF
			}
			continue
		}
		var rec Record
		if jerr := json.Unmarshal(trimmed, &rec); jerr != nil {
			if !complete {
				r.truncated = true
				return nil, fmt.Errorf("line %d (%d bytes): %w", r.line, len(line), ErrTruncated)
			}
			return nil, fmt.Errorf("line %d is not a record: %w", r.line, jerr)
		}
		if rec.V != Version {
			return nil, fmt.Errorf("line %d has format version %d, this kubectl-xtrace reads version %d (upgrade the plugin or the runner so they match): %w",
				r.line, rec.V, Version, ErrVersion)
		}
		return &rec, nil
	}
}

// Truncated reports whether the stream ended with a partial line.
func (r *Reader) Truncated() bool { return r.truncated }
