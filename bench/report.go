package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// summary is the median, min and max of one figure over repetitions.
type summary struct{ med, min, max float64 }

func summarize(xs []float64) summary {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return summary{med: med, min: s[0], max: s[n-1]}
}

// figure extracts one number from every run of one tool.
func figure(runs []measuredRun, f func(measuredRun) float64) summary {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return summarize(xs)
}

type row struct {
	figure, program, xtrace, bpftrace, ratio, target, result string
}

// verdict is PASS/MISS for a target, or "—" for figures without one.
func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// render returns the whole markdown block: machine facts, the main table,
// the (c) sweep and the per-instance overheads.
func render(cfg config, m machine, res results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s on %s: %s CPUs (%s), kernel %s, %s, %s; %d repetitions per tool and program, %s windows, interleaved.\n\n",
		m.date, m.host, m.cpus, m.cpuModel, m.kernel, m.bpftrace, m.goVersion, cfg.reps, cfg.window)

	var rows []row
	add := func(r row) { rows = append(rows, r) }
	for _, pr := range res.programs {
		x, bt := pr.runs["xtrace"], pr.runs["bpftrace"]
		label := fmt.Sprintf("(%s) %s", pr.p.key, pr.p.title)

		s := func(r measuredRun) float64 { return r.startup.Seconds() }
		xs, bs := figure(x, s), figure(bt, s)
		add(row{"start-up, launch → probes live (s)", label, fmtS(xs, "%.3f"), fmtS(bs, "%.3f"),
			ratio(xs.med, bs.med), "≤ 0.10", verdict(xs.med <= 0.1*bs.med)})
	}
	// xtrace's start-up includes waiting for the marker event to be read,
	// so its "Attached" line alone shows how much of that is delivery.
	for _, pr := range res.programs {
		label := fmt.Sprintf("(%s) %s", pr.p.key, pr.p.title)
		xs := figure(pr.runs["xtrace"], func(r measuredRun) float64 { return r.attached.Seconds() })
		add(row{"launch → `Attached` line only, no marker (s)", label, fmtS(xs, "%.3f"),
			"n/a (nothing printed after attaching)", "", "—", "—"})
	}
	for _, pr := range res.programs {
		x, bt := pr.runs["xtrace"], pr.runs["bpftrace"]
		label := fmt.Sprintf("(%s) %s", pr.p.key, pr.p.title)
		o := func(r measuredRun) float64 { return r.overhead }
		xs, bs := figure(x, o), figure(bt, o)
		target, result := "xtrace ≥ bpftrace", verdict(xs.med >= bs.med)
		if pr.p.scoped {
			target, result = "—", "—"
		}
		add(row{"workload rate traced / untraced (1 = no overhead)", label, fmtS(xs, "%.3f"), fmtS(bs, "%.3f"),
			ratio(xs.med, bs.med), target, result})
	}
	for _, pr := range res.programs {
		x, bt := pr.runs["xtrace"], pr.runs["bpftrace"]
		label := fmt.Sprintf("(%s) %s", pr.p.key, pr.p.title)
		o := func(r measuredRun) float64 { return r.cpuOverhead }
		xs, bs := figure(x, o), figure(bt, o)
		target, result := "xtrace ≥ bpftrace", verdict(xs.med >= bs.med)
		if pr.p.scoped {
			target, result = "—", "—"
		}
		add(row{"workload iterations per CPU-second traced / untraced (same target, robust to other tenants)", label,
			fmtS(xs, "%.3f"), fmtS(bs, "%.3f"), ratio(xs.med, bs.med), target, result})
	}
	for _, pr := range res.programs {
		if !pr.p.events {
			continue
		}
		label := fmt.Sprintf("(%s) %s", pr.p.key, pr.p.title)
		x, bt := pr.runs["xtrace"], pr.runs["bpftrace"]
		e := func(r measuredRun) float64 { return r.eventsPerSec }
		xs, bs := figure(x, e), figure(bt, e)
		add(row{"events/s delivered to stdout, workloads at full speed", label, fmtS(xs, "%.0f"), fmtS(bs, "%.0f"),
			ratio(xs.med, bs.med), "≥ 1.5", verdict(xs.med >= 1.5*bs.med)})
		l := func(r measuredRun) float64 { return lostFraction(r.traceRun) }
		xl, bl := figure(x, l), figure(bt, l)
		add(row{"fraction of events lost, full speed", label, fmtS(xl, "%.3f"), fmtS(bl, "%.3f"), "", "—", "—"})
		if res.sweep != nil {
			add(sweepRow(res.sweep, label))
		}
	}
	for _, pr := range res.programs {
		x, bt := pr.runs["xtrace"], pr.runs["bpftrace"]
		label := fmt.Sprintf("(%s) %s", pr.p.key, pr.p.title)
		r := func(r measuredRun) float64 { return float64(r.maxRSSKiB) / 1024 }
		xs, bs := figure(x, r), figure(bt, r)
		add(row{"tracer peak RSS (MiB)", label, fmtS(xs, "%.1f"), fmtS(bs, "%.1f"),
			ratio(xs.med, bs.med), "≤ 0.33", verdict(xs.med <= bs.med/3)})
	}
	for _, pr := range res.programs {
		x, bt := pr.runs["xtrace"], pr.runs["bpftrace"]
		label := fmt.Sprintf("(%s) %s", pr.p.key, pr.p.title)
		c := func(r measuredRun) float64 { return r.cpu.Seconds() }
		xs, bs := figure(x, c), figure(bt, c)
		add(row{fmt.Sprintf("tracer CPU time per run: start-up + %s window + stop (s)", cfg.window), label,
			fmtS(xs, "%.2f"), fmtS(bs, "%.2f"), ratio(xs.med, bs.med), "—", "—"})
	}
	xMB, bMB := float64(res.sizes.xtraceBytes)/1e6, float64(res.sizes.bpftraceKiB)*1024/1e6
	add(row{"size on the node (MB)", "—", fmt.Sprintf("%.1f", xMB), fmt.Sprintf("%.1f", bMB),
		ratio(xMB, bMB), "xtrace < 25 MB", verdict(xMB < 25)})
	add(row{"cluster path: run → first event", "—", res.cluster, "n/a", "", "—", "—"})

	b.WriteString("| figure | program | xtrace median [min–max] | bpftrace median [min–max] | xtrace/bpftrace | target | result |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.figure, r.program, r.xtrace, r.bpftrace, r.ratio, r.target, r.result)
	}

	// A tracer that ignored SIGINT is a finding the medians would hide.
	var notes []string
	for _, pr := range res.programs {
		for _, name := range []string{"xtrace", "bpftrace"} {
			for i, r := range pr.runs[name] {
				if r.killed != "" {
					notes = append(notes, fmt.Sprintf("(%s) %s, repetition %d: %s.", pr.p.key, name, i+1, r.killed))
				}
			}
		}
	}
	if res.sweep != nil {
		for _, st := range res.sweep.steps {
			for name, r := range st.runs {
				if r.killed != "" {
					notes = append(notes, fmt.Sprintf("(c) sweep at %s, %s: %s.", rateName(st.target), name, r.killed))
				}
			}
		}
	}
	if len(notes) > 0 {
		b.WriteString("\nTracers killed after SIGINT (their windows count; their CPU time includes the wait):\n\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}

	b.WriteString("\nSizes: xtrace is the " + res.sizes.xtraceWhat + "; bpftrace is the " + res.sizes.bpftraceWhat +
		fmt.Sprintf(". The %s comes to %.1f MB.\n", res.sizes.depsWhat, float64(res.sizes.depsKiB)*1024/1e6))

	if res.sweep != nil {
		b.WriteString("\n(c) sweep: the outside workload paced at each rate (the in-cgroup one paused), a fresh tracer per step, " +
			fmt.Sprintf("%s windows; a tool leaves the sweep after its first step with lost events. ", cfg.sweepWindow) +
			"Delivered counts every openat on the machine, not only the workload's.\n\n")
		b.WriteString("| asked openat/s | tool | workload openat/s | delivered events/s | lost / (lost+delivered) |\n|---|---|---|---|---|\n")
		for _, st := range res.sweep.steps {
			for _, name := range []string{"xtrace", "bpftrace"} {
				r, ok := st.runs[name]
				if !ok {
					continue
				}
				fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f | %d / %d |\n", rateName(st.target), name, r.outRate, r.eventsPerSec, r.lost, r.lost+r.delivered)
			}
		}
	}

	b.WriteString("\nOverhead by workload instance (rate traced / untraced, medians): in the traced cgroup | outside it.\n\n")
	b.WriteString("| program | xtrace in | xtrace out | bpftrace in | bpftrace out |\n|---|---|---|---|---|\n")
	for _, pr := range res.programs {
		in := func(r measuredRun) float64 { return r.inOverhead }
		out := func(r measuredRun) float64 { return r.outOverhead }
		fmt.Fprintf(&b, "| (%s) | %.3f | %.3f | %.3f | %.3f |\n", pr.p.key,
			figure(pr.runs["xtrace"], in).med, figure(pr.runs["xtrace"], out).med,
			figure(pr.runs["bpftrace"], in).med, figure(pr.runs["bpftrace"], out).med)
	}
	return b.String()
}

// sweepRow states the (c) target: no loss for xtrace at the highest rate at
// which bpftrace lost nothing.
func sweepRow(s *sweepResult, label string) row {
	r := row{figure: "lost at bpftrace's highest lossless rate", program: label, target: "xtrace 0 lost"}
	if s.bpftraceBest < 0 {
		r.xtrace, r.bpftrace, r.result = "n/a", "lost events at every swept rate", "—"
		return r
	}
	st := s.steps[s.bpftraceBest]
	b := st.runs["bpftrace"]
	r.bpftrace = fmt.Sprintf("0 of %d, workload %.0f openat/s (asked: %s), %.0f ev/s delivered",
		b.delivered, b.outRate, rateName(st.target), b.eventsPerSec)
	x := s.check
	r.xtrace = fmt.Sprintf("%d of %d, workload paced at %d openat/s, %.0f ev/s delivered",
		x.lost, x.lost+x.delivered, s.checkRate, x.eventsPerSec)
	r.result = verdict(x.lost == 0)
	return r
}

func lostFraction(r traceRun) float64 {
	if r.lost+r.delivered == 0 {
		return 0
	}
	return float64(r.lost) / float64(r.lost+r.delivered)
}

func fmtS(s summary, verb string) string {
	return fmt.Sprintf(verb+" ["+verb+"–"+verb+"]", s.med, s.min, s.max)
}

func ratio(x, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", x/b)
}

const (
	docBegin = "<!-- bench:begin (generated by go run ./bench -doc; edits here are overwritten) -->"
	docEnd   = "<!-- bench:end -->"
)

// writeDoc replaces the generated block of path with table, or appends one
// if the file has none, so the hand-written parts around it survive.
func writeDoc(path, table string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	block := docBegin + "\n\n" + table + "\n" + docEnd
	text := string(old)
	i, j := strings.Index(text, docBegin), strings.Index(text, docEnd)
	if i >= 0 && j > i {
		text = text[:i] + block + text[j+len(docEnd):]
	} else {
		text = strings.TrimRight(text, "\n") + "\n\n" + block + "\n"
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
