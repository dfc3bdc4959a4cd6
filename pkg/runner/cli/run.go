package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/attach"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/codegen"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/runner"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/scope"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/store"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/tools"
)

// runOptions are the flags of `trace-runner run`.
type runOptions struct {
	specPath   string
	node       string
	cgroupRoot string
	procRoot   string

	stdout, stderr io.Writer
}

func newRunCommand(stdout, stderr io.Writer) *cobra.Command {
	o := &runOptions{stdout: stdout, stderr: stderr}
	cmd := &cobra.Command{
		Use:   "run --spec FILE",
		Short: "Run the trace described by a trace spec on this node",
		Long: `Run compiles the spec's program for this node's kernel, scopes its probes
in the kernel to the spec's target on this node, and traces until the program
exits, the spec's duration passes, or SIGINT/SIGTERM arrives (a second signal
exits at once). Records go to standard output as JSON lines and to
<outputRoot>/<trace id>/ on the node.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := stopOnSignal(cmd.Context())
			defer stop()
			return o.Run(ctx)
		},
	}
	cmd.Flags().StringVar(&o.specPath, "spec", "/etc/xtrace/spec.json", "path of the trace spec")
	cmd.Flags().StringVar(&o.node, "node", os.Getenv("NODE_NAME"), "name of this node (default $NODE_NAME)")
	cmd.Flags().StringVar(&o.cgroupRoot, "cgroup-root", "/sys/fs/cgroup", "where the host's cgroup file systems are mounted")
	cmd.Flags().StringVar(&o.procRoot, "proc-root", "/proc", "the host's /proc (the Job runs with hostPID)")
	return cmd
}

// Run traces, and on any failure writes an error record as the last line of
// standard output, so the plugin can show why, before returning the error.
func (o *runOptions) Run(ctx context.Context) error {
	out := record.NewWriter(o.stdout)
	err := o.run(ctx, out)
	if err != nil {
		out.Write(&record.Record{V: record.Version, Type: record.TypeError, Time: time.Now().UTC(), Node: o.node, Text: err.Error()})
	}
	return err
}

func (o *runOptions) run(ctx context.Context, out *record.Writer) error {
	data, err := os.ReadFile(o.specPath)
	if err != nil {
		return fmt.Errorf("reading the trace spec: %w", err)
	}
	ts, err := spec.Parse(data)
	if err != nil {
		return err
	}
	target, err := targetFor(ts, o.node)
	if err != nil {
		return err
	}
	name, src, err := programOf(ts)
	if err != nil {
		return err
	}

	matches, err := scope.ForTarget(*target, scope.Options{CgroupRoot: o.cgroupRoot, ProcRoot: o.procRoot})
	if err != nil {
		return err
	}
	sc, err := scope.Merge(matches)
	if err != nil {
		return err
	}
	desc := scope.DescribeAll(matches)

	env, err := attach.NewHostEnv()
	if err != nil {
		return fmt.Errorf("reading this kernel's probes: %w", err)
	}
	compiled, err := lang.Compile(name, src, env, codegen.Options{Scope: sc})
	if err != nil {
		return err
	}

	st, err := store.Open(ts.OutputRoot, ts.ID, store.Meta{
		Spec: ts, Node: o.node, Scope: desc, StartTime: time.Now().UTC(),
	}, store.LimitsFromSpec(ts.Limits))
	if err != nil {
		return fmt.Errorf("persisting the trace under %s: %w", ts.OutputRoot, err)
	}

	end, runErr := runner.Run(ctx, runner.Config{
		TraceID:   ts.ID,
		Node:      o.node,
		Spec:      compiled,
		File:      ast.NewFile(name, src),
		ScopeDesc: desc,
		Duration:  ts.Limits.Duration.Duration,
		Sink:      &teeSink{out: out, store: st},
	})
	if end == nil {
		end = &record.End{Reason: runner.ReasonError}
		if runErr != nil {
			end.Error = runErr.Error()
			// The error record goes to the node file too, so fetch shows
			// why the trace failed.
			st.Write(&record.Record{V: record.Version, Type: record.TypeError, Time: time.Now().UTC(), Node: o.node, Text: runErr.Error()})
		}
	}
	closeErr := st.Close(*end)
	if runErr != nil {
		return runErr
	}
	if end.Reason == runner.ReasonError {
		return fmt.Errorf("the trace stopped early: %s", end.Error)
	}
	if closeErr != nil {
		return fmt.Errorf("finishing the persisted trace: %w", closeErr)
	}
	return nil
}

// targetFor picks this node's entry of the spec.
func targetFor(ts *spec.TraceSpec, node string) (*spec.Target, error) {
	if node == "" {
		return nil, errors.New("this node's name is unknown: pass --node or set NODE_NAME")
	}
	for i := range ts.Targets {
		if ts.Targets[i].Node == node {
			return &ts.Targets[i], nil
		}
	}
	return nil, fmt.Errorf("trace %s has no target on node %q: the Job was scheduled on the wrong node", ts.ID, node)
}

// programOf returns the program to compile and the name it is known by in
// messages.
func programOf(ts *spec.TraceSpec) (name, src string, err error) {
	if ts.Tool == "" {
		return "program", ts.Program, nil
	}
	src, ok := tools.Lookup(ts.Tool)
	if !ok {
		return "", "", fmt.Errorf("unknown tool %q: this runner has %v", ts.Tool, tools.Names())
	}
	return ts.Tool + ".bt", src, nil
}

// attachRoot is the directory uprobe paths are resolved in: the root of a
// process of the target, so that paths are those seen inside its
// container (the pods of a workload share an image, so the first will do).
// A node target resolves paths on the host.
func attachRoot(ms []scope.Match, procRoot string) string {
	for _, m := range ms {
		if m.Pid > 0 {
			return filepath.Join(procRoot, strconv.Itoa(m.Pid), "root")
		}
	}
	return ""
}

// teeSink writes every record to standard output and to the node's disk.
// The store writes its own end record when it is closed, so end records go
// to standard output only.
type teeSink struct {
	out   *record.Writer
	store *store.Trace
}

func (s *teeSink) Write(r *record.Record) error {
	if r.Type != record.TypeEnd {
		if err := s.store.Write(r); err != nil {
			return err
		}
	}
	return s.out.Write(r)
}
