package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
)

const getLong = `List traces, or show one, with their state: Pending, Running, Completed,
Failed, or "Completed (persisted)" once the Jobs are gone and only the record
and the output on the nodes remain (read it with fetch).

Traces live in the namespace of their Jobs: the target's, or --job-namespace.`

const getExample = `  # Traces in the current namespace.
  kubectl xtrace get

  # Traces everywhere, with their programs.
  kubectl xtrace get -A -o wide

  # One trace as YAML: its spec and per-node status.
  kubectl xtrace get 0b5e6f3a -o yaml`

// GetOptions holds the flags of get.
type GetOptions struct {
	genericiooptions.IOStreams
	f *Factory

	printFlags    *genericclioptions.PrintFlags
	allNamespaces bool
	selector      string
	noHeaders     bool

	ref       *traceRef
	namespace string
	explicit  bool
	printer   printers.ResourcePrinter
	wide      bool
}

// NewCmdGet returns the get command.
func NewCmdGet(f *Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &GetOptions{IOStreams: streams, f: f, printFlags: genericclioptions.NewPrintFlags("")}
	cmd := &cobra.Command{
		Use:               "get [ID]",
		Short:             "List traces and their state",
		Long:              getLong,
		Example:           getExample,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeTraceIDs(f, &o.allNamespaces),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.printFlags.AddFlags(cmd)
	cmd.Flags().Lookup("output").Usage = "Output format: wide, json, yaml, name, jsonpath=..., go-template=... (default: a table)"
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "List traces in all namespaces")
	cmd.Flags().StringVarP(&o.selector, "selector", "l", "", "Only traces whose ConfigMap matches this label selector")
	cmd.Flags().BoolVar(&o.noHeaders, "no-headers", false, "Print the table without headers")
	registerCompletions(cmd, f, map[string]completionFunc{"output": fixedValues("wide", "json", "yaml", "name")})
	return cmd
}

// Complete reads the arguments and picks the printer.
func (o *GetOptions) Complete(args []string) error {
	var err error
	if o.ref, err = parseOptionalTraceRef(args); err != nil {
		return err
	}
	if o.namespace, o.explicit, err = o.f.Namespace(); err != nil {
		return err
	}
	switch format := *o.printFlags.OutputFormat; format {
	case "", "wide":
		o.wide = format == "wide"
		o.printer = printers.NewTablePrinter(printers.PrintOptions{
			WithNamespace: o.allNamespaces,
			Wide:          o.wide,
			NoHeaders:     o.noHeaders,
		})
	default:
		if o.printer, err = o.printFlags.ToPrinter(); err != nil {
			return err
		}
	}
	return nil
}

// Run lists the traces and prints them.
func (o *GetOptions) Run(ctx context.Context) error {
	client, err := o.f.Client()
	if err != nil {
		return err
	}
	q := traceQuery{namespace: o.namespace, allNamespaces: o.allNamespaces, selector: o.selector}
	traces, err := findTraces(ctx, client, o.ref, q, o.explicit)
	if err != nil {
		return err
	}
	if _, isTable := o.printer.(*printers.HumanReadablePrinter); isTable {
		if len(traces) == 0 {
			noTraces(o.ErrOut, q)
			return nil
		}
		return o.printer.PrintObj(traceTable(traces, o.f.now()), o.Out)
	}
	if o.ref != nil {
		return o.printer.PrintObj(traces[0], o.Out)
	}
	if strings.HasPrefix(*o.printFlags.OutputFormat, "name") {
		for _, t := range traces {
			if err := o.printer.PrintObj(t, o.Out); err != nil {
				return err
			}
		}
		return nil
	}
	list := &TraceList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}, Items: []Trace{}}
	for _, t := range traces {
		list.Items = append(list.Items, *t)
	}
	return o.printer.PrintObj(list, o.Out)
}

func noTraces(w io.Writer, q traceQuery) {
	if q.allNamespaces {
		fmt.Fprintln(w, "No traces found.")
		return
	}
	fmt.Fprintf(w, "No traces found in %s namespace.\n", q.namespace)
}

// traceTable lays traces out as a metav1.Table, the form the cli-runtime
// table printer prints (and adds NAMESPACE to with -A). Wide-only columns
// have priority 1.
func traceTable(traces []*Trace, now time.Time) *metav1.Table {
	table := &metav1.Table{
		ColumnDefinitions: []metav1.TableColumnDefinition{
			{Name: "ID", Type: "string", Format: "name", Description: "The trace id"},
			{Name: "Target", Type: "string", Description: "What is traced"},
			{Name: "Node(s)", Type: "string", Description: "Nodes with a runner"},
			{Name: "State", Type: "string", Description: "Pending, Running, Completed, Failed or Completed (persisted)"},
			{Name: "Age", Type: "string", Description: "Time since the trace was created"},
			{Name: "Persisted", Type: "string", Description: "Whether output was written on the nodes for fetch"},
			{Name: "Program", Type: "string", Priority: 1, Description: "The program or tool"},
			{Name: "Image", Type: "string", Priority: 1, Description: "The runner image"},
		},
	}
	for _, t := range traces {
		age := "<unknown>"
		if !t.CreationTimestamp.IsZero() {
			age = duration.HumanDuration(now.Sub(t.CreationTimestamp.Time))
		}
		persisted := "no"
		if t.Status.Persisted {
			persisted = "yes"
		}
		table.Rows = append(table.Rows, metav1.TableRow{
			Cells:  []interface{}{t.Name, t.Status.Target, joinNodes(t.nodes()), t.Status.State, age, persisted, t.Status.Program, t.Status.Image},
			Object: runtime.RawExtension{Object: t},
		})
	}
	return table
}

// joinNodes keeps the column narrow for traces on many nodes.
func joinNodes(nodes []string) string {
	const shown = 3
	if len(nodes) <= shown {
		return strings.Join(nodes, ",")
	}
	return fmt.Sprintf("%s,+%d more", strings.Join(nodes[:shown], ","), len(nodes)-shown)
}
