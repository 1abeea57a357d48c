package segmenter

import (
	"time"

	"github.com/xray-capture/xray-capture/httpparse"
	"github.com/xray-capture/xray-capture/sampling"
	"github.com/xray-capture/xray-capture/xray"
)

// This file holds every decision about which response answers which request
// (docs/segments.md, Pairing). The rule: the i-th final response on a
// connection answers the i-th request (HTTP/1.1 keeps order, pipelining
// included), and a pair is made only when no loss can have shifted that
// order. The invariants, checked after every packet by the tests
// (invariants_test.go):
//
//   - the queue holds at most MaxPending requests, in stream order;
//   - requests queued while the connection was out of step (uncertain) all
//     come after the certain ones, and only while it is out of step;
//   - a response being paired (answerPaired) has a certain request at the
//     head of the queue;
//   - a request is sampled (takes a reservoir slot) only when it can become
//     a segment.

// pendingReq is a request waiting for its response; the bytes a segment
// needs are copied into buf once, at its header block.
type pendingReq struct {
	start                         time.Time
	seq                           uint32 // sequence number of its first byte
	buf                           []byte
	method, target, host, ua, xff span
	name, root, parent            span // segment name; well-formed ids of an incoming trace header
	traceState                    span // tracestate, when traceparent gave root and parent
	hasHost, hasUA, hasXFF        bool
	expect                        httpparse.Expect
	gap, timedOut                 bool
	sampled                       bool
	rule                          string // centralized rule that sampled it
	// uncertain: queued after the connection lost step. It can never be
	// paired, only found unanswered (no response came after it at all).
	uncertain bool
	// deferSample: fields copied, the rules not asked yet (uncertain).
	deferSample bool
	// For the ACK anchor: the ACK of its first packet, where its header
	// block ends, the ACK of the request before it, and the connection's
	// step losses when it came.
	ack, headerEnd, prevAck uint32
	hasPrevAck              bool
	lossSerial              uint32
	resync                  bool // paired at an ACK anchor: annotated
	tunnelled               bool // sent inside a CONNECT tunnel: annotated
	// noOrphan: a response came while it was uncertain, so it can no
	// longer be called unanswered.
	noOrphan bool
}

type span struct{ off, n int32 }

func (r *pendingReq) get(s span) []byte { return r.buf[s.off : s.off+s.n] }

func (r *pendingReq) put(b []byte, limit int) span {
	b = xray.CutUTF8(b, limit)
	s := span{int32(len(r.buf)), int32(len(b))}
	r.buf = append(r.buf, b...)
	return s
}

// pendingQueue is a connection's FIFO of requests awaiting a response: a
// ring that grows by doubling and keeps each slot's buffer for reuse.
type pendingQueue struct {
	ring    []pendingReq
	head, n int
}

func (q *pendingQueue) len() int { return q.n }

// at returns the i-th oldest request.
func (q *pendingQueue) at(i int) *pendingReq { return &q.ring[(q.head+i)%len(q.ring)] }

func (q *pendingQueue) front() *pendingReq { return q.at(0) }

func (q *pendingQueue) back() *pendingReq { return q.at(q.n - 1) }

// pushBack appends a slot and returns it, its buffer emptied but kept.
func (q *pendingQueue) pushBack() *pendingReq {
	if q.n == len(q.ring) {
		q.grow()
	}
	q.n++
	r := q.back()
	buf := r.buf[:0]
	*r = pendingReq{buf: buf}
	return r
}

func (q *pendingQueue) popFront() {
	q.head = (q.head + 1) % len(q.ring)
	q.n--
}

// grow doubles the ring, keeping its order.
func (q *pendingQueue) grow() {
	ring := make([]pendingReq, max(4, 2*len(q.ring)))
	for i := range q.n {
		ring[i] = *q.at(i)
	}
	q.ring, q.head = ring, 0
}

// reset empties the queue, keeping the slots' buffers.
func (q *pendingQueue) reset() {
	for i := range q.ring {
		q.ring[i].buf = q.ring[i].buf[:0]
	}
	q.head, q.n = 0, 0
}

// answerState says what the response being parsed will be paired with.
type answerState uint8

const (
	answerNone      answerState = iota // no response header block being answered
	answerPaired                       // headers seen, pairs with the queue's head
	answerDiscarded                    // headers seen, pairs with nothing
)

// responseVerdict names each outcome of deciding whom a final response's
// header block answers.
type responseVerdict uint8

