package plugin

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		arg, selector string
		want          targetArg
		wantErr       string
	}{
		{arg: "web-1", want: targetArg{kind: kindPod, name: "web-1"}},
		{arg: "pod/web-1", want: targetArg{kind: kindPod, name: "web-1"}},
		{arg: "po/web-1", want: targetArg{kind: kindPod, name: "web-1"}},
		{arg: "node/n1", want: targetArg{kind: kindNode, name: "n1"}},
		{arg: "deploy/web", want: targetArg{kind: kindDeployment, name: "web"}},
		{arg: "deployment/web", want: targetArg{kind: kindDeployment, name: "web"}},
		{arg: "sts/db", want: targetArg{kind: kindStatefulSet, name: "db"}},
		{arg: "statefulset/db", want: targetArg{kind: kindStatefulSet, name: "db"}},
		{arg: "ds/agent", want: targetArg{kind: kindDaemonSet, name: "agent"}},
		{arg: "daemonset/agent", want: targetArg{kind: kindDaemonSet, name: "agent"}},
		{arg: "rs/web-5d8f", want: targetArg{kind: kindReplicaSet, name: "web-5d8f"}},
		{arg: "replicaset/web-5d8f", want: targetArg{kind: kindReplicaSet, name: "web-5d8f"}},
		{arg: "job/batch", want: targetArg{kind: kindJob, name: "batch"}},
		{selector: "app=web", want: targetArg{kind: kindSelector, selector: "app=web"}},
		{arg: "svc/web", wantErr: `unknown target kind "svc"`},
		{arg: "pod/", wantErr: "want pod/NAME"},
		{arg: "pod/a/b", wantErr: "want pod/NAME"},
		{arg: "web", selector: "app=web", wantErr: "not both"},
		{wantErr: "a TARGET is required"},
		{selector: "app in (", wantErr: "invalid -l selector"},
	}
	for _, tt := range tests {
		t.Run(tt.arg+"|"+tt.selector, func(t *testing.T) {
			got, err := parseTarget(tt.arg, tt.selector)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestResolveTarget(t *testing.T) {
	web := map[string]string{"app": "web"}
	sel := &metav1.LabelSelector{MatchLabels: web}
	notScheduled := testPod("default", "web-pending", "", web)
	notScheduled.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available: insufficient cpu",
	}}}
	succeeded := testPod("default", "web-done", "n1", web)
	succeeded.Status.Phase = corev1.PodSucceeded
	terminating := testPod("default", "web-going", "n1", nil)
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	other := testPod("default", "other", "n1", map[string]string{"app": "other"})
	objs := []runtime.Object{
		testNode("n1", true), testNode("n2", true), testNode("sick", false),
		testPod("default", "web-1", "n1", web),
		testPod("default", "web-2", "n2", web),
		testPod("default", "web-3", "n1", web),
		notScheduled, succeeded, terminating, other,
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: appsv1.DeploymentSpec{Selector: sel}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: appsv1.StatefulSetSpec{Selector: sel}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: appsv1.DaemonSetSpec{Selector: sel}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: appsv1.ReplicaSetSpec{Selector: sel}},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: batchv1.JobSpec{Selector: sel}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "idle", Namespace: "default"}, Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "idle"}}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "all", Namespace: "default"}, Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{}}},
	}
	uid := func(name string) string { return string(testPod("default", name, "n1", nil).UID) }
	if uid("web-1") == uid("web-2") {
		t.Fatal("test pods need distinct UIDs")
	}
	pod := func(name string) spec.Pod { return spec.Pod{Namespace: "default", Name: name, UID: uid(name)} }
	fanOut := []spec.Target{
		{Node: "n1", Pods: []spec.Pod{pod("web-1"), pod("web-3")}},
		{Node: "n2", Pods: []spec.Pod{pod("web-2")}},
	}
	tests := []struct {
		name, arg, selector, container string
		wantDesc                       string
		want                           []spec.Target
		wantWarn                       []string
		wantErr                        string
	}{
		{name: "pod", arg: "pod/web-1", wantDesc: "pod/default/web-1", want: []spec.Target{{Node: "n1", Pods: []spec.Pod{pod("web-1")}}}},
		{name: "bare name", arg: "web-2", wantDesc: "pod/default/web-2", want: []spec.Target{{Node: "n2", Pods: []spec.Pod{pod("web-2")}}}},
		{name: "container", arg: "pod/web-1", container: "app", wantDesc: "pod/default/web-1", want: []spec.Target{{Node: "n1", Pods: []spec.Pod{{
			Namespace: "default", Name: "web-1", UID: uid("web-1"),
			Containers: []spec.Container{{Name: "app", ID: "containerd://" + strings.Repeat("ab", 32)}},
		}}}}},
		{name: "container not running", arg: "pod/web-1", container: "sidecar", wantErr: `container "sidecar" of pod default/web-1 is not running`},
		{name: "no such container", arg: "pod/web-1", container: "db", wantErr: `has no container "db" (its containers: app, sidecar)`},
		{name: "pod not found", arg: "pod/nope", wantErr: `pod "nope" not found in namespace "default"`},
		{name: "pod not scheduled", arg: "web-pending", wantErr: "pod default/web-pending is not scheduled to a node yet (phase Pending: 0/3 nodes are available: insufficient cpu)"},
		{name: "pod finished", arg: "web-done", wantErr: "pod default/web-done is not running (phase Succeeded on node n1)"},
		{name: "pod terminating", arg: "web-going", wantErr: "pod default/web-going is terminating"},
		{name: "node", arg: "node/n2", wantDesc: "node/n2", want: []spec.Target{{Node: "n2"}}},
		{name: "node not ready", arg: "node/sick", wantErr: "node sick is not Ready (KubeletNotReady: container runtime is down)"},
		{name: "node not found", arg: "node/gone", wantErr: `node "gone" not found`},
		{name: "node with -c", arg: "node/n1", container: "app", wantErr: "-c selects a container of a pod"},
		{name: "deployment", arg: "deploy/web", wantDesc: "deployment/default/web", want: fanOut,
			wantWarn: []string{"skipping pod default/web-done is not running", "skipping pod default/web-pending is not scheduled"}},
		{name: "statefulset", arg: "sts/web", wantDesc: "statefulset/default/web", want: fanOut},
		{name: "daemonset", arg: "ds/web", wantDesc: "daemonset/default/web", want: fanOut},
		{name: "replicaset", arg: "rs/web", wantDesc: "replicaset/default/web", want: fanOut},
		{name: "job", arg: "job/web", wantDesc: "job/default/web", want: fanOut},
		{name: "selector", selector: "app=web", wantDesc: "pods/default -l app=web", want: fanOut},
		{name: "workload not found", arg: "deploy/nope", wantErr: `deployment "nope" not found in namespace "default"`},
		{name: "workload without pods", arg: "deploy/idle", wantErr: "deployment/default/idle has no pods"},
		{name: "empty selector", arg: "deploy/all", wantErr: "empty pod selector"},
		{name: "selector without running pods", selector: "app=web,phase!=x,app notin (web)", wantErr: "has no pods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, objs...)
			ta, err := parseTarget(tt.arg, tt.selector)
			if err != nil {
				t.Fatal(err)
			}
			var warn bytes.Buffer
			got, err := resolveTarget(context.Background(), e.client, "default", ta, tt.container, &warn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Description != tt.wantDesc {
				t.Errorf("description = %q, want %q", got.Description, tt.wantDesc)
			}
			if !equalJSON(t, got.Targets, tt.want) {
				t.Errorf("targets = %+v\nwant %+v", got.Targets, tt.want)
			}
			for _, w := range tt.wantWarn {
				if !strings.Contains(warn.String(), w) {
					t.Errorf("warnings %q do not mention %q", warn.String(), w)
				}
			}
		})
	}
}

func TestResolveTargetNoRunningPods(t *testing.T) {
	p := testPod("default", "web-1", "n1", map[string]string{"app": "web"})
	p.Status.Phase = corev1.PodFailed
	e := newTestEnv(t, p)
	_, err := resolveTarget(context.Background(), e.client, "default", targetArg{kind: kindSelector, selector: "app=web"}, "", &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "has no running pods to trace") || !strings.Contains(err.Error(), "phase Failed") {
		t.Fatalf("err = %v", err)
	}
}
