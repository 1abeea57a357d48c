package xray

import "testing"

func TestParseTraceParent(t *testing.T) {
	const tid, pid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	tests := []struct {
		name, h     string
		ok, sampled bool
	}{
		{"v00 sampled", "00-" + tid + "-" + pid + "-01", true, true},
		{"v00 not sampled", "00-" + tid + "-" + pid + "-00", true, false},
		{"v00 other flags, sampled bit set", "00-" + tid + "-" + pid + "-03", true, true},
		{"v00 other flags, sampled bit clear", "00-" + tid + "-" + pid + "-02", true, false},
		{"v00 trailing data", "00-" + tid + "-" + pid + "-01-extra", false, false},
		{"v00 one byte more", "00-" + tid + "-" + pid + "-010", false, false},
		{"future version", "cc-" + tid + "-" + pid + "-01", true, true},
		{"future version with more fields", "cc-" + tid + "-" + pid + "-01-what-the-future-holds", true, true},
		{"future version, no dash after flags", "cc-" + tid + "-" + pid + "-01x", false, false},
		{"version ff", "ff-" + tid + "-" + pid + "-01", false, false},
		{"uppercase version", "0A-" + tid + "-" + pid + "-01", false, false},
		{"uppercase trace id", "00-4BF92F3577B34DA6A3CE929D0E0E4736-" + pid + "-01", false, false},
		{"zero trace id", "00-00000000000000000000000000000000-" + pid + "-01", false, false},
		{"zero parent id", "00-" + tid + "-0000000000000000-01", false, false},
		{"short", "00-" + tid + "-" + pid[:15] + "-01", false, false},
		{"not hex", "00-" + tid[:31] + "g-" + pid + "-01", false, false},
		{"bad flags", "00-" + tid + "-" + pid + "-0g", false, false},
		{"wrong separators", "00_" + tid + "_" + pid + "_01", false, false},
		{"empty", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, ok := ParseTraceParent([]byte(tt.h))
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if string(tp.TraceID) != tid || string(tp.ParentID) != pid || tp.Sampled != tt.sampled {
				t.Errorf("got %s %s sampled=%v, want %s %s sampled=%v", tp.TraceID, tp.ParentID, tp.Sampled, tid, pid, tt.sampled)
			}
		})
	}
}

func TestTraceContextResolve(t *testing.T) {
	const (
		xRoot   = "1-5759e988-bd862e3fe1be46a994272793"
		xParent = "53995c3f42cd8ad8"
		tp01    = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		tp00    = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
		tpRoot  = "1-4bf92f35-77b34da6a3ce929d0e0e4736"
		tpPar   = "00f067aa0ba902b7"
	)
	tests := []struct {
		name      string
		xa        string // "" for absent
		tp        string
		hasTP     bool
		root, par string
		sampled   int8
		fromTP    bool
	}{
		{"neither", "", "", false, "", "", -1, false},
		{"x-amzn alone", "Root=" + xRoot + ";Parent=" + xParent + ";Sampled=1", "", false, xRoot, xParent, 1, false},
		{"x-amzn alone, not sampled", "Root=" + xRoot + ";Sampled=0", "", false, xRoot, "", 0, false},
		{"traceparent alone, sampled", "", tp01, true, tpRoot, tpPar, 1, true},
		{"traceparent alone, not sampled", "", tp00, true, tpRoot, tpPar, 0, true},
		{"traceparent future version", "", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", true, tpRoot, tpPar, 1, true},
		{"traceparent malformed", "", "00-xyz", true, "", "", -1, false},
		{"both: x-amzn wins", "Root=" + xRoot + ";Parent=" + xParent + ";Sampled=1", tp00, true, xRoot, xParent, 1, false},
		{"both: x-amzn root, no Sampled: traceparent's flag decides", "Root=" + xRoot, tp00, true, xRoot, "", 0, false},
		{"both: x-amzn malformed root: traceparent wins", "Root=1-bad;Sampled=1", tp00, true, tpRoot, tpPar, 1, true},
		{"both: traceparent malformed", "Root=" + xRoot, "00-xyz", true, xRoot, "", -1, false},
		{"x-amzn malformed root keeps its parent", "Root=1-bad;Parent=" + xParent, "", false, "", xParent, -1, false},
		{"x-amzn Sampled=0 without root, traceparent sampled", "Sampled=0", tp01, true, tpRoot, tpPar, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			xa := TraceHeader{Sampled: -1}
			if tt.xa != "" {
				xa = ParseTraceHeader([]byte(tt.xa))
			}
			var tc TraceContext
			tc.Resolve(xa, []byte(tt.tp), tt.hasTP)
			if string(tc.Root) != tt.root || string(tc.Parent) != tt.par || tc.Sampled != tt.sampled || tc.FromTraceParent != tt.fromTP {
				t.Errorf("got root %q parent %q sampled %d fromTP %v; want %q %q %d %v",
					tc.Root, tc.Parent, tc.Sampled, tc.FromTraceParent, tt.root, tt.par, tt.sampled, tt.fromTP)
			}
		})
	}
}

func TestTraceContextResolveDoesNotAlloc(t *testing.T) {
	h := []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	xa := ParseTraceHeader([]byte("Sampled=?"))
	var tc TraceContext
	if n := testing.AllocsPerRun(100, func() { tc.Resolve(xa, h, true) }); n != 0 {
		t.Errorf("%v allocations per Resolve, want 0", n)
	}
}
