// Package codegen compiles a checked program straight to eBPF instructions
// (github.com/cilium/ebpf/asm), the way ply does: no LLVM, no clang, no
// kernel headers.
//
// Compile expands every attach point (wildcards through program.Env), emits
// one eBPF program per expanded attach point, and lays out maps and events
// exactly as package program documents, so package decode can read them back.
package codegen

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/ast"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/check"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/diag"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// Defaults for Options.
const (
	DefaultRingBufSize     = 8 << 20
	DefaultMapMaxEntries   = 4096
	DefaultStackMapEntries = 8192
	stackDepth             = 127 // frames per stack, as bpftrace
)

// Names of the maps that are not user maps. User maps are named "AT_...",
// so these never collide with them.
const (
	OutputMapName  = "events"
	ElapsedMapName = "elapsed"
	LostMapName    = "lost"
	KStackMapName  = "kstacks"
	UStackMapName  = "ustacks"
	ScratchMapName = "scratch"
)

// Sentinel errors. Problems in the source come back as a diag.List instead;
// these wrap the causes user space may want to tell apart.
var (
	ErrTooLarge    = errors.New("program too large")
	ErrNoEnv       = errors.New("no kernel environment to resolve probes")
	ErrBadOptions  = errors.New("invalid codegen options")
	ErrNoField     = errors.New("no such field")
	ErrUnsupported = errors.New("unsupported")
	ErrInternal    = errors.New("internal compiler error")
)

// Options tune code generation.
type Options struct {
	Scope           program.Scope // in-kernel filter for every probe but BEGIN and END
	StrLen          int           // size of str() results; default 64
	RingBufSize     int           // bytes of the output ring buffer, a power of 2; default 8 MiB
	MapMaxEntries   int           // max keys per user map; default 4096
	StackMapEntries int           // max distinct stacks per stack map; default 8192
}

func (o *Options) setDefaults() error {
	if o.StrLen <= 0 {
		o.StrLen = check.DefaultStrLen
	}
	if o.StrLen > check.MaxStrLen {
		return fmt.Errorf("%w: StrLen %d is above the maximum %d", ErrBadOptions, o.StrLen, check.MaxStrLen)
	}
	if o.RingBufSize <= 0 {
		o.RingBufSize = DefaultRingBufSize
	}
	if o.RingBufSize&(o.RingBufSize-1) != 0 || o.RingBufSize < 4096 {
		return fmt.Errorf("%w: RingBufSize %d is not a power of 2 of at least 4096", ErrBadOptions, o.RingBufSize)
	}
	if o.MapMaxEntries <= 0 {
		o.MapMaxEntries = DefaultMapMaxEntries
	}
	if o.StackMapEntries <= 0 {
		o.StackMapEntries = DefaultStackMapEntries
	}
	// A scope that cannot match anything would silently trace nothing.
	switch s := o.Scope; {
	case s.Mode == program.ScopeCgroup && s.CgroupID == 0:
		return fmt.Errorf("%w: cgroup scope without a cgroup id", ErrBadOptions)
	case s.Mode == program.ScopePidNS && len(s.PidNamespaces) == 0:
		return fmt.Errorf("%w: pid namespace scope without namespaces", ErrBadOptions)
	case s.Mode == program.ScopePid && s.Pid == 0:
		return fmt.Errorf("%w: pid scope without a pid", ErrBadOptions)
	case s.Mode < program.ScopeNone || s.Mode > program.ScopePid:
		return fmt.Errorf("%w: unknown scope mode %d", ErrBadOptions, s.Mode)
	}
	return nil
}

// point is one expanded attach point: what one eBPF program is generated for.
type point struct {
	ap     *ast.AttachPoint
	probe  *ast.Probe
	kind   ast.ProbeKind
	target string
	fn     string
	format *program.TracepointFormat // tracepoints only
	index  int                       // in Spec.Probes
}

func (p *point) name() string {
	a := *p.ap
	a.Target, a.Func = p.target, p.fn
	return a.Name()
}

