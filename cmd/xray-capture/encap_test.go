package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

// TestEncapsulatedMatchesPlain: the requests of encap-plain.pcap, captured
// on the vxlan device itself, give the same segments when replayed from
// the underlay (encap-vxlan.pcap, the kernel's VXLAN) or wrapped in the
// other tunnels. Only the times may differ, by the microseconds between
// the two capture points, and with them the time part of the trace id.
func TestEncapsulatedMatchesPlain(t *testing.T) {
	daemon := testutil.StartFakeDaemon(t)
	parse := func(capture string) []map[string]any {
		out, _ := replayGolden(t, daemon, capture, []string{"--port", "8080"}, nil)
		var docs []map[string]any
		for line := range strings.Lines(out) {
			var d map[string]any
			if err := json.Unmarshal([]byte(line), &d); err != nil {
				t.Fatalf("%s: %v", capture, err)
			}
			docs = append(docs, d)
		}
		return docs
	}
	plain := parse("encap-plain.pcap")
	if len(plain) != 6 {
		t.Fatalf("encap-plain.pcap: %d segments, want the 6 requests of test/make-encap-captures.sh", len(plain))
	}
	for _, kind := range []string{"vxlan", "geneve", "gretap", "erspan1", "erspan2", "erspan3"} {
		got := parse("encap-" + kind + ".pcap")
		if len(got) != len(plain) {
			t.Errorf("%s: %d segments, plain %d", kind, len(got), len(plain))
			continue
		}
		for i := range got {
			for _, k := range []string{"start_time", "end_time"} {
				a, b := got[i][k].(float64), plain[i][k].(float64)
				if math.Abs(a-b) > 0.005 {
					t.Errorf("%s segment %d: %s %f, plain %f", kind, i, k, a, b)
				}
				got[i][k] = b
			}
			// 1-<8 hex seconds>-<24 hex>: the seconds come from the start.
			if g, p := got[i]["trace_id"].(string), plain[i]["trace_id"].(string); len(g) == 35 && len(p) == 35 && g[11:] == p[11:] {
				got[i]["trace_id"] = p
			}
		}
		if diff := cmp.Diff(plain, got); diff != "" {
			t.Errorf("%s differs from the plain capture (-plain +%s):\n%s", kind, kind, diff)
		}
	}
}
