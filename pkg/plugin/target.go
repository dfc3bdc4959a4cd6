package plugin

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// targetKind is the canonical name of what a TARGET argument names.
type targetKind string

const (
	kindPod         targetKind = "pod"
	kindNode        targetKind = "node"
	kindDeployment  targetKind = "deployment"
	kindStatefulSet targetKind = "statefulset"
	kindDaemonSet   targetKind = "daemonset"
	kindReplicaSet  targetKind = "replicaset"
	kindJob         targetKind = "job"
	kindSelector    targetKind = "selector"
)

// targetAliases maps every spelling kubectl users type to a kind.
var targetAliases = map[string]targetKind{
	"po": kindPod, "pod": kindPod, "pods": kindPod,
	"no": kindNode, "node": kindNode, "nodes": kindNode,
	"deploy": kindDeployment, "deployment": kindDeployment, "deployments": kindDeployment,
	"sts": kindStatefulSet, "statefulset": kindStatefulSet, "statefulsets": kindStatefulSet,
	"ds": kindDaemonSet, "daemonset": kindDaemonSet, "daemonsets": kindDaemonSet,
	"rs": kindReplicaSet, "replicaset": kindReplicaSet, "replicasets": kindReplicaSet,
	"job": kindJob, "jobs": kindJob,
}

// targetPrefixes are offered by shell completion, in this order.
var targetPrefixes = []string{"pod/", "node/", "deploy/", "sts/", "ds/", "rs/", "job/"}

// targetArg is a parsed TARGET argument or -l selector.
type targetArg struct {
	kind     targetKind
	name     string
	selector string
}

// parseTarget reads "pod/NAME", "NAME", "node/NAME", "deploy/NAME", ... or,
// with no argument, the -l selector.
func parseTarget(arg, selector string) (targetArg, error) {
	switch {
	case arg != "" && selector != "":
		return targetArg{}, fmt.Errorf("give either a TARGET or -l SELECTOR, not both")
	case arg == "" && selector == "":
		return targetArg{}, fmt.Errorf("a TARGET is required: pod/NAME, node/NAME, deploy|sts|ds|rs|job/NAME, or -l SELECTOR")
	case selector != "":
		if _, err := labels.Parse(selector); err != nil {
			return targetArg{}, fmt.Errorf("invalid -l selector %q: %w", selector, err)
		}
		return targetArg{kind: kindSelector, selector: selector}, nil
	}
	kindText, name, hasKind := strings.Cut(arg, "/")
	if !hasKind {
		return targetArg{kind: kindPod, name: arg}, nil
	}
	kind, ok := targetAliases[strings.ToLower(kindText)]
	if !ok {
		return targetArg{}, fmt.Errorf("unknown target kind %q in %q: use pod, node, deploy, sts, ds, rs or job", kindText, arg)
	}
	if name == "" || strings.Contains(name, "/") {
		return targetArg{}, fmt.Errorf("target %q: want %s/NAME", arg, kindText)
	}
	return targetArg{kind: kind, name: name}, nil
}

// resolvedTarget is a target turned into per-node scopes.
type resolvedTarget struct {
	// Description is what get shows as TARGET, e.g. "pod/default/web-1".
	Description string
	// Namespace is the target's namespace, "" for a node.
	Namespace string
	// Targets has one entry per node, sorted by node name.
	Targets []spec.Target
}

// resolveTarget looks the target up and turns it into the pods, grouped by
// node, that the runners scope to. Pods that are not running cannot be
// traced: a single pod target fails; a workload skips them with a warning on
// warn, and fails only if none is left.
func resolveTarget(ctx context.Context, client kubernetes.Interface, namespace string, t targetArg, container string, warn io.Writer) (*resolvedTarget, error) {
	if t.kind == kindNode {
		if container != "" {
			return nil, fmt.Errorf("-c selects a container of a pod; it does not apply to node/%s", t.name)
		}
		return resolveNode(ctx, client, t.name)
	}
	if t.kind == kindPod {
		pod, err := client.CoreV1().Pods(namespace).Get(ctx, t.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("pod %q not found in namespace %q: check the name, or pass -n", t.name, namespace)
		}
		if err != nil {
			return nil, fmt.Errorf("getting pod %s/%s: %w", namespace, t.name, err)
		}
		if err := checkPodRunning(pod); err != nil {
			return nil, err
		}
		p, err := podScope(pod, container)
		if err != nil {
			return nil, err
		}
		return &resolvedTarget{
			Description: fmt.Sprintf("pod/%s/%s", namespace, t.name),
			Namespace:   namespace,
			Targets:     []spec.Target{{Node: pod.Spec.NodeName, Pods: []spec.Pod{p}}},
		}, nil
	}

	selector, description, err := workloadSelector(ctx, client, namespace, t)
	if err != nil {
		return nil, err
	}
	list, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of %s: %w", description, err)
	}
	pods := list.Items
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	byNode := map[string][]spec.Pod{}
	var skipped []string
	for i := range pods {
		pod := &pods[i]
		// The fake clientset and old servers may ignore the selector; the
		// check here keeps the scope exact either way.
		if !selector.Matches(labels.Set(pod.Labels)) {
			continue
		}
		if err := checkPodRunning(pod); err != nil {
			skipped = append(skipped, err.Error())
			continue
		}
		p, err := podScope(pod, container)
		if err != nil {
			return nil, err
		}
		byNode[pod.Spec.NodeName] = append(byNode[pod.Spec.NodeName], p)
	}
	if len(byNode) == 0 {
		if len(skipped) == 0 {
			return nil, fmt.Errorf("%s has no pods in namespace %q (selector %s)", description, namespace, selector)
		}
		return nil, fmt.Errorf("%s has no running pods to trace:\n  %s", description, strings.Join(skipped, "\n  "))
	}
	for _, s := range skipped {
		fmt.Fprintf(warn, "Warning: skipping %s\n", s)
	}
	r := &resolvedTarget{Description: description, Namespace: namespace}
	for node, ps := range byNode {
		r.Targets = append(r.Targets, spec.Target{Node: node, Pods: ps})
	}
	sort.Slice(r.Targets, func(i, j int) bool { return r.Targets[i].Node < r.Targets[j].Node })
	return r, nil
}

