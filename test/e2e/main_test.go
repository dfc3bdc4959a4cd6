//go:build e2e

// Package e2e drives the built kubectl-xtrace binary against a real cluster
// (hack/cluster: a single-node Kubernetes whose node is this machine) and
// checks what users see: output, exit codes, timings, and what is left in the
// cluster and on the node's disk. Run it with `make e2e`, or against a
// running cluster with `go test -tags e2e ./test/e2e`.
//
// It needs: a reachable cluster (KUBECONFIG, default: hack/cluster's admin
// kubeconfig), root (it reads /var/lib/xtrace and /proc on the node), and for
// the krew case the release artifacts of `make release`. Without a cluster
// the suite fails and says why; it never skips.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/xtrace-dev/kubectl-xtrace/test/internal/testenv"
)

// env is set up once by TestMain and read by every test.
var env struct {
	repo       string
	cluster    testenv.Cluster
	kubeconfig string
	client     kubernetes.Interface
	node       string // the node the workloads run on: this machine
	plugin     string // bin/kubectl-xtrace
	image      string // the runner image, loaded into the node's containerd
	ns         string // workloads
	jobNS      string // trace Jobs: allows privileged pods
	baselineNS string // enforces the baseline Pod Security Standard
	policyNS   string // privileged, but an admission policy denies hostPID pods
	outputRoot string // where runners persist traces on the node
}

const (
	xtestImage = "xtrace.local/xtest:e2e" // built and imported by hack/cluster/up.sh
	marker     = "/tmp/xtrace-e2e-marker"
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	err := setup(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e setup failed: %v\n", err)
		fmt.Println("FAIL\te2e setup")
		os.Exit(1)
	}
	code := m.Run()
	if os.Getenv("XTRACE_E2E_KEEP") == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		if err := teardown(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "e2e teardown: %v\n", err)
			code = 1
		}
		cancel()
	}
	os.Exit(code)
}

func setup(ctx context.Context) error {
	var err error
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: the suite checks the node's disk (/var/lib/xtrace) and /proc")
	}
	if env.repo, err = testenv.RepoRoot(); err != nil {
		return err
	}
	if env.cluster, err = testenv.LoadCluster(env.repo); err != nil {
		return err
	}
	env.kubeconfig = os.Getenv("KUBECONFIG")
	if env.kubeconfig == "" {
		env.kubeconfig = env.cluster.Kubeconfig
	}
	if _, err := os.Stat(env.kubeconfig); err != nil {
		return fmt.Errorf("no kubeconfig (%w): start the cluster with hack/cluster/up.sh or `make e2e`, or set KUBECONFIG", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", env.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", env.kubeconfig, err)
	}
	cfg.Timeout = 30 * time.Second
	if env.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	v, err := env.client.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("cluster of %s not reachable: %w (is hack/cluster/up.sh running?)", env.kubeconfig, err)
	}
	if env.node, err = readyNode(ctx); err != nil {
		return err
	}
	fmt.Printf("e2e: cluster %s (kubernetes %s), node %s\n", env.kubeconfig, v.GitVersion, env.node)

	// The binaries under test, version-stamped as users get them.
	build := exec.CommandContext(ctx, "make", "-C", env.repo, "build")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("make build: %w\n%s", err, out)
	}
	env.plugin = filepath.Join(env.repo, "bin/kubectl-xtrace")

	// The runner image under a dev tag, straight into the node's containerd;
	// the plugin is told to use it with --image. XTRACE_E2E_IMAGE names an
	// image already on the nodes (for clusters other than hack/cluster's).
	env.image = os.Getenv("XTRACE_E2E_IMAGE")
	if env.image == "" {
		env.image = "xtrace.local/trace-runner:e2e"
		load := exec.CommandContext(ctx, filepath.Join(env.repo, "hack/cluster/load-image.sh"), env.image, filepath.Join(env.repo, "bin/trace-runner"))
		if out, err := load.CombinedOutput(); err != nil {
			return fmt.Errorf("loading the runner image: %w\n%s", err, out)
		}
	}
	env.outputRoot = "/var/lib/xtrace"

	env.ns, env.jobNS, env.baselineNS, env.policyNS = "xtrace-e2e", "xtrace-e2e-jobs", "xtrace-e2e-baseline", "xtrace-e2e-policy"
	if err := teardown(ctx); err != nil { // leftovers of an interrupted run
		return err
	}
	for ns, level := range map[string]string{env.ns: "baseline", env.jobNS: "privileged", env.baselineNS: "baseline", env.policyNS: "privileged"} {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": level,
		}}}
		if ns == env.policyNS {
			obj.Labels[denyHostPIDLabel] = "true"
		}
		if _, err := env.client.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	// Pods need the namespace's default ServiceAccount, made asynchronously.
	if err := createDenyHostPIDPolicy(ctx); err != nil {
		return err
	}
	for _, ns := range []string{env.ns, env.jobNS, env.baselineNS, env.policyNS} {
		if err := poll(ctx, 60*time.Second, func() (bool, error) {
			_, err := env.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			return err == nil, nil
		}); err != nil {
			return fmt.Errorf("no default ServiceAccount in %s: %w", ns, err)
		}
	}
	return waitDenyHostPIDPolicy(ctx)
}

