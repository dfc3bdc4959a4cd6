// Command bench measures kubectl xtrace against bpftrace 0.17 on the same
// workloads, in the same run, interleaved, and prints a table of medians
// with min/max and the xtrace/bpftrace ratio (see docs/benchmarks.md).
//
//	go run ./bench            # full run, about 12 minutes on 2 cores
//	go run ./bench -quick     # one repetition, short windows: a smoke test
//	go run ./bench -doc docs/benchmarks.md   # also rewrite the table there
//
// It must run as root. The machine is usually shared, so absolute numbers
// are noisy; the ratios are the point, since both tools see the same noise:
// every traced window sits between two untraced ones, and the two tools
// alternate which goes first.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

type config struct {
	reps        int
	window      time.Duration
	settle      time.Duration
	sweepWindow time.Duration
	sweepRates  []int
	only        string
	cluster     bool
	doc         string
	xtraceBin   string
	bpftraceBin string
}

func main() {
	var cfg config
	quick := flag.Bool("quick", false, "defaults for a smoke test, not a result: 1 repetition, 1s windows, a 3-step sweep")
	flag.IntVar(&cfg.reps, "reps", 5, "traced windows per tool and program")
	flag.DurationVar(&cfg.window, "window", 3*time.Second, "length of each measured window")
	flag.DurationVar(&cfg.settle, "settle", 250*time.Millisecond, "pause between probes live and the window")
	flag.DurationVar(&cfg.sweepWindow, "sweep-window", 2*time.Second, "window of each step of the (c) lossless-rate sweep")
	rates := flag.String("sweep-rates", "5000,10000,20000,40000,80000,160000,0",
		"workload rates (openat/s) of the (c) sweep, ascending; 0 means as fast as it goes")
	flag.StringVar(&cfg.only, "programs", "abcdef", "which programs to run")
	flag.BoolVar(&cfg.cluster, "cluster", false, "also measure the cluster path (kubectl xtrace run node/N to first event) with the current kubeconfig")
	flag.StringVar(&cfg.doc, "doc", "", "rewrite the generated section of this markdown file (docs/benchmarks.md) with the table")
	flag.StringVar(&cfg.xtraceBin, "xtrace", "", "kubectl-xtrace binary to test (default: build ./cmd/kubectl-xtrace now)")
	flag.StringVar(&cfg.bpftraceBin, "bpftrace", "/usr/bin/bpftrace", "bpftrace binary")
	flag.Parse()
	if *quick {
		// Quick changes the defaults only: -quick -reps 2 means two reps.
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quickDefaults := map[string]func(){
			"reps":         func() { cfg.reps = 1 },
			"window":       func() { cfg.window = time.Second },
			"sweep-window": func() { cfg.sweepWindow = time.Second },
			"sweep-rates":  func() { *rates = "10000,80000,0" },
		}
		for name, apply := range quickDefaults {
			if !set[name] {
				apply()
			}
		}
	}
	if cfg.reps < 1 || cfg.window <= 0 || cfg.sweepWindow <= 0 {
		fatal(fmt.Errorf("-reps must be at least 1 and the windows positive"))
	}
	var err error
	if cfg.sweepRates, err = parseRates(*rates); err != nil {
		fatal(err)
	}
	if err := run(cfg); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// logf prints progress on stderr with the time since start, so a long run
// shows where it is.
var began = time.Now()

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
}

