package segmenter

import (
	"bytes"
	"errors"
	"net/netip"
	"time"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/httpparse"
	"github.com/xray-capture/xray-capture/reassembly"
	"github.com/xray-capture/xray-capture/sampling"
	"github.com/xray-capture/xray-capture/xray"
)

// Namer names a segment from the request's Host header.
type Namer interface {
	AppendName(dst, host []byte) []byte
}

// Sink receives finished segments. It must not keep s or its slices.
type Sink interface {
	Emit(s *xray.Segment)
}

// Config sets up a Tracker. Zero durations and sizes take the defaults.
type Config struct {
	Ports []uint16 // server ports: a segment to one of them goes client→server
	Namer Namer
	IDs   xray.IDGen
	Sink  Sink

	SDKVersion string
	Origin     string // set by AWS plugins
	AWS        []byte // pre-encoded plugin members of "aws"

	ResponseTimeout time.Duration // a request unanswered this long is a timeout
	IdleTimeout     time.Duration // a connection silent this long is dropped
	MaxConnections  int
	MaxPending      int // requests waiting for a response on one connection
	ParseLimits     httpparse.Limits
	Budget          *reassembly.Budget
	// Sampler decides per request, unless X-Amzn-Trace-Id says Sampled=1
	// or Sampled=0. Nil samples everything.
	Sampler sampling.Sampler
}

// Defaults for Config's zero values.
const (
	DefaultResponseTimeout = 60 * time.Second
	DefaultIdleTimeout     = 120 * time.Second
	DefaultMaxConnections  = 65536
	DefaultMaxPending      = 64
	// DefaultParseBufferBytes bounds the header blocks and lines held by
	// all parsers together (slow senders hold theirs between packets).
	DefaultParseBufferBytes = 64 << 20
)

// Field bounds of xray-spec Part A.
const (
	maxURLBytes       = 2048
	maxUserAgentBytes = 2048
	maxClientIPBytes  = 256
)

// sweepEvery is how much packet time passes between timeout sweeps.
const sweepEvery = time.Second

type connKey struct {
	client, server         [16]byte
	clientPort, serverPort uint16
}

type span struct{ off, n int32 }

// pendingReq is a request waiting for its response; the bytes a segment
// needs are copied into buf once, at its header block.
type pendingReq struct {
	start                         time.Time
	seq                           uint32 // sequence number of its first byte
	buf                           []byte
	method, target, host, ua, xff span
	name, root, parent            span // segment name; well-formed ids of an incoming trace header
	hasHost, hasUA, hasXFF        bool
	expect                        httpparse.Expect
	gap, timedOut                 bool
	sampled                       bool
	rule                          string // centralized rule that sampled it
	// uncertain: queued after the connection lost step. It can never be
	// paired, only found unanswered (no response came after it at all).
	uncertain bool
}

func (r *pendingReq) get(s span) []byte { return r.buf[s.off : s.off+s.n] }

func (r *pendingReq) put(b []byte, limit int) span {
	b = xray.CutUTF8(b, limit)
	s := span{int32(len(r.buf)), int32(len(b))}
	r.buf = append(r.buf, b...)
	return s
}

type respState uint8

const (
	respNone    respState = iota
	respPaired            // headers seen, paired with the queue's head
	respDiscard           // headers seen, no request to pair with
)

type conn struct {
	key                 connKey
	clientIP, serverIP  netip.Addr
	clientPort, srvPort uint16
	up, down            reassembly.Stream // client→server, server→client
	req, resp           *httpparse.Parser
	queue               []pendingReq // ring buffer
	head, n             int
	lastSeen            time.Time
	lost                bool // pairing lost its certainty: new requests are queued as uncertain
	upgraded            bool
	finUp, finDown      bool
	resp1               respState
	respAck             uint32    // ACK of the packet where the current response began
	respLastTS          time.Time // capture time of the last response bytes seen
	midstream           bool      // picked up without the client's SYN
	older, newer        *conn     // the LRU list, most recently seen first
}

