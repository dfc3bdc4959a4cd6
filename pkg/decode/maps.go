package decode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

// Map reads user map number index of the Spec (as named in print, clear and
// zero events) from the maps the Decoder was built with.
func (d *Decoder) Map(index, top, div int) (*record.Map, error) {
	if index < 0 || index >= len(d.spec.Maps) {
		return nil, fmt.Errorf("map index %d out of range (%d maps): %w", index, len(d.spec.Maps), ErrMalformed)
	}
	spec := d.spec.Maps[index]
	m, ok := d.maps[spec.BPFName]
	if !ok {
		return nil, fmt.Errorf("map %s (%s) was not loaded: pass the program's collection to NewDecoder", spec.Name, spec.BPFName)
	}
	return d.ReadMap(m, spec, top, div)
}

// entry is one user key of a map while it is being read: its key bytes, the
// decoded key, and the merged value in the form its kind needs.
type entry struct {
	rawKey []byte
	key    []record.Value

	// sortKey orders entries whose kind sorts by value; signed says how to
	// compare it.
	sortKey uint64
	signed  bool

	value   uint64         // count, sum, min, max: merged value; avg: the average
	count   uint64         // avg, stats
	total   uint64         // avg, stats
	buckets map[int]uint64 // hist, lhist
	plain   *record.Value  // value maps
}

// ReadMap reads a live map laid out as spec describes, merges per-CPU
// values, and returns the entries sorted, cut to the largest top entries
// (top > 0) and divided by div (div > 1) exactly as bpftrace 0.17 prints
// them.
func (d *Decoder) ReadMap(m *ebpf.Map, spec program.Map, top, div int) (*record.Map, error) {
	entries, err := d.readEntries(m, spec)
	if err != nil {
		return nil, fmt.Errorf("reading map %s: %w", spec.Name, err)
	}
	sortEntries(entries, spec)
	if top > 0 && top < len(entries) && spec.Kind != program.Stats {
		entries = entries[len(entries)-top:]
	}
	out := &record.Map{Name: spec.Name, Kind: spec.Kind.String(), Entries: make([]record.Entry, 0, len(entries))}
	if spec.Kind == program.LHist {
		out.LHist = &record.LHistParams{Min: spec.LHist.Min, Max: spec.LHist.Max, Step: spec.LHist.Step}
	}
	for _, e := range entries {
		out.Entries = append(out.Entries, e.record(spec, uint64(max(div, 1))))
	}
	return out, nil
}

