package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestBinaryLinksNoClientset: the agent reaches the API server through a
// REST client of core/v1 (kube.NewPodListWatch), not client-go's
// clientset. The clientset's package initialisers (every API group's
// scheme, the apply configurations' structured-merge-diff schemas,
// discovery's gnostic/openapi models) ran at every start, an offline
// replay's included: some 10 ms of CPU and a GC cycle per run, and half of
// the binary (docs/benchmarks.md, issue 21). Tests may use the fake
// clientset (kube/kubetest); the binary must not.
func TestBinaryLinksNoClientset(t *testing.T) {
	gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(gotool); err != nil {
		if gotool, err = exec.LookPath("go"); err != nil {
			t.Fatalf("no go tool to list the binary's packages: %v", err)
		}
	}
	out, err := exec.Command(gotool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	unwanted := regexp.MustCompile(`^(k8s\.io/client-go/kubernetes|k8s\.io/client-go/informers|sigs\.k8s\.io/structured-merge-diff/v6/typed|github\.com/google/gnostic)`)
	var found []string
	pkgs := strings.Fields(string(out))
	for _, p := range pkgs {
		if unwanted.MatchString(p) {
			found = append(found, p)
		}
	}
	if len(found) > 0 {
		t.Errorf("xray-capture links %d packages of client-go's clientset or what it brings (%s ...): their initialisers cost every run, "+
			"an offline replay's included, ~10 ms of start-up and a GC cycle, and the binary ~50 MB (docs/benchmarks.md); "+
			"reach the API server through kube.NewPodListWatch's REST client instead", len(found), strings.Join(found[:min(len(found), 5)], " "))
	}
	// The list must be the binary's: a guard that sees nothing proves nothing.
	for _, want := range []string{"github.com/xray-capture/xray-capture/kube", "k8s.io/client-go/tools/cache"} {
		if !slices.Contains(pkgs, want) {
			t.Errorf("go list -deps lacks %s: is it listing the agent's packages?", want)
		}
	}
}