const (
	// pairWithHead: the head of the queue, certainly.
	pairWithHead responseVerdict = iota
	// noRequestQueued: no request is waiting: it answers one we did not see.
	noRequestQueued
	// answersUnseenRequest: its ACK shows the server had not received a
	// byte of the head request when it sent this.
	answersUnseenRequest
	// answersUncertain: the head was queued out of step; this answers it or
	// one lost before it, which cannot be told apart.
	answersUncertain
)

// judgeResponse decides whom the response whose header block just parsed
// answers. It changes nothing.
func judgeResponse(c *conn) responseVerdict {
	switch {
	case c.queue.len() == 0:
		return noRequestQueued
	case !c.ackless && !after(c.respAck, c.queue.front().seq):
		return answersUnseenRequest
	case c.queue.front().uncertain:
		return answersUncertain
	}
	return pairWithHead
}

// stepLoss names why a connection lost step: from then on the order of
// requests and responses is not known for certain.
type stepLoss uint8

const (
	lossRequestGap        stepLoss = iota + 1 // client bytes lost where a message may have started
	lossResponseGap                           // server bytes lost where a message may have started
	lossRequestInvalid                        // client bytes that are not HTTP
	lossResponseInvalid                       // server bytes that are not HTTP
	lossPendingOverflow                       // a request over the pending bound was not queued
	lossHeaderEvicted                         // a partial header block was dropped for the buffer budget
	lossMissedHandshake                       // the client's SYN seen, the server's SYN-ACK not
	lossUnconfirmedAnchor                     // an ACK anchor was refuted
	lossMidstream                             // picked up mid-stream: requests before the first seen may be pending
)

// clientSide reports whether the loss may have cost the request stream its
// place (so an anchor needs the stronger proof).
func (l stepLoss) clientSide() bool {
	switch l {
	case lossRequestGap, lossRequestInvalid, lossPendingOverflow, lossHeaderEvicted, lossUnconfirmedAnchor, lossMidstream:
		return true
	}
	return false
}

// markOutOfStep stops certain pairing of new requests on c. An anchor still
// awaiting confirmation can no longer be confirmed: what it held, and what
// was queued after it, is dropped.
func (t *Tracker) markOutOfStep(c *conn, why stepLoss) {
	if c.confirm.active {
		c.confirm.active = false
		t.Stats.ResyncUnconfirmed += uint64(len(c.held))
		for i := range c.held {
			if c.held[i].req.deferSample {
				t.Stats.UnpairableRequests++
			}
		}
		c.held = c.held[:0]
		t.dropQueue(c)
	}
	if c.outOfStep == 0 {
		c.outOfStep = why
	}
	c.losses++
	if why.clientSide() {
		// Requests queued before it are no longer in step with those after.
		c.lossSerial++
		c.lostClientSide = true
	}
}

func after(a, b uint32) bool { return int32(a-b) > 0 }

