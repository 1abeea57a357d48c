package segmenter

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/httpparse"
	"github.com/xray-capture/xray-capture/reassembly"
	"github.com/xray-capture/xray-capture/sampling"
	"github.com/xray-capture/xray-capture/xray"
)

// Namer names a segment from the request's Host header and the server
// side of its connection (naming.Namer).
type Namer interface {
	AppendName(dst, host []byte, server netip.Addr, port uint16) []byte
}

// Servers says whether a connection's server is one another agent traces
// (on a Kubernetes node: a pod of this node calling a server elsewhere).
// Called for packets that could open a connection; it must not allocate.
type Servers interface {
	Elsewhere(client, server netip.Addr) bool
}

// Resources gives the facts of a connection's server for the segment's
// "aws" object and its origin, such as the Kubernetes pod serving it; ok
// false when it knows none. It must not allocate; the bytes it returns
// must never change, as the tracker keeps them until the segment is sent.
type Resources interface {
	AWSOf(server netip.Addr, port uint16) (aws []byte, origin string, ok bool)
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
	// Servers, if set, says which connections have their server elsewhere;
	// those are not tracked (counted in RemoteServer).
	Servers Servers
	// Resources, if set, adds the server's facts (a pod's) to each
	// segment, and its origin replaces Origin.
	Resources Resources

	ResponseTimeout time.Duration // a request unanswered this long is a timeout
	IdleTimeout     time.Duration // a connection silent this long is dropped
	MaxConnections  int
	MaxPending      int // requests waiting for a response on one connection
	ParseLimits     httpparse.Limits
	Budget          *reassembly.Budget
	// Sampler decides per request, unless X-Amzn-Trace-Id says Sampled=1
	// or Sampled=0, or traceparent's flag does (xray.TraceContext). Nil
	// samples everything.
	Sampler sampling.Sampler
	// Pairing says whether a connection that lost step may resume at an
	// ACK anchor (docs/pairing.md).
	Pairing PairingMode
	// ViewUnsampled builds a segment for requests not sampled too, marked
	// NotSampled, for views that show every request (--print, --summary).
	// It costs a segment per request instead of per sampled one.
	ViewUnsampled bool
}

// PairingMode chooses what a connection does after a loss that destroyed
// its framing.
type PairingMode uint8

const (
	// PairingResync resumes at a proven, confirmed ACK anchor; such
	// segments carry annotation pairing: ack-resync.
	PairingResync PairingMode = iota
	// PairingStrict sends only certain pairs: a connection that lost step
	// stays out of step until it closes.
	PairingStrict
)

// ParsePairingMode reads "resync" or "strict".
func ParsePairingMode(s string) (PairingMode, error) {
	switch s {
	case "resync":
		return PairingResync, nil
	case "strict":
		return PairingStrict, nil
	}
	return 0, fmt.Errorf("pairing %q: want resync or strict", s)
}

