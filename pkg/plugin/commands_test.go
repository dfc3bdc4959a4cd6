package plugin

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/version"
)

func TestLogs(t *testing.T) {
	e := newTestEnv(t, storedTraces(t)...)
	e.setLog("xtrace-11111111-0-x7k2p", traceRecords(t, "n1"))
	e.setLog("xtrace-11111111-1-x7k2p", traceRecords(t, "n2"))
	if err := e.run("logs", idRunning); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"[n1] hello from n1", "[n2] hello from n2", "[n1] @[bash]: 3"} {
		if !strings.Contains(e.out.String(), s) {
			t.Errorf("stdout %q lacks %q", e.out, s)
		}
	}

	e.out.Reset()
	if err := e.run("logs", idRunning, "--node", "n2", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.out.String(), "n1") || !strings.Contains(e.out.String(), `"text":"hello from n2\n"`) {
		t.Errorf("--node n2 -o json = %q", e.out)
	}

	err := e.run("logs", idPersisted)
	if err == nil || !strings.Contains(err.Error(), "kubectl xtrace fetch "+idPersisted) {
		t.Errorf("a trace without pods must point to fetch: %v", err)
	}
	err = e.run("logs", idPending)
	if err == nil || !strings.Contains(err.Error(), "has not started yet") {
		t.Errorf("a pending trace: %v", err)
	}
}

func TestLogsReportsARunnerFailure(t *testing.T) {
	e := newTestEnv(t, storedTraces(t)...)
	e.setLog("xtrace-11111111-0-x7k2p", errorRecords(t, "verifier rejected probe 1"))
	e.setLog("xtrace-11111111-1-x7k2p", traceRecords(t, "n2"))
	err := e.run("logs", idRunning)
	if err == nil || !strings.Contains(err.Error(), "node n1 (the ERROR above)") || !strings.Contains(e.errOut.String(), "[n1] ERROR: verifier rejected probe 1") {
		t.Fatalf("err = %v, stderr %q", err, e.errOut)
	}
	err = e.run("logs", idRunning, "-o", "json")
	if err == nil || !strings.Contains(err.Error(), "node n1: verifier rejected probe 1") {
		t.Fatalf("with -o json the error must carry the message: %v", err)
	}
}

// readerPods makes the fake kubelet run reader pods at once, exiting with
// code, and records their specs.
func (e *testEnv) readerPods(code int32) *[]*corev1.Pod {
	var created []*corev1.Pod
	e.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pod := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if pod.Labels[labelRole] == roleReader {
			pod.Status = terminatedStatus(code)
			created = append(created, pod.DeepCopy())
		}
		return false, nil, nil
	})
	return &created
}

func TestFetch(t *testing.T) {
	e := newTestEnv(t, storedTraces(t)...)
	created := e.readerPods(0)
	e.setLog("xtrace-11111111-cat-*", traceRecords(t, ""))
	if err := e.run("fetch", "11111111"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"[n1] hello from", "[n2] hello from", "[n2] @[bash]: 3"} {
		if !strings.Contains(e.out.String(), s) {
			t.Errorf("stdout %q lacks %q", e.out, s)
		}
	}
	if len(*created) != 2 {
		t.Fatalf("%d reader pods, want one per node", len(*created))
	}
	nodes := []string{(*created)[0].Spec.NodeName, (*created)[1].Spec.NodeName}
	if !reflect.DeepEqual(nodes, []string{"n1", "n2"}) {
		t.Errorf("reader pods on %v", nodes)
	}
	if c := (*created)[0].Spec.Containers[0]; c.Image != "example.local/runner:v1" || !reflect.DeepEqual(c.Args, []string{"cat", idRunning, "--root", "/var/lib/xtrace"}) {
		t.Errorf("reader container %s %q", c.Image, c.Args)
	}
	assertNoReaders(t, e)
}

