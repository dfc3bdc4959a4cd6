package kernels

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Tools is what a boot needs from the host.
type Tools struct {
	Kernel  string // vmlinuz to boot
	Qemu    string // qemu-system-x86_64
	Busybox string // a statically linked busybox
}

// KernelEnv names a vmlinuz to boot instead of setup.sh's Debian kernel.
// qemu and busybox must then be installed already: setup.sh is not run.
const KernelEnv = "XTRACE_KERNEL"

// Setup finds the kernel, qemu and busybox, running setup.sh first (it
// installs what is missing and is quick when nothing is) unless KernelEnv
// points at a kernel. log receives setup.sh's progress messages.
func Setup(ctx context.Context, log func(string)) (*Tools, error) {
	var t Tools
	if k := os.Getenv(KernelEnv); k != "" {
		t.Kernel = k
	} else {
		k, err := runSetup(ctx, log)
		if err != nil {
			return nil, err
		}
		t.Kernel = k
	}
	if _, err := os.Stat(t.Kernel); err != nil {
		return nil, fmt.Errorf("kernel image: %w", err)
	}
	var err error
	if t.Qemu, err = exec.LookPath("qemu-system-x86_64"); err != nil {
		return nil, fmt.Errorf("qemu-system-x86_64 not found (apt-get install qemu-system-x86, or run test/kernels/setup.sh): %w", err)
	}
	t.Busybox = "/bin/busybox"
	if err := checkStatic(t.Busybox); err != nil {
		return nil, fmt.Errorf("busybox for the guest (apt-get install busybox-static, or run test/kernels/setup.sh): %w", err)
	}
	return &t, nil
}

// runSetup runs setup.sh and returns the kernel it names on its last line.
func runSetup(ctx context.Context, log func(string)) (string, error) {
	script, err := setupScript()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "bash", script)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr := &lineWriter{fn: log}
	cmd.Stderr = stderr
	err = cmd.Run()
	stderr.Flush()
	if err != nil {
		return "", fmt.Errorf("%s failed (it needs root and Debian's package archive): %w", script, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if k, ok := strings.CutPrefix(line, "XTRACE_KERNEL="); ok {
			return k, nil
		}
	}
	return "", fmt.Errorf("%s did not print XTRACE_KERNEL=...; its output was %q", script, stdout.String())
}

// setupScript is setup.sh next to this file, found through the module
// root so that it works from any directory of the module.
func setupScript() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "test", "kernels", "setup.sh"), nil
}

// ModuleRoot is the directory of the go.mod of the current module.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the kubectl-xtrace checkout")
	}
	return filepath.Dir(mod), nil
}

// BuildTestBinary compiles the tests of pkg (a package path or ./dir
// relative to the module root) into a static binary at out. The guest
// has no libc and no Go toolchain, hence CGO_ENABLED=0 and `go test -c`.
func BuildTestBinary(ctx context.Context, pkg string, tags []string, out string) error {
	if runtime.GOARCH != "amd64" {
		// listTests runs the binary on the host, and the guest is x86_64.
		return fmt.Errorf("the guest is x86_64 under qemu-system-x86_64; building on %s is not supported yet", runtime.GOARCH)
	}
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	args := []string{"test", "-c", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	// The guest is x86_64 like the qemu we start; say so in case GOARCH
	// or GOOS is set in the environment.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, msg)
	}
	if _, err := os.Stat(out); err != nil {
		// go test -c writes nothing for a package without test files.
		return fmt.Errorf("go test -c %s produced no binary (no test files for tags %v?): %w", pkg, tags, err)
	}
	return checkStatic(out)
}

// checkStatic fails for a binary that needs a dynamic loader, which the
// guest does not have: it would fail there with a bare "not found".
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; the guest has no libc", path)
		}
	}
	return nil
}

// lineWriter calls fn with each complete line written to it.
type lineWriter struct {
	fn  func(string)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.fn(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// Flush passes on a last line without a newline.
func (w *lineWriter) Flush() {
	if len(w.buf) > 0 {
		w.fn(string(w.buf))
		w.buf = nil
	}
}

// listTests runs a test binary with -test.list on the host (it is a static
// x86_64 binary, so it runs here too) and returns its top-level tests.
func listTests(bin string) ([]string, error) {
	out, err := exec.Command(bin, "-test.list", ".").Output()
	if err != nil {
		return nil, fmt.Errorf("%s -test.list: %w", bin, err)
	}
	return strings.Fields(string(out)), nil
}
