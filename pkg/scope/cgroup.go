package scope

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const (
	cgroup2Magic = 0x63677270 // CGROUP2_SUPER_MAGIC
	// rootCgroupIno is the inode (and cgroup id) of a cgroup2 hierarchy's
	// root directory on kernels with 64-bit kernfs ids (5.5 and later).
	rootCgroupIno = 1
	// maxWalkDepth bounds the search for a pod's directory. Kubernetes puts
	// pods 2–4 levels deep; nested setups (kind, kubelet in a container)
	// add a few more.
	maxWalkDepth = 12
)

// hierarchy is the cgroup2 hierarchy as the runner sees it.
type hierarchy struct {
	// mount is where the runner sees the directory at depth base of the
	// hierarchy (normally the root: base 0).
	mount string
	base  int
}

// findHierarchy locates the cgroup2 hierarchy from opts.
func findHierarchy(opts Options) (*hierarchy, error) {
	var candidates []string
	if opts.CgroupRoot != "" {
		root := filepath.Clean(opts.CgroupRoot)
		candidates = []string{root, filepath.Join(root, "unified")}
	} else {
		mounts, err := cgroup2Mounts("/proc/self/mountinfo")
		if err != nil {
			return nil, err
		}
		candidates = mounts
	}
	for _, dir := range candidates {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil || st.Type != cgroup2Magic {
			continue
		}
		base, err := mountDepth(dir)
		if err != nil {
			return nil, err
		}
		return &hierarchy{mount: dir, base: base}, nil
	}
	if opts.CgroupRoot != "" {
		return nil, fmt.Errorf("%w at %s or %s/unified: mount the host's /sys/fs/cgroup there", ErrNoCgroup2, opts.CgroupRoot, opts.CgroupRoot)
	}
	return nil, fmt.Errorf("%w in /proc/self/mountinfo", ErrNoCgroup2)
}

// mountDepth returns the depth in the hierarchy of the directory mounted at
// dir. Levels must count from the true root, whatever part of the tree the
// mount shows, or the kernel would compare the wrong ancestor. The root is
// recognised by its cgroup id; a mount of a subtree is resolved through
// mountinfo's root field.
func mountDepth(dir string) (int, error) {
	ino, err := inode(dir)
	if err != nil {
		return 0, err
	}
	if ino == rootCgroupIno {
		return 0, nil
	}
	root, err := mountRoot("/proc/self/mountinfo", dir)
	if err != nil {
		return 0, err
	}
	if root == "/" || strings.HasPrefix(root, "/..") {
		// "/" with an inode other than the root's means we see the tree
		// through a cgroup namespace; "/.." is a mount outside ours.
		return 0, fmt.Errorf("%w: the cgroup2 mount at %s does not show the hierarchy's root (mount root %q, cgroup id %d): mount the host's /sys/fs/cgroup into the runner",
			ErrNoCgroup2, dir, root, ino)
	}
	return depth(root), nil
}

// cgroup2Mounts returns the mount points of cgroup2 file systems listed in
// a mountinfo file.
func cgroup2Mounts(mountinfo string) ([]string, error) {
	var mounts []string
	err := eachMount(mountinfo, func(root, point, fstype string) {
		if fstype == "cgroup2" {
			mounts = append(mounts, point)
		}
	})
	return mounts, err
}

// mountRoot returns the root field of the last mount at point.
func mountRoot(mountinfo, point string) (string, error) {
	root := ""
	err := eachMount(mountinfo, func(r, p, _ string) {
		if p == point {
			root = r
		}
	})
	if err != nil {
		return "", err
	}
	if root == "" {
		return "", fmt.Errorf("%w: %s is not a mount point in %s", ErrNoCgroup2, point, mountinfo)
	}
	return root, nil
}

// eachMount calls fn for every line of a mountinfo file:
// "36 35 98:0 /root /mnt/point rw,... - fstype source options".
func eachMount(mountinfo string, fn func(root, point, fstype string)) error {
	f, err := os.Open(mountinfo)
	if err != nil {
		return fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) {
			continue
		}
		fn(unescapeMount(fields[3]), unescapeMount(fields[4]), fields[sep+1])
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", mountinfo, err)
	}
	return nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// depth counts the components of a clean slash-separated path relative to
