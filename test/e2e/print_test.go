package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestPrintShowsEveryRequest: with the default sampling, --print shows each
// request, those not sent marked, and the start-up log names the mode.
func TestPrintShowsEveryRequest(t *testing.T) {
	e := setup(t, "ebpf", "--print", "--sampling=true", "--centralized-sampling", "off")
	if !strings.Contains(e.stderr.String(), "msg=sampling mode=default_rule") {
		t.Errorf("the start-up log does not name the sampling mode:\n%s", e.stderr.String())
	}
	for range 7 {
		e.srv.Run(t, "curl", "-s", "-o", "/dev/null", "http://127.0.0.1:8080/p")
	}
	var lines []string
	deadline := time.Now().Add(5 * time.Second)
	for len(lines) < 7 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		lines = lines[:0]
		for line := range strings.SplitSeq(e.stdout.String(), "\n") {
			if strings.Contains(line, " GET 127.0.0.1:8080/p 200 ") {
				lines = append(lines, line)
			}
		}
	}
	if len(lines) != 7 {
		t.Fatalf("--print showed %d of 7 requests:\n%s", len(lines), e.stdout.String())
	}
	notSent := 0
	for _, l := range lines {
		if strings.HasSuffix(l, "(not sampled: not sent)") {
			notSent++
		}
	}
	// The default rule: the first request of the second, then 5%.
	sent := 7 - notSent
	if sent < 1 || notSent < 1 {
		t.Errorf("%d sent, %d marked not sampled:\n%s", sent, notSent, strings.Join(lines, "\n"))
	}
	e.stop(t)
	if got := len(e.daemon.Docs()); got != sent {
		t.Errorf("the daemon got %d segments, --print showed %d as sent", got, sent)
	}
}
