package plugin

import (
	"reflect"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

func testSpec(nodes ...string) *spec.TraceSpec {
	var targets []spec.Target
	for _, n := range nodes {
		targets = append(targets, spec.Target{Node: n})
	}
	return newTraceSpec(testID, &program{Name: "-e", Source: "BEGIN { exit(); }"}, targets, 90*time.Second, 5<<20)
}

func TestBuildConfigMap(t *testing.T) {
	ts := testSpec("n1")
	created := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	cm, err := buildConfigMap(ts, "tracing", traceMeta{Target: "pod/default/web-1", Program: "BEGIN { exit(); }", Image: "example.local/runner:v1", Created: created})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Name != "xtrace-0b5e6f3a" || cm.Namespace != "tracing" || cm.Kind != "ConfigMap" || cm.APIVersion != "v1" {
		t.Errorf("identity = %s %s/%s", cm.Kind, cm.Namespace, cm.Name)
	}
	wantLabels := map[string]string{labelManagedBy: "kubectl-xtrace", labelTraceID: testID}
	if !reflect.DeepEqual(cm.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", cm.Labels, wantLabels)
	}
	wantAnn := map[string]string{
		annotationTarget: "pod/default/web-1", annotationProgram: "BEGIN { exit(); }",
		annotationImage: "example.local/runner:v1", annotationCreated: "2026-12-06T10:00:00Z",
	}
	if !reflect.DeepEqual(cm.Annotations, wantAnn) {
		t.Errorf("annotations = %v, want %v", cm.Annotations, wantAnn)
	}
	// The runner parses the spec strictly; what the plugin writes must pass.
	got, err := spec.Parse([]byte(cm.Data["spec.json"]))
	if err != nil {
		t.Fatalf("the runner would refuse the spec: %v\n%s", err, cm.Data["spec.json"])
	}
	if got.ID != testID || got.Program != "BEGIN { exit(); }" || got.Limits.Duration.Duration != 90*time.Second ||
		got.Limits.TraceBytes != 5<<20 || got.OutputRoot != "/var/lib/xtrace" || got.Targets[0].Node != "n1" {
		t.Errorf("spec = %+v", got)
	}
}

func TestNewTraceSpecTool(t *testing.T) {
	ts := newTraceSpec(testID, &program{Name: "execsnoop", Source: "...", Tool: "execsnoop"}, []spec.Target{{Node: "n1"}}, 0, 0)
	if ts.Tool != "execsnoop" || ts.Program != "" {
		t.Errorf("tool = %q, program = %q: a tool travels by name", ts.Tool, ts.Program)
	}
	if ts.Limits.TraceBytes != spec.DefaultTraceLimit || ts.Limits.NodeBytes != spec.DefaultNodeLimit {
		t.Errorf("limits = %+v, want the defaults", ts.Limits)
	}
	if err := ts.Validate(); err != nil {
		t.Error(err)
	}
}

func TestBuildJobs(t *testing.T) {
	ts := testSpec("n1", "n2")
	cm, err := buildConfigMap(ts, "tracing", traceMeta{})
	if err != nil {
		t.Fatal(err)
	}
	cm.UID = "cm-uid"
	o := jobOptions{Namespace: "tracing", Image: "example.local/runner:v1", Tolerations: defaultTolerations(), TTL: 600, Duration: 90 * time.Second}
	jobs := buildJobs(cm, ts, o)
	if len(jobs) != 2 || jobs[0].Name != "xtrace-0b5e6f3a-0" || jobs[1].Name != "xtrace-0b5e6f3a-1" {
		t.Fatalf("jobs = %v", names(jobs))
	}
	j := jobs[1]
	if j.Kind != "Job" || j.APIVersion != "batch/v1" || j.Namespace != "tracing" {
		t.Errorf("identity = %s %s %s", j.APIVersion, j.Kind, j.Namespace)
	}
	wantLabels := map[string]string{labelManagedBy: "kubectl-xtrace", labelTraceID: testID, labelNode: "n2", labelRole: "runner"}
	if !reflect.DeepEqual(j.Labels, wantLabels) || !reflect.DeepEqual(j.Spec.Template.Labels, wantLabels) {
		t.Errorf("labels = %v, template labels = %v, want %v", j.Labels, j.Spec.Template.Labels, wantLabels)
	}
	if j.Annotations[annotationNode] != "n2" {
		t.Errorf("node annotation = %q", j.Annotations[annotationNode])
	}
	if len(j.OwnerReferences) != 1 {
		t.Fatalf("owner references = %v", j.OwnerReferences)
	}
	if or := j.OwnerReferences[0]; or.Kind != "ConfigMap" || or.APIVersion != "v1" || or.Name != "xtrace-0b5e6f3a" || or.UID != "cm-uid" {
		t.Errorf("owner = %+v", or)
	}
	if *j.Spec.BackoffLimit != 0 || *j.Spec.TTLSecondsAfterFinished != 600 || *j.Spec.ActiveDeadlineSeconds != 120 {
		t.Errorf("backoffLimit %d, ttl %d, deadline %d", *j.Spec.BackoffLimit, *j.Spec.TTLSecondsAfterFinished, *j.Spec.ActiveDeadlineSeconds)
	}
	ps := j.Spec.Template.Spec
	if ps.NodeName != "n2" || !ps.HostPID || ps.RestartPolicy != corev1.RestartPolicyNever || *ps.TerminationGracePeriodSeconds != 30 || *ps.AutomountServiceAccountToken {
		t.Errorf("pod spec: nodeName %q hostPID %v restart %s grace %d automount %v", ps.NodeName, ps.HostPID, ps.RestartPolicy, *ps.TerminationGracePeriodSeconds, *ps.AutomountServiceAccountToken)
	}
	if ps.Affinity != nil || ps.NodeSelector != nil {
		t.Error("the node is pinned by nodeName, not by affinity or the hostname label")
	}
	if !reflect.DeepEqual(ps.Tolerations, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}) {
		t.Errorf("tolerations = %v", ps.Tolerations)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("containers = %d", len(ps.Containers))
	}
	c := ps.Containers[0]
	wantArgs := []string{"run", "--spec", "/etc/xtrace/spec.json", "--node", "$(NODE_NAME)", "--cgroup-root", "/host/sys/fs/cgroup", "--proc-root", "/proc"}
	if c.Name != "trace-runner" || c.Image != "example.local/runner:v1" || !reflect.DeepEqual(c.Args, wantArgs) || c.Command != nil {
		t.Errorf("container %s %s %q %q", c.Name, c.Image, c.Command, c.Args)
	}
	if len(c.Env) != 1 || c.Env[0].Name != "NODE_NAME" || c.Env[0].ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("env = %+v", c.Env)
	}
	sc := c.SecurityContext
	if sc.Privileged == nil || *sc.Privileged || !reflect.DeepEqual(sc.Capabilities.Add, []corev1.Capability{"BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE"}) {
		t.Errorf("security context = %+v", sc)
	}
	if sc.AppArmorProfile == nil || sc.AppArmorProfile.Type != corev1.AppArmorProfileTypeUnconfined {
		t.Errorf("appArmor = %+v", sc.AppArmorProfile)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	wantMounts := map[string]corev1.VolumeMount{
		"spec":   {Name: "spec", MountPath: "/etc/xtrace", ReadOnly: true},
		"sys":    {Name: "sys", MountPath: "/sys"},
		"cgroup": {Name: "cgroup", MountPath: "/host/sys/fs/cgroup", ReadOnly: true},
		"output": {Name: "output", MountPath: "/var/lib/xtrace"},
	}
	if !reflect.DeepEqual(mounts, wantMounts) {
		t.Errorf("mounts = %+v", mounts)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range ps.Volumes {
		vols[v.Name] = v
	}
	if v := vols["spec"].ConfigMap; v == nil || v.Name != "xtrace-0b5e6f3a" || len(v.Items) != 1 || v.Items[0].Key != "spec.json" {
		t.Errorf("spec volume = %+v", vols["spec"])
	}
	for name, want := range map[string]struct {
		path string
		typ  corev1.HostPathType
	}{"sys": {"/sys", corev1.HostPathDirectory}, "cgroup": {"/sys/fs/cgroup", corev1.HostPathDirectory}, "output": {"/var/lib/xtrace", corev1.HostPathDirectoryOrCreate}} {
		hp := vols[name].HostPath
		if hp == nil || hp.Path != want.path || *hp.Type != want.typ {
			t.Errorf("volume %s = %+v, want hostPath %s (%s)", name, vols[name], want.path, want.typ)
		}
	}
}

func TestBuildJobSingleNodePrivilegedNoDuration(t *testing.T) {
	ts := testSpec("n1")
	cm, _ := buildConfigMap(ts, "default", traceMeta{})
	tol := []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	jobs := buildJobs(cm, ts, jobOptions{Namespace: "default", Image: "i", Privileged: true, Tolerations: tol, TTL: 3600})
	if len(jobs) != 1 || jobs[0].Name != "xtrace-0b5e6f3a" {
		t.Fatalf("jobs = %v", names(jobs))
	}
	j := jobs[0]
	if j.Spec.ActiveDeadlineSeconds != nil {
		t.Errorf("deadline = %d without --duration", *j.Spec.ActiveDeadlineSeconds)
	}
	sc := j.Spec.Template.Spec.Containers[0].SecurityContext
	if sc.Privileged == nil || !*sc.Privileged || sc.Capabilities != nil {
		t.Errorf("privileged security context = %+v", sc)
	}
	if !reflect.DeepEqual(j.Spec.Template.Spec.Tolerations, tol) {
		t.Errorf("tolerations = %v", j.Spec.Template.Spec.Tolerations)
	}
}

func TestLongNodeNameIsNotALabel(t *testing.T) {
	long := strings.Repeat("n", 70) + ".example.com"
	ts := testSpec(long)
	cm, _ := buildConfigMap(ts, "default", traceMeta{})
	j := buildJobs(cm, ts, jobOptions{Namespace: "default", Image: "i"})[0]
	if _, ok := j.Labels[labelNode]; ok {
		t.Error("a node name longer than 63 characters cannot be a label value")
	}
	if j.Annotations[annotationNode] != long || j.Spec.Template.Spec.NodeName != long {
		t.Error("the node must still be in the annotation and nodeName")
	}
}

func TestBuildReaderPod(t *testing.T) {
	tr := &Trace{Spec: *testSpec("n1")}
	tr.Namespace = "tracing"
	p := buildReaderPod(tr, "n1", "cat", "abcde", "example.local/runner:v1", defaultTolerations())
	if p.Name != "xtrace-0b5e6f3a-cat-abcde" || p.Namespace != "tracing" || p.Spec.NodeName != "n1" || p.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("pod %s/%s node %s restart %s", p.Namespace, p.Name, p.Spec.NodeName, p.Spec.RestartPolicy)
	}
	if p.Labels[labelRole] != roleReader || p.Labels[labelTraceID] != testID {
		t.Errorf("labels = %v", p.Labels)
	}
	c := p.Spec.Containers[0]
	if want := []string{"cat", testID, "--root", "/var/lib/xtrace"}; !reflect.DeepEqual(c.Args, want) || c.Command != nil {
		t.Errorf("command %q args %q, want args %q for the trace-runner entrypoint", c.Command, c.Args, want)
	}
	if !c.VolumeMounts[0].ReadOnly || c.VolumeMounts[0].MountPath != "/var/lib/xtrace" || p.Spec.Volumes[0].HostPath.Path != "/var/lib/xtrace" {
		t.Errorf("cat must mount the output root read-only: %+v", c.VolumeMounts)
	}
	rm := buildReaderPod(tr, "n1", "rm", "abcde", "i", nil)
	if rm.Spec.Containers[0].VolumeMounts[0].ReadOnly || rm.Spec.Containers[0].Args[0] != "rm" {
		t.Errorf("rm pod = %+v", rm.Spec.Containers[0])
	}
}

