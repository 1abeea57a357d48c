package segmenter

import (
	"net/netip"
	"time"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/httpparse"
	"github.com/xray-capture/xray-capture/reassembly"
)

// This file holds the connection table: keys, the LRU list, creation,
// release, the idle sweep and the evictions that keep it bounded.

type connKey struct {
	client, server         [16]byte
	clientPort, serverPort uint16
}

type conn struct {
	key                    connKey
	clientIP, serverIP     netip.Addr
	clientPort, serverPort uint16
	// clientText is clientIP as text, formatted at the connection's first
	// segment for all of them (nClientText 0: not yet).
	clientText  [46]byte
	nClientText uint8
	up, down    reassembly.Stream // client→server, server→client
	req, resp   *httpparse.Parser
	queue       pendingQueue
	lastSeen    time.Time
	// outOfStep: pairing lost its certainty (and why); new requests are
	// queued as uncertain. Zero while in step.
	outOfStep stepLoss
	upgraded  bool
	tunnel    tunnelState
	// tunnelEarlyData: client bytes came after a CONNECT request and
	// before its answer, unread.
	tunnelEarlyData bool
	finUp, finDown  bool
	answer          answerState
	respAck         uint32    // ACK of the packet where the current response began
	respLastTS      time.Time // capture time of the last response bytes seen
	midstream       bool      // picked up without the client's SYN
	resetPending    bool      // a RST came; it ends c once no server byte is missing
	resetAt         time.Time
	resetBlind      bool   // the RST acknowledged nothing: it waits MaxHoleAge
	clientISN       uint32 // the client SYN's sequence number (with sawClientSYN)
	sawClientSYN    bool
	// Client SYNs with other initial sequence numbers, waiting for the
	// server to answer one of them (the last few, a ring).
	synCandidates  [4]uint32
	nSynCandidates uint32
	// ackless: a data packet came without the ACK flag, so acknowledgement
	// numbers prove nothing on c: no ACK judgement, no anchor.
	ackless      bool
	older, newer *conn // the LRU list, most recently seen first
	released     bool  // back on the free list

	// What the ACK anchor (pairing.go) needs to know.
	lossSerial      uint32 // step losses on the client's side so far
	losses          uint32 // step losses of any kind so far
	judgedOutOfStep bool   // a response was judged while out of step
	lostClientSide  bool   // a step loss since the last anchor was on the client's side
	lastReqAck      uint32 // the ACK of the last request's first packet (with hasLastReqAck)
	hasLastReqAck   bool
	upGapSinceReq   bool   // client bytes were lost since the last request
	reqStartAck     uint32 // the ACK of the packet where the current request began
	respStartSeq    uint32 // sequence number of the current response's first byte
	respEndSeq      uint32 // ... and of the byte after what was parsed of it
	respPrevEnd     uint32 // where the server segment before the current response ended
	respPrevAck     uint32 // ... and its ACK
	lastDownEnd     uint32 // where the last server segment delivered ended
	lastDownAck     uint32 // ... and its ACK
	confirm         anchorState
	held            []heldExchange // exchanges paired since the anchor, awaiting confirmation
}

