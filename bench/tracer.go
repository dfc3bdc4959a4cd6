package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// traceRun is what one traced window measured.
type traceRun struct {
	startup      time.Duration // launch -> probes live (attached line and marker seen)
	attached     time.Duration // launch -> attached line, for tools that print one
	inRate       float64       // workload iterations/s inside the cgroup, traced
	outRate      float64       // and outside it
	perCPU       float64       // iterations per workload CPU-second, both instances
	eventsPerSec float64       // "E " lines read from the tracer's stdout per second of the window
	delivered    uint64        // "E " lines over the whole run
	lost         uint64        // sum of "Lost N events" lines on stderr over the whole run
	maxRSSKiB    int64         // peak RSS of the tracer process (rusage ru_maxrss, = VmHWM)
	cpu          time.Duration // tracer user+system CPU over the whole run
	killed       string        // why the tracer had to be killed, if it had to
}

// runOptions are the knobs of one traced window.
type runOptions struct {
	window  time.Duration // the measured window
	settle  time.Duration // pause between probes live and the window
	timeout time.Duration // longest start-up before giving up
}

var lostRE = regexp.MustCompile(`^Lost (\d+) events`)

// output follows a tracer's stdout and stderr as they arrive.
type output struct {
	events   atomic.Uint64 // "E " lines so far
	lost     atomic.Uint64
	marker   chan struct{} // closed at the first marker line
	attached chan struct{} // closed at the first attached line
	done     sync.WaitGroup

	mu   sync.Mutex
	tail []string // last stderr lines, for error messages
}

// traceOnce runs program p under tool t with the workloads at their current
// rates: it launches the tracer, waits until its probes are live, measures
// one window, stops the tracer with SIGINT (so it prints its maps, as a user
// would see) and collects its resource usage.
func traceOnce(t tool, p program, w *pair, cgroupPath string, opt runOptions) (traceRun, error) {
	argv := t.argv(p, w.in.pid(), cgroupPath)
	cmd := exec.Command(argv[0], argv[1:]...)
	// Our own pipes, not cmd.StdoutPipe: we keep reading after Wait, which
	// we need to detect a tracer that dies during start-up.
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return traceRun{}, fmt.Errorf("pipe: %w", err)
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		return traceRun{}, fmt.Errorf("pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = stdoutW, stderrW

	out := &output{marker: make(chan struct{}), attached: make(chan struct{})}
	if t.attachedPrefix == "" {
		close(out.attached)
	}
	launched := time.Now()
	if err := cmd.Start(); err != nil {
		return traceRun{}, fmt.Errorf("start %s: %w", t.name, err)
	}
	setTracer(cmd)
	defer setTracer(nil)
	stdoutW.Close()
	stderrW.Close()
	out.done.Add(2)
	go out.readStdout(stdoutR)
	go out.readStderr(stderrR, t.attachedPrefix)
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	run, err := measureTraced(t, out, w, exited, launched, opt)
	killed, stopErr := stop(cmd, exited)
	out.done.Wait()
	stdoutR.Close()
	stderrR.Close()
	if err != nil {
		return traceRun{}, fmt.Errorf("%s, program (%s): %w%s", t.name, p.key, err, out.stderrTail())
	}
	if stopErr != nil {
		return traceRun{}, fmt.Errorf("%s, program (%s): %w%s", t.name, p.key, stopErr, out.stderrTail())
	}
	run.killed = killed
	run.delivered = out.events.Load()
	run.lost = out.lost.Load()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		run.maxRSSKiB = ru.Maxrss
		run.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return run, nil
}

// measureTraced waits for the probes to be live, then measures the window.
func measureTraced(t tool, out *output, w *pair, exited <-chan struct{}, launched time.Time, opt runOptions) (traceRun, error) {
	var run traceRun
	// Ask the in-cgroup workload for a getppid every 2 ms until the marker
	// line comes back: the first one after the probes are live.
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(opt.timeout)
	marker, attached := out.marker, out.attached
	var sawMarker, sawAttached bool
	for !sawMarker || !sawAttached {
		select {
		case <-marker:
			sawMarker, marker = true, nil // a nil channel never fires again
		case <-attached:
			sawAttached, attached = true, nil
			if t.attachedPrefix != "" {
				run.attached = time.Since(launched)
			}
		case <-tick.C:
			if !sawMarker {
				if err := w.in.mark(); err != nil {
					return run, err
				}
			}
		case <-exited:
			return run, errors.New("tracer exited before its probes were live")
		case <-deadline:
			return run, fmt.Errorf("probes not live after %s", opt.timeout)
		}
	}
	run.startup = time.Since(launched)

	time.Sleep(opt.settle)
	a, err := w.sample()
	if err != nil {
		return run, err
	}
	e0 := out.events.Load()
	time.Sleep(opt.window)
	b, err := w.sample()
	if err != nil {
		return run, err
	}
	e1 := out.events.Load()
	select {
	case <-exited:
		return run, errors.New("tracer exited during the window")
	default:
	}
	rt := ratesBetween(a, b)
	run.inRate, run.outRate, run.perCPU = rt.in, rt.out, rt.perCPU
	run.eventsPerSec = float64(e1-e0) / (float64(b.out.nanos-a.out.nanos) / 1e9)
	return run, nil
}

// stopTimeout is how long a tracer may take to exit after SIGINT (printing
// its final maps included) before it is killed.
const stopTimeout = 30 * time.Second

// stop sends SIGINT, as Ctrl-C would, and SIGKILL if the tracer has not
// exited within stopTimeout. A killed tracer is not an error of the run: its
// window was measured, and the hang is itself a finding, so stop reports it
// through killed with what the tracer was doing, for the table's notes.
func stop(cmd *exec.Cmd, exited <-chan struct{}) (killed string, err error) {
	select {
	case <-exited:
	default:
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			killed = fmt.Sprintf("did not exit within %s of SIGINT (%s); killed", stopTimeout, procState(cmd.Process.Pid))
			cmd.Process.Kill()
			<-exited
			return killed, nil
		}
	}
	// Both tools exit 0 after SIGINT; anything else is a failure to report.
	if !cmd.ProcessState.Success() {
		return "", fmt.Errorf("exited with %s", cmd.ProcessState)
	}
	return "", nil
}

