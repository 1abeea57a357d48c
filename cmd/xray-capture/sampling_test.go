package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

// tenThousand writes 10,000 requests over 10 seconds on 20 connections,
// to /a/, /b/ and /c/ in turn.
func tenThousand(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "ten-thousand.pcap")
	testutil.WriteKeepAlive(t, path, 20, 500, time.Unix(1700000000, 0), 10*time.Second, func(c, i int) testutil.Exchange {
		p := string("abc"[(c+i)%3])
		return testutil.Exchange{
			Request:  fmt.Sprintf("GET /%s/%d/%d HTTP/1.1\r\nHost: shop.test\r\n\r\n", p, c, i),
			Response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		}
	})
	return path
}

func countByPrefix(t *testing.T, out string) map[string]int {
	m := map[string]int{}
	for _, d := range parseLines(t, out) {
		u := strings.TrimPrefix(d.HTTP.Request.URL, "http://shop.test/")
		m[u[:1]]++
	}
	return m
}

func TestReplaySampling(t *testing.T) {
	pcap := tenThousand(t)
	daemon := testutil.StartFakeDaemon(t)
	args := []string{"--read", pcap, "--port", "80", "--service-name", "shop", "--output", "-", "--daemon-address", daemon.Addr, "--id-seed", "1"}

	// A replay traces every request unless asked to sample.
	out, _, err := runCLI(t, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(parseLines(t, out)); n != 10000 {
		t.Fatalf("replay without sampling: %d segments, want 10000", n)
	}

	// The default rule: one a second plus 5% of the rest, for several seeds.
	for _, seed := range []string{"1", "2", "3"} {
		out, stderr, err := runCLI(t, nil, append(args, "--sampling=true", "--sampling-seed", seed)...)
		if err != nil {
			t.Fatal(err)
		}
		n := len(parseLines(t, out))
		lo, hi := 10+9990*45/1000, 10+9990*55/1000
		if n < lo || n > hi {
			t.Errorf("seed %s: %d sampled of 10,000, want %d to %d", seed, n, lo, hi)
		}
		if !strings.Contains(stderr, fmt.Sprintf("segments=%d not_sampled=%d ", n, 10000-n)) {
			t.Errorf("summary: %s", stderr)
		}
	}

	// A rules file: /a never, /b two a second, everything else always.
	rules := filepath.Join(t.TempDir(), "rules.json")
	os.WriteFile(rules, []byte(`{"version":2,"default":{"fixed_target":0,"rate":1},"rules":[
		{"description":"a","host":"*","http_method":"GET","url_path":"/a/*","fixed_target":0,"rate":0},
		{"description":"b","host":"shop.*","http_method":"*","url_path":"/b/*","fixed_target":2,"rate":0}]}`), 0o644)
	out, _, err = runCLI(t, nil, append(args, "--sampling-rules", rules, "--sampling-seed", "1")...)
	if err != nil {
		t.Fatal(err)
	}
	got := countByPrefix(t, out)
	if got["a"] != 0 || got["b"] != 20 || got["c"] < 3333 || got["c"] > 3334 {
		t.Errorf("per-rule counts %v, want a=0 b=20 (2 a second for 10 s) c=all", got)
	}

	// A bad rules file is one clear error.
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"version":2,"default":{"fixed_target":1,"rate":0.05},"rules":[{"description":"oops","service_name":"x","host":"*","http_method":"*","url_path":"*","fixed_target":1,"rate":0.1}]}`), 0o644)
	if _, _, err := runCLI(t, nil, append(args, "--sampling-rules", bad)...); err == nil || !strings.Contains(err.Error(), `rule 1 ("oops")`) {
		t.Errorf("bad rules file: %v", err)
	}
}

func TestPluginsFillSegments(t *testing.T) {
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			io.WriteString(w, "tok")
			return
		}
		io.WriteString(w, `{"instanceId":"i-abc","availabilityZone":"eu-west-1b","instanceType":"t3.micro","imageId":"ami-1"}`)
	}))
	defer imds.Close()
	daemon := testutil.StartFakeDaemon(t)
	out, _, err := runCLI(t, nil, "--read", filepath.Join(captures, "reset.pcap"), "--port", "8080", "--service-name", "s",
		"--output", "-", "--daemon-address", daemon.Addr, "--plugins", "ec2", "--ec2-metadata-endpoint", imds.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"origin":"AWS::EC2::Instance","aws":{"ec2":{"ami_id":"ami-1","availability_zone":"eu-west-1b","instance_id":"i-abc","instance_type":"t3.micro"},"xray":{"sdk":"xray-capture"`) {
		t.Errorf("segment: %s", out)
	}
	if _, _, err := runCLI(t, nil, "--read", "x", "--port", "1", "--service-name", "s", "--plugins", "azure"); err == nil {
		t.Error("unknown plugin accepted")
	}
}

func TestReplaySummary(t *testing.T) {
	daemon := testutil.StartFakeDaemon(t)
	out, _, err := runCLI(t, nil, "--read", filepath.Join(captures, "keepalive.pcap"), "--port", "8080",
		"--service-name", "s", "--summary", "--daemon-address", daemon.Addr)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 11 || !strings.HasPrefix(lines[0], "SERVICE") || !strings.Contains(out, "s        GET     /status/500       1         1        0.0     100.0   92µs") {
		t.Errorf("summary table:\n%s", out)
	}
}