// onRequest queues a parsed request, copying what its segment needs if it
// is sampled.
func (t *Tracker) onRequest(c *conn, m *httpparse.Message, seq, headerEnd uint32) {
	t.Stats.Requests++
	// The request before it counts only if no client byte was lost between
	// them: a lost request may have been pipelined with this one's ACK.
	ack, prevAck, hasPrevAck := c.reqStartAck, c.lastReqAck, c.hasLastReqAck && !c.upGapSinceReq
	c.lastReqAck, c.hasLastReqAck, c.upGapSinceReq = ack, true, false
	if c.confirm.active && after(ack, c.confirm.reqAck) {
		// The first request whose ACK advanced since the anchor must
		// acknowledge exactly the end of the anchored response.
		t.settleAnchor(c, c.confirm.respEndKnown && ack == c.confirm.respEnd)
	}
	if c.queue.len() == t.cfg.MaxPending && c.queue.front().uncertain {
		// Uncertain requests wait only as anchor candidates: the oldest
		// makes room.
		t.Stats.UnpairedRequests++
		t.popUnsent(c)
	}
	if c.queue.len() == t.cfg.MaxPending {
		// Dropping one would shift every later pairing; stop pairing here.
		t.Stats.PendingOverflow++
		t.Stats.UnpairableRequests++
		t.markOutOfStep(c, lossPendingOverflow)
		return
	}
	xa := xray.TraceHeader{Sampled: -1}
	if m.HasTraceHeader {
		xa = xray.ParseTraceHeader(m.TraceHeader)
	}
	th := &t.traceCtx
	th.Resolve(xa, m.TraceParent, m.HasTraceParent)
	r := c.queue.pushBack()
	r.start, r.seq, r.uncertain = m.Start, seq, c.outOfStep != 0
	r.ack, r.headerEnd, r.prevAck, r.hasPrevAck = ack, headerEnd, prevAck, hasPrevAck
	r.lossSerial = c.lossSerial
	r.expect = httpparse.Expect{
		Head:    string(m.Method) == "HEAD",
		Connect: string(m.Method) == "CONNECT",
		HTTP09:  m.Major == 0,
	}
	r.gap = m.Gap
	r.tunnelled = c.tunnel == tunnelHTTP
	decided := false
	if th.Sampled == 0 {
		t.Stats.NotSampledHeader++
		if !t.cfg.ViewUnsampled {
			return // kept for pairing only; nothing to copy
		}
		decided = true
	}
	t.nameBuf = t.cfg.Namer.AppendName(t.nameBuf[:0], m.Host, c.serverIP, c.serverPort)
	switch {
	case th.Sampled == 1:
		t.Stats.SampledByHeader++
		r.sampled, decided = true, true
	case th.Sampled < 0 && !r.uncertain:
		// An uncertain request may never become a segment: the rules decide
		// only when it does (sampleLate), so that it takes no reservoir slot
		// for nothing.
		d := t.sample(m.Start, m.Host, m.Method, httpparse.PathOf(m.Target))
		if !d.Sampled && !t.cfg.ViewUnsampled {
			return
		}
		r.sampled, r.rule, decided = d.Sampled, d.RuleName, true
	}
	r.method = r.put(m.Method, 64)
	r.target = r.put(m.Target, maxURLBytes)
	r.host, r.hasHost = r.put(m.Host, maxURLBytes), m.HasHost
	r.ua, r.hasUA = r.put(m.UserAgent, maxUserAgentBytes), m.HasUserAgent
	r.xff, r.hasXFF = r.put(firstForwarded(m.XForwardedFor), maxClientIPBytes), m.HasXForwardedFor
	r.name = r.put(t.nameBuf, len(t.nameBuf))
	r.root, r.parent = r.put(th.Root, len(th.Root)), r.put(th.Parent, len(th.Parent))
	r.traceState = span{}
	if th.FromTraceParent && m.HasTraceState {
		// W3C bounds tracestate at 32 members; 512 bytes is what it asks
		// a receiver to keep at least.
		r.traceState = r.put(m.TraceState, maxTraceStateBytes)
	}
	r.deferSample = !decided
}

// sample asks the sampler, which matches on the segment name already in
// t.nameBuf, and counts the decision.
func (t *Tracker) sample(start time.Time, host, method, path []byte) sampling.Decision {
	t.samplingReq = sampling.Request{Host: host, Method: method, Path: path, ServiceName: t.nameBuf, ServiceType: t.origin}
	d := t.cfg.Sampler.Sample(start, &t.samplingReq)
	if d.Sampled {
		t.Stats.SampledByRule++
	} else {
		t.Stats.NotSampledRule++
	}
	return d
}

// sampleLate decides, when an uncertain request is about to become a
// segment, whether the rules sample it.
func (t *Tracker) sampleLate(r *pendingReq) {
	r.deferSample = false
	t.nameBuf = append(t.nameBuf[:0], r.get(r.name)...)
	d := t.sample(r.start, r.get(r.host), r.get(r.method), httpparse.PathOf(r.get(r.target)))
	r.sampled, r.rule = d.Sampled, d.RuleName
}

// onResponseEvent acts on what the response parser reached.
func (t *Tracker) onResponseEvent(c *conn, ev httpparse.Event, ts time.Time) {
	if ev&httpparse.Headers != 0 {
		t.onResponseHeaders(c, ev)
	}
	if ev&httpparse.Done != 0 && c.answer != answerNone {
		connect := c.answer == answerPaired && c.queue.front().expect.Connect && c.resp.Message().Status >= 200
		t.finishResponse(c, ts, "")
		switch {
		case connect:
			t.onConnectAnswered(c, ev&httpparse.Upgrade != 0)
		case ev&httpparse.Upgrade != 0:
			t.upgrade(c)
		}
	}
	if ev&httpparse.Invalid != 0 {
		t.Stats.ResponseParseErrors[c.resp.InvalidReason()]++
		c.answer = answerNone
		t.markOutOfStep(c, lossResponseInvalid)
		t.unsettleQueue(c)
		if c.resp.InvalidReason() == httpparse.ReasonBudget {
			t.evictHeaderHolders(c)
		}
	}
}

