package reassembly

import "time"

// Chunk is a run of in-order bytes. Gap bytes were lost just before Data.
type Chunk struct {
	Data []byte
	Seq  uint32 // sequence number of Data[0] (after the gap)
	Ack  uint32 // acknowledgement carried by the segment Data came from
	TS   time.Time
	Gap  int64
	FIN  bool // the stream ends after Data
}

// Budget bounds the bytes held for out-of-order segments by all the streams
// that share it, and how long a hole may wait, and counts what was given up.
type Budget struct {
	MaxBytes          int // all streams together
	MaxBytesPerStream int
	MaxSegments       int // per stream
	// A hole is declared lost once it is MaxHoleAge old in capture time, or
	// has waited through MaxHolePackets packets of its connection: not
	// before, because reordering (within a direction or across the two)
	// fills holes a few packets and milliseconds later.
	MaxHoleAge     time.Duration
	MaxHolePackets int

	used int

	// Counters, read by the owner of the streams.
	OutOfOrder    uint64 // segments buffered ahead of a hole
	Held          uint64 // in-order segments held until the peer bytes they acknowledge came
	Retransmitted uint64 // segments whose bytes were all seen already
	Overflows     uint64 // holes given up because a memory bound was reached
	GapBytes      uint64 // bytes declared lost
	AgedHoles     uint64 // holes declared lost at MaxHoleAge
	PacketHoles   uint64 // holes declared lost at MaxHolePackets
	BufferedBytes int    // current, for memory accounting
}

// DefaultBudget suits a host agent: a few hundred busy connections can each
// hold a window of reordering.
func DefaultBudget() *Budget {
	return &Budget{MaxBytes: 64 << 20, MaxBytesPerStream: 1 << 20, MaxSegments: 1024,
		MaxHoleAge: DefaultMaxHoleAge, MaxHolePackets: DefaultMaxHolePackets}
}

// Hole bounds of DefaultBudget: reordering measured on veth pairs and
// loopback needed about 5 ms or 8 packets; these leave a wide margin and
// still keep a live segment's delay after a real loss short.
const (
	DefaultMaxHoleAge     = 200 * time.Millisecond
	DefaultMaxHolePackets = 128
)

type segment struct {
	seq     uint32
	data    []byte // captured bytes
	wireLen int    // bytes the segment carried on the wire
	ack     uint32
	ts      time.Time
	fin     bool
}

// Stream is one direction of one connection.
type Stream struct {
	budget  *Budget
	next    uint32 // sequence number of the next byte to deliver
	start   uint32 // sequence number where the stream was picked up
	synced  bool
	ended   bool  // FIN delivered
	carry   int64 // lost bytes not yet reported in a chunk
	ooo     []segment
	oooSize int
	// peerAck: the peer acknowledged our bytes up to here (hasPeerAck):
	// bytes before it that we lack are a hole, as are bytes before a
	// buffered segment.
	peerAck    uint32
	hasPeerAck bool
	// gate: with gated, a segment is delivered only once its ACK is not
	// after gate (the peer's bytes it acknowledges were delivered).
	gate  uint32
	gated bool
	// The current hole: since when, and through how many packets.
	holeOpen  bool
	holeSince time.Time
	holePkts  int
	// awaitSYN: the stream's SYN is due, so data before it is held, not
	// taken as a mid-stream start.
	awaitSYN bool
	// tailLost: a hole with nothing buffered after it was declared lost;
	// Next reports it at once rather than with the next data.
	tailLost bool
}

// Init readies s for a new connection sharing budget b.
func (s *Stream) Init(b *Budget) {
	s.Release()
	*s = Stream{budget: b, ooo: s.ooo[:0]}
}

// Release gives back what s holds to the budget.
func (s *Stream) Release() {
	if s.budget != nil {
		s.budget.used -= s.oooSize
		s.budget.BufferedBytes = s.budget.used
	}
	for i := range s.ooo {
		s.ooo[i] = segment{}
	}
	s.ooo = s.ooo[:0]
	s.oooSize = 0
}

// SyncAt starts an unsynced stream at seq, known from elsewhere (the
// peer's SYN-ACK acknowledges the initial sequence number plus one), so
// that its first bytes, if lost, are a hole rather than a fresh start.
func (s *Stream) SyncAt(seq uint32) {
	if !s.synced {
		s.next, s.synced, s.start = seq, true, seq
	}
}

// Start is the sequence number where the stream was picked up (valid once
// Synced).
func (s *Stream) Start() uint32 { return s.start }

// AwaitSYN says the stream's SYN is due (the peer's SYN was captured):
// data that comes first waits for it, up to the hole bounds, instead of
// starting the stream where it is.
func (s *Stream) AwaitSYN() { s.awaitSYN = true }

// Synced reports whether the stream knows where its bytes start.
func (s *Stream) Synced() bool { return s.synced }

func after(a, b uint32) bool { return int32(a-b) > 0 }

