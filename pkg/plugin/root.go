// Package plugin implements kubectl xtrace: the commands, how a trace is
// laid out in the cluster (a ConfigMap record and one runner Job per node),
// and following its output.
package plugin

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

const rootLong = `Trace pods, nodes and workloads with eBPF, in bpftrace's language.

A trace is a ConfigMap holding the program and the target, and one Job per
node running trace-runner, scoped in the kernel to the target's pods. Its
output streams to your terminal and stays on the node for fetch.`

// NewCmdXtrace returns the root command, reading the usual kubeconfig.
func NewCmdXtrace(streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdXtrace(NewFactory(), streams)
}

func newCmdXtrace(f *Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kubectl-xtrace",
		Short: "Trace pods, nodes and workloads with eBPF",
		Long:  rootLong,
		// Usage after a runtime error buries the message; errors are
		// printed once, by main, as kubectl does.
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl xtrace",
		},
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	f.ConfigFlags.AddFlags(cmd.PersistentFlags())
	registerCompletions(cmd, f, map[string]completionFunc{"namespace": completeNamespaces})
	cmd.AddCommand(
		NewCmdRun(f, streams),
		NewCmdGet(f, streams),
		NewCmdLogs(f, streams),
		NewCmdFetch(f, streams),
		NewCmdDelete(f, streams),
		NewCmdVersion(streams),
		NewCmdRBAC(streams),
	)
	return cmd
}
