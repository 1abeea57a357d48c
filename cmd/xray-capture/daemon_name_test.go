package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDaemonNameNotResolvingYet: a daemon name that does not resolve (a
// Kubernetes Service not created yet) does not stop the agent: it says so
// once, and counts the segments as send errors.
func TestDaemonNameNotResolvingYet(t *testing.T) {
	// .invalid never resolves (RFC 6761).
	_, stderr, err := runCLI(t, nil, "--read", filepath.Join(captures, "midstream.pcap"), "--port", "8080",
		"--service-name", "s", "--daemon-address", "xray-daemon.invalid:2000")
	if err != nil {
		t.Fatalf("an unresolved daemon name stopped the run: %v", err)
	}
	warn := "daemon address xray-daemon.invalid:2000 does not resolve yet; segments are counted as send errors until it does"
	if n := strings.Count(stderr, warn); n != 1 {
		t.Errorf("the warning %d times, want once:\n%s", n, stderr)
	}
	if !strings.Contains(stderr, " daemon_sent=0 daemon_send_errors=8 ") {
		t.Errorf("want the 8 segments counted as send errors:\n%s", stderr)
	}
}
