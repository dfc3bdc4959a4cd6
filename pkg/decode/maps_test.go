package decode

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

// requireBPF skips tests that create kernel maps when not running as root;
// everywhere else a failure to create a map is a real failure.
func requireBPF(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating BPF maps needs root")
	}
	// Without CAP_SYS_RESOURCE the memlock limit cannot be raised; kernels
	// since 5.11 account BPF memory to the cgroup and do not need it.
	_ = rlimit.RemoveMemlock()
}

// b concatenates byte slices into a key or value.
func b(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func u(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }
func i(v int64) []byte  { return u(uint64(v)) }

// s is a string padded with NULs to size bytes.
func s(str string, size int) []byte {
	out := make([]byte, size)
	copy(out, str)
	return out
}

func newMap(t *testing.T, typ ebpf.MapType, keySize, valueSize int) *ebpf.Map {
	t.Helper()
	entries := uint32(64)
	if typ == ebpf.PerCPUArray {
		entries = 1 // a keyless count, as the code generator makes it
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: typ, KeySize: uint32(keySize), ValueSize: uint32(valueSize), MaxEntries: entries})
	if err != nil {
		t.Fatalf("creating a %s map: %v", typ, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// put stores one element; per-CPU maps get one value per CPU given, the
// rest zero.
func put(t *testing.T, m *ebpf.Map, key []byte, vals ...[]byte) {
	t.Helper()
	var err error
	if m.Type() == ebpf.PerCPUHash || m.Type() == ebpf.PerCPUArray {
		n, perr := ebpf.PossibleCPU()
		if perr != nil {
			t.Fatal(perr)
		}
		if len(vals) > n {
			t.Skipf("the test needs %d CPUs, this machine has %d", len(vals), n)
		}
		perCPU := make([][]byte, n)
		for c := range perCPU {
			perCPU[c] = make([]byte, m.ValueSize())
			if c < len(vals) {
				copy(perCPU[c], vals[c])
			}
		}
		err = m.Update(key, perCPU, ebpf.UpdateAny)
	} else {
		err = m.Update(key, vals[0], ebpf.UpdateAny)
	}
	if err != nil {
		t.Fatalf("update: %v", err)
	}
}

var (
	tInt    = program.Type{Kind: program.Int, Signed: true, Size: 8}
	tUint   = program.Type{Kind: program.Int, Size: 8}
	tStr16  = program.Type{Kind: program.String, Size: 16}
	tStr8   = program.Type{Kind: program.String, Size: 8}
	tTuple  = program.Type{Kind: program.Tuple, Size: 24, Elems: []program.Type{tInt, tStr8, tUint}}
	tProbe  = program.Type{Kind: program.ProbeName, Size: 8}
	tKSym   = program.Type{Kind: program.KSym, Size: 8}
	minmaxV = func(v int64, set uint64) []byte { return b(i(v), u(set)) }
)

func TestReadMap(t *testing.T) {
	requireBPF(t)
	tests := []struct {
		name     string
		spec     program.Map
		typ      ebpf.MapType
		key, val int
		fill     func(t *testing.T, m *ebpf.Map)
		top, div int
		want     string
	}{
		{
			name: "count by string, per-CPU summed, sorted by value",
			spec: program.Map{Name: "@c", Kind: program.Count, Keys: []program.Type{tStr16}},
			typ:  ebpf.PerCPUHash, key: 16, val: 8,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, s("bash", 16), u(3), u(4))
				put(t, m, s("sshd", 16), u(1))
				put(t, m, s("cron", 16), u(2))
			},
			want: "@c[sshd]: 1\n@c[cron]: 2\n@c[bash]: 7\n",
		},
		{
			name: "count top 2",
			spec: program.Map{Name: "@c", Kind: program.Count, Keys: []program.Type{tStr16}},
			typ:  ebpf.PerCPUHash, key: 16, val: 8,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, s("a", 16), u(2))
				put(t, m, s("b", 16), u(1))
				put(t, m, s("c", 16), u(3))
			},
			top:  2,
			want: "@c[a]: 2\n@c[c]: 3\n",
		},
		{
			name: "count div 2, sorted before dividing",
			spec: program.Map{Name: "@c", Kind: program.Count, Keys: []program.Type{tStr16}},
			typ:  ebpf.PerCPUHash, key: 16, val: 8,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, s("a", 16), u(2))
				put(t, m, s("b", 16), u(1))
				put(t, m, s("c", 16), u(3))
			},
			div:  2,
			want: "@c[b]: 0\n@c[a]: 1\n@c[c]: 1\n",
		},
		{
			name: "count without key in an array",
			spec: program.Map{Name: "@", Kind: program.Count},
			typ:  ebpf.PerCPUArray, key: 4, val: 8,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, u(0)[:4], u(5), u(6))
			},
			want: "@: 11\n",
		},
		{
			name: "signed sum by int keys",
			spec: program.Map{Name: "@", Kind: program.Sum, Keys: []program.Type{tInt}, Signed: true},
			typ:  ebpf.PerCPUHash, key: 8, val: 8,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, i(1), i(-2), i(-3))
				put(t, m, i(-2), i(3))
			},
			want: "@[1]: -5\n@[-2]: 3\n",
		},
		{
			name: "min over the CPUs that set it",
			spec: program.Map{Name: "@mn", Kind: program.Min, Keys: []program.Type{tStr8}, Signed: true},
			typ:  ebpf.PerCPUHash, key: 8, val: 16,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, s("x", 8), minmaxV(0, 0), minmaxV(-7, 1))
				put(t, m, s("y", 8), minmaxV(4, 1), minmaxV(9, 1))
				put(t, m, s("never", 8), minmaxV(0, 0))
			},
			// An entry no CPU set, as after zero(), prints 0 like bpftrace 0.17.
			want: "@mn[x]: -7\n@mn[never]: 0\n@mn[y]: 4\n",
		},
		{
			name: "max signed and unset CPUs ignored",
			spec: program.Map{Name: "@mx", Kind: program.Max, Signed: true},
			typ:  ebpf.PerCPUHash, key: 8, val: 16,
			fill: func(t *testing.T, m *ebpf.Map) {
				// Two CPUs: this machine's size, and enough to show both.
				put(t, m, u(0), minmaxV(-9, 1), minmaxV(100, 0))
			},
			want: "@mx: -9\n",
		},
		{
			name: "avg sorted by average, truncating toward zero",
			spec: program.Map{Name: "@a", Kind: program.Avg, Keys: []program.Type{tStr8}, Signed: true},
			typ:  ebpf.PerCPUHash, key: 8, val: 16,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, s("x", 8), b(i(1), i(10)))
				put(t, m, s("y", 8), b(i(1), i(1)), b(i(1), i(2)))
				put(t, m, s("z", 8), b(i(2), i(-9)))
			},
			want: "@a[z]: -4\n@a[y]: 1\n@a[x]: 10\n\n",
		},
		{
			name: "stats ignore top and div",
			spec: program.Map{Name: "@st", Kind: program.Stats, Signed: true},
			typ:  ebpf.PerCPUHash, key: 8, val: 16,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, u(0), b(i(1), i(10)), b(i(1), i(-3)))
			},
			top: 1, div: 2,
			want: "@st: count 2, average 3, total 7\n\n",
		},
		{
			name: "hist grouped by key, sorted by total, trimmed",
			spec: program.Map{Name: "@h", Kind: program.Hist, Keys: []program.Type{tStr8}},
			typ:  ebpf.PerCPUHash, key: 16, val: 8,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, b(s("big", 8), u(2)), u(1), u(1))
				put(t, m, b(s("big", 8), u(4)), u(1))
				put(t, m, b(s("big", 8), u(5)), u(0))
				put(t, m, b(s("small", 8), u(1)), u(1))
			},
			want: "@h[small]: \n[0]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n" +
				"@h[big]: \n" +
				"[1]                    2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[2, 4)                 0 |                                                    |\n" +
				"[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\n",
		},
		{
			name: "hist div keeps bars",
			spec: program.Map{Name: "@h", Kind: program.Hist},
			typ:  ebpf.PerCPUHash, key: 8, val: 8,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, u(1), u(2))
				put(t, m, u(2), u(1))
			},
			div: 2,
			want: "@h: \n[0]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[1]                    0 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n\n",
		},
		{
			name: "lhist",
			spec: program.Map{Name: "@l", Kind: program.LHist, LHist: program.LHistParams{Min: 0, Max: 5000, Step: 1000}},
			typ:  ebpf.PerCPUHash, key: 8, val: 8,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, u(0), u(1))
				put(t, m, u(2), u(1))
				put(t, m, u(6), u(1))
			},
			want: "@l: \n" +
				"(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[0, 1000)              0 |                                                    |\n" +
				"[1000, 2000)           1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[2000, 3000)           0 |                                                    |\n" +
				"[3000, 4000)           0 |                                                    |\n" +
				"[4000, 5000)           0 |                                                    |\n" +
				"[5000, ...)            1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n",
		},
		{
			name: "string values sorted by key",
			spec: program.Map{Name: "@s", Kind: program.Value, Keys: []program.Type{tStr8}, Value: tStr16},
			typ:  ebpf.Hash, key: 8, val: 16,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, s("z", 8), s("zz", 16))
				put(t, m, s("a", 8), s("aa", 16))
				put(t, m, s("m", 8), s("mm", 16))
			},
			want: "@s[a]: aa\n@s[m]: mm\n@s[z]: zz\n",
		},
		{
			name: "int keys sort unsigned",
			spec: program.Map{Name: "@x", Kind: program.Value, Keys: []program.Type{tInt}, Value: tStr8},
			typ:  ebpf.Hash, key: 8, val: 8,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, i(-1), s("a", 8))
				put(t, m, i(3), s("b", 8))
				put(t, m, i(2), s("c", 8))
			},
			want: "@x[2]: c\n@x[3]: b\n@x[-1]: a\n",
		},
		{
			name: "int values sorted by value, tuple keys",
			spec: program.Map{Name: "@t", Kind: program.Value, Keys: []program.Type{tInt, tStr8}, Value: tInt},
			typ:  ebpf.Hash, key: 16, val: 8,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, b(i(1), s("b", 8)), i(5))
				put(t, m, b(i(1), s("a", 8)), i(5))
				put(t, m, b(i(0), s("z", 8)), i(-1))
			},
			want: "@t[0, z]: -1\n@t[1, a]: 5\n@t[1, b]: 5\n",
		},
		{
			name: "tuple value and probe key",
			spec: program.Map{Name: "@v", Kind: program.Value, Keys: []program.Type{tProbe}, Value: tTuple},
			typ:  ebpf.Hash, key: 8, val: 24,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, u(1), b(i(-3), s("ab", 8), u(7)))
			},
			want: "@v[profile:hz:99]: (-3, ab, 7)\n",
		},
		{
			name: "ksym value without symbols prints hex",
			spec: program.Map{Name: "@k", Kind: program.Value, Value: tKSym},
			typ:  ebpf.Hash, key: 8, val: 8,
			fill: func(t *testing.T, m *ebpf.Map) {
				put(t, m, u(0), u(0xffffffff81000010))
			},
			want: "@k: 0xffffffff81000010\n",
		},
		{
			name: "empty map",
			spec: program.Map{Name: "@e", Kind: program.Count, Keys: []program.Type{tInt}},
			typ:  ebpf.PerCPUHash, key: 8, val: 8,
			fill: func(t *testing.T, m *ebpf.Map) {},
			want: "\n",
		},
	}
	spec := &program.Spec{Probes: []program.Probe{{Name: "BEGIN"}, {Name: "profile:hz:99"}}}
	d, err := NewDecoder(spec, nil, WithSymbolizer(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMap(t, tc.typ, tc.key, tc.val)
			tc.fill(t, m)
			got, err := d.ReadMap(m, tc.spec, tc.top, tc.div)
			if err != nil {
				t.Fatal(err)
			}
			if text := record.FormatMap(got); text != tc.want {
				t.Errorf("got\n%s\nwant\n%s", text, tc.want)
			}
		})
	}
}

func TestClearAndZero(t *testing.T) {
	requireBPF(t)
	tests := []struct {
		name      string
		typ       ebpf.MapType
		clear     bool
		wantKeys  int
		wantValue uint64 // sum of all values afterwards
	}{
		{"clear hash", ebpf.Hash, true, 0, 0},
		{"clear per-CPU hash", ebpf.PerCPUHash, true, 0, 0},
		{"zero hash keeps keys", ebpf.Hash, false, 3, 0},
		{"zero per-CPU hash keeps keys", ebpf.PerCPUHash, false, 3, 0},
		{"clear array zeroes", ebpf.Array, true, 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ebpf.NewMap(&ebpf.MapSpec{Type: tc.typ, KeySize: 4, ValueSize: 8, MaxEntries: 3})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			for k := uint32(0); k < 3; k++ {
				put(t, m, u(uint64(k))[:4], u(uint64(k+1)), u(5))
			}
			if tc.clear {
				err = ClearMap(m, program.Map{Name: "@m"})
			} else {
				err = ZeroMap(m, program.Map{Name: "@m"})
			}
			if err != nil {
				t.Fatal(err)
			}
			keys, err := allKeys(m)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != tc.wantKeys {
				t.Errorf("%d keys left, want %d", len(keys), tc.wantKeys)
			}
			spec := program.Map{Name: "@m", Kind: program.Sum}
			if tc.typ == ebpf.Hash || tc.typ == ebpf.Array {
				spec = program.Map{Name: "@m", Kind: program.Value, Value: tUint}
			}
			d, _ := NewDecoder(&program.Spec{}, nil, WithSymbolizer(nil))
			entries, err := d.readEntries(m, spec)
			if err != nil {
				t.Fatal(err)
			}
			var sum uint64
			for _, e := range entries {
				sum += e.value
			}
			if sum != tc.wantValue {
				t.Errorf("values sum to %d, want %d", sum, tc.wantValue)
			}
		})
	}
}

// TestZeroThenPrint zeroes maps of every aggregation and prints them; the
// expected text is bpftrace 0.17's output for
//
//	BEGIN { @h = hist(5); @hk[1] = hist(5); @l = lhist(5, 0, 10, 1); @s = stats(5);
//	        @a = avg(5); @mx = max(5); @c = count(); zero(@h); ...; exit(); }
func TestZeroThenPrint(t *testing.T) {
	requireBPF(t)
	d, err := NewDecoder(&program.Spec{}, nil, WithSymbolizer(nil))
	if err != nil {
		t.Fatal(err)
	}
	maps := []struct {
		spec     program.Map
		typ      ebpf.MapType
		key, val int
		k, v     []byte
	}{
		{program.Map{Name: "@a", Kind: program.Avg, Signed: true}, ebpf.PerCPUHash, 8, 16, u(0), b(i(1), i(5))},
		{program.Map{Name: "@c", Kind: program.Count}, ebpf.PerCPUArray, 4, 8, u(0)[:4], u(1)},
		{program.Map{Name: "@h", Kind: program.Hist}, ebpf.PerCPUHash, 8, 8, u(4), u(1)},
		{program.Map{Name: "@hk", Kind: program.Hist, Keys: []program.Type{tInt}}, ebpf.PerCPUHash, 16, 8, b(i(1), u(4)), u(1)},
		{program.Map{Name: "@l", Kind: program.LHist, LHist: program.LHistParams{Min: 0, Max: 10, Step: 1}}, ebpf.PerCPUHash, 8, 8, u(6), u(1)},
		{program.Map{Name: "@mx", Kind: program.Max, Signed: true}, ebpf.PerCPUHash, 8, 16, u(0), b(i(5), u(1))},
		{program.Map{Name: "@s", Kind: program.Stats, Signed: true}, ebpf.PerCPUHash, 8, 16, u(0), b(i(1), i(5))},
	}
	var got string
	for _, mc := range maps {
		m := newMap(t, mc.typ, mc.key, mc.val)
		put(t, m, mc.k, mc.v)
		if err := ZeroMap(m, mc.spec); err != nil {
			t.Fatal(err)
		}
		rm, err := d.ReadMap(m, mc.spec, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		got += record.FormatMap(rm)
	}
	const want = "@a: 0\n\n@c: 0\n@h: \n\n@hk[1]: \n\n@l: \n\n@mx: 0\n@s: count 0, average 0, total 0\n\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestDecoderMapByIndex(t *testing.T) {
	requireBPF(t)
	m := newMap(t, ebpf.PerCPUHash, 8, 8)
	put(t, m, u(0), u(3))
	spec := &program.Spec{Maps: []program.Map{
		{Name: "@c", BPFName: "AT_c", Kind: program.Count},
		{Name: "@gone", BPFName: "AT_gone", Kind: program.Count},
	}}
	d, err := NewDecoder(spec, &ebpf.Collection{Maps: map[string]*ebpf.Map{"AT_c": m}}, WithSymbolizer(nil))
	if err != nil {
		t.Fatal(err)
	}
	rm, err := d.Map(0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := record.FormatMap(rm); got != "@c: 3\n" {
		t.Errorf("Map(0) printed %q", got)
	}
	if _, err := d.Map(2, 0, 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("Map(2): err = %v, want ErrMalformed", err)
	}
	if _, err := d.Map(1, 0, 0); err == nil {
		t.Error("Map(1) of an unloaded map succeeded")
	}
}
