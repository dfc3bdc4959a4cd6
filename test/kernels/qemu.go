package kernels

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Cgroups is the cgroup layout /init mounts: one per boot, so that each
// scoping path meets a host that offers nothing else.
type Cgroups string

const (
	// CgroupV2 mounts only cgroup2 at /sys/fs/cgroup (a unified host),
	// and boots with cgroup_no_v1=all so no v1 hierarchy can appear.
	CgroupV2 Cgroups = "v2"
	// CgroupV1 mounts a tmpfs at /sys/fs/cgroup and one v1 hierarchy per
	// controller group under it, as a legacy (pre-unified) systemd host
	// does, and no cgroup2 anywhere.
	CgroupV1 Cgroups = "v1"
)

// V1Hierarchies are the v1 mounts of a CgroupV1 boot: directory under
// /sys/fs/cgroup and mount options. All are built into Debian's kernel.
var V1Hierarchies = [][2]string{
	{"systemd", "none,name=systemd"},
	{"cpu,cpuacct", "cpu,cpuacct"},
	{"cpuset", "cpuset"},
	{"memory", "memory"},
	{"pids", "pids"},
	{"freezer", "freezer"},
	{"blkio", "blkio"},
	{"devices", "devices"},
	{"net_cls,net_prio", "net_cls,net_prio"},
	{"perf_event", "perf_event"},
	{"hugetlb", "hugetlb"},
}

// GuestCgroupsEnv tells the guest tests which layout /init mounted.
const GuestCgroupsEnv = "XTRACE_GUEST_CGROUPS"

// Binary is one test binary to run in the guest, as
// /tests/NAME/NAME.test -test.v ARGS... from the directory /tests/NAME.
type Binary struct {
	Name     string   // a plain name: [A-Za-z0-9_-]+
	Path     string   // the static binary on the host
	Args     []string // more test flags, e.g. -test.run=^TestKprobe
	TestData string   // optional host directory copied to /tests/NAME/testdata
	// Timeout is the binary's -test.timeout (default DefaultTestTimeout):
	// a hung test panics with every goroutine's stack while the boot
	// still has time to show it and run the next binary.
	Timeout time.Duration
}

// DefaultTestTimeout is a binary's -test.timeout unless it sets its own.
const DefaultTestTimeout = 60 * time.Second

// bootOverhead is the time a boot needs besides its binaries: qemu, the
// kernel and /init (2–15 s under TCG, depending on the host's load), and
// the power-off.
const bootOverhead = 60 * time.Second

func (bin Binary) timeout() time.Duration {
	if bin.Timeout > 0 {
		return bin.Timeout
	}
	return DefaultTestTimeout
}

// Boot describes one run of a kernel.
type Boot struct {
	Tools    *Tools
	Cgroups  Cgroups
	Binaries []Binary

	Memory string // qemu -m; default "1G"
	CPUs   int    // qemu -smp; default 2
	// Timeout bounds the whole boot, from qemu's start to its exit; by
	// default the binaries' timeouts plus a minute.
	Timeout time.Duration

	// Dir receives the initramfs; default a new temporary directory.
	Dir string
	// Log receives every line of the serial console as it arrives.
	Log func(string)
}

// Result is what a boot printed and what it means.
type Result struct {
	Lines    []string      // the whole serial console
	BootTime time.Duration // qemu start until /init runs
	Total    time.Duration // qemu start until the end marker
	Uptime   string        // the guest's /proc/uptime when /init started
	Runs     []*Run        // one per binary, in order
}

// Run is one test binary's run in the guest.
type Run struct {
	Name     string
	ExitCode int // -1: never finished
	Passed   []string
	Failed   []string
	Skipped  []string
	Output   []string
	Duration time.Duration // host-measured, from its start marker to its end marker
}

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	runBegin  = regexp.MustCompile(`XTRACE-RUN-BEGIN (\S+)`)
	runEnd    = regexp.MustCompile(`XTRACE-RUN-END (\S+) rc=(\d+)`)
	initStart = regexp.MustCompile(`XTRACE-INIT-START uptime=(\S+)`)
	initError = regexp.MustCompile(`XTRACE-INIT-ERROR: (.*)`)
	testLine  = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)
)

