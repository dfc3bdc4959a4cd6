package plugin

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// rbacFiles are copies of deploy/rbac: go:embed cannot reach outside this
// package's directory. A test keeps the two identical.
//
//go:embed rbac/*.yaml
var rbacFiles embed.FS

// NewCmdRBAC returns the rbac command.
func NewCmdRBAC(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "rbac",
		Short: "Print the RBAC and namespace manifests for plugin users",
		Long: `Print the manifests in deploy/rbac: the ClusterRole xtrace-user with exactly
the permissions the plugin uses, and the namespace xtrace-system whose Pod
Security level admits the runner pods.`,
		Example: `  kubectl xtrace rbac | kubectl apply -f -`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			docs, err := rbacManifests()
			if err != nil {
				return err
			}
			for i, d := range docs {
				if i > 0 {
					fmt.Fprintln(streams.Out, "---")
				}
				if _, err := streams.Out.Write(d); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// rbacManifests returns the embedded manifests, namespace first so that
// kubectl apply creates it before anything refers to it.
func rbacManifests() ([][]byte, error) {
	entries, err := fs.ReadDir(rbacFiles, "rbac")
	if err != nil {
		return nil, fmt.Errorf("reading the embedded manifests: %w", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "namespace.yaml") != (names[j] == "namespace.yaml") {
			return names[i] == "namespace.yaml"
		}
		return names[i] < names[j]
	})
	var docs [][]byte
	for _, n := range names {
		data, err := rbacFiles.ReadFile("rbac/" + n)
		if err != nil {
			return nil, fmt.Errorf("reading the embedded manifest %s: %w", n, err)
		}
		docs = append(docs, data)
	}
	return docs, nil
}
