package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// Trace is a trace as get -o json|yaml shows it: the ConfigMap's spec and
// annotations, and a status put together from the trace's Jobs and pods. It
// is not stored anywhere; it is a runtime.Object only so that the
// cli-runtime printers can print it.
type Trace struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   spec.TraceSpec `json:"spec"`
	Status TraceStatus    `json:"status"`
}

// TraceStatus says where a trace is.
type TraceStatus struct {
	// State is Pending, Running, Completed, Failed, or "Completed
	// (persisted)" once the Jobs are gone and only the record and the
	// output on the nodes remain.
	State  string `json:"state"`
	Target string `json:"target,omitempty"`
	// Program is a one-line summary of the program.
	Program string `json:"program,omitempty"`
	Image   string `json:"image,omitempty"`
	// Persisted says whether a runner started and so wrote output on its
	// node that fetch can read.
	Persisted bool         `json:"persisted"`
	Nodes     []NodeStatus `json:"nodes"`
}

// NodeStatus is one node's part of a trace.
type NodeStatus struct {
	Node    string `json:"node"`
	Job     string `json:"job,omitempty"`
	Pod     string `json:"pod,omitempty"`
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
	started bool
}

// TraceList is what get prints for several traces with -o json|yaml.
type TraceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Trace `json:"items"`
}

const (
	stateUnknown   = "Unknown"
	statePending   = "Pending"
	stateRunning   = "Running"
	stateCompleted = "Completed"
	stateFailed    = "Failed"
	statePersisted = "Completed (persisted)"
	stateGone      = "Gone"
)

// DeepCopyObject copies through JSON: a Trace is small, printed once, and
// has no fields JSON does not carry.
func (t *Trace) DeepCopyObject() runtime.Object {
	var c Trace
	data, err := json.Marshal(t)
	if err == nil {
		err = json.Unmarshal(data, &c)
	}
	if err != nil {
		panic(fmt.Sprintf("copying trace %s: %v", t.Name, err))
	}
	return &c
}

// DeepCopyObject copies through JSON, like Trace's.
func (l *TraceList) DeepCopyObject() runtime.Object {
	var c TraceList
	data, err := json.Marshal(l)
	if err == nil {
		err = json.Unmarshal(data, &c)
	}
	if err != nil {
		panic(fmt.Sprintf("copying trace list: %v", err))
	}
	return &c
}

// traceFromConfigMap reads a trace record. The spec is decoded leniently:
// get must still list records written by other plugin versions.
func traceFromConfigMap(cm *corev1.ConfigMap) (*Trace, error) {
	t := &Trace{
		TypeMeta: metav1.TypeMeta{APIVersion: spec.APIVersion, Kind: "Trace"},
		ObjectMeta: metav1.ObjectMeta{
			Name:              cm.Labels[labelTraceID],
			Namespace:         cm.Namespace,
			CreationTimestamp: cm.CreationTimestamp,
			Labels:            cm.Labels,
			Annotations:       cm.Annotations,
		},
	}
	if err := json.Unmarshal([]byte(cm.Data[specKey]), &t.Spec); err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s does not hold a readable trace spec (delete it with kubectl delete configmap): %w", cm.Namespace, cm.Name, err)
	}
	if t.Name == "" {
		t.Name = t.Spec.ID
	}
	if t.CreationTimestamp.IsZero() {
		if created, err := time.Parse(time.RFC3339, cm.Annotations[annotationCreated]); err == nil {
			t.CreationTimestamp = metav1.NewTime(created)
		}
	}
	t.Status.Target = cm.Annotations[annotationTarget]
	t.Status.Program = cm.Annotations[annotationProgram]
	t.Status.Image = cm.Annotations[annotationImage]
	return t, nil
}

// nodes lists the trace's nodes in spec order.
func (t *Trace) nodes() []string {
	var out []string
	for _, target := range t.Spec.Targets {
		out = append(out, target.Node)
	}
	return out
}

// targetPods maps each node that traces exactly one pod to that pod, which
// the node's records are tagged with when several nodes' output is merged.
func (t *Trace) targetPods() map[string]string {
	pods := map[string]string{}
	for _, target := range t.Spec.Targets {
		if pod := targetPod(target); pod != "" {
			pods[target.Node] = pod
		}
	}
	return pods
}