// Start runs the boot: it writes the initramfs, starts qemu and reads the
// console until /init's end marker, the timeout, or qemu's exit. It
// returns an error when the boot itself failed (no kernel, qemu died, a
// mount failed, timeout); test failures inside are in the Result's Runs.
func (b *Boot) Start(ctx context.Context) (*Result, error) {
	if b.Tools == nil {
		return nil, errors.New("Boot.Tools is not set: call Setup first")
	}
	memory, cpus, timeout := b.Memory, b.CPUs, b.Timeout
	if memory == "" {
		memory = "1G"
	}
	if cpus == 0 {
		cpus = 2
	}
	if timeout == 0 {
		timeout = bootOverhead
		for _, bin := range b.Binaries {
			timeout += bin.timeout() + 5*time.Second
		}
	}
	log := b.Log
	if log == nil {
		log = func(string) {}
	}
	dir := b.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "xtrace-kernels-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}

	nonce := make([]byte, 8)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	done := "XTRACE-DONE-" + hex.EncodeToString(nonce)
	initramfs := filepath.Join(dir, "initramfs.cpio")
	if err := b.writeInitramfs(initramfs, done); err != nil {
		return nil, fmt.Errorf("building the initramfs: %w", err)
	}

	cmdline := []string{
		"console=ttyS0",
		"panic=-1",   // reboot at once on panic; -no-reboot turns that into qemu's exit
		"oops=panic", // an oops in the guest fails the boot instead of hanging it
		// Warnings and worse, with their stack dumps (a soft lockup or a
		// WARN in the guest must be visible in the log), but no boot chatter.
		"loglevel=5",
		// Under TCG on a loaded host the IO-APIC timer check can miss its
		// window and panic the boot ("IO-APIC + timer doesn't work").
		"no_timer_check",
		"rdinit=/init", // our /init in the initramfs
		"nokaslr",      // stable kernel addresses across boots, for comparing logs
		"tsc=reliable", // TCG's TSC looks unstable; its clocksource watchdog only adds noise
	}
	if b.Cgroups == CgroupV2 {
		cmdline = append(cmdline, "cgroup_no_v1=all")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.Tools.Qemu,
		// TCG: KVM guests hang after decompression on this VM. One host
		// thread for all vCPUs: with multi-threaded TCG (qemu 7.2) both
		// vCPUs of a guest sometimes spin forever in syscall_trace_enter
		// once a syscall tracepoint is enabled while they are in syscalls
		// (soft lockups, the boot hangs); kernel text patching is not
		// reliably seen across MTTCG threads.
		"-accel", "tcg,thread=single",
		"-cpu", "max",
		"-smp", strconv.Itoa(cpus),
		"-m", memory,
		"-nographic",   // serial console on stdio, no display
		"-nic", "none", // the tests need no network; skips the iPXE option ROM too
		"-no-reboot",
		"-kernel", b.Tools.Kernel,
		"-initrd", initramfs,
		"-append", strings.Join(cmdline, " "),
	)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout // qemu's own complaints belong in the same log
	cmd.Stdin = nil
	// With -nographic qemu also puts its monitor on stdio; no stdin keeps
	// it from reading anything. WaitDelay bounds the wait for the pipe
	// after a kill.
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting qemu: %w", err)
	}

	res := &Result{}
	p := &parser{res: res, done: done, start: start, log: log, status: -1, seen: make(chan struct{})}
	var readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		readErr = p.read(stdout)
	}()
	// Once /init printed its end marker only the power-off is left; qemu
	// is stopped if that takes long.
	go func() {
		select {
		case <-p.seen:
			select {
			case <-time.After(10 * time.Second):
				cancel()
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
	}()
	wg.Wait()
	waitErr := cmd.Wait()

	if p.status >= 0 {
		if readErr != nil {
			return res, fmt.Errorf("reading the console: %w", readErr)
		}
		if len(p.initErrors) > 0 {
			return res, fmt.Errorf("/init could not prepare the guest: %s", strings.Join(p.initErrors, "; "))
		}
		for _, bin := range b.Binaries {
			if r := res.run(bin.Name); r == nil || r.ExitCode < 0 {
				return res, fmt.Errorf("test binary %s did not run to its end marker", bin.Name)
			}
		}
		return res, nil
	}
	tail := lastLines(res.Lines, 25)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		where := "before /init started (the kernel did not boot)"
		if res.BootTime > 0 {
			where = "while running the tests"
			if r := p.current; r != nil {
				where = "while running " + r.Name
			}
		}
		return res, fmt.Errorf("boot timed out after %s %s; last console lines:\n%s", timeout, where, tail)
	case ctx.Err() != nil:
		return res, fmt.Errorf("boot cancelled: %w", ctx.Err())
	default:
		return res, fmt.Errorf("qemu exited (%v) before /init's end marker; last console lines:\n%s", waitErr, tail)
	}
}