// compiler holds the state shared by all programs of one Spec.
type compiler struct {
	prog *ast.Program
	file *ast.File
	info *check.Info
	env  program.Env
	opts Options
	errs diag.List

	points map[*ast.Probe][]*point
	all    []*point
	maps   map[string]*userMap
	spec   *program.Spec

	usesElapsed, usesKStack, usesUStack, usesOutput bool
	scratchSize                                     int
	printfIDs                                       map[*ast.CallExpr]uint64
}

// userMap is a user map and its BPF layout.
type userMap struct {
	info    *check.MapInfo
	bpfName string
	index   int // in Spec.Maps
	keySize int // the user key, without the hist/lhist bucket
}

// Compile generates the eBPF programs and maps for prog. info is the
// checker's result for prog; when the program reads tracepoint fields or was
// checked with another string size, Compile checks it again with the field
// types from env. Errors about the source come back as a diag.List.
func Compile(prog *ast.Program, info *check.Info, env program.Env, opts Options) (*program.Spec, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if prog == nil || len(prog.Probes) == 0 {
		return nil, check.ErrNoProgram
	}
	c := &compiler{prog: prog, file: prog.File, env: env, opts: opts, maps: map[string]*userMap{},
		points: map[*ast.Probe][]*point{}}
	if c.file == nil {
		c.file = ast.NewFile("", "")
	}
	if err := c.expand(); err != nil {
		return nil, err
	}
	if err := c.errs.Err(); err != nil {
		return nil, err
	}
	if info == nil || info.StrLen != (opts.StrLen+7)&^7 || (usesArgs(prog) && !info.FieldsResolved) {
		var err error
		info, err = check.CheckOptions(prog, check.Options{StrLen: opts.StrLen, Field: c.fieldType})
		if err != nil {
			return nil, err
		}
	}
	c.info = info
	c.spec = &program.Spec{
		Collection: &ebpf.CollectionSpec{
			Maps:     map[string]*ebpf.MapSpec{},
			Programs: map[string]*ebpf.ProgramSpec{},
		},
		OutputMap: OutputMapName,
		Scope:     opts.Scope,
	}
	c.layoutMaps()
	for _, pt := range c.all {
		c.program(pt)
	}
	if err := c.errs.Err(); err != nil {
		return nil, err
	}
	c.systemMaps()
	return c.spec, nil
}

// usesArgs reports whether any probe reads a tracepoint field.
func usesArgs(prog *ast.Program) bool {
	found := false
	for _, p := range prog.Probes {
		inspect(p, func(n ast.Node) {
			if _, ok := n.(*ast.FieldExpr); ok {
				found = true
			}
		})
	}
	return found
}

// expand resolves every attach point into the concrete points programs are
// generated for, in source order.
func (c *compiler) expand() error {
	for _, p := range c.prog.Probes {
		for _, ap := range p.Points {
			pts, err := c.expandPoint(p, ap)
			if err != nil {
				return err
			}
			for _, pt := range pts {
				pt.index = len(c.all)
				c.all = append(c.all, pt)
				c.points[p] = append(c.points[p], pt)
			}
		}
	}
	return nil
}

func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }

