// Command xtbench is the benchmark's syscall-heavy workload. The harness
// builds it under this distinctive name so that every tracer sees the comm
// "xtbench", starts two copies (one inside a traced cgroup, one outside) and
// drives them over stdin/stdout with one-line commands:
//
//	count      -> "COUNT <iterations> <monotonic nanos> <CPU nanos>"
//	rate N     -> "OK": N iterations/s paced, 0 for as fast as possible, -1 paused
//	mark       -> "OK" after one getppid(2), the harness's start-up marker
//
// One iteration is openat("/dev/zero") + read(fd, buf, n) + close(fd) with n
// cycling over 1..4096, so one loop feeds every benchmark program: openat
// counts and printfs, raw_syscalls counts and a spread-out read-size hist.
// The loop uses syscall.RawSyscall, with no libc and no scheduler hooks, and
// never calls getppid, which the Go runtime itself never calls either: a
// getppid from this process is always the harness's marker.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

var (
	iterations atomic.Uint64
	rate       atomic.Int64 // iterations per second; 0 unlimited, <0 paused
	start      = time.Now()
)

func main() {
	go loop()
	if err := serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "xtbench:", err)
		os.Exit(1)
	}
}

// serve answers the harness's commands until stdin closes, which is how the
// harness stops the workload.
func serve(in *os.File, out *os.File) error {
	sc := bufio.NewScanner(in)
	w := bufio.NewWriter(out)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "count":
			// The process's CPU time lets the harness compute iterations per
			// CPU-second, which other tenants of the machine barely disturb:
			// they take CPU away from the loop, but not cost per iteration.
			var ru syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
				return fmt.Errorf("getrusage: %w", err)
			}
			fmt.Fprintf(w, "COUNT %d %d %d\n", iterations.Load(), time.Since(start).Nanoseconds(),
				ru.Utime.Nano()+ru.Stime.Nano())
		case "rate":
			if len(fields) != 2 {
				return fmt.Errorf("rate: want one argument, got %q", sc.Text())
			}
			n, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return fmt.Errorf("rate: %w", err)
			}
			rate.Store(n)
			fmt.Fprintln(w, "OK")
		case "mark":
			syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
			fmt.Fprintln(w, "OK")
		default:
			return fmt.Errorf("unknown command %q", sc.Text())
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("reply: %w", err)
		}
	}
	return sc.Err()
}

// loop runs the syscalls forever at the rate the harness asked for.
func loop() {
	path, _ := syscall.BytePtrFromString("/dev/zero")
	buf := make([]byte, 4096)
	var n uint64
	one := func() {
		fd, _, errno := syscall.RawSyscall6(syscall.SYS_OPENAT, uintptr(atFDCWD),
			uintptr(unsafe.Pointer(path)), syscall.O_RDONLY, 0, 0, 0)
		if errno == 0 {
			size := n*37%4096 + 1
			syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(size))
			syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0)
		}
		n++
	}

	for {
		r := rate.Load()
		switch {
		case r < 0:
			time.Sleep(10 * time.Millisecond)
		case r == 0:
			// Unlimited: count in batches so the atomic add costs nothing.
			for range 64 {
				one()
			}
			iterations.Add(64)
		default:
			paced(r, one)
		}
	}
}

// paced runs `one` at r iterations per second, topping up every millisecond
// against a schedule that starts now, until the harness changes the rate.
// A schedule (rather than a fixed batch per tick) keeps the mean rate right
// when sleeps overshoot on a busy machine.
func paced(r int64, one func()) {
	begin := time.Now()
	var done int64
	for rate.Load() == r {
		due := int64(time.Since(begin).Seconds() * float64(r))
		for ; done < due; done++ {
			one()
			iterations.Add(1)
		}
		time.Sleep(time.Millisecond)
	}
}

// atFDCWD is AT_FDCWD (-100) as the unsigned register value the kernel reads.
const atFDCWD = ^uintptr(99)
