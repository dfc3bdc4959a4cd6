package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// stopOnSignal returns a context cancelled by the first SIGINT or SIGTERM,
// which stops a trace gracefully (END runs, the final maps are written). A
// second signal means the user does not want to wait: the process exits at
// once with the conventional status for the signal.
func stopOnSignal(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		cancel()
		s = <-sigs
		code := 128 + int(s.(syscall.Signal))
		os.Exit(code)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel()
	}
}
