package attach

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Profile attaches a PerfEvent program to a CPU-clock timer on every online
// CPU: unit "hz" samples rate times a second, "s", "ms" and "us" every rate
// units of time.
func Profile(unit string, rate uint64, prog *ebpf.Program) (io.Closer, error) {
	cpus, err := onlineCPUs()
	if err != nil {
		return nil, err
	}
	return perfTimers(unit, rate, cpus, prog)
}

// Interval attaches a PerfEvent program to one CPU-clock timer on CPU 0, so
// it fires once per interval for the whole machine, as bpftrace does.
func Interval(unit string, rate uint64, prog *ebpf.Program) (io.Closer, error) {
	return perfTimers(unit, rate, []int{0}, prog)
}

func perfTimers(unit string, rate uint64, cpus []int, prog *ebpf.Program) (io.Closer, error) {
	attr, err := timerAttr(unit, rate)
	if err != nil {
		return nil, err
	}
	var cs closers
	for _, cpu := range cpus {
		c, err := attachPerfEvent(attr, cpu, prog)
		if err != nil {
			_ = cs.Close()
			return nil, fmt.Errorf("cpu %d: %w", cpu, err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// timerAttr describes a PERF_COUNT_SW_CPU_CLOCK event, whose period is in
// nanoseconds.
func timerAttr(unit string, rate uint64) (unix.PerfEventAttr, error) {
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_CPU_CLOCK,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
	}
	if rate == 0 {
		return attr, fmt.Errorf("rate must be positive")
	}
	nsPer := map[string]uint64{"s": 1e9, "ms": 1e6, "us": 1e3}
	switch {
	case unit == "hz":
		attr.Sample = rate
		attr.Bits = unix.PerfBitFreq
	case nsPer[unit] != 0:
		if rate > ^uint64(0)/nsPer[unit] {
			return attr, fmt.Errorf("period %d%s is too long", rate, unit)
		}
		attr.Sample = rate * nsPer[unit]
	default:
		return attr, fmt.Errorf("unknown unit %q: use hz, s, ms or us", unit)
	}
	return attr, nil
}

// attachPerfEvent opens the event on one CPU and runs prog on each sample:
// with a BPF link where the kernel has them (5.15), else with the older
// PERF_EVENT_IOC_SET_BPF ioctl.
func attachPerfEvent(attr unix.PerfEventAttr, cpu int, prog *ebpf.Program) (io.Closer, error) {
	fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, fmt.Errorf("perf_event_open cpu-clock: %v: %w", err, ErrUnsupported)
		}
		return nil, fmt.Errorf("perf_event_open cpu-clock (needs CAP_PERFMON or root): %w", err)
	}
	event := os.NewFile(uintptr(fd), "perf_event")
	l, err := attachRawLink(link.RawLinkOptions{Target: fd, Program: prog, Attach: ebpf.AttachPerfEvent})
	if err == nil {
		return closers{event, l}, nil
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, prog.FD()); err != nil {
		event.Close()
		return nil, fmt.Errorf("attaching the program to the perf event: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
		event.Close()
		return nil, fmt.Errorf("enabling the perf event: %w", err)
	}
	return closers{event, closeFunc(func() error {
		return unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_DISABLE, 0)
	})}, nil
}

// attachRawLink is link.AttachRawLink; tests replace it to exercise the
// ioctl fallback on kernels that have links.
var attachRawLink = func(opts link.RawLinkOptions) (io.Closer, error) { return link.AttachRawLink(opts) }

// onlineCPUs parses /sys/devices/system/cpu/online, e.g. "0-3,5".
func onlineCPUs() ([]int, error) {
	data, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, fmt.Errorf("listing online CPUs: %w", err)
	}
	return parseCPUList(strings.TrimSpace(string(data)))
}

func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("bad CPU list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("bad CPU list %q: %w", s, err)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("empty CPU list %q", s)
	}
	return cpus, nil
}
