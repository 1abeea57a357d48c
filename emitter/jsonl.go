package emitter

import (
	"bufio"
	"io"
	"sync"

	"github.com/xray-capture/xray-capture/segmenter"
)

// JSONLines writes one segment document per line. It is safe for
// concurrent use: the pipelines of --workers share one file. (The lock is
// uncontended with one pipeline, and costs about 20 ns per segment.)
type JSONLines struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte

	Written uint64
	Err     error // the first write error; later segments are not written
}

// NewJSONLines writes to w; call Flush at the end.
func NewJSONLines(w io.Writer) *JSONLines {
	return &JSONLines{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 4096)}
}

// Emit writes s as one line.
func (j *JSONLines) Emit(s *segmenter.Segment) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.Err != nil {
		return
	}
	j.buf = s.AppendJSON(j.buf[:0])
	j.buf = append(j.buf, '\n')
	if _, err := j.w.Write(j.buf); err != nil {
		j.Err = err
		return
	}
	j.Written++
}

// Flush writes out what is buffered.
func (j *JSONLines) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.w.Flush(); err != nil && j.Err == nil {
		j.Err = err
	}
	return j.Err
}

// Tee hands each segment to several sinks in turn.
type Tee []segmenter.Sink

// Emit passes s to every sink.
func (t Tee) Emit(s *segmenter.Segment) {
	for _, k := range t {
		k.Emit(s)
	}
}
