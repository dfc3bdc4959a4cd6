package kernels

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// These tests cover the harness itself and run with the ordinary unit
// tests (no build tag, no qemu).

func TestParserSplitsRuns(t *testing.T) {
	const done = "XTRACE-DONE-0123"
	console := strings.Join([]string{
		"SeaBIOS noise\r",
		"XTRACE-INIT-START uptime=2.50\r",
		"XTRACE-RUN-BEGIN guest\r",
		"=== RUN   TestA\r",
		"--- PASS: TestA (0.01s)\r",
		"=== RUN   TestB\r",
		"[    3.1] a kernel message in the middle\r",
		"    --- SKIP: TestB/sub (0.00s)\r",
		"--- FAIL: TestB (0.02s)\r",
		"FAIL\r",
		// A last line without a newline shares the marker's line.
		"partialXTRACE-RUN-END guest rc=1\r",
		"XTRACE-RUN-BEGIN other\r",
		"XTRACE-INIT-ERROR: mount -t bpf /sys/fs/bpf\r",
		"XTRACE-RUN-END other rc=0\r",
		done + " rc=1\r",
		"[    4.0] reboot: Power down\r",
	}, "\n") + "\n"

	res := &Result{}
	var logged []string
	p := &parser{res: res, done: done, start: time.Now(), log: func(s string) { logged = append(logged, s) }, status: -1, seen: make(chan struct{})}
	if err := p.read(strings.NewReader(console)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.seen:
	default:
		t.Fatal("the end marker was not seen")
	}
	if p.status != 1 || res.Uptime != "2.50" || len(logged) != 16 || strings.Contains(strings.Join(logged, ""), "\r") {
		t.Errorf("status %d, uptime %q, %d lines logged: %q", p.status, res.Uptime, len(logged), logged)
	}
	if !slices.Equal(p.initErrors, []string{"mount -t bpf /sys/fs/bpf"}) {
		t.Errorf("init errors %q", p.initErrors)
	}
	if len(res.Runs) != 2 {
		t.Fatalf("runs: %+v", res.Runs)
	}
	g := res.Run("guest")
	if g.ExitCode != 1 || !slices.Equal(g.Passed, []string{"TestA"}) || !slices.Equal(g.Failed, []string{"TestB"}) ||
		!slices.Equal(g.Skipped, []string{"TestB/sub"}) || g.Output[len(g.Output)-1] != "partial" {
		t.Errorf("guest run: %+v", g)
	}
	if o := res.Run("other"); o.ExitCode != 0 || len(o.Output) != 0 {
		t.Errorf("other run: %+v", o)
	}
}

func TestInitramfsIsReadableByCpio(t *testing.T) {
	// busybox's cpio reads newc; it is what setup.sh installs for the
	// guest anyway.
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox is not installed (test/kernels/setup.sh installs it); the kernel tests would fail on it anyway")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("hello from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = WriteInitramfs(&buf, []Entry{
		Dir("bin"),
		FileData("bin/odd", 0o755, []byte("odd")), // 3 bytes: needs padding
		FileFrom("bin/src", 0o644, src),
		Symlink("bin/sh", "/bin/busybox"),
		Dir("dev"),
		CharDev("dev/console", 0o600, 5, 1),
	})
	if err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", buf.Len())
	}
	cmd := exec.Command(busybox, "cpio", "-t", "-v")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("busybox cpio -t: %v\n%s", err, out)
	}
	listing := string(out)
	for _, want := range []string{"drwxr-xr-x", "-rwxr-xr-x", "3 ", "bin/odd", "20 ", "bin/src", "bin/sh -> /bin/busybox", "crw-------", "dev/console"} {
		if !strings.Contains(listing, want) {
			t.Errorf("listing lacks %q:\n%s", want, listing)
		}
	}

	extract := filepath.Join(dir, "x")
	if err := os.Mkdir(extract, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(busybox, "cpio", "-i", "-d")
	cmd.Dir = extract
	// Extract the files only: making a device node needs CAP_MKNOD.
	var files bytes.Buffer
	if err := WriteInitramfs(&files, []Entry{Dir("bin"), FileData("bin/odd", 0o755, []byte("odd")), FileFrom("bin/src", 0o644, src)}); err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = &files
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio -i: %v\n%s", err, out)
	}
	for name, want := range map[string]string{"bin/odd": "odd", "bin/src": "hello from the host\n"} {
		got, err := os.ReadFile(filepath.Join(extract, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
}

func TestWriteInitramfsRejectsBadNames(t *testing.T) {
	for _, name := range []string{"/abs", "a/../b", "", "a//b"} {
		if err := WriteInitramfs(&bytes.Buffer{}, []Entry{Dir(name)}); err == nil {
			t.Errorf("name %q was accepted", name)
		}
	}
}

func TestInitScript(t *testing.T) {
	b := &Boot{Cgroups: CgroupV1, Binaries: []Binary{{Name: "guest", Args: []string{"-test.run=^(TestA|TestB)$"}, Timeout: 42 * time.Second}}}
	s, err := b.initScript("XTRACE-DONE-x")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"mnt cgroup /sys/fs/cgroup/pids pids\n",
		"mnt cgroup /sys/fs/cgroup/systemd none,name=systemd\n",
		"export XTRACE_GUEST_CGROUPS=v1\n",
		"./guest.test '-test.v' '-test.timeout=42s' '-test.run=^(TestA|TestB)$'",
		`echo "XTRACE-DONE-x rc=$status"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("init script lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "mnt cgroup2") {
		t.Errorf("a v1 boot mounts cgroup2:\n%s", s)
	}
	b.Cgroups = "v3"
	if _, err := b.initScript("x"); err == nil {
		t.Error("an unknown cgroup layout was accepted")
	}
}
