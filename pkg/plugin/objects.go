package plugin

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// This file is the one place that decides what a trace looks like in the
// cluster: the ConfigMap, the runner Jobs and the reader pods. The runner
// (cmd/trace-runner) relies on the command lines, mounts and environment set
// here.

const (
	// deadlineGrace is added to --duration for the Job's
	// activeDeadlineSeconds: the runner ends the trace itself at the
	// duration, the deadline only catches a runner that hangs.
	deadlineGrace = 30 * time.Second
	// terminationGrace is how long a stopping runner has to run END, print
	// the final maps and flush them to the node.
	terminationGrace = int64(30)
	// hostCgroupRoot is where the host's /sys/fs/cgroup is mounted: inside
	// the pod, /sys/fs/cgroup is the pod's own view.
	hostCgroupRoot = "/host/sys/fs/cgroup"
)

// runnerCapabilities are added to the runner container when it does not run
// privileged. docs/security.md says which probe needs which. SYS_RESOURCE is
// left out on purpose: kernels since 5.11 charge BPF memory to the cgroup
// instead of RLIMIT_MEMLOCK, and where the node's own bounding set lacks it
// (nested or restricted hosts) runc refuses to start the container at all
// ("unable to apply caps"). Older kernels need --privileged.
var runnerCapabilities = []corev1.Capability{"BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE"}

// jobOptions are the run flags that shape the runner Jobs.
type jobOptions struct {
	Namespace   string
	Image       string
	Privileged  bool
	Tolerations []corev1.Toleration
	// TTL is ttlSecondsAfterFinished.
	TTL      int32
	Duration time.Duration
}

// newTraceSpec assembles the document every runner of the trace reads.
func newTraceSpec(id string, prog *program, targets []spec.Target, duration time.Duration, traceBytes int64) *spec.TraceSpec {
	ts := &spec.TraceSpec{
		APIVersion: spec.APIVersion,
		Kind:       spec.Kind,
		ID:         id,
		Targets:    targets,
		Limits: spec.Limits{
			Duration:   spec.Duration{Duration: duration},
			TraceBytes: traceBytes,
		},
		OutputRoot: spec.DefaultOutputRoot,
	}
	if prog.Tool != "" {
		ts.Tool = prog.Tool
	} else {
		ts.Program = prog.Source
	}
	return ts.WithDefaults()
}

// traceMeta is what the ConfigMap's annotations record for get.
type traceMeta struct {
	Target  string
	Program string
	Image   string
	Created time.Time
}

// buildConfigMap makes the trace's durable record: the spec the runners
// read, and annotations that get shows after the Jobs are gone.
func buildConfigMap(ts *spec.TraceSpec, namespace string, m traceMeta) (*corev1.ConfigMap, error) {
	data, err := json.MarshalIndent(ts, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the trace spec: %w", err)
	}
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      configMapName(ts.ID),
			Namespace: namespace,
			Labels:    traceLabels(ts.ID, "", ""),
			Annotations: map[string]string{
				annotationTarget:  m.Target,
				annotationProgram: m.Program,
				annotationImage:   m.Image,
				annotationCreated: m.Created.UTC().Format(time.RFC3339),
			},
		},
		Data: map[string]string{specKey: string(data) + "\n"},
	}, nil
}

// buildJobs makes one Job per node of the spec, owned by the ConfigMap so
// that deleting the record garbage-collects them. owner may have an empty
// UID for --dry-run=client; the server fills it in on creation.
func buildJobs(owner *corev1.ConfigMap, ts *spec.TraceSpec, o jobOptions) []*batchv1.Job {
	jobs := make([]*batchv1.Job, 0, len(ts.Targets))
	for i, t := range ts.Targets {
		jobs = append(jobs, buildJob(owner, ts, t.Node, jobName(ts.ID, i, len(ts.Targets)), o))
	}
	return jobs
}

func buildJob(owner *corev1.ConfigMap, ts *spec.TraceSpec, node, name string, o jobOptions) *batchv1.Job {
	labels := traceLabels(ts.ID, node, roleRunner)
	job := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   o.Namespace,
			Labels:      labels,
			Annotations: map[string]string{annotationNode: node},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1",
				Kind:       "ConfigMap",
				Name:       owner.Name,
				UID:        owner.UID,
			}},
		},
		Spec: batchv1.JobSpec{
			// A failed runner is a failed trace: a retry would trace a
			// different time window and confuse the output.
			BackoffLimit:            ptr(int32(0)),
			TTLSecondsAfterFinished: ptr(o.TTL),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels,
					Annotations: map[string]string{annotationNode: node},
				},
				Spec: runnerPodSpec(ts, node, o),
			},
		},
	}
	if o.Duration > 0 {
		job.Spec.ActiveDeadlineSeconds = ptr(int64((o.Duration + deadlineGrace) / time.Second))
	}
	return job
}

