package segmenter

import (
	"testing"
	"time"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/httpparse"
	"github.com/xray-capture/xray-capture/reassembly"
	"github.com/xray-capture/xray-capture/sampling"
)

// One test per pairing branch that the end-to-end goldens reach only by
// chance, and one per bug of the connection table.

func TestResponseThatFailsToParse(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 41001)
	c.send(true, req("/1"), 0)
	c.send(false, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx", 0) // framing unknowable
	c.send(true, req("/2"), 0)
	c.send(false, resp(200, "y"), 0)
	// /1 cannot be paired. /2's first packet acknowledges exactly where the
	// 200 starts: an anchor, held until something confirms it.
	check(t, sink)
	if tr.Stats.ResponseParseErrors[httpparse.ReasonContentLength] != 1 ||
		tr.Stats.ResyncAnchors != 1 || len(c.t.conns[connKeyOf(c)].held) != 1 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func connKeyOf(c *conv) connKey {
	return connKey{clientIP.As16(), serverIP.As16(), c.cport, 80}
}

func TestUpgradeStopsParsing(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 41002)
	c.send(true, req("/ws", "Connection: Upgrade\r\nUpgrade: websocket\r\n"), 0)
	c.send(false, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 0)
	c.send(true, "GET /not-http HTTP/1.1\r\n\r\n", 0) // frames that happen to look like HTTP
	c.send(false, resp(500, ""), 0)
	check(t, sink, "/ws 101")
	if tr.Stats.Upgraded != 1 || tr.Stats.Requests != 1 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func TestLateResponseAfterTimeout(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 41003)
	c.send(true, req("/slow"), 0)
	c.ts = c.ts.Add(61 * time.Second)
	c.send(true, "", 0) // drives the clock past the response timeout
	c.send(false, resp(200, "late"), 0)
	c.send(true, req("/next"), 0)
	c.send(false, resp(201, ""), 0)
	check(t, sink, "/slow - timeout", "/next 201")
	if tr.Stats.LateResponses != 1 || tr.Stats.OrphanTimeout != 1 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func TestPendingOverflowStopsPairing(t *testing.T) {
	tr, sink := newTrackerWith(t, func(c *Config) { c.MaxPending = 2 })
	c := newConv(t, tr, 41004)
	c.send(true, req("/1")+req("/2")+req("/3"), 0)
	c.send(false, resp(200, "")+resp(201, "")+resp(202, ""), 0)
	// /1 and /2 were queued before the bound was hit and stay certain.
	check(t, sink, "/1 200", "/2 201")
	if tr.Stats.PendingOverflow != 1 || tr.Stats.UnpairableRequests != 1 || tr.Stats.UnpairedResponses != 1 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func TestIdleConnectionIsClosed(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 41005)
	c.send(true, req("/1"), 0)
	c.send(false, resp(200, ""), 0)
	d := newConv(t, tr, 41006)
	d.ts = c.ts.Add(DefaultIdleTimeout + 2*time.Second)
	d.send(true, req("/other"), 0) // another connection's packet moves the clock
	if tr.conns[connKeyOf(c)] != nil || tr.Stats.IdleClosed == 0 {
		t.Errorf("the idle connection is still tracked: stats %+v", tr.Stats)
	}
	check(t, sink, "/1 200")
}

func TestAdvanceFiresTimeoutsOnAQuietHost(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 41007)
	c.send(true, req("/quiet"), 0)
	tr.Advance(c.ts.Add(30 * time.Second))
	check(t, sink)
	tr.Advance(c.ts.Add(62 * time.Second))
	check(t, sink, "/quiet - timeout")
}

func TestMissedSynAck(t *testing.T) {
	tr, sink := newTracker(t)
	c := &conv{tb: t, t: tr, cport: 41008, cseq: 1000, sseq: 5000, ts: time.Unix(1700000000, 0)}
	c.send(true, "", capture.FlagSYN)
	c.packet(false, "", capture.FlagSYN|capture.FlagACK) // lost by the capture
	c.send(true, req("/1"), 0)                           // its ACK names the server's first byte
	c.send(false, resp(200, ""), 0)
	check(t, sink, "/1 200")

	// Without the handshake ACK nor a request sent before any answer, the
	// server's first bytes are unplaced: nothing queued is paired.
	tr2, sink2 := newTracker(t)
	d := &conv{tb: t, t: tr2, cport: 41009, cseq: 1000, sseq: 5000, ts: time.Unix(1700000000, 0)}
	d.send(true, "", capture.FlagSYN)
	d.packet(false, "", capture.FlagSYN|capture.FlagACK) // lost
	d.packet(true, req("/0"), 0)                         // lost
	d.send(true, req("/1"), 0)
	d.send(false, resp(200, "")+resp(201, ""), 0)
	d.age()
	check(t, sink2)
	if tr2.conns[connKeyOf(d)] != nil && tr2.conns[connKeyOf(d)].outOfStep == 0 {
		t.Error("still in step after the handshake and a request were lost")
	}
}

