package main

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEUsage keeps the README's usage block the real --help output.
func TestREADMEUsage(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	const begin, end = "<!-- usage begin -->\n```\n", "```\n<!-- usage end -->"
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatal("README.md has no usage block between the markers")
	}
	help, _, err := runCLI(t, nil, "--help")
	if err != nil {
		t.Fatal(err)
	}
	if got := readme[i+len(begin) : j]; got != help {
		t.Errorf("README usage block differs from --help; paste this between the markers:\n%s", help)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	out, _, err := runCLI(t, nil, "version")
	if err != nil || out != "xray-capture "+version+"\n" {
		t.Errorf("version: %q %v", out, err)
	}
	out, _, err = runCLI(t, nil, "completion", "bash")
	if err != nil || !strings.Contains(out, "__start_xray-capture") {
		t.Errorf("bash completion: %v\n%.200s", err, out)
	}
}