func (c *compiler) expandPoint(p *ast.Probe, ap *ast.AttachPoint) ([]*point, error) {
	one := &point{ap: ap, probe: p, kind: ap.Kind, target: ap.Target, fn: ap.Func}
	switch ap.Kind {
	case ast.Tracepoint:
		if c.env == nil {
			return nil, ErrNoEnv
		}
		pairs := [][2]string{{ap.Target, ap.Func}}
		if hasWildcard(ap.Target) || hasWildcard(ap.Func) {
			var err error
			pairs, err = c.env.MatchTracepoints(ap.Target, ap.Func)
			if err != nil {
				return nil, fmt.Errorf("expanding %s: %w", ap.Raw, err)
			}
			if len(pairs) == 0 {
				c.errs.Add(c.file, ap.Pos(), "tracepoint:%s:%s matches no tracepoint", ap.Target, ap.Func)
				return nil, nil
			}
		}
		var out []*point
		for _, pair := range pairs {
			format, err := c.env.Tracepoint(pair[0], pair[1])
			if errors.Is(err, program.ErrNotFound) {
				c.errs.Add(c.file, ap.Pos(), "tracepoint %s:%s does not exist on this kernel", pair[0], pair[1])
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("reading tracepoint %s:%s: %w", pair[0], pair[1], err)
			}
			out = append(out, &point{ap: ap, probe: p, kind: ap.Kind, target: pair[0], fn: pair[1], format: format})
		}
		return out, nil
	case ast.Kprobe, ast.Kretprobe:
		if !hasWildcard(ap.Func) {
			return []*point{one}, nil
		}
		if c.env == nil {
			return nil, ErrNoEnv
		}
		fns, err := c.env.MatchKernelFuncs(ap.Func)
		if err != nil {
			return nil, fmt.Errorf("expanding %s: %w", ap.Raw, err)
		}
		if len(fns) == 0 {
			c.errs.Add(c.file, ap.Pos(), "%s:%s matches no kernel function", ap.Kind, ap.Func)
		}
		out := make([]*point, len(fns))
		for i, name := range fns {
			out[i] = &point{ap: ap, probe: p, kind: ap.Kind, fn: name}
		}
		return out, nil
	case ast.Uprobe, ast.Uretprobe:
		if hasWildcard(ap.Func) || hasWildcard(ap.Target) {
			c.errs.Add(c.file, ap.Pos(), "%s does not support wildcards; name the binary and symbol exactly", ap.Kind)
			return nil, nil
		}
	}
	return []*point{one}, nil
}

// fieldType types args.F for the checker from the formats of every
// tracepoint the probe block expands to; they must agree.
func (c *compiler) fieldType(p *ast.Probe, f *ast.FieldExpr) (program.Type, error) {
	var t program.Type
	for i, pt := range c.points[p] {
		if pt.format == nil {
			continue
		}
		fld, err := findField(pt.format, f.Field)
		if err != nil {
			return t, err
		}
		ft, err := fieldValueType(fld)
		if err != nil {
			return t, fmt.Errorf("%s:%s: %w", pt.target, pt.fn, err)
		}
		if i > 0 && (ft.Kind != t.Kind) {
			return t, fmt.Errorf("field %s has different types in the tracepoints this probe matches", f.Field)
		}
		if i == 0 || ft.Size > t.Size {
			t = ft
		}
	}
	return t, nil
}

func findField(format *program.TracepointFormat, name string) (*program.TracepointField, error) {
	var names []string
	for i := range format.Fields {
		fld := &format.Fields[i]
		if fld.Name == name {
			return fld, nil
		}
		if !strings.HasPrefix(fld.Name, "common_") {
			names = append(names, fld.Name)
		}
	}
	return nil, fmt.Errorf("tracepoint %s:%s has no field %q (its fields: %s): %w",
		format.Category, format.Name, name, strings.Join(names, ", "), ErrNoField)
}

// fieldValueType maps a tracepoint field to the value it yields: integers
// (pointers and __data_loc included, as addresses) or, for char arrays, a
// string.
func fieldValueType(f *program.TracepointField) (program.Type, error) {
	switch {
	case f.DataLoc || f.Pointer:
		return program.Type{Kind: program.Int, Size: 8}, nil
	case f.Array > 0 && strings.Contains(f.CType, "char"):
		return program.Type{Kind: program.String, Size: (f.Size + 7) &^ 7}, nil
	case f.Array > 0:
		return program.Type{}, fmt.Errorf("field %s is an array (%s), which cannot be read", f.Name, f.CType)
	}
	switch f.Size {
	case 1, 2, 4, 8:
		return program.Type{Kind: program.Int, Signed: f.Signed, Size: 8}, nil
	}
	return program.Type{}, fmt.Errorf("field %s has an unsupported size %d", f.Name, f.Size)
}