// the hierarchy root: "/" and "" are 0, "/kubepods/besteffort" is 2.
func depth(p string) int {
	p = strings.Trim(p, "/")
	if p == "" {
		return 0
	}
	return strings.Count(p, "/") + 1
}

// cgroupDir is one cgroup directory found under the hierarchy.
type cgroupDir struct {
	rel   string // path relative to the mount, slash-separated
	id    uint64
	level int
}

func (h *hierarchy) dir(rel string) (*cgroupDir, error) {
	id, err := inode(filepath.Join(h.mount, rel))
	if err != nil {
		return nil, err
	}
	return &cgroupDir{rel: rel, id: id, level: h.base + depth(rel)}, nil
}

// populated reports whether the cgroup or a descendant has a live process
// (the "populated" key of cgroup.events).
func (h *hierarchy) populated(rel string) (bool, error) {
	data, err := os.ReadFile(filepath.Join(h.mount, rel, "cgroup.events"))
	if err != nil {
		return false, fmt.Errorf("reading cgroup.events of %s: %w", rel, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "populated "); ok {
			return v == "1", nil
		}
	}
	return false, fmt.Errorf("cgroup.events of %s has no populated key", rel)
}

// podDirMatcher matches the names a pod's cgroup directory may have: the
// cgroupfs driver's "pod<UID>" and the systemd driver's
// "kubepods[-<qos>]-pod<UID with underscores>.slice" (matched by suffix).
func podDirMatcher(uid string) func(name string) bool {
	cgroupfs := "pod" + uid
	systemd := "-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice"
	return func(name string) bool {
		return name == cgroupfs || (strings.HasPrefix(name, "kubepods") && strings.HasSuffix(name, systemd))
	}
}

// containerDirMatcher matches a container's cgroup directory under its pod:
// "<id>" (cgroupfs driver) or "<prefix>-<id>.scope" (systemd driver, where
// the prefix is cri-containerd, crio or docker).
func containerDirMatcher(hexID string) func(name string) bool {
	return func(name string) bool {
		if name == hexID {
			return true
		}
		for _, prefix := range []string{"cri-containerd-", "crio-", "docker-"} {
			if name == prefix+hexID+".scope" {
				return true
			}
		}
		return false
	}
}

// findPodDirs walks the hierarchy once and returns, for every matcher, the
// directories it matched. Pod directories hold only containers below them,
// so the walk does not descend into a match.
func (h *hierarchy) findPodDirs(matchers map[string]func(string) bool) (map[string][]string, error) {
	found := make(map[string][]string)
	var walk func(rel string, d int) error
	walk = func(rel string, d int) error {
		entries, err := os.ReadDir(filepath.Join(h.mount, rel))
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while we walk
		}
		if err != nil {
			return fmt.Errorf("searching the cgroup tree: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			child := pathJoin(rel, e.Name())
			matched := false
			for key, match := range matchers {
				if match(e.Name()) {
					found[key] = append(found[key], child)
					matched = true
				}
			}
			if !matched && d+1 < maxWalkDepth {
				if err := walk(child, d+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return found, walk("", 0)
}

// findChild returns the single child directory of rel that match accepts.
func (h *hierarchy) findChild(rel string, match func(string) bool) (string, error) {
	entries, err := os.ReadDir(filepath.Join(h.mount, rel))
	if err != nil {
		return "", fmt.Errorf("reading cgroup %s: %w", rel, err)
	}
	for _, e := range entries {
		if e.IsDir() && match(e.Name()) {
			return pathJoin(rel, e.Name()), nil
		}
	}
	return "", fs.ErrNotExist
}

func pathJoin(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

func inode(path string) (uint64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("%s is not a cgroup directory", path)
	}
	return fi.Sys().(*syscall.Stat_t).Ino, nil
}

// anyPid returns a process in the cgroup or below it, preferring one that
// is not a pod's sandbox (pause) process, whose root is not the
// application's; 0 if there is none.
func (h *hierarchy) anyPid(rel, procRoot string) int {
	found := 0
	filepath.WalkDir(filepath.Join(h.mount, rel), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			found = pid
			if !isSandbox(procRoot, pid) {
				return fs.SkipAll
			}
		}
		return nil
	})
	return found
}

// isSandbox reports whether pid is a pod's pause process.
func isSandbox(procRoot string, pid int) bool {
	comm, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "comm"))
	return err == nil && strings.TrimSpace(string(comm)) == "pause"
}
