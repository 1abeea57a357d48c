package main

import (
	"testing"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

// These tests read the segments of the golden captures back and check them
// against docs/segments.md field by field, so that a golden cannot quietly
// record a wrong value.

func replayDocs(t *testing.T, capture string, args []string, env map[string]string) []segmentDoc {
	t.Helper()
	out, _ := replayGolden(t, testutil.StartFakeDaemon(t), capture, args, env)
	return parseLines(t, out)
}

func TestPartAStatusesAndFlags(t *testing.T) {
	docs := replayDocs(t, "keepalive.pcap", []string{"--port", "8080"}, nil)
	type want struct {
		method, url, ua      string
		status               int
		cl                   int64
		err, throttle, fault bool
	}
	wants := []want{
		{"GET", "http://192.0.2.1:8080/hello", "curl/keepalive", 200, 6, false, false, false},
		{"GET", "http://192.0.2.1:8080/status/404", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", 404, 11, true, false, false},
		{"GET", "http://192.0.2.1:8080/status/429", "", 429, 11, true, true, false},
		{"GET", "http://192.0.2.1:8080/status/500", "curl/7.88.1", 500, 11, false, false, true},
		{"GET", "http://192.0.2.1:8080/status/503", "curl/7.88.1", 503, 11, false, false, true},
		{"POST", "http://192.0.2.1:8080/echo", "curl/7.88.1", 201, 13, false, false, false},
		{"PUT", "http://192.0.2.1:8080/echo", "curl/7.88.1", 201, 13, false, false, false},
		{"DELETE", "http://192.0.2.1:8080/hello", "curl/7.88.1", 200, 6, false, false, false},
		// HEAD: the Content-Length header counts, though no body follows.
		{"HEAD", "http://192.0.2.1:8080/hello", "curl/7.88.1", 200, 6, false, false, false},
		// The path as on the wire (not decoded), the query dropped.
		{"GET", "http://192.0.2.1:8080/a%20b/%E2%82%AC", "curl/7.88.1", 404, 19, true, false, false},
	}
	if len(docs) != len(wants) {
		t.Fatalf("%d segments, want %d", len(docs), len(wants))
	}
	for i, w := range wants {
		d := docs[i]
		r := d.HTTP.Request
		if r.Method != w.method || r.URL != w.url || r.UserAgent != w.ua || r.ClientIP != "192.0.2.2" || r.XForwardedFor {
			t.Errorf("segment %d request = %+v, want %+v", i, r, w)
		}
		if d.HTTP.Response == nil || d.HTTP.Response.Status != w.status || d.HTTP.Response.ContentLength == nil || *d.HTTP.Response.ContentLength != w.cl {
			t.Errorf("segment %d response = %+v, want status %d length %d", i, d.HTTP.Response, w.status, w.cl)
		}
		if d.Error != w.err || d.Throttle != w.throttle || d.Fault != w.fault {
			t.Errorf("segment %d flags error=%v throttle=%v fault=%v, want %v %v %v", i, d.Error, d.Throttle, d.Fault, w.err, w.throttle, w.fault)
		}
		if d.Name != "golden" || len(d.ID) != 16 || len(d.TraceID) != 35 || d.ParentID != "" || d.Annotations != nil {
			t.Errorf("segment %d: name %q id %q trace %q parent %q annotations %v", i, d.Name, d.ID, d.TraceID, d.ParentID, d.Annotations)
		}
		// Trace ids carry the request's start second; times are packet times.
		if d.EndTime < d.StartTime || d.TraceID[2:10] != sprintfHex(int64(d.StartTime)) {
			t.Errorf("segment %d: start %f end %f trace %s", i, d.StartTime, d.EndTime, d.TraceID)
		}
	}
}

func sprintfHex(sec int64) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = hex[sec&0xf]
		sec >>= 4
	}
	return string(b)
}

func TestPartAClientIP(t *testing.T) {
	docs := replayDocs(t, "xff.pcap", []string{"--port", "8080"}, nil)
	want := []struct {
		ip  string
		xff bool
	}{
		{"203.0.113.7", true}, // one entry
		{"203.0.113.8", true}, // several entries: the first, trimmed
		{"203.0.113.9", true}, // two header lines: the first line
		{"192.0.2.2", false},  // "," gives no address: the peer, unflagged
		{"192.0.2.2", false},  // no header: the peer
	}
	if len(docs) != len(want) {
		t.Fatalf("%d segments, want %d", len(docs), len(want))
	}
	for i, w := range want {
		if r := docs[i].HTTP.Request; r.ClientIP != w.ip || r.XForwardedFor != w.xff {
			t.Errorf("request %d: client_ip %q x_forwarded_for %v, want %q %v", i, r.ClientIP, r.XForwardedFor, w.ip, w.xff)
		}
	}
	v6 := replayDocs(t, "ipv6.pcap", []string{"--port", "8080"}, nil)
	if len(v6) != 2 || v6[0].HTTP.Request.ClientIP != "2001:db8::2" || v6[0].HTTP.Request.URL != "http://[2001:db8::1]:8080/hello" {
		t.Errorf("IPv6 segments: %+v", v6)
	}
}

