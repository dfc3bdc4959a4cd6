package main

import (
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Interrupting the harness (Ctrl-C, SIGTERM) must not leave a tracer
// running or a cgroup behind. Deferred cleanups do not run when a signal
// ends the process, so the harness catches the signal, stops the tracer it
// is running, runs the cleanups and exits.
var interrupt struct {
	mu       sync.Mutex
	tracer   *exec.Cmd // the tracer running now, if any
	cleanups []func()  // in registration order; run in reverse
	stopping bool      // set once a signal arrived: no new tracer may live
}

// onInterrupt registers a cleanup to run if the harness is interrupted.
func onInterrupt(f func()) {
	interrupt.mu.Lock()
	defer interrupt.mu.Unlock()
	interrupt.cleanups = append(interrupt.cleanups, f)
}

// setTracer records the running tracer (nil when none runs). A tracer
// started while the harness is already stopping is killed at once, or it
// would outlive the harness.
func setTracer(cmd *exec.Cmd) {
	interrupt.mu.Lock()
	defer interrupt.mu.Unlock()
	if interrupt.stopping && cmd != nil {
		cmd.Process.Kill()
		return
	}
	interrupt.tracer = cmd
}

func catchInterrupts() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		interrupt.mu.Lock()
		interrupt.stopping = true
		tracer, cleanups := interrupt.tracer, interrupt.cleanups
		interrupt.mu.Unlock()
		logf("%s: stopping the tracer and cleaning up", sig)
		if tracer != nil && tracer.Process != nil {
			// A terminal's Ctrl-C reaches the tracer too; SIGTERM does not.
			tracer.Process.Signal(os.Interrupt)
			time.Sleep(2 * time.Second)
			tracer.Process.Kill()
		}
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		os.Exit(130)
	}()
}
