package spec

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	testID  = "0b5e6f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	testUID = "5f2b0c1e-9a3d-4c7b-8e6f-1a2b3c4d5e6f"
	testCID = "containerd://" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func validSpec() TraceSpec {
	return TraceSpec{
		APIVersion: APIVersion,
		Kind:       Kind,
		ID:         testID,
		Program:    "tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }",
		Targets: []Target{{
			Node: "node-1",
			Pods: []Pod{{
				Namespace:  "default",
				Name:       "web-1",
				UID:        testUID,
				Containers: []Container{{Name: "app", ID: testCID}},
			}},
		}},
		Limits:     Limits{Duration: Duration{30 * time.Second}},
		OutputRoot: "/var/lib/xtrace",
	}
}

func mustJSON(t *testing.T, s TraceSpec) []byte {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseValid(t *testing.T) {
	s := validSpec()
	s.Limits = Limits{}
	s.OutputRoot = ""
	got, err := Parse(mustJSON(t, s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got.OutputRoot != DefaultOutputRoot || got.Limits.TraceBytes != DefaultTraceLimit || got.Limits.NodeBytes != DefaultNodeLimit {
		t.Errorf("defaults not filled in: outputRoot %q, limits %+v", got.OutputRoot, got.Limits)
	}
	if got.Targets[0].Pods[0].Containers[0].ID != testCID {
		t.Errorf("container id = %q, want %q", got.Targets[0].Pods[0].Containers[0].ID, testCID)
	}
}

func TestParseStaticPodUIDAndNodeTarget(t *testing.T) {
	s := validSpec()
	s.Targets = []Target{
		{Node: "node-1", Pods: []Pod{{Namespace: "kube-system", Name: "etcd-node-1", UID: "0123456789abcdef0123456789abcdef"}}},
		{Node: "node-2"},
	}
	s.Program, s.Tool = "", "execsnoop"
	if _, err := Parse(mustJSON(t, s)); err != nil {
		t.Fatalf("Parse: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*TraceSpec)
		raw    string // used instead of the mutated spec when set
		want   string
	}{
		{name: "not json", raw: `{"apiVersion":`, want: "invalid trace spec: decoding JSON: unexpected EOF"},
		{name: "unknown field", raw: `{"apiVersion":"xtrace.dev/v1","kind":"TraceSpec","extra":1}`, want: `json: unknown field "extra"`},
		{name: "key in another case", raw: `{"apiVersion":"xtrace.dev/v1","kind":"TraceSpec","ID":"x"}`, want: `unknown field "ID" at the top level (field names are case-sensitive)`},
		{name: "nested key in another case", raw: `{"targets":[{"node":"n","pods":[{"UID":"x"}]}]}`, want: `unknown field "UID" at targets[0].pods[0]`},
		{name: "duplicate key", raw: `{"id":"a","program":"x","id":"b"}`, want: `field "id" given twice at the top level`},
		{name: "duplicate nested key", raw: `{"limits":{"traceBytes":1,"traceBytes":2}}`, want: `field "traceBytes" given twice at limits`},
		{name: "trailing data", raw: `{"apiVersion":"xtrace.dev/v1","kind":"TraceSpec"} {}`, want: "unexpected data after the spec object"},
		{name: "duration as number", raw: `{"limits":{"duration":30}}`, want: `duration must be a string such as "30s" or "5m", got 30`},
		{name: "duration unparsable", raw: `{"limits":{"duration":"30 parsecs"}}`, want: `duration "30 parsecs": time: unknown unit`},
		{name: "api version", mutate: func(s *TraceSpec) { s.APIVersion = "xtrace.dev/v2" }, want: `apiVersion "xtrace.dev/v2" is not supported, want "xtrace.dev/v1"`},
		{name: "missing api version", mutate: func(s *TraceSpec) { s.APIVersion = "" }, want: `apiVersion "" is not supported`},
		{name: "kind", mutate: func(s *TraceSpec) { s.Kind = "Pod" }, want: `kind "Pod" is not supported, want "TraceSpec"`},
		{name: "id upper case", mutate: func(s *TraceSpec) { s.ID = strings.ToUpper(testID) }, want: "id: invalid trace id \"0B5E6F3A-1C2D-4E5F-8A9B-0C1D2E3F4A5B\": want a lower-case UUID"},
		{name: "id path", mutate: func(s *TraceSpec) { s.ID = "../../etc" }, want: `invalid trace id "../../etc"`},
		{name: "no program", mutate: func(s *TraceSpec) { s.Program = "" }, want: "one of program and tool must be set"},
		{name: "program and tool", mutate: func(s *TraceSpec) { s.Tool = "execsnoop" }, want: "program and tool are both set; set only one"},
		{name: "program too big", mutate: func(s *TraceSpec) { s.Program = strings.Repeat("x", MaxProgramBytes+1) }, want: "program is 524289 bytes, more than the limit of 524288"},
		{name: "bad tool name", mutate: func(s *TraceSpec) { s.Program, s.Tool = "", "Exec Snoop" }, want: `tool "Exec Snoop" is not a tool name`},
		{name: "no targets", mutate: func(s *TraceSpec) { s.Targets = nil }, want: "targets: at least one target node is required"},
		{name: "empty node", mutate: func(s *TraceSpec) { s.Targets[0].Node = "" }, want: "targets[0].node: a node name is required"},
		{name: "bad node", mutate: func(s *TraceSpec) { s.Targets[0].Node = "Node_1" }, want: `targets[0].node "Node_1" is not a valid node name`},
		{name: "duplicate node", mutate: func(s *TraceSpec) { s.Targets = append(s.Targets, Target{Node: "node-1"}) }, want: `targets[1].node "node-1" appears in more than one target`},
		{name: "bad namespace", mutate: func(s *TraceSpec) { s.Targets[0].Pods[0].Namespace = "" }, want: `targets[0].pods[0].namespace "" is not a valid namespace`},
		{name: "bad pod name", mutate: func(s *TraceSpec) { s.Targets[0].Pods[0].Name = "web/1" }, want: `targets[0].pods[0].name "web/1" is not a valid pod name`},
		{name: "bad uid", mutate: func(s *TraceSpec) { s.Targets[0].Pods[0].UID = "pod123" }, want: `targets[0].pods[0].uid "pod123" is not a pod UID`},
		{name: "upper-case uid", mutate: func(s *TraceSpec) { s.Targets[0].Pods[0].UID = strings.ToUpper(testUID) }, want: `is not a pod UID`},
		{name: "duplicate uid", mutate: func(s *TraceSpec) {
			s.Targets[0].Pods = append(s.Targets[0].Pods, Pod{Namespace: "default", Name: "web-2", UID: testUID})
		}, want: `targets[0].pods[1].uid "5f2b0c1e-9a3d-4c7b-8e6f-1a2b3c4d5e6f" appears twice`},
		{name: "container without name", mutate: func(s *TraceSpec) { s.Targets[0].Pods[0].Containers[0].Name = "" }, want: "targets[0].pods[0].containers[0].name: a container name is required"},
		{name: "container id without runtime", mutate: func(s *TraceSpec) { s.Targets[0].Pods[0].Containers[0].ID = "0123abcd" }, want: `containers[0].id: container id "0123abcd" is not of the form <runtime>://<id>`},
		{name: "container id unknown runtime", mutate: func(s *TraceSpec) {
			s.Targets[0].Pods[0].Containers[0].ID = strings.Replace(testCID, "containerd", "rkt", 1)
		}, want: `runtime "rkt" is not one of containerd, cri-o, docker`},
		{name: "container id not hex", mutate: func(s *TraceSpec) { s.Targets[0].Pods[0].Containers[0].ID = "docker://../../x" }, want: "the id after docker:// must be 64 lower-case hex digits"},
		{name: "negative duration", mutate: func(s *TraceSpec) { s.Limits.Duration = Duration{-time.Second} }, want: "limits.duration -1s is negative"},
		{name: "negative trace bytes", mutate: func(s *TraceSpec) { s.Limits.TraceBytes = -1 }, want: "limits.traceBytes -1 is negative"},
		{name: "negative node bytes", mutate: func(s *TraceSpec) { s.Limits.NodeBytes = -1 }, want: "limits.nodeBytes -1 is negative"},
		{name: "trace cap above node cap", mutate: func(s *TraceSpec) { s.Limits.TraceBytes, s.Limits.NodeBytes = 10, 5 }, want: "limits.traceBytes 10 is larger than limits.nodeBytes 5"},
		{name: "relative output root", mutate: func(s *TraceSpec) { s.OutputRoot = "var/lib/xtrace" }, want: `outputRoot "var/lib/xtrace" is not an absolute path`},
		{name: "output root is /", mutate: func(s *TraceSpec) { s.OutputRoot = "/" }, want: "outputRoot must not be the file system root"},
		{name: "output root with ..", mutate: func(s *TraceSpec) { s.OutputRoot = "/var/lib/../../etc" }, want: `outputRoot "/var/lib/../../etc" contains ".."`},
		{name: "output root unclean", mutate: func(s *TraceSpec) { s.OutputRoot = "/var/lib//xtrace/" }, want: `outputRoot "/var/lib//xtrace/" is not clean, write it as "/var/lib/xtrace"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.raw)
			if tt.raw == "" {
				s := validSpec()
				tt.mutate(&s)
				data = mustJSON(t, s)
			}
			_, err := Parse(data)
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidTraceID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{testID, true},
		{strings.ToUpper(testID), false},
		{"", false},
		{testID + "0", false},
		{strings.ReplaceAll(testID, "-", ""), false},
		{"0b5e6f3a/1c2d-4e5f-8a9b-0c1d2e3f4a5b", false},
		{"..", false},
	}
	for _, tt := range tests {
		err := ValidTraceID(tt.id)
		if (err == nil) != tt.ok {
			t.Errorf("ValidTraceID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidTraceID) {
			t.Errorf("ValidTraceID(%q) error %q does not wrap ErrInvalidTraceID", tt.id, err)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		d    time.Duration
		json string
	}{
		{0, `"0s"`},
		{30 * time.Second, `"30s"`},
		{90 * time.Minute, `"1h30m0s"`},
		{1500 * time.Millisecond, `"1.5s"`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(Duration{tt.d})
		if err != nil || string(b) != tt.json {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tt.d, b, err, tt.json)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || back.Duration != tt.d {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", b, back.Duration, err, tt.d)
		}
	}
}

func TestWithDefaultsKeepsSetValuesAndCopies(t *testing.T) {
	s := validSpec()
	s.OutputRoot = "/data/xtrace"
	s.Limits.TraceBytes = 1 << 20
	d := s.WithDefaults()
	if d.OutputRoot != "/data/xtrace" || d.Limits.TraceBytes != 1<<20 || d.Limits.NodeBytes != DefaultNodeLimit {
		t.Errorf("WithDefaults = outputRoot %q limits %+v", d.OutputRoot, d.Limits)
	}
	if s.Limits.NodeBytes != 0 {
		t.Errorf("WithDefaults changed its receiver: NodeBytes = %d", s.Limits.NodeBytes)
	}
}
