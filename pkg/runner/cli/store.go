package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/store"
)

func newCatCommand(stdout, stderr io.Writer) *cobra.Command {
	root := spec.DefaultOutputRoot
	cmd := &cobra.Command{
		Use:   "cat ID",
		Short: "Write a persisted trace's records to standard output",
		Long: `Cat streams the records of a trace persisted on this node, for
kubectl xtrace fetch. A trace whose runner was killed ends in a partial line:
cat writes every complete record, warns on standard error, and succeeds.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := store.Cat(root, args[0], stdout)
			if errors.Is(err, store.ErrTruncated) {
				fmt.Fprintf(stderr, "trace-runner: %v\n", err)
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&root, "root", root, "directory holding persisted traces")
	return cmd
}

func newRmCommand(stdout, stderr io.Writer) *cobra.Command {
	root := spec.DefaultOutputRoot
	prune := false
	cmd := &cobra.Command{
		Use:   "rm (ID | --prune)",
		Short: "Remove a persisted trace, or every finished one",
		Args: func(cmd *cobra.Command, args []string) error {
			if prune && len(args) > 0 || !prune && len(args) != 1 {
				return errors.New("give one trace id, or --prune alone")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if prune {
				removed, err := store.Prune(root, 0)
				for _, id := range removed {
					fmt.Fprintf(stdout, "removed %s\n", id)
				}
				return err
			}
			if err := store.Remove(root, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "removed %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "root", root, "directory holding persisted traces")
	cmd.Flags().BoolVar(&prune, "prune", false, "remove every finished trace")
	return cmd
}
