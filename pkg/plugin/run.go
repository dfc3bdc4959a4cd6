package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/runner"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/version"
)

const runLong = `Trace a pod, a node or a workload with an eBPF program.

The plugin checks the program, resolves the target to its pods and nodes,
stores the trace in a ConfigMap and starts one Job per node, scoped in the
kernel to the target's pods. It then streams the output until the program
calls exit(), --duration passes, or Ctrl-C: Ctrl-C stops the trace
gracefully, so END runs and the final maps are shown and kept on the node.
A second Ctrl-C stops waiting and leaves the trace to finish on its own.

TARGET is pod/NAME (or just NAME), node/NAME, deploy|sts|ds|rs|job/NAME, or
-l SELECTOR for pods. Workloads fan out: one Job per node hosting their pods;
merged output lines carry [node/pod].

Any failure to start (Pod Security rejection, an image that cannot be
pulled, a program the node's kernel refuses) is reported within seconds
with a non-zero exit, and everything the run created is deleted.`

const runExample = `  # Count the files each process of a pod opens.
  kubectl xtrace run pod/checkout-7f9c -e 'tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }'

  # Trace new processes in every pod of a deployment for a minute.
  kubectl xtrace run deploy/checkout --tool execsnoop --duration 1m

  # Trace a whole node with a program from a file, in the background.
  kubectl xtrace run node/worker-3 -f syscalls.bt -d

  # Show the objects a run would create, without creating them.
  kubectl xtrace run pod/web-0 --tool opensnoop --dry-run=client -o yaml

  # Trace this machine, without Kubernetes.
  sudo kubectl xtrace run --local -e 'tracepoint:sched:sched_process_exec { printf("%s\n", comm); }'`

// RunOptions holds the flags of run.
type RunOptions struct {
	genericiooptions.IOStreams
	f *Factory

	selector     string
	container    string
	expr         string
	file         string
	tool         string
	duration     time.Duration
	image        string
	jobNamespace string
	tolerations  []string
	outputLimit  string
	ttl          int32
	privileged   bool
	detach       bool
	output       string
	dryRun       string
	startTimeout time.Duration
	local        bool
	cgroup       string
	pid          int

	// Filled in by Complete.
	target         targetArg
	namespace      string
	prog           *program
	tolerationList []corev1.Toleration
	traceBytes     int64
	localArgs      int
}

// NewCmdRun returns the run command.
func NewCmdRun(f *Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RunOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:               "run TARGET (-e PROGRAM | -f FILE | --tool NAME) [flags]",
		Short:             "Trace a pod, node or workload",
		Long:              runLong,
		Example:           runExample,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeTargets(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.selector, "selector", "l", "", "Trace the pods matching this label selector instead of a TARGET")
	fl.StringVarP(&o.container, "container", "c", "", "Trace only this container of the target pods")
	fl.StringVarP(&o.expr, "expr", "e", "", "The program text")
	fl.StringVarP(&o.file, "filename", "f", "", "Read the program from this file (- for stdin)")
	fl.StringVar(&o.tool, "tool", "", "Run a tool from the built-in library")
	fl.DurationVar(&o.duration, "duration", 0, "Stop the trace after this long, e.g. 30s or 5m (0: until exit() or Ctrl-C)")
	fl.StringVar(&o.image, "image", version.DefaultImage, "The trace-runner image")
	fl.StringVar(&o.jobNamespace, "job-namespace", "", "Namespace of the trace's ConfigMap and Jobs (default: the target's namespace; for a node, -n)")
	fl.StringSliceVar(&o.tolerations, "tolerations", nil, "Tolerations of the runner pods instead of tolerating every taint: key=value:Effect, key:Effect, key=value, key, :Effect, or none")
	fl.StringVar(&o.outputLimit, "output-limit", "", fmt.Sprintf("Stop recording after this many bytes of output per node, e.g. 50Mi (default %dMi)", spec.DefaultTraceLimit>>20))
	fl.Int32Var(&o.ttl, "ttl", 3600, "Seconds a finished Job and its pod (and so `logs`) are kept; the ConfigMap and the output on the node stay until delete")
	fl.BoolVar(&o.privileged, "privileged", false, "Run the runner privileged instead of with the eBPF capabilities only (see docs/security.md)")
	fl.BoolVarP(&o.detach, "detach", "d", false, "Print the trace id once the runners have started, and return")
	fl.StringVarP(&o.output, "output", "o", "", "Output format: text (default) or json (records as JSON lines); with --dry-run, yaml (default) or json")
	fl.StringVar(&o.dryRun, "dry-run", "none", `"client" prints the objects and creates nothing; "server" submits them with dryRun=All`)
	fl.DurationVar(&o.startTimeout, "pod-running-timeout", 2*time.Minute, "How long to wait for the runner pods to start")
	fl.BoolVar(&o.local, "local", false, "Trace this machine in-process, without Kubernetes (needs root)")
	fl.StringVar(&o.cgroup, "cgroup", "", "With --local: trace only this cgroup v2 directory and its descendants")
	fl.IntVar(&o.pid, "pid", 0, "With --local: trace only this process")
	registerCompletions(cmd, f, map[string]completionFunc{
		"tool":          completeTools,
		"job-namespace": completeNamespaces,
		"output":        fixedValues("text", "json", "yaml"),
		"dry-run":       fixedValues("none", "client", "server"),
	})
	if err := cmd.RegisterFlagCompletionFunc("container", completeContainers(f)); err != nil {
		panic(err)
	}
	return cmd
}

