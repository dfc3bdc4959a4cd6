package tools_test

import (
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/attach"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/codegen"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/tools"
)

// wantTools are the tools PRODUCT.md and the README promise.
var wantTools = []string{"biolatency", "execsnoop", "killsnoop", "opensnoop", "profile", "runqlat", "syscount", "tcpconnect", "vfsstat"}

func TestNames(t *testing.T) {
	if got := strings.Join(tools.Names(), " "); got != strings.Join(wantTools, " ") {
		t.Errorf("Names() = %s, want %s", got, strings.Join(wantTools, " "))
	}
	if _, ok := tools.Lookup("nosuch"); ok {
		t.Error(`Lookup("nosuch") found a tool`)
	}
	if got := tools.Summary("execsnoop"); !strings.HasPrefix(got, "execsnoop: ") {
		t.Errorf("Summary(execsnoop) = %q", got)
	}
}

// TestToolsCheck runs the client-side check, as the plugin does before it
// creates anything.
func TestToolsCheck(t *testing.T) {
	for _, name := range tools.Names() {
		src, _ := tools.Lookup(name)
		if err := lang.CheckSource(name+".bt", src); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestToolsLoad compiles every tool for this kernel and loads it, as the
// runner does on a node: a tool that the verifier rejects is a broken tool.
func TestToolsLoad(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading eBPF programs needs root")
	}
	env, err := attach.NewHostEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range tools.Names() {
		t.Run(name, func(t *testing.T) {
			src, _ := tools.Lookup(name)
			spec, err := lang.Compile(name+".bt", src, env, codegen.Options{})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			coll, err := ebpf.NewCollection(spec.Collection)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			coll.Close()
		})
	}
}
