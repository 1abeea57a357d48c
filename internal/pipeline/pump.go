package pipeline

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/segmenter"
)

// liveSource is a capture ring or a libpcap handle.
type liveSource interface {
	ReadFrame() (capture.Frame, error)
	// BlockDone reports that the next read may wait for the kernel: the
	// moment to send what is batched.
	BlockDone() bool
	Stats() (capture.KernelStats, error)
	Close() error
}

// pump reads a file's frames until its end or until ctx is done. It
// returns the last packet time, the number of frames and a read error.
func pump(ctx context.Context, src capture.Source, t *segmenter.Tracker, publish func()) (time.Time, uint64, error) {
	var last time.Time
	var n uint64
	for {
		if n&4095 == 0 {
			if ctx.Err() != nil {
				return last, n, nil
			}
			publish()
		}
		f, err := src.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return last, n, nil
			}
			return last, n, err
		}
		n++
		if f.Timestamp.After(last) {
			last = f.Timestamp
		}
		t.HandleFrame(f)
	}
}

// pumpLive reads until ctx is done. When no packet comes for a poll
// interval, the wall clock stands in for packet time, so that timeouts and
// idle connections still expire on a quiet host.
// Counters are published for the metrics every 4096 frames and on every
// quiet poll interval. Batched segments are flushed at the end of every
// ring block and on every quiet poll interval: a segment waits at most for
// the rest of its block, which the kernel hands over within the ring's
// block timeout.
func pumpLive(ctx context.Context, src liveSource, t *segmenter.Tracker, publish, flush func()) error {
	var n uint64
	for ctx.Err() == nil {
		f, err := src.ReadFrame()
		if err != nil {
			if errors.Is(err, capture.ErrTimeout) {
				t.Advance(time.Now())
				flush()
				publish()
				continue
			}
			return err
		}
		t.HandleFrame(f)
		if src.BlockDone() {
			flush()
		}
		if n++; n&4095 == 0 {
			publish()
		}
	}
	return nil
}
