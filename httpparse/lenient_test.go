package httpparse

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// events feeds chunks to a parser and writes each event as a line:
// "H method target version quirks" for a request's header block, "H status
// status_line quirks" for a response's, then "D body" (Done), "I reason"
// (Invalid), "U" (Upgrade). A response parser expects answers to e.
func events(kind Kind, e Expect, chunks []string, close bool) []string {
	p := New(kind, DefaultLimits)
	var out []string
	handle := func(ev Event) {
		m := p.Message()
		if ev&Headers != 0 {
			if kind == Request {
				out = append(out, fmt.Sprintf("H %s %q %d.%d %s", m.Method, m.Target, m.Major, m.Minor, quirkList(m.Quirks)))
			} else {
				out = append(out, fmt.Sprintf("H %d %s %s", m.Status, m.StatusLine, quirkList(m.Quirks)))
			}
		}
		if ev&Done != 0 {
			out = append(out, fmt.Sprintf("D %d", m.BodyBytes))
			p.ExpectResponseTo(e)
		}
		if ev&Invalid != 0 {
			out = append(out, "I "+p.InvalidReason().String())
		}
		if ev&Upgrade != 0 {
			out = append(out, "U")
		}
	}
	p.ExpectResponseTo(e)
	for i, c := range chunks {
		b := []byte(c)
		for {
			n, ev := p.Feed(b, time.Unix(int64(i), 0))
			b = b[n:]
			handle(ev)
			if ev == 0 {
				break
			}
		}
	}
	if close {
		handle(p.Close())
	}
	return out
}

func quirkList(q Quirk) string {
	var s []string
	for i := range NumQuirks {
		if q&QuirkAt(i) != 0 {
			s = append(s, QuirkAt(i).String())
		}
	}
	return "[" + strings.Join(s, ",") + "]"
}

// next is a well-formed request pipelined after each odd one: it must come
// out whole, at its place, whatever the odd one was.
const next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"

var nextEvents = []string{`H GET "/next" 1.1 []`, "D 0"}