// procState describes a live process: its state and each thread's wait
// channel, enough to tell a busy loop from a blocked call.
func procState(pid int) string {
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	var state string
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "State:") {
			state = strings.TrimSpace(strings.TrimPrefix(line, "State:"))
		}
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var waits []string
	for _, t := range tasks {
		wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/wchan", pid, t.Name()))
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/comm", pid, t.Name()))
		waits = append(waits, strings.TrimSpace(string(comm))+":"+string(wchan))
	}
	return fmt.Sprintf("state %s, threads %s", state, strings.Join(waits, " "))
}

func (o *output) readStdout(r io.Reader) {
	defer o.done.Done()
	br := bufio.NewReaderSize(r, 1<<20)
	marker := []byte(markerLine)
	seen := o.marker // closed here once; measureTraced only receives
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			switch {
			case bytes.HasPrefix(line, []byte("E ")):
				o.events.Add(1)
			case seen != nil && bytes.HasPrefix(line, marker):
				close(seen)
				seen = nil
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func (o *output) readStderr(r io.Reader, attachedPrefix string) {
	defer o.done.Done()
	sc := bufio.NewScanner(r)
	attached := o.attached
	for sc.Scan() {
		line := sc.Text()
		if attachedPrefix != "" && attached != nil && strings.HasPrefix(line, attachedPrefix) {
			close(attached)
			attached = nil
		}
		if m := lostRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			o.lost.Add(n)
		}
		o.mu.Lock()
		o.tail = append(o.tail, line)
		if len(o.tail) > 10 {
			o.tail = o.tail[1:]
		}
		o.mu.Unlock()
	}
}

func (o *output) stderrTail() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.tail) == 0 {
		return ""
	}
	return "\n  stderr: " + strings.Join(o.tail, "\n  stderr: ")
}
