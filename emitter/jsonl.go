package emitter

import (
	"bytes"
	"io"
	"sync"

	"github.com/xray-capture/xray-capture/xray"
)

// flushAt is how many bytes of lines Emit gathers before it writes them
// without waiting for Flush. A megabyte, not 64 KiB: ext4 spent a third
// less system time on 17 MB of output written in 1 MB pieces (`dd`, bs
// 66,000 against 1,050,000: the pieces never fall on page boundaries).
const flushAt = 1 << 20

var newline = []byte{'\n'}

// JSONLines writes one segment document per line. It is safe for
// concurrent use: the pipelines of --workers share one file. (The lock is
// uncontended with one pipeline, and costs about 20 ns per segment.)
//
// A failed write loses the segments it carried, counted in Lost, and the
// next write tries again (a disk that was full may have room by then). A
// line a failed write left torn is ended before the next one, so that one
// bad line is all a reader of the file sees.
type JSONLines struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte // whole lines not written yet
	lines uint64 // in buf
	torn  bool   // the last write ended inside a line

	Written uint64 // segments written
	Lost    uint64 // segments a failed write lost
	Err     error  // the last write error
}

// NewJSONLines writes to w; call Flush at the end.
func NewJSONLines(w io.Writer) *JSONLines {
	return &JSONLines{w: w, buf: make([]byte, 0, flushAt+4096)}
}

// Emit adds s as one line.
func (j *JSONLines) Emit(s *xray.Segment) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = s.AppendJSON(j.buf)
	j.buf = append(j.buf, '\n')
	j.lines++
	if len(j.buf) >= flushAt {
		j.write()
	}
}

// Flush writes out the lines gathered so far. It returns the error of
// this write, if it failed.
func (j *JSONLines) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.write()
}

// Redirect writes out the lines gathered so far to the current writer,
// then sends the later ones to w: the file was reopened after a log
// rotation. It returns the error of the last write to the old writer.
func (j *JSONLines) Redirect(w io.Writer) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.write()
	j.w, j.torn = w, false
	return err
}

// Counts returns Written, Lost and Err under the lock, for a reader on
// another goroutine than the pipelines'.
func (j *JSONLines) Counts() (written, lost uint64, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.Written, j.Lost, j.Err
}

func (j *JSONLines) write() error {
	if len(j.buf) == 0 {
		return nil
	}
	if j.torn {
		if _, err := j.w.Write(newline); err != nil {
			return j.fail(0, err)
		}
		j.torn = false
	}
	n, err := j.w.Write(j.buf)
	if err != nil {
		return j.fail(n, err)
	}
	j.Written += j.lines
	j.buf, j.lines = j.buf[:0], 0
	return nil
}

// fail counts the lines of buf that the write did not finish as lost.
func (j *JSONLines) fail(n int, err error) error {
	done := uint64(bytes.Count(j.buf[:n], newline))
	j.Written += done
	j.Lost += j.lines - done
	j.torn = n > 0 && j.buf[n-1] != '\n'
	j.Err = err
	j.buf, j.lines = j.buf[:0], 0
	return err
}

// Sink is what Tee hands segments to: any of this package's emitters.
type Sink interface {
	Emit(s *xray.Segment)
}

// SampledOnly passes on the sampled segments only: the daemon and the
// output file get those, while the views (--print, --summary) may see every
// request (xray.Segment.NotSampled).
type SampledOnly struct{ Sink Sink }

// Emit passes s on unless it was not sampled.
func (o SampledOnly) Emit(s *xray.Segment) {
	if !s.NotSampled {
		o.Sink.Emit(s)
	}
}

// Tee hands each segment to several sinks in turn.
type Tee []Sink

// Emit passes s to every sink.
func (t Tee) Emit(s *xray.Segment) {
	for _, k := range t {
		k.Emit(s)
	}
}
