package conformance

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

// venvPython is where test/setup.sh puts the oracle when the machine's
// python3 lacks it (a virtual environment with requirements.txt).
const venvPython = ".venv/bin/python"

// oraclePython is the interpreter that runs the Flask oracle: the one
// XRAY_CAPTURE_PYTHON names, else test/setup.sh's virtual environment,
// else the machine's python3.
func oraclePython() string {
	if p := os.Getenv("XRAY_CAPTURE_PYTHON"); p != "" {
		return p
	}
	if abs, err := filepath.Abs(venvPython); err == nil {
		if _, err := os.Stat(abs); err == nil {
			return abs
		}
	}
	return "python3"
}

// The oracle is the SDK release the comparison was written against:
// another major.minor of Flask or aws-xray-sdk (Debian's
// python3-aws-xray-sdk is 0.95) would be a different oracle. waitress only
// serves the app, so any version that imports will do.
func TestOraclePython(t *testing.T) {
	// Like the conformance test, this needs what test/setup.sh installs.
	testutil.Privileged(t)
	req, err := os.ReadFile("requirements.txt")
	if err != nil {
		t.Fatal(err)
	}
	pins := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+)==(\S+)$`).FindAllStringSubmatch(string(req), -1) {
		pins[m[1]] = m[2]
	}
	py := oraclePython()
	out, err := exec.Command(py, "-c", `
import sys, importlib.metadata as md
print(md.version("Flask"))
print(md.version("aws-xray-sdk"))
try:
    import waitress
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")  # as flask_app.py does
    import waitress
`).CombinedOutput()
	if err != nil {
		t.Fatalf("%s cannot run the oracle (run test/setup.sh): %v\n%s", py, err, out)
	}
	have := strings.Fields(string(out))
	for i, name := range []string{"Flask", "aws-xray-sdk"} {
		pin, ok := pins[name]
		if !ok {
			t.Fatalf("requirements.txt pins no %s", name)
		}
		if majorMinor(have[i]) != majorMinor(pin) {
			t.Errorf("%s has %s %s, requirements.txt pins %s: the same major.minor is required (run test/setup.sh)", py, name, have[i], pin)
		}
	}
}

func majorMinor(v string) string {
	p := strings.SplitN(v, ".", 3)
	if len(p) < 2 {
		return v
	}
	return p[0] + "." + p[1]
}
