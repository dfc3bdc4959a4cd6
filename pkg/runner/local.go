//go:build linux

package runner

import (
	"context"
	"fmt"
	"os"

	"github.com/google/uuid"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/attach"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/codegen"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/scope"
)

// RunLocal compiles the program for this host's kernel, traces until exit(),
// the duration, or ctx is cancelled (Ctrl-C/SIGTERM), then prints END output
// and the maps.
func RunLocal(ctx context.Context, o LocalOptions) error {
	sc, desc, err := localScope(o)
	if err != nil {
		return err
	}
	env, err := attach.NewHostEnv()
	if err != nil {
		return fmt.Errorf("reading this kernel's probes: %w", err)
	}
	spec, err := lang.Compile(o.Name, o.Program, env, codegen.Options{Scope: sc})
	if err != nil {
		return err
	}

	var sink Sink
	if o.JSON {
		sink = record.NewWriter(o.Stdout)
	} else {
		sink = record.NewTextRenderer(o.Stdout, o.Stderr)
	}
	host, _ := os.Hostname()
	end, err := Run(ctx, Config{
		TraceID:   uuid.NewString(),
		Node:      host,
		Spec:      spec,
		File:      ast.NewFile(o.Name, o.Program),
		ScopeDesc: desc,
		Duration:  o.Duration,
		Sink:      sink,
	})
	if err != nil {
		return err
	}
	if end.Reason == ReasonError {
		return fmt.Errorf("the trace stopped early: %s", end.Error)
	}
	return nil
}

// localScope turns --cgroup and --pid into the in-kernel filter.
func localScope(o LocalOptions) (program.Scope, string, error) {
	switch {
	case o.CgroupPath != "" && o.Pid != 0:
		return program.Scope{}, "", fmt.Errorf("--cgroup and --pid both narrow the trace: use one of them")
	case o.CgroupPath != "":
		sc, err := scope.ForCgroupPath(o.CgroupPath)
		if err != nil {
			return program.Scope{}, "", err
		}
		return sc, scope.Describe(sc), nil
	case o.Pid != 0:
		sc, err := scope.ForPid(o.Pid)
		if err != nil {
			return program.Scope{}, "", err
		}
		return sc, scope.Describe(sc), nil
	}
	sc := program.Scope{Mode: program.ScopeNone}
	return sc, scope.Describe(sc), nil
}
