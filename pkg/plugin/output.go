package plugin

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
)

// outputOptions holds what fetch and logs share. Both show the output of
// the one trace their ID argument names, looked up in the namespace (with
// -A, in every namespace), for all its nodes or only --node, as rendered
// text or as JSON records; keeping these flags in one place keeps the two
// commands alike for the user.
type outputOptions struct {
	genericiooptions.IOStreams
	f *Factory

	node          string
	output        string
	allNamespaces bool

	// Filled in by Complete.
	ref       traceRef
	namespace string
	explicit  bool
}

// addFlags registers -o, --node and -A, with their completions.
func (o *outputOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "Output format: text or json (records as JSON lines)")
	cmd.Flags().StringVar(&o.node, "node", "", "Only this node's output")
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "Look for the trace in all namespaces")
	registerCompletions(cmd, o.f, map[string]completionFunc{"output": fixedValues("text", "json"), "node": completeNodes})
}

// Complete reads the trace id and the namespace.
func (o *outputOptions) Complete(args []string) error {
	var err error
	if o.ref, err = parseTraceRef(args[0]); err != nil {
		return err
	}
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("-o %q: use text or json", o.output)
	}
	o.namespace, o.explicit, err = o.f.Namespace()
	return err
}

// trace finds the trace the ID names. It returns the client too: Run goes
// on to read the trace's pods with it.
func (o *outputOptions) trace(ctx context.Context) (kubernetes.Interface, *Trace, error) {
	client, err := o.f.Client()
	if err != nil {
		return nil, nil, err
	}
	tr, err := findTrace(ctx, client, o.ref, traceQuery{namespace: o.namespace, allNamespaces: o.allNamespaces}, o.explicit)
	if err != nil {
		return nil, nil, err
	}
	return client, tr, nil
}
