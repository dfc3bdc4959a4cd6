package plugin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Container waiting reasons a pod does not recover from on its own (with
// restartPolicy Never, or not without a user's fix).
var fatalWaitingReasons = map[string]string{
	"ErrImagePull":               "cannot pull image",
	"ImagePullBackOff":           "cannot pull image",
	"InvalidImageName":           "invalid image name",
	"ErrImageNeverPull":          "image not present and pull policy is Never",
	"CreateContainerConfigError": "cannot create the container",
	"CreateContainerError":       "cannot create the container",
	"RunContainerError":          "cannot start the container",
}

// examinePod says whether a pod's container has started (it is running or
// has already finished), or returns the reason it never will.
func examinePod(pod *corev1.Pod) (started bool, err error) {
	for _, s := range pod.Status.ContainerStatuses {
		switch {
		case s.State.Terminated != nil && neverRan(s.State.Terminated):
			return false, fmt.Errorf("pod %s on node %s: the container runtime could not start the runner: %s: %s", pod.Name, pod.Spec.NodeName, s.State.Terminated.Reason, s.State.Terminated.Message)
		case s.State.Running != nil, s.State.Terminated != nil:
			return true, nil
		case s.State.Waiting != nil:
			if what, fatal := fatalWaitingReasons[s.State.Waiting.Reason]; fatal {
				hint := ""
				if strings.Contains(what, "image") {
					hint = " (check --image, the registry's reachability from the node and imagePullSecrets)"
				}
				return false, fmt.Errorf("pod %s on node %s: %s %s: %s: %s%s", pod.Name, pod.Spec.NodeName,
					what, s.Image, s.State.Waiting.Reason, s.State.Waiting.Message, hint)
			}
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return false, fmt.Errorf("pod %s is unschedulable: %s", pod.Name, c.Message)
		}
	}
	if pod.Status.Phase == corev1.PodFailed {
		// The kubelet refused the pod (OutOfcpu, NodeAffinity, ...)
		// before any container ran.
		return false, fmt.Errorf("pod %s was rejected by node %s: %s: %s", pod.Name, pod.Spec.NodeName, pod.Status.Reason, pod.Status.Message)
	}
	return false, nil
}

// neverRan says whether a terminated container failed in the runtime before
// its process started, as when runc cannot apply capabilities: its log is
// empty and only the status explains it.
func neverRan(t *corev1.ContainerStateTerminated) bool {
	switch t.Reason {
	case "StartError", "ContainerCannotRun":
		return true
	}
	return false
}

// waitingReason is a short account of why a pod has not started, for the
// progress line and the timeout message.
func waitingReason(pod *corev1.Pod) string {
	if pod == nil {
		return "no pod yet"
	}
	for _, s := range pod.Status.ContainerStatuses {
		if s.State.Waiting != nil && s.State.Waiting.Reason != "" {
			return s.State.Waiting.Reason
		}
	}
	if pod.Spec.NodeName == "" {
		return "not scheduled"
	}
	return string(phaseOf(pod))
}

// startWatch follows the runner pods of a trace's Jobs until every one has
// started, reporting failures the Job controller and the kubelet only show
// in events and statuses.
type startWatch struct {
	client    kubernetes.Interface
	namespace string
	id        string
	jobs      []string
	interval  time.Duration
	timeout   time.Duration
	// progress is called with a one-line summary on every poll; nil for
	// no progress.
	progress func(string)
}

// wait returns each Job's started pod, by Job name.
func (w *startWatch) wait(ctx context.Context) (map[string]*corev1.Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	var last map[string]*corev1.Pod
	for {
		started, pods, err := w.poll(ctx)
		if err != nil {
			return nil, err
		}
		last = pods
		if len(started) == len(w.jobs) {
			return started, nil
		}
		if w.progress != nil {
			w.progress(w.summary(started, pods))
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("runner pods not running after %s: %s", w.timeout, w.pendingDetail(ctx, started, last))
			}
			return nil, ctx.Err()
		case <-ticker.C:
		}
	}
}

