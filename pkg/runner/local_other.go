//go:build !linux

package runner

import (
	"context"
	"errors"
)

// ErrLocalUnsupported is returned by RunLocal where eBPF does not exist.
var ErrLocalUnsupported = errors.New("--local traces this machine with eBPF, which only Linux has: trace a cluster node instead")

// RunLocal fails on systems other than Linux.
func RunLocal(ctx context.Context, o LocalOptions) error {
	return ErrLocalUnsupported
}
