package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
)

// Sentinel errors. Every error returned by Parse and Validate wraps
// ErrInvalid; errors about a trace id also wrap ErrInvalidTraceID, so callers
// that only take an id from a user (get, logs, fetch, delete) can say so.
var (
	ErrInvalid        = errors.New("invalid trace spec")
	ErrInvalidTraceID = errors.New("invalid trace id")
)

// Container runtimes whose ids we know how to find in the cgroup tree. All
// three use 64 lower-case hex digits for a container id.
var knownRuntimes = map[string]bool{"containerd": true, "cri-o": true, "docker": true}

var (
	uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	// Static pods (manifests read by the kubelet from disk) get the hex MD5
	// of their manifest as UID instead of a UUID, so a pod UID is either.
	staticUIDRE   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	containerIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// Tool names are short identifiers such as "execsnoop" or "tcp-connect".
	toolRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// Node names and namespaces are DNS subdomains/labels; pod names are DNS
	// subdomains. This is the union, which is all the runner relies on: the
	// names end up in records and file contents, never in paths.
	dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// ValidTraceID checks that id is a lower-case UUID, the only form the plugin
// generates. Trace ids become directory names on the node, so nothing else
// may pass.
func ValidTraceID(id string) error {
	if !uuidRE.MatchString(id) {
		return fmt.Errorf("%w %q: want a lower-case UUID such as 0b5e6f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b (see kubectl xtrace get)", ErrInvalidTraceID, id)
	}
	return nil
}

// Parse decodes a spec strictly, fills in defaults and validates it. Unknown
// fields, fields spelled in another case, fields given twice and trailing
// data are errors: a runner older than the plugin must
// refuse a spec it would only half understand rather than trace something
// else than what the user asked for.
func Parse(data []byte) (*TraceSpec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s TraceSpec
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, ErrInvalid) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: decoding JSON: %w", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: unexpected data after the spec object", ErrInvalid)
	}
	if err := checkKeys(data, reflect.TypeFor[TraceSpec]()); err != nil {
		return nil, err
	}
	// The version must be checked before defaults are filled in, so that a
	// document of another kind is reported as such and not as a list of
	// missing fields.
	if err := s.validateHeader(); err != nil {
		return nil, err
	}
	s = *s.WithDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// WithDefaults returns a copy of s with empty optional fields set to their
// defaults: OutputRoot, Limits.TraceBytes and Limits.NodeBytes. The copy
// shares the Targets slice with s.
func (s *TraceSpec) WithDefaults() *TraceSpec {
	c := *s
	if c.OutputRoot == "" {
		c.OutputRoot = DefaultOutputRoot
	}
	if c.Limits.TraceBytes == 0 {
		c.Limits.TraceBytes = DefaultTraceLimit
	}
	if c.Limits.NodeBytes == 0 {
		c.Limits.NodeBytes = DefaultNodeLimit
	}
	return &c
}

// Validate checks a spec after defaults are filled in. It reports the first
// problem found, naming the field as a JSON path.
func (s *TraceSpec) Validate() error {
	if err := s.validateHeader(); err != nil {
		return err
	}
	if err := ValidTraceID(s.ID); err != nil {
		return fmt.Errorf("%w: id: %w", ErrInvalid, err)
	}
	if err := s.validateProgram(); err != nil {
		return err
	}
	if err := s.validateTargets(); err != nil {
		return err
	}
	if err := s.Limits.validate(); err != nil {
		return err
	}
	return validateOutputRoot(s.OutputRoot)
}

func (s *TraceSpec) validateHeader() error {
	if s.APIVersion != APIVersion {
		return fmt.Errorf("%w: apiVersion %q is not supported, want %q (plugin and runner image versions differ?)", ErrInvalid, s.APIVersion, APIVersion)
	}
	if s.Kind != Kind {
		return fmt.Errorf("%w: kind %q is not supported, want %q", ErrInvalid, s.Kind, Kind)
	}
	return nil
}

func (s *TraceSpec) validateProgram() error {
	switch {
	case s.Program == "" && s.Tool == "":
		return fmt.Errorf("%w: one of program and tool must be set", ErrInvalid)
	case s.Program != "" && s.Tool != "":
		return fmt.Errorf("%w: program and tool are both set; set only one", ErrInvalid)
	case len(s.Program) > MaxProgramBytes:
		return fmt.Errorf("%w: program is %d bytes, more than the limit of %d", ErrInvalid, len(s.Program), MaxProgramBytes)
	case s.Tool != "" && !toolRE.MatchString(s.Tool):
		return fmt.Errorf("%w: tool %q is not a tool name (lower-case letters, digits and dashes)", ErrInvalid, s.Tool)
	}
	return nil
}

