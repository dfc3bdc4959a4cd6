// Command kubectl-xtrace is the kubectl xtrace plugin.
package main

import (
	"context"
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	// Client auth plugins (exec, OIDC, ...) for every kubeconfig kubectl reads.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/plugin"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	if err := plugin.NewCmdXtrace(streams).ExecuteContext(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}
