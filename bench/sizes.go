package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// machine is what the table says about where it ran.
type machine struct {
	date, host, kernel, cpus, cpuModel, bpftrace, goVersion string
}

func describeMachine(bpftraceBin string) (machine, error) {
	m := machine{date: time.Now().UTC().Format("2006-01-02 15:04 UTC")}
	m.host, _ = os.Hostname()
	var err error
	if m.kernel, err = command("uname", "-r"); err != nil {
		return m, err
	}
	if m.cpus, err = command("nproc"); err != nil {
		return m, err
	}
	if m.bpftrace, err = command(bpftraceBin, "--version"); err != nil {
		return m, err
	}
	if m.goVersion, err = command("go", "env", "GOVERSION"); err != nil {
		return m, err
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpuModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m, nil
}

func command(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// sizes compares what each tool needs on a node.
type sizes struct {
	xtraceBytes  int64
	xtraceWhat   string // which artifact was measured
	bpftraceKiB  int64  // Debian Installed-Size sum, KiB
	bpftraceWhat string // the method and the packages
	depsKiB      int64  // the same over the recursive Depends closure
	depsWhat     string
}

const imageTar = "dist/xtrace-runner-image.tar"

// measureSizes measures the runner image if `make image` has produced it,
// otherwise a static trace-runner binary built now (and says which), and
// bpftrace's installed footprint from dpkg.
func measureSizes(xtraceBin, tmp, bpftraceBin string) (sizes, error) {
	var s sizes
	if st, err := os.Stat(imageTar); err == nil {
		s.xtraceBytes = st.Size()
		s.xtraceWhat = fmt.Sprintf("runner image %s (make image, built %s)", imageTar, st.ModTime().UTC().Format("2006-01-02 15:04 UTC"))
	} else {
		bin := filepath.Join(tmp, "trace-runner")
		if err := goBuild(bin, "./cmd/trace-runner"); err != nil {
			return s, err
		}
		st, err := os.Stat(bin)
		if err != nil {
			return s, fmt.Errorf("stat trace-runner: %w", err)
		}
		s.xtraceBytes = st.Size()
		s.xtraceWhat = "static trace-runner binary (CGO_ENABLED=0; no image: dist/xtrace-runner-image.tar missing, run make image)"
	}

	// What bpftrace needs at run time: its own package plus the packages
	// owning every shared library it loads (ldd), from libc to LLVM.
	pkgs, err := libraryPackages(bpftraceBin)
	if err != nil {
		return s, err
	}
	if s.bpftraceKiB, err = installedKiB(pkgs); err != nil {
		return s, err
	}
	s.bpftraceWhat = "dpkg Installed-Size of bpftrace + the packages owning the shared libraries ldd lists for it: " + strings.Join(pkgs, " ")

	// The wider figure apt would install on a bare system: the recursive
	// Depends closure (first alternative of each dependency).
	closure, err := dependsClosure("bpftrace")
	if err != nil {
		return s, err
	}
	if s.depsKiB, err = installedKiB(closure); err != nil {
		return s, err
	}
	s.depsWhat = fmt.Sprintf("recursive Depends closure of bpftrace, %d packages", len(closure))
	return s, nil
}

// libraryPackages returns bpftrace's package and those owning its libraries.
func libraryPackages(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	set := map[string]bool{}
	owner, err := dpkgOwner(bin)
	if err != nil {
		return nil, err
	}
	set[owner] = true
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "libLLVM-14.so.1 => /lib/x86_64-linux-gnu/libLLVM-14.so.1 (0x...)"
		// or "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file.
		var path string
		if _, after, ok := strings.Cut(sc.Text(), "=> "); ok {
			path = strings.Fields(after)[0]
		} else if f := strings.Fields(sc.Text()); len(f) > 0 && strings.HasPrefix(f[0], "/") {
			path = f[0]
		}
		if path == "" {
			continue
		}
		owner, err := dpkgOwner(path)
		if err != nil {
			return nil, err
		}
		set[owner] = true
	}
	return sortedKeys(set), nil
}

// dpkgOwner finds the package of a file; Debian 12 is usr-merged, so a file
// ldd reports under /lib may be registered under /usr/lib, and a symlink
// under its target's name.
func dpkgOwner(path string) (string, error) {
	candidates := []string{path, "/usr" + path}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		candidates = append(candidates, real, "/usr"+real, strings.TrimPrefix(real, "/usr"))
	}
	for _, c := range candidates {
		out, err := exec.Command("dpkg-query", "-S", c).Output()
		if err == nil {
			pkg, _, _ := strings.Cut(strings.TrimSpace(string(out)), ":")
			return pkg, nil
		}
	}
	return "", fmt.Errorf("dpkg-query -S: no package owns %s", path)
}

// dependsClosure walks Depends and Pre-Depends recursively from pkg.
func dependsClosure(pkg string) ([]string, error) {
	seen := map[string]bool{}
	queue := []string{pkg}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		out, err := exec.Command("dpkg-query", "-Wf", "${Pre-Depends}, ${Depends}", p).Output()
		if err != nil {
			// A virtual or uninstalled alternative: not part of the footprint.
			continue
		}
		seen[p] = true
		for _, dep := range strings.Split(string(out), ",") {
			first, _, _ := strings.Cut(dep, "|")
			name := strings.Fields(first + " ")
			if len(name) == 0 {
				continue
			}
			n, _, _ := strings.Cut(name[0], ":") // drop ":any"
			queue = append(queue, n)
		}
	}
	return sortedKeys(seen), nil
}

func installedKiB(pkgs []string) (int64, error) {
	var total int64
	for _, p := range pkgs {
		out, err := exec.Command("dpkg-query", "-Wf", "${Installed-Size}", p).Output()
		if err != nil {
			return 0, fmt.Errorf("dpkg-query Installed-Size %s: %w", p, err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("Installed-Size of %s: %w", p, err)
		}
		total += n
	}
	return total, nil
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// measureCluster times `kubectl xtrace run node/N` from launch to the first
// event line, on the first node of the current kubeconfig. It returns the
// figure or why there is none; the runner image must already be loadable
// by the cluster (make image, then import it).
func measureCluster(xtraceBin string) string {
	node, err := command("kubectl", "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")
	if err != nil || node == "" {
		return fmt.Sprintf("not measured (no cluster: %v)", err)
	}
	cmd := exec.Command(xtraceBin, "run", "node/"+node, "--duration", "2m",
		"-e", `interval:ms:100 { printf("XTMARK\n"); exit(); }`)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Sprintf("not measured: %v", err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Sprintf("not measured: %v", err)
	}
	var first time.Duration
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if first == 0 && strings.HasPrefix(sc.Text(), markerLine) {
			first = time.Since(start)
		}
	}
	err = cmd.Wait()
	if first == 0 {
		return fmt.Sprintf("not measured: no event from node/%s (%v) %s", node, err, strings.TrimSpace(stderr.String()))
	}
	return fmt.Sprintf("%.2f s from `kubectl xtrace run node/%s` to the first event (one run)", first.Seconds(), node)
}