func (s *TraceSpec) validateTargets() error {
	if len(s.Targets) == 0 {
		return fmt.Errorf("%w: targets: at least one target node is required", ErrInvalid)
	}
	nodes := make(map[string]bool, len(s.Targets))
	for i, t := range s.Targets {
		path := fmt.Sprintf("targets[%d]", i)
		if t.Node == "" {
			return fmt.Errorf("%w: %s.node: a node name is required", ErrInvalid, path)
		}
		if !validDNSSubdomain(t.Node) {
			return fmt.Errorf("%w: %s.node %q is not a valid node name", ErrInvalid, path, t.Node)
		}
		if nodes[t.Node] {
			return fmt.Errorf("%w: %s.node %q appears in more than one target; merge its pods into one", ErrInvalid, path, t.Node)
		}
		nodes[t.Node] = true
		if err := validatePods(path, t.Pods); err != nil {
			return err
		}
	}
	return nil
}

func validatePods(path string, pods []Pod) error {
	uids := make(map[string]bool, len(pods))
	for j, p := range pods {
		ppath := fmt.Sprintf("%s.pods[%d]", path, j)
		if !validDNSSubdomain(p.Namespace) {
			return fmt.Errorf("%w: %s.namespace %q is not a valid namespace", ErrInvalid, ppath, p.Namespace)
		}
		if !validDNSSubdomain(p.Name) {
			return fmt.Errorf("%w: %s.name %q is not a valid pod name", ErrInvalid, ppath, p.Name)
		}
		if !ValidPodUID(p.UID) {
			return fmt.Errorf("%w: %s.uid %q is not a pod UID (a lower-case UUID, or 32 hex digits for a static pod)", ErrInvalid, ppath, p.UID)
		}
		if uids[p.UID] {
			return fmt.Errorf("%w: %s.uid %q appears twice", ErrInvalid, ppath, p.UID)
		}
		uids[p.UID] = true
		for k, c := range p.Containers {
			cpath := fmt.Sprintf("%s.containers[%d]", ppath, k)
			if c.Name == "" {
				return fmt.Errorf("%w: %s.name: a container name is required", ErrInvalid, cpath)
			}
			if _, _, err := ParseContainerID(c.ID); err != nil {
				return fmt.Errorf("%w: %s.id: %w", ErrInvalid, cpath, err)
			}
		}
	}
	return nil
}

// ValidPodUID reports whether uid has the form of a pod UID: a lower-case
// UUID, or 32 lower-case hex digits (static pods).
func ValidPodUID(uid string) bool {
	return uuidRE.MatchString(uid) || staticUIDRE.MatchString(uid)
}

// ParseContainerID splits a container id as the pod status shows it,
// "<runtime>://<64 hex digits>", into the runtime and the hex id.
func ParseContainerID(id string) (runtime, hexID string, err error) {
	runtime, hexID, ok := strings.Cut(id, "://")
	if !ok {
		return "", "", fmt.Errorf("container id %q is not of the form <runtime>://<id>", id)
	}
	if !knownRuntimes[runtime] {
		return "", "", fmt.Errorf("container id %q: runtime %q is not one of containerd, cri-o, docker", id, runtime)
	}
	if !containerIDRE.MatchString(hexID) {
		return "", "", fmt.Errorf("container id %q: the id after %s:// must be 64 lower-case hex digits", id, runtime)
	}
	return runtime, hexID, nil
}

func (l Limits) validate() error {
	switch {
	case l.Duration.Duration < 0:
		return fmt.Errorf("%w: limits.duration %s is negative", ErrInvalid, l.Duration)
	case l.TraceBytes < 0:
		return fmt.Errorf("%w: limits.traceBytes %d is negative", ErrInvalid, l.TraceBytes)
	case l.NodeBytes < 0:
		return fmt.Errorf("%w: limits.nodeBytes %d is negative", ErrInvalid, l.NodeBytes)
	case l.NodeBytes > 0 && l.TraceBytes > l.NodeBytes:
		return fmt.Errorf("%w: limits.traceBytes %d is larger than limits.nodeBytes %d", ErrInvalid, l.TraceBytes, l.NodeBytes)
	}
	return nil
}

// validateOutputRoot makes sure the runner's output directory is spelled
// exactly one way: the runner creates and deletes directories under it, so
// a path that says one thing and means another is refused.
func validateOutputRoot(root string) error {
	switch {
	case root == "":
		return fmt.Errorf("%w: outputRoot is empty", ErrInvalid)
	case !filepath.IsAbs(root):
		return fmt.Errorf("%w: outputRoot %q is not an absolute path", ErrInvalid, root)
	case root == "/":
		return fmt.Errorf("%w: outputRoot must not be the file system root", ErrInvalid)
	case hasDotDot(root):
		return fmt.Errorf("%w: outputRoot %q contains \"..\"", ErrInvalid, root)
	case filepath.Clean(root) != root:
		return fmt.Errorf("%w: outputRoot %q is not clean, write it as %q", ErrInvalid, root, filepath.Clean(root))
	}
	return nil
}

func hasDotDot(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

func validDNSSubdomain(s string) bool {
	return len(s) <= 253 && dnsSubdomainRE.MatchString(s)
}