// Complete reads the arguments and flags into what Run needs.
func (o *RunOptions) Complete(cmd *cobra.Command, args []string) error {
	var err error
	if o.prog, err = loadProgram(o.expr, o.file, o.tool, o.In); err != nil {
		return err
	}
	if o.local {
		o.localArgs = len(args)
		return nil
	}
	arg := ""
	if len(args) == 1 {
		arg = args[0]
	}
	if o.target, err = parseTarget(arg, o.selector); err != nil {
		return err
	}
	if o.namespace, _, err = o.f.Namespace(); err != nil {
		return err
	}
	o.tolerationList = defaultTolerations()
	if cmd.Flags().Changed("tolerations") {
		if o.tolerationList, err = parseTolerations(o.tolerations); err != nil {
			return err
		}
	}
	if o.outputLimit != "" {
		q, err := resource.ParseQuantity(o.outputLimit)
		if err != nil {
			return fmt.Errorf("--output-limit %q: %w (use a size such as 50Mi or 1G)", o.outputLimit, err)
		}
		o.traceBytes = q.Value()
	}
	return nil
}

// Validate checks flag combinations.
func (o *RunOptions) Validate() error {
	if o.local {
		switch {
		case o.localArgs > 0 || o.selector != "":
			return fmt.Errorf("--local traces this machine: drop the TARGET and -l")
		case o.detach, o.dryRun != "none":
			return fmt.Errorf("--local runs in this process: -d and --dry-run do not apply")
		case o.output != "" && o.output != "text" && o.output != "json":
			return fmt.Errorf("-o %q: use text or json", o.output)
		case o.duration < 0:
			return fmt.Errorf("--duration must not be negative")
		case o.pid < 0:
			return fmt.Errorf("--pid must be a process id")
		}
		return nil
	}
	switch {
	case o.cgroup != "" || o.pid != 0:
		return fmt.Errorf("--cgroup and --pid scope a --local trace; in a cluster the TARGET sets the scope")
	case o.duration < 0:
		return fmt.Errorf("--duration must not be negative")
	case o.ttl < 0:
		return fmt.Errorf("--ttl must not be negative")
	case o.outputLimit != "" && o.traceBytes <= 0:
		return fmt.Errorf("--output-limit must be positive")
	case o.traceBytes > spec.DefaultNodeLimit:
		return fmt.Errorf("--output-limit %s is larger than the per-node limit of %d bytes", o.outputLimit, spec.DefaultNodeLimit)
	case o.image == "":
		return fmt.Errorf("--image must not be empty")
	case o.startTimeout <= 0:
		return fmt.Errorf("--pod-running-timeout must be positive")
	}
	switch o.dryRun {
	case "none", "client", "server":
	default:
		return fmt.Errorf(`--dry-run must be "none", "client" or "server", not %q`, o.dryRun)
	}
	if o.dryRun != "none" {
		if o.output != "" && o.output != "yaml" && o.output != "json" {
			return fmt.Errorf("-o %q: with --dry-run use yaml or json", o.output)
		}
	} else if o.output != "" && o.output != "text" && o.output != "json" {
		return fmt.Errorf("-o %q: use text or json (yaml only with --dry-run)", o.output)
	}
	return nil
}

