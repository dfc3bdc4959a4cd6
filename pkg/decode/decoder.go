package decode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/symbol"
)

// ErrMalformed is wrapped when kernel bytes do not have the layout the
// program's Spec promises: the compiler and the decoder disagree.
var ErrMalformed = errors.New("malformed data from the kernel")

// Symbolizer names code addresses. *symbol.Resolver implements it.
type Symbolizer interface {
	KernelFrame(addr uint64) string
	KernelSym(addr uint64) string
	UserFrame(pid uint32, addr uint64) string
	UserSym(pid uint32, addr uint64) string
}

var _ Symbolizer = (*symbol.Resolver)(nil)

// hexSymbols is the Symbolizer used when none is given: every address
// prints as hex, as bpftrace prints what it cannot resolve.
type hexSymbols struct{}

func (hexSymbols) KernelFrame(a uint64) string         { return symbol.Hex(a) }
func (hexSymbols) KernelSym(a uint64) string           { return symbol.Hex(a) }
func (hexSymbols) UserFrame(_ uint32, a uint64) string { return symbol.Hex(a) }
func (hexSymbols) UserSym(_ uint32, a uint64) string   { return symbol.Hex(a) }

// Decoder decodes the events and maps of one loaded program.
type Decoder struct {
	spec    *program.Spec
	maps    map[string]*ebpf.Map
	syms    Symbolizer
	kstacks *ebpf.Map
	ustacks *ebpf.Map

	// formats caches each printf's parsed format by event id. Events are
	// decoded by one goroutine at a time (the runner's event loop), so the
	// cache needs no lock.
	formats []*Format
}

// Option configures a Decoder.
type Option func(*Decoder)

// WithSymbolizer makes the Decoder name addresses with s instead of a
// symbol.Resolver of this host. A nil s prints every address as hex.
func WithSymbolizer(s Symbolizer) Option {
	return func(d *Decoder) {
		if s == nil {
			s = hexSymbols{}
		}
		d.syms = s
	}
}

// NewDecoder returns a Decoder for spec whose maps were loaded in coll
// (which may be nil for a program without maps). The stack maps named by
// spec must be in coll if the program takes stacks. Addresses are named
// from this host's /proc/kallsyms and processes unless WithSymbolizer says
// otherwise.
func NewDecoder(spec *program.Spec, coll *ebpf.Collection, opts ...Option) (*Decoder, error) {
	maps := map[string]*ebpf.Map{}
	if coll != nil {
		maps = coll.Maps
	}
	d := &Decoder{spec: spec, maps: maps}
	for _, o := range opts {
		if o != nil {
			o(d)
		}
	}
	if d.syms == nil {
		d.syms = symbol.NewResolver()
	}
	for _, sm := range []struct {
		name string
		dst  **ebpf.Map
	}{{spec.KStackMap, &d.kstacks}, {spec.UStackMap, &d.ustacks}} {
		if sm.name == "" {
			continue
		}
		m, ok := maps[sm.name]
		if !ok {
			return nil, fmt.Errorf("stack map %q of the program was not loaded: this is a bug in xtrace", sm.name)
		}
		*sm.dst = m
	}
	return d, nil
}

// EventKind classifies a ring buffer record.
type EventKind int

const (
	EventPrintf EventKind = iota // printf() or print(value): Text is set
	EventExit                    // exit() was called
	EventPrint                   // print(@m, top, div): Map, Top, Div are set
	EventClear                   // clear(@m): Map is set
	EventZero                    // zero(@m): Map is set
)

// Event is one decoded ring buffer record.
type Event struct {
	Kind EventKind
	Text string // EventPrintf: the formatted text
	Map  int    // EventPrint, EventClear, EventZero: index into Spec.Maps
	Top  int    // EventPrint: keep the largest Top entries (0: all)
	Div  int    // EventPrint: divide values by Div (0: don't)
}

// Event decodes one ring buffer record.
func (d *Decoder) Event(raw []byte) (Event, error) {
	if len(raw) < 8 {
		return Event{}, fmt.Errorf("event of %d bytes has no id: %w", len(raw), ErrMalformed)
	}
	id := binary.NativeEndian.Uint64(raw)
	body := raw[8:]
	switch id {
	case program.EventExit:
		return Event{Kind: EventExit}, nil
	case program.EventPrint:
		w, err := words(body, 3)
		if err != nil {
			return Event{}, fmt.Errorf("print event: %w", err)
		}
		if err := d.checkMapIndex(w[0]); err != nil {
			return Event{}, err
		}
		return Event{Kind: EventPrint, Map: int(w[0]), Top: int(w[1]), Div: int(w[2])}, nil
	case program.EventClear, program.EventZero:
		w, err := words(body, 1)
		if err != nil {
			return Event{}, fmt.Errorf("clear/zero event: %w", err)
		}
		if err := d.checkMapIndex(w[0]); err != nil {
			return Event{}, err
		}
		kind := EventClear
		if id == program.EventZero {
			kind = EventZero
		}
		return Event{Kind: kind, Map: int(w[0])}, nil
	}
	if id >= uint64(len(d.spec.Printfs)) {
		return Event{}, fmt.Errorf("unknown event id %#x (the program has %d printf calls): %w", id, len(d.spec.Printfs), ErrMalformed)
	}
	pf := d.spec.Printfs[id]
	args, err := d.values(pf.Args, body)
	if err != nil {
		return Event{}, fmt.Errorf("printf %q: %w", pf.Format, err)
	}
	f, err := d.format(id)
	if err != nil {
		return Event{}, err
	}
	text, err := f.Apply(args)
	if err != nil {
		return Event{}, err
	}
	return Event{Kind: EventPrintf, Text: text}, nil
}

