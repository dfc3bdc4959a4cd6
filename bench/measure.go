package main

import (
	"fmt"
	"time"
)

// results is everything one run measured.
type results struct {
	programs []programResult
	sweep    *sweepResult
	sizes    sizes
	cluster  string
}

// programResult holds every traced run of one program, per tool.
type programResult struct {
	p    program
	runs map[string][]measuredRun // by tool name
}

// measuredRun is one traced window with its overhead against the untraced
// windows on either side of it.
type measuredRun struct {
	traceRun
	overhead    float64 // workload rate traced / untraced, both instances together
	inOverhead  float64 // the in-cgroup instance alone
	outOverhead float64 // the outside instance alone
	cpuOverhead float64 // iterations per workload CPU-second, traced / untraced
}

// measureProgram runs p reps times under each tool with both workloads at
// full speed. The sequence is untraced, traced, untraced, traced, ... so
// every traced window has an untraced neighbour on each side, and the tool
// that goes first alternates between repetitions, so slow drifts in the
// machine's load hit both tools alike.
func measureProgram(cfg config, tools []tool, p program, w *pair, cg *benchCgroup) (programResult, error) {
	res := programResult{p: p, runs: map[string][]measuredRun{}}
	if err := w.setRates(0, 0); err != nil {
		return res, err
	}
	before, err := untraced(w, cfg.window)
	if err != nil {
		return res, err
	}
	opt := runOptions{window: cfg.window, settle: cfg.settle, timeout: 2 * time.Minute}
	for rep := range cfg.reps {
		order := tools
		if rep%2 == 1 {
			order = []tool{tools[1], tools[0]}
		}
		for _, t := range order {
			r, err := traceOnce(t, p, w, cg.path, opt)
			if err != nil {
				return res, err
			}
			after, err := untraced(w, cfg.window)
			if err != nil {
				return res, err
			}
			m := measuredRun{
				traceRun:    r,
				overhead:    (r.inRate + r.outRate) / ((before.in + before.out + after.in + after.out) / 2),
				inOverhead:  r.inRate / ((before.in + after.in) / 2),
				outOverhead: r.outRate / ((before.out + after.out) / 2),
				cpuOverhead: r.perCPU / ((before.perCPU + after.perCPU) / 2),
			}
			res.runs[t.name] = append(res.runs[t.name], m)
			logf("(%s) %-8s rep %d: start-up %6.3fs, rate ratio %.3f (in %.3f, out %.3f, per CPU-s %.3f), rss %d KiB, cpu %.2fs, events %.0f/s, lost %d",
				p.key, t.name, rep+1, r.startup.Seconds(), m.overhead, m.inOverhead, m.outOverhead, m.cpuOverhead,
				r.maxRSSKiB, r.cpu.Seconds(), r.eventsPerSec, r.lost)
			if r.killed != "" {
				logf("(%s) %-8s rep %d: %s", p.key, t.name, rep+1, r.killed)
			}
			before = after
		}
	}
	return res, nil
}

// untraced measures both workloads' rates with no tracer running.
func untraced(w *pair, window time.Duration) (rates, error) {
	r, err := w.measure(window)
	if err != nil {
		return rates{}, fmt.Errorf("untraced window: %w", err)
	}
	return r, nil
}

// sweepResult is the (c) printf program at increasing workload rates.
type sweepResult struct {
	steps []sweepStep
	// highest lossless step of bpftrace, index into steps; -1 if it lost
	// events even at the lowest rate.
	bpftraceBest int
	// check is xtrace with the workload paced at the rate the workload
	// actually reached under bpftrace at that step (an unpaced step's rate
	// depends on how much CPU the tracer takes from the workload).
	check     traceRun
	checkRate int
}

type sweepStep struct {
	target int                 // asked rate, openat/s; 0 = unlimited
	runs   map[string]traceRun // by tool; absent once the tool has lost events at a lower rate
}

// sweepLossless finds bpftrace's highest lossless rate for the printf
// program: the outside workload runs paced at each rate in turn (the one in
// the cgroup is paused, except for start-up markers), each tool traces a
// fresh window at every rate, and a tool drops out of the sweep after its
// first window with lost events. Fresh tracers per step keep a loss from
// one rate out of the next one's count.
func sweepLossless(cfg config, tools []tool, p program, w *pair, cg *benchCgroup) (*sweepResult, error) {
	res := &sweepResult{bpftraceBest: -1}
	if err := w.in.setRate(-1); err != nil {
		return nil, err
	}
	opt := runOptions{window: cfg.sweepWindow, settle: cfg.settle, timeout: 2 * time.Minute}
	dropped := map[string]bool{}
	for i, rate := range cfg.sweepRates {
		if err := w.out.setRate(rate); err != nil {
			return nil, err
		}
		step := sweepStep{target: rate, runs: map[string]traceRun{}}
		order := tools
		if i%2 == 1 {
			order = []tool{tools[1], tools[0]}
		}
		for _, t := range order {
			if dropped[t.name] {
				continue
			}
			r, err := traceOnce(t, p, w, cg.path, opt)
			if err != nil {
				return nil, fmt.Errorf("sweep at %d/s: %w", rate, err)
			}
			step.runs[t.name] = r
			if r.killed != "" {
				logf("(c) sweep %s %s: %s", rateName(rate), t.name, r.killed)
			}
			logf("(c) sweep %7s %-8s: workload %.0f/s, delivered %.0f/s, lost %d of %d",
				rateName(rate), t.name, r.outRate, r.eventsPerSec, r.lost, r.lost+r.delivered)
			if r.lost > 0 {
				dropped[t.name] = true
			} else if t.name == "bpftrace" {
				res.bpftraceBest = i
			}
		}
		if len(step.runs) == 0 {
			break // every tool has dropped out
		}
		res.steps = append(res.steps, step)
	}
	if res.bpftraceBest >= 0 {
		res.checkRate = int(res.steps[res.bpftraceBest].runs["bpftrace"].outRate)
		if err := w.out.setRate(res.checkRate); err != nil {
			return nil, err
		}
		var err error
		if res.check, err = traceOnce(tools[0], p, w, cg.path, opt); err != nil {
			return nil, fmt.Errorf("sweep check at %d/s: %w", res.checkRate, err)
		}
		logf("(c) check %d/s %-8s: workload %.0f/s, delivered %.0f/s, lost %d of %d", res.checkRate, tools[0].name,
			res.check.outRate, res.check.eventsPerSec, res.check.lost, res.check.lost+res.check.delivered)
	}
	// Back to the full-speed state the other programs expect.
	return res, w.setRates(0, 0)
}

func rateName(r int) string {
	if r == 0 {
		return "max"
	}
	return fmt.Sprintf("%d", r)
}