func TestReusedFourTupleStartsANewConnection(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 41010)
	c.send(true, req("/old"), 0) // the server's answer and FIN were never captured
	d := &conv{tb: t, t: tr, cport: 41010, cseq: 900000, sseq: 700000, ts: c.ts}
	d.send(true, "", capture.FlagSYN)
	d.send(false, "", capture.FlagSYN|capture.FlagACK)
	d.send(true, req("/new"), 0)
	d.send(false, resp(200, "n"), 0)
	check(t, sink, "/new 200")
	if tr.Stats.ReusedTuples != 1 || tr.Stats.UnpairedRequests != 1 {
		t.Errorf("stats %+v", tr.Stats)
	}
	// A repeated SYN with the same sequence number is the same connection.
	d.ts = d.ts.Add(time.Millisecond)
	p := capture.Packet{Timestamp: d.ts, Flags: capture.FlagSYN, SrcIP: clientIP, DstIP: serverIP, SrcPort: 41010, DstPort: 80, Seq: 900000}
	handle(t, tr, &p)
	if tr.Stats.ReusedTuples != 1 {
		t.Errorf("a retransmitted SYN ended the connection")
	}
}

func TestCloseEmitsOldestConnectionFirst(t *testing.T) {
	run := func() []string {
		tr, sink := newTracker(t)
		var convs []*conv
		for i := range 40 {
			c := newConv(t, tr, uint16(42000+i))
			convs = append(convs, c)
		}
		// Touch them in a scrambled order; the last touched is the newest.
		for i := range 40 {
			c := convs[(i*17)%40]
			c.ts = time.Unix(1700000000, 0).Add(time.Duration(i) * time.Millisecond)
			c.send(true, req("/c"+itoa((i*17)%40)), 0)
		}
		tr.Close(time.Unix(1700000000, 0).Add(2 * time.Minute))
		return summary(sink.docs)
	}
	first, second := run(), run()
	if len(first) != 40 {
		t.Fatalf("%d timeouts, want 40", len(first))
	}
	for i := range first {
		if first[i] != second[i] || first[i] != "/c"+itoa((i*17)%40)+" - timeout" {
			t.Fatalf("order %q then %q", first, second)
		}
	}
}

func TestHandshakeIsNotRetransmission(t *testing.T) {
	tr, _ := newTracker(t)
	c := newConv(t, tr, 41011)
	c.send(true, req("/1"), 0)
	c.send(false, resp(200, ""), 0)
	if tr.cfg.Budget.Retransmitted != 0 {
		t.Errorf("%d retransmissions on a clean connection", tr.cfg.Budget.Retransmitted)
	}
}

// countingSampler samples everything and counts the requests offered.
type countingSampler struct{ n int }

func (s *countingSampler) Sample(time.Time, *sampling.Request) sampling.Decision {
	s.n++
	return sampling.Decision{Sampled: true}
}

func TestOnlyPairableRequestsTakeASample(t *testing.T) {
	smp := &countingSampler{}
	tr, sink := newTrackerWith(t, func(c *Config) { c.Sampler, c.MaxPending = smp, 2 })
	c := newConv(t, tr, 41012)
	c.send(true, req("/1")+req("/2")+req("/3"), 0) // /3 is over the bound
	if smp.n != 2 {
		t.Errorf("%d requests offered to the sampler, want 2", smp.n)
	}
	c.send(false, resp(200, "")+resp(201, ""), 0)
	// Out of step now: /4 is queued uncertain and offered only when it
	// becomes a segment (here, unanswered at a reset).
	c.send(true, req("/4"), 0)
	if smp.n != 2 {
		t.Errorf("an uncertain request was offered to the sampler")
	}
	c.send(true, "", capture.FlagRST)
	check(t, sink, "/1 200", "/2 201", "/4 - reset")
	if smp.n != 3 {
		t.Errorf("%d requests offered, want 3", smp.n)
	}
	st := tr.Stats
	if st.Requests != st.SampledByHeader+st.SampledByRule+st.NotSampledHeader+st.NotSampledRule+st.UnpairableRequests {
		t.Errorf("a request is in no sampling counter: %+v", st)
	}
}

