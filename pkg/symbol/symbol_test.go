package symbol

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const kallsymsSample = `0000000000000000 A fixed_percpu_data
ffffffff81000000 T _stext
ffffffff81000000 T startup_64
ffffffff81001000 T do_one_initcall
ffffffff81001200 D some_data
ffffffff81001300 t helper_func
ffffffffc0000000 t mod_func	[xfs]
`

func TestKernelLookup(t *testing.T) {
	k, err := ParseKallsyms(strings.NewReader(kallsymsSample))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr  uint64
		frame string
		sym   string
	}{
		{0xffffffff81001000, "do_one_initcall+0", "do_one_initcall"},
		{0xffffffff81001010, "do_one_initcall+16", "do_one_initcall"},
		// Data symbols are skipped, so the function before them still owns the address.
		{0xffffffff81001250, "do_one_initcall+592", "do_one_initcall"},
		{0xffffffff81001301, "helper_func+1", "helper_func"},
		{0xffffffffc0000004, "mod_func+4", "mod_func"},
		{0x1000, "0x1000", "0x1000"},
		{0, "0", "0"},
	}
	for _, tc := range tests {
		if got := k.Frame(tc.addr); got != tc.frame {
			t.Errorf("Frame(%#x) = %q, want %q", tc.addr, got, tc.frame)
		}
		if got := k.Sym(tc.addr); got != tc.sym {
			t.Errorf("Sym(%#x) = %q, want %q", tc.addr, got, tc.sym)
		}
	}
}

func TestKernelRestricted(t *testing.T) {
	_, err := ParseKallsyms(strings.NewReader("0000000000000000 T schedule\n"))
	if !errors.Is(err, ErrNoKernelSymbols) {
		t.Errorf("err = %v, want ErrNoKernelSymbols", err)
	}
}

// TestKernelReal resolves a real kernel function's address back to its name.
func TestKernelReal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to read kernel addresses from /proc/kallsyms")
	}
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var addr uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 3 && fields[2] == "schedule" && (fields[1] == "T" || fields[1] == "t") {
			addr, _ = strconv.ParseUint(fields[0], 16, 64)
		}
	}
	if addr == 0 {
		t.Fatal("schedule not found in /proc/kallsyms")
	}
	r := NewResolver()
	if got := r.KernelFrame(addr + 3); got != "schedule+3" {
		t.Errorf("KernelFrame = %q, want schedule+3", got)
	}
	if got := r.KernelSym(addr); got != "schedule" {
		t.Errorf("KernelSym = %q, want schedule", got)
	}
}

// startTarget builds and starts testdata/target, which prints its pid and
// the address of its main.symbolTarget. go test strips its own binary's
// symbol table, so the test resolves symbols in this child instead.
func startTarget(t *testing.T, flags ...string) (pid uint32, addr uint64) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "target")
	args := append([]string{"build", "-o", bin}, flags...)
	build := exec.Command("go", append(args, "./testdata/target")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the target: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var p uint64
	if _, err := fmt.Fscanf(stdout, "%d %x\n", &p, &addr); err != nil {
		t.Fatalf("reading the target's address: %v", err)
	}
	return uint32(p), addr
}

func TestUserLookup(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
	}{
		{"exe", nil},
		// A position-independent executable is loaded at a random bias.
		{"pie", []string{"-buildmode=pie"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pid, addr := startTarget(t, tc.flags...)
			r := NewResolver()
			const want = "main.symbolTarget"
			if got := r.UserSym(pid, addr); got != want {
				t.Errorf("UserSym = %q, want %q", got, want)
			}
			if got := r.UserFrame(pid, addr+4); got != want+"+4" {
				t.Errorf("UserFrame = %q, want %q", got, want+"+4")
			}
			// An address outside every mapping stays hex.
			if got := r.UserFrame(pid, 0x10); got != "0x10" {
				t.Errorf("UserFrame(unmapped) = %q, want 0x10", got)
			}
			// A process that does not exist resolves nothing.
			if got := r.UserSym(1<<30, addr); got != Hex(addr) {
				t.Errorf("UserSym(no such pid) = %q, want hex", got)
			}
		})
	}
}

func TestParseMapsLine(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
		want mapping
	}{
		{"55d0c0a00000-55d0c0a22000 r-xp 00002000 fd:01 1234 /usr/bin/my prog", true,
			mapping{start: 0x55d0c0a00000, end: 0x55d0c0a22000, offset: 0x2000, key: fileKey{"fd:01", 1234}, path: "/usr/bin/my prog"}},
		{"55d0c0a00000-55d0c0a22000 r--p 00000000 fd:01 1234 /usr/bin/prog", false, mapping{}},
		{"7ffd1c000000-7ffd1c021000 r-xp 00000000 00:00 0 [vdso]", false, mapping{}},
		{"7ffd1c000000-7ffd1c021000 rwxp 00000000 00:00 0", false, mapping{}},
	}
	for _, tc := range tests {
		got, ok := parseMapsLine(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseMapsLine(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}
