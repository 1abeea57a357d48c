package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildBinary builds the xray-capture command (pkg, relative to the test's
// directory) into dir and returns its path. cgo is off unless tags ask for
// libpcap, as in a shipped build.
func BuildBinary(dir, pkg, name string, tags ...string) (string, error) {
	out := filepath.Join(dir, name)
	args := []string{"build", "-o", out}
	cgo := "CGO_ENABLED=0"
	if len(tags) > 0 {
		args = append(args, "-tags", fmt.Sprint(tags[0]))
		cgo = "CGO_ENABLED=1"
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), cgo)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}
