package scope

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// ForTarget returns the in-kernel filter for one node's target: one match
// per pod, or per selected container, or a single unscoped match for a
// node target. Each pod is matched by cgroup v2 if its cgroup is populated
// there, else by its pid namespaces. It fails, wrapping ErrCannotScope,
// rather than return a filter that lets other processes' events through.
func ForTarget(t spec.Target, opts Options) ([]Match, error) {
	if len(t.Pods) == 0 {
		return []Match{{Scope: program.Scope{Mode: program.ScopeNone}, What: "node " + t.Node}}, nil
	}
	r := &resolver{opts: opts}
	r.h, r.v2err = findHierarchy(opts)
	if r.v2err == nil {
		matchers := make(map[string]func(string) bool, len(t.Pods))
		for _, p := range t.Pods {
			matchers[p.UID] = podDirMatcher(p.UID)
		}
		found, err := r.h.findPodDirs(matchers)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCannotScope, err)
		}
		r.podDirs = found
	}
	var matches []Match
	for _, p := range t.Pods {
		ms, err := r.forPod(p)
		if err != nil {
			return nil, err
		}
		matches = append(matches, ms...)
	}
	return matches, nil
}

// resolver holds what ForTarget learns once and uses for every pod.
type resolver struct {
	opts    Options
	h       *hierarchy
	v2err   error               // why cgroup v2 cannot be used at all
	podDirs map[string][]string // pod UID -> matching directories
	procs   []procCgroups       // read on first use by the fallback
}

func (r *resolver) forPod(p spec.Pod) ([]Match, error) {
	name := p.Namespace + "/" + p.Name
	ms, why, err := r.byCgroup(p, name)
	if err != nil || ms != nil {
		return ms, err
	}
	ms, err = r.byPidNS(p, name)
	if err != nil {
		return nil, fmt.Errorf("%w to pod %s: %s; %w", ErrCannotScope, name, why, err)
	}
	return ms, nil
}

// byCgroup returns the cgroup v2 matches of a pod, or nil and the reason
// cgroup v2 does not apply, or an error if the pod's v2 cgroups are in a
// state no fallback should paper over.
func (r *resolver) byCgroup(p spec.Pod, name string) ([]Match, string, error) {
	if r.v2err != nil {
		return nil, r.v2err.Error(), nil
	}
	dirs := r.podDirs[p.UID]
	switch len(dirs) {
	case 0:
		return nil, fmt.Sprintf("no cgroup v2 directory for pod UID %s under %s", p.UID, r.h.mount), nil
	case 1:
	default:
		return nil, "", fmt.Errorf("%w to pod %s: its UID names several cgroups under %s (%s); pass --cgroup to choose one",
			ErrCannotScope, name, r.h.mount, strings.Join(dirs, ", "))
	}
	podRel := dirs[0]
	populated, err := r.h.populated(podRel)
	if err != nil {
		return nil, "", fmt.Errorf("%w to pod %s: %w", ErrCannotScope, name, err)
	}
	if !populated {
		// A hybrid node whose runtime creates the v2 directory but runs
		// the processes only in v1 cgroups lands here.
		return nil, fmt.Sprintf("its cgroup v2 directory %s holds no processes", podRel), nil
	}
	if len(p.Containers) == 0 {
		d, err := r.h.dir(podRel)
		if err != nil {
			return nil, "", fmt.Errorf("%w to pod %s: %w", ErrCannotScope, name, err)
		}
		return []Match{{Scope: cgroupScope(d), What: "pod " + name, Pid: r.h.anyPid(podRel, r.opts.procRoot())}}, "", nil
	}
	var ms []Match
	for _, c := range p.Containers {
		_, hexID, err := spec.ParseContainerID(c.ID)
		if err != nil {
			return nil, "", fmt.Errorf("%w to container %s of pod %s: %w", ErrCannotScope, c.Name, name, err)
		}
		rel, err := r.h.findChild(podRel, containerDirMatcher(hexID))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("%w to container %s of pod %s: no cgroup for container id %s under %s (restarted? run again to pick up its new id)",
				ErrCannotScope, c.Name, name, hexID, podRel)
		}
		if err != nil {
			return nil, "", fmt.Errorf("%w to container %s of pod %s: %w", ErrCannotScope, c.Name, name, err)
		}
		d, err := r.h.dir(rel)
		if err != nil {
			return nil, "", fmt.Errorf("%w to container %s of pod %s: %w", ErrCannotScope, c.Name, name, err)
		}
		ms = append(ms, Match{Scope: cgroupScope(d), What: "container " + c.Name + " of pod " + name, Pid: r.h.anyPid(rel, r.opts.procRoot())})
	}
	return ms, "", nil
}

// cgroupScope matches the directory and everything below it: the
// ancestor at the directory's level is the directory itself.
func cgroupScope(d *cgroupDir) program.Scope {
	return program.Scope{Mode: program.ScopeCgroup, CgroupID: d.id, CgroupLevel: d.level}
}

// ForCgroupPath scopes to one cgroup v2 directory and its descendants on
// this host (`--local --cgroup PATH`); see Options.CgroupPath.
func ForCgroupPath(path string) (program.Scope, error) {
	m, err := Options{}.CgroupPath(path)
	return m.Scope, err
}

// ForPid scopes to one process of this host (`--local --pid PID`); see
// Options.Pid.
func ForPid(pid int) (program.Scope, error) {
	m, err := Options{}.Pid(pid)
	return m.Scope, err
}

// CgroupPath scopes to one cgroup v2 directory and its descendants. path
// is either a path in the file system under the cgroup2 mount
// (/sys/fs/cgroup/unified/kubepods/besteffort) or a path in the hierarchy
// as /proc/PID/cgroup shows it (/kubepods/besteffort, or without the
// leading slash).
func (opts Options) CgroupPath(path string) (Match, error) {
	for _, part := range strings.Split(path, "/") {
		if part == ".." {
			return Match{}, fmt.Errorf("%w to cgroup %q: \"..\" is not allowed", ErrCannotScope, path)
		}
	}
	h, err := findHierarchy(opts)
	if err != nil {
		return Match{}, fmt.Errorf("%w to cgroup %q: %w", ErrCannotScope, path, err)
	}
	clean := filepath.Clean("/" + path)
	rel := strings.TrimPrefix(clean, "/")
	if filepath.IsAbs(path) {
		if r, err := filepath.Rel(h.mount, clean); err == nil && !strings.HasPrefix(r, "..") {
			rel = r
		}
	}
	if rel == "." {
		rel = ""
	}
	d, err := h.dir(rel)
	if err != nil {
		return Match{}, fmt.Errorf("%w to cgroup %q: %w (give a directory under %s, or a path as /proc/PID/cgroup shows it)", ErrCannotScope, path, err, h.mount)
	}
	return Match{Scope: cgroupScope(d), What: "cgroup /" + rel}, nil
}

// Pid scopes to one process (its threads included) by its pid on the host.
// The match names the process by its comm.
func (opts Options) Pid(pid int) (Match, error) {
	if pid <= 0 || pid > 1<<22 {
		return Match{}, fmt.Errorf("%w to pid %d: not a process id", ErrCannotScope, pid)
	}
	comm, err := os.ReadFile(filepath.Join(opts.procRoot(), strconv.Itoa(pid), "comm"))
	if err != nil {
		return Match{}, fmt.Errorf("%w to pid %d: no such process in %s: %w", ErrCannotScope, pid, opts.procRoot(), err)
	}
	return Match{Scope: program.Scope{Mode: program.ScopePid, Pid: uint32(pid)}, What: strings.TrimSpace(string(comm))}, nil
}
