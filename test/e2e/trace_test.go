//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/xtrace-dev/kubectl-xtrace/test/internal/testenv"
)

// openatProg counts openat calls on the marker file by comm.
const openatProg = `tracepoint:syscalls:sys_enter_openat /str(args.filename) == "` + marker + `"/ { @[comm] = count(); }`

// rate is how many openat calls a second each xtest workload makes.
const rate = 50

// (1) A pod target counts that pod's events only, enforced in the kernel:
// a twin pod making the same syscalls on the same path is not counted.
func TestRunPodScoped(t *testing.T) {
	createPod(t, "target", "-comm", "xt-target", "openat-loop", marker, fmt.Sprint(rate))
	createPod(t, "twin", "-comm", "xt-twin", "openat-loop", marker, fmt.Sprint(rate))

	const seconds = 10
	r := xtrace(t, 2*time.Minute, runArgs("pod/target", "-e", openatProg, "--duration", fmt.Sprintf("%ds", seconds))...)
	if r.code != 0 {
		t.Fatalf("run failed:\n%s", r)
	}
	counts := mapValues(t, r.stdout, "")
	n, ok := counts["xt-target"]
	if !ok || n <= 0 {
		t.Fatalf("no @[xt-target]: N line with N > 0 in the output:\n%s", r)
	}
	if _, ok := counts["xt-twin"]; ok || strings.Contains(r.stdout, "xt-twin") {
		t.Errorf("the twin pod's events were counted: the trace is not scoped to the target pod:\n%s", r)
	}
	if len(counts) != 1 {
		t.Errorf("want only @[xt-target] in the map, got %v", counts)
	}
	// One pod at `rate` calls a second for at most the duration (plus
	// start-up slack): twice that would mean the twin leaked in.
	if max := rate * (seconds + 3); n > max {
		t.Errorf("@[xt-target]: %d is more than one pod makes in %ds (%d)", n, seconds, max)
	}
	t.Logf("@[xt-target]: %d in %ds at %d/s, run took %s", n, seconds, rate, r.took.Round(time.Millisecond))
}

// tickProg prints a line a second and counts the marker opens; END prints a
// goodbye so a graceful stop is visible.
const tickProg = `tracepoint:syscalls:sys_enter_openat /str(args.filename) == "` + marker + `"/ { @opens = count(); }
interval:s:1 { printf("tick\n"); }
END { printf("bye\n"); }`