// lenientRequests are the request lines of docs/http-parsing.md, each at
// the start of a stream and followed by a pipelined request.
var lenientRequests = []struct {
	name, raw string
	want      []string
}{
	{"extension method", "CCM_POST / HTTP/1.1\r\nHost: x\r\n\r\n", []string{`H CCM_POST "/" 1.1 []`, "D 0"}},
	{"extension method with dash", "M-SEARCH * HTTP/1.1\r\nHost: x\r\n\r\n", []string{`H M-SEARCH "*" 1.1 []`, "D 0"}},
	{"lowercase method", "get / HTTP/1.1\r\nHost: x\r\n\r\n", []string{`H get "/" 1.1 [method]`, "D 0"}},
	{"method with digit and dot", "X.1 / HTTP/1.1\r\nHost: x\r\n\r\n", []string{`H X.1 "/" 1.1 [method]`, "D 0"}},
	{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", []string{`H OPTIONS "*" 1.1 []`, "D 0"}},
	{"empty target", "GET  HTTP/1.1\r\nHost: x\r\n\r\n", []string{`H GET "" 1.1 [whitespace,no_target]`, "D 0"}},
	{"missing target", "GET HTTP/1.1\r\nHost: x\r\n\r\n", []string{`H GET "" 1.1 [no_target]`, "D 0"}},
	{"runs of spaces", "GET  /  HTTP/1.1\r\nHost: x\r\n\r\n", []string{`H GET "/" 1.1 [whitespace]`, "D 0"}},
	{"tab separator", "GET\t/\tHTTP/1.1\r\nHost: x\r\n\r\n", []string{`H GET "/" 1.1 [whitespace]`, "D 0"}},
	{"trailing space", "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", []string{`H GET "/" 1.1 [whitespace]`, "D 0"}},
	{"leading space", " GET / HTTP/1.1\r\nHost: x\r\n\r\n", []string{`H GET "/" 1.1 [whitespace]`, "D 0"}},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", []string{`H GET "/a" 1.1 [extra_words]`, "D 0"}},
	{"lowercase version", "GET / http/1.1\r\nHost: x\r\n\r\n", []string{`H GET "/" 1.1 []`, "D 0"}},
	{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", []string{`H GET "/" 1.2 []`, "D 0"}},
	{"body framed as usual", "post /p  HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", []string{`H post "/p" 1.1 [method,whitespace]`, "D 3"}},
	// Without version the line is the request. What follows is read
	// strictly: a header block the client sent after a broken line is
	// garbage, never a request, and the strict search finds the next one.
	{"HTTP/0.9 GET", "GET /\r\n", []string{`H GET "/" 0.0 [no_version]`, "D 0"}},
	{"HTTP/0.9 shape, DELETE", "DELETE /x\r\n", []string{`H DELETE "/x" 0.0 [no_version]`, "D 0"}},
	{"method alone", "GET\r\n", []string{`H GET "" 0.0 [no_target,no_version]`, "D 0"}},
	{"other protocol name", "GET / FOO/1.1\r\nHost: x\r\n\r\n",
		[]string{`H GET "/" 0.0 [no_version,extra_words]`, "D 0", "I start_line"}},
	{"trailing junk", "GET / HTTP/1.1 x\r\nHost: x\r\n\r\n",
		[]string{`H GET "/" 0.0 [no_version,extra_words]`, "D 0", "I start_line"}},
	// Refused: no method token, or another protocol's version.
	{"binary", "\x16\x03\x01\x00\x05hello\r\n", []string{"I start_line"}},
	{"no method", "/x HTTP/1.1\r\nHost: x\r\n\r\n", []string{"I start_line"}},
	{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", []string{"I start_line"}},
	{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", []string{"I start_line"}},
	{"method over 32 bytes", strings.Repeat("A", 33) + " / HTTP/1.1\r\n\r\n", []string{"I start_line"}},
}

func TestLenientRequestLines(t *testing.T) {
	for _, tt := range lenientRequests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw + next
			want := append(append([]string{}, tt.want...), nextEvents...)
			for _, split := range [][]string{{raw}, bytewise(raw)} {
				if diff := cmp.Diff(want, events(Request, Expect{}, split, true)); diff != "" {
					t.Errorf("%d pieces (-want +got):\n%s", len(split), diff)
				}
			}
		})
	}
}

// TestLenientOnlyAtKnownStart: where the start of a message is not known
// (after garbage, a gap, or a line without version), only the strict
// grammar finds a request, so body bytes never turn into one.
func TestLenientOnlyAtKnownStart(t *testing.T) {
	for _, tt := range []struct {
		name string
		raw  string
		want []string
	}{
		{"lowercase after garbage", "\x16junk\r\nget / HTTP/1.1\r\n\r\n" + next, append([]string{"I start_line"}, nextEvents...)},
		{"spaces after garbage", "\x16junk\r\nGET  / HTTP/1.1\r\n\r\n" + next, append([]string{"I start_line"}, nextEvents...)},
		{"lowercase after a line without version", "GET /\r\nget / HTTP/1.1\r\n\r\n" + next,
			append([]string{`H GET "/" 0.0 [no_version]`, "D 0", "I start_line"}, nextEvents...)},
		{"header line without colon after a line without version", "GET /x\r\nFoo /bar\r\n\r\n" + next,
			append([]string{`H GET "/x" 0.0 [no_version]`, "D 0", "I start_line"}, nextEvents...)},
		{"lenient again after a framed message", "get / HTTP/1.1\r\n\r\nx.1 / HTTP/1.1\r\n\r\n",
			[]string{`H get "/" 1.1 [method]`, "D 0", `H x.1 "/" 1.1 [method]`, "D 0"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, split := range [][]string{{tt.raw}, bytewise(tt.raw)} {
				if diff := cmp.Diff(tt.want, events(Request, Expect{}, split, true)); diff != "" {
					t.Errorf("%d pieces (-want +got):\n%s", len(split), diff)
				}
			}
		})
	}
	// A resumed stream starts unknown.
	p := New(Request, DefaultLimits)
	p.ResetResync()
	if _, ev := p.Feed([]byte("get / HTTP/1.1\r\n\r\n"), time.Time{}); ev&Headers != 0 {
		t.Errorf("a stream picked up mid-way took a lenient line as a request")
	}
}

const nextResp = "HTTP/1.1 204 No Content\r\n\r\n"

func TestLenientResponses(t *testing.T) {
	waiting := Expect{Waiting: true}
	for _, tt := range []struct {
		name  string
		e     Expect
		raw   string
		close bool
		want  []string
	}{
		{"malformed status code", waiting, "HTTP/1.1 2XX OK\r\nContent-Length: 0\r\n\r\n" + nextResp, false,
			// The answer, then the framing is not trusted: the search for
			// the next status line finds the 204.
			[]string{"H 0 malformed [malformed_status_line]", "D 0", "I start_line", "H 204 ok []", "D 0"}},
		{"short status code", waiting, "HTTP/1.1 20\r\n\r\n", false,
			[]string{"H 0 malformed [malformed_status_line]", "D 0", "I start_line"}},
		{"code glued to reason", waiting, "HTTP/1.1 200OK\r\n\r\n", false,
			[]string{"H 0 malformed [malformed_status_line]", "D 0", "I start_line"}},
		{"runs of spaces", waiting, "HTTP/1.1  200  OK\r\nContent-Length: 2\r\n\r\nok" + nextResp, false,
			[]string{"H 200 ok [whitespace]", "D 2", "H 204 ok []", "D 0"}},
		{"malformed, nobody waiting", Expect{}, "HTTP/1.1 2XX OK\r\n\r\n" + nextResp, false,
			[]string{"I start_line", "H 204 ok []", "D 0"}},
		{"bare answer to the close", waiting, "hello\r\nworld\r\n", true,
			[]string{"H 0 none [no_status_line]", "D 14"}},
		{"bare answer with a status line in it", waiting, "hello\r\n" + nextResp, true,
			[]string{"H 0 none [no_status_line]", "I start_line", "H 204 ok []", "D 0"}},
		{"bare answer to HTTP/0.9", Expect{HTTP09: true}, "<html>hi</html>", true,
			[]string{"H 0 none [no_status_line]", "D 15"}},
		{"not bare when nobody waits", Expect{}, "hello\r\n" + nextResp, true,
			[]string{"I start_line", "H 204 ok []", "D 0"}},
		{"empty lines then a status line", waiting, "\r\n\r\n" + nextResp, false,
			[]string{"H 204 ok []", "D 0"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, split := range [][]string{{tt.raw}, bytewise(tt.raw)} {
				if diff := cmp.Diff(tt.want, events(Response, tt.e, split, tt.close)); diff != "" {
					t.Errorf("%d pieces (-want +got):\n%s", len(split), diff)
				}
			}
		})
	}
}

func TestInterim(t *testing.T) {
	for _, tt := range []struct {
		m    Message
		want bool
	}{
		{Message{Status: 100}, true},
		{Message{Status: 200}, false},
		{Message{Status: 0, StatusLine: StatusLineNone}, false},
		{Message{Status: 0, StatusLine: StatusLineMalformed}, false},
	} {
		if got := tt.m.Interim(); got != tt.want {
			t.Errorf("%+v: Interim %v, want %v", tt.m, got, tt.want)
		}
	}
}

// TestRequestCommonMatchesWords checks that the fast path for common
// request lines reads each line as the word scan does, or leaves it to it.
func TestRequestCommonMatchesWords(t *testing.T) {
	lines := []string{
		"GET / HTTP/1.1", "GET /a/b?c=d HTTP/1.0", "POST /x HTTP/1.1", "M-SEARCH * HTTP/1.1",
		"PROPFIND_X /p HTTP/1.1", "get / HTTP/1.1", "GET  / HTTP/1.1", "GET /\tHTTP/1.1",
		"GET / http/1.1", "GET / HTTP/2.0", "GET / HTTP/1.x", "GET /a b HTTP/1.1",
		"GET / HTTP/1.1 ", " GET / HTTP/1.1", "GET /\r HTTP/1.1", "GET /\v HTTP/1.1",
		"GET HTTP/1.1", "GET  HTTP/1.1", "GET /", "GET", "", "G / HTTP/1.1",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF / HTTP/1.1", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG / HTTP/1.1",
		"GET /ü HTTP/1.1", "GET /x HTTP/1.11", "GET /x XTTP/1.1",
	}
	for _, l := range lines {
		fast, slow := New(Request, DefaultLimits), New(Request, DefaultLimits)
		if !fast.parseRequestCommon([]byte(l)) {
			continue
		}
		ok, oneLine := slow.parseRequestWords([]byte(l))
		if !ok || oneLine {
			t.Errorf("%q: fast path took it, word scan gives ok=%v oneLine=%v", l, ok, oneLine)
			continue
		}
		f, s := fast.Message(), slow.Message()
		if string(f.Method) != string(s.Method) || string(f.Target) != string(s.Target) ||
			f.Major != s.Major || f.Minor != s.Minor || f.Quirks != s.Quirks {
			t.Errorf("%q: fast %q %q %d.%d %v, word scan %q %q %d.%d %v", l,
				f.Method, f.Target, f.Major, f.Minor, f.Quirks, s.Method, s.Target, s.Major, s.Minor, s.Quirks)
		}
	}
	if p := New(Request, DefaultLimits); !p.parseRequestCommon([]byte("GET /a HTTP/1.1")) {
		t.Error("the fast path refused a common line")
	}
}