// setStatus works out the trace's state from its Jobs and runner pods.
func (t *Trace) setStatus(jobs []batchv1.Job, pods []corev1.Pod) {
	jobByNode := map[string]*batchv1.Job{}
	for i := range jobs {
		jobByNode[jobs[i].Annotations[annotationNode]] = &jobs[i]
	}
	podByJob := map[string]*corev1.Pod{}
	for i := range pods {
		if name := ownerJob(&pods[i]); name != "" {
			// Prefer the newest pod of a Job; there is only one unless
			// something recreated it.
			if prev := podByJob[name]; prev == nil || prev.CreationTimestamp.Before(&pods[i].CreationTimestamp) {
				podByJob[name] = &pods[i]
			}
		}
	}
	t.Status.Nodes = nil
	counts := map[string]int{}
	for _, node := range t.nodes() {
		ns := nodeStatus(node, jobByNode[node], podByJob)
		counts[ns.State]++
		if ns.started {
			t.Status.Persisted = true
		}
		t.Status.Nodes = append(t.Status.Nodes, ns)
	}
	n := len(t.Status.Nodes)
	switch {
	case n == 0:
		t.Status.State = stateUnknown
	case counts[stateGone] == n:
		t.Status.State = statePersisted
		// A runner that got far enough to be cleaned up by its TTL wrote
		// output; failed runs are deleted by run itself.
		t.Status.Persisted = true
	case counts[stateFailed] > 0:
		t.Status.State = stateFailed
	case counts[stateRunning] > 0:
		t.Status.State = stateRunning
	case counts[statePending] > 0:
		t.Status.State = statePending
	default:
		t.Status.State = stateCompleted
	}
}

func nodeStatus(node string, job *batchv1.Job, podByJob map[string]*corev1.Pod) NodeStatus {
	ns := NodeStatus{Node: node}
	if job == nil {
		ns.State = stateGone
		return ns
	}
	ns.Job = job.Name
	pod := podByJob[job.Name]
	if pod != nil {
		ns.Pod = pod.Name
		ns.started = containerStarted(pod)
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobFailed:
			ns.State, ns.Message = stateFailed, strings.TrimSpace(c.Reason+": "+c.Message)
			return ns
		case batchv1.JobComplete:
			ns.State, ns.started = stateCompleted, true
			return ns
		case batchv1.JobSuspended:
			// run suspends a Job to stop its trace gracefully.
			if pod == nil {
				ns.State, ns.Message, ns.started = stateCompleted, "stopped", true
				return ns
			}
		}
	}
	switch {
	case pod == nil:
		ns.State = statePending
	case pod.Status.Phase == corev1.PodRunning:
		ns.State = stateRunning
	case pod.Status.Phase == corev1.PodSucceeded:
		ns.State = stateCompleted
	case pod.Status.Phase == corev1.PodFailed:
		ns.State, ns.Message = stateFailed, strings.TrimSpace(pod.Status.Reason+" "+pod.Status.Message)
	default:
		ns.State = statePending
	}
	return ns
}

// containerStarted says whether the runner container ever ran, and so
// whether it wrote anything on the node.
func containerStarted(pod *corev1.Pod) bool {
	for _, s := range pod.Status.ContainerStatuses {
		if s.State.Running != nil || s.State.Terminated != nil || s.LastTerminationState.Terminated != nil {
			return true
		}
	}
	return false
}

// ownerJob returns the name of the Job that owns a pod.
func ownerJob(pod *corev1.Pod) string {
	for _, r := range pod.OwnerReferences {
		if r.Kind == "Job" {
			return r.Name
		}
	}
	return pod.Labels["batch.kubernetes.io/job-name"]
}

// traceQuery selects the traces a command works on.
type traceQuery struct {
	namespace string
	// allNamespaces is -A.
	allNamespaces bool
	// selector is get's -l, applied to the ConfigMaps.
	selector string
}

func (q traceQuery) ns() string {
	if q.allNamespaces {
		return metav1.NamespaceAll
	}
	return q.namespace
}

