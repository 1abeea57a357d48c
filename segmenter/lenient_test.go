package segmenter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/httpparse"
)

// lenientSummary reduces segments to "METHOD PATH STATUS", status "-" for
// no response and "?" for a response without status; then the
// annotations response_status_line, capture_outcome and pairing, and
// "fault" when the segment has it.
func lenientSummary(docs []map[string]any) []string {
	var out []string
	for _, d := range docs {
		h := d["http"].(map[string]any)
		rq := h["request"].(map[string]any)
		u := rq["url"].(string)
		s := rq["method"].(string) + " " + u[strings.Index(u[7:], "/")+7:] + " "
		switch r, ok := h["response"].(map[string]any); {
		case !ok:
			s += "-"
		case r["status"] == nil:
			s += "?"
		default:
			s += fmt.Sprint(r["status"])
		}
		if a, ok := d["annotations"].(map[string]any); ok {
			for _, k := range []string{"response_status_line", "capture_outcome", "pairing"} {
				if v, ok := a[k]; ok {
					s += " " + v.(string)
				}
			}
		}
		if d["fault"] == true {
			s += " fault"
		}
		out = append(out, s)
	}
	return out
}

func checkLenient(t *testing.T, sink *collectSink, want ...string) {
	t.Helper()
	if got := lenientSummary(sink.docs); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("segments %q, want %q", got, want)
	}
}

// TestLenientRequestDoesNotShift: each request line servers accept, with a
// request pipelined after it; both answered, in order. The follow-up pairs
// with its own answer.
func TestLenientRequestDoesNotShift(t *testing.T) {
	for i, tt := range []struct{ line, want string }{
		{"CCM_POST /x HTTP/1.1", "CCM_POST /x 200"},
		{"get /x HTTP/1.1", "get /x 200"},
		{"M-SEARCH * HTTP/1.1", "M-SEARCH /* 200"},
		{"OPTIONS * HTTP/1.1", "OPTIONS /* 200"},
		{"GET  /x  HTTP/1.1", "GET /x 200"},
		{"GET /x HTTP/1.1 ", "GET /x 200"},
		{"GET  HTTP/1.1", "GET / 200"},
		{"GET HTTP/1.1", "GET / 200"},
		{"GET /x HTTP/1.2", "GET /x 200"},
	} {
		t.Run(tt.line, func(t *testing.T) {
			tr, sink := newTracker(t)
			c := newConv(t, tr, uint16(41000+i))
			c.send(true, tt.line+"\r\nHost: shop.test\r\n\r\n"+req("/next"), 0)
			c.send(false, resp(200, "a")+resp(201, "bb"), 0)
			checkLenient(t, sink, tt.want, "GET /next 201")
			var q uint64
			for _, n := range tr.Stats.RequestQuirks {
				q += n
			}
			if wantQ := strings.Contains(tt.line, "  ") || strings.HasSuffix(tt.line, " ") || tt.line[0] == 'g' || tt.line == "GET HTTP/1.1"; wantQ != (q > 0) {
				t.Errorf("quirks counted: %v", tr.Stats.RequestQuirks)
			}
		})
	}
}

// TestRefusedRequestIsTraced: the server refuses a request line with 400
// and closes; the request gets its 400, the one pipelined after it was not
// answered.
func TestRefusedRequestIsTraced(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 41100)
	c.send(true, "get /x HTTP/1.1\r\nHost: shop.test\r\n\r\n"+req("/next"), 0)
	c.send(false, resp(400, "bad"), capture.FlagFIN)
	checkLenient(t, sink, "get /x 400", "GET /next - closed fault")
	if tr.Stats.RequestQuirks[0] != 1 {
		t.Errorf("method quirk counted %d times, want 1", tr.Stats.RequestQuirks[0])
	}
}