func (m PairingMode) String() string {
	if m == PairingStrict {
		return "strict"
	}
	return "resync"
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

// Field bounds (docs/segments.md, Size limits).
const (
	maxURLBytes        = 2048
	maxUserAgentBytes  = 2048
	maxTraceStateBytes = 512
	maxClientIPBytes   = 256
)

// sweepEvery is how much packet time passes between timeout sweeps.
const sweepEvery = time.Second

// Tracker follows connections and turns HTTP exchanges into segments.
type Tracker struct {
	cfg         Config
	ports       [1024]uint64 // bitmap of server ports
	conns       map[connKey]*conn
	lastConn    *conn      // the connection of the last lookup (connFor); nil after its release
	ended       endedTable // where recently ended connections' bytes lay
	free        []*conn
	newest      *conn // LRU list of conns by last packet
	oldest      *conn
	now         time.Time
	sweepAt     time.Time
	pkt         capture.Packet
	seg         xray.Segment
	nameBuf     []byte
	urlBuf      []byte
	random      [20]byte
	traceCtx    xray.TraceContext // holds a traceparent's X-Ray root: no allocation
	samplingReq sampling.Request
	origin      []byte // cfg.Origin, for the sampler

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
	if cfg.Budget.MaxHoleAge <= 0 {
		cfg.Budget.MaxHoleAge = reassembly.DefaultMaxHoleAge
	}
	if cfg.Budget.MaxHolePackets <= 0 {
		cfg.Budget.MaxHolePackets = reassembly.DefaultMaxHolePackets
	}
	if cfg.Sampler == nil {
		cfg.Sampler = sampling.All{}
	}
	t := &Tracker{
		cfg:     cfg,
		conns:   make(map[connKey]*conn),
		nameBuf: make([]byte, 0, 256),
		urlBuf:  make([]byte, 0, maxURLBytes+64),
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
	switch capture.DecodeFrame(f, &t.pkt) {
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
	c := t.connFor(key, p, toServer)
	if c == nil {
		return // the tail of a connection we do not know
	}
	c.lastSeen = t.now
	t.touch(c)
	syn := p.Flags&capture.FlagSYN != 0
	fin := p.Flags&capture.FlagFIN != 0
	ack := p.Ack
	if p.Flags&(capture.FlagACK|capture.FlagSYN|capture.FlagRST) == 0 {
		// No acknowledgement (crafted or broken captures): its number is
		// noise. It gates nothing, and ACKs prove nothing on c from now on.
		c.ackless = true
		if toServer {
			ack = c.down.Delivered()
		} else {
			ack = c.up.Delivered()
		}
	}
	if p.Flags&capture.FlagACK != 0 {
		// What one side acknowledged of the other's bytes is a hole in the
		// other direction until those bytes are delivered. A stream not
		// started yet starts there: what came before is older than the
		// capture (mid-stream) or named by the handshake (the SYN-ACK
		// acknowledges the client's first byte; a client's ACK sent before
		// any request byte, the server's first byte, as an HTTP server has
		// sent nothing by then).
		if toServer {
			if c.midstream || c.sawClientSYN && p.Seq == c.clientISN+1 {
				c.down.SyncAt(p.Ack)
			}
			c.down.AckedTo(p.Ack)
		} else {
			if syn && c.midstream && c.up.Synced() && after(c.up.Start(), p.Ack) {
				// A SYN-ACK captured late shows that the client's first bytes
				// came before where we picked the stream up: requests went
				// by unseen, and their answers may still come.
				t.markOutOfStep(c, lossRequestGap)
				t.dropQueue(c)
			}
			c.up.SyncAt(p.Ack)
			c.up.AckedTo(p.Ack)
			if syn {
				t.adoptHandshake(c, p.Ack, p.Seq+1)
			}
		}
	}
	switch {
	case p.Flags&capture.FlagRST != 0:
		t.onReset(c, p, toServer)
	case toServer:
		if ch, ok := c.up.Push(p.Seq, syn, fin, p.Payload, p.PayloadLen, ack, p.Timestamp); ok {
			t.feedUp(c, ch)
		}
		t.drainUp(c)
		t.drainGatedDown(c)
	default:
		t.gateDown(c)
		if ch, ok := c.down.Push(p.Seq, syn, fin, p.Payload, p.PayloadLen, ack, p.Timestamp); ok {
			t.feedDown(c, ch)
		}
		t.drainDown(c)
	}
	if c.released {
		return // ended
	}
	t.ageHoles(c, true)
	t.settle(c)
}

// adoptHandshake takes a SYN-ACK captured after the data of a connection
// picked up mid-stream (reordering): when both streams began exactly where
// it says, nothing went by unseen, and the connection is in step after all,
// unless a response was already judged meanwhile (out of step, it paired
// with nothing, and the queue no longer lines up with the responses).
func (t *Tracker) adoptHandshake(c *conn, clientStart, serverStart uint32) {
	if !c.midstream || c.outOfStep != lossMidstream || c.losses != 1 || c.judgedOutOfStep || c.resp.InMessage() ||
		c.up.Synced() && c.up.Start() != clientStart || c.down.Synced() && c.down.Start() != serverStart {
		return
	}
	c.midstream, c.outOfStep, c.lostClientSide = false, 0, false
	c.sawClientSYN, c.clientISN = true, clientStart-1
	for i := range c.queue.len() {
		c.queue.at(i).uncertain = false
	}
}

// gateDown holds server bytes whose ACK covers client bytes not delivered
// yet, so that a response is parsed only after every request the server
// had received when it sent it (ACK gating): reordering between the two
// directions then cannot change a pairing.
func (t *Tracker) gateDown(c *conn) {
	if c.up.Synced() {
		c.down.Gate(c.up.Delivered())
	}
}

// drainGatedDown releases the server bytes that client bytes just
// delivered have ungated.
func (t *Tracker) drainGatedDown(c *conn) {
	t.gateDown(c)
	if !c.down.Quiet() {
		t.drainDown(c)
	}
}

// ageHoles declares lost the holes of c that are past their bounds
// (reassembly.Budget), and delivers what follows them.
func (t *Tracker) ageHoles(c *conn, packet bool) {
	if c.up.Quiet() && c.down.Quiet() {
		return // the usual case: nothing missing, nothing held
	}
	for v := c.up.Age(t.now, packet); v >= reassembly.HoleAged; v = c.up.Age(t.now, false) {
		c.up.DeclareLost(v)
		t.drainUp(c)
		t.drainGatedDown(c)
	}
	for v := c.down.Age(t.now, packet); v >= reassembly.HoleAged; v = c.down.Age(t.now, false) {
		t.declareDownLost(c, v)
	}
}

// declareDownLost declares the server stream's current hole lost and
// delivers what follows it. When the hole was the server's handshake (its
// SYN-ACK never came while its data did), server bytes may have gone by
// unseen: the queued requests may have had answers.
func (t *Tracker) declareDownLost(c *conn, v reassembly.HoleVerdict) bool {
	synced := c.down.Synced()
	if !c.down.DeclareLost(v) {
		return false
	}
	if !synced {
		t.markOutOfStep(c, lossMissedHandshake)
		t.unsettleQueue(c)
		c.resp.ResetResync()
	}
	t.drainDown(c)
	return true
}

// onReset ends c on a RST, once every server byte sent before it has been
// delivered: only then can a request still queued be called unanswered. A
// RST captured ahead of those bytes waits for them (or for their hole to
// be declared lost, which leaves no request to call unanswered).
func (t *Tracker) onReset(c *conn, p *capture.Packet, toServer bool) {
	// The RST comes after its sender's bytes up to its sequence number;
	// those are awaited like acknowledged ones.
	if toServer {
		c.up.AckedTo(p.Seq)
	} else {
		c.down.AckedTo(p.Seq)
	}
	c.resetPending, c.resetAt = true, p.Timestamp
	// A client's RST without ACK says nothing of the server's bytes: their
	// answers may still be captured late, so it waits as a hole would.
	c.resetBlind = toServer && p.Flags&capture.FlagACK == 0
}

// settle ends c when a RST or both FINs ended it and nothing it awaited is
// still missing.
func (t *Tracker) settle(c *conn) {
	switch {
	case c.resetPending && (c.resetBlind && t.now.Sub(c.resetAt) >= t.cfg.Budget.MaxHoleAge ||
		!c.resetBlind && !c.down.Hole() && !c.up.Hole()):
		t.endOnReset(c)
	case c.finUp && c.finDown:
		t.endConn(c, t.now, "closed")
	}
}

// endOnReset ends c on the RST it waited for: the requests still queued
// are unanswered if the RST said where the server's bytes ended, and
// unproven (counted, not sent) if it did not.
func (t *Tracker) endOnReset(c *conn) {
	if c.resetBlind {
		t.retire(c)
		return
	}
	t.endConn(c, c.resetAt, "reset")
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

// Close ends the input: every connection is flushed, oldest first,
// requests older than the response timeout are sent as timeouts and the
// rest as in-progress segments. now is the time of the last packet (or the
// wall clock, live).
func (t *Tracker) Close(now time.Time) {
	if now.After(t.now) {
		t.now = now
	}
	for t.oldest != nil {
		c := t.oldest
		t.flushStreams(c)
		if c.resetPending {
			t.endOnReset(c) // nothing more will be captured
			continue
		}
		t.timeoutRequests(c)
		t.settleAnchor(c, false) // unconfirmed at the end: what it held stays unproven
		t.sendInProgress(c)
		t.release(c)
	}
	t.SyncStats()
}

// SyncStats copies the reassembly counters into Stats.
func (t *Tracker) SyncStats() {
	b := t.cfg.Budget
	t.Stats.OutOfOrder, t.Stats.Retransmitted, t.Stats.ReassemblyOverflows = b.OutOfOrder, b.Retransmitted, b.Overflows
	t.Stats.GapBytes, t.Stats.Held = b.GapBytes, b.Held
	t.Stats.HolesLostAge, t.Stats.HolesLostPackets = b.AgedHoles, b.PacketHoles
	t.Stats.OpenConnections = uint64(len(t.conns))
}
