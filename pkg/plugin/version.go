package plugin

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/version"
)

// NewCmdVersion returns the version command.
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plugin version and the runner image it uses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(streams.Out, "kubectl-xtrace %s\ncommit: %s\nrunner image: %s\ntrace spec: %s\nrecord format: v%d\n",
				version.Version, version.Commit, version.DefaultImage, spec.APIVersion, record.Version)
			return err
		},
	}
}