func resolveNode(ctx context.Context, client kubernetes.Interface, name string) (*resolvedTarget, error) {
	node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("node %q not found: list nodes with kubectl get nodes", name)
	}
	if err != nil {
		return nil, fmt.Errorf("getting node %s: %w", name, err)
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
			return nil, fmt.Errorf("node %s is not Ready (%s: %s): a runner pod would not start there", name, c.Reason, c.Message)
		}
	}
	return &resolvedTarget{
		Description: "node/" + name,
		Targets:     []spec.Target{{Node: name}},
	}, nil
}

// workloadSelector returns the pod selector of a workload or of -l.
func workloadSelector(ctx context.Context, client kubernetes.Interface, ns string, t targetArg) (labels.Selector, string, error) {
	if t.kind == kindSelector {
		sel, err := labels.Parse(t.selector)
		if err != nil {
			return nil, "", fmt.Errorf("invalid -l selector %q: %w", t.selector, err)
		}
		return sel, fmt.Sprintf("pods/%s -l %s", ns, t.selector), nil
	}
	description := fmt.Sprintf("%s/%s/%s", t.kind, ns, t.name)
	var (
		ls  *metav1.LabelSelector
		err error
	)
	switch t.kind {
	case kindDeployment:
		d, e := client.AppsV1().Deployments(ns).Get(ctx, t.name, metav1.GetOptions{})
		err = e
		if e == nil {
			ls = d.Spec.Selector
		}
	case kindStatefulSet:
		s, e := client.AppsV1().StatefulSets(ns).Get(ctx, t.name, metav1.GetOptions{})
		err = e
		if e == nil {
			ls = s.Spec.Selector
		}
	case kindDaemonSet:
		d, e := client.AppsV1().DaemonSets(ns).Get(ctx, t.name, metav1.GetOptions{})
		err = e
		if e == nil {
			ls = d.Spec.Selector
		}
	case kindReplicaSet:
		r, e := client.AppsV1().ReplicaSets(ns).Get(ctx, t.name, metav1.GetOptions{})
		err = e
		if e == nil {
			ls = r.Spec.Selector
		}
	case kindJob:
		j, e := client.BatchV1().Jobs(ns).Get(ctx, t.name, metav1.GetOptions{})
		err = e
		if e == nil {
			ls = j.Spec.Selector
		}
	default:
		return nil, "", fmt.Errorf("internal error: no selector for target kind %q", t.kind)
	}
	if apierrors.IsNotFound(err) {
		return nil, "", fmt.Errorf("%s %q not found in namespace %q: check the name, or pass -n", t.kind, t.name, ns)
	}
	if err != nil {
		return nil, "", fmt.Errorf("getting %s: %w", description, err)
	}
	if ls == nil {
		return nil, "", fmt.Errorf("%s has no pod selector", description)
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, "", fmt.Errorf("%s has an invalid pod selector: %w", description, err)
	}
	if sel.Empty() {
		// An empty selector matches every pod in the namespace, which is
		// never what tracing a workload means.
		return nil, "", fmt.Errorf("%s has an empty pod selector; trace its pods with -l instead", description)
	}
	return sel, description, nil
}

// checkPodRunning refuses pods that have no processes to trace yet or any
// more, saying which.
func checkPodRunning(pod *corev1.Pod) error {
	name := pod.Namespace + "/" + pod.Name
	if pod.DeletionTimestamp != nil {
		return fmt.Errorf("pod %s is terminating", name)
	}
	if pod.Spec.NodeName == "" {
		msg := ""
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
				msg = ": " + c.Message
			}
		}
		return fmt.Errorf("pod %s is not scheduled to a node yet (phase %s%s)", name, phaseOf(pod), msg)
	}
	if pod.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("pod %s is not running (phase %s on node %s)", name, phaseOf(pod), pod.Spec.NodeName)
	}
	return nil
}

func phaseOf(pod *corev1.Pod) corev1.PodPhase {
	if pod.Status.Phase == "" {
		return corev1.PodPending
	}
	return pod.Status.Phase
}

// podScope turns a running pod into the runner's scope: the whole pod, or
// with -c one running container by its runtime id.
func podScope(pod *corev1.Pod, container string) (spec.Pod, error) {
	p := spec.Pod{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID)}
	if container == "" {
		return p, nil
	}
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.ContainerStatuses...), pod.Status.InitContainerStatuses...)
	for _, s := range statuses {
		if s.Name != container {
			continue
		}
		if s.State.Running == nil || s.ContainerID == "" {
			return spec.Pod{}, fmt.Errorf("container %q of pod %s/%s is not running", container, pod.Namespace, pod.Name)
		}
		p.Containers = []spec.Container{{Name: s.Name, ID: s.ContainerID}}
		return p, nil
	}
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	return spec.Pod{}, fmt.Errorf("pod %s/%s has no container %q (its containers: %s)", pod.Namespace, pod.Name, container, strings.Join(names, ", "))
}
