//go:build e2e

package e2e

import (
	"context"
	"regexp"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// (5) Every failure exits non-zero within seconds, says why, and leaves
// nothing in the cluster (kubectl-trace prints "created" and exits 0).
func TestRunFailures(t *testing.T) {
	createPod(t, "victim", "-comm", "xt-victim", "openat-loop", marker, "5")
	pending := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: env.ns},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{xtestContainer("main", "sleep")},
			NodeSelector:                  map[string]string{"xtrace.dev/no-such-node": "true"},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
		},
	}
	if _, err := env.client.CoreV1().Pods(env.ns).Create(context.Background(), pending, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		env.client.CoreV1().Pods(env.ns).Delete(context.Background(), "pending", metav1.DeleteOptions{})
	})
	good := `tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }`

	cases := []struct {
		name    string
		args    []string
		within  time.Duration
		message *regexp.Regexp // on stderr
	}{{
		name:    "pod-security-admission",
		args:    withJobNamespace(runArgs("pod/victim", "-e", good, "--duration", "5s"), env.baselineNS),
		within:  30 * time.Second,
		message: regexp.MustCompile(`(?is)pod ?security.*baseline|baseline.*pod ?security`),
	}, {
		// Rejected by admission where no namespace label tells in advance:
		// the reason is only in the Job's FailedCreate event.
		name:    "admission-policy",
		args:    withJobNamespace(runArgs("pod/victim", "-e", good, "--duration", "5s"), env.policyNS),
		within:  30 * time.Second,
		message: regexp.MustCompile(regexp.QuoteMeta(denyHostPIDReason)),
	}, {
		name:    "unknown-target",
		args:    runArgs("pod/no-such-pod", "-e", good),
		within:  15 * time.Second,
		message: regexp.MustCompile(`(?i)no-such-pod.*not found|not found.*no-such-pod`),
	}, {
		name:    "pending-target",
		args:    runArgs("pod/pending", "-e", good),
		within:  15 * time.Second,
		message: regexp.MustCompile(`(?i)pending|not running|not scheduled`),
	}, {
		name:    "bad-program",
		args:    runArgs("pod/victim", "-e", `tracepoint:syscalls:sys_enter_openat { @x = ; }`),
		within:  10 * time.Second,
		message: regexp.MustCompile(`(?m):1:\d+: .+\n.*\n\s*\^`), // file:line:col: message, the line, a caret
	}, {
		name:    "unknown-builtin",
		args:    runArgs("pod/victim", "-e", `tracepoint:syscalls:sys_enter_openat { @[nosuchbuiltin] = count(); }`),
		within:  10 * time.Second,
		message: regexp.MustCompile(`:1:\d+: .*nosuchbuiltin`),
	}, {
		name:    "unknown-tracepoint",
		args:    runArgs("pod/victim", "-e", `tracepoint:syscalls:sys_enter_no_such_call { @ = count(); }`, "--duration", "10s"),
		within:  60 * time.Second,
		message: regexp.MustCompile(`sys_enter_no_such_call`),
	}, {
		name:    "unpullable-image",
		args:    append(runArgs("pod/victim", "-e", good, "--duration", "5s"), "--image", "xtrace.local/no-such-runner:v0"),
		within:  90 * time.Second,
		message: regexp.MustCompile(`(?i)ErrImagePull|ImagePullBackOff|pull`),
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := objects(t, "")
			r := xtrace(t, c.within+30*time.Second, c.args...)
			t.Logf("exit %d after %s; stderr:\n%s", r.code, r.took.Round(time.Millisecond), r.stderr)
			if r.code == 0 {
				t.Errorf("exit 0, want non-zero:\n%s", r)
			}
			if r.took > c.within {
				t.Errorf("took %s to fail, want within %s", r.took.Round(time.Millisecond), c.within)
			}
			if !c.message.MatchString(r.stderr) {
				t.Errorf("stderr does not match %q:\n%s", c.message, r)
			}
			requireNothingLeft(t, before)
		})
	}
}

// withJobNamespace replaces the --job-namespace value in run arguments.
func withJobNamespace(args []string, ns string) []string {
	out := append([]string(nil), args...)
	for i := range out[:len(out)-1] {
		if out[i] == "--job-namespace" {
			out[i+1] = ns
		}
	}
	return out
}
