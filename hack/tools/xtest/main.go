// Command xtest is the payload of the e2e test image (xtrace.local/xtest):
// one static binary that makes predictable syscalls for traces to observe.
//
//	xtest sleep                     block until SIGTERM (the default)
//	xtest openat-loop PATH RATE     create PATH, then open+close it RATE times a second
//	xtest getpid-loop RATE          call getpid RATE times a second
//	xtest exec-loop RATE            run `xtest true` RATE times a second (for execsnoop)
//	xtest true                      exit 0
//	xtest ticker N                  print "tick i" every second, N times (0 = forever)
//	xtest cgroup                    print /proc/self/cgroup
//
// -comm NAME (before the command) renames the thread that makes the syscalls,
// so two pods running the same image are told apart by comm in a trace.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	comm := flag.String("comm", "", "thread name (comm) for the syscall loop, at most 15 bytes")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		args = []string{"sleep"}
	}
	// Exit 0 on SIGTERM/SIGINT so pods stop promptly and cleanly.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; os.Exit(0) }()

	// The loops run on this goroutine locked to its thread: the comm set here
	// is per thread, and every syscall of the loop must carry it.
	runtime.LockOSThread()
	if *comm != "" {
		if err := setComm(*comm); err != nil {
			fatal(err)
		}
	}
	if err := run(args); err != nil {
		fatal(err)
	}
}

func run(args []string) error {
	switch args[0] {
	case "sleep":
		select {}
	case "true":
		return nil
	case "openat-loop":
		if len(args) != 3 {
			return fmt.Errorf("usage: openat-loop PATH RATE")
		}
		path := args[1]
		if err := os.WriteFile(path, []byte("xtrace e2e marker\n"), 0o644); err != nil {
			return err
		}
		return loop(args[2], func() error {
			fd, err := unix.Openat(unix.AT_FDCWD, path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("openat %s: %w", path, err)
			}
			return unix.Close(fd)
		})
	case "getpid-loop":
		if len(args) != 2 {
			return fmt.Errorf("usage: getpid-loop RATE")
		}
		return loop(args[1], func() error { unix.Getpid(); return nil })
	case "exec-loop":
		if len(args) != 2 {
			return fmt.Errorf("usage: exec-loop RATE")
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		return loop(args[1], func() error {
			if err := exec.Command(self, "true").Run(); err != nil {
				return fmt.Errorf("exec %s true: %w", self, err)
			}
			return nil
		})
	case "ticker":
		n := 0
		if len(args) > 1 {
			var err error
			if n, err = strconv.Atoi(args[1]); err != nil {
				return fmt.Errorf("ticker count: %w", err)
			}
		}
		for i := 1; n == 0 || i <= n; i++ {
			fmt.Printf("tick %d %s\n", i, time.Now().UTC().Format(time.RFC3339))
			time.Sleep(time.Second)
		}
		return nil
	case "cgroup":
		b, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(b)
		return err
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// loop calls f rate times a second forever, spacing the calls evenly, and
// prints a progress line every 10 seconds so `kubectl logs` shows it is alive.
func loop(rateArg string, f func() error) error {
	rate, err := strconv.Atoi(rateArg)
	if err != nil || rate <= 0 || rate > 100000 {
		return fmt.Errorf("rate %q: want 1..100000 calls a second", rateArg)
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for n := 1; ; n++ {
		if err := f(); err != nil {
			return err
		}
		if n%(rate*10) == 0 {
			fmt.Printf("%d calls in %s\n", n, time.Since(start).Round(time.Second))
		}
		// Sleep until the n-th call's slot, so the long-run rate is exact
		// even if a call or a sleep runs late.
		if d := time.Until(start.Add(time.Duration(n) * interval)); d > 0 {
			time.Sleep(d)
		}
	}
}

// setComm names the calling thread (what bpftrace's comm shows).
func setComm(name string) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return fmt.Errorf("comm %q: %w", name, err)
	}
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(p)), 0, 0, 0); err != nil {
		return fmt.Errorf("set comm %q: %w", name, err)
	}
	return nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "xtest:", err)
	os.Exit(1)
}
