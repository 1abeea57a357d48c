package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goModVersion is the go line of go.mod: the Go the build needs.
func goModVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+\.\d+)$`).FindStringSubmatch(read(t, "../go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go line with a patch version")
	}
	return m[1]
}

// Every place that names the Go version names go.mod's.
func TestGoVersion(t *testing.T) {
	want := goModVersion(t)
	readme := read(t, "../README.md")
	if !strings.Contains(readme, "Go "+want+",") || !strings.Contains(readme, "go"+want+".linux-amd64.tar.gz") {
		t.Errorf("README.md does not say Go %s and where to get it", want)
	}
	for _, m := range regexp.MustCompile(`\b[Gg]o ?(1\.\d+(?:\.\d+)?)\b`).FindAllStringSubmatch(readme, -1) {
		// Versions before 1.21 are named to explain an error.
		if minor := strings.Split(m[1], ".")[1]; len(minor) == 2 && minor >= "22" && m[1] != want {
			t.Errorf("README.md names %q, go.mod %s", m[0], want)
		}
	}
	if m := regexp.MustCompile(`(?m)^FROM golang:(\S+) `).FindStringSubmatch(read(t, "../Dockerfile")); m == nil || m[1] != want {
		t.Errorf("Dockerfile builds with golang:%v, go.mod names %s", m, want)
	}
	if m := regexp.MustCompile(`GO_VERSION=(\S+)`).FindStringSubmatch(read(t, "../Vagrantfile")); m == nil || m[1] != want {
		t.Errorf("Vagrantfile installs Go %v, go.mod names %s", m, want)
	}
}

// The README's test command is what CI and make test run.
func TestTestCommand(t *testing.T) {
	readme := read(t, "../README.md")
	m := regexp.MustCompile("(?s)<!-- ci begin -->\n```sh\n([^\n]+)\n```\n<!-- ci end -->").FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no test command between <!-- ci begin --> and <!-- ci end -->")
	}
	cmd := m[1]
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(cmd) + `$`).MatchString(read(t, "../.ci/run")) {
		t.Errorf(".ci/run does not run the README's test command %q", cmd)
	}
	if got := makeRecipe(t, "test"); len(got) != 1 || got[0] != cmd {
		t.Errorf("make test runs %q, the README %q", got, cmd)
	}
}

// makeRecipe is the recipe of a Makefile target, one command a line.
func makeRecipe(t *testing.T, target string) []string {
	t.Helper()
	mk := read(t, "../Makefile")
	i := regexp.MustCompile(`(?m)^` + target + `:.*$`).FindStringIndex(mk)
	if i == nil {
		t.Fatalf("the Makefile has no %s target", target)
	}
	var lines []string
	for _, l := range strings.Split(mk[i[1]+1:], "\n") {
		if !strings.HasPrefix(l, "\t") {
			break
		}
		lines = append(lines, strings.TrimPrefix(l, "\t"))
	}
	return lines
}

// The image reports the version it was built as: the Dockerfile's build
// command, run here with a VERSION, stamps the binary, and make image
// passes VERSION.
func TestDockerfileVersion(t *testing.T) {
	df := read(t, "../Dockerfile")
	if !regexp.MustCompile(`(?m)^ARG VERSION=`).MatchString(df) {
		t.Error("the Dockerfile has no ARG VERSION")
	}
	m := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 go build .*) -o /xray-capture (\./cmd/xray-capture)$`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("the Dockerfile has no RUN ... go build ... -o /xray-capture ./cmd/xray-capture")
	}
	bin := filepath.Join(t.TempDir(), "xray-capture")
	build := exec.Command("sh", "-c", m[1]+" -o "+bin+" "+m[2])
	build.Dir = ".."
	build.Env = append(os.Environ(), "VERSION=9.8.7-test")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build.Args, err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "xray-capture 9.8.7-test" {
		t.Errorf("the image's binary says %q (%v), want xray-capture 9.8.7-test", out, err)
	}
	if got := makeRecipe(t, "image"); len(got) != 1 || !strings.Contains(got[0], "--build-arg VERSION=$(VERSION)") {
		t.Errorf("make image runs %q: want --build-arg VERSION=$(VERSION)", got)
	}
}

// The Vagrantfile's Go checksums are those of the distributions the Go
// checksum database vouches for (go mod download verifies them against
// it), and its install steps give a working Go on this machine's
// architecture. This downloads about 140 MB once (the module cache keeps
// them), so it runs with the full suite only.
func TestVagrantGo(t *testing.T) {
	testutil.Privileged(t)
	vf := read(t, "../Vagrantfile")
	want := goModVersion(t)
	sums := map[string]string{}
	for _, m := range regexp.MustCompile(`GO_ARCH=(\w+) GO_SHA256=([0-9a-f]{64})`).FindAllStringSubmatch(vf, -1) {
		sums[m[1]] = m[2]
	}
	if len(sums) != 2 || sums["amd64"] == "" || sums["arm64"] == "" {
		t.Fatalf("Vagrantfile checksums %v: want amd64 and arm64", sums)
	}
	zips := map[string]string{}
	for arch, sum := range sums {
		mod := "golang.org/toolchain@v0.0.1-go" + want + ".linux-" + arch
		dl := exec.Command("go", "mod", "download", "-json", mod)
		dl.Dir = t.TempDir() // outside this module
		dl.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		out, err := dl.Output()
		var info struct{ Zip, Error string }
		if err != nil || json.Unmarshal(out, &info) != nil || info.Zip == "" {
			t.Fatalf("go mod download %s: %v %s\n%s", mod, err, info.Error, out)
		}
		f, err := os.Open(info.Zip)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
		if got := hex.EncodeToString(h.Sum(nil)); got != sum {
			t.Errorf("%s: sha256 %s, the Vagrantfile has %s", mod, got, sum)
		}
		zips[arch] = info.Zip
	}
	// The install steps, from the download on: into a directory of the
	// test's instead of /usr/local/go, from the module cache instead of
	// the proxy.
	i, j := strings.Index(vf, "    GO_VERSION="), strings.Index(vf, "/usr/local/go/bin/go version")
	if i < 0 || j < i {
		t.Fatal("the Vagrantfile's Go install steps are not between GO_VERSION= and go version")
	}
	root := filepath.Join(t.TempDir(), "go")
	steps := vf[i:j] + "/usr/local/go/bin/go version\n"
	steps = regexp.MustCompile(`curl -fsSL "[^"]+" -o /tmp/go.zip`).ReplaceAllLiteralString(steps, `cp "$ZIP" /tmp/go.zip`)
	steps = strings.NewReplacer("/usr/local/go", root, "/tmp/go", root+"-dl").Replace(steps)
	sh := exec.Command("bash", "-euxc", steps)
	sh.Env = append(os.Environ(), "ZIP="+zips[runtime.GOARCH])
	out, err := sh.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "go version go"+want+" linux/"+runtime.GOARCH) {
		t.Errorf("the Vagrantfile's Go install steps: %v\n%s", err, out)
	}
}