// Run checks, creates, watches and streams the trace.
func (o *RunOptions) Run(ctx context.Context) error {
	if err := o.prog.check(); err != nil {
		return err
	}
	if o.local {
		return o.runLocal(ctx)
	}
	client, err := o.f.Client()
	if err != nil {
		return err
	}
	target, err := resolveTarget(ctx, client, o.namespace, o.target, o.container, o.ErrOut)
	if err != nil {
		return err
	}
	jobNS := o.jobNamespace
	if jobNS == "" {
		jobNS = target.Namespace
	}
	if jobNS == "" {
		jobNS = o.namespace
	}
	if err := checkPodSecurity(ctx, client, jobNS); err != nil {
		return err
	}

	id := o.f.newID()
	ts := newTraceSpec(id, o.prog, target.Targets, o.duration, o.traceBytes)
	if err := ts.Validate(); err != nil {
		return fmt.Errorf("internal error: the trace spec for %s is invalid, nothing was created: %w", target.Description, err)
	}
	cm, err := buildConfigMap(ts, jobNS, traceMeta{Target: target.Description, Program: o.prog.summary(), Image: o.image, Created: o.f.now()})
	if err != nil {
		return err
	}
	jo := jobOptions{Namespace: jobNS, Image: o.image, Privileged: o.privileged, Tolerations: o.tolerationList, TTL: o.ttl, Duration: o.duration}
	if o.dryRun == "client" {
		objs := []runtime.Object{cm}
		for _, j := range buildJobs(cm, ts, jo) {
			objs = append(objs, j)
		}
		return printObjects(o.Out, o.output, objs...)
	}

	jobs, err := createTrace(ctx, client, cm, ts, jo, o.dryRun == "server")
	if err != nil {
		return err
	}
	if o.dryRun == "server" {
		objs := []runtime.Object{cm}
		for _, j := range jobs {
			objs = append(objs, j)
		}
		return printObjects(o.Out, o.output, objs...)
	}

	sigs, stopSignals := o.f.interrupts()
	defer stopSignals()
	started, err := o.waitStarted(ctx, client, jobNS, id, jobs, sigs)
	if err != nil {
		return cleanupAfter(client, jobNS, id, err)
	}
	if o.detach {
		fmt.Fprintln(o.Out, id)
		return nil
	}
	return o.stream(ctx, client, jobNS, ts, jobs, started, sigs)
}

// createTrace creates the ConfigMap, then the Jobs owned by it. If a Job
// cannot be created, the ConfigMap goes again, taking any Jobs with it.
func createTrace(ctx context.Context, client kubernetes.Interface, cm *corev1.ConfigMap, ts *spec.TraceSpec, jo jobOptions, serverDryRun bool) ([]*batchv1.Job, error) {
	opts := metav1.CreateOptions{FieldManager: managedBy}
	if serverDryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	created, err := client.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the trace's ConfigMap in namespace %s (kubectl xtrace rbac prints the permissions needed): %w", cm.Namespace, err)
	}
	created.TypeMeta = cm.TypeMeta
	*cm = *created
	var jobs []*batchv1.Job
	for _, j := range buildJobs(cm, ts, jo) {
		cj, err := client.BatchV1().Jobs(j.Namespace).Create(ctx, j, opts)
		if err != nil {
			err = fmt.Errorf("creating Job %s in namespace %s: %w", j.Name, j.Namespace, err)
			if serverDryRun {
				return nil, err
			}
			return nil, cleanupAfter(client, cm.Namespace, ts.ID, err)
		}
		cj.TypeMeta = j.TypeMeta
		jobs = append(jobs, cj)
	}
	return jobs, nil
}

// waitStarted waits for every runner pod to start, showing progress on a
// terminal. Ctrl-C here abandons the trace before it began.
func (o *RunOptions) waitStarted(ctx context.Context, client kubernetes.Interface, ns, id string, jobs []*batchv1.Job, sigs <-chan os.Signal) (map[string]*corev1.Pod, error) {
	progress := newProgressLine(o.Out, o.ErrOut)
	defer progress.clear()
	w := &startWatch{client: client, namespace: ns, id: id, interval: o.f.pollInterval, timeout: o.startTimeout, progress: progress.callback()}
	for _, j := range jobs {
		w.jobs = append(w.jobs, j.Name)
	}
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	interrupted := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			close(interrupted)
			cancel()
		case <-waitCtx.Done():
		}
	}()
	started, err := w.wait(waitCtx)
	select {
	case <-interrupted:
		return nil, fmt.Errorf("interrupted before the trace started; trace %s was deleted", id)
	default:
	}
	return started, err
}