func run(cfg config) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: both tracers load eBPF programs")
	}
	if err := ensureBpftrace(cfg.bpftraceBin); err != nil {
		return err
	}
	machine, err := describeMachine(cfg.bpftraceBin)
	if err != nil {
		return err
	}

	catchInterrupts()
	tmp, err := os.MkdirTemp("", "xtrace-bench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	onInterrupt(func() { os.RemoveAll(tmp) })
	// The workload binary's name is its comm, which programs may filter on.
	workloadBin := filepath.Join(tmp, "xtbench")
	if err := goBuild(workloadBin, "./bench/xtbench"); err != nil {
		return err
	}
	if cfg.xtraceBin == "" {
		cfg.xtraceBin = filepath.Join(tmp, "kubectl-xtrace")
		logf("building kubectl-xtrace from this tree")
		if err := goBuild(cfg.xtraceBin, "./cmd/kubectl-xtrace"); err != nil {
			return err
		}
	}

	cg, err := newCgroup()
	if err != nil {
		return err
	}
	w, err := startPair(workloadBin, cg)
	if err != nil {
		cg.remove()
		return err
	}
	// Stop the workloads before removing their cgroup: a cgroup with live
	// processes cannot be removed.
	cleanup := func() {
		w.in.stop()
		w.out.stop()
		if err := cg.remove(); err != nil {
			logf("cleanup: %v", err)
		}
	}
	defer cleanup()
	onInterrupt(cleanup)
	logf("workloads: pid %d in %s (cgroup id %d), pid %d outside", w.in.pid(), cg.path, cg.id, w.out.pid())

	tools := []tool{xtraceTool(cfg.xtraceBin), bpftraceTool(cfg.bpftraceBin)}
	if err := warmUp(cfg, tools, w, cg); err != nil {
		return err
	}
	var res results
	for _, p := range programs(cg.id) {
		if !strings.Contains(cfg.only, p.key) {
			continue
		}
		pr, err := measureProgram(cfg, tools, p, w, cg)
		if err != nil {
			return err
		}
		res.programs = append(res.programs, pr)
		if p.events {
			if res.sweep, err = sweepLossless(cfg, tools, p, w, cg); err != nil {
				return err
			}
		}
	}

	res.sizes, err = measureSizes(cfg.xtraceBin, tmp, cfg.bpftraceBin)
	if err != nil {
		return err
	}
	res.cluster = "not measured (no cluster; pass -cluster with a working kubeconfig)"
	if cfg.cluster {
		res.cluster = measureCluster(cfg.xtraceBin)
	}

	table := render(cfg, machine, res)
	fmt.Print(table)
	if cfg.doc != "" {
		if err := writeDoc(cfg.doc, table); err != nil {
			return err
		}
		logf("wrote the table into %s", cfg.doc)
	}
	return nil
}

// warmUp runs each tool once, unmeasured, so that the first measured
// start-up does not include reading a freshly built binary (or bpftrace's
// LLVM libraries) from disk: every later launch finds them in the page cache.
func warmUp(cfg config, tools []tool, w *pair, cg *benchCgroup) error {
	p := programs(cg.id)[0]
	opt := runOptions{window: 100 * time.Millisecond, timeout: 2 * time.Minute}
	for _, t := range tools {
		if _, err := traceOnce(t, p, w, cg.path, opt); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	logf("warm-up: each tool ran once, not measured")
	return nil
}

func startPair(bin string, cg *benchCgroup) (*pair, error) {
	in, err := startWorkload(bin, "in-cgroup", cg)
	if err != nil {
		return nil, err
	}
	out, err := startWorkload(bin, "outside", nil)
	if err != nil {
		in.stop()
		return nil, err
	}
	return &pair{in: in, out: out}, nil
}

// goBuild builds a static binary from this module, as `make build` does.
func goBuild(out, pkg string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// ensureBpftrace installs Debian's bpftrace if it is missing: it is the
// baseline, so a run without it would have nothing to compare against.
func ensureBpftrace(bin string) error {
	if _, err := os.Stat(bin); err == nil {
		return nil
	}
	logf("%s missing: apt-get install -y bpftrace", bin)
	for _, args := range [][]string{{"update"}, {"install", "-y", "bpftrace"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)
		}
	}
	return nil
}

func parseRates(s string) ([]int, error) {
	var rates []int
	for _, f := range strings.Split(s, ",") {
		var r int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &r); err != nil || r < 0 {
			return nil, fmt.Errorf("-sweep-rates: bad rate %q", f)
		}
		rates = append(rates, r)
	}
	return rates, nil
}
