package plugin

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/tools"
)

// program is the tracing program a run was given.
type program struct {
	// Name is what error messages call the program: "-e", the file name,
	// or the tool's name.
	Name string
	// Source is the program text; for a tool, the plugin's copy of it.
	Source string
	// Tool is set for --tool: the spec then names the tool and the runner
	// uses its own copy.
	Tool string
}

// loadProgram reads the program from exactly one of -e, -f and --tool.
func loadProgram(expr, file, tool string, stdin io.Reader) (*program, error) {
	given := 0
	for _, s := range []string{expr, file, tool} {
		if s != "" {
			given++
		}
	}
	if given != 1 {
		return nil, fmt.Errorf("give the program with exactly one of -e PROGRAM, -f FILE or --tool NAME (tools: %s)", strings.Join(tools.Names(), ", "))
	}
	switch {
	case expr != "":
		return &program{Name: "-e", Source: expr}, nil
	case tool != "":
		src, ok := tools.Lookup(tool)
		if !ok {
			return nil, fmt.Errorf("unknown tool %q: the tools are %s", tool, strings.Join(tools.Names(), ", "))
		}
		return &program{Name: tool, Source: src, Tool: tool}, nil
	}
	var (
		data []byte
		err  error
	)
	if file == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, spec.MaxProgramBytes+1))
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the program from %s: %w", file, err)
	}
	return &program{Name: file, Source: string(data)}, nil
}

// check refuses a program that would not fit in the trace's ConfigMap or
// that does not compile, before anything is created in the cluster.
func (p *program) check() error {
	if p.Tool == "" && len(p.Source) > spec.MaxProgramBytes {
		return fmt.Errorf("program %s is %d bytes; the limit is %d bytes (%d KiB) because it travels in a ConfigMap: shorten it",
			p.Name, len(p.Source), spec.MaxProgramBytes, spec.MaxProgramBytes>>10)
	}
	if err := lang.CheckSource(p.Name, p.Source); err != nil {
		// The diagnostics already read file:line:col: message, with the
		// source line and a caret.
		return fmt.Errorf("the program has errors, nothing was created:\n%w", err)
	}
	return nil
}

// summary is a one-line description of the program for the ConfigMap's
// annotation and get -o wide.
func (p *program) summary() string {
	if p.Tool != "" {
		return "tool:" + p.Tool
	}
	s := strings.Join(strings.Fields(p.Source), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}