// stream follows the runners' output until it ends. The first Ctrl-C
// suspends the Jobs: the Job controller then deletes the runner pods with
// their grace period, so each runner gets SIGTERM, runs END, prints the
// final maps and exits; unlike deleting the pods, suspending never makes
// the controller start a replacement.
func (o *RunOptions) stream(ctx context.Context, client kubernetes.Interface, ns string, ts *spec.TraceSpec, jobs []*batchv1.Job, started map[string]*corev1.Pod, sigs <-chan os.Signal) error {
	var sources []*source
	for i, j := range jobs {
		t := ts.Targets[i]
		sources = append(sources, &source{Node: t.Node, Namespace: ns, Pod: started[j.Name].Name, TargetPod: targetPod(t)})
	}
	// Messages about Ctrl-C come from another goroutine than the output.
	errOut := &syncWriter{w: o.ErrOut}
	s := newSink(o.output, o.Out, errOut)
	if o.output != "json" {
		fmt.Fprintf(errOut, "Trace %s on %s; Ctrl-C stops it.\n", ts.ID, nodeCount(len(jobs)))
	}

	streamCtx, cancelStream := context.WithCancel(ctx)
	defer cancelStream()
	var (
		mu         sync.Mutex
		stopped    bool
		abandoned  bool
		suspendErr error
	)
	// suspended is closed once the suspend requests have returned, so the
	// cleanup below never races them.
	suspended := make(chan struct{})
	done := make(chan struct{})
	defer close(done)
	go func() {
		for n := 0; ; n++ {
			select {
			case <-sigs:
			case <-done:
				return
			}
			if n > 0 {
				mu.Lock()
				abandoned = true
				mu.Unlock()
				cancelStream()
				return
			}
			fmt.Fprintln(errOut, "Stopping the trace; END and the final maps follow. Ctrl-C again to stop waiting.")
			mu.Lock()
			stopped = true
			mu.Unlock()
			err := suspendJobs(ctx, client, jobs)
			mu.Lock()
			suspendErr = err
			mu.Unlock()
			close(suspended)
			if err != nil {
				fmt.Fprintf(errOut, "Warning: %v\n", err)
			}
		}
	}()

	outcomes, err := streamLogs(streamCtx, o.f, sources, true, s)
	mu.Lock()
	wasStopped, wasAbandoned := stopped, abandoned
	mu.Unlock()
	if wasStopped && !wasAbandoned {
		<-suspended
	}
	if wasAbandoned {
		return fmt.Errorf("stopped waiting; trace %s may still be finishing: see kubectl xtrace get %s", ts.ID, ts.ID)
	}
	if err != nil {
		return err
	}
	exitWait := o.f.exitWait
	if wasStopped {
		exitWait = -1
	}
	failure := judgeOutcomes(ctx, o.f, client, outcomes, exitWait, o.output != "json")
	if failure == nil {
		failure = missingEnd(outcomes, ts.ID)
	}
	if failure != nil && nothingRan(outcomes) {
		// The runners failed before attaching a probe (the kernel
		// refused the program, say): there is no output worth keeping.
		return cleanupAfter(client, ns, ts.ID, failure)
	}
	mu.Lock()
	suspendFailed := suspendErr != nil
	mu.Unlock()
	if wasStopped && !suspendFailed {
		// Suspended Jobs never finish, so their TTL would never delete
		// them; their pods are gone and the record stays in the ConfigMap.
		delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if err := deleteRunners(delCtx, client, ns, ts.ID); err != nil {
			fmt.Fprintf(o.ErrOut, "Warning: %v\n", err)
		}
	}
	return failure
}

// syncWriter serialises writes from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func nodeCount(n int) string {
	if n == 1 {
		return "1 node"
	}
	return fmt.Sprintf("%d nodes", n)
}

// suspendJobs stops the trace gracefully (see stream).
func suspendJobs(ctx context.Context, client kubernetes.Interface, jobs []*batchv1.Job) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	patch := []byte(`{"spec":{"suspend":true}}`)
	var errs []error
	for _, j := range jobs {
		if _, err := client.BatchV1().Jobs(j.Namespace).Patch(ctx, j.Name, "application/merge-patch+json", patch, metav1.PatchOptions{FieldManager: managedBy}); err != nil {
			errs = append(errs, fmt.Errorf("suspending Job %s to stop the trace: %w", j.Name, err))
		}
	}
	return errors.Join(errs...)
}

