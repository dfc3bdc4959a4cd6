package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cgroupRoot is where this machine mounts cgroup v2 (a hybrid layout: v1
// controllers under /sys/fs/cgroup, the unified tree here).
const cgroupRoot = "/sys/fs/cgroup/unified"

// benchCgroup is a child cgroup that holds the traced workload instance.
type benchCgroup struct {
	path string
	id   uint64 // the directory's inode: what bpftrace's `cgroup` builtin returns
}

func newCgroup() (*benchCgroup, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("random cgroup name: %w", err)
	}
	path := filepath.Join(cgroupRoot, "xtrace-bench-"+hex.EncodeToString(b[:]))
	if err := os.Mkdir(path, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup (is cgroup v2 mounted at %s?): %w", cgroupRoot, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("stat cgroup: %w", err)
	}
	return &benchCgroup{path: path, id: st.Ino}, nil
}

// remove deletes the cgroup; its processes must have exited (or been moved
// out) first, or the kernel refuses with EBUSY.
func (c *benchCgroup) remove() error {
	var err error
	// A killed process leaves the cgroup asynchronously; give it a moment.
	for range 50 {
		if err = os.Remove(c.path); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", c.path, err)
}

// workload is one running xtbench process, driven over its stdin/stdout.
type workload struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	mu   sync.Mutex // one command/reply exchange at a time
}

// startWorkload starts xtbench, paused, and moves it into cg when cg is set
// (before it runs a single iteration, so every traced syscall is in scope).
func startWorkload(bin, name string, cg *benchCgroup) (*workload, error) {
	cmd := exec.Command(bin)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("workload %s stdin: %w", name, err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("workload %s stdout: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start workload %s: %w", name, err)
	}
	w := &workload{name: name, cmd: cmd, in: in, out: bufio.NewReader(out)}
	if err := w.setRate(-1); err != nil {
		w.stop()
		return nil, err
	}
	if cg != nil {
		procs := filepath.Join(cg.path, "cgroup.procs")
		if err := os.WriteFile(procs, []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
			w.stop()
			return nil, fmt.Errorf("move workload %s into %s: %w", name, cg.path, err)
		}
	}
	return w, nil
}

func (w *workload) pid() int { return w.cmd.Process.Pid }

// call sends one command and returns the reply line.
func (w *workload) call(cmd string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := io.WriteString(w.in, cmd+"\n"); err != nil {
		return "", fmt.Errorf("workload %s: send %q: %w", w.name, cmd, err)
	}
	line, err := w.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("workload %s: reply to %q: %w", w.name, cmd, err)
	}
	return strings.TrimSpace(line), nil
}

// setRate: iterations per second; 0 for unlimited, -1 to pause.
func (w *workload) setRate(r int) error {
	reply, err := w.call(fmt.Sprintf("rate %d", r))
	if err != nil {
		return err
	}
	if reply != "OK" {
		return fmt.Errorf("workload %s: rate: unexpected reply %q", w.name, reply)
	}
	return nil
}

// mark makes the workload call getppid once: the start-up marker.
func (w *workload) mark() error {
	_, err := w.call("mark")
	return err
}

// sample is the workload's iteration counter at one instant of its own
// clock, with the CPU time it has used so far.
type sample struct {
	n     uint64
	nanos int64
	cpu   int64 // user+system nanoseconds
}

func (w *workload) sample() (sample, error) {
	reply, err := w.call("count")
	if err != nil {
		return sample{}, err
	}
	var s sample
	if _, err := fmt.Sscanf(reply, "COUNT %d %d %d", &s.n, &s.nanos, &s.cpu); err != nil {
		return sample{}, fmt.Errorf("workload %s: parse %q: %w", w.name, reply, err)
	}
	return s, nil
}

// rateBetween is iterations per second between two samples.
func rateBetween(a, b sample) float64 {
	return float64(b.n-a.n) / (float64(b.nanos-a.nanos) / 1e9)
}

// stop closes stdin (xtbench exits at EOF) and kills it if it lingers.
func (w *workload) stop() {
	w.in.Close()
	done := make(chan struct{})
	go func() { w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		w.cmd.Process.Kill()
		<-done
	}
}

// pair is the two workload instances: one inside the traced cgroup, one out.
type pair struct {
	in, out *workload
}

// pairSample is both instances sampled one after the other.
type pairSample struct{ in, out sample }

func (p *pair) sample() (pairSample, error) {
	in, err := p.in.sample()
	if err != nil {
		return pairSample{}, err
	}
	out, err := p.out.sample()
	if err != nil {
		return pairSample{}, err
	}
	return pairSample{in, out}, nil
}

// rates is what the workloads did between two pair samples.
type rates struct {
	in, out float64 // iterations per second of each instance
	perCPU  float64 // iterations per CPU-second, both instances together
}

func ratesBetween(a, b pairSample) rates {
	n := float64(b.in.n - a.in.n + b.out.n - a.out.n)
	cpu := float64(b.in.cpu-a.in.cpu+b.out.cpu-a.out.cpu) / 1e9
	return rates{in: rateBetween(a.in, b.in), out: rateBetween(a.out, b.out), perCPU: n / cpu}
}

// measure returns the workloads' rates over one window.
func (p *pair) measure(window time.Duration) (rates, error) {
	a, err := p.sample()
	if err != nil {
		return rates{}, err
	}
	time.Sleep(window)
	b, err := p.sample()
	if err != nil {
		return rates{}, err
	}
	return ratesBetween(a, b), nil
}

func (p *pair) setRates(in, out int) error {
	if err := p.in.setRate(in); err != nil {
		return err
	}
	return p.out.setRate(out)
}