// TestHTTP09Exchange: a request without version and its bare answer, to
// the close. The answer is final (not a 1xx), has no status and is no
// fault: HTTP/0.9 answers have no status line.
func TestHTTP09Exchange(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 41101)
	c.send(true, "GET /old\r\n", 0)
	c.send(false, "<html>old</html>", 0)
	c.send(false, "", capture.FlagFIN)
	checkLenient(t, sink, "GET /old ? none")
	if tr.Stats.Informational != 0 || tr.Stats.Responses != 1 {
		t.Errorf("informational %d, responses %d; want 0, 1", tr.Stats.Informational, tr.Stats.Responses)
	}
	if n := tr.Stats.ResponseQuirks[5]; httpparse.QuirkAt(5) != httpparse.QuirkNoStatusLine || n != 1 {
		t.Errorf("no_status_line counted %d times, want 1", n)
	}
	if cl := sink.docs[0]["http"].(map[string]any)["response"].(map[string]any)["content_length"]; cl != 16.0 {
		t.Errorf("content_length %v, want 16", cl)
	}
}

// TestBareAnswerToHTTP11: a server answers an HTTP/1.1 request without
// status line, to the close: the answer, and a fault. A request pipelined
// after it got nothing else.
func TestBareAnswerToHTTP11(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 41102)
	c.send(true, req("/a")+req("/b"), 0)
	c.send(false, "Warning: something broke\n", 0)
	c.send(false, "more text\n", capture.FlagFIN)
	checkLenient(t, sink, "GET /a ? none fault", "GET /b - closed fault")
}

// TestBareAnswerRefuted: bytes without status line, then a status line at a
// line start: the bytes were no answer, and which request the status line
// answers is unknown. Nothing is paired.
func TestBareAnswerRefuted(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 41103)
	c.send(true, req("/a")+req("/b"), 0)
	c.send(false, "junk\r\n"+resp(200, "x"), 0)
	c.send(false, "", capture.FlagFIN)
	checkLenient(t, sink)
	if tr.Stats.ResponseParseErrors[httpparse.ReasonStartLine] != 1 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

// TestBareOnlyForACertainRequest: out of step (a request lost), bytes
// without status line are not taken for an answer.
func TestBareOnlyForACertainRequest(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 41104)
	c.send(true, req("/1"), 0)
	c.send(false, resp(200, "one"), 0)
	c.packet(true, req("/2"), 0) // lost
	c.send(true, req("/3"), 0)
	c.age()
	c.send(false, "junk", capture.FlagFIN)
	checkLenient(t, sink, "GET /1 200")
	if tr.Stats.ResponseQuirks[5] != 0 {
		t.Errorf("a bare answer was read out of step")
	}
}

// TestMalformedStatusLine: the answer to the head, a fault; the framing
// after it is not trusted, so a pipelined request is not paired by
// position. Sequential requests resume at an ACK anchor.
func TestMalformedStatusLine(t *testing.T) {
	t.Run("pipelined", func(t *testing.T) {
		tr, sink := newTracker(t)
		c := newConv(t, tr, 41105)
		c.send(true, req("/a")+req("/b"), 0)
		c.send(false, "HTTP/1.1 2XX OK\r\nContent-Length: 0\r\n\r\n"+resp(201, ""), 0)
		c.send(false, "", capture.FlagFIN)
		checkLenient(t, sink, "GET /a ? malformed fault")
		if tr.Stats.Informational != 0 || tr.Stats.ResponseQuirks[6] != 1 {
			t.Errorf("stats %+v", tr.Stats)
		}
	})
	t.Run("sequential", func(t *testing.T) {
		tr, sink := newTracker(t)
		c := newConv(t, tr, 41106)
		c.send(true, req("/a"), 0)
		c.send(false, "HTTP/1.1 2XX OK\r\nContent-Length: 2\r\n\r\nok", 0)
		c.send(true, req("/b"), 0)
		c.send(false, resp(201, "b"), 0)
		c.send(true, req("/c"), 0)
		c.send(false, resp(202, "c"), 0)
		c.send(true, "", capture.FlagFIN)
		c.send(false, "", capture.FlagFIN)
		checkLenient(t, sink, "GET /a ? malformed fault", "GET /b 201 ack-resync", "GET /c 202")
	})
}