func TestFetchTo(t *testing.T) {
	e := newTestEnv(t, storedTraces(t)...)
	e.readerPods(0)
	e.setLog("xtrace-22222222-cat-*", traceRecords(t, "n1"))
	dir := filepath.Join(t.TempDir(), "out")
	if err := e.run("fetch", idPersisted, "--to", dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "n1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	r := record.NewReader(strings.NewReader(string(data)))
	n := 0
	for {
		if _, err := r.Read(); err != nil {
			break
		}
		n++
	}
	if n != 6 || e.out.Len() != 0 {
		t.Errorf("%d records in the file (want 6), stdout %q", n, e.out)
	}
	assertNoReaders(t, e)
}

func TestFetchReaderFailure(t *testing.T) {
	e := newTestEnv(t, storedTraces(t)...)
	e.readerPods(1)
	e.setLog("xtrace-22222222-cat-*", records(t, &record.Record{Type: record.TypeError, Text: "no trace " + idPersisted + " under /var/lib/xtrace (pruned?)"}))
	err := e.run("fetch", idPersisted)
	if err == nil || !strings.Contains(err.Error(), "reading the output on node n1 failed: no trace "+idPersisted+" under /var/lib/xtrace (pruned?)") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(e.out.String()+e.errOut.String(), "ERROR") {
		t.Errorf("the reader's failure was rendered as trace output: %q", e.errOut)
	}
	assertNoReaders(t, e)
}

func TestFetchReaderImagePullFailure(t *testing.T) {
	e := newTestEnv(t, storedTraces(t)...)
	e.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).Status = waitingStatus("ErrImagePull", "not found")
		return false, nil, nil
	})
	err := e.run("fetch", idPersisted)
	if err == nil || !strings.Contains(err.Error(), "reading the output on node n1") || !strings.Contains(err.Error(), "cannot pull image") {
		t.Fatalf("err = %v", err)
	}
	assertNoReaders(t, e)
}

func assertNoReaders(t *testing.T, e *testEnv) {
	t.Helper()
	pods, _ := e.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	for _, p := range pods.Items {
		if p.Labels[labelRole] == roleReader {
			t.Errorf("reader pod %s was left behind", p.Name)
		}
	}
}

func TestDelete(t *testing.T) {
	e := newTestEnv(t, storedTraces(t)...)
	created := e.readerPods(0)
	e.setLog("xtrace-11111111-rm-*", "")
	if err := e.run("delete", idRunning); err != nil {
		t.Fatal(err)
	}
	if e.out.String() != "trace.xtrace.dev/"+idRunning+" deleted\n" {
		t.Errorf("stdout = %q", e.out)
	}
	if len(*created) != 2 || (*created)[0].Spec.Containers[0].Args[0] != "rm" {
		t.Errorf("rm pods = %d", len(*created))
	}
	for _, o := range e.leftovers() {
		if strings.Contains(o, "11111111") {
			t.Errorf("%s was left behind", o)
		}
	}
	assertNoReaders(t, e)
}

func TestDeleteKeepsTheRecordWhenRmFails(t *testing.T) {
	e := newTestEnv(t, storedTraces(t)...)
	e.readerPods(1)
	e.setLog("xtrace-22222222-rm-*", records(t, &record.Record{Type: record.TypeError, Text: "removing /var/lib/xtrace/" + idPersisted + ": read-only file system"}))
	err := e.run("delete", idPersisted)
	if err == nil || !strings.Contains(err.Error(), "the record is kept so you can retry") || !strings.Contains(err.Error(), "read-only file system") {
		t.Fatalf("err = %v", err)
	}
	if _, err := e.client.CoreV1().ConfigMaps("default").Get(context.Background(), "xtrace-22222222", metav1.GetOptions{}); err != nil {
		t.Errorf("the record is gone: %v", err)
	}
	assertNoReaders(t, e)
}

func TestDeleteAllKeepOutput(t *testing.T) {
	e := newTestEnv(t, storedTraces(t)...)
	created := e.readerPods(0)
	if err := e.run("delete", "--all", "-A", "--keep-output"); err != nil {
		t.Fatal(err)
	}
	if len(*created) != 0 {
		t.Errorf("--keep-output ran %d rm pods", len(*created))
	}
	if left := e.leftovers(); len(left) != 0 {
		t.Errorf("left %v", left)
	}
	if strings.Count(e.out.String(), " deleted\n") != 6 {
		t.Errorf("stdout = %q", e.out)
	}
}