func (d *Decoder) readEntries(m *ebpf.Map, spec program.Map) ([]*entry, error) {
	keySize := 0
	for _, k := range spec.Keys {
		keySize += align8(Size(k))
	}
	histogram := spec.Kind == program.Hist || spec.Kind == program.LHist
	perCPU := m.Type() == ebpf.PerCPUHash || m.Type() == ebpf.PerCPUArray

	byKey := map[string]*entry{}
	var order []*entry
	var key []byte
	var cpuVals [][]byte
	var val []byte
	it := m.Iterate()
	for {
		var ok bool
		if perCPU {
			ok = it.Next(&key, &cpuVals)
		} else {
			ok = it.Next(&key, &val)
			cpuVals = [][]byte{val}
		}
		if !ok {
			break
		}
		userKey := key
		bucket := 0
		if histogram {
			// The bucket index is always the key's last 8 bytes; what
			// precedes it is the user key, or for a map without keys
			// nothing or the 8-byte 0 key, depending on the code generator.
			if len(key) < keySize+8 {
				return nil, fmt.Errorf("histogram key of %d bytes, want %d: %w", len(key), keySize+8, ErrMalformed)
			}
			userKey = key[:len(key)-8]
			bucket = int(binary.NativeEndian.Uint64(key[len(key)-8:]))
		}
		e, seen := byKey[string(userKey)]
		if !seen {
			e = &entry{rawKey: bytes.Clone(userKey), buckets: map[int]uint64{}}
			if len(spec.Keys) > 0 {
				k, err := d.values(spec.Keys, userKey)
				if err != nil {
					return nil, fmt.Errorf("key: %w", err)
				}
				e.key = k
			}
			byKey[string(userKey)] = e
			order = append(order, e)
		}
		if err := d.merge(e, spec, bucket, cpuVals); err != nil {
			return nil, err
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	// A min or max entry no CPU has set (as after zero()) keeps value 0:
	// bpftrace 0.17 prints `@mx: 0` after zero(@mx).
	return order, nil
}

// merge folds one map element's per-CPU values into its entry.
func (d *Decoder) merge(e *entry, spec program.Map, bucket int, cpuVals [][]byte) error {
	word := func(b []byte, i int) (uint64, error) {
		if len(b) < 8*(i+1) {
			return 0, fmt.Errorf("%s value of %d bytes: %w", spec.Kind, len(b), ErrMalformed)
		}
		return binary.NativeEndian.Uint64(b[8*i:]), nil
	}
	e.signed = spec.Signed
	for _, b := range cpuVals {
		switch spec.Kind {
		case program.Count, program.Sum:
			v, err := word(b, 0)
			if err != nil {
				return err
			}
			e.value += v
			e.signed = spec.Kind == program.Sum && spec.Signed
		case program.Min, program.Max:
			v, err := word(b, 0)
			if err != nil {
				return err
			}
			isset, err := word(b, 1)
			if err != nil {
				return err
			}
			if isset == 0 {
				continue
			}
			better := less(v, e.value, spec.Signed)
			if spec.Kind == program.Max {
				better = less(e.value, v, spec.Signed)
			}
			if e.count == 0 || better {
				e.value = v
			}
			e.count++ // number of CPUs that set it
		case program.Avg, program.Stats:
			c, err := word(b, 0)
			if err != nil {
				return err
			}
			t, err := word(b, 1)
			if err != nil {
				return err
			}
			e.count += c
			e.total += t
		case program.Hist, program.LHist:
			v, err := word(b, 0)
			if err != nil {
				return err
			}
			e.buckets[bucket] += v
		case program.Value:
			v, err := d.Value(spec.Value, b)
			if err != nil {
				return fmt.Errorf("value: %w", err)
			}
			e.plain = &v
			if spec.Value.Kind == program.Int {
				e.value = v.Uint
				if v.Kind == record.Int {
					e.value = uint64(v.Int)
				}
				e.signed = spec.Value.Signed
			}
		default:
			return fmt.Errorf("map kind %d: %w", spec.Kind, ErrMalformed)
		}
	}
	switch spec.Kind {
	case program.Avg, program.Stats:
		e.value = average(e.total, e.count, spec.Signed)
		e.signed = spec.Signed
	case program.Hist, program.LHist:
		e.value = 0
		for _, c := range e.buckets {
			e.value += c
		}
		e.signed = false
	}
	return nil
}

func average(total, count uint64, signed bool) uint64 {
	if count == 0 {
		return 0
	}
	if signed {
		return uint64(int64(total) / int64(count))
	}
	return total / count
}

func less(a, b uint64, signed bool) bool {
	if signed {
		return int64(a) < int64(b)
	}
	return a < b
}

// sortEntries orders entries as bpftrace 0.17's print_map* functions do:
// by value for counts, sums, min, max and integer values; by total count for
// histograms; by average for avg and stats; by key for everything else.
// bpftrace leaves ties in hash order; here ties fall back to key order so
// output is stable.
func sortEntries(es []*entry, spec program.Map) {
	sort.SliceStable(es, func(i, j int) bool { return keyLess(es[i], es[j], spec.Keys) })
	byValue := true
	if spec.Kind == program.Value && spec.Value.Kind != program.Int {
		byValue = false
	}
	if byValue {
		sort.SliceStable(es, func(i, j int) bool { return less(es[i].value, es[j].value, es[i].signed) })
	}
}

// keyLess compares keys element by element, first to last, the order
// bpftrace's stable sorts from the last element to the first produce.
// Integers compare as unsigned and strings byte-wise, as bpftrace does;
// other elements fall back to their raw bytes.
func keyLess(a, b *entry, types []program.Type) bool {
	for i := range a.key {
		if i >= len(b.key) || i >= len(types) {
			break
		}
		switch types[i].Kind {
		case program.Int:
			x, y := rawUint(a.key[i]), rawUint(b.key[i])
			if x != y {
				return x < y
			}
		case program.String:
			if c := strings.Compare(a.key[i].Str, b.key[i].Str); c != 0 {
				return c < 0
			}
		}
	}
	return bytes.Compare(a.rawKey, b.rawKey) < 0
}

func rawUint(v record.Value) uint64 {
	if v.Kind == record.Int {
		return uint64(v.Int)
	}
	return v.Uint
}

// record converts a merged entry to its record form, applying print's div.
func (e *entry) record(spec program.Map, div uint64) record.Entry {
	out := record.Entry{Key: e.key}
	divide := func(v uint64, signed bool) uint64 {
		if div <= 1 {
			return v
		}
		if signed {
			return uint64(int64(v) / int64(div))
		}
		return v / div
	}
	intValue := func(v uint64, signed bool) *record.Value {
		if signed {
			return &record.Value{Kind: record.Int, Int: int64(v)}
		}
		return &record.Value{Kind: record.Uint, Uint: v}
	}
	switch spec.Kind {
	case program.Count:
		out.Value = intValue(divide(e.value, false), false)
	case program.Sum, program.Min, program.Max, program.Avg:
		out.Value = intValue(divide(e.value, spec.Signed), spec.Signed)
	case program.Stats:
		out.Stats = &record.Stats{Count: int64(e.count), Average: int64(e.value), Total: int64(e.total)}
	case program.Hist, program.LHist:
		out.Buckets = e.histogram(div)
	case program.Value:
		if e.plain != nil && spec.Value.Kind == program.Int {
			out.Value = intValue(divide(e.value, spec.Value.Signed), spec.Value.Signed)
		} else {
			out.Value = e.plain
		}
	}
	return out
}

// histogram lists the buckets from the lowest to the highest non-zero one.
// With a div, counts are divided but Raw keeps the real count, which
// bpftrace uses for the bars and for choosing the rows.
func (e *entry) histogram(div uint64) []record.Bucket {
	lo, hi := -1, -1
	for i, c := range e.buckets {
		if c == 0 {
			continue
		}
		if lo < 0 || i < lo {
			lo = i
		}
		if i > hi {
			hi = i
		}
	}
	if lo < 0 {
		return nil
	}
	bs := make([]record.Bucket, 0, hi-lo+1)
	for i := lo; i <= hi; i++ {
		c := e.buckets[i]
		b := record.Bucket{Index: i, Count: c}
		if div > 1 {
			b.Count, b.Raw = c/div, c
		}
		bs = append(bs, b)
	}
	return bs
}

// ClearMap implements clear(@m) on m, the map spec describes: every key is
// deleted. Arrays cannot lose keys, so they are zeroed instead, as bpftrace
// does.
func ClearMap(m *ebpf.Map, spec program.Map) error {
	if m.Type() == ebpf.Array || m.Type() == ebpf.PerCPUArray {
		return ZeroMap(m, spec)
	}
	keys, err := allKeys(m)
	if err != nil {
		return fmt.Errorf("clearing %s: %w", spec.Name, err)
	}
	for _, k := range keys {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("clearing %s: %w", spec.Name, err)
		}
	}
	return nil
}

// ZeroMap implements zero(@m) on m, the map spec describes: every value
// becomes zero and the keys stay.
func ZeroMap(m *ebpf.Map, spec program.Map) error {
	keys, err := allKeys(m)
	if err != nil {
		return fmt.Errorf("zeroing %s: %w", spec.Name, err)
	}
	var zero any = make([]byte, m.ValueSize())
	if m.Type() == ebpf.PerCPUHash || m.Type() == ebpf.PerCPUArray {
		n, err := ebpf.PossibleCPU()
		if err != nil {
			return fmt.Errorf("zeroing %s: %w", spec.Name, err)
		}
		perCPU := make([][]byte, n)
		for i := range perCPU {
			perCPU[i] = make([]byte, m.ValueSize())
		}
		zero = perCPU
	}
	for _, k := range keys {
		// UpdateExist leaves alone a key deleted in the meantime.
		err := m.Update(k, zero, ebpf.UpdateExist)
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("zeroing %s: %w", spec.Name, err)
		}
	}
	return nil
}

// allKeys snapshots the keys first: deleting while walking a hash map with
// get_next_key can restart the walk or skip keys.
func allKeys(m *ebpf.Map) ([][]byte, error) {
	var keys [][]byte
	var k any // nil asks for the first key
	for {
		next, err := m.NextKeyBytes(k)
		if err != nil {
			return nil, fmt.Errorf("listing the keys: %w", err)
		}
		if next == nil {
			return keys, nil
		}
		keys = append(keys, next)
		k = next
	}
}
