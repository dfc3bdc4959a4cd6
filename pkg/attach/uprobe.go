package attach

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
)

// libraryDirs are searched, inside the root, for a uprobe target given as a
// bare library name such as "libc".
var libraryDirs = []string{
	"/lib", "/usr/lib", "/lib64", "/usr/lib64",
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
}

// Uprobe attaches a Kprobe-type program to symbol sym of the binary or
// library target, on entry or, with ret, on return. target is resolved
// inside opts.Root, symlinks included, so a program written for a container
// names paths as the container sees them.
func Uprobe(target, sym string, prog *ebpf.Program, ret bool, opts Options) (io.Closer, error) {
	f, err := openInRoot(opts.Root, target)
	if err != nil {
		return nil, err
	}
	// The open file pins the right inode whatever the mount namespace; the
	// kernel resolves the magic link /proc/self/fd/N to it when the probe
	// is created, after which the file may be closed.
	defer f.Close()
	if ret && isGoBinary(f) {
		return nil, fmt.Errorf("%s is a Go program, and a uretprobe can crash it (a goroutine may return on another thread than it entered on): probe the function's entry with uprobe instead: %w", target, ErrUnsupported)
	}
	path := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", target, err)
	}
	attach := ex.Uprobe
	if ret {
		attach = ex.Uretprobe
	}
	l, err := attach(sym, prog, nil)
	switch {
	case errors.Is(err, link.ErrNoSymbol):
		return nil, fmt.Errorf("symbol %q not found in %s (list its functions with `nm -D` or `nm`): %w", sym, target, program.ErrNotFound)
	case errors.Is(err, ebpf.ErrNotSupported):
		return nil, fmt.Errorf("uprobes: %v: %w", err, ErrUnsupported)
	case err != nil:
		return nil, err
	}
	return l, nil
}

// openInRoot opens target as seen with root as "/". A target without a
// slash is a library name looked up in the usual library directories.
func openInRoot(root, target string) (*os.File, error) {
	if root == "" {
		root = "/"
	}
	candidates := []string{target}
	if !strings.Contains(target, "/") {
		candidates = libraryCandidates(root, target)
		if len(candidates) == 0 {
			return nil, fmt.Errorf("library %q not found under %s in %s (give the full path): %w",
				target, root, strings.Join(libraryDirs, " "), program.ErrNotFound)
		}
	}
	var firstErr error
	for _, c := range candidates {
		f, err := openat2InRoot(root, c)
		if err == nil {
			return f, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if errors.Is(firstErr, os.ErrNotExist) {
		where := ""
		if root != "/" {
			where = " inside " + root
		}
		return nil, fmt.Errorf("binary %s does not exist%s: %w", target, where, program.ErrNotFound)
	}
	return nil, fmt.Errorf("opening %s in %s: %w", target, root, firstErr)
}

// openat2InRoot opens path with every symlink and ".." resolved inside root
// (RESOLVE_IN_ROOT), the way the container itself would resolve it.
func openat2InRoot(root, path string) (*os.File, error) {
	if root == "/" {
		return os.Open(path)
	}
	dir, err := os.Open(root)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	fd, err := unix.Openat2(int(dir.Fd()), strings.TrimPrefix(path, "/"), &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT,
	})
	if errors.Is(err, unix.ENOSYS) {
		// Before Linux 5.6: no in-root resolution, so absolute symlinks
		// inside the container point at the host. Join and hope.
		return os.Open(filepath.Join(root, path))
	}
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: filepath.Join(root, path), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(root, path)), nil
}

// libraryCandidates lists NAME.so and NAME.so.* in the library directories,
// as paths inside root.
func libraryCandidates(root, name string) []string {
	var out []string
	for _, dir := range libraryDirs {
		var found []string
		for _, pattern := range []string{name + ".so", name + ".so.*"} {
			matches, _ := filepath.Glob(filepath.Join(root, dir, pattern))
			found = append(found, matches...)
		}
		sort.Strings(found)
		for _, m := range found {
			out = append(out, filepath.Join(dir, filepath.Base(m)))
		}
	}
	return out
}

// isGoBinary reports whether f is an ELF file built by the Go toolchain.
func isGoBinary(f *os.File) bool {
	e, err := elf.NewFile(f)
	if err != nil {
		return false
	}
	return e.Section(".go.buildinfo") != nil || e.Section(".gopclntab") != nil
}