func runnerPodSpec(ts *spec.TraceSpec, node string, o jobOptions) corev1.PodSpec {
	return corev1.PodSpec{
		// Pinning nodeName bypasses the scheduler: the trace must run on
		// exactly the node that hosts the target, even if it is cordoned.
		NodeName:                      node,
		HostPID:                       true,
		RestartPolicy:                 corev1.RestartPolicyNever,
		TerminationGracePeriodSeconds: ptr(terminationGrace),
		// The runner never talks to the API server.
		AutomountServiceAccountToken: ptr(false),
		Tolerations:                  o.Tolerations,
		Containers: []corev1.Container{{
			Name:  containerName,
			Image: o.Image,
			// The image's entrypoint is trace-runner (/trace-runner in a
			// scratch image, so not on a PATH): pass only its arguments.
			// The kubelet expands $(NODE_NAME); no shell is involved.
			Args: []string{
				"run",
				"--spec", specMountDir + "/" + specKey,
				"--node", "$(NODE_NAME)",
				"--cgroup-root", hostCgroupRoot,
				"--proc-root", "/proc",
			},
			Env: []corev1.EnvVar{{
				Name:      "NODE_NAME",
				ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}},
			}},
			SecurityContext:          runnerSecurityContext(o.Privileged),
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			VolumeMounts: []corev1.VolumeMount{
				{Name: "spec", MountPath: specMountDir, ReadOnly: true},
				{Name: "sys", MountPath: "/sys"},
				{Name: "cgroup", MountPath: hostCgroupRoot, ReadOnly: true},
				{Name: "output", MountPath: ts.OutputRoot},
			},
		}},
		Volumes: []corev1.Volume{
			{Name: "spec", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: configMapName(ts.ID)},
				Items:                []corev1.KeyToPath{{Key: specKey, Path: specKey}},
			}}},
			hostPathVolume("sys", "/sys", corev1.HostPathDirectory),
			hostPathVolume("cgroup", "/sys/fs/cgroup", corev1.HostPathDirectory),
			hostPathVolume("output", ts.OutputRoot, corev1.HostPathDirectoryOrCreate),
		},
	}
}

// runnerSecurityContext is least privilege by default: the capabilities
// eBPF tracing needs, and AppArmor unconfined because the runtime's default
// profile denies mounting tracefs and writing under /sys. --privileged is
// the documented fallback for kernels and runtimes where that is not enough.
func runnerSecurityContext(privileged bool) *corev1.SecurityContext {
	if privileged {
		return &corev1.SecurityContext{Privileged: ptr(true)}
	}
	return &corev1.SecurityContext{
		Privileged:      ptr(false),
		Capabilities:    &corev1.Capabilities{Add: runnerCapabilities},
		AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined},
	}
}

func hostPathVolume(name, path string, t corev1.HostPathType) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: path, Type: ptr(t)},
	}}
}

// buildReaderPod makes the short-lived pod that fetch and delete run on a
// node to read or remove a trace's persisted output: `trace-runner cat` or
// `trace-runner rm` (arguments to the image's trace-runner entrypoint). The
// id was validated; it is an argument, not shell text.
func buildReaderPod(tr *Trace, node, verb, suffix, image string, tolerations []corev1.Toleration) *corev1.Pod {
	root := tr.Spec.OutputRoot
	if root == "" {
		root = spec.DefaultOutputRoot
	}
	labels := traceLabels(tr.Spec.ID, node, roleReader)
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("%s-%s-%s", configMapName(tr.Spec.ID), verb, suffix),
			Namespace:   tr.Namespace,
			Labels:      labels,
			Annotations: map[string]string{annotationNode: node},
		},
		Spec: corev1.PodSpec{
			NodeName:                     node,
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: ptr(false),
			Tolerations:                  tolerations,
			Containers: []corev1.Container{{
				Name:                     containerName,
				Image:                    image,
				Args:                     []string{verb, tr.Spec.ID, "--root", root},
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				VolumeMounts:             []corev1.VolumeMount{{Name: "output", MountPath: root, ReadOnly: verb == "cat"}},
			}},
			Volumes: []corev1.Volume{hostPathVolume("output", root, corev1.HostPathDirectoryOrCreate)},
		},
	}
}

// defaultTolerations let the runner onto every node, tainted or not: a
// trace goes where its target is.
func defaultTolerations() []corev1.Toleration {
	return []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
}

// parseTolerations reads --tolerations entries: "key=value:Effect",
// "key:Effect", "key=value", "key", or ":Effect". A key without a value
// tolerates any value. The single entry "none" means no tolerations.
func parseTolerations(entries []string) ([]corev1.Toleration, error) {
	if len(entries) == 1 && entries[0] == "none" {
		return []corev1.Toleration{}, nil
	}
	var out []corev1.Toleration
	for _, e := range entries {
		kv, effect, hasEffect := strings.Cut(e, ":")
		key, value, hasValue := strings.Cut(kv, "=")
		t := corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists}
		if hasValue {
			t.Operator = corev1.TolerationOpEqual
			t.Value = value
		}
		if hasEffect {
			switch corev1.TaintEffect(effect) {
			case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
				t.Effect = corev1.TaintEffect(effect)
			default:
				return nil, fmt.Errorf("toleration %q: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", e, effect)
			}
		}
		if key == "" && (hasValue || !hasEffect) {
			return nil, fmt.Errorf("toleration %q: want key=value:Effect, key:Effect, key=value, key or :Effect", e)
		}
		out = append(out, t)
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }
