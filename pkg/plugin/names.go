package plugin

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/spec"
)

// Labels and annotations on everything a trace creates. The ConfigMap is the
// durable record of a trace; Jobs and pods point back to it by the trace id.
const (
	labelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "kubectl-xtrace"
	labelTraceID   = "xtrace.dev/trace-id"
	labelNode      = "xtrace.dev/node"
	// labelRole tells runner pods from the short-lived reader pods of fetch
	// and delete, so that logs never shows a reader's output.
	labelRole  = "xtrace.dev/role"
	roleRunner = "runner"
	roleReader = "reader"

	annotationTarget  = "xtrace.dev/target"
	annotationProgram = "xtrace.dev/program"
	annotationCreated = "xtrace.dev/created"
	annotationImage   = "xtrace.dev/image"
	annotationNode    = "xtrace.dev/node"

	// specKey is the ConfigMap key holding the TraceSpec JSON, mounted at
	// specMountDir in the runner.
	specKey       = "spec.json"
	specMountDir  = "/etc/xtrace"
	containerName = "trace-runner"
)

// shortID is the first 8 hex digits of a trace id: enough to name objects
// and to type.
func shortID(id string) string {
	if len(id) < 8 {
		return id
	}
	return id[:8]
}

// configMapName names the trace's ConfigMap.
func configMapName(id string) string { return "xtrace-" + shortID(id) }

// jobName names the Job of the i-th node; a trace on one node has one Job
// named like its ConfigMap.
func jobName(id string, i, nodes int) string {
	if nodes == 1 {
		return configMapName(id)
	}
	return fmt.Sprintf("%s-%d", configMapName(id), i)
}

// traceRef is what a user typed to name a trace: the full id, the 8-digit
// short id, or the ConfigMap name. It is validated before it is used in a
// name, a label selector or a reader pod's command line.
type traceRef struct {
	full  string // set when the user gave the whole id
	short string
}

func parseTraceRef(s string) (traceRef, error) {
	s = strings.TrimPrefix(s, "xtrace-")
	if len(s) == 8 && isLowerHex(s) {
		return traceRef{short: s}, nil
	}
	if err := spec.ValidTraceID(s); err != nil {
		return traceRef{}, fmt.Errorf("%w (an 8-digit short id such as %s also works)", err, "0b5e6f3a")
	}
	return traceRef{full: s, short: shortID(s)}, nil
}

// parseOptionalTraceRef reads the ID argument of the commands where it may
// be left out to mean every trace; it returns nil then.
func parseOptionalTraceRef(args []string) (*traceRef, error) {
	if len(args) == 0 {
		return nil, nil
	}
	ref, err := parseTraceRef(args[0])
	if err != nil {
		return nil, err
	}
	return &ref, nil
}

func (r traceRef) String() string {
	if r.full != "" {
		return r.full
	}
	return r.short
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// nodeLabel returns the node name as a label value, or "" when it cannot be
// one (label values stop at 63 characters; node names may be longer). The
// full name is always in an annotation.
func nodeLabel(node string) string {
	if len(validation.IsValidLabelValue(node)) != 0 {
		return ""
	}
	return node
}

func traceLabels(id, node, role string) map[string]string {
	l := map[string]string{
		labelManagedBy: managedBy,
		labelTraceID:   id,
	}
	if node != "" && nodeLabel(node) != "" {
		l[labelNode] = node
	}
	if role != "" {
		l[labelRole] = role
	}
	return l
}

// runnerSelector selects the runner pods of trace id, leaving out the
// reader pods of fetch and delete that carry the same trace id.
func runnerSelector(id string) string {
	return labels.SelectorFromSet(labels.Set{labelTraceID: id, labelRole: roleRunner}).String()
}