// Push takes one segment. It returns the bytes deliverable from it now;
// call Next afterwards for buffered segments that it put in order.
// captured is the payload as captured; wireLen is its length on the wire
// (longer when the capture was truncated).
func (s *Stream) Push(seq uint32, syn, fin bool, captured []byte, wireLen int, ack uint32, ts time.Time) (Chunk, bool) {
	if syn {
		s.SyncAt(seq + 1)
		seq++ // data on a SYN (TCP Fast Open) starts after it
		if wireLen == 0 && !fin {
			return Chunk{}, false // a bare SYN (or its repeat) carries nothing
		}
	}
	if !s.synced {
		if wireLen == 0 && !fin {
			return Chunk{}, false
		}
		if s.awaitSYN {
			// The SYN is due (the peer's was seen): data before it was
			// reordered ahead of it, and waits like a hole.
			s.buffer(seq, captured, wireLen, ack, ts, fin)
			return Chunk{}, false
		}
		s.SyncAt(seq) // picked up mid-stream: start where we are
	}
	if s.ended {
		return Chunk{}, false
	}
	if after(seq, s.next) {
		s.buffer(seq, captured, wireLen, ack, ts, fin)
		return Chunk{}, false
	}
	if s.gated && after(ack, s.gate) || s.holding() {
		// In order, but it acknowledges peer bytes not delivered yet, or
		// held segments come before it: it waits its turn.
		s.budget.Held++
		s.buffer(seq, captured, wireLen, ack, ts, fin)
		return Chunk{}, false
	}
	return s.deliver(seq, captured, wireLen, ack, ts, fin)
}

// holding reports whether an in-order segment waits at the gate.
func (s *Stream) holding() bool { return len(s.ooo) > 0 && !after(s.ooo[0].seq, s.next) }

// Gate holds segments whose ACK is after limit (the peer's delivered
// position) until a later Gate moves it; Next then releases them.
func (s *Stream) Gate(limit uint32) { s.gate, s.gated = limit, true }

// Delivered is the sequence number of the next byte the stream will
// deliver.
func (s *Stream) Delivered() uint32 { return s.next }

// deliver trims what was already delivered and returns the rest.
func (s *Stream) deliver(seq uint32, captured []byte, wireLen int, ack uint32, ts time.Time, fin bool) (Chunk, bool) {
	skip := int(s.next - seq)
	if skip > wireLen || (skip == wireLen && !fin) {
		s.budget.Retransmitted++
		return Chunk{}, false
	}
	c := Chunk{Seq: s.next, Ack: ack, TS: ts, Gap: s.carry}
	if skip < len(captured) {
		c.Data = captured[skip:]
	}
	// Bytes on the wire past the captured ones were cut by the snap length.
	if lost := wireLen - max(skip, len(captured)); lost > 0 {
		s.carry = int64(lost)
		s.budget.GapBytes += uint64(lost)
	} else {
		s.carry = 0
	}
	s.next = seq + uint32(wireLen)
	if fin {
		c.FIN = true
		c.Gap += s.carry // nothing follows to carry it
		s.carry = 0
		s.ended = true
		s.next++
	}
	return c, true
}

func (s *Stream) buffer(seq uint32, captured []byte, wireLen int, ack uint32, ts time.Time, fin bool) {
	b := s.budget
	if len(s.ooo) >= b.MaxSegments || s.oooSize+len(captured) > b.MaxBytesPerStream ||
		b.used+len(captured) > b.MaxBytes {
		// No room: give up the oldest hole so that what is buffered flows
		// (the caller's Next delivers it). This one segment is still kept,
		// so a bound is exceeded by one segment at most.
		b.Overflows++
		if len(s.ooo) == 0 || !after(s.ooo[0].seq, s.next) {
			// Nothing to give up but segments held at the gate: drop this
			// one, a hole that ages like any other.
			return
		}
		s.SkipHole()
	}
	b.OutOfOrder++
	// Insert sorted by seq; segments mostly arrive nearly in order, so scan
	// from the end.
	i := len(s.ooo)
	for i > 0 && after(s.ooo[i-1].seq, seq) {
		i--
	}
	if i > 0 && s.ooo[i-1].seq == seq && s.ooo[i-1].wireLen >= wireLen {
		b.Retransmitted++
		return
	}
	seg := segment{seq: seq, data: append([]byte(nil), captured...), wireLen: wireLen, ack: ack, ts: ts, fin: fin}
	s.ooo = append(s.ooo, segment{})
	copy(s.ooo[i+1:], s.ooo[i:])
	s.ooo[i] = seg
	s.oooSize += len(captured)
	b.used += len(captured)
	b.BufferedBytes = b.used
}

