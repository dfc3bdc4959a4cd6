package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

const fetchLong = `Read a trace's output persisted on the nodes' disks, also after its Jobs
and pods are gone. A short-lived reader pod runs on each node, prints the
records and is deleted afterwards. The output renders exactly as it did
live; --to writes one <node>.jsonl file of records per node instead.`

const fetchExample = `  # Show a finished trace's output.
  kubectl xtrace fetch 0b5e6f3a

  # Save every node's records to ./out/<node>.jsonl.
  kubectl xtrace fetch 0b5e6f3a --to out`

// FetchOptions holds the flags of fetch.
type FetchOptions struct {
	outputOptions

	to    string
	image string
}

// NewCmdFetch returns the fetch command.
func NewCmdFetch(f *Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &FetchOptions{outputOptions: outputOptions{IOStreams: streams, f: f}}
	cmd := &cobra.Command{
		Use:               "fetch ID [--to DIR]",
		Short:             "Read a trace's output persisted on the nodes",
		Long:              fetchLong,
		Example:           fetchExample,
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
	cmd.Flags().StringVar(&o.to, "to", "", "Write the records of each node to DIR/<node>.jsonl instead of printing")
	cmd.Flags().StringVar(&o.image, "image", "", "The image of the reader pods (default: the image the trace ran with)")
	return cmd
}

// Run reads every node's output in turn.
func (o *FetchOptions) Run(ctx context.Context) error {
	client, tr, err := o.trace(ctx)
	if err != nil {
		return err
	}
	var nodes []string
	for _, node := range tr.nodes() {
		if o.node == "" || node == o.node {
			nodes = append(nodes, node)
		}
	}
	targetPod := tr.targetPods()
	if len(nodes) == 0 {
		return fmt.Errorf("trace %s did not run on node %q; its nodes: %s", tr.Name, o.node, joinNodes(tr.nodes()))
	}
	if o.to != "" {
		if err := os.MkdirAll(o.to, 0o755); err != nil {
			return fmt.Errorf("creating --to directory: %w", err)
		}
	}
	s := newSink(o.output, o.Out, o.ErrOut)
	var errs []error
	for _, node := range nodes {
		src := &source{Node: node, TargetPod: targetPod[node], tagged: len(nodes) > 1}
		if err := o.fetchNode(ctx, client, tr, src, s); err != nil {
			// Other nodes' output is still worth having.
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	if err := s.flush(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// fetchNode runs a reader pod on one node and passes its records to the
// sink, or with --to to the node's file.
func (o *FetchOptions) fetchNode(ctx context.Context, client kubernetes.Interface, tr *Trace, src *source, s sink) (err error) {
	r := newReader(o.f, client, tr, src.Node, "cat", o.image)
	src.Namespace, src.Pod = r.pod.Namespace, r.pod.Name
	defer func() {
		if rerr := r.remove(); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	if err := r.start(ctx); err != nil {
		return err
	}
	emit := func(rec *record.Record) error {
		src.stamp(rec)
		return s.record(src, rec)
	}
	var file *os.File
	if o.to != "" {
		if len(validation.IsDNS1123Subdomain(src.Node)) != 0 {
			return fmt.Errorf("node name %q cannot be used as a file name", src.Node)
		}
		path := filepath.Join(o.to, src.Node+".jsonl")
		if file, err = os.Create(path); err != nil {
			return fmt.Errorf("creating %s: %w", path, err)
		}
		defer func() {
			if cerr := file.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("writing %s: %w", path, cerr)
			}
		}()
		w := record.NewWriter(file)
		emit = w.Write
	}

	rc, err := r.logs(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	var tail tailBuffer
	reader := record.NewReader(io.TeeReader(rc, &tail))
	// The last error record is held back until the reader's exit code says
	// whether it is the trace's own (exit 0) or the reader's failure.
	var held *record.Record
	n := 0
	for {
		rec, err := reader.Read()
		if errors.Is(err, io.EOF) || errors.Is(err, record.ErrTruncated) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the output of node %s: %w", src.Node, err)
		}
		if held != nil {
			if err := emit(held); err != nil {
				return err
			}
			held = nil
		}
		if rec.Type == record.TypeError {
			held = rec
			continue
		}
		if err := emit(rec); err != nil {
			return err
		}
		n++
	}
	if code := r.finish(ctx); code != 0 {
		if code < 0 {
			return fmt.Errorf("reading the output on node %s: reader pod %s ended without an exit code", src.Node, r.pod.Name)
		}
		return readerFailure(src.Node, code, held, &tail)
	}
	if held != nil {
		if err := emit(held); err != nil {
			return err
		}
		n++
	}
	if file != nil {
		fmt.Fprintf(o.ErrOut, "%s: %d records\n", file.Name(), n)
	}
	return nil
}
