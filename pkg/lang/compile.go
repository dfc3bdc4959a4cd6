// Package lang ties the compiler's passes together: parse, check, generate.
//
// The plugin calls CheckSource before it creates anything in the cluster, so
// syntax and type errors surface on the user's terminal; the runner calls
// Compile on the node, where the kernel's tracepoints and functions are known.
package lang

import (
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/check"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/codegen"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/parser"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// Compile parses, checks and compiles the program src (named name in
// messages) for the kernel described by env. Source errors are a
// diag.List.
func Compile(name, src string, env program.Env, opts codegen.Options) (*program.Spec, error) {
	prog, err := parser.ParseFile(name, src)
	if err != nil {
		return nil, err
	}
	info, err := check.CheckOptions(prog, check.Options{StrLen: opts.StrLen})
	if err != nil {
		return nil, err
	}
	return codegen.Compile(prog, info, env, opts)
}

// CheckSource parses and checks src without a kernel: everything that can
// be known about a program before it reaches a node.
func CheckSource(name, src string) error {
	prog, err := parser.ParseFile(name, src)
	if err != nil {
		return err
	}
	_, err = check.Check(prog)
	return err
}
