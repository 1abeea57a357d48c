package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestInProgressAtStop: a request still unanswered when a live capture
// stops reaches the daemon as an in-progress segment (no end, no fault).
func TestInProgressAtStop(t *testing.T) {
	e := setup(t, "ebpf")
	c := e.client()
	if resp, err := c.Get("http://192.0.2.1:8080/before"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	go func() {
		if resp, err := c.Get("http://192.0.2.1:8080/hold"); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(500 * time.Millisecond) // the request is captured, its answer 2.5 s away
	e.sigterm(t)
	got := e.byURL(t, 2)
	before, hold := got["http://192.0.2.1:8080/before"], got["http://192.0.2.1:8080/hold"]
	if len(before) != 1 || before[0].InProgress || before[0].HTTP.Response == nil {
		t.Errorf("/before: %+v", before)
	}
	if len(hold) != 1 {
		t.Fatalf("/hold: %d segments, want 1 in progress; all: %v", len(hold), got)
	}
	if h := hold[0]; !h.InProgress || h.End != 0 || h.Fault || h.HTTP.Response != nil || h.Annotations != nil {
		t.Errorf("/hold is not an in-progress segment: %+v", h)
	}
	if !strings.Contains(e.stderr.String(), " in_progress=1 ") {
		t.Errorf("the summary does not count it:\n%s", e.stderr.String())
	}
}
