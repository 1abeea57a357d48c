package httpparse

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// got is the part of a message the tests compare.
type got struct {
	Method, Target, Host, UA, XFF, Trace string
	Status                               int
	CL, Body                             int64
	Chunked, CloseDelim, Gap, Upgrade    bool
	Start                                int64
}

// crlf turns the readable "\n" of a test string into the wire's "\r\n".
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// run feeds chunks (one Feed call each) and collects completed messages and
// the number of Invalid events. close calls Close at the end.
func run(t *testing.T, kind Kind, chunks []string, close bool, head bool) ([]got, int) {
	t.Helper()
	p := New(kind, DefaultLimits)
	var out []got
	invalid := 0
	var cur got
	handle := func(ev Event) {
		if ev&Invalid != 0 {
			invalid++
		}
		if ev&Headers != 0 {
			m := p.Message()
			cur = got{Method: string(m.Method), Target: string(m.Target), Host: string(m.Host),
				UA: string(m.UserAgent), XFF: string(m.XForwardedFor), Trace: string(m.TraceHeader),
				Status: m.Status, CL: m.ContentLength, Chunked: m.Chunked, CloseDelim: m.CloseDelim,
				Start: m.StartOffset}
		}
		if ev&Done != 0 {
			m := p.Message()
			cur.Body, cur.Gap, cur.Upgrade = m.BodyBytes, m.Gap, ev&Upgrade != 0
			out = append(out, cur)
			if kind == Response {
				p.ExpectResponseTo(Expect{Head: head})
			}
		}
	}
	if kind == Response {
		p.ExpectResponseTo(Expect{Head: head})
	}
	for i, c := range chunks {
		b := []byte(c)
		ts := time.Unix(int64(i), 0)
		for {
			n, ev := p.Feed(b, ts)
			b = b[n:]
			handle(ev)
			if ev == 0 {
				if len(b) != 0 {
					t.Fatalf("Feed returned 0 with %d bytes left", len(b))
				}
				break
			}
		}
	}
	if close {
		handle(p.Close())
	}
	return out, invalid
}

func bytewise(s string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i : i+1]
	}
	return out
}