// Next returns a buffered segment that is now in order and not held at the
// gate, if any, or the report of a lost tail.
func (s *Stream) Next() (Chunk, bool) {
	if !s.synced {
		return Chunk{}, false
	}
	if s.tailLost {
		s.tailLost = false
		if s.carry > 0 {
			c := Chunk{Seq: s.next, Gap: s.carry}
			s.carry = 0
			return c, true
		}
	}
	for len(s.ooo) > 0 && !s.ended && !after(s.ooo[0].seq, s.next) && !(s.gated && after(s.ooo[0].ack, s.gate)) {
		seg := s.ooo[0]
		copy(s.ooo, s.ooo[1:])
		s.ooo[len(s.ooo)-1] = segment{}
		s.ooo = s.ooo[:len(s.ooo)-1]
		s.oooSize -= len(seg.data)
		s.budget.used -= len(seg.data)
		s.budget.BufferedBytes = s.budget.used
		if c, ok := s.deliver(seg.seq, seg.data, seg.wireLen, seg.ack, seg.ts, seg.fin); ok {
			return c, true
		}
	}
	return Chunk{}, false
}

// SkipHole declares the bytes before the first buffered segment lost, so
// that Next can deliver it. It returns false when nothing is buffered.
func (s *Stream) SkipHole() bool {
	if len(s.ooo) == 0 || s.ended {
		return false
	}
	s.SyncAt(s.ooo[0].seq) // data that waited for a SYN that never came
	if hole := int64(s.ooo[0].seq - s.next); int32(s.ooo[0].seq-s.next) > 0 {
		s.carry += hole
		s.budget.GapBytes += uint64(hole)
		s.next = s.ooo[0].seq
	}
	s.holeOpen = false
	return true
}

// Ungate lifts the gate, for the end of the input.
func (s *Stream) Ungate() { s.gated = false }

// AckedTo tells the stream that its peer acknowledged bytes up to ack.
// Bytes acknowledged but not delivered are a hole: lost by the capture, or
// only captured late (reordering across the two directions looks the same
// for a while), so the hole waits to age (Age) before it is declared lost.
func (s *Stream) AckedTo(ack uint32) {
	if s.synced && (!s.hasPeerAck || after(ack, s.peerAck)) {
		s.peerAck, s.hasPeerAck = ack, true
	}
}

// Hole reports whether bytes are missing: before a buffered segment, or
// before what the peer acknowledged.
func (s *Stream) Hole() bool {
	if !s.synced {
		return s.awaitSYN && len(s.ooo) > 0 // data waits for its SYN
	}
	if s.ended {
		return false
	}
	if len(s.ooo) > 0 && after(s.ooo[0].seq, s.next) {
		return true
	}
	return s.hasPeerAck && after(s.peerAck, s.next)
}

// Quiet reports, cheaply enough for every packet, that the stream has no
// hole and holds nothing: Age and Next would do nothing.
func (s *Stream) Quiet() bool {
	return !s.holeOpen && len(s.ooo) == 0 && !s.tailLost && (!s.hasPeerAck || !after(s.peerAck, s.next))
}

// HoleVerdict says whether a hole has waited long enough.
type HoleVerdict uint8

const (
	HoleNone    HoleVerdict = iota // no hole
	HoleWaiting                    // a hole, still within its bounds
	HoleAged                       // older than MaxHoleAge
	HolePackets                    // waited through MaxHolePackets packets
)

// Age ages the current hole to now, counting one more packet of the
// connection when packet is set, and says whether it is past its bounds.
func (s *Stream) Age(now time.Time, packet bool) HoleVerdict {
	if !s.Hole() {
		s.holeOpen = false
		return HoleNone
	}
	if !s.holeOpen {
		s.holeOpen, s.holeSince, s.holePkts = true, now, 0
	}
	if packet {
		s.holePkts++
	}
	switch {
	case s.budget.MaxHoleAge > 0 && now.Sub(s.holeSince) >= s.budget.MaxHoleAge:
		return HoleAged
	case s.budget.MaxHolePackets > 0 && s.holePkts > s.budget.MaxHolePackets:
		return HolePackets
	}
	return HoleWaiting
}

// DeclareLost declares the current hole lost (verdict says why, for the
// counters): up to the first buffered segment, or up to the peer's
// acknowledgement when nothing is buffered after the hole. Call Next
// afterwards. It returns false when there is no hole.
func (s *Stream) DeclareLost(verdict HoleVerdict) bool {
	if !s.Hole() {
		return false
	}
	switch verdict {
	case HoleAged:
		s.budget.AgedHoles++
	case HolePackets:
		s.budget.PacketHoles++
	}
	if !s.synced || len(s.ooo) > 0 && after(s.ooo[0].seq, s.next) {
		// Up to the first buffered segment (when the SYN never came, the
		// stream starts there, as if picked up mid-stream).
		return s.SkipHole()
	}
	s.holeOpen = false
	hole := int64(s.peerAck - s.next)
	s.carry += hole
	s.budget.GapBytes += uint64(hole)
	s.next = s.peerAck
	s.tailLost = true
	return true
}
