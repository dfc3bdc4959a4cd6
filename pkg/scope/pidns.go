package scope

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// procCgroups is one process and the content of its /proc/PID/cgroup.
type procCgroups struct {
	pid    int
	cgroup string
}

// byPidNS matches a pod, or its selected containers, by the pid namespaces
// of its processes.
func (r *resolver) byPidNS(p spec.Pod, name string) ([]Match, error) {
	if r.procs == nil {
		procs, err := readProcCgroups(r.opts.procRoot())
		if err != nil {
			return nil, err
		}
		r.procs = procs
	}
	host := r.hostNamespaces()
	if len(p.Containers) == 0 {
		m, err := r.pidNSMatch(host, inPod(p.UID), "pod "+name)
		if err != nil {
			return nil, err
		}
		return []Match{m}, nil
	}
	var ms []Match
	for _, c := range p.Containers {
		_, hexID, err := spec.ParseContainerID(c.ID)
		if err != nil {
			return nil, err
		}
		m, err := r.pidNSMatch(host, inContainer(p.UID, hexID), "container "+c.Name+" of pod "+name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// initPidNSIno is the inode of the kernel's initial pid namespace
// (PROC_PID_INIT_INO), fixed for every boot.
const initPidNSIno = 0xEFFFFFFC

// hostNamespaces returns a test for the pid namespaces that must never be
// matched because they hold the whole node: the kernel's initial one, and
// the one of the host's pid 1 where that is readable (it is not when the
// "host" is itself a container, as with kind, or when pid 1 is not
// inspectable; the initial namespace is still recognised then).
func (r *resolver) hostNamespaces() func(program.PidNS) bool {
	host, err := pidNS(r.opts.procRoot(), 1)
	return func(ns program.PidNS) bool {
		return ns.Ino == initPidNSIno || (err == nil && ns == host)
	}
}

func (r *resolver) pidNSMatch(isHost func(program.PidNS) bool, in func(cgroupPath string) bool, what string) (Match, error) {
	seen := make(map[program.PidNS]bool)
	var nss []program.PidNS
	pid := 0
	for _, pc := range r.procs {
		if !anyCgroupPath(pc.cgroup, in) {
			continue
		}
		ns, err := pidNS(r.opts.procRoot(), pc.pid)
		if errors.Is(err, fs.ErrNotExist) {
			continue // exited meanwhile
		}
		if err != nil {
			return Match{}, err
		}
		if isHost(ns) {
			// Matching the host's pid namespace would match every process
			// on the node: the one outcome that must never happen.
			return Match{}, fmt.Errorf("the pid namespace fallback cannot separate it: process %d shares the host's pid namespace (hostPID)", pc.pid)
		}
		if !seen[ns] {
			seen[ns] = true
			nss = append(nss, ns)
		}
		if pid == 0 || isSandbox(r.opts.procRoot(), pid) {
			pid = pc.pid
		}
	}
	if len(nss) == 0 {
		return Match{}, fmt.Errorf("no process of it found through %s for the pid namespace fallback (is it running? does the runner have hostPID?)", r.opts.procRoot())
	}
	return Match{Scope: program.Scope{Mode: program.ScopePidNS, PidNamespaces: nss}, What: what, Pid: pid}, nil
}

// readProcCgroups reads /proc/PID/cgroup of every process.
func readProcCgroups(procRoot string) ([]procCgroups, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	var procs []procCgroups
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		data, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "cgroup"))
		if err != nil {
			continue // exited, or a kernel thread we may not read
		}
		procs = append(procs, procCgroups{pid: pid, cgroup: string(data)})
	}
	return procs, nil
}

// anyCgroupPath applies in to the path of every line
// ("hierarchy-id:controllers:path") of a /proc/PID/cgroup file.
func anyCgroupPath(content string, in func(string) bool) bool {
	for _, line := range strings.Split(content, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && in(parts[2]) {
			return true
		}
	}
	return false
}

// inPod matches cgroup paths that pass through the pod's directory.
func inPod(uid string) func(string) bool {
	match := podDirMatcher(uid)
	return func(path string) bool {
		for _, part := range strings.Split(path, "/") {
			if match(part) {
				return true
			}
		}
		return false
	}
}

// inContainer matches cgroup paths that pass through the container's
// directory inside the pod's.
func inContainer(uid, hexID string) func(string) bool {
	pod, ctr := podDirMatcher(uid), containerDirMatcher(hexID)
	return func(path string) bool {
		inPod := false
		for _, part := range strings.Split(path, "/") {
			switch {
			case pod(part):
				inPod = true
			case inPod && ctr(part):
				return true
			}
		}
		return false
	}
}

// pidNS identifies the pid namespace of a process. The device number is
// converted to the kernel's internal dev_t encoding (major<<20 | minor),
// which is what bpf_get_ns_current_pid_tgid compares with; stat's st_dev
// uses another encoding that only coincides for small minor numbers.
func pidNS(procRoot string, pid int) (program.PidNS, error) {
	fi, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid), "ns", "pid"))
	if err != nil {
		return program.PidNS{}, err
	}
	st := fi.Sys().(*syscall.Stat_t)
	return program.PidNS{Dev: kernelDev(st.Dev), Ino: st.Ino}, nil
}

// kernelDev converts a user-space dev_t (glibc's encoding, as in st_dev) to
// the kernel's internal one.
func kernelDev(dev uint64) uint64 {
	major := (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)
	minor := dev&0xff | (dev>>12)&^uint64(0xff)
	return major<<20 | minor
}