func (t *Tracker) onResponseHeaders(c *conn, ev httpparse.Event) {
	m := c.resp.Message()
	if m.Interim() && ev&httpparse.Upgrade == 0 {
		t.Stats.Informational++
		return
	}
	t.Stats.Responses++
	if c.outOfStep != 0 {
		c.judgedOutOfStep = true
	}
	switch judgeResponse(c) {
	case pairWithHead:
		c.answer = answerPaired
	case noRequestQueued:
		// Every client byte it acknowledges was delivered (the gate), so
		// the request it answers is not still to come.
		t.Stats.UnpairedResponses++
		c.answer = answerDiscarded
	case answersUnseenRequest:
		t.Stats.ResponseBeforeRequest++
		c.answer = answerDiscarded
	case answersUncertain:
		if t.anchor(c) {
			c.answer = answerPaired
			return
		}
		// None of the queued requests can be paired by position, nor
		// called unanswered any more; they wait as anchor candidates.
		t.Stats.UnpairedResponses++
		c.answer = answerDiscarded
		if t.cfg.Pairing == PairingStrict {
			t.dropQueue(c)
			return
		}
		for i := range c.queue.len() {
			c.queue.at(i).noOrphan = true
		}
	}
}

// anchorState is an ACK anchor awaiting confirmation.
type anchorState struct {
	active       bool
	since        time.Time
	reqAck       uint32 // the anchored request's ACK
	respEnd      uint32 // where the anchored response ended (with respEndKnown)
	respEndKnown bool
}

// heldExchange is an exchange paired since the anchor, kept until the
// anchor is confirmed.
type heldExchange struct {
	req     pendingReq
	resp    httpparse.Message // numbers only: its slices are not read
	end     time.Time
	outcome string
}

// maxHeld bounds the exchanges awaiting an anchor's confirmation.
const maxHeld = 16

// anchor looks, among the uncertain requests, for the one the response
// just parsed provably answers (docs/pairing.md, Resuming at an ACK
// anchor). When it finds it, the requests before it are dropped, it and
// those after it become certain, and pairing goes on, held until the
// anchor is confirmed.
func (t *Tracker) anchor(c *conn) bool {
	if t.cfg.Pairing != PairingResync || c.confirm.active || c.ackless {
		return false // an anchor is proven by acknowledgements only
	}
	s := c.respStartSeq
	for i := range c.queue.len() {
		r := c.queue.at(i)
		switch {
		case !r.uncertain || r.lossSerial != c.lossSerial:
			continue
		case r.ack != s: // the request's first packet acknowledges exactly the response's first byte
			continue
		case !r.hasPrevAck || !after(r.ack, r.prevAck): // the client read something since its previous request
			continue
		case after(r.headerEnd, c.respAck): // the response acknowledges the whole request header
			continue
		case c.lostClientSide && (c.respPrevEnd != s || after(c.respPrevAck, r.seq)):
			// The request stream lost its place: the server's previous
			// segment must end exactly there, sent before this request came.
			continue
		}
		for range i {
			t.Stats.UnpairedRequests++
			t.popUnsent(c)
		}
		for j := range c.queue.len() {
			c.queue.at(j).uncertain = false
		}
		t.Stats.ResyncAnchors++
		c.outOfStep, c.lostClientSide = 0, false
		c.confirm = anchorState{active: true, since: t.now, reqAck: r.ack}
		return true
	}
	return false
}

// settleAnchor releases the held exchanges when the anchor is confirmed,
// or drops them (counted) and puts the connection out of step again.
func (t *Tracker) settleAnchor(c *conn, confirmed bool) {
	if !c.confirm.active {
		return
	}
	if confirmed {
		c.confirm.active = false
		for i := range c.held {
			h := &c.held[i]
			t.Stats.ResyncConfirmed++
			t.emit(c, &h.req, &h.resp, h.end, h.outcome)
		}
		c.held = c.held[:0]
		return
	}
	t.markOutOfStep(c, lossUnconfirmedAnchor)
}

// hold keeps the exchange of the queue's head until the anchor is settled.
func (t *Tracker) hold(c *conn, end time.Time, outcome string) {
	if len(c.held) < cap(c.held) {
		c.held = c.held[:len(c.held)+1]
	} else {
		c.held = append(c.held, heldExchange{})
	}
	h := &c.held[len(c.held)-1]
	r := c.queue.front()
	spare := h.req.buf[:0]
	h.req = *r
	h.req.resync = true
	r.buf = spare // the slot keeps a buffer of its own
	h.resp, h.end, h.outcome = *c.resp.Message(), end, outcome
	c.queue.popFront()
	if len(c.held) == 1 {
		c.confirm.respEnd, c.confirm.respEndKnown = c.respEndSeq, true
		// A request already queued (the ACK gate delivers client bytes
		// first) may be the one that confirms or refutes.
		for i := range c.queue.len() {
			if r := c.queue.at(i); after(r.ack, c.confirm.reqAck) {
				t.settleAnchor(c, r.ack == c.confirm.respEnd)
				return
			}
		}
	}
	if len(c.held) > maxHeld {
		t.settleAnchor(c, false)
	}
}