// format returns printf id's parsed format, parsing it on first use.
func (d *Decoder) format(id uint64) (*Format, error) {
	if d.formats == nil {
		d.formats = make([]*Format, len(d.spec.Printfs))
	}
	if f := d.formats[id]; f != nil {
		return f, nil
	}
	f, err := ParseFormat(d.spec.Printfs[id].Format)
	if err != nil {
		return nil, err
	}
	d.formats[id] = f
	return f, nil
}

func (d *Decoder) checkMapIndex(i uint64) error {
	if i >= uint64(len(d.spec.Maps)) {
		return fmt.Errorf("map index %d out of range (%d maps): %w", i, len(d.spec.Maps), ErrMalformed)
	}
	return nil
}

func words(b []byte, n int) ([]uint64, error) {
	if len(b) < 8*n {
		return nil, fmt.Errorf("%d bytes, want %d: %w", len(b), 8*n, ErrMalformed)
	}
	w := make([]uint64, n)
	for i := range w {
		w[i] = binary.NativeEndian.Uint64(b[8*i:])
	}
	return w, nil
}

// Size returns the number of bytes a value of type t occupies.
func Size(t program.Type) int {
	switch t.Kind {
	case program.Int, program.KStack, program.KSym, program.ProbeName:
		return 8
	case program.UStack, program.USym:
		return 16
	case program.String:
		return t.Size
	case program.Tuple:
		if t.Size > 0 {
			return t.Size
		}
		n := 0
		for _, e := range t.Elems {
			n += align8(Size(e))
		}
		return n
	}
	return t.Size
}

func align8(n int) int { return (n + 7) &^ 7 }

// values decodes consecutive values laid out like a tuple of types.
func (d *Decoder) values(types []program.Type, b []byte) ([]record.Value, error) {
	vals := make([]record.Value, 0, len(types))
	off := 0
	for i, t := range types {
		n := Size(t)
		if off+n > len(b) {
			return nil, fmt.Errorf("value %d (%d bytes at offset %d) past the end of %d bytes: %w", i, n, off, len(b), ErrMalformed)
		}
		v, err := d.Value(t, b[off:off+n])
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
		off += align8(n)
	}
	return vals, nil
}

// Value decodes one value of type t from b, which holds exactly its bytes.
func (d *Decoder) Value(t program.Type, b []byte) (record.Value, error) {
	if len(b) < Size(t) {
		return record.Value{}, fmt.Errorf("%d bytes for a value of %d: %w", len(b), Size(t), ErrMalformed)
	}
	u := func(i int) uint64 { return binary.NativeEndian.Uint64(b[8*i:]) }
	switch t.Kind {
	case program.Int:
		if t.Signed {
			return record.Value{Kind: record.Int, Int: int64(u(0))}, nil
		}
		return record.Value{Kind: record.Uint, Uint: u(0)}, nil
	case program.String:
		s := b[:t.Size]
		if i := bytes.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		return record.Value{Kind: record.String, Str: string(s)}, nil
	case program.KStack:
		frames, err := d.stack(d.kstacks, int64(u(0)), func(a uint64) string { return d.syms.KernelFrame(a) })
		return record.Value{Kind: record.KStack, Stack: frames}, err
	case program.UStack:
		pid := uint32(u(1))
		frames, err := d.stack(d.ustacks, int64(u(0)), func(a uint64) string { return d.syms.UserFrame(pid, a) })
		return record.Value{Kind: record.UStack, Stack: frames}, err
	case program.KSym:
		return record.Value{Kind: record.Sym, Str: d.syms.KernelSym(u(0))}, nil
	case program.USym:
		return record.Value{Kind: record.Sym, Str: d.syms.UserSym(uint32(u(1)), u(0))}, nil
	case program.ProbeName:
		i := u(0)
		if i >= uint64(len(d.spec.Probes)) {
			return record.Value{}, fmt.Errorf("probe index %d out of range (%d probes): %w", i, len(d.spec.Probes), ErrMalformed)
		}
		return record.Value{Kind: record.Sym, Str: d.spec.Probes[i].Name}, nil
	case program.Tuple:
		elems, err := d.values(t.Elems, b)
		if err != nil {
			return record.Value{}, err
		}
		return record.Value{Kind: record.Tuple, Tuple: elems}, nil
	}
	return record.Value{}, fmt.Errorf("value of unknown type kind %d: %w", t.Kind, ErrMalformed)
}

// stack reads the frames of stack id from a stack trace map. A negative id
// (the kernel could not take the stack) or an id that is gone yields no
// frames, which prints as an empty stack like bpftrace's.
func (d *Decoder) stack(m *ebpf.Map, id int64, name func(uint64) string) ([]string, error) {
	if id < 0 {
		return nil, nil
	}
	if m == nil {
		return nil, fmt.Errorf("a stack was taken but the program has no stack map: %w", ErrMalformed)
	}
	raw, err := m.LookupBytes(uint32(id))
	if err != nil {
		return nil, fmt.Errorf("reading stack %d: %w", id, err)
	}
	var frames []string
	for off := 0; off+8 <= len(raw); off += 8 {
		addr := binary.NativeEndian.Uint64(raw[off:])
		if addr == 0 {
			break
		}
		frames = append(frames, name(addr))
	}
	return frames, nil
}
