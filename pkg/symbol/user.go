package symbol

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Resolver symbolises kernel and user addresses, caching the kernel table and
// one table per process. It is safe for concurrent use.
type Resolver struct {
	// ProcRoot is where procfs is mounted; tests may point it elsewhere.
	procRoot string

	mu      sync.Mutex
	kernel  *Kernel
	kerr    error
	kloaded bool
	procs   map[uint32]*process
	files   map[fileKey]*elfSyms
}

// NewResolver returns a Resolver reading /proc.
func NewResolver() *Resolver {
	return &Resolver{procRoot: "/proc", procs: map[uint32]*process{}, files: map[fileKey]*elfSyms{}}
}

// KernelFrame formats a kernel stack frame ("sym+off" or hex).
func (r *Resolver) KernelFrame(addr uint64) string { return r.kernelTable().Frame(addr) }

// KernelSym formats a kernel address as ksym() does ("sym" or hex).
func (r *Resolver) KernelSym(addr uint64) string { return r.kernelTable().Sym(addr) }

// KernelErr reports why kernel symbols are unavailable, if they are.
func (r *Resolver) KernelErr() error {
	r.kernelTable()
	return r.kerr
}

func (r *Resolver) kernelTable() *Kernel {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.kloaded {
		r.kloaded = true
		r.kernel, r.kerr = LoadKernel()
	}
	return r.kernel
}

// UserFrame formats a user stack frame of process pid ("sym+off" or hex).
func (r *Resolver) UserFrame(pid uint32, addr uint64) string {
	if name, off, ok := r.LookupUser(pid, addr); ok {
		return name + "+" + strconv.FormatUint(off, 10)
	}
	return Hex(addr)
}

// UserSym formats a user address as usym() does ("sym" or hex).
func (r *Resolver) UserSym(pid uint32, addr uint64) string {
	if name, _, ok := r.LookupUser(pid, addr); ok {
		return name
	}
	return Hex(addr)
}

// Forget drops the cached table of a process, for example after it exec'd.
func (r *Resolver) Forget(pid uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.procs, pid)
}

// LookupUser returns the symbol containing addr in process pid's address
// space and the offset into it.
func (r *Resolver) LookupUser(pid uint32, addr uint64) (name string, offset uint64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, cached := r.procs[pid]
	if !cached {
		// A process that is gone or unreadable gets an empty table, so
		// its addresses print as hex without re-reading procfs each time.
		p, _ = r.loadProcess(pid)
		r.procs[pid] = p
	}
	if p == nil {
		return "", 0, false
	}
	for i := range p.maps {
		m := &p.maps[i]
		if addr < m.start || addr >= m.end {
			continue
		}
		syms := r.fileSyms(pid, m)
		if syms == nil {
			return "", 0, false
		}
		return syms.lookup(addr - m.start + m.offset)
	}
	return "", 0, false
}

type process struct {
	maps []mapping
}

// mapping is one executable line of /proc/PID/maps.
type mapping struct {
	start, end, offset uint64
	key                fileKey
	path               string
}

type fileKey struct {
	dev   string
	inode uint64
}

func (r *Resolver) loadProcess(pid uint32) (*process, error) {
	f, err := os.Open(filepath.Join(r.procRoot, strconv.FormatUint(uint64(pid), 10), "maps"))
	if err != nil {
		return nil, fmt.Errorf("reading the memory map of pid %d: %w", pid, err)
	}
	defer f.Close()
	p := &process{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, ok := parseMapsLine(sc.Text()); ok {
			p.maps = append(p.maps, m)
		}
	}
	return p, sc.Err()
}

// parseMapsLine parses "start-end perms offset dev inode path" and keeps
// executable file mappings.
func parseMapsLine(line string) (mapping, bool) {
	fields := strings.Fields(line)
	if len(fields) < 6 || !strings.Contains(fields[1], "x") || !strings.HasPrefix(fields[5], "/") {
		return mapping{}, false
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	if !ok {
		return mapping{}, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	off, err3 := strconv.ParseUint(fields[2], 16, 64)
	inode, err4 := strconv.ParseUint(fields[4], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return mapping{}, false
	}
	return mapping{start: start, end: end, offset: off, key: fileKey{dev: fields[3], inode: inode},
		path: strings.Join(fields[5:], " ")}, true
}

// fileSyms returns the symbols of a mapped file, opened through procfs so
// that files inside containers and deleted files are found.
func (r *Resolver) fileSyms(pid uint32, m *mapping) *elfSyms {
	if s, ok := r.files[m.key]; ok {
		return s
	}
	procDir := filepath.Join(r.procRoot, strconv.FormatUint(uint64(pid), 10))
	candidates := []string{
		filepath.Join(procDir, "map_files", fmt.Sprintf("%x-%x", m.start, m.end)),
		filepath.Join(procDir, "root", m.path),
		m.path,
	}
	var s *elfSyms
	for _, c := range candidates {
		if loaded, err := loadELFSyms(c); err == nil {
			s = loaded
			break
		}
	}
	r.files[m.key] = s
	return s
}

// elfSyms maps file offsets of code to function symbols of one ELF file.
type elfSyms struct {
	progs []elf.ProgHeader // PT_LOAD segments, to turn file offsets into addresses
	syms  []elfSym         // sorted by value
}

type elfSym struct {
	value, size uint64
	name        string
}

func loadELFSyms(path string) (*elfSyms, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &elfSyms{}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			s.progs = append(s.progs, p.ProgHeader)
		}
	}
	// Stripped binaries keep only .dynsym, so read both and let the full
	// table win where they overlap.
	seen := map[uint64]bool{}
	for _, read := range []func() ([]elf.Symbol, error){f.Symbols, f.DynamicSymbols} {
		syms, err := read()
		if err != nil {
			continue
		}
		for _, sym := range syms {
			if elf.ST_TYPE(sym.Info) != elf.STT_FUNC || sym.Value == 0 || seen[sym.Value] {
				continue
			}
			seen[sym.Value] = true
			s.syms = append(s.syms, elfSym{value: sym.Value, size: sym.Size, name: sym.Name})
		}
	}
	sort.Slice(s.syms, func(i, j int) bool { return s.syms[i].value < s.syms[j].value })
	return s, nil
}

// lookup resolves a file offset. The mapping's load bias (PIE, shared
// libraries) cancels out because the offset is converted to the ELF's own
// virtual address through its program headers.
func (s *elfSyms) lookup(fileOff uint64) (string, uint64, bool) {
	vaddr, ok := uint64(0), false
	for _, p := range s.progs {
		if fileOff >= p.Off && fileOff < p.Off+p.Filesz {
			vaddr, ok = fileOff-p.Off+p.Vaddr, true
			break
		}
	}
	if !ok {
		return "", 0, false
	}
	return s.lookupAddr(vaddr)
}

func (s *elfSyms) lookupAddr(vaddr uint64) (string, uint64, bool) {
	i := sort.Search(len(s.syms), func(i int) bool { return s.syms[i].value > vaddr })
	if i == 0 {
		return "", 0, false
	}
	sym := s.syms[i-1]
	if sym.size > 0 && vaddr >= sym.value+sym.size {
		return "", 0, false
	}
	return sym.name, vaddr - sym.value, true
}
