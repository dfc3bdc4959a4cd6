//go:build krew

// Package krew_test installs the release the way users will: a real krew
// (built from the Go module proxy) installs plugins/xtrace.yaml with the
// linux/amd64 archive from dist/ into a private KREW_ROOT, and a real kubectl
// of client-go's minor runs the plugin through its plugin mechanism.
// Run with `make krew-test` (it runs `make release` first).
package krew_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/xtrace-dev/kubectl-xtrace/test/internal/testenv"
)

func TestKrewInstall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	repo, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := testenv.LoadCluster(repo)
	if err != nil {
		t.Fatal(err)
	}
	kubectl, err := testenv.Kubectl(ctx, repo, cluster)
	if err != nil {
		t.Fatal(err)
	}
	checkKubectlMinor(t, repo, kubectl)

	// The manifest's version is the release's: the installed plugin must say it.
	var m struct {
		Metadata struct{ Name string }    `json:"metadata"`
		Spec     struct{ Version string } `json:"spec"`
	}
	b, err := os.ReadFile(filepath.Join(repo, "plugins/xtrace.yaml"))
	if err != nil {
		t.Fatalf("%v: run make release first", err)
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("plugins/xtrace.yaml: %v", err)
	}
	if m.Metadata.Name != "xtrace" || m.Spec.Version == "" {
		t.Fatalf("plugins/xtrace.yaml: name %q version %q, want xtrace and a version", m.Metadata.Name, m.Spec.Version)
	}

	k, out, err := testenv.InstallPlugin(ctx, repo, kubectl, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("krew install:\n%s", out)
	if !strings.Contains(out, `Installed plugin: xtrace`) {
		t.Errorf("krew install output lacks %q", "Installed plugin: xtrace")
	}
	// krew unpacked the archive into its store and linked the binary.
	for _, f := range []string{
		filepath.Join(k.Root, "store/xtrace", m.Spec.Version, "kubectl-xtrace"),
		filepath.Join(k.Root, "store/xtrace", m.Spec.Version, "LICENSE"),
		filepath.Join(k.Root, "bin/kubectl-xtrace"),
	} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("after install: %v", err)
		}
	}

	out, err = k.Run(ctx, kubectl, "krew", "list")
	if err != nil || !regexp.MustCompile(`(?m)^(detached/)?xtrace\b`).MatchString(out) {
		t.Errorf("kubectl krew list: err=%v, output lacks xtrace:\n%s", err, out)
	}
	out, err = k.Run(ctx, kubectl, "plugin", "list")
	if err != nil || !strings.Contains(out, filepath.Join(k.Root, "bin/kubectl-xtrace")) {
		t.Errorf("kubectl plugin list: err=%v, output lacks the krew-installed plugin:\n%s", err, out)
	}

	// The plugin mechanism: kubectl runs kubectl-xtrace from PATH.
	out, err = k.Run(ctx, kubectl, "xtrace", "version")
	if err != nil {
		t.Fatalf("kubectl xtrace version: %v\n%s", err, out)
	}
	t.Logf("kubectl xtrace version:\n%s", out)
	if !strings.Contains(out, m.Spec.Version) {
		t.Errorf("kubectl xtrace version does not print the release version %s:\n%s", m.Spec.Version, out)
	}
	if want := "ghcr.io/xtrace-dev/xtrace-runner:" + m.Spec.Version; !strings.Contains(out, want) {
		t.Errorf("kubectl xtrace version does not name the runner image %s:\n%s", want, out)
	}

	out, err = k.Run(ctx, kubectl, "krew", "uninstall", "xtrace")
	if err != nil {
		t.Fatalf("kubectl krew uninstall xtrace: %v\n%s", err, out)
	}
	if _, err := os.Lstat(filepath.Join(k.Root, "bin/kubectl-xtrace")); !os.IsNotExist(err) {
		t.Errorf("after uninstall, %s still exists (err=%v)", filepath.Join(k.Root, "bin/kubectl-xtrace"), err)
	}
}

// checkKubectlMinor asserts kubectl has the minor version of the client-go
// the plugin links (k8s.io/client-go v0.MINOR.x <-> kubectl v1.MINOR.x).
func checkKubectlMinor(t *testing.T, repo, kubectl string) {
	t.Helper()
	gomod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mm := regexp.MustCompile(`(?m)^\s*k8s\.io/client-go v0\.(\d+)\.`).FindSubmatch(gomod)
	if mm == nil {
		t.Fatal("go.mod does not require k8s.io/client-go v0.x")
	}
	out, err := exec.Command(kubectl, "version", "--client", "-o", "json").Output()
	if err != nil {
		t.Fatalf("%s version --client: %v", kubectl, err)
	}
	var v struct {
		ClientVersion struct{ Major, Minor, GitVersion string } `json:"clientVersion"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("kubectl version output: %v\n%s", err, out)
	}
	if v.ClientVersion.Minor != string(mm[1]) {
		t.Fatalf("kubectl %s has minor %s, client-go has minor %s: set K8S_VERSION=1.%s.x", v.ClientVersion.GitVersion, v.ClientVersion.Minor, mm[1], mm[1])
	}
	t.Logf("kubectl %s (client-go v0.%s)", v.ClientVersion.GitVersion, mm[1])
}
