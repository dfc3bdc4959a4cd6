//go:build linux

package runner

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/decode"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

// pollInterval bounds how long an event can wait in the ring buffer before
// the runner reads it, since programs wake the reader only for a backlog.
// Fifty idle reads a second cost nothing measurable, and a trace's first
// event shows within 20 ms.
const pollInterval = 20 * time.Millisecond

// readEvents is the event loop: it turns ring buffer records into output
// records until exit() is called, the reader is closed, or stopLoop asks it
// to return. It runs on its own goroutine so the kernel side never waits on
// the sink.
func (t *trace) readEvents() {
	defer close(t.loopDone)
	var raw ringbuf.Record
	for {
		// Programs wake the reader only when a backlog builds up, so read
		// at least every pollInterval to show sparse events promptly.
		t.events.SetDeadline(time.Now().Add(pollInterval))
		err := t.events.ReadInto(&raw)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if errors.Is(err, ringbuf.ErrFlushed) && t.stopping.Load() {
				return
			}
			if isClosed(err) {
				return
			}
			t.loopErr = fmt.Errorf("reading events: %w", err)
			return
		}
		exit, err := t.handle(raw.RawSample)
		if err != nil {
			t.loopErr = err
			return
		}
		if exit {
			close(t.exitCalled)
			return
		}
	}
}

// stopLoop makes the event loop return and waits for it. Flushing wakes a
// blocked read; the loop handles the events already queued and then sees
// ErrFlushed. (SetDeadline cannot do this: it waits for the blocked read.)
func (t *trace) stopLoop() {
	if t.loopDone == nil {
		return
	}
	t.stopping.Store(true)
	t.events.Flush()
	<-t.loopDone
}

// drain reads the events already in the ring buffer without waiting for
// more. The event loop must have stopped. With handle false they are read and dropped. An exit() among them
// changes nothing: the trace is already ending.
func (t *trace) drain(handle bool) {
	if t.events == nil {
		return
	}
	t.events.SetDeadline(time.Now())
	var raw ringbuf.Record
	for {
		if err := t.events.ReadInto(&raw); err != nil {
			return
		}
		if !handle {
			continue
		}
		if _, err := t.handle(raw.RawSample); err != nil && t.loopErr == nil {
			t.loopErr = err
		}
	}
}

// handle acts on one event and reports whether it was exit().
func (t *trace) handle(raw []byte) (exit bool, err error) {
	ev, err := t.decoder.Event(raw)
	if err != nil {
		return false, fmt.Errorf("decoding an event: %w", err)
	}
	switch ev.Kind {
	case decode.EventPrintf:
		return false, t.emit(&record.Record{Type: record.TypePrintf, Text: ev.Text})
	case decode.EventExit:
		return true, nil
	case decode.EventPrint:
		m, bpfMap, err := t.userMap(ev.Map)
		if err != nil {
			return false, err
		}
		rec, err := t.decoder.ReadMap(bpfMap, m, ev.Top, ev.Div)
		if err != nil {
			return false, fmt.Errorf("printing map %s: %w", m.Name, err)
		}
		return false, t.emit(&record.Record{Type: record.TypeMap, Map: rec})
	case decode.EventClear, decode.EventZero:
		m, bpfMap, err := t.userMap(ev.Map)
		if err != nil {
			return false, err
		}
		if ev.Kind == decode.EventClear {
			err = decode.ClearMap(bpfMap, m)
		} else {
			err = decode.ZeroMap(bpfMap, m)
		}
		if err != nil {
			return false, fmt.Errorf("clearing map %s: %w", m.Name, err)
		}
		return false, nil
	}
	return false, fmt.Errorf("unknown event kind %v", ev.Kind)
}

// userMap finds a user map by its index in the spec.
func (t *trace) userMap(i int) (program.Map, *ebpf.Map, error) {
	if i < 0 || i >= len(t.spec.Maps) {
		return program.Map{}, nil, fmt.Errorf("event names map %d of %d: this is a bug in xtrace", i, len(t.spec.Maps))
	}
	m := t.spec.Maps[i]
	return m, t.coll.Maps[m.BPFName], nil
}
