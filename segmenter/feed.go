package segmenter

import (
	"github.com/xray-capture/xray-capture/httpparse"
	"github.com/xray-capture/xray-capture/reassembly"
)

// This file holds the feeds: in-order bytes from reassembly into each
// direction's parser, and the parser's events into pairing.

func (t *Tracker) drainUp(c *conn) {
	for {
		ch, ok := c.up.Next()
		if !ok {
			return
		}
		t.feedUp(c, ch)
	}
}

func (t *Tracker) drainDown(c *conn) {
	for {
		ch, ok := c.down.Next()
		if !ok {
			return
		}
		t.feedDown(c, ch)
	}
}

// feedUp gives client bytes to the request parser.
func (t *Tracker) feedUp(c *conn, ch reassembly.Chunk) {
	if c.upgraded {
		return
	}
	if len(ch.Data) > 0 {
		switch {
		case c.tunnel == tunnelOpen:
			if !t.tunnelClientBytes(c, ch.Data) {
				return
			}
		case c.req.Upgraded():
			c.tunnelEarlyData = true // after a CONNECT, before its answer
		}
	}
	if ch.Gap > 0 {
		c.upGapSinceReq = true
		inMessage := c.req.InMessage()
		inStep, done := c.req.Gap(ch.Gap)
		if (inStep || done) && inMessage && c.queue.len() > 0 {
			c.queue.back().gap = true
		}
		if !inStep {
			t.markOutOfStep(c, lossRequestGap)
		}
	}
	base := c.req.Offset()
	b := ch.Data
	for len(b) > 0 {
		if !c.req.InMessage() {
			// A request that starts here: its first packet's ACK is what
			// the client had received when it sent it.
			c.reqStartAck = ch.Ack
		}
		n, ev := c.req.Feed(b, ch.TS)
		b = b[n:]
		if ev&httpparse.Headers != 0 {
			m := c.req.Message()
			countQuirks(&t.Stats.RequestQuirks, m.Quirks)
			t.onRequest(c, m, ch.Seq+uint32(m.StartOffset-base), ch.Seq+uint32(c.req.Offset()-base))
		}
		if ev&httpparse.Invalid != 0 {
			t.Stats.RequestParseErrors[c.req.InvalidReason()]++
			// The server may answer what we could not read; from here on a
			// response could belong to it.
			t.markOutOfStep(c, lossRequestInvalid)
			if c.req.InvalidReason() == httpparse.ReasonBudget {
				t.evictHeaderHolders(c)
			}
		}
		if ev == 0 {
			break
		}
		if len(b) > 0 && c.req.Upgraded() {
			c.tunnelEarlyData = true // sent after a CONNECT, before its answer
			break
		}
	}
	if ch.FIN {
		if c.req.Close()&httpparse.Invalid != 0 {
			t.Stats.RequestParseErrors[httpparse.ReasonTruncated]++
		}
		c.finUp = true
	}
}

// feedDown gives server bytes to the response parser.
func (t *Tracker) feedDown(c *conn, ch reassembly.Chunk) {
	if c.upgraded {
		return
	}
	if c.tunnel == tunnelOpen && len(ch.Data) > 0 {
		t.upgrade(c) // the server spoke first in the tunnel: not HTTP
		return
	}
	if ch.Gap > 0 {
		switch inStep, done := c.resp.Gap(ch.Gap); {
		case !inStep && done:
			// The response's body ended in the gap: its header named its
			// request, so this pair is certain; what followed it in the gap
			// is not known.
			t.onResponseEvent(c, httpparse.Done, c.respLastTS)
			t.markOutOfStep(c, lossResponseGap)
			t.unsettleQueue(c)
		case !inStep:
			// Whole responses may have been lost: no queued request can be
			// paired by position any more.
			t.markOutOfStep(c, lossResponseGap)
			t.unsettleQueue(c)
		case done:
			// The lost bytes were the end of the body: the response ended
			// with the last packet seen of it.
			t.onResponseEvent(c, httpparse.Done, c.respLastTS)
		}
	}
	base := c.resp.Offset()
	prevEnd, prevAck := c.lastDownEnd, c.lastDownAck
	b := ch.Data
	for len(b) > 0 {
		if !c.resp.InMessage() {
			c.respAck = ch.Ack
			c.respPrevEnd, c.respPrevAck = prevEnd, prevAck
			if c.queue.len() > 0 {
				c.resp.ExpectResponseTo(t.expectation(c))
			} else {
				c.resp.ExpectResponseTo(httpparse.Expect{})
			}
		}
		feed := b
		if c.outOfStep != 0 && !c.resp.InMessage() && t.cfg.Pairing == PairingResync {
			// Out of step, a response that can anchor begins exactly where
			// a waiting request's ACK points: the parser is told so.
			pos := ch.Seq + uint32(len(ch.Data)-len(b))
			at, next := anchorPoints(c, pos, pos+uint32(len(b)))
			if at {
				c.resp.HintMessageStart()
			}
			feed = b[:next-pos]
		}
		skipping := c.resp.Resyncing()
		n, ev := c.resp.Feed(feed, ch.TS)
		b = b[n:]
		if skipping && n > 0 {
			t.mayBeAnswered(c)
		}
		c.respLastTS = ch.TS
		c.respEndSeq = ch.Seq + uint32(c.resp.Offset()-base)
		if ev&httpparse.Headers != 0 {
			c.respStartSeq = ch.Seq + uint32(c.resp.Message().StartOffset-base)
			countQuirks(&t.Stats.ResponseQuirks, c.resp.Message().Quirks)
		}
		t.onResponseEvent(c, ev, ch.TS)
		if c.tunnel == tunnelOpen && len(b) > 0 {
			t.upgrade(c) // the server spoke first in the tunnel: not HTTP
		}
		if c.upgraded || ev == 0 && (n == 0 || len(feed) == len(b)+n) {
			break // all fed (or nothing taken); a feed cut at an anchor point goes on
		}
	}
	c.lastDownEnd, c.lastDownAck = ch.Seq+uint32(len(ch.Data)), ch.Ack
	if ch.FIN {
		if c.confirm.active {
			// The server closing exactly where the anchored response ended
			// confirms the anchor; anywhere else refutes it.
			t.settleAnchor(c, c.confirm.respEndKnown && c.lastDownEnd == c.confirm.respEnd)
		}
		ev := c.resp.Close()
		if ev&httpparse.Done != 0 {
			t.onResponseEvent(c, ev, ch.TS)
		} else if c.answer != answerNone {
			// The server closed in the middle of a response: what it said
			// so far is the answer, marked as cut.
			t.finishResponse(c, ch.TS, "closed")
		}
		c.finDown = true
		t.orphanQueue(c, ch.TS, "closed")
	}
}

// anchorPoints looks at the sequence numbers that uncertain requests' first
// packets acknowledged (where a response answering one would begin): at
// says one is pos itself, next is the first after pos and before end, or
// end when there is none.
func anchorPoints(c *conn, pos, end uint32) (at bool, next uint32) {
	next = end
	for i := range c.queue.len() {
		r := c.queue.at(i)
		switch {
		case !r.uncertain:
		case r.ack == pos:
			at = true
		case after(r.ack, pos) && after(next, r.ack):
			next = r.ack
		}
	}
	return at, next
}
