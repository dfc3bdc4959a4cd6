package plugin

import (
	"context"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

const countProgram = `tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }`

func clusterObjects() []runtime.Object {
	web := map[string]string{"app": "web"}
	return []runtime.Object{
		testNamespace("default", nil),
		testNamespace("locked", map[string]string{psaEnforceLabel: "baseline"}),
		testNode("n1", true), testNode("n2", true),
		testPod("default", "web-1", "n1", web),
		testPod("default", "web-2", "n2", web),
	}
}

func TestRunStreamsAndKeepsTheRecord(t *testing.T) {
	e := newTestEnv(t, clusterObjects()...)
	e.onJobCreate(func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
		return jobPod(job, runningStatus()), nil
	})
	e.setLog("xtrace-0b5e6f3a-x7k2p", traceRecords(t, "n1"))
	if err := e.run("run", "pod/web-1", "-e", countProgram); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, e.errOut)
	}
	want := "hello from n1\n\n\n@[bash]: 3\n"
	if got := e.out.String(); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	for _, s := range []string{"Trace " + testID, "Tracing cgroup v2 id 42 (pod default/web-1)", "Attached 1 probe"} {
		if !strings.Contains(e.errOut.String(), s) {
			t.Errorf("stderr %q lacks %q", e.errOut, s)
		}
	}
	got := e.leftovers()
	want2 := []string{"configmap/xtrace-0b5e6f3a", "job/xtrace-0b5e6f3a", "pod/xtrace-0b5e6f3a-x7k2p"}
	if !reflect.DeepEqual(got, want2) {
		t.Errorf("objects = %v, want %v (the record and the finished Job stay)", got, want2)
	}
}

func TestRunFansOutAcrossNodes(t *testing.T) {
	for _, output := range []string{"text", "json"} {
		t.Run(output, func(t *testing.T) {
			e := newTestEnv(t, clusterObjects()...)
			e.onJobCreate(func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
				return jobPod(job, runningStatus()), nil
			})
			e.setLog("xtrace-0b5e6f3a-0-x7k2p", traceRecords(t, ""))
			e.setLog("xtrace-0b5e6f3a-1-x7k2p", traceRecords(t, ""))
			if err := e.run("run", "-l", "app=web", "-e", countProgram, "-o", output); err != nil {
				t.Fatalf("run: %v\nstderr: %s", err, e.errOut)
			}
			jobs, _ := e.client.BatchV1().Jobs("default").List(context.Background(), metav1.ListOptions{})
			nodes := map[string]string{}
			for _, j := range jobs.Items {
				nodes[j.Name] = j.Spec.Template.Spec.NodeName
			}
			if want := map[string]string{"xtrace-0b5e6f3a-0": "n1", "xtrace-0b5e6f3a-1": "n2"}; !reflect.DeepEqual(nodes, want) {
				t.Errorf("jobs = %v, want %v", nodes, want)
			}
			if output == "text" {
				lines := strings.Split(strings.TrimSpace(e.out.String()), "\n")
				sort.Strings(lines)
				for _, want := range []string{"[n1/web-1] hello from \n", "[n1/web-1] @[bash]: 3", "[n2/web-2] hello from", "[n2/web-2] @[bash]: 3"} {
					if !strings.Contains(e.out.String(), strings.TrimSuffix(want, "\n")) {
						t.Errorf("stdout %q lacks %q", e.out, want)
					}
				}
				return
			}
			r := record.NewReader(strings.NewReader(e.out.String()))
			seen := map[string]bool{}
			for {
				rec, err := r.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				seen[rec.Node+"/"+rec.Pod] = true
			}
			if !reflect.DeepEqual(seen, map[string]bool{"n1/web-1": true, "n2/web-2": true}) {
				t.Errorf("records came from %v; merged streams must carry node and pod", seen)
			}
		})
	}
}

