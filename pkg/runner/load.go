//go:build linux

package runner

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
)

// ErrRejected is wrapped by load errors when the kernel refused a program:
// the verifier said no, or the kernel lacks a helper or program type.
var ErrRejected = errors.New("the kernel rejected the program")

// explainLoadError turns a collection load failure into one readable
// message that names the probe and its place in the source, instead of a
// verifier dump. The full verifier log stays available through errors.As
// on the wrapped *ebpf.VerifierError.
func (t *trace) explainLoadError(err error) error {
	where := "loading the trace"
	for _, p := range t.spec.Probes {
		if strings.Contains(err.Error(), "program "+p.Program+":") {
			where = t.where(p)
			break
		}
	}

	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("%s: %w: the verifier said %q; the program may be too complex for this kernel (simplify the probe, or report it with the output of --debug): %w",
			where, ErrRejected, verifierReason(ve.Log), err)
	}
	if errors.Is(err, ebpf.ErrNotSupported) {
		return fmt.Errorf("%s: %w: this kernel lacks a feature the program needs: %w", where, ErrRejected, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// verifierReason picks the line of a verifier log that says why it
// refused: the last line that is not one of the summary lines the verifier
// appends after the error.
func verifierReason(log []string) string {
	for i := len(log) - 1; i >= 0; i-- {
		line := strings.TrimSpace(log[i])
		switch {
		case line == "",
			strings.HasPrefix(line, "processed "),
			strings.HasPrefix(line, "verification time"),
			strings.HasPrefix(line, "stack depth"),
			strings.HasPrefix(line, "max_states_per_insn"),
			strings.HasPrefix(line, "mark_precise"):
			continue
		}
		return line
	}
	return "no reason given"
}
