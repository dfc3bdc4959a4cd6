package spec

import (
	"encoding/json"
	"fmt"
	"time"
)

// MarshalJSON writes the duration as a Go duration string such as "1m30s",
// so a spec stays readable when a user inspects the trace's ConfigMap.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads a Go duration string ("30s", "5m", "1h2m"). Bare
// numbers are refused: nanoseconds are an easy way to ask for a trace that
// ends before it starts, and the unit should always be explicit.
func (d *Duration) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("%w: duration must be a string such as \"30s\" or \"5m\", got %s", ErrInvalid, data)
	}
	parsed, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%w: duration %q: %w (use a Go duration such as \"30s\" or \"5m\")", ErrInvalid, s, err)
	}
	d.Duration = parsed
	return nil
}