// TestRunStartFailures simulates what the Job controller and the kubelet
// report when a runner cannot start, and checks the message and that the
// run left nothing behind.
func TestRunStartFailures(t *testing.T) {
	tests := []struct {
		name       string
		scenario   func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event)
		log        func(t *testing.T) string
		args       []string
		wantErr    []string
		wantStderr string
	}{
		{
			name: "pod security rejection",
			scenario: func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
				return nil, []*corev1.Event{{
					ObjectMeta:     metav1.ObjectMeta{Name: job.Name + ".1", Namespace: job.Namespace},
					InvolvedObject: corev1.ObjectReference{Kind: "Job", Name: job.Name, Namespace: job.Namespace},
					Reason:         "FailedCreate", Type: corev1.EventTypeWarning,
					Message: `Error creating: pods "` + job.Name + `-x7k2p" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostPID=true), hostPath volumes (volumes "sys", "cgroup", "output")`,
				}}
			},
			wantErr: []string{`Job xtrace-0b5e6f3a could not create its pod`, `violates PodSecurity "baseline:latest"`, "kubectl label namespace default pod-security.kubernetes.io/enforce=privileged", "--job-namespace"},
		},
		{
			name: "unschedulable",
			scenario: func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
				return jobPod(job, corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
					Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "node(s) had untolerated taint",
				}}}), nil
			},
			wantErr: []string{"pod xtrace-0b5e6f3a-x7k2p is unschedulable: node(s) had untolerated taint"},
		},
		{
			name: "image pull",
			scenario: func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
				return jobPod(job, waitingStatus("ImagePullBackOff", `Back-off pulling image "example.local/runner:bad"`)), nil
			},
			wantErr: []string{"cannot pull image example.local/runner:bad: ImagePullBackOff", "check --image"},
		},
		{
			name: "err image pull",
			scenario: func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
				return jobPod(job, waitingStatus("ErrImagePull", "not found")), nil
			},
			wantErr: []string{"cannot pull image", "ErrImagePull: not found"},
		},
		{
			name: "invalid image name",
			scenario: func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
				return jobPod(job, waitingStatus("InvalidImageName", "couldn't parse image name")), nil
			},
			wantErr: []string{"invalid image name", "InvalidImageName"},
		},
		{
			name: "kubelet rejection",
			scenario: func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
				return jobPod(job, corev1.PodStatus{Phase: corev1.PodFailed, Reason: "OutOfcpu", Message: "Node didn't have enough resource: cpu"}), nil
			},
			wantErr: []string{"was rejected by node n1: OutOfcpu: Node didn't have enough resource: cpu"},
		},
		{
			name: "job failed",
			scenario: func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
				job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "DeadlineExceeded", Message: "Job was active longer than specified deadline"}}
				return nil, nil
			},
			wantErr: []string{"Job xtrace-0b5e6f3a failed: DeadlineExceeded"},
		},
		{
			name: "program rejected by the kernel",
			scenario: func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
				return jobPod(job, terminatedStatus(1)), nil
			},
			log: func(t *testing.T) string {
				return errorRecords(t, "tracepoint syscalls:sys_enter_nope does not exist on this kernel")
			},
			wantErr:    []string{"the trace failed on node n1 (the ERROR above)"},
			wantStderr: "ERROR: tracepoint syscalls:sys_enter_nope does not exist on this kernel\n",
		},
		{
			name: "runtime cannot start the container",
			scenario: func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
				st := terminatedStatus(128)
				st.ContainerStatuses[0].State.Terminated.Reason = "StartError"
				st.ContainerStatuses[0].State.Terminated.Message = "runc create failed: unable to start container process: unable to apply caps: operation not permitted"
				return jobPod(job, st), nil
			},
			wantErr: []string{"the container runtime could not start the runner: StartError: runc create failed", "unable to apply caps"},
		},
		{
			name: "runner crash without a record",
			scenario: func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
				return jobPod(job, terminatedStatus(2)), nil
			},
			log:     func(*testing.T) string { return "panic: runtime error: index out of range\ngoroutine 1 [running]:\n" },
			wantErr: []string{"node n1: the runner exited with code 2 (Error)", "panic: runtime error: index out of range"},
		},
		{
			name: "timeout with a mount failure",
			args: []string{"--pod-running-timeout", "50ms"},
			scenario: func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
				pod := jobPod(job, waitingStatus("ContainerCreating", ""))
				return pod, []*corev1.Event{{
					ObjectMeta:     metav1.ObjectMeta{Name: pod.Name + ".1", Namespace: pod.Namespace},
					InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod.Name, Namespace: pod.Namespace},
					Reason:         "FailedMount", Type: corev1.EventTypeWarning, Message: `hostPath type check failed: /sys/fs/cgroup is not a directory`,
				}}
			},
			wantErr: []string{"runner pods not running after 50ms", "ContainerCreating", "FailedMount: hostPath type check failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, clusterObjects()...)
			e.onJobCreate(tt.scenario)
			if tt.log != nil {
				e.setLog("xtrace-0b5e6f3a-x7k2p", tt.log(t))
			}
			err := e.run(append([]string{"run", "pod/web-1", "-e", countProgram}, tt.args...)...)
			if err == nil {
				t.Fatal("run succeeded")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if !strings.Contains(e.errOut.String(), tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", e.errOut, tt.wantStderr)
			}
			if left := e.leftovers(); len(left) != 0 {
				t.Errorf("a failed run left %v behind", left)
			}
			// The Jobs and pods are deleted explicitly, not only left to
			// the garbage collector.
			deleted := map[string]bool{}
			for _, a := range e.client.Actions() {
				if d, ok := a.(k8stesting.DeleteAction); ok {
					deleted[a.GetResource().Resource+"/"+d.GetName()] = true
				}
			}
			if !deleted["configmaps/xtrace-0b5e6f3a"] || !deleted["jobs/xtrace-0b5e6f3a"] {
				t.Errorf("deleted %v; want the ConfigMap and the Job", deleted)
			}
		})
	}
}