var parseTests = []struct {
	name        string
	kind        Kind
	raw         string
	close, head bool
	want        []got
	wantInvalid int
}{
	{name: "get", kind: Request, raw: crlf("GET /a?b=1 HTTP/1.1\nHost: h.example\nUser-Agent: curl/8\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\nX-Forwarded-For: 9.9.9.9\n\n"),
		want: []got{{Method: "GET", Target: "/a?b=1", Host: "h.example", UA: "curl/8", XFF: "1.2.3.4, 5.6.7.8", CL: -1}}},
	{name: "pipelined with bodies", kind: Request,
		raw:  crlf("POST /p HTTP/1.1\nContent-Length: 5\n\nhelloGET /g HTTP/1.1\n\n"),
		want: []got{{Method: "POST", Target: "/p", CL: 5, Body: 5}, {Method: "GET", Target: "/g", CL: -1, Start: 44}}},
	{name: "chunked request with trailer", kind: Request,
		raw:  crlf("PUT /c HTTP/1.1\nTransfer-Encoding: chunked\n\n5;ext=1\nhello\n0\nX-T: 1\n\n"),
		want: []got{{Method: "PUT", Target: "/c", CL: -1, Chunked: true, Body: 5}}},
	{name: "te overrides cl", kind: Request,
		raw:  crlf("POST / HTTP/1.1\nContent-Length: 100\nTransfer-Encoding: chunked\n\n1\nx\n0\n\n"),
		want: []got{{Method: "POST", Target: "/", CL: -1, Chunked: true, Body: 1}}},
	{name: "identical content-length list", kind: Request,
		raw:  crlf("POST / HTTP/1.1\nContent-Length: 3, 3\nContent-Length: 003\n\nabc"),
		want: []got{{Method: "POST", Target: "/", CL: 3, Body: 3}}},
	{name: "conflicting content-length", kind: Request,
		raw: crlf("POST / HTTP/1.1\nContent-Length: 3\nContent-Length: 4\n\nabcdGET /next HTTP/1.1\n\n"),
		// The smuggled GET sits on its own line only if the body was read;
		// here it is glued to the body, so nothing is trusted after the error.
		want: nil, wantInvalid: 1},
	{name: "te not chunked in request", kind: Request,
		raw:  crlf("POST / HTTP/1.1\nTransfer-Encoding: gzip\n\nxx\nGET /after HTTP/1.1\n\n"),
		want: []got{{Method: "GET", Target: "/after", CL: -1, Start: 48}}, wantInvalid: 1},
	{name: "garbage then resync", kind: Request,
		raw:  "\x16\x03\x01\x02\x00garbage\r\nmore junk\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n",
		want: []got{{Method: "GET", Target: "/ok", Host: "a", CL: -1, Start: 25}}, wantInvalid: 1},
	{name: "http/0.9 request", kind: Request, raw: "GET /zeek.html\nPOST /x HTTP/1.1\nContent-Length: 0\n\n",
		want: []got{{Method: "GET", Target: "/zeek.html", CL: -1}, {Method: "POST", Target: "/x", CL: 0, Start: 15}}},
	{name: "http/0.9 shape with another method", kind: Request, raw: "DELETE /x\r\n",
		want: []got{{Method: "DELETE", Target: "/x", CL: -1}}},
	{name: "space before colon kept unless framing", kind: Request,
		raw:  crlf("GET / HTTP/1.1\nFoo : bar\nHost: x\n\n"),
		want: []got{{Method: "GET", Target: "/", Host: "x", CL: -1}}},
	{name: "space before colon on content-length", kind: Request,
		raw: crlf("POST / HTTP/1.1\nContent-Length : 3\n\nabc"), wantInvalid: 1},
	{name: "connect stops parsing", kind: Request,
		raw:  crlf("CONNECT a:443 HTTP/1.1\nHost: a:443\n\n") + "\x16\x03\x01 tls bytes GET / HTTP/1.1\r\n\r\n",
		want: []got{{Method: "CONNECT", Target: "a:443", Host: "a:443", CL: -1}}},
	{name: "17 hex digits", kind: Request,
		raw: crlf("POST / HTTP/1.1\nTransfer-Encoding: chunked\n\n10000000000000000\n"), wantInvalid: 1},

	{name: "response content-length", kind: Response,
		raw:  crlf("HTTP/1.1 200 OK\nContent-Length: 2\n\nokHTTP/1.1 404 Not Found\nContent-Length: 0\n\n"),
		want: []got{{Status: 200, CL: 2, Body: 2}, {Status: 404, CL: 0, Start: 40}}},
	{name: "100 continue then final", kind: Response,
		raw:  crlf("HTTP/1.1 100 Continue\n\nHTTP/1.1 201 Created\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n"),
		want: []got{{Status: 100, CL: -1}, {Status: 201, CL: -1, Chunked: true, Body: 3, Start: 25}}},
	{name: "head response has no body", kind: Response, head: true,
		raw:  crlf("HTTP/1.1 200 OK\nContent-Length: 1000\n\n"),
		want: []got{{Status: 200, CL: 1000}}},
	{name: "204 and 304 have no body", kind: Response,
		raw:  crlf("HTTP/1.1 204 No Content\n\nHTTP/1.1 304 Not Modified\nContent-Length: 10\n\n"),
		want: []got{{Status: 204, CL: -1}, {Status: 304, CL: 10, Start: 27}}},
	{name: "close delimited", kind: Response, close: true,
		raw:  crlf("HTTP/1.0 200 OK\n\nbody until close"),
		want: []got{{Status: 200, CL: -1, CloseDelim: true, Body: 16}}},
	{name: "truncated at close", kind: Response, close: true,
		raw: crlf("HTTP/1.1 200 OK\nContent-Length: 10\n\nabc"), wantInvalid: 1},
	{name: "101 switching", kind: Response,
		raw:  crlf("HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n") + "\x81\x05hello",
		want: []got{{Status: 101, CL: -1, Upgrade: true}}},
	{name: "lower-case version tolerated", kind: Response,
		raw:  crlf("http/1.1 200 OK\nContent-Length: 0\n\n"),
		want: []got{{Status: 200, CL: 0}}},
	{name: "bare LF line ends", kind: Response,
		raw:  "HTTP/1.1 500 Oops\nContent-Length: 1\n\nx",
		want: []got{{Status: 500, CL: 1, Body: 1}}},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			for _, split := range []struct {
				name   string
				chunks []string
			}{{"whole", []string{tt.raw}}, {"bytewise", bytewise(tt.raw)}} {
				out, inv := run(t, tt.kind, split.chunks, tt.close, tt.head)
				if diff := cmp.Diff(tt.want, out); diff != "" {
					t.Errorf("%s: messages (-want +got):\n%s", split.name, diff)
				}
				if inv != tt.wantInvalid {
					t.Errorf("%s: %d Invalid events, want %d", split.name, inv, tt.wantInvalid)
				}
			}
		})
	}
}

func TestLimits(t *testing.T) {
	long := "GET /" + strings.Repeat("a", DefaultLimits.MaxLineBytes) + " HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n"
	for _, chunks := range [][]string{{long}, bytewise(long)} {
		out, inv := run(t, Request, chunks, false, false)
		if inv != 1 || len(out) != 1 || out[0].Target != "/ok" {
			t.Errorf("long start line: invalid=%d out=%+v", inv, out)
		}
	}
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\n")
	for range DefaultLimits.MaxHeaders + 1 {
		b.WriteString("X: y\r\n")
	}
	b.WriteString("\r\n")
	if _, inv := run(t, Request, []string{b.String()}, false, false); inv != 1 {
		t.Errorf("too many headers: %d Invalid events, want 1", inv)
	}
}