func (c *conn) front() *pendingReq { return &c.queue[c.head] }

func (c *conn) pop() {
	c.head = (c.head + 1) % len(c.queue)
	c.n--
}

// Tracker follows connections and turns HTTP exchanges into segments.
type Tracker struct {
	cfg     Config
	ports   [1024]uint64 // bitmap of server ports
	conns   map[connKey]*conn
	free    []*conn
	newest  *conn // LRU list of conns by last packet
	oldest  *conn
	now     time.Time
	sweepAt time.Time
	pkt     capture.Packet
	seg     xray.Segment
	nameBuf []byte
	urlBuf  []byte
	ipBuf   []byte
	random  [20]byte
	sreq    sampling.Request
	origin  []byte // cfg.Origin, for the sampler

	Stats Stats
}

// New returns a Tracker; it fails on a configuration that cannot work.
func New(cfg Config) (*Tracker, error) {
	if len(cfg.Ports) == 0 {
		return nil, errors.New("no server port configured")
	}
	if cfg.Namer == nil || cfg.Sink == nil {
		return nil, errors.New("a namer and a sink are required")
	}
	if cfg.IDs == nil {
		cfg.IDs = xray.NewIDGen()
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = DefaultResponseTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.IdleTimeout < cfg.ResponseTimeout {
		// A connection must not be dropped while a request on it may still
		// be answered in time.
		cfg.IdleTimeout = cfg.ResponseTimeout
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.ParseLimits.MaxLineBytes == 0 {
		b := cfg.ParseLimits.Budget
		cfg.ParseLimits = httpparse.DefaultLimits
		cfg.ParseLimits.Budget = b
	}
	if cfg.ParseLimits.Budget == nil {
		cfg.ParseLimits.Budget = &httpparse.Budget{MaxBytes: DefaultParseBufferBytes}
	}
	if cfg.Budget == nil {
		cfg.Budget = reassembly.DefaultBudget()
	}
	if cfg.Sampler == nil {
		cfg.Sampler = sampling.All{}
	}
	t := &Tracker{
		cfg:     cfg,
		conns:   make(map[connKey]*conn),
		nameBuf: make([]byte, 0, 256),
		urlBuf:  make([]byte, 0, maxURLBytes+64),
		ipBuf:   make([]byte, 0, 64),
	}
	for _, p := range cfg.Ports {
		t.ports[p/64] |= 1 << (p % 64)
	}
	t.seg.SDKVersion = cfg.SDKVersion
	t.seg.Origin = cfg.Origin
	t.origin = []byte(cfg.Origin)
	t.seg.AWS = cfg.AWS
	return t, nil
}

func (t *Tracker) isServerPort(p uint16) bool { return t.ports[p/64]&(1<<(p%64)) != 0 }

// HandleFrame decodes one captured frame and tracks it.
func (t *Tracker) HandleFrame(f capture.Frame) {
	t.Stats.Packets++
	t.Stats.Bytes += uint64(f.Length)
	switch capture.Decode(f.LinkType, f.Data, f.Timestamp, &t.pkt) {
	case capture.OK:
		t.HandlePacket(&t.pkt)
	case capture.NotTCP:
		t.Stats.NotTCP++
	case capture.Fragment:
		t.Stats.Fragments++
	case capture.Malformed:
		t.Stats.Malformed++
	case capture.UnknownLink:
		t.Stats.UnknownLink++
	}
}

// HandlePacket tracks one decoded TCP segment.
func (t *Tracker) HandlePacket(p *capture.Packet) {
	if p.Timestamp.After(t.now) {
		t.now = p.Timestamp
	}
	if !t.now.Before(t.sweepAt) {
		t.sweep()
	}
	var toServer bool
	switch {
	case t.isServerPort(p.DstPort):
		toServer = true
	case t.isServerPort(p.SrcPort):
	default:
		t.Stats.OtherPort++
		return
	}
	var key connKey
	if toServer {
		key = connKey{p.SrcIP.As16(), p.DstIP.As16(), p.SrcPort, p.DstPort}
	} else {
		key = connKey{p.DstIP.As16(), p.SrcIP.As16(), p.DstPort, p.SrcPort}
	}
	syn := p.Flags&capture.FlagSYN != 0
	fin := p.Flags&capture.FlagFIN != 0
	rst := p.Flags&capture.FlagRST != 0
	c := t.conns[key]
	if c == nil {
		if rst || (p.PayloadLen == 0 && !syn) {
			return // the tail of a connection we do not know
		}
		if len(t.conns) >= t.cfg.MaxConnections {
			// The bound is reached: the connection silent the longest makes
			// room, and what it held is counted.
			t.Stats.ConnTableFull++
			old := t.oldest
			t.flushStreams(old)
			t.dropQueue(old)
			t.release(old)
		}
		c = t.newConn(key, p, toServer, syn)
	}
	c.lastSeen = t.now
	t.touch(c)
	if rst {
		t.endConn(c, p.Timestamp, "reset")
		return
	}
	ackValid := p.Flags&capture.FlagACK != 0
	if !toServer && !syn && !c.down.Synced() && !c.midstream {
		// We saw the client's SYN but not the server's: server bytes may
		// have gone by unseen, so queued requests may have had answers.
		t.loseStep(c)
		t.dropQueue(c)
	}
	if toServer {
		if ackValid && c.down.AckedTo(p.Ack) {
			t.drainDown(c)
		}
		if ch, ok := c.up.Push(p.Seq, syn, fin, p.Payload, p.PayloadLen, p.Ack, p.Timestamp); ok {
			t.feedUp(c, ch)
		}
		t.drainUp(c)
	} else {
		if ackValid && c.up.AckedTo(p.Ack) {
			t.drainUp(c)
		}
		if ch, ok := c.down.Push(p.Seq, syn, fin, p.Payload, p.PayloadLen, p.Ack, p.Timestamp); ok {
			t.feedDown(c, ch)
		}
		t.drainDown(c)
	}
	if c.finUp && c.finDown {
		t.endConn(c, p.Timestamp, "closed")
	}
}

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
	queue := c.queue
	req, resp := c.req, c.resp
	up, down := c.up, c.down
	*c = conn{key: key, req: req, resp: resp, queue: queue, up: up, down: down}
	c.up.Init(t.cfg.Budget)
	c.down.Init(t.cfg.Budget)
	if toServer {
		c.clientIP, c.serverIP, c.clientPort, c.srvPort = p.SrcIP, p.DstIP, p.SrcPort, p.DstPort
	} else {
		c.clientIP, c.serverIP, c.clientPort, c.srvPort = p.DstIP, p.SrcIP, p.DstPort, p.SrcPort
	}
	if syn {
		c.req.Reset()
		c.resp.Reset()
	} else {
		// Picked up mid-stream: the first bytes may be the middle of a
		// message; the parsers look for a start line.
		c.midstream = true
		t.Stats.Midstream++
		c.req.ResetResync()
		c.resp.ResetResync()
	}
	t.conns[key] = c
	t.Stats.Connections++
	return c
}

// feedUp gives client bytes to the request parser.
func (t *Tracker) feedUp(c *conn, ch reassembly.Chunk) {
	if c.upgraded {
		return
	}
	if ch.Gap > 0 {
		tail := c.req.InMessage()
		if inStep, _ := c.req.Gap(ch.Gap); inStep {
			if tail && c.n > 0 {
				c.queue[(c.head+c.n-1)%len(c.queue)].gap = true
			}
		} else {
			t.loseStep(c)
		}
	}
	base := c.req.Offset()
	b := ch.Data
	for len(b) > 0 {
		n, ev := c.req.Feed(b, ch.TS)
		b = b[n:]
		if ev&httpparse.Headers != 0 {
			m := c.req.Message()
			t.onRequest(c, m, ch.Seq+uint32(m.StartOffset-base))
		}
		if ev&httpparse.Invalid != 0 {
			t.Stats.RequestParseErrors[c.req.InvalidReason()]++
			// The server may answer what we could not read; from here on a
			// response could belong to it.
			t.loseStep(c)
			if c.req.InvalidReason() == httpparse.ReasonBudget {
				t.evictHeaderHolders(c)
			}
		}
		if ev == 0 {
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
	if ch.Gap > 0 {
		switch inStep, done := c.resp.Gap(ch.Gap); {
		case !inStep:
			// Whole responses may have been lost: no queued request can be
			// paired any more.
			t.loseStep(c)
			t.dropQueue(c)
		case done:
			// The lost bytes were the end of the body: the response ended
			// with the last packet seen of it.
			t.onResponseEvent(c, httpparse.Done, c.respLastTS)
		}
	}
	b := ch.Data
	for len(b) > 0 {
		if !c.resp.InMessage() {
			c.respAck = ch.Ack
			if c.n > 0 {
				c.resp.ExpectResponseTo(c.front().expect)
			} else {
				c.resp.ExpectResponseTo(httpparse.Expect{})
			}
		}
		n, ev := c.resp.Feed(b, ch.TS)
		b = b[n:]
		c.respLastTS = ch.TS
		t.onResponseEvent(c, ev, ch.TS)
		if ev == 0 || c.upgraded {
			break
		}
	}
	if ch.FIN {
		ev := c.resp.Close()
		if ev&httpparse.Done != 0 {
			t.onResponseEvent(c, ev, ch.TS)
		} else if c.resp1 != respNone {
			// The server closed in the middle of a response: what it said
			// so far is the answer, marked as cut.
			t.finishResponse(c, ch.TS, "closed")
		}
		c.finDown = true
		t.orphanQueue(c, ch.TS, "closed")
	}
}

func (t *Tracker) onResponseEvent(c *conn, ev httpparse.Event, ts time.Time) {
	if ev&httpparse.Headers != 0 {
		t.onResponseHeaders(c, ev)
	}
	if ev&httpparse.Done != 0 && c.resp1 != respNone {
		t.finishResponse(c, ts, "")
		if ev&httpparse.Upgrade != 0 {
			c.upgraded = true
			t.Stats.Upgraded++
		}
	}
	if ev&httpparse.Invalid != 0 {
		t.Stats.ResponseParseErrors[c.resp.InvalidReason()]++
		c.resp1 = respNone
		t.loseStep(c)
		t.dropQueue(c)
		if c.resp.InvalidReason() == httpparse.ReasonBudget {
			t.evictHeaderHolders(c)
		}
	}
}

func (t *Tracker) onResponseHeaders(c *conn, ev httpparse.Event) {
	m := c.resp.Message()
	if m.Status < 200 && ev&httpparse.Upgrade == 0 {
		t.Stats.Informational++
		return
	}
	t.Stats.Responses++
	switch {
	case c.n == 0:
		t.Stats.UnpairedResponses++
		c.resp1 = respDiscard
		if c.up.Missing() {
			// The server had client bytes we have not seen (lost, or
			// captured late): the request this answers may still show up,
			// and must not be paired with a later response.
			t.loseStep(c)
		}
	case !after(c.respAck, c.front().seq):
		// The server had not received a byte of the queued request when it
		// sent this: it answers something we did not see.
		t.Stats.ResponseBeforeRequest++
		c.resp1 = respDiscard
	case c.front().uncertain:
		// It answers one of the uncertain requests or one lost before them:
		// none of them can be paired, nor called unanswered any more.
		t.Stats.UnpairedResponses++
		t.dropQueue(c)
		c.resp1 = respDiscard
	default:
		c.resp1 = respPaired
	}
}

func after(a, b uint32) bool { return int32(a-b) > 0 }

// finishResponse pairs the current response with the queue's head.
func (t *Tracker) finishResponse(c *conn, end time.Time, outcome string) {
	st := c.resp1
	c.resp1 = respNone
	if st != respPaired {
		return
	}
	r := c.front()
	if r.timedOut {
		t.Stats.LateResponses++
	} else {
		t.emit(c, r, c.resp.Message(), end, outcome)
	}
	c.pop()
}

// sample decides whether the request becomes a segment: an incoming
// Sampled=1 or Sampled=0 decides (Part A), else the sampler, which matches
// on the segment name already in t.nameBuf.
func (t *Tracker) sample(m *httpparse.Message, headerSampled int8) sampling.Decision {
	switch headerSampled {
	case 1:
		t.Stats.SampledByHeader++
		return sampling.Decision{Sampled: true}
	case 0:
		t.Stats.NotSampledHeader++
		return sampling.Decision{}
	}
	path := httpparse.PathOf(m.Target)
	t.sreq = sampling.Request{Host: m.Host, Method: m.Method, Path: path, ServiceName: t.nameBuf, ServiceType: t.origin}
	d := t.cfg.Sampler.Sample(m.Start, &t.sreq)
	if d.Sampled {
		t.Stats.SampledByRule++
	} else {
		t.Stats.NotSampledRule++
	}
	return d
}

// onRequest queues a parsed request, copying what its segment needs if it
// is sampled.
func (t *Tracker) onRequest(c *conn, m *httpparse.Message, seq uint32) {
	t.Stats.Requests++
	th := xray.TraceHeader{Sampled: -1}
	if m.HasTraceHeader {
		th = xray.ParseTraceHeader(m.TraceHeader)
	}
	if th.Sampled != 0 {
		t.nameBuf = t.cfg.Namer.AppendName(t.nameBuf[:0], m.Host)
	}
	d := t.sample(m, th.Sampled)
	if c.n == t.cfg.MaxPending {
		// Dropping one would shift every later pairing; stop pairing here.
		t.Stats.PendingOverflow++
		t.loseStep(c)
		return
	}
	if c.n == len(c.queue) {
		c.grow()
	}
	r := &c.queue[(c.head+c.n)%len(c.queue)]
	c.n++
	buf := r.buf[:0]
	*r = pendingReq{start: m.Start, seq: seq, buf: buf, uncertain: c.lost, sampled: d.Sampled, rule: d.RuleName}
	r.expect = httpparse.Expect{
		Head:    string(m.Method) == "HEAD",
		Connect: string(m.Method) == "CONNECT",
		HTTP09:  m.Major == 0,
	}
	r.gap = m.Gap
	if !d.Sampled {
		return // kept for pairing only; nothing to copy
	}
	r.method = r.put(m.Method, 64)
	r.target = r.put(m.Target, maxURLBytes)
	r.host, r.hasHost = r.put(m.Host, maxURLBytes), m.HasHost
	r.ua, r.hasUA = r.put(m.UserAgent, maxUserAgentBytes), m.HasUserAgent
	r.xff, r.hasXFF = r.put(firstForwarded(m.XForwardedFor), maxClientIPBytes), m.HasXForwardedFor
	r.name = r.put(t.nameBuf, len(t.nameBuf))
	r.root, r.parent = r.put(th.Root, len(th.Root)), r.put(th.Parent, len(th.Parent))
}

// grow doubles the ring (at most to MaxPending), keeping its order.
func (c *conn) grow() {
	n := max(4, 2*len(c.queue))
	q := make([]pendingReq, n)
	for i := range c.n {
		q[i] = c.queue[(c.head+i)%len(c.queue)]
	}
	c.queue, c.head = q, 0
}

// firstForwarded returns the first X-Forwarded-For entry, trimmed.
func firstForwarded(v []byte) []byte {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return httpparse.TrimOWS(v)
}

// loseStep stops pairing new requests on c: from here on the order of
// requests and responses cannot be known for certain.
func (t *Tracker) loseStep(c *conn) { c.lost = true }

// dropQueue counts the queued requests that can no longer be paired.
func (t *Tracker) dropQueue(c *conn) {
	for c.n > 0 {
		if !c.front().timedOut {
			t.Stats.UnpairedRequests++
		}
		c.pop()
	}
	c.resp1 = respNone
}

// orphanQueue sends the queued requests as unanswered.
func (t *Tracker) orphanQueue(c *conn, end time.Time, outcome string) {
	for c.n > 0 {
		r := c.front()
		if !r.timedOut {
			t.emit(c, r, nil, end, outcome)
		}
		c.pop()
	}
}

// endConn finishes a connection that was reset or closed on both sides.
func (t *Tracker) endConn(c *conn, ts time.Time, outcome string) {
	if c.resp1 != respNone {
		t.finishResponse(c, ts, outcome)
	}
	t.orphanQueue(c, ts, outcome)
	t.release(c)
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
			t.loseStep(c)
			t.dropQueue(c)
		}
	}
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
	c.up.Release()
	c.down.Release()
	for i := range c.queue {
		c.queue[i].buf = c.queue[i].buf[:0]
	}
	t.free = append(t.free, c)
}

// sweep times out requests and drops idle connections, by packet time.
func (t *Tracker) sweep() {
	t.sweepAt = t.now.Add(sweepEvery)
	idleBefore := t.now.Add(-t.cfg.IdleTimeout)
	for _, c := range t.conns {
		t.timeoutRequests(c)
		if c.lastSeen.Before(idleBefore) {
			t.Stats.IdleClosed++
			t.flushStreams(c)
			t.timeoutRequests(c)
			t.dropQueue(c) // none left: idle is longer than the response timeout
			t.release(c)
		}
	}
}

// timeoutRequests sends requests unanswered for ResponseTimeout as
// timeouts. They stay queued, so that a late response is recognised.
func (t *Tracker) timeoutRequests(c *conn) {
	for i := range c.n {
		r := &c.queue[(c.head+i)%len(c.queue)]
		if r.timedOut {
			continue
		}
		end := r.start.Add(t.cfg.ResponseTimeout)
		if end.After(t.now) {
			return // later ones are younger
		}
		if i == 0 && c.resp1 != respNone {
			return // being answered right now
		}
		t.emit(c, r, nil, end, "timeout")
		r.timedOut = true
	}
}

// Advance moves the tracker's clock to now when no packet has come for a
// while (live capture on a quiet host), so that timeouts still fire.
func (t *Tracker) Advance(now time.Time) {
	if now.After(t.now) {
		t.now = now
	}
	if !t.now.Before(t.sweepAt) {
		t.sweep()
	}
}

// flushStreams delivers what the reassembly still holds, holes declared lost.
func (t *Tracker) flushStreams(c *conn) {
	for c.up.SkipHole() {
		t.drainUp(c)
	}
	for c.down.SkipHole() {
		t.drainDown(c)
	}
}

// Close ends the input: every connection is flushed, requests older than
// the response timeout are sent as timeouts and the rest are counted as in
// flight. now is the time of the last packet (or the wall clock, live).
func (t *Tracker) Close(now time.Time) {
	if now.After(t.now) {
		t.now = now
	}
	for _, c := range t.conns {
		t.flushStreams(c)
		t.timeoutRequests(c)
		for c.n > 0 {
			if !c.front().timedOut {
				t.Stats.InFlightAtEnd++
			}
			c.pop()
		}
		t.release(c)
	}
	t.SyncStats()
}

// SyncStats copies the reassembly counters into Stats.
func (t *Tracker) SyncStats() {
	b := t.cfg.Budget
	t.Stats.OutOfOrder, t.Stats.Retransmitted, t.Stats.ReassemblyOverflows = b.OutOfOrder, b.Retransmitted, b.Overflows
	t.Stats.GapBytes, t.Stats.AckGaps = b.GapBytes, b.AckGaps
	t.Stats.OpenConnections = uint64(len(t.conns))
}