// poll reads the Jobs' events, the Jobs and the pods once.
func (w *startWatch) poll(ctx context.Context) (started, pods map[string]*corev1.Pod, err error) {
	wanted := map[string]bool{}
	for _, j := range w.jobs {
		wanted[j] = true
	}
	// A Pod Security (or other admission) rejection leaves the Job without
	// any condition: the FailedCreate event is the only trace of it.
	events, err := w.client.CoreV1().Events(w.namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Job,reason=FailedCreate"})
	if err != nil {
		return nil, nil, fmt.Errorf("reading events in %s: %w", w.namespace, err)
	}
	for _, e := range events.Items {
		if e.InvolvedObject.Kind == "Job" && wanted[e.InvolvedObject.Name] && e.Reason == "FailedCreate" {
			hint := ""
			if strings.Contains(e.Message, "PodSecurity") {
				hint = fmt.Sprintf(". Run the trace in a privileged namespace (kubectl xtrace rbac | kubectl apply -f -, then --job-namespace xtrace-system) or label this one: kubectl label namespace %s %s=privileged --overwrite", w.namespace, psaEnforceLabel)
			}
			return nil, nil, fmt.Errorf("Job %s could not create its pod: %s%s", e.InvolvedObject.Name, e.Message, hint)
		}
	}
	// One list for all the trace's Jobs: a workload trace may have one per
	// node of a large cluster.
	selector := labels.SelectorFromSet(labels.Set{labelTraceID: w.id}).String()
	jobs, err := w.client.BatchV1().Jobs(w.namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the trace's Jobs: %w", err)
	}
	for _, job := range jobs.Items {
		if !wanted[job.Name] {
			continue
		}
		for _, c := range job.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				return nil, nil, fmt.Errorf("Job %s failed: %s: %s", job.Name, c.Reason, c.Message)
			}
		}
	}
	list, err := w.client.CoreV1().Pods(w.namespace).List(ctx, metav1.ListOptions{LabelSelector: runnerSelector(w.id)})
	if err != nil {
		return nil, nil, fmt.Errorf("listing runner pods: %w", err)
	}
	started, pods = map[string]*corev1.Pod{}, map[string]*corev1.Pod{}
	for i := range list.Items {
		pod := &list.Items[i]
		job := ownerJob(pod)
		if !wanted[job] || pod.Labels[labelTraceID] != w.id {
			continue
		}
		pods[job] = pod
		ok, err := examinePod(pod)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			started[job] = pod
		}
	}
	return started, pods, nil
}

func (w *startWatch) summary(started, pods map[string]*corev1.Pod) string {
	if len(w.jobs) == 1 {
		return fmt.Sprintf("Waiting for the runner pod: %s", waitingReason(pods[w.jobs[0]]))
	}
	reasons := map[string]int{}
	for _, j := range w.jobs {
		if started[j] == nil {
			reasons[waitingReason(pods[j])]++
		}
	}
	var parts []string
	for r, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return fmt.Sprintf("Waiting for runner pods: %d/%d running, %s", len(started), len(w.jobs), strings.Join(parts, ", "))
}

// pendingDetail names each pod still waiting, with its latest warning event
// (a failed mount, say), which is usually the reason.
func (w *startWatch) pendingDetail(ctx context.Context, started, pods map[string]*corev1.Pod) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	events, _ := w.client.CoreV1().Events(w.namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod,type=Warning"})
	var parts []string
	for _, j := range w.jobs {
		if started[j] != nil {
			continue
		}
		pod := pods[j]
		detail := fmt.Sprintf("Job %s: %s", j, waitingReason(pod))
		if pod != nil && events != nil {
			var latest *corev1.Event
			for i := range events.Items {
				e := &events.Items[i]
				if e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.Name == pod.Name && e.Type == corev1.EventTypeWarning &&
					(latest == nil || latest.LastTimestamp.Before(&e.LastTimestamp)) {
					latest = e
				}
			}
			if latest != nil {
				detail += fmt.Sprintf(" (%s: %s)", latest.Reason, latest.Message)
			}
		}
		parts = append(parts, detail)
	}
	return strings.Join(parts, "; ")
}
