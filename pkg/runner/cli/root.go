// Package cli is trace-runner's command line: `run` traces one node from a
// trace spec, `cat` and `rm` read and remove persisted traces, `version`
// prints what this binary is.
package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/version"
)

// NewRootCommand builds the trace-runner command tree.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "trace-runner",
		Short:         "Run an xtrace trace on this node, or read the traces persisted here",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newRunCommand(stdout, stderr),
		newCatCommand(stdout, stderr),
		newRmCommand(stdout, stderr),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version, commit and default runner image",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				_, err := fmt.Fprintf(stdout, "trace-runner %s (commit %s, image %s)\n",
					version.Version, version.Commit, version.DefaultImage)
				return err
			},
		},
	)
	return root
}
