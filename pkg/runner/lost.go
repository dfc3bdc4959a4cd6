//go:build linux

package runner

import (
	"github.com/cilium/ebpf"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

// lostCounter follows the per-CPU counter the programs increment when the
// ring buffer is full.
type lostCounter struct {
	m     *ebpf.Map
	total uint64 // lost events reported so far
}

// read returns the number of events lost since the trace began.
func (c *lostCounter) read() uint64 {
	if c.m == nil {
		return 0
	}
	var perCPU []uint64
	if err := c.m.Lookup(uint32(0), &perCPU); err != nil {
		return c.total
	}
	var sum uint64
	for _, v := range perCPU {
		sum += v
	}
	return sum
}

// reportLost writes a lost record for events dropped since the last report.
func (t *trace) reportLost() {
	now := t.lost.read()
	if now <= t.lost.total {
		return
	}
	delta := now - t.lost.total
	t.lost.total = now
	t.emit(&record.Record{Type: record.TypeLost, Lost: delta})
}