// readyNode returns the name of the cluster's Ready node. The suite's disk
// and /proc checks assume that node is this machine.
func readyNode(ctx context.Context) (string, error) {
	nodes, err := env.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing nodes: %w", err)
	}
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				if n.Name != env.cluster.Node {
					return "", fmt.Errorf("Ready node %s is not this machine (%s): the suite checks the node's disk", n.Name, env.cluster.Node)
				}
				return n.Name, nil
			}
		}
	}
	return "", fmt.Errorf("no Ready node among %d", len(nodes.Items))
}

// teardown deletes every trace the suite made (through the plugin, which
// also removes the node files) and the suite's namespaces, and waits until
// they are gone.
func teardown(ctx context.Context) error {
	if env.plugin != "" {
		if _, err := os.Stat(env.plugin); err == nil {
			cmd := exec.CommandContext(ctx, env.plugin, "delete", "--all", "-n", env.jobNS)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+env.kubeconfig)
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "e2e teardown: kubectl-xtrace delete --all: %v\n%s", err, out)
			}
		}
	}
	if err := deleteDenyHostPIDPolicy(ctx); err != nil {
		return err
	}
	names := []string{env.ns, env.jobNS, env.baselineNS, env.policyNS}
	for _, ns := range names {
		err := env.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting namespace %s: %w", ns, err)
		}
	}
	for _, ns := range names {
		if err := poll(ctx, 120*time.Second, func() (bool, error) {
			_, err := env.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}); err != nil {
			return fmt.Errorf("namespace %s not deleted: %w", ns, err)
		}
	}
	return nil
}

// poll calls cond every 250 ms until it returns true, an error, or timeout.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still not true after %s", timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// denyHostPIDLabel marks the namespaces where the e2e admission policy
// rejects hostPID pods: an admission rejection that no namespace label
// announces, so the plugin can only learn of it from the Job's events.
const (
	denyHostPIDLabel  = "xtrace-e2e/deny-hostpid"
	denyHostPIDPolicy = "xtrace-e2e-deny-hostpid"
	denyHostPIDReason = "the xtrace e2e policy forbids hostPID pods here"
)

func createDenyHostPIDPolicy(ctx context.Context) error {
	fail := admissionv1.Fail
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: denyHostPIDPolicy},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{
				ResourceRules: []admissionv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionv1.RuleWithOperations{
						Operations: []admissionv1.OperationType{admissionv1.Create},
						Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
					},
				}},
			},
			Validations: []admissionv1.Validation{{
				Expression: "!has(object.spec.hostPID) || !object.spec.hostPID",
				Message:    denyHostPIDReason,
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: denyHostPIDPolicy},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        denyHostPIDPolicy,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{denyHostPIDLabel: "true"}},
			},
		},
	}
	ar := env.client.AdmissionregistrationV1()
	if _, err := ar.ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating admission policy: %w", err)
	}
	if _, err := ar.ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating admission policy binding: %w", err)
	}
	return nil
}

// waitDenyHostPIDPolicy waits until the policy is in force: the apiserver
// loads new policies asynchronously. It probes with a server-side dry run.
func waitDenyHostPIDPolicy(ctx context.Context) error {
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "policy-probe", Namespace: env.policyNS},
		Spec:       corev1.PodSpec{HostPID: true, Containers: []corev1.Container{{Name: "c", Image: xtestImage}}},
	}
	var last error
	err := poll(ctx, 60*time.Second, func() (bool, error) {
		_, last = env.client.CoreV1().Pods(env.policyNS).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return last != nil && strings.Contains(last.Error(), denyHostPIDReason), nil
	})
	if err != nil {
		return fmt.Errorf("admission policy %s not in force (last dry run: %v): %w", denyHostPIDPolicy, last, err)
	}
	return nil
}

func deleteDenyHostPIDPolicy(ctx context.Context) error {
	ar := env.client.AdmissionregistrationV1()
	if err := ar.ValidatingAdmissionPolicyBindings().Delete(ctx, denyHostPIDPolicy, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting admission policy binding: %w", err)
	}
	if err := ar.ValidatingAdmissionPolicies().Delete(ctx, denyHostPIDPolicy, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting admission policy: %w", err)
	}
	return nil
}