// listTraces returns the traces with their status, sorted by namespace
// and creation time.
func listTraces(ctx context.Context, client kubernetes.Interface, q traceQuery) ([]*Trace, error) {
	sel := labels.SelectorFromSet(labels.Set{labelManagedBy: managedBy})
	if q.selector != "" {
		extra, err := labels.Parse(q.selector)
		if err != nil {
			return nil, fmt.Errorf("invalid -l selector %q: %w", q.selector, err)
		}
		reqs, _ := extra.Requirements()
		sel = sel.Add(reqs...)
	}
	cms, err := client.CoreV1().ConfigMaps(q.ns()).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("listing traces (ConfigMaps labelled %s): %w", sel, err)
	}
	var traces []*Trace
	for i := range cms.Items {
		cm := &cms.Items[i]
		if !sel.Matches(labels.Set(cm.Labels)) || cm.Labels[labelTraceID] == "" {
			continue
		}
		t, err := traceFromConfigMap(cm)
		if err != nil {
			return nil, err
		}
		traces = append(traces, t)
	}
	if len(traces) == 0 {
		return nil, nil
	}
	if err := fillStatus(ctx, client, q.ns(), traces); err != nil {
		return nil, err
	}
	sort.Slice(traces, func(i, j int) bool {
		if traces[i].Namespace != traces[j].Namespace {
			return traces[i].Namespace < traces[j].Namespace
		}
		if !traces[i].CreationTimestamp.Equal(&traces[j].CreationTimestamp) {
			return traces[i].CreationTimestamp.Before(&traces[j].CreationTimestamp)
		}
		return traces[i].Name < traces[j].Name
	})
	return traces, nil
}

// fillStatus reads the Jobs and runner pods of the traces with one list
// each, rather than a pair of requests per trace.
func fillStatus(ctx context.Context, client kubernetes.Interface, ns string, traces []*Trace) error {
	sel := labels.SelectorFromSet(labels.Set{labelManagedBy: managedBy}).String()
	jobs, err := client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("listing trace Jobs: %w", err)
	}
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("listing trace pods: %w", err)
	}
	type key struct{ ns, id string }
	jobsOf := map[key][]batchv1.Job{}
	for _, j := range jobs.Items {
		k := key{j.Namespace, j.Labels[labelTraceID]}
		jobsOf[k] = append(jobsOf[k], j)
	}
	podsOf := map[key][]corev1.Pod{}
	for _, p := range pods.Items {
		if p.Labels[labelRole] == roleReader {
			continue
		}
		k := key{p.Namespace, p.Labels[labelTraceID]}
		podsOf[k] = append(podsOf[k], p)
	}
	for _, t := range traces {
		k := key{t.Namespace, t.Name}
		t.setStatus(jobsOf[k], podsOf[k])
	}
	return nil
}

// findTrace finds one trace by id. It looks in the namespace first; when
// the user did not choose the namespace, a trace whose Job ran elsewhere
// (--job-namespace) is found in any namespace the user may list.
func findTrace(ctx context.Context, client kubernetes.Interface, ref traceRef, q traceQuery, explicitNamespace bool) (*Trace, error) {
	traces, err := listTraces(ctx, client, q)
	if err != nil {
		return nil, err
	}
	matches := matchTraces(traces, ref)
	if len(matches) == 0 && !q.allNamespaces && !explicitNamespace {
		all := q
		all.allNamespaces = true
		if traces, err := listTraces(ctx, client, all); err == nil {
			matches = matchTraces(traces, ref)
		} else if !apierrors.IsForbidden(err) {
			return nil, err
		}
	}
	switch len(matches) {
	case 0:
		where := fmt.Sprintf("namespace %q", q.namespace)
		if q.allNamespaces {
			where = "any namespace"
		}
		return nil, fmt.Errorf("trace %s not found in %s: list traces with kubectl xtrace get -A", ref, where)
	case 1:
		return matches[0], nil
	}
	var ids []string
	for _, m := range matches {
		ids = append(ids, m.Namespace+"/"+m.Name)
	}
	return nil, fmt.Errorf("short id %s matches several traces (%s): give the full id or -n", ref, strings.Join(ids, ", "))
}

// findTraces returns the one trace ref names, found as findTrace finds it,
// or every trace q selects when there is no ref.
func findTraces(ctx context.Context, client kubernetes.Interface, ref *traceRef, q traceQuery, explicitNamespace bool) ([]*Trace, error) {
	if ref == nil {
		return listTraces(ctx, client, q)
	}
	t, err := findTrace(ctx, client, *ref, q, explicitNamespace)
	if err != nil {
		return nil, err
	}
	return []*Trace{t}, nil
}

func matchTraces(traces []*Trace, ref traceRef) []*Trace {
	var out []*Trace
	for _, t := range traces {
		if ref.full != "" && t.Name == ref.full || ref.full == "" && shortID(t.Name) == ref.short {
			out = append(out, t)
		}
	}
	return out
}
