// Package symbol turns code addresses into names the way bpftrace prints
// them: kernel addresses from /proc/kallsyms, user addresses from the ELF
// files mapped into a process, and anything unknown as hex.
package symbol

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// ErrNoKernelSymbols is returned when /proc/kallsyms lists no addresses,
// which is what an unprivileged reader sees under kptr_restrict.
var ErrNoKernelSymbols = errors.New("kernel symbols unavailable")

// Kernel is the kernel's symbol table, sorted by address.
type Kernel struct {
	syms []ksym
}

type ksym struct {
	addr uint64
	name string
}

// LoadKernel reads /proc/kallsyms.
func LoadKernel() (*Kernel, error) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return nil, fmt.Errorf("opening kernel symbols: %w", err)
	}
	defer f.Close()
	return ParseKallsyms(f)
}

// ParseKallsyms reads a kallsyms listing: "ADDR TYPE NAME [MODULE]" lines.
func ParseKallsyms(r io.Reader) (*Kernel, error) {
	k := &Kernel{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		addr, err := strconv.ParseUint(fields[0], 16, 64)
		if err != nil || addr == 0 {
			continue
		}
		// Only code symbols can appear in a stack or as a function
		// address; data symbols would shadow the function before them.
		switch fields[1] {
		case "t", "T", "w", "W":
		default:
			continue
		}
		k.syms = append(k.syms, ksym{addr: addr, name: fields[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading kernel symbols: %w", err)
	}
	if len(k.syms) == 0 {
		return nil, fmt.Errorf("no addresses in kallsyms (kptr_restrict? run as root): %w", ErrNoKernelSymbols)
	}
	sort.SliceStable(k.syms, func(i, j int) bool { return k.syms[i].addr < k.syms[j].addr })
	return k, nil
}

// Lookup returns the symbol containing addr and addr's offset in it.
func (k *Kernel) Lookup(addr uint64) (name string, offset uint64, ok bool) {
	if k == nil {
		return "", 0, false
	}
	i := sort.Search(len(k.syms), func(i int) bool { return k.syms[i].addr > addr })
	if i == 0 {
		return "", 0, false
	}
	s := k.syms[i-1]
	return s.name, addr - s.addr, true
}

// Frame formats addr as a kstack frame: "sym+offset", or hex when unknown.
func (k *Kernel) Frame(addr uint64) string {
	if name, off, ok := k.Lookup(addr); ok {
		return name + "+" + strconv.FormatUint(off, 10)
	}
	return Hex(addr)
}

// Sym formats addr as ksym() does: the symbol name alone, or hex.
func (k *Kernel) Sym(addr uint64) string {
	if name, _, ok := k.Lookup(addr); ok {
		return name
	}
	return Hex(addr)
}

// Hex formats an unresolved address as bpftrace does (C++ streams print a
// null pointer as plain 0).
func Hex(addr uint64) string {
	if addr == 0 {
		return "0"
	}
	return "0x" + strconv.FormatUint(addr, 16)
}