func TestGapInBodyKeepsStep(t *testing.T) {
	p := New(Response, DefaultLimits)
	b := []byte(crlf("HTTP/1.1 200 OK\nContent-Length: 10\n\nab"))
	n, ev := p.Feed(b, time.Time{})
	if ev != Headers || n != len(b)-2 {
		t.Fatalf("Feed = %d, %v", n, ev)
	}
	if _, ev = p.Feed(b[n:], time.Time{}); ev != 0 {
		t.Fatalf("body Feed = %v", ev)
	}
	if inStep, done := p.Gap(5); !inStep || done {
		t.Fatal("a gap inside the body must keep the parser in step")
	}
	if _, ev = p.Feed([]byte("xyz"), time.Time{}); ev != Done {
		t.Fatalf("after gap: %v, want Done", ev)
	}
	if m := p.Message(); !m.Gap || m.BodyBytes != 10 {
		t.Errorf("message after gap: %+v", m)
	}
	if inStep, _ := p.Gap(1); inStep {
		t.Error("a gap between messages must lose step")
	}
	// A gap that takes the last bytes of a body completes the message.
	p = New(Response, DefaultLimits)
	rb := []byte(crlf("HTTP/1.1 200 OK\nContent-Length: 4\n\nab"))
	n, _ = p.Feed(rb, time.Time{})
	p.Feed(rb[n:], time.Time{})
	if inStep, done := p.Gap(2); !inStep || !done || p.Message().BodyBytes != 4 || !p.Message().Gap {
		t.Errorf("gap to the end of the body: inStep %v done %v %+v", inStep, done, p.Message())
	}
}

// TestFeedDoesNotAlloc feeds a keep-alive GET/200 round trip, split the way
// packets split it, and checks that no call allocates once warm.
func TestFeedDoesNotAlloc(t *testing.T) {
	req := New(Request, DefaultLimits)
	resp := New(Response, DefaultLimits)
	reqBytes := []byte(crlf("GET /api/items?id=7 HTTP/1.1\nHost: shop.example\nUser-Agent: Mozilla/5.0\nX-Forwarded-For: 203.0.113.7\nAccept: */*\n\n"))
	respBytes := []byte(crlf("HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: 13\n\n{\"ok\":true}\n\n"))
	respSplit := []byte(crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n"))
	ts := time.Unix(1, 0)
	feedAll := func(p *Parser, b []byte) {
		for len(b) > 0 {
			n, ev := p.Feed(b, ts)
			b = b[n:]
			if ev == 0 {
				break
			}
		}
	}
	round := func() {
		feedAll(req, reqBytes[:20])
		feedAll(req, reqBytes[20:])
		feedAll(resp, respBytes)
		for i := 0; i < len(respSplit); i += 7 {
			feedAll(resp, respSplit[i:min(i+7, len(respSplit))])
		}
	}
	round()
	if allocs := testing.AllocsPerRun(1000, round); allocs != 0 {
		t.Errorf("Feed allocates %.1f times per round trip, want 0", allocs)
	}
}

func BenchmarkParseKeepAlive(b *testing.B) {
	req := New(Request, DefaultLimits)
	resp := New(Response, DefaultLimits)
	reqBytes := []byte(crlf("GET /api/items?id=7 HTTP/1.1\nHost: shop.example\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\nAccept: */*\nAccept-Encoding: gzip\n\n"))
	respBytes := []byte(crlf("HTTP/1.1 200 OK\nServer: nginx\nContent-Type: application/json\nContent-Length: 13\n\n{\"ok\":true}\n\n"))
	b.SetBytes(int64(len(reqBytes) + len(respBytes)))
	b.ReportAllocs()
	ts := time.Unix(1, 0)
	for b.Loop() {
		req.Feed(reqBytes, ts)
		n, _ := resp.Feed(respBytes, ts)
		resp.Feed(respBytes[n:], ts)
	}
}

func TestGapPastContentLengthBody(t *testing.T) {
	// feed gives b to p whole and returns every event it reached.
	feed := func(p *Parser, b []byte) (all Event) {
		for len(b) > 0 {
			n, ev := p.Feed(b, time.Time{})
			all |= ev
			b = b[n:]
			if ev == 0 && n == 0 {
				break
			}
		}
		return all
	}
	for _, tc := range []struct {
		over        int64
		lineStartOK bool
	}{{3, false}, {13, false}, {14, true}, {500, true}} {
		p := New(Response, DefaultLimits)
		if ev := feed(p, []byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123")); ev != Headers {
			t.Fatalf("event %v", ev)
		}
		inStep, done := p.Gap(6 + tc.over)
		m := p.Message()
		if inStep || !done || !m.Gap || m.BodyBytes != 10 || m.Status != 200 || !p.Resyncing() {
			t.Errorf("over %d: inStep %v done %v msg %+v", tc.over, inStep, done, m)
		}
		// Right after a gap shorter than a message, a start line is the
		// damaged message's, not a new one.
		ev := feed(p, []byte("HTTP/1.1 204 No Content\r\n\r\n"))
		if got := ev&Headers != 0; got != tc.lineStartOK {
			t.Errorf("over %d: start line right after the gap taken: %v", tc.over, got)
		}
	}
}
