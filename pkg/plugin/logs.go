package plugin

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

const logsLong = `Print the output of a running or finished trace from its runner pods,
rendered like run's. The pods are kept for --ttl after the trace ends; after
that, read the output persisted on the nodes with fetch.`

const logsExample = `  # Follow a running trace.
  kubectl xtrace logs 0b5e6f3a -f

  # One node's output, as JSON records.
  kubectl xtrace logs 0b5e6f3a --node worker-3 -o json`

// LogsOptions holds the flags of logs.
type LogsOptions struct {
	outputOptions

	follow bool
}

// NewCmdLogs returns the logs command.
func NewCmdLogs(f *Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &LogsOptions{outputOptions: outputOptions{IOStreams: streams, f: f}}
	cmd := &cobra.Command{
		Use:               "logs ID [-f] [--node NODE]",
		Short:             "Print the output of a running or finished trace",
		Long:              logsLong,
		Example:           logsExample,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTraceIDs(f, &o.allNamespaces),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.addFlags(cmd)
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "Keep streaming until the trace ends")
	return cmd
}

// Run streams the runner pods' logs.
func (o *LogsOptions) Run(ctx context.Context) error {
	client, tr, err := o.trace(ctx)
	if err != nil {
		return err
	}
	pods, err := client.CoreV1().Pods(tr.Namespace).List(ctx, metav1.ListOptions{LabelSelector: runnerSelector(tr.Name)})
	if err != nil {
		return fmt.Errorf("listing the runner pods of trace %s: %w", tr.Name, err)
	}
	targetPod := tr.targetPods()
	var sources []*source
	for _, p := range pods.Items {
		if p.Labels[labelTraceID] != tr.Name || p.Labels[labelRole] != roleRunner {
			continue
		}
		node := p.Annotations[annotationNode]
		if node == "" {
			node = p.Spec.NodeName
		}
		if o.node != "" && node != o.node {
			continue
		}
		if started, _ := examinePod(&p); !started {
			continue
		}
		sources = append(sources, &source{Node: node, Namespace: p.Namespace, Pod: p.Name, TargetPod: targetPod[node]})
	}
	if len(sources) == 0 {
		which := ""
		if o.node != "" {
			which = " on node " + o.node
		}
		if tr.Status.State == statePending {
			return fmt.Errorf("trace %s has not started%s yet: try again in a moment, or see kubectl xtrace get %s -o yaml", tr.Name, which, tr.Name)
		}
		return fmt.Errorf("trace %s has no runner pod%s any more (state %s): read its persisted output with kubectl xtrace fetch %s", tr.Name, which, tr.Status.State, tr.Name)
	}
	sort.Slice(sources, func(i, j int) bool { return sources[i].Node < sources[j].Node })
	outcomes, err := streamLogs(ctx, o.f, sources, o.follow, newSink(o.output, o.Out, o.ErrOut))
	if err != nil {
		return err
	}
	// A runner that has not finished is not a failure; one that has, with
	// an error, is.
	return judgeOutcomes(ctx, o.f, client, outcomes, 0, o.output != "json")
}
