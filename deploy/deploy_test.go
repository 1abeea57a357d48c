package deploy

import (
	"os"
	"sync"
	"testing"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

var (
	buildOnce sync.Once
	binPath   string
	binErr    error
	binDir    string
)

// binary builds xray-capture once for the package's tests, in a directory
// any user can read (the sandbox test runs it as an unprivileged user).
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "xray-capture-deploy"); binErr != nil {
			return
		}
		if binErr = os.Chmod(binDir, 0o755); binErr != nil {
			return
		}
		binPath, binErr = testutil.BuildBinary(binDir, "../cmd/xray-capture", "xray-capture")
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
