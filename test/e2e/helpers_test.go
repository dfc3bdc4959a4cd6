//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// result is one finished plugin invocation.
type result struct {
	args           []string
	stdout, stderr string
	code           int // exit code; -1 if killed by the timeout
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("kubectl-xtrace %s\nexit %d after %s\n--- stdout\n%s--- stderr\n%s", strings.Join(r.args, " "), r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// xtrace runs the built plugin binary (never in-process) and waits for it,
// at most timeout.
func xtrace(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	p := startXtrace(t, args...)
	return p.wait(t, timeout)
}

// proc is a running plugin invocation whose output can be watched while it runs.
type proc struct {
	cmd            *exec.Cmd
	args           []string
	stdout, stderr syncBuffer
	start          time.Time
	done           chan struct{}
	err            error
}

func startXtrace(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{args: args, done: make(chan struct{})}
	p.cmd = exec.Command(env.plugin, args...)
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+env.kubeconfig)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting kubectl-xtrace %s: %v", strings.Join(args, " "), err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	t.Logf("started: kubectl-xtrace %s", strings.Join(args, " "))
	return p
}

func (p *proc) signal(s os.Signal) error { return p.cmd.Process.Signal(s) }

// wait waits for the process to exit; after timeout it is killed and the
// test fails.
func (p *proc) wait(t *testing.T, timeout time.Duration) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		r := p.result()
		r.code = -1
		t.Fatalf("timed out after %s:\n%s", timeout, r)
	}
	return p.result()
}

func (p *proc) result() result {
	r := result{args: p.args, stdout: p.stdout.String(), stderr: p.stderr.String(), took: time.Since(p.start)}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
	case errors.As(p.err, &ee):
		r.code = ee.ExitCode()
	default:
		r.code = -1
	}
	return r
}

