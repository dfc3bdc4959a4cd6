// Command trace-runner runs one xtrace trace on a node. The plugin starts it
// in a Job; it also reads and removes persisted traces for `kubectl xtrace
// fetch` and `delete`.
package main

import (
	"fmt"
	"os"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/runner/cli"
)

func main() {
	if err := cli.NewRootCommand(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "trace-runner:", err)
		os.Exit(1)
	}
}
