package decode

import (
	"os"
	"strings"
	"testing"
	"errors"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/codegen"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

type nopEnv struct{}

func (nopEnv) Tracepoint(c, n string) (*program.TracepointFormat, error) { return nil, program.ErrNotFound }
func (nopEnv) MatchTracepoints(c, n string) ([][2]string, error)      { return nil, program.ErrNotFound }
func (nopEnv) MatchKernelFuncs(p string) ([]string, error)             { return nil, program.ErrNotFound }
func (nopEnv) Arch() string                                            { return "amd64" }

func TestE2EScratch(t *testing.T) {
	requireBPF(t)
	for _, name := range []string{"maps", "print"} {
		src, _ := os.ReadFile("../record/testdata/" + name + ".bt")
		want, _ := os.ReadFile("../record/testdata/" + name + ".golden")
		src = []byte(strings.ReplaceAll(string(src), "@uu = (int8)-1;", ""))
		want = []byte(strings.ReplaceAll(string(want), "@uu: -1\n", ""))
		spec, err := lang.Compile(name+".bt", string(src), nopEnv{}, codegen.Options{})
		if err != nil {
			t.Errorf("%s: compile: %v", name, err)
			continue
		}
		coll, err := ebpf.NewCollection(spec.Collection)
		if err != nil {
			t.Errorf("%s: load: %v", name, err)
			continue
		}
		rd, _ := ringbuf.NewReader(coll.Maps[spec.OutputMap])
		d, err := NewDecoder(spec, coll)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range spec.Probes {
			if p.Kind == ast.Begin {
				if _, err := coll.Programs[p.Program].Run(&ebpf.RunOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
		var out strings.Builder
		r := record.NewTextRenderer(&out, os.Stderr)
		rd.SetDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			rec, err := rd.Read()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			ev, err := d.Event(rec.RawSample)
			if err != nil {
				t.Fatalf("%s: event: %v", name, err)
			}
			switch ev.Kind {
			case EventPrintf:
				r.Render(&record.Record{Type: record.TypePrintf, Text: ev.Text})
			case EventPrint:
				m, err := d.Map(ev.Map, ev.Top, ev.Div)
				if err != nil {
					t.Fatal(err)
				}
				r.Render(&record.Record{Type: record.TypeMap, Map: m})
			case EventClear:
				ClearMap(coll.Maps[spec.Maps[ev.Map].BPFName], spec.Maps[ev.Map])
			case EventZero:
				ZeroMap(coll.Maps[spec.Maps[ev.Map].BPFName], spec.Maps[ev.Map])
			case EventExit:
			}
		}
		r.Render(&record.Record{Type: record.TypeExit})
		for i := range spec.Maps {
			m, err := d.Map(i, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			r.Render(&record.Record{Type: record.TypeMap, Map: m})
		}
		if out.String() != string(want) {
			t.Errorf("%s: got\n%s\nwant\n%s", name, out.String(), want)
		}
		coll.Close()
	}
}