func TestDeleteArguments(t *testing.T) {
	e := newTestEnv(t)
	for args, want := range map[string]string{
		"delete":                "give the ID of the trace to delete, or --all",
		"delete --all 11111111": "either an ID or --all",
		"delete /etc/passwd":    "invalid trace id",
	} {
		err := e.run(strings.Fields(args)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", args, err, want)
		}
	}
}

func TestVersion(t *testing.T) {
	e := newTestEnv(t)
	if err := e.run("version"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{version.Version, "runner image: " + version.DefaultImage, "record format: v1"} {
		if !strings.Contains(e.out.String(), s) {
			t.Errorf("version output %q lacks %q", e.out, s)
		}
	}
}

func TestRBACMatchesDeploy(t *testing.T) {
	docs, err := rbacManifests()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../../deploy/rbac/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("deploy/rbac: %v %v", files, err)
	}
	if len(docs) != len(files) {
		t.Fatalf("%d embedded manifests, %d in deploy/rbac: copy them to pkg/plugin/rbac", len(docs), len(files))
	}
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rbacFiles.ReadFile("rbac/" + filepath.Base(f))
		if err != nil || string(got) != string(want) {
			t.Errorf("pkg/plugin/rbac/%s differs from %s: copy it again", filepath.Base(f), f)
		}
	}
	e := newTestEnv(t)
	if err := e.run("rbac"); err != nil {
		t.Fatal(err)
	}
	out := e.out.String()
	if strings.Index(out, "kind: Namespace") > strings.Index(out, "kind: ClusterRole") || !strings.Contains(out, "\n---\n") {
		t.Errorf("rbac output must start with the namespace, documents separated by ---:\n%s", out)
	}
}

func TestHelpReadsAsKubectl(t *testing.T) {
	e := newTestEnv(t)
	if err := e.run("run", "--help"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"kubectl xtrace run TARGET", "--kubeconfig", "--context", "-n, --namespace", "--job-namespace", "--privileged"} {
		if !strings.Contains(e.out.String(), s) {
			t.Errorf("help lacks %q", s)
		}
	}
}

func TestCompletion(t *testing.T) {
	objs := append(storedTraces(t), clusterObjects()...)
	tests := []struct {
		args []string
		want []string
		not  []string
	}{
		{args: []string{"get", ""}, want: []string{idRunning + "\tdeployment/default/web (Running)", idPersisted}, not: []string{idElsewhere}},
		{args: []string{"logs", "-A", "5"}, want: []string{idElsewhere}, not: []string{idRunning}},
		{args: []string{"run", ""}, want: []string{"pod/", "node/", "deploy/", "sts/", "ds/", "rs/", "job/", "web-1"}},
		{args: []string{"run", "de"}, want: []string{"deploy/"}, not: []string{"pod/"}},
		{args: []string{"run", "node/n"}, want: []string{"node/n1", "node/n2"}},
		{args: []string{"run", "pod/web-"}, want: []string{"pod/web-1", "pod/web-2"}},
		{args: []string{"run", "web-1", "--tool", ""}, want: []string{"execsnoop", "opensnoop"}},
		{args: []string{"run", "web-1", "--job-namespace", "lo"}, want: []string{"locked"}, not: []string{"default"}},
		{args: []string{"get", "-n", ""}, want: []string{"default", "locked"}},
		{args: []string{"fetch", idRunning, "--node", ""}, want: []string{"n1", "n2"}},
		{args: []string{"run", "pod/web-1", "-c", "s"}, want: []string{"sidecar"}, not: []string{"app"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			e := newTestEnv(t, objs...)
			if err := e.run(append([]string{"__complete"}, tt.args...)...); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(e.out.String(), "\n")
			has := func(s string) bool {
				for _, l := range lines {
					if l == s || strings.HasPrefix(l, s+"\t") {
						return true
					}
				}
				return false
			}
			for _, w := range tt.want {
				if !has(w) {
					t.Errorf("completions %q lack %q", lines, w)
				}
			}
			for _, n := range tt.not {
				if has(n) {
					t.Errorf("completions %q include %q", lines, n)
				}
			}
		})
	}
}
