package plugin

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

const testID = "0b5e6f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"

// testEnv is a Factory on a fake clientset, with canned pod logs and a
// scripted Ctrl-C.
type testEnv struct {
	t      *testing.T
	f      *Factory
	client *fake.Clientset
	sigs   chan os.Signal
	out    *bytes.Buffer
	errOut *bytes.Buffer

	mu   sync.Mutex
	logs map[string]func() io.ReadCloser
}

func newTestEnv(t *testing.T, objs ...runtime.Object) *testEnv {
	t.Helper()
	// An empty kubeconfig: tests must never read the developer's.
	t.Setenv("KUBECONFIG", os.DevNull)
	e := &testEnv{
		t:      t,
		client: fake.NewClientset(objs...),
		sigs:   make(chan os.Signal, 2),
		out:    &bytes.Buffer{},
		errOut: &bytes.Buffer{},
		logs:   map[string]func() io.ReadCloser{},
	}
	// With an empty kubeconfig the namespace is "default", not chosen by
	// the user; tests pass -n to choose one.
	flags := genericclioptions.NewConfigFlags(false)
	e.f = &Factory{
		ConfigFlags:  flags,
		client:       e.client,
		interrupts:   func() (<-chan os.Signal, func()) { return e.sigs, func() {} },
		pollInterval: 2 * time.Millisecond,
		exitWait:     20 * time.Millisecond,
		now:          func() time.Time { return time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC) },
		newID:        func() string { return testID },
	}
	e.f.openLogs = func(_ context.Context, ns, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if opts.Container != containerName {
			return nil, fmt.Errorf("log of container %q requested", opts.Container)
		}
		open, ok := e.logs[pod]
		if !ok {
			// Reader pods get random names: match on the prefix.
			for name, o := range e.logs {
				if strings.HasSuffix(name, "*") && strings.HasPrefix(pod, strings.TrimSuffix(name, "*")) {
					open, ok = o, true
				}
			}
		}
		if !ok {
			return nil, fmt.Errorf("no log for pod %s/%s", ns, pod)
		}
		return open(), nil
	}
	return e
}

// setLog serves text as the log of a pod ("prefix*" matches by prefix).
func (e *testEnv) setLog(pod, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.logs[pod] = func() io.ReadCloser { return io.NopCloser(strings.NewReader(text)) }
}

// run executes the root command with args and returns its error.
func (e *testEnv) run(args ...string) error {
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: e.out, ErrOut: e.errOut}
	cmd := newCmdXtrace(e.f, streams)
	cmd.SetArgs(args)
	return cmd.ExecuteContext(context.Background())
}

// onJobCreate makes the fake "Job controller": every created Job gets the
// pod (or events) the scenario returns.
func (e *testEnv) onJobCreate(scenario func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event)) {
	e.client.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		pod, events := scenario(job)
		if pod != nil {
			if err := e.client.Tracker().Add(pod); err != nil {
				e.t.Errorf("adding pod: %v", err)
			}
		}
		for _, ev := range events {
			if err := e.client.Tracker().Add(ev); err != nil {
				e.t.Errorf("adding event: %v", err)
			}
		}
		return false, nil, nil
	})
}

// jobPod is the pod the Job controller would create for job.
func jobPod(job *batchv1.Job, status corev1.PodStatus) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            job.Name + "-x7k2p",
			Namespace:       job.Namespace,
			Labels:          job.Spec.Template.Labels,
			Annotations:     job.Spec.Template.Annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name}},
		},
		Spec:   job.Spec.Template.Spec,
		Status: status,
	}
}

func runningStatus() corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: containerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
	}}}
}

func terminatedStatus(code int32) corev1.PodStatus {
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	return corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
		Name: containerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: map[bool]string{true: "Completed", false: "Error"}[code == 0]}},
	}}}
}

func waitingStatus(reason, msg string) corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: containerName, Image: "example.local/runner:bad",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}},
	}}}
}

// records encodes records as a runner's log.
func records(t *testing.T, recs ...*record.Record) string {
	t.Helper()
	var b bytes.Buffer
	w := record.NewWriter(&b)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// A typical successful trace's records.
func traceRecords(t *testing.T, node string) string {
	return records(t,
		&record.Record{Type: record.TypeStart, Node: node, Start: &record.Start{TraceID: testID, Node: node, Scope: "cgroup v2 id 42 (pod default/web-1)"}},
		&record.Record{Type: record.TypeAttached, Node: node, Probes: 1},
		&record.Record{Type: record.TypePrintf, Node: node, Text: "hello from " + node + "\n"},
		&record.Record{Type: record.TypeExit, Node: node},
		&record.Record{Type: record.TypeMap, Node: node, Map: &record.Map{Name: "@", Kind: "count", Entries: []record.Entry{{
			Key: []record.Value{{Kind: record.String, Str: "bash"}}, Value: &record.Value{Kind: record.Uint, Uint: 3},
		}}}},
		&record.Record{Type: record.TypeEnd, Node: node, End: &record.End{Reason: "exit"}},
	)
}

func errorRecords(t *testing.T, msg string) string {
	return records(t,
		&record.Record{Type: record.TypeStart, Start: &record.Start{TraceID: testID, Scope: "none"}},
		&record.Record{Type: record.TypeError, Text: msg},
		&record.Record{Type: record.TypeEnd, End: &record.End{Reason: "error", Error: msg}},
	)
}

// Cluster objects.

func testNamespace(name string, lbls map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}
}

func testNode(name string, ready bool) *corev1.Node {
	status := corev1.ConditionTrue
	if !ready {
		status = corev1.ConditionFalse
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: status, Reason: "KubeletNotReady", Message: "container runtime is down",
		}}},
	}
}

// testPod is a running pod "name" on node with one container "app".
func testPod(ns, name, node string, lbls map[string]string) *corev1.Pod {
	h := fnv.New32a()
	h.Write([]byte(ns + "/" + name))
	uid := fmt.Sprintf("%08x-0000-4000-8000-000000000000", h.Sum32())
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(uid), Labels: lbls},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app"}, {Name: "sidecar"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", ContainerID: "containerd://" + strings.Repeat("ab", 32), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			{Name: "sidecar", ContainerID: "", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}},
		}},
	}
}

// leftovers lists what a trace left in the cluster.
func (e *testEnv) leftovers() []string {
	e.t.Helper()
	ctx := context.Background()
	var out []string
	cms, _ := e.client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	for _, c := range cms.Items {
		if c.Labels[labelManagedBy] == managedBy {
			out = append(out, "configmap/"+c.Name)
		}
	}
	jobs, _ := e.client.BatchV1().Jobs("").List(ctx, metav1.ListOptions{})
	for _, j := range jobs.Items {
		if j.Labels[labelManagedBy] == managedBy {
			out = append(out, "job/"+j.Name)
		}
	}
	pods, _ := e.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		if p.Labels[labelManagedBy] == managedBy {
			out = append(out, "pod/"+p.Name)
		}
	}
	return out
}
