package record

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWriterReaderRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	in := []*Record{
		{Type: TypeStart, Time: at, Start: &Start{TraceID: "abc", Scope: "none (whole node)"}},
		{Type: TypePrintf, Time: at, Text: "<a & b>\n"},
		mapRec(Map{Name: "@h", Kind: "hist", Entries: []Entry{{Key: key(str("k")), Buckets: buckets(2, 1, 0, 3)}}}),
		{Type: TypeEnd, Time: at, End: &End{Reason: "exit", Records: 3, Lost: 1}},
	}
	for _, r := range in {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(buf.String(), "\n"); n != len(in) {
		t.Fatalf("wrote %d lines, want %d", n, len(in))
	}
	if !strings.Contains(buf.String(), "<a & b>") {
		t.Errorf("HTML characters were escaped: %s", buf.String())
	}
	r := NewReader(&buf)
	for i, want := range in {
		got, err := r.Read()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("record %d = %+v, want %+v", i, got, want)
		}
	}
	if _, err := r.Read(); err != io.EOF {
		t.Errorf("after the last record got %v, want io.EOF", err)
	}
}

func TestReaderErrors(t *testing.T) {
	good := `{"v":1,"type":"printf","time":"2026-12-06T09:00:00Z","text":"hi\n"}` + "\n"
	tests := []struct {
		name     string
		input    string
		complete int // records returned before the error
		wantErr  error
		trunc    bool
	}{
		{"clean", good + good, 2, io.EOF, false},
		{"no final newline but whole", good + strings.TrimSuffix(good, "\n"), 2, io.EOF, false},
		{"truncated", good + good[:20], 1, ErrTruncated, true},
		{"blank lines", "\n" + good + "\n\n", 1, io.EOF, false},
		{"future version", strings.Replace(good, `"v":1`, `"v":2`, 1), 0, ErrVersion, false},
		{"missing version", strings.Replace(good, `"v":1,`, ``, 1), 0, ErrVersion, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.input))
			n := 0
			var err error
			for {
				_, err = r.Read()
				if err != nil {
					break
				}
				n++
			}
			if n != tc.complete {
				t.Errorf("read %d records, want %d", n, tc.complete)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if r.Truncated() != tc.trunc {
				t.Errorf("Truncated() = %v, want %v", r.Truncated(), tc.trunc)
			}
		})
	}
}

func TestReaderRejectsGarbageLine(t *testing.T) {
	r := NewReader(strings.NewReader("not json\n"))
	_, err := r.Read()
	if err == nil || errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("err = %v, want a non-truncation error naming line 1", err)
	}
}