func TestParseTolerations(t *testing.T) {
	tests := []struct {
		in      []string
		want    []corev1.Toleration
		wantErr string
	}{
		{in: []string{"dedicated=db:NoSchedule"}, want: []corev1.Toleration{{Key: "dedicated", Operator: "Equal", Value: "db", Effect: "NoSchedule"}}},
		{in: []string{"gpu:NoExecute", "spot"}, want: []corev1.Toleration{{Key: "gpu", Operator: "Exists", Effect: "NoExecute"}, {Key: "spot", Operator: "Exists"}}},
		{in: []string{"team=a"}, want: []corev1.Toleration{{Key: "team", Operator: "Equal", Value: "a"}}},
		{in: []string{":NoSchedule"}, want: []corev1.Toleration{{Operator: "Exists", Effect: "NoSchedule"}}},
		{in: []string{"none"}, want: []corev1.Toleration{}},
		{in: []string{"a=b:Sometimes"}, wantErr: `effect "Sometimes"`},
		{in: []string{"=b"}, wantErr: "want key=value:Effect"},
	}
	for _, tt := range tests {
		got, err := parseTolerations(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseTraceRef(t *testing.T) {
	for in, want := range map[string]traceRef{
		testID:            {full: testID, short: "0b5e6f3a"},
		"0b5e6f3a":        {short: "0b5e6f3a"},
		"xtrace-0b5e6f3a": {short: "0b5e6f3a"},
	} {
		got, err := parseTraceRef(in)
		if err != nil || got != want {
			t.Errorf("%q = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "../../etc", "0B5E6F3A", "0b5e6f3a-1c2d", strings.ToUpper(testID), testID + "/x"} {
		if _, err := parseTraceRef(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func names(jobs []*batchv1.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Name)
	}
	return out
}
