package emitter

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/xray-capture/xray-capture/xray"
)

// Printer writes one human-readable line per segment, like tcpdump for
// HTTP: start time (UTC), client, method, host and path, status, latency,
// response size and segment name. It flushes after each line, so that a
// terminal or a pipe sees requests as they complete. It is safe for
// concurrent use (the pipelines of --workers share it).
type Printer struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte
}

// NewPrinter writes to w.
func NewPrinter(w io.Writer) *Printer {
	return &Printer{w: bufio.NewWriter(w), buf: make([]byte, 0, 512)}
}

// Emit prints s.
func (p *Printer) Emit(s *xray.Segment) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := s.Start.UTC().AppendFormat(p.buf[:0], "15:04:05.000000")
	b = append(b, ' ')
	b = append(b, s.ClientIP...)
	b = append(b, ' ')
	b = append(b, s.Method...)
	b = append(b, ' ')
	url := s.URL
	if len(url) > 7 && string(url[:7]) == "http://" {
		url = url[7:]
	}
	b = append(b, url...)
	b = append(b, ' ')
	switch {
	case s.HasResponse && s.Status > 0:
		b = strconv.AppendInt(b, int64(s.Status), 10)
	case s.HasResponse && s.StatusLine != "":
		b = append(b, s.StatusLine...) // no status line, or a malformed one
	case s.HasResponse:
		b = append(b, "0.9"...)
	default:
		b = append(b, '-')
	}
	if s.Outcome != "" {
		b = append(b, '/')
		b = append(b, s.Outcome...)
	}
	if s.InProgress {
		b = append(b, "/in_progress - "...) // no end, no duration
	} else {
		b = append(b, ' ')
		b = strconv.AppendFloat(b, float64(s.End.Sub(s.Start))/float64(time.Millisecond), 'f', 3, 64)
		b = append(b, "ms "...)
	}
	if s.ContentLength >= 0 {
		b = strconv.AppendInt(b, s.ContentLength, 10)
		b = append(b, 'B')
	} else {
		b = append(b, '-')
	}
	b = append(b, ' ')
	b = append(b, s.Name...)
	if s.NotSampled {
		b = append(b, " (not sampled: not sent)"...)
	}
	b = append(b, '\n')
	p.buf = b
	p.w.Write(b)
	p.w.Flush()
}
