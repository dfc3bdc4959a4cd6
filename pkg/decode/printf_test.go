package decode

import (
	"errors"
	"testing"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

func vi(v int64) record.Value  { return record.Value{Kind: record.Int, Int: v} }
func vu(v uint64) record.Value { return record.Value{Kind: record.Uint, Uint: v} }
func vs(s string) record.Value { return record.Value{Kind: record.String, Str: s} }

// The expected strings were printed by bpftrace 0.17 on this machine, e.g.
// bpftrace -e 'BEGIN { printf("[%hhd]\n", 300); exit(); }'.
func TestPrintf(t *testing.T) {
	tests := []struct {
		format string
		args   []record.Value
		want   string
	}{
		{"%d|%5d|%-5d|%05d|%x|%X|%o|\n", []record.Value{vi(-42), vi(42), vi(42), vi(42), vi(255), vi(255), vi(8)},
			"-42|   42|42   |00042|ff|FF|10|\n"},
		{"%s|%-6s|%6s|%c|%p|%%|%u|%.3s|%lu|%llx|\n",
			[]record.Value{vs("str"), vs("ab"), vs("cd"), vi(65), vi(4096), vi(-1), vs("abcdef"), vi(7), vi(255)},
			"str|ab    |    cd|A|0x1000|%|4294967295|abc|7|ff|\n"},
		{"%8.3d|%-8x|%hhd|%hd|%ld|%zd|%5.1s|\n", []record.Value{vi(5), vi(255), vi(300), vi(70000), vi(-1), vi(3), vs("xyz")},
			"     005|ff      |44|4464|-1|3|    x|\n"},
		{"[%d]", []record.Value{vi(4294967297)}, "[1]"},
		{"[%x]", []record.Value{vi(-1)}, "[ffffffff]"},
		{"[%u]", []record.Value{vi(-1)}, "[4294967295]"},
		{"[%c]", []record.Value{vi(321)}, "[A]"},
		{"[%hhu]", []record.Value{vi(-1)}, "[255]"},
		{"[%o]", []record.Value{vi(-1)}, "[37777777777]"},
		{"[%p]", []record.Value{vi(-1)}, "[0xffffffffffffffff]"},
		{"[%X]", []record.Value{vi(-1)}, "[FFFFFFFF]"},
		{"[%10p]", []record.Value{vi(255)}, "[      0xff]"},
		{"[%-10p|]", []record.Value{vi(255)}, "[0xff      |]"},
		{"[%.5d]", []record.Value{vi(3)}, "[00003]"},
		{"[%.0d]", []record.Value{vi(0)}, "[]"},
		{"[%-8.3d|]", []record.Value{vi(5)}, "[005     |]"},
		{"[%08.3d]", []record.Value{vi(5)}, "[     005]"},
		{"[%p]", []record.Value{vi(0)}, "[(nil)]"},
		{"[%lx]", []record.Value{vi(-1)}, "[ffffffffffffffff]"},
		{"[%lu]", []record.Value{vu(18446744073709551615)}, "[18446744073709551615]"},
		{"[%zx]", []record.Value{vi(-1)}, "[ffffffffffffffff]"},
		{"[%hx]", []record.Value{vi(-1)}, "[ffff]"},
		{"[%ld]", []record.Value{vi(4294967297)}, "[4294967297]"},
		{"[%lo]", []record.Value{vi(-1)}, "[1777777777777777777777]"},
		{"[%5c]", []record.Value{vi(65)}, "[    A]"},
		{"[%-6s|]", []record.Value{vs("ab")}, "[ab    |]"},
		{"[%8.2s|]", []record.Value{vs("abcdef")}, "[      ab|]"},
		{"[%-8.2s|]", []record.Value{vs("abcdef")}, "[ab      |]"},
		{"[%s]", []record.Value{vs("")}, "[]"},
		// 0.17 leaves %% after the last conversion alone.
		{"%d %%\n", []record.Value{vi(1)}, "1 %%\n"},
		{"100%%\n", nil, "100%%\n"},
		{"%d%%%d\n", []record.Value{vi(1), vi(2)}, "1%2\n"},
		{"a%%b %d|\n", []record.Value{vi(1)}, "a%b 1|\n"},
		{"%s%%\n", []record.Value{vs("x")}, "x%%\n"},
		// Conversions 0.17's parser rejects still print as C would.
		{"[%+d|% d|%i]", []record.Value{vi(5), vi(5), vi(-5)}, "[+5| 5|-5]"},
		{"[%#x|%#o|%#x]", []record.Value{vi(255), vi(8), vi(0)}, "[0xff|010|0]"},
		{"[% x]", []record.Value{vi(255)}, "[ff]"},
		// Symbols, probes and stacks print through %s.
		{"%s %s", []record.Value{{Kind: record.Sym, Str: "do_sys_open"}, vs("bash")}, "do_sys_open bash"},
		{"%s|", []record.Value{{Kind: record.KStack, Stack: []string{"a+1", "b+2"}}}, "\n        a+1\n        b+2\n|"},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			got, err := Printf(tc.format, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Printf(%q) = %q, want %q", tc.format, got, tc.want)
			}
		})
	}
}

func TestPrintfErrors(t *testing.T) {
	tests := []struct {
		format string
		args   []record.Value
	}{
		{"%s", []record.Value{vi(1)}},
		{"%d", []record.Value{vs("x")}},
		{"%d %d", []record.Value{vi(1)}},
		{"%d", []record.Value{vi(1), vi(2)}},
		{"%q", []record.Value{vi(1)}},
		{"%", []record.Value{vi(1)}},
	}
	for _, tc := range tests {
		if _, err := Printf(tc.format, tc.args); !errors.Is(err, ErrFormat) {
			t.Errorf("Printf(%q) error = %v, want ErrFormat", tc.format, err)
		}
	}
}
