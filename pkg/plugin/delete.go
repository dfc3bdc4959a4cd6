package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

const deleteLong = `Delete traces: their Jobs, pods and ConfigMap record, and the output
persisted on the nodes (a short-lived pod runs trace-runner rm on each node;
--keep-output skips that). If removing the output fails, the record is kept
so the delete can be retried.`

const deleteExample = `  # Delete one trace and its output.
  kubectl xtrace delete 0b5e6f3a

  # Delete every trace in all namespaces, keeping the output on the nodes.
  kubectl xtrace delete --all -A --keep-output`

// runnerGoneTimeout bounds the wait for stopping runners to exit before
// their output is removed: they flush their last records on SIGTERM.
const runnerGoneTimeout = 60 * time.Second

// DeleteOptions holds the flags of delete.
type DeleteOptions struct {
	genericiooptions.IOStreams
	f *Factory

	all           bool
	allNamespaces bool
	keepOutput    bool
	image         string

	ref       *traceRef
	namespace string
	explicit  bool
}

// NewCmdDelete returns the delete command.
func NewCmdDelete(f *Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &DeleteOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:               "delete (ID | --all)",
		Short:             "Delete traces and their persisted output",
		Long:              deleteLong,
		Example:           deleteExample,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeTraceIDs(f, &o.allNamespaces),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "Delete every trace in the namespace (with -A, everywhere)")
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "With --all, all namespaces; with an ID, look for it everywhere")
	cmd.Flags().BoolVar(&o.keepOutput, "keep-output", false, "Leave the output on the nodes")
	cmd.Flags().StringVar(&o.image, "image", "", "The image of the rm pods (default: the image the trace ran with)")
	return cmd
}

// Complete reads the trace id or --all.
func (o *DeleteOptions) Complete(args []string) error {
	switch {
	case o.all && len(args) > 0:
		return fmt.Errorf("give either an ID or --all, not both")
	case !o.all && len(args) == 0:
		return fmt.Errorf("give the ID of the trace to delete, or --all")
	}
	var err error
	if o.ref, err = parseOptionalTraceRef(args); err != nil {
		return err
	}
	o.namespace, o.explicit, err = o.f.Namespace()
	return err
}

// Run deletes the traces one by one, reporting each.
func (o *DeleteOptions) Run(ctx context.Context) error {
	client, err := o.f.Client()
	if err != nil {
		return err
	}
	q := traceQuery{namespace: o.namespace, allNamespaces: o.allNamespaces}
	traces, err := findTraces(ctx, client, o.ref, q, o.explicit)
	if err != nil {
		return err
	}
	if len(traces) == 0 {
		noTraces(o.ErrOut, q)
		return nil
	}
	var errs []error
	for _, t := range traces {
		if err := o.deleteOne(ctx, client, t); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(o.Out, "trace.xtrace.dev/%s deleted\n", t.Name)
	}
	return errors.Join(errs...)
}

// deleteOne stops the runners, removes the output on each node, then the
// record. The record goes last so that a failed removal can be retried.
func (o *DeleteOptions) deleteOne(ctx context.Context, client kubernetes.Interface, t *Trace) error {
	if err := deleteRunners(ctx, client, t.Namespace, t.Name); err != nil {
		return err
	}
	if !o.keepOutput {
		if err := o.waitRunnersGone(ctx, client, t); err != nil {
			return err
		}
		var errs []error
		for _, node := range t.nodes() {
			if err := o.removeOutput(ctx, client, t, node); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("trace %s: the record is kept so you can retry (or pass --keep-output): %w", t.Name, err)
		}
	}
	return deleteTrace(ctx, client, t.Namespace, t.Name)
}

// waitRunnersGone waits for the runner pods to exit, so rm does not race a
// runner flushing its last records.
func (o *DeleteOptions) waitRunnersGone(ctx context.Context, client kubernetes.Interface, t *Trace) error {
	deadline := time.Now().Add(runnerGoneTimeout)
	for {
		pods, err := client.CoreV1().Pods(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: runnerSelector(t.Name)})
		if err != nil {
			return fmt.Errorf("waiting for the runners of trace %s to stop: %w", t.Name, err)
		}
		if len(pods.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the runner pods of trace %s still exist after %s; try again, or pass --keep-output", t.Name, runnerGoneTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.f.pollInterval):
		}
	}
}

// removeOutput runs `trace-runner rm` on a node and waits for it.
func (o *DeleteOptions) removeOutput(ctx context.Context, client kubernetes.Interface, t *Trace, node string) (err error) {
	r := newReader(o.f, client, t, node, "rm", o.image)
	defer func() {
		if rerr := r.remove(); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	if err := r.start(ctx); err != nil {
		return err
	}
	rc, err := r.logs(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	var tail tailBuffer
	reader := record.NewReader(io.TeeReader(rc, &tail))
	var last *record.Record
	for {
		rec, err := reader.Read()
		if err != nil {
			if notARecord(err) {
				// The line still lands in the tail for the message.
				continue
			}
			break
		}
		last = rec
	}
	if code := r.finish(ctx); code != 0 {
		if code < 0 {
			return fmt.Errorf("removing the output on node %s: pod %s ended without an exit code", node, r.pod.Name)
		}
		return readerFailure(node, code, last, &tail)
	}
	return nil
}
