// Package testenv finds what the krew and e2e suites run against: the
// repository, the project's cluster (hack/cluster), its kubectl, and a
// krew-installed copy of the plugin. Paths come from hack/cluster/lib.sh so
// the scripts and the tests cannot disagree about them.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RepoRoot returns the directory holding this module's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/xtrace-dev/kubectl-xtrace\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the kubectl-xtrace repository")
		}
		dir = parent
	}
}

// Cluster holds hack/cluster's paths and names, as lib.sh computes them
// from the environment (K8S_VERSION, XK8S_ROOT).
type Cluster struct {
	Root       string // XK8S_ROOT
	K8sVersion string
	Kubeconfig string
	Kubectl    string
	Node       string
	Sock       string // containerd socket
}

// LoadCluster sources hack/cluster/lib.sh and reads its variables.
func LoadCluster(repo string) (Cluster, error) {
	script := `source "$1"; printf '%s\n' "$XK8S_ROOT" "$K8S_VERSION" "$KCFG" "$KUBECTL" "$NODE" "$SOCK"`
	out, err := exec.Command("bash", "-c", script, "bash", filepath.Join(repo, "hack/cluster/lib.sh")).Output()
	if err != nil {
		return Cluster{}, fmt.Errorf("reading hack/cluster/lib.sh: %w", err)
	}
	f := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(f) != 6 {
		return Cluster{}, fmt.Errorf("hack/cluster/lib.sh printed %q", out)
	}
	return Cluster{Root: f[0], K8sVersion: f[1], Kubeconfig: f[2], Kubectl: f[3], Node: f[4], Sock: f[5]}, nil
}

// Kubectl returns a kubectl binary: $KUBECTL if set, else the cluster's,
// building just kubectl (from the Go module proxy, cached) if it is not
// there yet.
func Kubectl(ctx context.Context, repo string, c Cluster) (string, error) {
	if k := os.Getenv("KUBECTL"); k != "" {
		return k, nil
	}
	if _, err := os.Stat(c.Kubectl); err == nil {
		return c.Kubectl, nil
	}
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "hack/cluster/up.sh"))
	cmd.Env = append(os.Environ(), "BUILD_ONLY=1", "K8S_CMDS=kubectl")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building kubectl v%s: %w\n%s", c.K8sVersion, err, out)
	}
	return c.Kubectl, nil
}

// Krew is a plugin installed with krew into a private KREW_ROOT.
type Krew struct {
	Root string   // KREW_ROOT
	Env  []string // environment for running kubectl with the plugin on PATH
}

// InstallPlugin builds krew from the Go module proxy (module hack/krew) into
// dir, and installs the plugin into dir/krew-root from the release manifest
// and the local archive, the way a user tries a release before it is in the
// krew index:
//
//	kubectl krew install --manifest=plugins/xtrace.yaml --archive=dist/kubectl-xtrace_linux_amd64.tar.gz
func InstallPlugin(ctx context.Context, repo, kubectl, dir string) (Krew, string, error) {
	manifest := filepath.Join(repo, "plugins/xtrace.yaml")
	archive := filepath.Join(repo, "dist/kubectl-xtrace_linux_amd64.tar.gz")
	for _, f := range []string{manifest, archive} {
		if _, err := os.Stat(f); err != nil {
			return Krew{}, "", fmt.Errorf("%w: run `make release` first", err)
		}
	}
	binDir := filepath.Join(dir, "bin")
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(binDir, "kubectl-krew"), "sigs.k8s.io/krew/cmd/krew")
	build.Dir = filepath.Join(repo, "hack/krew")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return Krew{}, "", fmt.Errorf("building krew: %w\n%s", err, out)
	}
	// kubectl finds plugins on PATH: krew itself as kubectl-krew in binDir,
	// installed plugins as links in KREW_ROOT/bin.
	k := Krew{Root: filepath.Join(dir, "krew-root")}
	if err := os.MkdirAll(filepath.Join(k.Root, "bin"), 0o755); err != nil {
		return Krew{}, "", err
	}
	// krew's list/uninstall refuse to run without a plugin index, which
	// `krew update` would clone from GitHub. An empty local git index (a
	// custom index with no plugins) satisfies them offline.
	index := filepath.Join(k.Root, "index/default")
	if err := os.MkdirAll(filepath.Join(index, "plugins"), 0o755); err != nil {
		return Krew{}, "", err
	}
	if out, err := exec.CommandContext(ctx, "git", "init", "-q", index).CombinedOutput(); err != nil {
		return Krew{}, "", fmt.Errorf("git init %s: %w\n%s", index, err, out)
	}
	k.Env = append(withoutVars(os.Environ(), "PATH", "KREW_ROOT"),
		"KREW_ROOT="+k.Root,
		"KREW_NO_UPGRADE_CHECK=1",
		"PATH="+filepath.Join(k.Root, "bin")+":"+binDir+":"+filepath.Dir(kubectl)+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	)
	out, err := k.Run(ctx, kubectl, "krew", "install", "--manifest="+manifest, "--archive="+archive)
	if err != nil {
		return Krew{}, out, fmt.Errorf("kubectl krew install: %w\n%s", err, out)
	}
	return k, out, nil
}

// Run runs kubectl with the krew environment and returns its combined output.
func (k Krew) Run(ctx context.Context, kubectl string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectl, args...)
	cmd.Env = k.Env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func withoutVars(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}
