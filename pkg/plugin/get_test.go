package plugin

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// storedTrace is a trace as run leaves it: the ConfigMap and, per node, a
// Job (unless gone) and its pod (nil for none).
func storedTrace(t *testing.T, ns, id, target string, age time.Duration, jobs map[string]*corev1.PodStatus, jobConds map[string][]batchv1.JobCondition, nodes ...string) []runtime.Object {
	t.Helper()
	var targets []spec.Target
	for _, n := range nodes {
		targets = append(targets, spec.Target{Node: n})
	}
	ts := newTraceSpec(id, &program{Name: "-e", Source: countProgram}, targets, 0, 0)
	created := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC).Add(-age)
	cm, err := buildConfigMap(ts, ns, traceMeta{Target: target, Program: "tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }", Image: "example.local/runner:v1", Created: created})
	if err != nil {
		t.Fatal(err)
	}
	cm.CreationTimestamp = metav1.NewTime(created)
	objs := []runtime.Object{cm}
	for _, j := range buildJobs(cm, ts, jobOptions{Namespace: ns, Image: "i"}) {
		node := j.Annotations[annotationNode]
		status, ok := jobs[node]
		if !ok {
			continue // the Job is gone
		}
		j.Status.Conditions = jobConds[node]
		objs = append(objs, j)
		if status != nil {
			objs = append(objs, jobPod(j, *status))
		}
	}
	return objs
}

const (
	idRunning   = "11111111-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	idPersisted = "22222222-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	idFailed    = "33333333-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	idPending   = "44444444-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	idElsewhere = "55555555-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	idCompleted = "66666666-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
)

