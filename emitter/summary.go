package emitter

import (
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/xray-capture/xray-capture/xray"
)

// MaxRoutes bounds the routes Summary keeps; later ones count as "(other)".
const MaxRoutes = 1000

// Summary aggregates segments per service (the segment name), method and
// path: requests seen, of which sampled (sent), error (4xx) and fault (5xx
// or unanswered) rates, and latency percentiles, over every request seen. It is safe for concurrent use: the capture
// goroutine adds, a signal prints.
type Summary struct {
	mu     sync.Mutex
	routes map[string]*route
	key    []byte // "name\x00METHOD path", reused so that a lookup does not allocate
}

type route struct {
	service           string
	method, path      string
	n, errors, faults int
	sampled           int // of n: sent (the others were seen, not sampled)
	hist              latencyHist
}

// NewSummary returns an empty summary.
func NewSummary() *Summary { return &Summary{routes: map[string]*route{}} }

// Emit counts s.
func (m *Summary) Emit(s *xray.Segment) {
	path := s.URL
	if len(path) > 7 && string(path[:7]) == "http://" {
		path = path[7:]
	}
	for i, c := range path {
		if c == '/' {
			path = path[i:]
			break
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// A name holds no NUL (naming.Clean), so the key is unambiguous.
	m.key = append(append(append(append(append(m.key[:0], s.Name...), 0), s.Method...), ' '), path...)
	r := m.routes[string(m.key)]
	if r == nil {
		key := string(m.key)
		if len(m.routes) >= MaxRoutes {
			key = "(other)"
			if r = m.routes[key]; r == nil {
				r = &route{service: "*", method: "*", path: key}
				m.routes[key] = r
			}
		} else {
			r = &route{service: string(s.Name), method: string(s.Method), path: string(path)}
			m.routes[key] = r
		}
	}
	r.n++
	if !s.NotSampled {
		r.sampled++
	}
	if s.Error {
		r.errors++
	}
	if s.Fault {
		r.faults++
	}
	if !s.InProgress { // no end: no latency
		r.hist.add(s.End.Sub(s.Start))
	}
}

// Print writes the table, busiest routes first.
func (m *Summary) Print(w io.Writer) error {
	m.mu.Lock()
	rs := make([]*route, 0, len(m.routes))
	for _, r := range m.routes {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].n != rs[j].n {
			return rs[i].n > rs[j].n
		}
		if rs[i].service != rs[j].service {
			return rs[i].service < rs[j].service
		}
		return rs[i].method+rs[i].path < rs[j].method+rs[j].path
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tMETHOD\tPATH\tREQUESTS\tSAMPLED\tERROR%\tFAULT%\tP50\tP90\tP99")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.1f\t%.1f\t%s\t%s\t%s\n", r.service, r.method, r.path, r.n, r.sampled,
			100*float64(r.errors)/float64(r.n), 100*float64(r.faults)/float64(r.n),
			fmtDur(r.hist.quantile(0.5)), fmtDur(r.hist.quantile(0.9)), fmtDur(r.hist.quantile(0.99)))
	}
	m.mu.Unlock()
	return tw.Flush()
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// latencyHist is a log-linear histogram from 1 µs to about 1 hour: 16
// buckets per power of two, so a quantile is within about 4.5% of the
// truth, in fixed memory.
type latencyHist struct {
	counts [33 * 16]uint32
	n      uint32
}

func bucketOf(d time.Duration) int {
	us := d.Microseconds()
	if us < 1 {
		return 0
	}
	exp := int(math.Floor(math.Log2(float64(us))))
	if exp >= 32 {
		return len(latencyHist{}.counts) - 1
	}
	sub := int(float64(us)/math.Exp2(float64(exp))*16) - 16
	return exp*16 + min(max(sub, 0), 15)
}

// upper is the largest duration of bucket b.
func upper(b int) time.Duration {
	exp, sub := b/16, b%16
	return time.Duration(math.Exp2(float64(exp))*(1+float64(sub+1)/16)) * time.Microsecond
}

func (h *latencyHist) add(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
}

func (h *latencyHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint32(math.Ceil(q * float64(h.n)))
	var seen uint32
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return upper(b)
		}
	}
	return upper(len(h.counts) - 1)
}
