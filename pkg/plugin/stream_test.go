package plugin

import (
	"bytes"
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
)

func TestPrefixWriterKeepsLinesWhole(t *testing.T) {
	var out bytes.Buffer
	a := &prefixWriter{w: &out, prefix: "[a] "}
	b := &prefixWriter{w: &out, prefix: "[b] "}
	a.Write([]byte("one "))
	b.Write([]byte("two\n\nthree"))
	a.Write([]byte("half\n"))
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	a.flush()
	want := "[b] two\n\n[a] one half\n[b] three\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	if newProgressLine(&buf, &buf) != nil {
		t.Fatal("a buffer is not a terminal: no progress line")
	}
	var nilLine *progressLine
	nilLine.update("x") // must not panic
	nilLine.clear()
	if nilLine.callback() != nil {
		t.Error("no callback without a terminal")
	}
	p := &progressLine{w: &buf}
	p.update("Waiting for the runner pod: ContainerCreating")
	p.update("Waiting for the runner pod: Pending")
	p.clear()
	want := "\r\033[KWaiting for the runner pod: ContainerCreating\r\033[KWaiting for the runner pod: Pending\r\033[K"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestTailPlainLines(t *testing.T) {
	var tb tailBuffer
	tb.Write([]byte(`{"v":1,"type":"start"}` + "\npanic: boom\n"))
	tb.Write([]byte(strings.Repeat("x", tailBytes) + "\nlast words\n"))
	got := tb.plainLines(1)
	if len(got) != 1 || got[0] != "last words" {
		t.Errorf("plainLines = %q", got)
	}
	if len(tb.buf) > tailBytes {
		t.Errorf("tail holds %d bytes", len(tb.buf))
	}
}

func TestPodSecurityCheck(t *testing.T) {
	tests := []struct {
		name    string
		labels  map[string]string
		wantErr string
	}{
		{name: "unlabelled"},
		{name: "privileged", labels: map[string]string{psaEnforceLabel: "privileged"}},
		{name: "baseline", labels: map[string]string{psaEnforceLabel: "baseline"}, wantErr: `enforces the "baseline" Pod Security Standard`},
		{name: "restricted", labels: map[string]string{psaEnforceLabel: "restricted"}, wantErr: `enforces the "restricted" Pod Security Standard`},
		{name: "warn only", labels: map[string]string{"pod-security.kubernetes.io/warn": "restricted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, testNamespace("ns", tt.labels))
			err := checkPodSecurity(context.Background(), e.client, "ns")
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	// A user who may not read namespaces is not stopped: the watcher
	// reports a rejection from the Job's events instead.
	e := newTestEnv(t)
	e.client.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "ns", nil)
	})
	if err := checkPodSecurity(context.Background(), e.client, "ns"); err != nil {
		t.Errorf("forbidden: %v", err)
	}
}
