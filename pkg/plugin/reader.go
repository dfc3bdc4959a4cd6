package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/version"
)

// readerTimeout bounds how long a reader pod may take to start.
const readerTimeout = 2 * time.Minute

// readerJob runs one `trace-runner cat|rm` pod on a node and cleans it up.
type readerJob struct {
	f      *Factory
	client kubernetes.Interface
	pod    *corev1.Pod
}

// newReader builds the reader pod for a node of the trace. image "" means
// the image the trace ran with.
func newReader(f *Factory, client kubernetes.Interface, tr *Trace, node, verb, image string) *readerJob {
	if image == "" {
		image = tr.Status.Image
	}
	if image == "" {
		image = version.DefaultImage
	}
	// A random suffix lets two fetches of one trace run at once.
	pod := buildReaderPod(tr, node, verb, utilrand.String(5), image, defaultTolerations())
	return &readerJob{f: f, client: client, pod: pod}
}

// start creates the pod and waits until its container has started,
// reporting why if it cannot.
func (r *readerJob) start(ctx context.Context) error {
	created, err := r.client.CoreV1().Pods(r.pod.Namespace).Create(ctx, r.pod, metav1.CreateOptions{FieldManager: managedBy})
	if err != nil {
		hint := ""
		if strings.Contains(err.Error(), "PodSecurity") {
			hint = fmt.Sprintf(" (label the namespace: kubectl label namespace %s %s=privileged --overwrite)", r.pod.Namespace, psaEnforceLabel)
		}
		return fmt.Errorf("creating reader pod %s on node %s: %w%s", r.pod.Name, r.node(), err, hint)
	}
	r.pod = created
	deadline := time.Now().Add(readerTimeout)
	for {
		pod, err := r.client.CoreV1().Pods(r.pod.Namespace).Get(ctx, r.pod.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading reader pod %s: %w", r.pod.Name, err)
		}
		started, err := examinePod(pod)
		if err != nil {
			return fmt.Errorf("reading the output on node %s: %w", r.node(), err)
		}
		if started {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("reader pod %s on node %s not running after %s: %s", pod.Name, r.node(), readerTimeout, waitingReason(pod))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.f.pollInterval):
		}
	}
}

func (r *readerJob) node() string { return r.pod.Spec.NodeName }

// logs follows the reader's output to its end.
func (r *readerJob) logs(ctx context.Context) (io.ReadCloser, error) {
	rc, err := r.f.Logs(ctx, r.pod.Namespace, r.pod.Name, &corev1.PodLogOptions{Container: containerName, Follow: true})
	if err != nil {
		return nil, fmt.Errorf("reading the log of reader pod %s on node %s: %w", r.pod.Name, r.node(), err)
	}
	return rc, nil
}

// finish returns the reader's exit code (-1 if unknown) and deletes the pod.
func (r *readerJob) finish(ctx context.Context) int {
	code, _ := waitExitCode(ctx, r.client, r.pod.Namespace, r.pod.Name, r.f.pollInterval, r.f.exitWait)
	return code
}

// remove deletes the reader pod, on a fresh context: it runs after
// failures and Ctrl-C too.
func (r *readerJob) remove() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	err := r.client.CoreV1().Pods(r.pod.Namespace).Delete(ctx, r.pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting reader pod %s (delete it with kubectl delete pod -n %s %s): %w", r.pod.Name, r.pod.Namespace, r.pod.Name, err)
	}
	return nil
}

// failure describes a reader that exited non-zero, from its error record
// or, failing that, the last lines it printed.
func readerFailure(node string, code int, last *record.Record, tail *tailBuffer) error {
	msg := fmt.Sprintf("exited with code %d", code)
	if last != nil && last.Type == record.TypeError {
		msg = last.Text
	} else if lines := tail.plainLines(5); len(lines) > 0 {
		msg += ": " + strings.Join(lines, "; ")
	}
	return fmt.Errorf("reading the output on node %s failed: %s", node, msg)
}
