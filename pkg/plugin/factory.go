package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
)

// Factory hands every command the same cluster access, built lazily from the
// kubectl flags (--kubeconfig, --context, -n, --as, ...). Tests fill in the
// unexported fields instead: a fake clientset, canned pod logs, a fast poll
// interval and a scripted Ctrl-C.
type Factory struct {
	ConfigFlags *genericclioptions.ConfigFlags

	client kubernetes.Interface
	// openLogs opens a container's log. The fake clientset answers every log
	// request with the same fixed text, so tests replace this.
	openLogs func(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error)
	// interrupts delivers Ctrl-C (SIGINT) and SIGTERM while a command runs.
	interrupts func() (<-chan os.Signal, func())
	// pollInterval is how often the watchers look at Jobs, pods and events.
	pollInterval time.Duration
	// exitWait is how long to wait for a pod to report its exit code once
	// its log has ended; the kubelet updates the status a moment later.
	exitWait time.Duration
	now      func() time.Time
	newID    func() string
}

// NewFactory returns a Factory reading the usual kubeconfig.
func NewFactory() *Factory {
	return &Factory{
		ConfigFlags:  genericclioptions.NewConfigFlags(true),
		interrupts:   notifyInterrupts,
		pollInterval: 500 * time.Millisecond,
		exitWait:     15 * time.Second,
		now:          time.Now,
		newID:        uuid.NewString,
	}
}

// Client returns the clientset for the cluster the flags select.
func (f *Factory) Client() (kubernetes.Interface, error) {
	if f.client != nil {
		return f.client, nil
	}
	cfg, err := f.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig (check --kubeconfig and --context): %w", err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating a Kubernetes client: %w", err)
	}
	f.client = c
	return c, nil
}

// Namespace returns the namespace from -n or the kubeconfig context, and
// whether the user chose it explicitly.
func (f *Factory) Namespace() (string, bool, error) {
	ns, explicit, err := f.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", false, fmt.Errorf("finding the namespace (check --kubeconfig, --context and -n): %w", err)
	}
	return ns, explicit, nil
}

// Logs opens the log of a pod's container.
func (f *Factory) Logs(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	if f.openLogs != nil {
		return f.openLogs(ctx, namespace, pod, opts)
	}
	client, err := f.Client()
	if err != nil {
		return nil, err
	}
	return client.CoreV1().Pods(namespace).GetLogs(pod, opts).Stream(ctx)
}

func notifyInterrupts() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}