// nothingRan says whether every runner failed before a probe was attached.
func nothingRan(outcomes []*outcome) bool {
	for _, o := range outcomes {
		if o.attached || !o.failed() {
			return false
		}
	}
	return true
}

// judgeOutcomes turns what the streams showed, and the runners' exit codes,
// into the command's error. exitWait is how long to wait for a runner's
// exit code once its log has ended; negative skips the check, as after a
// graceful stop, when the pods are deleted. With shown, error records were
// already rendered on stderr, and the error only points at them.
func judgeOutcomes(ctx context.Context, f *Factory, client kubernetes.Interface, outcomes []*outcome, exitWait time.Duration, shown bool) error {
	var msgs []string
	for _, oc := range outcomes {
		code, reason := -1, ""
		if exitWait >= 0 && !oc.failed() {
			code, reason = waitExitCode(ctx, client, oc.src.Namespace, oc.src.Pod, f.pollInterval, exitWait)
			if code > 0 {
				// The runner died without an error record: mark the
				// outcome failed so nothingRan sees it.
				oc.errorText = fmt.Sprintf("the runner exited with code %d (%s)", code, reason)
				if lines := oc.tail.plainLines(5); len(lines) > 0 {
					oc.errorText += "; its last output:\n    " + strings.Join(lines, "\n    ")
				}
			}
		}
		switch {
		case oc.readErr != nil:
			msgs = append(msgs, fmt.Sprintf("node %s: %v", oc.src.Node, oc.readErr))
		case oc.errorText != "" && shown && oc.fromRecord:
			msgs = append(msgs, fmt.Sprintf("node %s (the ERROR above)", oc.src.Node))
		case oc.errorText != "":
			msgs = append(msgs, fmt.Sprintf("node %s: %s", oc.src.Node, oc.errorText))
		case oc.end != nil && oc.end.Reason == "error":
			msgs = append(msgs, fmt.Sprintf("node %s: %s", oc.src.Node, oc.end.Error))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("the trace failed on %s", strings.Join(msgs, "; "))
}

// missingEnd reports runners whose output stopped before their end record:
// a runner killed (evicted, OOM, past its deadline) mid-trace exits without
// one, and the user should know the output may be cut short.
func missingEnd(outcomes []*outcome, id string) error {
	var nodes []string
	for _, oc := range outcomes {
		if oc.end == nil {
			nodes = append(nodes, oc.src.Node)
		}
	}
	if len(nodes) == 0 {
		return nil
	}
	return fmt.Errorf("the runner on %s stopped before the trace ended (killed or evicted?); what it wrote until then is on the node: kubectl xtrace fetch %s",
		strings.Join(nodes, ", "), id)
}

// waitExitCode waits briefly for a pod's container to be reported
// terminated once its log has ended, and returns the exit code, or -1 if the
// pod is gone or does not say in time.
func waitExitCode(ctx context.Context, client kubernetes.Interface, ns, pod string, interval, timeout time.Duration) (int, string) {
	deadline := time.Now().Add(timeout)
	for {
		p, err := client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return -1, ""
		}
		for _, s := range p.Status.ContainerStatuses {
			if s.Name == containerName && s.State.Terminated != nil {
				t := s.State.Terminated
				reason := t.Reason
				if t.Message != "" {
					reason += ": " + t.Message
				}
				return int(t.ExitCode), reason
			}
		}
		if time.Now().After(deadline) {
			return -1, ""
		}
		select {
		case <-ctx.Done():
			return -1, ""
		case <-time.After(interval):
		}
	}
}

// runLocal traces this machine in-process. Ctrl-C cancels the context,
// which the local runner treats as a graceful stop.
func (o *RunOptions) runLocal(ctx context.Context) error {
	sigs, stop := o.f.interrupts()
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	return runner.RunLocal(ctx, runner.LocalOptions{
		Name:       o.prog.Name,
		Program:    o.prog.Source,
		CgroupPath: o.cgroup,
		Pid:        o.pid,
		Duration:   o.duration,
		JSON:       o.output == "json",
		Stdout:     o.Out,
		Stderr:     o.ErrOut,
	})
}
