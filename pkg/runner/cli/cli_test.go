package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// TestMain lets the test binary act as trace-runner itself when
// XTRACE_TEST_RUNNER is set, so signal tests drive a real process.
func TestMain(m *testing.M) {
	if os.Getenv("XTRACE_TEST_RUNNER") != "" {
		if err := NewRootCommand(os.Stdout, os.Stderr).Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("tracing needs root")
	}
}

// writeSpec writes a node-target spec for this host and returns its path,
// the trace id and the output root.
func writeSpec(t *testing.T, program string, duration time.Duration) (path, id, root string) {
	t.Helper()
	id = uuid.NewString()
	root = filepath.Join(t.TempDir(), "xtrace")
	ts := spec.TraceSpec{
		APIVersion: spec.APIVersion, Kind: spec.Kind, ID: id, Program: program,
		Targets:    []spec.Target{{Node: "node-a"}},
		Limits:     spec.Limits{Duration: spec.Duration{Duration: duration}},
		OutputRoot: root,
	}
	data, err := json.Marshal(ts)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, id, root
}

// records parses JSON lines.
func records(t *testing.T, data []byte) []*record.Record {
	t.Helper()
	r := record.NewReader(bytes.NewReader(data))
	var recs []*record.Record
	for {
		rec, err := r.Read()
		if err != nil {
			break
		}
		recs = append(recs, rec)
	}
	return recs
}

func types(recs []*record.Record) string {
	var ts []string
	for _, r := range recs {
		ts = append(ts, string(r.Type))
	}
	return strings.Join(ts, " ")
}

// metaReason reads the exit reason from a persisted trace's meta.json.
func metaReason(t *testing.T, root, id string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, id, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		End *record.End `json:"end"`
	}
	if err := json.Unmarshal(data, &meta); err != nil || meta.End == nil {
		t.Fatalf("meta.json: %v\n%s", err, data)
	}
	return meta.End.Reason
}

func execute(args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	cmd := NewRootCommand(&out, &errb)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

// TestRunPersistCatRm runs a trace from a spec, then reads it back with cat
// and removes it with rm, as fetch and delete do.
func TestRunPersistCatRm(t *testing.T) {
	requireRoot(t)
	path, id, root := writeSpec(t, `BEGIN { printf("hello\n"); @x = 7; exit(); }`, 0)

	stdout, stderr, err := execute("run", "--spec", path, "--node", "node-a")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr)
	}
	live := records(t, []byte(stdout))
	if got, want := types(live), "start attached printf exit map end"; got != want {
		t.Fatalf("live records %q, want %q", got, want)
	}
	if live[2].Text != "hello\n" || live[4].Map.Name != "@x" || live[5].End.Reason != "exit" {
		t.Errorf("unexpected records: %s", stdout)
	}

	if got := metaReason(t, root, id); got != "exit" {
		t.Errorf("meta.json end reason %q, want exit", got)
	}

	stdout, _, err = execute("cat", id, "--root", root)
	if err != nil {
		t.Fatalf("cat: %v", err)
	}
	persisted := records(t, []byte(stdout))
	if got, want := types(persisted), types(live); got != want {
		t.Errorf("persisted records %q, live %q", got, want)
	}
	for i := range live[:len(live)-1] {
		if persisted[i].Text != live[i].Text || !persisted[i].Time.Equal(live[i].Time) {
			t.Errorf("record %d differs: persisted %+v, live %+v", i, persisted[i], live[i])
		}
	}

	if _, _, err := execute("rm", id, "--root", root); err != nil {
		t.Fatalf("rm: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, id)); !os.IsNotExist(err) {
		t.Errorf("trace directory still there after rm: %v", err)
	}
	if _, _, err := execute("cat", id, "--root", root); err == nil {
		t.Error("cat of a removed trace succeeded")
	}
}

// TestRunFailures checks that every failure ends standard output with an
// error record saying why, and fails the command.
func TestRunFailures(t *testing.T) {
	requireRoot(t)
	good, _, _ := writeSpec(t, `BEGIN { exit(); }`, 0)
	badProgram, _, _ := writeSpec(t, `BEGIN { printf("%d\n"); }`, 0)
	unknownTP, _, _ := writeSpec(t, `tracepoint:nosuch:event { @ = count(); }`, 0)
	garbage := filepath.Join(t.TempDir(), "spec.json")
	os.WriteFile(garbage, []byte(`{"apiVersion":"xtrace.dev/v1","kind":"TraceSpec","bogus":1}`), 0o644)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing spec", []string{"run", "--spec", "/nonexistent/spec.json", "--node", "node-a"}, "reading the trace spec"},
		{"unknown field", []string{"run", "--spec", garbage, "--node", "node-a"}, "bogus"},
		{"wrong node", []string{"run", "--spec", good, "--node", "node-b"}, `no target on node "node-b"`},
		{"no node", []string{"run", "--spec", good, "--node", ""}, "pass --node or set NODE_NAME"},
		{"program error", []string{"run", "--spec", badProgram, "--node", "node-a"}, "printf"},
		{"unknown tracepoint", []string{"run", "--spec", unknownTP, "--node", "node-a"}, "nosuch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := execute(tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			recs := records(t, []byte(stdout))
			if len(recs) == 0 || recs[len(recs)-1].Type != record.TypeError || !strings.Contains(recs[len(recs)-1].Text, tt.want) {
				t.Errorf("stdout %q does not end in an error record mentioning %q", stdout, tt.want)
			}
		})
	}
}

func TestRmArgs(t *testing.T) {
	for _, args := range [][]string{{"rm"}, {"rm", "a", "b"}, {"rm", "--prune", "x"}} {
		if _, _, err := execute(args...); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}
	if _, _, err := execute("rm", "../etc", "--root", t.TempDir()); err == nil {
		t.Error("rm accepted a path as a trace id")
	}
}

// TestSignals runs trace-runner as a process: SIGTERM stops the trace
// gracefully, with END's output and the final maps, persisted, and exit 0.
func TestSignals(t *testing.T) {
	requireRoot(t)
	path, id, root := writeSpec(t, `tracepoint:syscalls:sys_enter_getppid { @calls = count(); } END { printf("stopping\n"); }`, 0)
	cmd := exec.Command(os.Args[0], "run", "--spec", path, "--node", "node-a")
	cmd.Env = append(os.Environ(), "XTRACE_TEST_RUNNER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	lines := bufio.NewScanner(out)
	var stream bytes.Buffer
	for lines.Scan() {
		stream.Write(lines.Bytes())
		stream.WriteByte('\n')
		if strings.Contains(lines.Text(), `"type":"attached"`) {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for lines.Scan() {
		stream.Write(lines.Bytes())
		stream.WriteByte('\n')
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("trace-runner after SIGTERM: %v\n%s", err, stream.String())
	}
	recs := records(t, stream.Bytes())
	if got, want := types(recs), "start attached printf exit map end"; got != want {
		t.Fatalf("records %q, want %q", got, want)
	}
	if recs[2].Text != "stopping\n" || recs[5].End.Reason != "signal" {
		t.Errorf("want END's output and reason signal, got %s", stream.String())
	}
	if got := metaReason(t, root, id); got != "signal" {
		t.Errorf("meta.json end reason %q, want signal", got)
	}
}