// layoutMaps names the user maps, orders them by name and creates their
// MapSpecs.
func (c *compiler) layoutMaps() {
	used := map[string]bool{}
	for i, mi := range c.info.SortedMaps() {
		um := &userMap{info: mi, index: i, bpfName: bpfMapName(mi.Name, i, used)}
		um.keySize = 8
		if len(mi.Keys) > 0 {
			um.keySize = 0
			for _, k := range mi.Keys {
				um.keySize += k.Size
			}
		}
		c.maps[mi.Name] = um
		pm := program.Map{Name: mi.Name, BPFName: um.bpfName, Kind: mi.Kind, Keys: mi.Keys, Value: mi.Value,
			Signed: mi.Signed, LHist: mi.LHist}
		c.spec.Maps = append(c.spec.Maps, pm)

		ms := &ebpf.MapSpec{Name: um.bpfName, Type: ebpf.PerCPUHash, KeySize: uint32(um.keySize),
			ValueSize: 8, MaxEntries: uint32(c.maxEntries(mi))}
		switch mi.Kind {
		case program.Value:
			ms.Type = ebpf.Hash
			ms.ValueSize = uint32(mi.Value.Size)
		case program.Min, program.Max, program.Avg, program.Stats:
			ms.ValueSize = 16
		case program.Hist, program.LHist:
			ms.KeySize += 8
		}
		c.spec.Collection.Maps[um.bpfName] = ms
	}
}

// log2Buckets is the number of hist() buckets: negative, zero, and one per
// power of two up to 2^63.
const log2Buckets = 66

// maxEntries sizes a user map. A map without keys holds one element, or one
// per bucket for histograms, so it is sized exactly rather than given the
// full MapMaxEntries, which per-CPU maps multiply by the number of CPUs.
func (c *compiler) maxEntries(mi *check.MapInfo) int {
	if len(mi.Keys) > 0 {
		return c.opts.MapMaxEntries
	}
	switch mi.Kind {
	case program.Hist:
		return log2Buckets
	case program.LHist:
		return int(uint64(mi.LHist.Max-mi.LHist.Min)/uint64(mi.LHist.Step)) + 2
	}
	return 1
}

