package main

import "fmt"

// program is one benchmark program, as each tool runs it.
type program struct {
	key   string // a..f, as in the issue
	title string
	// source is the bpftrace-language text both tools run, unless
	// bpftraceSource overrides it for bpftrace.
	source         string
	bpftraceSource string
	// scoped programs run under xtrace with --cgroup (in-kernel scoping by
	// path); bpftrace 0.17 has no such option, so it gets a /cgroup == ID/
	// predicate in bpftraceSource instead, its closest equivalent.
	scoped bool
	// events programs print one line per event starting with "E ", which the
	// harness counts as delivered events.
	events bool
}

// markerProbe fires when the workload inside the cgroup calls getppid on the
// harness's request: its line on stdout proves the probes are live. Neither
// the Go runtime nor xtbench's loop calls getppid, and the pid predicate
// keeps other processes' getppid calls out.
func markerProbe(pid int) string {
	return fmt.Sprintf("\ntracepoint:syscalls:sys_enter_getppid /pid == %d/ { printf(\"XTMARK\\n\"); }\n", pid)
}

const markerLine = "XTMARK"

// programs returns (a)..(f); cgroupID is the traced cgroup's id for (f).
func programs(cgroupID uint64) []program {
	const openatCount = `tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }`
	return []program{
		{key: "a", title: "openat count by comm", source: openatCount},
		{key: "b", title: "raw_syscalls count by comm", source: `tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }`},
		{key: "c", title: "openat printf per event", events: true,
			source: `tracepoint:syscalls:sys_enter_openat { printf("E %s %s\n", comm, str(args->filename)); }`},
		{key: "d", title: "hist of read sizes", source: `tracepoint:syscalls:sys_exit_read { @ = hist(args->ret); }`},
		{key: "e", title: "profile:hz:99 kstack count", source: `profile:hz:99 { @[kstack] = count(); }`},
		{key: "f", title: "(a) scoped to one cgroup", source: openatCount, scoped: true,
			bpftraceSource: fmt.Sprintf(`tracepoint:syscalls:sys_enter_openat /cgroup == %d/ { @[comm] = count(); }`, cgroupID)},
	}
}

// tool is a tracer under test and how to run a program with it.
type tool struct {
	name string
	// argv is the command line for program p with the start-up marker for
	// pid markPid; cgroupPath is the traced cgroup, for scoped programs.
	argv func(p program, markPid int, cgroupPath string) []string
	// attachedPrefix is a stderr line that says every probe is attached, or
	// "" when the tool has none (bpftrace prints "Attaching N probes..."
	// before it attaches, so only the marker counts for it).
	attachedPrefix string
}

func xtraceTool(bin string) tool {
	return tool{
		name: "xtrace",
		argv: func(p program, markPid int, cgroupPath string) []string {
			args := []string{bin, "run", "--local", "-e", p.source + markerProbe(markPid)}
			if p.scoped {
				args = append(args, "--cgroup", cgroupPath)
			}
			return args
		},
		attachedPrefix: "Attached ",
	}
}

func bpftraceTool(bin string) tool {
	return tool{
		name: "bpftrace",
		argv: func(p program, markPid int, _ string) []string {
			src := p.source
			if p.bpftraceSource != "" {
				src = p.bpftraceSource
			}
			return []string{bin, "-e", src + markerProbe(markPid)}
		},
	}
}
