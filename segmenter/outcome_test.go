package segmenter

import (
	"testing"
	"time"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/sampling"
)

// Outcomes (closed, reset, timeout) say the server never answered: each
// needs the same proof as a pair. These tests are the paths that once gave
// one without it, and the end of the input (in-progress segments).

func TestSkippedServerBytesAreNoProofOfSilence(t *testing.T) {
	// After a lost response head the parser skips server bytes until a
	// start line; an HTTP/1.0 answer glued to the end of the damaged body is
	// skipped too. The server's FIN then does not prove /2 unanswered.
	tr, sink := newTrackerWith(t, func(c *Config) { c.Pairing = PairingStrict })
	c := newConv(t, tr, 42001)
	c.send(true, req("/1"), 0)
	c.packet(false, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n", 0) // lost
	c.send(false, "abcdef", 0)
	c.age()
	c.send(true, "GET /2 HTTP/1.0\r\n\r\n", 0)
	c.send(false, "HTTP/1.0 200 OK\r\n\r\nbody", 0)
	c.send(false, "", capture.FlagFIN)
	c.send(true, "", capture.FlagFIN)
	check(t, sink)
	if tr.Stats.OrphanClosed != 0 || tr.Stats.UnpairedRequests != 2 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func TestResponseWithoutACKIsPairedByPosition(t *testing.T) {
	// Packets without the ACK flag carry no acknowledgement: the response
	// cannot be judged sent before the request, nor anchor anything.
	tr, sink := newTracker(t)
	c := newConv(t, tr, 42002)
	c.send(true, req("/1"), 0)
	p := c.packet(false, "HTTP/1.0 200 OK\r\n\r\nbody", 0)
	p.Flags, p.Ack = 0, 0
	handle(t, tr, &p)
	c.send(false, "", capture.FlagFIN)
	c.send(true, "", capture.FlagFIN)
	check(t, sink, "/1 200")
	if tr.Stats.ResponseBeforeRequest != 0 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func TestInProgressAtTheEnd(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 42003)
	c.send(true, req("/done"), 0)
	c.send(false, resp(200, "ok"), 0)
	c.send(true, req("/waiting"), 0)
	d := newConv(t, tr, 42004)
	d.send(true, req("/streaming"), 0)
	d.send(false, "HTTP/1.1 206 Partial\r\nContent-Length: 100\r\n\r\nfirst bytes", 0)
	tr.Close(d.ts)
	check(t, sink, "/done 200", "/waiting - in_progress", "/streaming 206 in_progress")
	if tr.Stats.InFlightAtEnd != 2 || tr.Stats.OrphanClosed+tr.Stats.OrphanTimeout != 0 {
		t.Errorf("stats %+v", tr.Stats)
	}
	for _, doc := range sink.docs[1:] {
		if doc["end_time"] != nil || doc["fault"] != nil {
			t.Errorf("in-progress segment with an end or a fault: %v", doc)
		}
	}
	if r := sink.docs[2]["http"].(map[string]any)["response"].(map[string]any); r["content_length"] != 100.0 {
		t.Errorf("in-progress response %v: the header's length is known", r)
	}
}

func TestInProgressNotSentWhenAnAnswerMayHaveCome(t *testing.T) {
	// /2's answer may be among the skipped bytes: not in progress, unpaired.
	tr, sink := newTrackerWith(t, func(c *Config) { c.Pairing = PairingStrict })
	c := newConv(t, tr, 42005)
	c.send(true, req("/1"), 0)
	c.packet(false, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n", 0) // lost
	c.send(false, "abcdef", 0)
	c.age()
	c.send(true, req("/2"), 0)
	c.send(false, "xyz"+resp(200, "b"), 0)
	tr.Close(c.ts.Add(time.Second))
	check(t, sink)
	if tr.Stats.InFlightAtEnd != 0 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

// synConv is a conversation whose handshake the test writes itself.
func synConv(t *testing.T, tr *Tracker, port uint16, isn uint32) *conv {
	return &conv{tb: t, t: tr, cport: port, cseq: isn, sseq: 5000, ts: time.Unix(1700000000, 0)}
}

func (c *conv) syn(isn uint32) {
	c.ts = c.ts.Add(time.Millisecond)
	p := capture.Packet{Timestamp: c.ts, Flags: capture.FlagSYN, SrcIP: clientIP, DstIP: serverIP, SrcPort: c.cport, DstPort: 80, Seq: isn}
	handle(c.tb, c.t, &p)
}

func TestRepeatedSYNsTheAnsweredHandshakeCounts(t *testing.T) {
	tr, sink := newTracker(t)
	// The first SYN is the one answered; a second with another ISN follows.
	a := synConv(t, tr, 42101, 1000)
	a.syn(1000)
	a.syn(777777)
	a.cseq = 1001
	a.send(false, "", capture.FlagSYN|capture.FlagACK)
	a.send(true, req("/first-answered"), 0)
	a.send(false, resp(200, "a"), 0)

	// A flood of SYNs with random ISNs in front of the real one.
	b := synConv(t, tr, 42102, 2000)
	for i := range uint32(6) {
		b.syn(90000 + i*1000)
	}
	b.syn(2000)
	b.cseq = 2001
	b.send(false, "", capture.FlagSYN|capture.FlagACK)
	b.send(true, req("/after-flood"), 0)
	b.send(false, resp(201, "b"), 0)

	// A spoofed SYN inside an established connection: the server answers
	// it with a challenge ACK, not a SYN-ACK; the connection goes on.
	c := newConv(t, tr, 42103)
	c.send(true, req("/before"), 0)
	c.send(false, resp(202, "c"), 0)
	c.syn(4242)
	c.send(true, req("/after-spoof"), 0)
	c.send(false, resp(203, "d"), 0)

	check(t, sink, "/first-answered 200", "/after-flood 201", "/before 202", "/after-spoof 203")
	if tr.Stats.RepeatedSYNs != 8 || tr.Stats.ReusedTuples != 0 || tr.Stats.Connections != 3 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func TestGapPastTheBodyKeepsTheCertainPair(t *testing.T) {
	// The header (with Content-Length) came before the gap: the pair is
	// certain, though the gap ran past the body into the next response.
	tr, sink := newTracker(t)
	c := newConv(t, tr, 42201)
	c.send(true, req("/big")+req("/next"), 0)
	c.send(false, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123", 0)
	c.packet(false, "456789HTTP/1.1 2", 0) // lost: the body's end and the next head's start
	c.send(false, "04 No Content\r\n\r\n", 0)
	c.age()
	c.send(true, "", capture.FlagFIN)
	c.send(false, "", capture.FlagFIN)
	check(t, sink, "/big 200 gap")
	if tr.Stats.UnpairedRequests != 1 || tr.Stats.GapSegments != 1 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

// noneSampler samples nothing.
type noneSampler struct{}

func (noneSampler) Sample(time.Time, *sampling.Request) sampling.Decision { return sampling.Decision{} }

func TestViewUnsampled(t *testing.T) {
	for _, view := range []bool{false, true} {
		tr, sink := newTrackerWith(t, func(c *Config) { c.Sampler, c.ViewUnsampled = noneSampler{}, view })
		c := newConv(t, tr, 42401)
		c.send(true, req("/rule"), 0)
		c.send(false, resp(200, "a"), 0)
		c.send(true, req("/header", "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0\r\n"), 0)
		c.send(false, resp(201, "b"), 0)
		c.send(true, req("/forced", "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1\r\n"), 0)
		c.send(false, resp(202, "c"), 0)
		want := []string{"/forced 202"}
		if view {
			want = []string{"/rule 200", "/header 201", "/forced 202"}
		}
		check(t, sink, want...)
		if tr.Stats.Segments != 1 {
			t.Errorf("view %v: %d segments counted, want the one sampled", view, tr.Stats.Segments)
		}
	}
}

func TestRetransmissionAfterTheEndIsNotANewConnection(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 42301)
	request := c.packet(true, req("/once"), 0)
	handle(t, tr, &request)
	response := c.packet(false, resp(200, "a"), 0)
	handle(t, tr, &response)
	c.send(false, "", capture.FlagFIN)
	c.send(true, "", capture.FlagFIN)
	// Copies of both sides' data captured after both FINs: bytes the
	// connection already carried, not a connection picked up mid-stream.
	for _, p := range []capture.Packet{request, response} {
		p.Timestamp = c.ts.Add(time.Millisecond)
		handle(t, tr, &p)
	}
	// The four-tuple used again without a captured SYN: bytes past the
	// end are a new connection (picked up mid-stream, so not paired
	// without an anchor).
	c.ts = c.ts.Add(time.Second)
	c.send(true, req("/again"), 0)
	c.send(false, resp(201, "b"), 0)
	check(t, sink, "/once 200")
	if tr.Stats.AfterEnd != 2 || tr.Stats.Connections != 2 || tr.Stats.Midstream != 1 || tr.Stats.Requests != 2 {
		t.Errorf("stats: after end %d, connections %d, midstream %d, requests %d",
			tr.Stats.AfterEnd, tr.Stats.Connections, tr.Stats.Midstream, tr.Stats.Requests)
	}
}
