package testutil

import (
	"os"
	"testing"
)

// PrivilegedEnv is the variable that turns on tests needing root: BPF
// programs, AF_PACKET sockets, network namespaces.
const PrivilegedEnv = "XRAY_CAPTURE_PRIVILEGED"

// Privileged skips t unless XRAY_CAPTURE_PRIVILEGED is set, and fails it
// when the variable is set but the test cannot have the privileges, so that
// a CI that asks for these tests can never pass by skipping them.
func Privileged(t testing.TB) {
	t.Helper()
	if os.Getenv(PrivilegedEnv) == "" {
		t.Skip("needs root: set " + PrivilegedEnv + "=1 and run as root (go test -exec sudo)")
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s is set but the test runs as uid %d, not root", PrivilegedEnv, os.Geteuid())
	}
}