func TestRunReportsAKilledRunner(t *testing.T) {
	e := newTestEnv(t, clusterObjects()...)
	e.onJobCreate(func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) { return jobPod(job, runningStatus()), nil })
	e.setLog("xtrace-0b5e6f3a-x7k2p", records(t,
		&record.Record{Type: record.TypeAttached, Probes: 1},
		&record.Record{Type: record.TypePrintf, Text: "partial\n"},
	)+`{"v":1,"type":"printf","te`)
	err := e.run("run", "pod/web-1", "-e", countProgram)
	if err == nil || !strings.Contains(err.Error(), "the runner on n1 stopped before the trace ended") || !strings.Contains(err.Error(), "kubectl xtrace fetch "+testID) {
		t.Fatalf("err = %v", err)
	}
	if e.out.String() != "partial\n" {
		t.Errorf("stdout = %q: every complete record must be shown", e.out)
	}
	if left := e.leftovers(); len(left) != 3 {
		t.Errorf("a trace that ran keeps its record and Job, got %v", left)
	}
}

func TestRunRefusesBeforeCreatingAnything(t *testing.T) {
	big := "BEGIN { printf(\"" + strings.Repeat("x", 600<<10) + "\"); }"
	tests := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{name: "syntax error", args: []string{"run", "pod/web-1", "-e", "tracepoint:syscalls:sys_enter_openat { @[comm] = count( }"},
			wantErr: []string{"the program has errors, nothing was created", "-e:1:"}},
		{name: "too big", args: []string{"run", "pod/web-1", "-e", big},
			wantErr: []string{"program -e is 614", "the limit is 524288 bytes (512 KiB)"}},
		{name: "restricted namespace", args: []string{"run", "node/n1", "-n", "locked", "-e", countProgram},
			wantErr: []string{`namespace "locked" enforces the "baseline" Pod Security Standard`, "--job-namespace xtrace-system", "kubectl label namespace locked pod-security.kubernetes.io/enforce=privileged --overwrite"}},
		{name: "missing job namespace", args: []string{"run", "node/n1", "--job-namespace", "xtrace-system", "-e", countProgram},
			wantErr: []string{`the Job namespace "xtrace-system" does not exist`}},
		{name: "pod not running", args: []string{"run", "pod/nope", "-e", countProgram},
			wantErr: []string{`pod "nope" not found`}},
		{name: "no program", args: []string{"run", "pod/web-1"},
			wantErr: []string{"exactly one of -e PROGRAM, -f FILE or --tool NAME"}},
		{name: "two programs", args: []string{"run", "pod/web-1", "-e", countProgram, "--tool", "execsnoop"},
			wantErr: []string{"exactly one of"}},
		{name: "unknown tool", args: []string{"run", "pod/web-1", "--tool", "nosuchtool"},
			wantErr: []string{`unknown tool "nosuchtool"`, "execsnoop"}},
		{name: "missing file", args: []string{"run", "pod/web-1", "-f", "/nonexistent/prog.bt"},
			wantErr: []string{"reading the program from /nonexistent/prog.bt"}},
		{name: "pid without local", args: []string{"run", "pod/web-1", "-e", countProgram, "--pid", "1"},
			wantErr: []string{"--cgroup and --pid scope a --local trace"}},
		{name: "local with target", args: []string{"run", "pod/web-1", "--local", "-e", countProgram},
			wantErr: []string{"--local traces this machine"}},
		{name: "bad dry-run", args: []string{"run", "pod/web-1", "-e", countProgram, "--dry-run", "maybe"},
			wantErr: []string{`--dry-run must be "none", "client" or "server"`}},
		{name: "yaml without dry-run", args: []string{"run", "pod/web-1", "-e", countProgram, "-o", "yaml"},
			wantErr: []string{"yaml only with --dry-run"}},
		{name: "bad output limit", args: []string{"run", "pod/web-1", "-e", countProgram, "--output-limit", "lots"},
			wantErr: []string{"--output-limit \"lots\""}},
		{name: "bad toleration", args: []string{"run", "pod/web-1", "-e", countProgram, "--tolerations", "a=b:Never"},
			wantErr: []string{`effect "Never"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, clusterObjects()...)
			err := e.run(tt.args...)
			if err == nil {
				t.Fatal("run succeeded")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			for _, a := range e.client.Actions() {
				if a.GetVerb() == "create" {
					t.Errorf("created %s before refusing", a.GetResource().Resource)
				}
			}
		})
	}
}

func TestRunDryRunClient(t *testing.T) {
	e := newTestEnv(t, clusterObjects()...)
	if err := e.run("run", "-l", "app=web", "--tool", "execsnoop", "--dry-run=client", "--duration", "1m"); err != nil {
		t.Fatal(err)
	}
	for _, a := range e.client.Actions() {
		if a.GetVerb() == "create" {
			t.Errorf("--dry-run=client created %s", a.GetResource().Resource)
		}
	}
	out := e.out.String()
	for _, s := range []string{"kind: List", "kind: ConfigMap", "name: xtrace-0b5e6f3a-0", "name: xtrace-0b5e6f3a-1", "kind: Job", "activeDeadlineSeconds: 90", `"tool": "execsnoop"`, "nodeName: n2"} {
		if !strings.Contains(out, s) {
			t.Errorf("dry-run output lacks %q:\n%s", s, out)
		}
	}
}

func TestRunDryRunServer(t *testing.T) {
	e := newTestEnv(t, clusterObjects()...)
	if err := e.run("run", "pod/web-1", "-e", countProgram, "--dry-run=server", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	creates := 0
	for _, a := range e.client.Actions() {
		if c, ok := a.(k8stesting.CreateActionImpl); ok {
			creates++
			if !reflect.DeepEqual(c.CreateOptions.DryRun, []string{metav1.DryRunAll}) {
				t.Errorf("create %s without dryRun=All", c.GetResource().Resource)
			}
		}
	}
	if creates != 2 {
		t.Errorf("%d creates, want the ConfigMap and the Job", creates)
	}
	if !strings.Contains(e.out.String(), `"kind": "Job"`) || !strings.Contains(e.out.String(), `"kind": "ConfigMap"`) {
		t.Errorf("output = %s", e.out)
	}
}

func TestRunDetach(t *testing.T) {
	e := newTestEnv(t, clusterObjects()...)
	e.onJobCreate(func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) { return jobPod(job, runningStatus()), nil })
	if err := e.run("run", "node/n1", "-e", countProgram, "-d"); err != nil {
		t.Fatal(err)
	}
	if e.out.String() != testID+"\n" {
		t.Errorf("stdout = %q, want the trace id", e.out)
	}
	job, err := e.client.BatchV1().Jobs("default").Get(context.Background(), "xtrace-0b5e6f3a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if job.Spec.Template.Spec.NodeName != "n1" {
		t.Errorf("node = %q", job.Spec.Template.Spec.NodeName)
	}
}

func TestRunJobNamespace(t *testing.T) {
	objs := append(clusterObjects(), testNamespace("xtrace-system", map[string]string{psaEnforceLabel: "privileged"}))
	e := newTestEnv(t, objs...)
	e.onJobCreate(func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) { return jobPod(job, runningStatus()), nil })
	if err := e.run("run", "pod/web-1", "-e", countProgram, "-d", "--job-namespace", "xtrace-system"); err != nil {
		t.Fatal(err)
	}
	if got := e.leftovers(); !reflect.DeepEqual(got, []string{"configmap/xtrace-0b5e6f3a", "job/xtrace-0b5e6f3a", "pod/xtrace-0b5e6f3a-x7k2p"}) {
		t.Fatalf("objects = %v", got)
	}
	if _, err := e.client.BatchV1().Jobs("xtrace-system").Get(context.Background(), "xtrace-0b5e6f3a", metav1.GetOptions{}); err != nil {
		t.Errorf("the Job is not in --job-namespace: %v", err)
	}
}

// TestRunCtrlC checks the graceful stop: the first Ctrl-C suspends the Job
// (which makes the Job controller SIGTERM the runner), the runner's final
// records still stream, and the suspended Job is deleted afterwards while
// the record stays.
func TestRunCtrlC(t *testing.T) {
	e := newTestEnv(t, clusterObjects()...)
	e.onJobCreate(func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) { return jobPod(job, runningStatus()), nil })
	pr, pw := io.Pipe()
	opened := make(chan struct{})
	e.mu.Lock()
	e.logs["xtrace-0b5e6f3a-x7k2p"] = func() io.ReadCloser { close(opened); return pr }
	e.mu.Unlock()
	suspended := make(chan struct{})
	e.client.PrependReactor("patch", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		if string(p.GetPatch()) == `{"spec":{"suspend":true}}` {
			close(suspended)
		}
		return false, nil, nil
	})
	go func() {
		<-opened
		io.WriteString(pw, records(t, &record.Record{Type: record.TypeAttached, Probes: 2}))
		e.sigs <- os.Interrupt
		<-suspended
		// The runner got SIGTERM: END, the final map, and exit.
		io.WriteString(pw, records(t,
			&record.Record{Type: record.TypeExit},
			&record.Record{Type: record.TypeMap, Map: &record.Map{Name: "@", Kind: "count", Entries: []record.Entry{{Key: []record.Value{{Kind: record.String, Str: "sh"}}, Value: &record.Value{Kind: record.Uint, Uint: 7}}}}},
			&record.Record{Type: record.TypeEnd, End: &record.End{Reason: "signal"}},
		))
		pw.Close()
	}()
	if err := e.run("run", "pod/web-1", "-e", countProgram); err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(e.out.String(), "@[sh]: 7") {
		t.Errorf("the final maps are missing: %q", e.out)
	}
	if !strings.Contains(e.errOut.String(), "Stopping the trace") {
		t.Errorf("stderr = %q", e.errOut)
	}
	if got := e.leftovers(); !reflect.DeepEqual(got, []string{"configmap/xtrace-0b5e6f3a"}) {
		t.Errorf("after a stop, objects = %v; want only the record", got)
	}
}

func TestRunCtrlCWhileStarting(t *testing.T) {
	e := newTestEnv(t, clusterObjects()...)
	e.onJobCreate(func(job *batchv1.Job) (*corev1.Pod, []*corev1.Event) {
		e.sigs <- os.Interrupt
		return jobPod(job, waitingStatus("ContainerCreating", "")), nil
	})
	err := e.run("run", "pod/web-1", "-e", countProgram)
	if err == nil || !strings.Contains(err.Error(), "interrupted before the trace started") {
		t.Fatalf("err = %v", err)
	}
	if left := e.leftovers(); len(left) != 0 {
		t.Errorf("left %v", left)
	}
}

func TestRunLocal(t *testing.T) {
	e := newTestEnv(t)
	err := e.run("run", "--local", "-e", `BEGIN { printf("hi\n"); exit(); }`, "--duration", "2s")
	// Tracing this host needs root and BPF, which a test machine may lack;
	// either way --local must go to the local runner without touching the
	// cluster or asking for a target.
	if len(e.client.Actions()) != 0 {
		t.Errorf("--local talked to the cluster: %v", e.client.Actions())
	}
	if err != nil && strings.Contains(err.Error(), "TARGET") {
		t.Errorf("--local asked for a target: %v", err)
	}
	if err == nil && !strings.Contains(e.out.String(), "hi") {
		t.Errorf("--local succeeded without the program's output: %q", e.out)
	}
	if err := e.run("run", "--local", "-e", "BEGIN { exit( }"); err == nil || !strings.Contains(err.Error(), "the program has errors") {
		t.Errorf("--local must check the program first: %v", err)
	}
}