// connFor returns the connection p belongs to, creating it when p can open
// one, or nil when p is the tail of a connection we do not know.
func (t *Tracker) connFor(key connKey, p *capture.Packet, toServer bool) *conn {
	syn := p.Flags&capture.FlagSYN != 0
	// Consecutive packets are often one connection's (a request, its
	// answer, the ACK): the last one found is tried before the map, whose
	// hash of the 36-byte key was a tenth of the tracker's time.
	c := t.lastConn
	if c == nil || c.key != key {
		c = t.conns[key]
		t.lastConn = c
	}
	if c != nil && syn && toServer && p.Flags&capture.FlagACK == 0 && !c.sawClientSYN &&
		c.up.Synced() && c.up.Start() == p.Seq+1 {
		// The SYN of a connection picked up at its first byte, captured
		// after that byte (reordering): the same connection.
		c.clientISN, c.sawClientSYN = p.Seq, true
	}
	if c != nil && syn && toServer && p.Flags&capture.FlagACK == 0 &&
		(!c.sawClientSYN || p.Seq != c.clientISN) {
		// A client SYN with another initial sequence number: a retried
		// handshake, a scanner, a flood, or a new connection on the same
		// four-tuple. Only the one the server answers counts: it waits.
		t.Stats.RepeatedSYNs++
		c.synCandidates[c.nSynCandidates%uint32(len(c.synCandidates))] = p.Seq
		c.nSynCandidates++
		return nil
	}
	if c != nil && syn && !toServer && p.Flags&capture.FlagACK != 0 && c.sawClientSYN && p.Ack-1 != c.clientISN &&
		(c.handshakeOnly() || c.isSynCandidate(p.Ack-1)) {
		// The server answered another SYN than the one kept: that
		// handshake is the connection.
		if c.handshakeOnly() {
			t.release(c)
			t.Stats.Connections-- // the same attempt, counted again below
		} else {
			// A new connection on the four-tuple: the old one ended, though
			// its end was not captured. What it held cannot be called
			// answered or unanswered.
			t.Stats.ReusedTuples++
			t.retire(c)
		}
		c = nil
	}
	if c != nil {
		return c
	}
	if p.Flags&capture.FlagRST != 0 || (p.PayloadLen == 0 && !syn) {
		return nil
	}
	if t.cfg.Servers != nil {
		client, server := p.SrcIP, p.DstIP
		if !toServer {
			client, server = server, client
		}
		if t.cfg.Servers.Elsewhere(client, server) {
			t.Stats.RemoteServer++
			return nil
		}
	}
	if t.ended.retransmitted(&key, p, toServer, t.now) {
		t.Stats.AfterEnd++
		return nil
	}
	if len(t.conns) >= t.cfg.MaxConnections {
		// The bound is reached: the connection silent the longest makes
		// room, and what it held is counted.
		t.Stats.ConnTableFull++
		t.retire(t.oldest)
	}
	return t.newConn(key, p, toServer, syn)
}

// handshakeOnly reports whether nothing but the handshake was seen on c.
func (c *conn) handshakeOnly() bool {
	return c.req.Offset() == 0 && !c.req.InMessage() && c.resp.Offset() == 0 && !c.resp.InMessage() &&
		c.queue.len() == 0 && c.up.Quiet() && c.down.Quiet()
}

func (c *conn) isSynCandidate(isn uint32) bool {
	for i := range min(int(c.nSynCandidates), len(c.synCandidates)) {
		if c.synCandidates[i] == isn {
			return true
		}
	}
	return false
}

// retire releases a connection whose end was not captured: what the
// reassembly holds is delivered, and the requests still queued are counted
// as unpaired.
func (t *Tracker) retire(c *conn) {
	t.flushStreams(c)
	t.settleAnchor(c, false)
	t.dropQueue(c)
	t.release(c)
}

func (t *Tracker) newConn(key connKey, p *capture.Packet, toServer, syn bool) *conn {
	var c *conn
	if n := len(t.free); n > 0 {
		c, t.free = t.free[n-1], t.free[:n-1]
	} else {
		c = &conn{
			req:  httpparse.New(httpparse.Request, t.cfg.ParseLimits),
			resp: httpparse.New(httpparse.Response, t.cfg.ParseLimits),
		}
	}
	queue, held := c.queue, c.held[:0]
	req, resp := c.req, c.resp
	up, down := c.up, c.down
	*c = conn{key: key, req: req, resp: resp, queue: queue, up: up, down: down, held: held}
	c.queue.reset()
	c.up.Init(t.cfg.Budget)
	c.down.Init(t.cfg.Budget)
	if toServer {
		c.clientIP, c.serverIP, c.clientPort, c.serverPort = p.SrcIP, p.DstIP, p.SrcPort, p.DstPort
	} else {
		c.clientIP, c.serverIP, c.clientPort, c.serverPort = p.DstIP, p.SrcIP, p.DstPort, p.SrcPort
	}
	if syn {
		c.req.Reset()
		c.resp.Reset()
		switch {
		case toServer && p.Flags&capture.FlagACK == 0:
			c.clientISN, c.sawClientSYN = p.Seq, true
			c.down.AwaitSYN()
		case !toServer && p.Flags&capture.FlagACK != 0:
			// The SYN-ACK names the client's SYN, which may come later
			// (reordered) and must not look like a new connection.
			c.clientISN, c.sawClientSYN = p.Ack-1, true
		}
	} else {
		// Picked up mid-stream: the first bytes may be the middle of a
		// message; the parsers look for a start line.
		c.midstream = true
		t.Stats.Midstream++
		// Requests sent before the capture may still be waiting, pipelined
		// ahead of the first one seen: pairing starts at an ACK anchor.
		t.markOutOfStep(c, lossMidstream)
		c.req.ResetResync()
		c.resp.ResetResync()
	}
	t.conns[key] = c
	t.Stats.Connections++
	return c
}

