package pipeline

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/xray-capture/xray-capture/segmenter"
)

// TestReplay runs a capture through New and Run, as the command does for
// --read keepalive.pcap --port 8080 --service-name golden --id-seed 1
// --output -: the segments are the command's golden ones, and the Box
// holds the final counters.
func TestReplay(t *testing.T) {
	const captures = "../../testdata/captures/"
	want, err := os.ReadFile(captures + "keepalive.golden.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	box := &Box{}
	p, err := New(context.Background(), Options{
		Read:            captures + "keepalive.pcap",
		Ports:           []uint16{8080},
		ServiceName:     "golden",
		ResponseTimeout: segmenter.DefaultResponseTimeout,
		IdleTimeout:     segmenter.DefaultIdleTimeout,
		MaxConnections:  segmenter.DefaultMaxConnections,
		MaxPending:      segmenter.DefaultMaxPending,
		ReassemblyMB:    64,
		HeaderBufferMB:  64,
		SDKVersion:      "0.1.0-dev",
		IDSeed:          1,
		Sampling:        true,
		Output:          "-",
		Stdout:          &out,
		Stats:           box,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), out.String()); diff != "" {
		t.Errorf("segments differ from keepalive's golden (-want +got):\n%s", diff)
	}
	s := box.Get()
	if s.Stats.Segments != 10 || s.OutWritten != 10 || s.Daemon || s.Live || !s.Ready {
		t.Errorf("final counters: segments %d, written %d, daemon %t, live %t, ready %t",
			s.Stats.Segments, s.OutWritten, s.Daemon, s.Live, s.Ready)
	}
}
