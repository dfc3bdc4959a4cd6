package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// cleanupTimeout bounds the deletes after a failure or Ctrl-C, which run on
// a fresh context because the command's own may be cancelled already.
const cleanupTimeout = 30 * time.Second

var deleteBackground = metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationBackground)}

// deleteRunners deletes a trace's Jobs and their pods. Deleting the
// ConfigMap would garbage-collect the Jobs too, but the collector works
// asynchronously; deleting them here leaves nothing behind when we return.
func deleteRunners(ctx context.Context, client kubernetes.Interface, namespace, id string) error {
	sel := labels.SelectorFromSet(labels.Set{labelTraceID: id}).String()
	var errs []error
	jobs, err := client.BatchV1().Jobs(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		errs = append(errs, fmt.Errorf("listing the trace's Jobs: %w", err))
	} else {
		for _, j := range jobs.Items {
			if j.Labels[labelTraceID] != id {
				continue
			}
			if err := client.BatchV1().Jobs(namespace).Delete(ctx, j.Name, deleteBackground); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("deleting Job %s: %w", j.Name, err))
			}
		}
	}
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		errs = append(errs, fmt.Errorf("listing the trace's pods: %w", err))
	} else {
		for _, p := range pods.Items {
			if p.Labels[labelTraceID] != id {
				continue
			}
			if err := client.CoreV1().Pods(namespace).Delete(ctx, p.Name, deleteBackground); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("deleting pod %s: %w", p.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// deleteTrace deletes everything of a trace in the cluster: Jobs, pods and
// the ConfigMap record. It does not touch the output on the nodes.
func deleteTrace(ctx context.Context, client kubernetes.Interface, namespace, id string) error {
	err := deleteRunners(ctx, client, namespace, id)
	if derr := client.CoreV1().ConfigMaps(namespace).Delete(ctx, configMapName(id), deleteBackground); derr != nil && !apierrors.IsNotFound(derr) {
		err = errors.Join(err, fmt.Errorf("deleting ConfigMap %s: %w", configMapName(id), derr))
	}
	if err != nil {
		return fmt.Errorf("cleaning up trace %s in namespace %s (finish with kubectl delete jobs,pods,configmaps -n %s -l %s=%s): %w",
			id, namespace, namespace, labelTraceID, id, err)
	}
	return nil
}

// cleanupAfter deletes a failed trace and joins any cleanup error to the
// failure, so the user learns both what failed and what may be left.
func cleanupAfter(client kubernetes.Interface, namespace, id string, failure error) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := deleteTrace(ctx, client, namespace, id); err != nil {
		return errors.Join(failure, err)
	}
	return failure
}