// bpfMapName turns "@name" into a valid, unique kernel object name of at
// most 15 characters: "AT_name", truncated and suffixed with the map's index
// when needed.
func bpfMapName(name string, index int, used map[string]bool) string {
	var b strings.Builder
	b.WriteString("AT_")
	for _, r := range strings.TrimPrefix(name, "@") {
		if r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 15 || used[s] {
		suffix := fmt.Sprintf("_%d", index)
		if len(s) > 15-len(suffix) {
			s = s[:15-len(suffix)]
		}
		s += suffix
	}
	used[s] = true
	return s
}

// programName names the program for point pt: unique, at most 15 valid
// characters.
func programName(pt *point) string {
	base := pt.fn
	switch pt.kind {
	case ast.Begin, ast.End:
		base = pt.kind.String()
	case ast.Profile, ast.Interval:
		base = pt.kind.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "p%d_", pt.index)
	for _, r := range base {
		if b.Len() >= 15 {
			break
		}
		if r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// progType is the eBPF program type for each probe kind.
func progType(k ast.ProbeKind) ebpf.ProgramType {
	switch k {
	case ast.Begin, ast.End, ast.RawTracepoint:
		return ebpf.RawTracepoint
	case ast.Tracepoint:
		return ebpf.TracePoint
	case ast.Profile, ast.Interval:
		return ebpf.PerfEvent
	}
	return ebpf.Kprobe
}

// systemMaps adds the maps the programs share: the output ring buffer and,
// when used, the elapsed start time, the stack maps and the scratch buffer.
func (c *compiler) systemMaps() {
	maps := c.spec.Collection.Maps
	maps[OutputMapName] = &ebpf.MapSpec{Name: OutputMapName, Type: ebpf.RingBuf, MaxEntries: uint32(c.opts.RingBufSize)}
	if c.usesOutput {
		maps[LostMapName] = &ebpf.MapSpec{Name: LostMapName, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1}
		c.spec.LostMap = LostMapName
	}
	if c.usesElapsed {
		maps[ElapsedMapName] = &ebpf.MapSpec{Name: ElapsedMapName, Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1}
		c.spec.ElapsedMap = ElapsedMapName
	}
	if c.usesKStack {
		maps[KStackMapName] = stackMapSpec(KStackMapName, c.opts.StackMapEntries)
		c.spec.KStackMap = KStackMapName
	}
	if c.usesUStack {
		maps[UStackMapName] = stackMapSpec(UStackMapName, c.opts.StackMapEntries)
		c.spec.UStackMap = UStackMapName
	}
	if c.scratchSize > 0 {
		maps[ScratchMapName] = &ebpf.MapSpec{Name: ScratchMapName, Type: ebpf.PerCPUArray, KeySize: 4,
			ValueSize: uint32(c.scratchSize), MaxEntries: 1}
	}
}

func stackMapSpec(name string, entries int) *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: name, Type: ebpf.StackTrace, KeySize: 4, ValueSize: 8 * stackDepth, MaxEntries: uint32(entries)}
}

// program generates the eBPF program of one expanded attach point.
func (c *compiler) program(pt *point) {
	g := &gen{c: c, pt: pt, vars: map[string]loc{}, ret: "ret"}
	// The first stack slot is reserved for the scratch buffer's map key,
	// which the prologue writes before anything else runs.
	g.alloc(8)
	g.body()
	for _, err := range g.errs {
		c.errs.Add(c.file, pt.ap.Pos(), "%v", err)
	}
	if g.scratchMax > c.scratchSize {
		c.scratchSize = g.scratchMax
	}

	name := programName(pt)
	insns := append(g.prologue(), g.insns...)
	c.spec.Collection.Programs[name] = &ebpf.ProgramSpec{
		Name:         name,
		Type:         progType(pt.kind),
		Instructions: insns,
		License:      "GPL",
	}
	c.spec.Probes = append(c.spec.Probes, program.Probe{
		Kind:    pt.kind,
		Name:    pt.name(),
		Target:  pt.target,
		Func:    pt.fn,
		Unit:    pt.ap.Unit,
		Rate:    pt.ap.Rate,
		Program: name,
		Pos:     pt.ap.Pos(),
	})
}

// prologue saves the context and, when the program uses the per-CPU
// scratch buffer, looks it up into R9 once for the whole run.
func (g *gen) prologue() asm.Instructions {
	p := &fn{}
	p.emit(asm.Mov.Reg(regCtx, asm.R1))
	if !g.usesScratch() {
		return p.insns
	}
	key := loc{asm.R10, -8}
	p.storeImm(key, 0)
	p.mapPtr(asm.R1, ScratchMapName)
	p.addr(asm.R2, key)
	p.call(asm.FnMapLookupElem)
	p.emit(asm.JNE.Imm(asm.R0, 0, "scratch_ok"))
	p.emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
	p.mark("scratch_ok")
	p.emit(asm.Mov.Reg(regScratch, asm.R0))
	return p.insns
}

// inspect calls fn for n and every node below it.
func inspect(n ast.Node, fn func(ast.Node)) {
	if n == nil {
		return
	}
	fn(n)
	switch n := n.(type) {
	case *ast.Probe:
		if n.Predicate != nil {
			inspect(n.Predicate, fn)
		}
		if n.Body != nil {
			inspect(n.Body, fn)
		}
	case *ast.Block:
		for _, s := range n.Stmts {
			inspect(s, fn)
		}
	case *ast.ExprStmt:
		inspect(n.X, fn)
	case *ast.AssignStmt:
		inspect(n.Lhs, fn)
		inspect(n.Rhs, fn)
	case *ast.IncDecStmt:
		inspect(n.X, fn)
	case *ast.IfStmt:
		inspect(n.Cond, fn)
		inspect(n.Then, fn)
		if n.Else != nil {
			inspect(n.Else, fn)
		}
	case *ast.MapExpr:
		for _, k := range n.Keys {
			inspect(k, fn)
		}
	case *ast.FieldExpr:
		inspect(n.X, fn)
	case *ast.CallExpr:
		for _, a := range n.Args {
			inspect(a, fn)
		}
	case *ast.UnaryExpr:
		inspect(n.X, fn)
	case *ast.BinaryExpr:
		inspect(n.X, fn)
		inspect(n.Y, fn)
	case *ast.TernaryExpr:
		inspect(n.Cond, fn)
		inspect(n.X, fn)
		inspect(n.Y, fn)
	case *ast.TupleExpr:
		for _, e := range n.Elems {
			inspect(e, fn)
		}
	case *ast.ParenExpr:
		inspect(n.X, fn)
	}
}