func storedTraces(t *testing.T) []runtime.Object {
	running, done := runningStatus(), terminatedStatus(0)
	var objs []runtime.Object
	objs = append(objs, storedTrace(t, "default", idRunning, "deployment/default/web", 5*time.Minute,
		map[string]*corev1.PodStatus{"n1": &running, "n2": &done}, nil, "n1", "n2")...)
	objs = append(objs, storedTrace(t, "default", idPersisted, "pod/default/web-1", 3*time.Hour, nil, nil, "n1")...)
	objs = append(objs, storedTrace(t, "default", idFailed, "node/n2", 2*time.Hour, map[string]*corev1.PodStatus{"n2": nil},
		map[string][]batchv1.JobCondition{"n2": {{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "DeadlineExceeded"}}}, "n2")...)
	objs = append(objs, storedTrace(t, "default", idPending, "pod/default/web-2", 10*time.Second, map[string]*corev1.PodStatus{"n2": nil}, nil, "n2")...)
	objs = append(objs, storedTrace(t, "tracing", idElsewhere, "node/n1", 26*time.Hour, nil, nil, "n1")...)
	objs = append(objs, storedTrace(t, "default", idCompleted, "ds/default/agent", 30*time.Minute, map[string]*corev1.PodStatus{"n1": &done, "n2": &done, "n3": &done, "n4": &done},
		map[string][]batchv1.JobCondition{"n1": {{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}, "n1", "n2", "n3", "n4")...)
	return objs
}

func TestGetTable(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "namespace", args: []string{"get"}, want: `
ID                                     TARGET                   NODE(S)            STATE                   AGE    PERSISTED
22222222-1c2d-4e5f-8a9b-0c1d2e3f4a5b   pod/default/web-1        n1                 Completed (persisted)   3h     yes
33333333-1c2d-4e5f-8a9b-0c1d2e3f4a5b   node/n2                  n2                 Failed                  120m   no
66666666-1c2d-4e5f-8a9b-0c1d2e3f4a5b   ds/default/agent         n1,n2,n3,+1 more   Completed               30m    yes
11111111-1c2d-4e5f-8a9b-0c1d2e3f4a5b   deployment/default/web   n1,n2              Running                 5m     yes
44444444-1c2d-4e5f-8a9b-0c1d2e3f4a5b   pod/default/web-2        n2                 Pending                 10s    no
`},
		{name: "all namespaces", args: []string{"get", "-A"}, want: `
NAMESPACE   ID                                     TARGET                   NODE(S)            STATE                   AGE    PERSISTED
default     22222222-1c2d-4e5f-8a9b-0c1d2e3f4a5b   pod/default/web-1        n1                 Completed (persisted)   3h     yes
default     33333333-1c2d-4e5f-8a9b-0c1d2e3f4a5b   node/n2                  n2                 Failed                  120m   no
default     66666666-1c2d-4e5f-8a9b-0c1d2e3f4a5b   ds/default/agent         n1,n2,n3,+1 more   Completed               30m    yes
default     11111111-1c2d-4e5f-8a9b-0c1d2e3f4a5b   deployment/default/web   n1,n2              Running                 5m     yes
default     44444444-1c2d-4e5f-8a9b-0c1d2e3f4a5b   pod/default/web-2        n2                 Pending                 10s    no
tracing     55555555-1c2d-4e5f-8a9b-0c1d2e3f4a5b   node/n1                  n1                 Completed (persisted)   26h    yes
`},
		{name: "one by short id, wide", args: []string{"get", "11111111", "-o", "wide"}, want: `
ID                                     TARGET                   NODE(S)   STATE     AGE   PERSISTED   PROGRAM                                                       IMAGE
11111111-1c2d-4e5f-8a9b-0c1d2e3f4a5b   deployment/default/web   n1,n2     Running   5m    yes         tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }   example.local/runner:v1
`},
		{name: "found in another namespace", args: []string{"get", idElsewhere, "--no-headers"}, want: `
55555555-1c2d-4e5f-8a9b-0c1d2e3f4a5b   node/n1   n1    Completed (persisted)   26h   yes
`},
		{name: "name", args: []string{"get", "-o", "name", "-l", "xtrace.dev/trace-id=" + idFailed}, want: `
trace.xtrace.dev/33333333-1c2d-4e5f-8a9b-0c1d2e3f4a5b
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, storedTraces(t)...)
			if err := e.run(tt.args...); err != nil {
				t.Fatal(err)
			}
			if got, want := e.out.String(), strings.TrimPrefix(tt.want, "\n"); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestGetYAMLAndJSON(t *testing.T) {
	e := newTestEnv(t, storedTraces(t)...)
	if err := e.run("get", idRunning, "-o", "yaml"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"apiVersion: xtrace.dev/v1", "kind: Trace", "name: " + idRunning, "state: Running", "node: n1", "job: xtrace-11111111-0", "pod: xtrace-11111111-0-x7k2p", "program: tracepoint:syscalls:sys_enter_openat"} {
		if !strings.Contains(e.out.String(), s) {
			t.Errorf("yaml lacks %q:\n%s", s, e.out)
		}
	}
	e = newTestEnv(t, storedTraces(t)...)
	if err := e.run("get", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.out.String(), `"kind": "List"`) || strings.Count(e.out.String(), `"kind": "Trace"`) != 5 {
		t.Errorf("json list:\n%s", e.out)
	}
}

func TestGetErrors(t *testing.T) {
	e := newTestEnv(t, storedTraces(t)...)
	err := e.run("get", "99999999")
	if err == nil || !strings.Contains(err.Error(), "trace 99999999 not found") {
		t.Errorf("err = %v", err)
	}
	err = e.run("get", idElsewhere, "-n", "default")
	if err == nil || !strings.Contains(err.Error(), `not found in namespace "default"`) {
		t.Errorf("an explicit -n must not fall back to all namespaces: %v", err)
	}
	err = e.run("get", "../etc")
	if err == nil || !strings.Contains(err.Error(), "invalid trace id") {
		t.Errorf("err = %v", err)
	}
	e = newTestEnv(t)
	if err := e.run("get"); err != nil {
		t.Fatal(err)
	}
	if e.out.Len() != 0 || e.errOut.String() != "No traces found in default namespace.\n" {
		t.Errorf("stdout %q stderr %q", e.out, e.errOut)
	}
}