// parser turns console lines into a Result.
type parser struct {
	res   *Result
	done  string
	start time.Time
	log   func(string)

	current    *Run
	runStart   time.Time
	initErrors []string
	status     int           // /init's status from the end marker; -1 until then
	seen       chan struct{} // closed when the end marker arrives
}

func (p *parser) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		// The console is a tty: ONLCR adds \r before \n, and a line the
		// kernel wrote over another may carry a \r in the middle.
		line = strings.ReplaceAll(line, "\r", "")
		p.res.Lines = append(p.res.Lines, line)
		p.log(line)
		p.line(line)
	}
	return sc.Err()
}

func (p *parser) line(line string) {
	now := time.Now()
	if m := initStart.FindStringSubmatch(line); m != nil {
		p.res.BootTime = now.Sub(p.start)
		p.res.Uptime = m[1]
		return
	}
	if m := initError.FindStringSubmatch(line); m != nil {
		p.initErrors = append(p.initErrors, m[1])
		return
	}
	if m := runBegin.FindStringSubmatch(line); m != nil {
		p.current = &Run{Name: m[1], ExitCode: -1}
		p.runStart = now
		p.res.Runs = append(p.res.Runs, p.current)
		return
	}
	if m := runEnd.FindStringSubmatch(line); m != nil && p.current != nil && p.current.Name == m[1] {
		// A test's last line may lack its newline and share the marker's
		// line; keep what came before the marker.
		if i := strings.Index(line, "XTRACE-RUN-END"); i > 0 {
			p.current.Output = append(p.current.Output, line[:i])
		}
		p.current.ExitCode, _ = strconv.Atoi(m[2])
		p.current.Duration = now.Sub(p.runStart)
		p.current = nil
		return
	}
	if i := strings.Index(line, p.done+" rc="); i >= 0 {
		p.res.Total = now.Sub(p.start)
		p.status, _ = strconv.Atoi(line[i+len(p.done)+len(" rc="):])
		close(p.seen)
		return
	}
	if p.current != nil {
		p.current.Output = append(p.current.Output, line)
		if m := testLine.FindStringSubmatch(line); m != nil {
			switch m[1] {
			case "PASS":
				p.current.Passed = append(p.current.Passed, m[2])
			case "FAIL":
				p.current.Failed = append(p.current.Failed, m[2])
			case "SKIP":
				p.current.Skipped = append(p.current.Skipped, m[2])
			}
		}
	}
}

func (r *Result) run(name string) *Run {
	for _, x := range r.Runs {
		if x.Name == name {
			return x
		}
	}
	return nil
}

// Run returns the run of the named binary, or nil if it never started.
func (r *Result) Run(name string) *Run { return r.run(name) }

func lastLines(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return "  (no output at all: is the kernel image right? does qemu start by hand?)"
	}
	return "  " + strings.Join(lines, "\n  ")
}