// TestAnchorResidualRisk builds by hand the one coincidence that fools the
// ACK anchor (docs/pairing.md, Residual risk): a client that pipelines /3
// at a response boundary while /2 is unanswered, a server slow enough to
// have received /3 before it answers /2, and a capture that lost the head
// of /1's answer. Resync then pairs /3 with /2's answer and labels it;
// strict sends nothing it cannot prove.
func TestAnchorResidualRisk(t *testing.T) {
	for _, mode := range []PairingMode{PairingResync, PairingStrict} {
		tr, sink := newTrackerWith(t, func(c *Config) { c.Pairing = mode })
		c := newConv(t, tr, 41020)
		c.send(true, req("/1")+req("/2"), 0)
		head := resp(201, "a")
		c.packet(false, head[:10], 0) // lost: the head of /1's answer
		c.send(false, head[10:], 0)
		c.send(true, req("/3"), 0)        // pipelined behind /2, with an advanced ACK
		c.send(false, resp(202, "bb"), 0) // /2's answer, sent after /3 arrived
		c.send(true, req("/4"), 0)        // acknowledges exactly the end of /2's answer
		c.send(false, resp(203, "ccc"), 0)
		c.send(false, resp(204, ""), 0)
		c.age()
		want := []string{"/3 202 resync", "/4 203"}
		if mode == PairingStrict {
			want = nil
		}
		check(t, sink, want...)
		t.Logf("%s: %+v", mode, tr.Stats)
	}
}

// TestBudgetWithoutHoleBounds: a Budget given without hole bounds (as the
// pipeline once built it) still ages holes, or a connection that lost a
// packet would hold everything after it until the end.
func TestBudgetWithoutHoleBounds(t *testing.T) {
	tr, sink := newTrackerWith(t, func(c *Config) {
		c.Budget = &reassembly.Budget{MaxBytes: 1 << 20, MaxBytesPerStream: 1 << 20, MaxSegments: 64}
	})
	c := newConv(t, tr, 41040)
	c.send(true, req("/1"), 0)
	c.packet(false, resp(200, "lost"), 0)
	c.send(true, req("/2"), 0)
	c.send(false, resp(201, "b"), 0)
	c.age()
	c.send(true, req("/3"), 0)
	c.send(false, resp(202, "c"), 0)
	if tr.cfg.Budget.AgedHoles+tr.cfg.Budget.PacketHoles == 0 {
		t.Error("the hole never aged")
	}
	check(t, sink, "/2 201 resync", "/3 202")
}

// TestReorderedHandshakeCostsNothing: a handshake captured after the data
// it opened (reordering, nothing lost) neither starts the connection
// mid-stream nor puts it out of step.
func TestReorderedHandshakeCostsNothing(t *testing.T) {
	t.Run("client data before the SYN", func(t *testing.T) {
		tr, sink := newTracker(t)
		c := &conv{tb: t, t: tr, cport: 41050, cseq: 1000, sseq: 5000, ts: time.Unix(1700000000, 0)}
		syn := c.packet(true, "", capture.FlagSYN)
		synAck := c.packet(false, "", capture.FlagSYN|capture.FlagACK)
		c.send(true, req("/1"), 0) // ahead of its SYN
		handle(t, tr, &syn)
		handle(t, tr, &synAck)
		c.send(false, resp(200, "a"), 0)
		c.send(true, req("/2"), 0)
		c.send(false, resp(201, "b"), 0)
		check(t, sink, "/1 200", "/2 201")
		if tr.Stats.ReusedTuples != 0 {
			t.Errorf("stats %+v", tr.Stats)
		}
	})
	t.Run("server data before the SYN-ACK", func(t *testing.T) {
		tr, sink := newTracker(t)
		c := &conv{tb: t, t: tr, cport: 41051, cseq: 1000, sseq: 5000, ts: time.Unix(1700000000, 0)}
		c.send(true, "", capture.FlagSYN)
		synAck := c.packet(false, "", capture.FlagSYN|capture.FlagACK)
		c.send(true, req("/1"), 0)
		c.send(false, resp(200, "a"), 0) // ahead of the SYN-ACK
		handle(t, tr, &synAck)
		c.send(true, req("/2"), 0)
		c.send(false, resp(201, "b"), 0)
		check(t, sink, "/1 200", "/2 201")
	})
}
