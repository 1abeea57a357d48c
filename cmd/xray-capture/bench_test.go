package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

// replayFile writes a capture of conns × perConn keep-alive exchanges.
func replayFile(t testing.TB, conns, perConn int) string {
	path := filepath.Join(t.TempDir(), fmt.Sprintf("replay-%d.pcap", conns*perConn))
	testutil.WriteKeepAlive(t, path, conns, perConn, time.Unix(1700000000, 0), 10*time.Second, func(c, i int) testutil.Exchange {
		return testutil.Exchange{
			Request: fmt.Sprintf("GET /api/items/%d HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n\r\n", i),
			Response: "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n" +
				"{\"ok\":true}\r\n",
		}
	})
	return path
}

// TestReplayAllocationsDoNotGrowWithTraffic: a whole replay allocates to
// set up, and then nothing per packet or transaction. Ten times the
// transactions on the same connections cost no more allocations.
func TestReplayAllocationsDoNotGrowWithTraffic(t *testing.T) {
	small, large := replayFile(t, 50, 40), replayFile(t, 50, 400)
	allocs := func(path string) float64 {
		return testing.AllocsPerRun(3, func() {
			if _, stderr, err := runCLI(t, nil, "--read", path, "--port", "80", "--service-name", "bench",
				"--daemon-address", "off", "--output", "/dev/null"); err != nil {
				t.Fatalf("%v: %s", err, stderr)
			}
		})
	}
	a, b := allocs(small), allocs(large)
	t.Logf("allocations per replay: %.0f for 2,000 transactions, %.0f for 20,000", a, b)
	if b-a > 18000*0.001 {
		t.Errorf("18,000 more transactions cost %.0f more allocations", b-a)
	}
}

// BenchmarkReplay runs the whole replay, as the command line does, on a
// capture of 20,000 keep-alive exchanges over 50 connections: file
// reading, decoding, reassembly, parsing, pairing and the JSON lines of
// --output. The daemon is off, so that the kernel's cost per datagram
// (emitter.BenchmarkUDPEmit) is not counted twice.
func BenchmarkReplay(b *testing.B) {
	const conns, perConn = 50, 400
	path := replayFile(b, conns, perConn)
	b.ReportAllocs()
	for b.Loop() {
		_, stderr, err := runCLI(b, nil, "--read", path, "--port", "80", "--service-name", "bench",
			"--daemon-address", "off", "--output", "/dev/null")
		if err != nil || !strings.Contains(stderr, fmt.Sprintf(" segments=%d ", conns*perConn)) {
			b.Fatalf("%v: %s", err, stderr)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(conns*perConn), "ns/transaction")
}