// waitOutput waits until the process's stdout (or stderr) matches re.
func (p *proc) waitOutput(t *testing.T, re *regexp.Regexp, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if re.MatchString(p.stdout.String()) || re.MatchString(p.stderr.String()) {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("exited before printing %q:\n%s", re, p.result())
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("no output matching %q within %s:\n%s", re, timeout, p.result())
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runArgs is `run TARGET` with the flags every trace in the suite needs: the
// target namespace, the dev runner image, and the privileged job namespace.
// XTRACE_E2E_RUN_FLAGS adds flags to every run (e.g. --privileged on a
// cluster that cannot grant the runner's capabilities).
func runArgs(target string, extra ...string) []string {
	args := []string{"run", target, "-n", env.ns, "--image", env.image, "--job-namespace", env.jobNS}
	args = append(args, strings.Fields(os.Getenv("XTRACE_E2E_RUN_FLAGS"))...)
	return append(args, extra...)
}

// traceArgs is a command about existing traces (get, logs, fetch, delete),
// which live in the job namespace.
func traceArgs(cmd string, extra ...string) []string {
	return append([]string{cmd}, append(extra, "-n", env.jobNS)...)
}

// ---------------------------------------------------------------- workloads

func xtestContainer(name string, args ...string) corev1.Container {
	return corev1.Container{
		Name:            name,
		Image:           xtestImage,
		ImagePullPolicy: corev1.PullNever, // imported by hack/cluster/up.sh, never pullable
		Args:            args,
	}
}

// createPod creates a pod running xtest with args and waits until it is Ready.
func createPod(t *testing.T, name string, args ...string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: env.ns, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{xtestContainer("main", args...)},
			TerminationGracePeriodSeconds: ptr.To[int64](1),
		},
	}
	if _, err := env.client.CoreV1().Pods(env.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod %s: %v", name, err)
	}
	t.Cleanup(func() {
		env.client.CoreV1().Pods(env.ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	return waitPodReady(t, name)
}

func waitPodReady(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	var pod *corev1.Pod
	err := poll(ctx, 90*time.Second, func() (bool, error) {
		var err error
		pod, err = env.client.CoreV1().Pods(env.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod %s not Ready: %v; status: %+v", name, err, pod.Status)
	}
	return pod
}

// createDeployment creates a Deployment of xtest pods and waits until all
// replicas are available.
func createDeployment(t *testing.T, name string, replicas int32, args ...string) *appsv1.Deployment {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: env.ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{xtestContainer("main", args...)},
					TerminationGracePeriodSeconds: ptr.To[int64](1),
				},
			},
		},
	}
	if _, err := env.client.AppsV1().Deployments(env.ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating deployment %s: %v", name, err)
	}
	t.Cleanup(func() {
		env.client.AppsV1().Deployments(env.ns).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	err := poll(ctx, 120*time.Second, func() (bool, error) {
		var err error
		d, err = env.client.AppsV1().Deployments(env.ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == replicas && d.Status.UpdatedReplicas == replicas, nil
	})
	if err != nil {
		t.Fatalf("deployment %s: %d/%d replicas available: %v", name, d.Status.AvailableReplicas, replicas, err)
	}
	return d
}

// ------------------------------------------------------------------ traces

const managedBy = "app.kubernetes.io/managed-by=kubectl-xtrace"

// traceIDs returns the ids of all traces in the cluster, from the trace-id
// label on the plugin's ConfigMaps.
func traceIDs(t *testing.T) map[string]bool {
	t.Helper()
	cms, err := env.client.CoreV1().ConfigMaps("").List(context.Background(), metav1.ListOptions{LabelSelector: managedBy})
	if err != nil {
		t.Fatalf("listing trace ConfigMaps: %v", err)
	}
	ids := map[string]bool{}
	for _, cm := range cms.Items {
		if id := cm.Labels["xtrace.dev/trace-id"]; id != "" {
			ids[id] = true
		}
	}
	return ids
}

// newTraceID returns the one trace id present now and not in before.
func newTraceID(t *testing.T, before map[string]bool) string {
	t.Helper()
	var added []string
	for id := range traceIDs(t) {
		if !before[id] {
			added = append(added, id)
		}
	}
	if len(added) != 1 {
		t.Fatalf("want exactly one new trace, found %v", added)
	}
	return added[0]
}

// objects lists what the plugin created in the cluster (ConfigMaps, Jobs,
// pods), optionally of one trace, as "kind/namespace/name".
func objects(t *testing.T, traceID string) []string {
	t.Helper()
	ctx := context.Background()
	sel := managedBy
	if traceID != "" {
		sel += ",xtrace.dev/trace-id=" + traceID
	}
	opts := metav1.ListOptions{LabelSelector: sel}
	var out []string
	cms, err := env.client.CoreV1().ConfigMaps("").List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range cms.Items {
		out = append(out, "configmap/"+o.Namespace+"/"+o.Name)
	}
	jobs, err := env.client.BatchV1().Jobs("").List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range jobs.Items {
		out = append(out, "job/"+o.Namespace+"/"+o.Name)
	}
	pods, err := env.client.CoreV1().Pods("").List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range pods.Items {
		out = append(out, "pod/"+o.Namespace+"/"+o.Name)
	}
	sort.Strings(out)
	return out
}

// requireNothingLeft fails unless every object the plugin created since
// before is gone within a few seconds (pod deletion is asynchronous).
// Objects of earlier traces may come and go meanwhile; they do not count.
func requireNothingLeft(t *testing.T, before []string) {
	t.Helper()
	old := map[string]bool{}
	for _, o := range before {
		old[o] = true
	}
	var added []string
	err := poll(context.Background(), 15*time.Second, func() (bool, error) {
		added = added[:0]
		for _, o := range objects(t, "") {
			if !old[o] {
				added = append(added, o)
			}
		}
		return len(added) == 0, nil
	})
	if err != nil {
		t.Errorf("a failed run left objects behind: %v", added)
	}
}

// mapLine matches one line of a printed map, bpftrace style: @NAME[KEY]: VALUE.
var mapLine = regexp.MustCompile(`(?m)^@(\w*)(?:\[([^\]]*)\])?: (\d+)$`)

// mapValues returns the entries of the map called name ("" for @) in text,
// key -> value.
func mapValues(t *testing.T, text, name string) map[string]int {
	t.Helper()
	vals := map[string]int{}
	for _, m := range mapLine.FindAllStringSubmatch(text, -1) {
		if m[1] != name {
			continue
		}
		n, err := strconv.Atoi(m[3])
		if err != nil {
			t.Fatalf("map value %q: %v", m[3], err)
		}
		vals[m[2]] = n
	}
	return vals
}

// hostPIDs returns the host pids of the processes in a pod's containers,
// found by the pod UID in /proc/PID/cgroup (the node is this machine).
func hostPIDs(t *testing.T, pod *corev1.Pod) []int {
	t.Helper()
	uid := strings.ReplaceAll(string(pod.UID), "-", "_") // systemd driver spells it so
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cg, err := os.ReadFile("/proc/" + d.Name() + "/cgroup")
		if err != nil {
			continue
		}
		s := string(cg)
		if (strings.Contains(s, "pod"+string(pod.UID)) || strings.Contains(s, "pod"+uid)) && !isPause(pid) {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids
}

func isPause(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b)) == "pause"
}

// sigint asks a streaming run to stop the way Ctrl-C does.
var sigint = syscall.SIGINT
