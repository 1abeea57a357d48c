package emitter

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSummary(t *testing.T) {
	m := NewSummary()
	s := segment("http://shop.test/cart")
	for i := range 100 {
		s.Start = time.Unix(0, 0)
		s.End = s.Start.Add(time.Duration(i+1) * time.Millisecond) // 1..100 ms
		s.Error, s.Fault = i%10 == 0, i%25 == 0
		s.NotSampled = i%2 == 1 // seen, not sent: counted all the same
		m.Emit(s)
	}
	other := segment("http://shop.test/health")
	other.End = other.Start.Add(200 * time.Microsecond)
	m.Emit(other)
	var b bytes.Buffer
	if err := m.Print(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", b.String())
	}
	f := strings.Fields(lines[1])
	// svc GET /cart 100 requests, 50 sampled, 10% errors, 4% faults, p50 ~50ms, p99 ~99ms.
	if f[0] != "svc" || f[1] != "GET" || f[2] != "/cart" || f[3] != "100" || f[4] != "50" || f[5] != "10.0" || f[6] != "4.0" ||
		!within(f[7], 50) || !within(f[8], 90) || !within(f[9], 99) {
		t.Errorf("row %q", lines[1])
	}
	if !strings.Contains(lines[2], "/health") || !strings.Contains(lines[2], "µs") {
		t.Errorf("row %q", lines[2])
	}
}

// TestSummaryPerService: the same route of two services is two rows, each
// with its service's name and figures.
func TestSummaryPerService(t *testing.T) {
	m := NewSummary()
	for _, svc := range []struct {
		name   string
		n      int
		status int
	}{{"shop", 3, 200}, {"cart", 2, 503}} {
		s := segment("http://h/cart")
		s.Name = []byte(svc.name)
		s.Fault = svc.status >= 500
		for range svc.n {
			m.Emit(s)
		}
	}
	var b bytes.Buffer
	if err := m.Print(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SERVICE") {
		t.Fatalf("table:\n%s", b.String())
	}
	for i, want := range [][]string{{"shop", "GET", "/cart", "3", "3", "0.0", "0.0"}, {"cart", "GET", "/cart", "2", "2", "0.0", "100.0"}} {
		if f := strings.Fields(lines[i+1]); len(f) < 7 || strings.Join(f[:7], " ") != strings.Join(want, " ") {
			t.Errorf("row %d: %q, want %q", i+1, lines[i+1], want)
		}
	}
}

// within: a "NN.Nms" cell is within 5% above want milliseconds.
func within(cell string, want float64) bool {
	d, err := time.ParseDuration(cell)
	ms := float64(d) / float64(time.Millisecond)
	return err == nil && ms >= want && ms <= want*1.07
}

func TestSummaryBoundsRoutes(t *testing.T) {
	m := NewSummary()
	s := segment("")
	for i := range MaxRoutes + 50 {
		s.URL = []byte("http://h/item/" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)))
		m.Emit(s)
	}
	if len(m.routes) != MaxRoutes+1 || m.routes["(other)"].n != 50 {
		t.Errorf("%d routes, other %+v", len(m.routes), m.routes["(other)"])
	}
}

func TestSummaryKnownRouteDoesNotAlloc(t *testing.T) {
	m := NewSummary()
	s := segment("http://shop.test/cart")
	m.Emit(s)
	if n := testing.AllocsPerRun(100, func() { m.Emit(s) }); n != 0 {
		t.Errorf("Emit on a known route allocates %.1f times", n)
	}
}
