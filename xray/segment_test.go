package xray

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestTraceHeaderVectors(t *testing.T) {
	const root = "1-5759e988-bd862e3fe1be46a994272793"
	for _, tc := range []struct {
		in           string
		root, parent string
		sampled      int8
	}{
		{"Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1", root, "53995c3f42cd8ad8", 1},                                                                       // TV-12
		{"Root=" + root + "; Parent=53995c3f42cd8ad8; Sampled=1", root, "53995c3f42cd8ad8", 1},                                                                     // TV-13, as Go
		{"Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1;", root, "53995c3f42cd8ad8", 1},                                                                      // TV-14
		{"root=" + root + ";sampled=1", "", "", -1},                                                                                                                // TV-15: keys are case-sensitive
		{"Sampled=?;Root=0-57ff426a-80c11c39b0c928905eb0828d;Parent=foo;Self=2;Foo=bar", "", "", -1},                                                               // TV-16: invalid ids dropped
		{"Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5;Self=1-67891234-12456789abcdef012345678", root, "53995c3f42cd8ad8", 1}, // TV-17
		{"Root=" + root + ";Sampled=2", root, "", -1},                                                                                                              // TV-18
		{"Root=1-5759e988-bd862e3fe1be46a994272791;Root=" + root, root, "", -1},                                                                                    // last wins
		{"some invalid string", "", "", -1},
		{"Root=1-5759E988-BD862E3FE1BE46A994272793", "", "", -1}, // upper-case ids would not join the trace
	} {
		th := ParseTraceHeader([]byte(tc.in))
		if string(th.Root) != tc.root || string(th.Parent) != tc.parent || th.Sampled != tc.sampled {
			t.Errorf("%q: root %q parent %q sampled %d", tc.in, th.Root, th.Parent, th.Sampled)
		}
	}
}

func TestSegmentJSON(t *testing.T) {
	s := Segment{
		Name: []byte("svc"), ParentID: []byte("53995c3f42cd8ad8"),
		Start: time.Unix(1700000000, 123456789), End: time.Unix(1700000001, 5000),
		Method: []byte("GET"), URL: []byte("http://h/\"q\"\\\x01\xff\xe2\x82\xac"), UserAgent: []byte("UA\t1"), HasUserAgent: true,
		ClientIP: []byte("203.0.113.7"), XForwardedFor: true, HasResponse: true, Status: 429, ContentLength: 0,
		Error: true, Throttle: true, SDKVersion: "1.2.3", Outcome: "closed", CaptureGap: true, Resync: true, Tunnelled: true,
	}
	copy(s.ID[:], "0123456789abcdef")
	copy(s.TraceID[:], "1-5759e988-bd862e3fe1be46a994272793")
	b := s.AppendJSON(nil)
	want := `{"name":"svc","id":"0123456789abcdef","trace_id":"1-5759e988-bd862e3fe1be46a994272793",` +
		`"start_time":1700000000.123456,"end_time":1700000001.000005,"parent_id":"53995c3f42cd8ad8",` +
		`"http":{"request":{"method":"GET","url":"http://h/\"q\"\\\u0001` + "\ufffd€" + `","user_agent":"UA\t1",` +
		`"client_ip":"203.0.113.7","x_forwarded_for":true},"response":{"status":429,"content_length":0}},` +
		`"error":true,"throttle":true,"aws":{"xray":{"sdk":"xray-capture","sdk_version":"1.2.3"}},` +
		`"annotations":{"capture_outcome":"closed","capture_gap":true,"pairing":"ack-resync","connect_tunnel":true}}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	if !json.Valid(b) {
		t.Error("not valid JSON")
	}
}

// An empty User-Agent header is recorded as "" (as the Python SDK does);
// an in-progress segment has in_progress instead of end_time.
func TestSegmentJSONEmptyUserAgentInProgress(t *testing.T) {
	s := Segment{Name: []byte("svc"), Start: time.Unix(1700000000, 0), End: time.Unix(1700000009, 0),
		Method: []byte("GET"), URL: []byte("http://h/"), HasUserAgent: true, ClientIP: []byte("192.0.2.1"),
		InProgress: true, ContentLength: -1, SDKVersion: "v"}
	copy(s.ID[:], "0123456789abcdef")
	copy(s.TraceID[:], "1-5759e988-bd862e3fe1be46a994272793")
	want := `{"name":"svc","id":"0123456789abcdef","trace_id":"1-5759e988-bd862e3fe1be46a994272793",` +
		`"start_time":1700000000.000000,"in_progress":true,` +
		`"http":{"request":{"method":"GET","url":"http://h/","user_agent":"","client_ip":"192.0.2.1"}},` +
		`"aws":{"xray":{"sdk":"xray-capture","sdk_version":"v"}}}`
	if b := s.AppendJSON(nil); string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	s.HasUserAgent = false
	if b := s.AppendJSON(nil); bytes.Contains(b, []byte("user_agent")) {
		t.Errorf("user_agent without the header: %s", b)
	}
}

// BenchmarkAppendJSON encodes a typical segment: the encoder alone.
func BenchmarkAppendJSON(b *testing.B) {
	s := &Segment{Name: []byte("shop"), Method: []byte("GET"), URL: []byte("http://shop.example/api/items"),
		UserAgent: []byte("Mozilla/5.0 (X11; Linux x86_64)"), HasUserAgent: true, ClientIP: []byte("203.0.113.7"), XForwardedFor: true,
		HasResponse: true, Status: 200, ContentLength: 13, SDKVersion: "bench",
		Start: time.Unix(1700000000, 123456000), End: time.Unix(1700000000, 125456000)}
	copy(s.ID[:], "0123456789abcdef")
	copy(s.TraceID[:], "1-6553f100-0123456789abcdef01234567")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = s.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

// TestAppendTimeDigits checks the ten-digit fast path of appendTime
// against plain formatting, at its edges and between.
func TestAppendTimeDigits(t *testing.T) {
	for _, us := range []int64{0, 999_999, 999_999_999_999_999, 1_000_000_000_000_000, 1_000_000_000_000_001,
		1_765_161_234_000_007, 1_765_161_234_567_890, 9_999_999_999_999_999, 10_000_000_000_000_000} {
		got := string(appendTime([]byte("x"), time.UnixMicro(us)))
		want := fmt.Sprintf("x%d.%06d", us/1e6, us%1e6)
		if got != want {
			t.Errorf("appendTime(%d) = %q, want %q", us, got, want)
		}
	}
}

// BenchmarkNewIDs makes a segment id and a trace id, as the segmenter does
// for each segment.
func BenchmarkNewIDs(b *testing.B) {
	random := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0x0f, 0x1e, 0x2d, 0x3c}
	start := time.Unix(1700000000, 123456000)
	var s Segment
	for b.Loop() {
		NewSegmentID(random[:8], &s.ID)
		NewTraceID(random[8:], start, &s.TraceID)
	}
}