// (2) run -d returns at once with the trace's id; get shows it Running;
// logs -f streams it to the end; Ctrl-C on a streaming run stops the trace
// gracefully, with END's output and the final maps.
func TestDetachGetLogsInterrupt(t *testing.T) {
	createPod(t, "ticker", "-comm", "xt-ticker", "openat-loop", marker, fmt.Sprint(rate))

	t.Run("detach-get-logs", func(t *testing.T) {
		before := traceIDs(t)
		r := xtrace(t, time.Minute, runArgs("pod/ticker", "-d", "-e", tickProg, "--duration", "15s")...)
		if r.code != 0 {
			t.Fatalf("run -d failed:\n%s", r)
		}
		id := newTraceID(t, before)
		if !strings.Contains(r.stdout+r.stderr, id[:8]) {
			t.Errorf("run -d does not print the trace id %s:\n%s", id, r)
		}
		if r.took > 30*time.Second {
			t.Errorf("run -d took %s: it should return once the trace is created", r.took)
		}

		// get ID reports Running while the runner traces.
		deadline := time.Now().Add(30 * time.Second)
		var state string
		for time.Now().Before(deadline) {
			state = traceState(t, id)
			if state == "Running" {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if state != "Running" {
			t.Fatalf("get %s: state %q, want Running", id, state)
		}
		g := xtrace(t, 30*time.Second, traceArgs("get")...)
		if g.code != 0 || !strings.Contains(g.stdout, id[:8]) {
			t.Errorf("get does not list trace %s:\n%s", id, g)
		}

		// logs -f follows until the trace ends (the 15 s deadline).
		l := xtrace(t, 90*time.Second, traceArgs("logs", id, "-f")...)
		if l.code != 0 {
			t.Fatalf("logs -f failed:\n%s", l)
		}
		if ticks := strings.Count(l.stdout, "tick\n"); ticks < 5 {
			t.Errorf("logs -f printed %d ticks, want >= 5 of a 15 s trace:\n%s", ticks, l)
		}
		if !strings.Contains(l.stdout, "bye\n") {
			t.Errorf("logs -f lacks END's output:\n%s", l)
		}
		if n := mapValues(t, l.stdout, "opens")[""]; n <= 0 {
			t.Errorf("logs -f lacks the final map @opens: N > 0:\n%s", l)
		}
		// The Job completes moments after the runner's last line.
		if err := poll(context.Background(), 20*time.Second, func() (bool, error) {
			state = traceState(t, id)
			return strings.HasPrefix(state, "Completed"), nil
		}); err != nil {
			t.Errorf("get %s after the deadline: state %q, want Completed", id, state)
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		p := startXtrace(t, runArgs("pod/ticker", "-e", tickProg)...)
		p.waitOutput(t, regexp.MustCompile(`(?m)^Attached \d+ probes?$`), 90*time.Second)
		time.Sleep(3 * time.Second) // let events be counted
		sent := time.Now()
		if err := p.signal(sigint); err != nil {
			t.Fatal(err)
		}
		r := p.wait(t, 45*time.Second)
		t.Logf("stopped %s after SIGINT", time.Since(sent).Round(time.Millisecond))
		if r.code != 0 {
			t.Errorf("run stopped with Ctrl-C exits %d, want 0 (a graceful stop):\n%s", r.code, r)
		}
		if !strings.Contains(r.stdout, "bye\n") {
			t.Errorf("no END output after Ctrl-C:\n%s", r)
		}
		if n := mapValues(t, r.stdout, "opens")[""]; n <= 0 {
			t.Errorf("no final map @opens: N > 0 after Ctrl-C:\n%s", r)
		}
	})
}

// traceState is status.state of `get ID -o json`.
func traceState(t *testing.T, id string) string {
	t.Helper()
	tr := getTrace(t, id)
	return tr.Status.State
}

type traceJSON struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Status struct {
		State     string `json:"state"`
		Persisted bool   `json:"persisted"`
	} `json:"status"`
}

// getTrace is `get ID -o json`, which prints the trace, or a List of one.
func getTrace(t *testing.T, id string) traceJSON {
	t.Helper()
	r := xtrace(t, 30*time.Second, traceArgs("get", id, "-o", "json")...)
	if r.code != 0 {
		t.Fatalf("get failed:\n%s", r)
	}
	var list struct {
		Kind  string      `json:"kind"`
		Items []traceJSON `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("get -o json is not JSON: %v\n%s", err, r)
	}
	if list.Kind != "List" {
		var tr traceJSON
		if err := json.Unmarshal([]byte(r.stdout), &tr); err != nil {
			t.Fatal(err)
		}
		list.Items = []traceJSON{tr}
	}
	for _, tr := range list.Items {
		if tr.Metadata.Name == id {
			return tr
		}
	}
	t.Fatalf("get %s -o json does not show the trace:\n%s", id, r)
	return traceJSON{}
}

// (3) Output persists on the node: after the Job and its pod are deleted,
// fetch returns what the live stream showed and get still lists the trace;
// delete removes the ConfigMap, the Jobs and the node's files.
func TestPersistenceFetchDelete(t *testing.T) {
	createPod(t, "persist", "-comm", "xt-persist", "openat-loop", marker, fmt.Sprint(rate))
	prog := `tracepoint:syscalls:sys_enter_openat /str(args.filename) == "` + marker + `"/ { @[comm] = count(); }
interval:s:1 { printf("tick\n"); }`
	before := traceIDs(t)
	live := xtrace(t, 2*time.Minute, runArgs("pod/persist", "-e", prog, "--duration", "6s")...)
	if live.code != 0 {
		t.Fatalf("run failed:\n%s", live)
	}
	id := newTraceID(t, before)
	if n := mapValues(t, live.stdout, "")["xt-persist"]; n <= 0 {
		t.Fatalf("live output lacks @[xt-persist]: N > 0:\n%s", live)
	}
	dir := filepath.Join(env.outputRoot, id)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the trace's output is not persisted on the node: %v", err)
	}

	// Remove the Job and its pod as a TTL controller or an admin would.
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: "xtrace.dev/trace-id=" + id}
	if err := env.client.BatchV1().Jobs(env.jobNS).DeleteCollection(ctx,
		metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}, sel); err != nil {
		t.Fatal(err)
	}
	if err := env.client.CoreV1().Pods(env.jobNS).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, sel); err != nil {
		t.Fatal(err)
	}
	if err := poll(ctx, 60*time.Second, func() (bool, error) {
		left := objects(t, id)
		return len(left) == 1 && strings.HasPrefix(left[0], "configmap/"), nil
	}); err != nil {
		t.Fatalf("Job and pod of %s not gone: %v", id, objects(t, id))
	}

	tr := getTrace(t, id)
	if !tr.Status.Persisted {
		t.Errorf("get %s after the Job is gone: persisted=false (state %q), want true", id, tr.Status.State)
	}

	fetched := xtrace(t, 2*time.Minute, traceArgs("fetch", id)...)
	if fetched.code != 0 {
		t.Fatalf("fetch failed:\n%s", fetched)
	}
	if fetched.stdout != live.stdout {
		t.Errorf("fetch output differs from the live stream:\n--- live\n%s--- fetched\n%s", live.stdout, fetched.stdout)
	}
	to := t.TempDir()
	fetchTo := xtrace(t, 2*time.Minute, traceArgs("fetch", id, "--to", to)...)
	if fetchTo.code != 0 {
		t.Fatalf("fetch --to failed:\n%s", fetchTo)
	}
	// --to writes the node's records as JSON lines: the same records that
	// fetch -o json prints, and the same that the node holds on disk.
	saved, err := os.ReadFile(filepath.Join(to, env.node+".jsonl"))
	if err != nil {
		t.Fatalf("fetch --to %s: %v", to, err)
	}
	asJSON := xtrace(t, 2*time.Minute, traceArgs("fetch", id, "-o", "json")...)
	if asJSON.code != 0 {
		t.Fatalf("fetch -o json failed:\n%s", asJSON)
	}
	if got, want := recordTypes(t, asJSON.stdout), recordTypes(t, string(saved)); got != want || !strings.Contains(got, "start") || !strings.Contains(got, "end") {
		t.Errorf("fetch -o json records %s, fetch --to records %s: want the same, from start to end", got, want)
	}
	// fetch's reader pod is removed afterwards.
	if err := poll(ctx, 30*time.Second, func() (bool, error) { return len(objects(t, id)) == 1, nil }); err != nil {
		t.Errorf("fetch left objects behind: %v", objects(t, id))
	}

	del := xtrace(t, 2*time.Minute, traceArgs("delete", id)...)
	if del.code != 0 {
		t.Fatalf("delete failed:\n%s", del)
	}
	if err := poll(ctx, 30*time.Second, func() (bool, error) { return len(objects(t, id)) == 0, nil }); err != nil {
		t.Errorf("delete left objects: %v", objects(t, id))
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("delete left the node's files %s (stat: %v)", dir, err)
	}
	if g := xtrace(t, 30*time.Second, traceArgs("get", id)...); g.code == 0 {
		t.Errorf("get of a deleted trace succeeds:\n%s", g)
	}
}

// (4) A Deployment target fans out to one Job per node (one node here) and
// counts the events of every replica.
func TestRunDeployment(t *testing.T) {
	createDeployment(t, "web", 2, "-comm", "xt-web", "openat-loop", marker, fmt.Sprint(rate))
	pods, err := env.client.CoreV1().Pods(env.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pods.Items) != 2 {
		t.Fatalf("want 2 pods of deploy/web, got %v (err %v)", len(pods.Items), err)
	}
	want := map[string]bool{}
	for i := range pods.Items {
		for _, pid := range hostPIDs(t, &pods.Items[i]) {
			want[fmt.Sprint(pid)] = true
		}
	}
	if len(want) != 2 {
		t.Fatalf("want one process per replica on this node, found pids %v", want)
	}

	before := traceIDs(t)
	p := startXtrace(t, runArgs("deploy/web", "-e",
		`tracepoint:syscalls:sys_enter_openat /str(args.filename) == "`+marker+`"/ { @[pid] = count(); }`, "--duration", "8s")...)
	// While it runs: exactly one Job for the trace (one node).
	var jobs int
	if err := poll(context.Background(), 60*time.Second, func() (bool, error) {
		ids := traceIDs(t)
		for id := range ids {
			if !before[id] {
				l, err := env.client.BatchV1().Jobs(env.jobNS).List(context.Background(), metav1.ListOptions{LabelSelector: "xtrace.dev/trace-id=" + id})
				if err != nil {
					return false, err
				}
				jobs = len(l.Items)
				return jobs > 0, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("no Job for the deployment trace: %v", err)
	}
	if jobs != 1 {
		t.Errorf("deploy/web with 2 replicas on 1 node made %d Jobs, want 1", jobs)
	}
	r := p.wait(t, 2*time.Minute)
	if r.code != 0 {
		t.Fatalf("run deploy/web failed:\n%s", r)
	}
	got := mapValues(t, r.stdout, "")
	for pid := range want {
		if got[pid] <= 0 {
			t.Errorf("replica process %s not counted; map %v\n%s", pid, got, r)
		}
	}
	if len(got) != len(want) {
		t.Errorf("map has pids %v, want exactly the replicas' %v", got, want)
	}
}

// (6) A node target traces the whole node; --tool runs a built-in tool.
func TestRunNodeAndTool(t *testing.T) {
	createPod(t, "execer", "exec-loop", "5")
	createPod(t, "getpider", "-comm", "xt-getpid", "getpid-loop", fmt.Sprint(rate))

	t.Run("node-program", func(t *testing.T) {
		r := xtrace(t, 2*time.Minute, runArgs("node/"+env.node, "-e",
			`tracepoint:syscalls:sys_enter_getpid /comm == "xt-getpid"/ { @ = count(); }`, "--duration", "5s")...)
		if r.code != 0 {
			t.Fatalf("run node/%s failed:\n%s", env.node, r)
		}
		if n := mapValues(t, r.stdout, "")[""]; n <= 0 {
			t.Errorf("a node trace does not see a pod's getpid calls (want @: N > 0):\n%s", r)
		}
	})
	t.Run("execsnoop", func(t *testing.T) {
		r := xtrace(t, 2*time.Minute, runArgs("node/"+env.node, "--tool", "execsnoop", "--duration", "5s")...)
		if r.code != 0 {
			t.Fatalf("run --tool execsnoop failed:\n%s", r)
		}
		if !regexp.MustCompile(`(?m)^TIME\(ms\)\s+PID\s+COMM\s+PATH$`).MatchString(r.stdout) {
			t.Errorf("execsnoop header missing:\n%s", r)
		}
		// The execer pod runs `/xtest true` five times a second.
		if n := len(regexp.MustCompile(`(?m)^\d+\s+\d+\s+\S+\s+/xtest$`).FindAllString(r.stdout, -1)); n < 5 {
			t.Errorf("execsnoop shows %d execs of /xtest in 5 s, want >= 5:\n%s", n, r)
		}
	})
}

// (7) The krew-installed plugin, run by kubectl's plugin mechanism, talks to
// the cluster.
func TestKrewPluginGet(t *testing.T) {
	ctx := context.Background()
	kubectl, err := testenv.Kubectl(ctx, env.repo, env.cluster)
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := testenv.InstallPlugin(ctx, env.repo, kubectl, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k.Env = append(k.Env, "KUBECONFIG="+env.kubeconfig)
	// A trace to list.
	createPod(t, "krew", "-comm", "xt-krew", "openat-loop", marker, "5")
	before := traceIDs(t)
	if r := xtrace(t, time.Minute, runArgs("pod/krew", "-d", "-e", openatProg, "--duration", "5s")...); r.code != 0 {
		t.Fatalf("run -d failed:\n%s", r)
	}
	id := newTraceID(t, before)
	out, err := k.Run(ctx, kubectl, append([]string{"xtrace"}, traceArgs("get")...)...)
	if err != nil {
		t.Fatalf("kubectl xtrace get: %v\n%s", err, out)
	}
	if !strings.Contains(out, id[:8]) {
		t.Errorf("kubectl xtrace get does not list trace %s:\n%s", id, out)
	}
}

// recordTypes summarises JSON-lines records as their types in order, e.g.
// "start attached printf printf exit map end", failing on a line that is not
// a record.
func recordTypes(t *testing.T, jsonl string) string {
	t.Helper()
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		var r struct {
			V    int    `json:"v"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.V == 0 || r.Type == "" {
			t.Fatalf("not a record line (%v): %q", err, line)
		}
		types = append(types, r.Type)
	}
	return strings.Join(types, " ")
}