// touch moves c to the front of the LRU list.
func (t *Tracker) touch(c *conn) {
	if t.newest == c {
		return
	}
	t.unlink(c)
	c.older, c.newer = t.newest, nil
	if t.newest != nil {
		t.newest.newer = c
	}
	t.newest = c
	if t.oldest == nil {
		t.oldest = c
	}
}

func (t *Tracker) unlink(c *conn) {
	if c.newer != nil {
		c.newer.older = c.older
	} else if t.newest == c {
		t.newest = c.older
	}
	if c.older != nil {
		c.older.newer = c.newer
	} else if t.oldest == c {
		t.oldest = c.newer
	}
	c.older, c.newer = nil, nil
}

func (t *Tracker) release(c *conn) {
	t.unlink(c)
	c.req.Shrink()
	c.resp.Shrink()
	delete(t.conns, c.key)
	if t.lastConn == c {
		t.lastConn = nil
	}
	c.up.Release()
	c.down.Release()
	c.queue.reset()
	c.released = true
	t.free = append(t.free, c)
}

// sweep times out requests and drops idle connections, by packet time. It
// walks the connections oldest first, so that a replay emits in the same
// order every time.
func (t *Tracker) sweep() {
	t.sweepAt = t.now.Add(sweepEvery)
	idleBefore := t.now.Add(-t.cfg.IdleTimeout)
	for c := t.oldest; c != nil; {
		next := c.newer
		t.ageHoles(c, false)
		t.settle(c)
		if c.released {
			c = next
			continue
		}
		t.timeoutRequests(c)
		if c.confirm.active && t.now.Sub(c.confirm.since) >= t.cfg.ResponseTimeout {
			t.settleAnchor(c, false) // no confirmation came in time
		}
		if c.lastSeen.Before(idleBefore) {
			t.Stats.IdleClosed++
			t.flushStreams(c)
			t.settleAnchor(c, false)
			t.timeoutRequests(c)
			t.dropQueue(c) // none left: idle is longer than the response timeout
			t.release(c)
		}
		c = next
	}
}

// flushStreams delivers what the reassembly still holds, holes declared
// lost, client bytes first so that the gate lets every response through.
func (t *Tracker) flushStreams(c *conn) {
	for c.up.DeclareLost(reassembly.HoleNone) {
		t.drainUp(c)
	}
	c.down.Ungate()
	t.drainDown(c)
	for t.declareDownLost(c, reassembly.HoleNone) { // each call delivers what follows its hole
	}
}

// evictHeaderHolders makes room in the parsers' buffer budget by dropping
// the partial header blocks of the connections silent the longest (slow
// senders), down to three quarters of the budget. Each is counted.
func (t *Tracker) evictHeaderHolders(except *conn) {
	b := t.cfg.ParseLimits.Budget
	for c := t.oldest; c != nil && b.Used() > b.MaxBytes/4*3; c = c.newer {
		if c == except {
			continue
		}
		evicted := false
		if c.req.Holding() > 0 && c.req.InMessage() {
			c.req.Drop()
			evicted = true
		}
		if c.resp.Holding() > 0 && c.resp.InMessage() {
			c.resp.Drop()
			evicted = true
		}
		if evicted {
			t.Stats.HeaderEvictions++
			t.markOutOfStep(c, lossHeaderEvicted)
			t.dropQueue(c)
		}
	}
}
