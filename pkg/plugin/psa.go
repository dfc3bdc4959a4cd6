package plugin

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const psaEnforceLabel = "pod-security.kubernetes.io/enforce"

// checkPodSecurity refuses, before anything is created, a Job namespace
// whose Pod Security Admission level would reject the runner pod: the
// rejection would otherwise only show as a FailedCreate event on the Job.
// A user who may not read namespaces is not stopped here; the startup
// watcher still reports the rejection from the Job's events.
func checkPodSecurity(ctx context.Context, client kubernetes.Interface, namespace string) error {
	ns, err := client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("the Job namespace %q does not exist: create it, or pass --job-namespace (kubectl xtrace rbac | kubectl apply -f - creates xtrace-system)", namespace)
	case apierrors.IsForbidden(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading namespace %s to check its Pod Security level: %w", namespace, err)
	}
	switch level := ns.Labels[psaEnforceLabel]; level {
	case "", "privileged":
		return nil
	default:
		return fmt.Errorf("namespace %q enforces the %q Pod Security Standard, which rejects the runner pod (it needs hostPID, hostPath volumes and eBPF capabilities). Either run it in a privileged namespace: kubectl xtrace rbac | kubectl apply -f -, then add --job-namespace xtrace-system; or label this one: kubectl label namespace %s %s=privileged --overwrite",
			namespace, level, namespace, psaEnforceLabel)
	}
}
