package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden")

const captures = "../../testdata/captures"

// goldenCases replays each capture made by test/make-captures.sh through
// the real command. The golden name is the capture's, plus a suffix when
// flags or environment change the output.
var goldenCases = []struct {
	golden, capture string
	args            []string
	env             map[string]string
}{
	{golden: "keepalive", capture: "keepalive.pcap", args: []string{"--port", "8080"}},
	{golden: "midstream", capture: "midstream.pcap", args: []string{"--port", "8080"}},
	{golden: "pipelined", capture: "pipelined.pcap", args: []string{"--port", "80"}},
	{golden: "nginx-statuses", capture: "nginx-statuses.pcap", args: []string{"--port", "80"}},
	{golden: "chunked", capture: "chunked.pcap", args: []string{"--port", "8080"}},
	{golden: "continue", capture: "continue.pcap", args: []string{"--port", "8080"}},
	{golden: "close-delimited", capture: "close-delimited.pcap", args: []string{"--port", "8080"}},
	{golden: "xff", capture: "xff.pcap", args: []string{"--port", "8080"}},
	{golden: "traceheader", capture: "traceheader.pcap", args: []string{"--port", "8080"}},
	{golden: "dynamic", capture: "dynamic.pcap", args: []string{"--port", "8080", "--dynamic-naming", "*.example.com*"}},
	{golden: "dynamic-env", capture: "dynamic.pcap", args: []string{"--port", "8080", "--dynamic-naming", "*.example.com"},
		env: map[string]string{"AWS_XRAY_TRACING_NAME": "from-env"}},
	{golden: "ipv6", capture: "ipv6.pcap", args: []string{"--port", "8080"}},
	{golden: "reset", capture: "reset.pcap", args: []string{"--port", "8080"}},
	{golden: "two-ports", capture: "keepalive.pcap", args: []string{"--port", "80,8080", "--port", "9000"}},
	// One agent, several services: by port, by address, and under dynamic
	// naming, whose unmatched Hosts take their service's name.
	{golden: "services-ports", capture: "services.pcap", args: []string{"--service", "8080=shop", "--service", "80=static"}},
	{golden: "services-addresses", capture: "services.pcap", args: []string{"--port", "80,8080", "--service", "192.0.2.3=cart",
		"--service", "2001:db8::/64=v6", "--service", "192.0.2.1:80=static"}},
	// Mirrored traffic (test/make-encap-captures.sh): the same requests
	// captured plain and inside each tunnel; TestEncapsulatedMatchesPlain
	// checks that the segments agree. Naming by the inner server's network:
	// the tunnel's own addresses (198.51.100.0/24) never stand for it.
	{golden: "encap-plain", capture: "encap-plain.pcap", args: []string{"--port", "8080"}},
	{golden: "encap-vxlan", capture: "encap-vxlan.pcap", args: []string{"--port", "8080"}},
	{golden: "encap-geneve", capture: "encap-geneve.pcap", args: []string{"--port", "8080"}},
	{golden: "encap-gretap", capture: "encap-gretap.pcap", args: []string{"--port", "8080"}},
	{golden: "encap-erspan1", capture: "encap-erspan1.pcap", args: []string{"--port", "8080"}},
	{golden: "encap-erspan2", capture: "encap-erspan2.pcap", args: []string{"--port", "8080"}},
	{golden: "encap-erspan3", capture: "encap-erspan3.pcap", args: []string{"--port", "8080"}},
	{golden: "encap-vxlan-services", capture: "encap-vxlan.pcap", args: []string{"--port", "8080",
		"--service", "192.0.2.0/24=shop", "--service", "198.51.100.0/24=tunnel"}},
	{golden: "services-dynamic", capture: "services.pcap", args: []string{"--port", "80", "--service", "8080=shop", "--dynamic-naming", "*.example.com"},
		env: map[string]string{"AWS_XRAY_TRACING_NAME": "from-env"}},
}

func replayGolden(t *testing.T, daemon *testutil.FakeDaemon, capture string, args []string, env map[string]string) (string, string) {
	t.Helper()
	all := append([]string{"--read", filepath.Join(captures, capture), "--service-name", "golden",
		"--output", "-", "--id-seed", "1", "--daemon-address", daemon.Addr}, args...)
	stdout, stderr, err := runCLI(t, env, all...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", capture, err, stderr)
	}
	return stdout, stderr
}

func TestGolden(t *testing.T) {
	daemon := testutil.StartFakeDaemon(t)
	sent := 0
	for _, tc := range goldenCases {
		t.Run(tc.golden, func(t *testing.T) {
			got, _ := replayGolden(t, daemon, tc.capture, tc.args, tc.env)
			sent += strings.Count(got, "\n")
			path := filepath.Join(captures, tc.golden+".golden.jsonl")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				os.WriteFile(filepath.Join(captures, tc.golden+".got"), []byte(got), 0o644)
				t.Errorf("%s differs from its golden (-want +got):\n%s", tc.golden, diff)
			}
		})
	}
	// Every segment printed was also sent to the daemon, and accepted.
	docs, bad := daemon.Wait(sent, 2*time.Second)
	if len(bad) > 0 || len(docs) != sent {
		t.Errorf("daemon accepted %d datagrams and rejected %v; %d segments were printed", len(docs), bad, sent)
	}
}