func TestPartATraceHeader(t *testing.T) {
	docs := replayDocs(t, "traceheader.pcap", []string{"--port", "8080"}, nil)
	want := []struct{ trace, parent string }{
		{"1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8"}, // Sampled=1
		// Sampled=0: never sent.
		{"1-5759e988-bd862e3fe1be46a994272795", ""},                 // Root only
		{"1-5759e988-bd862e3fe1be46a994272796", "53995c3f42cd8ada"}, // spaces and a trailing ';', as Go
		{"", "53995c3f42cd8adb"},                                    // malformed Root: a new trace
		{"", ""},                                                    // no header
	}
	if len(docs) != len(want) {
		t.Fatalf("%d segments, want %d (Sampled=0 must not be sent)", len(docs), len(want))
	}
	for i, w := range want {
		d := docs[i]
		if w.trace != "" && d.TraceID != w.trace || w.trace == "" && d.TraceID[2:10] != sprintfHex(int64(d.StartTime)) || d.ParentID != w.parent {
			t.Errorf("segment %d: trace %s parent %q, want %q %q", i, d.TraceID, d.ParentID, w.trace, w.parent)
		}
	}
}

func TestPartADynamicNaming(t *testing.T) {
	hosts := []string{"api.example.com", "API.example.com:80", "www.example.com:8080", "evil.attacker.net",
		"api.example.com.attacker.net", "(no Host)"}
	for _, tc := range []struct {
		pattern string
		env     map[string]string
		want    []string
	}{
		{"*.example.com*", nil, []string{"api.example.com", "API.example.com", "www.example.com:8080", "golden", "api.example.com.attacker.net", "golden"}},
		{"*.example.com", nil, []string{"api.example.com", "API.example.com", "golden", "golden", "golden", "golden"}},
		// The env var replaces the default name, never a matched host.
		{"*.example.com", map[string]string{"AWS_XRAY_TRACING_NAME": "from-env"},
			[]string{"api.example.com", "API.example.com", "from-env", "from-env", "from-env", "from-env"}},
	} {
		docs := replayDocs(t, "dynamic.pcap", []string{"--port", "8080", "--dynamic-naming", tc.pattern}, tc.env)
		if len(docs) != len(tc.want) {
			t.Fatalf("%s: %d segments", tc.pattern, len(docs))
		}
		for i, w := range tc.want {
			if docs[i].Name != w {
				t.Errorf("pattern %q env %v host %s: name %q, want %q", tc.pattern, tc.env, hosts[i], docs[i].Name, w)
			}
		}
	}
	docs := replayDocs(t, "dynamic.pcap", []string{"--port", "8080"}, nil)
	if u := docs[5].HTTP.Request.URL; u != "http://192.0.2.1:8080/hello" {
		t.Errorf("no Host header: url %q, want the server's address", u)
	}
}

func TestPartABodiesAndOutcomes(t *testing.T) {
	length := func(d segmentDoc) int64 {
		if d.HTTP.Response == nil || d.HTTP.Response.ContentLength == nil {
			return -1
		}
		return *d.HTTP.Response.ContentLength
	}
	ch := replayDocs(t, "chunked.pcap", []string{"--port", "8080"}, nil)
	if len(ch) != 2 || ch[0].HTTP.Request.Method != "POST" || length(ch[0]) != 16 || length(ch[1]) != 75 {
		t.Errorf("chunked: a chunked request and a chunked response (75 body bytes): %+v", ch)
	}
	co := replayDocs(t, "continue.pcap", []string{"--port", "8080"}, nil)
	if len(co) != 1 || co[0].HTTP.Response.Status != 201 {
		t.Errorf("100-continue: the final status must be paired, not the 100: %+v", co)
	}
	cd := replayDocs(t, "close-delimited.pcap", []string{"--port", "8080"}, nil)
	if len(cd) != 1 || length(cd[0]) != 34 {
		t.Errorf("close-delimited body: %+v", cd)
	}
	ng := replayDocs(t, "nginx-statuses.pcap", []string{"--port", "80"}, nil)
	if len(ng) != 5 || ng[2].HTTP.Response.Status != 204 || length(ng[2]) != -1 || ng[4].HTTP.Response.Status != 304 || length(ng[4]) != -1 || !ng[3].Throttle {
		t.Errorf("nginx: 204 and 304 without content_length, 429 throttled: %+v", ng)
	}
	pl := replayDocs(t, "pipelined.pcap", []string{"--port", "80"}, nil)
	wantPaths := []string{"/static.txt", "/static.txt", "/missing", "/empty", "/static.txt"}
	wantStatus := []int{200, 200, 404, 204, 304}
	for i := range wantPaths {
		if i >= len(pl) || pl[i].HTTP.Request.URL != "http://pipe.test"+wantPaths[i] || pl[i].HTTP.Response.Status != wantStatus[i] {
			t.Fatalf("pipelined: segment %d = %+v", i, pl)
		}
	}
	rs := replayDocs(t, "reset.pcap", []string{"--port", "8080"}, nil)
	if len(rs) != 1 || rs[0].HTTP.Response != nil || !rs[0].Fault || rs[0].Annotations["capture_outcome"] != "reset" {
		t.Errorf("reset before the response: %+v", rs)
	}
	ms := replayDocs(t, "midstream.pcap", []string{"--port", "8080"}, nil)
	// Picked up mid-stream, pairing starts at an ACK anchor: the answer to
	// the unseen first request is dropped, and so is the first request seen
	// (no request before it shows it was not pipelined); the second is the
	// anchor, confirmed by the third, and labelled.
	if len(ms) != 8 || ms[0].HTTP.Request.URL != "http://192.0.2.1:8080/status/429" || ms[0].HTTP.Response.Status != 429 ||
		ms[0].Annotations["pairing"] != "ack-resync" || ms[1].Annotations["pairing"] != nil {
		t.Errorf("midstream: %+v", ms)
	}
}
