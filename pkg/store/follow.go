package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/record"
)

// DefaultFollowPoll is how often Follow looks for new records.
const DefaultFollowPoll = 250 * time.Millisecond

// Follow streams the complete records of trace id to w like Cat, and then
// the records written after, until the end record (nil), ctx is done
// (ctx.Err()), or the runner dies without an end record (ErrTruncated).
// poll is how often it looks for more; 0 means DefaultFollowPoll. It backs
// `trace-runner cat --follow`, for `kubectl xtrace logs -f` once the runner's
// own stream is gone.
func Follow(ctx context.Context, root, id string, w io.Writer, poll time.Duration) error {
	if poll <= 0 {
		poll = DefaultFollowPoll
	}
	r, f, err := openTraceForReading(root, id)
	if err != nil {
		return err
	}
	defer r.Close()
	defer f.Close()

	var partial, last []byte
	buf := make([]byte, 64<<10)
	runnerGone := false
	for {
		n, err := f.Read(buf)
		if n > 0 {
			data := append(partial, buf[:n]...)
			i := bytes.LastIndexByte(data, '\n')
			if i < 0 {
				partial = data
				continue
			}
			if _, err := w.Write(data[:i+1]); err != nil {
				return err
			}
			j := bytes.LastIndexByte(data[:i], '\n')
			last = append(last[:0], data[j+1:i+1]...)
			partial = append([]byte(nil), data[i+1:]...)
			if lastType(last) == record.TypeEnd {
				return nil
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading records of trace %s: %w", id, err)
		}
		if runnerGone {
			// The file was read to its end after the runner let go of it.
			return truncatedError(id, len(partial))
		}
		if runnerGone, err = runnerStopped(r, id); err != nil {
			return err
		}
		if runnerGone {
			continue // read once more: the last flush may be unread
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}