// finishResponse pairs the current response with the queue's head.
func (t *Tracker) finishResponse(c *conn, end time.Time, outcome string) {
	st := c.answer
	c.answer = answerNone
	if st != answerPaired {
		return
	}
	r := c.queue.front()
	switch {
	case r.timedOut:
		t.Stats.LateResponses++
	case c.confirm.active:
		t.hold(c, end, outcome)
		return
	default:
		t.emit(c, r, c.resp.Message(), end, outcome)
	}
	c.queue.popFront()
}

// unsettleQueue follows a loss of server bytes that may have held whole
// responses: the queued requests can no longer be paired by position, nor
// called unanswered. Strict pairing drops them (counted); resync keeps them
// as anchor candidates, since the request stream itself kept its place.
func (t *Tracker) unsettleQueue(c *conn) {
	if t.cfg.Pairing == PairingStrict {
		t.dropQueue(c)
		return
	}
	for i := range c.queue.len() {
		r := c.queue.at(i)
		r.uncertain, r.noOrphan = true, true
	}
	c.answer = answerNone
}

// dropQueue counts the queued requests that can no longer be paired.
func (t *Tracker) dropQueue(c *conn) {
	for c.queue.len() > 0 {
		if !c.queue.front().timedOut {
			t.Stats.UnpairedRequests++
		}
		t.popUnsent(c)
	}
	c.answer = answerNone
}

// popUnsent removes the queue's head, which will never be a segment.
func (t *Tracker) popUnsent(c *conn) {
	if c.queue.front().deferSample {
		t.Stats.UnpairableRequests++
	}
	c.queue.popFront()
}

// mayBeAnswered follows server bytes that no parsed response accounts for
// (skipped while looking for a start line): any of them may have answered
// a queued request, which therefore can no longer be called unanswered.
func (t *Tracker) mayBeAnswered(c *conn) {
	for i := range c.queue.len() {
		c.queue.at(i).noOrphan = true
	}
}

// orphanQueue sends the queued requests as unanswered, those a response
// may have answered (noOrphan) excepted: they are counted as unpaired.
func (t *Tracker) orphanQueue(c *conn, end time.Time, outcome string) {
	t.settleAnchor(c, false) // still unconfirmed: nothing after it is certain
	for c.queue.len() > 0 {
		r := c.queue.front()
		switch {
		case r.timedOut:
		case r.noOrphan:
			t.Stats.UnpairedRequests++
			t.popUnsent(c)
			continue
		default:
			t.emit(c, r, nil, end, outcome)
		}
		c.queue.popFront()
	}
}

// sendInProgress sends the requests still queued when the input ends as
// in-progress segments: started, not finished when the capture stopped. A
// response already begun lends them its status. Requests a response may
// have answered (noOrphan) are counted as unpaired instead.
func (t *Tracker) sendInProgress(c *conn) {
	for c.queue.len() > 0 {
		r := c.queue.front()
		switch {
		case r.timedOut:
		case r.noOrphan:
			t.Stats.UnpairedRequests++
			t.popUnsent(c)
			continue
		default:
			t.Stats.InFlightAtEnd++
			var resp *httpparse.Message
			if c.answer == answerPaired {
				resp = c.resp.Message()
			}
			c.answer = answerNone
			t.emit(c, r, resp, t.now, outcomeInProgress)
		}
		c.queue.popFront()
	}
	c.answer = answerNone
}

// endConn finishes a connection that was reset or closed on both sides.
func (t *Tracker) endConn(c *conn, ts time.Time, outcome string) {
	if c.answer != answerNone {
		t.finishResponse(c, ts, outcome)
	}
	t.orphanQueue(c, ts, outcome)
	t.ended.remember(c, t.now)
	t.release(c)
}

// timeoutRequests sends requests unanswered for ResponseTimeout as
// timeouts. They stay queued, so that a late response is recognised.
func (t *Tracker) timeoutRequests(c *conn) {
	for i := range c.queue.len() {
		r := c.queue.at(i)
		if r.timedOut {
			continue
		}
		end := r.start.Add(t.cfg.ResponseTimeout)
		if end.After(t.now) {
			return // later ones are younger
		}
		if i == 0 && c.answer != answerNone {
			return // being answered right now
		}
		if c.down.Hole() || c.confirm.active || r.noOrphan {
			// Server bytes are missing (the answer may be among them), or
			// pairing is not certain yet, or a response may have been its.
			return
		}
		t.emit(c, r, nil, end, "timeout")
		r.timedOut = true
	}
}
