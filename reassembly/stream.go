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
// that share it, and counts what was given up.
type Budget struct {
	MaxBytes          int // all streams together
	MaxBytesPerStream int
	MaxSegments       int // per stream

	used int

	// Counters, read by the owner of the streams.
	OutOfOrder    uint64 // segments buffered ahead of a hole
	Retransmitted uint64 // segments whose bytes were all seen already
	Overflows     uint64 // holes given up because a bound was reached
	GapBytes      uint64 // bytes declared lost
	AckGaps       uint64 // holes declared lost because the peer acked them
	BufferedBytes int    // current, for memory accounting
}

// DefaultBudget suits a host agent: a few hundred busy connections can each
// hold a window of reordering.
func DefaultBudget() *Budget {
	return &Budget{MaxBytes: 64 << 20, MaxBytesPerStream: 1 << 20, MaxSegments: 1024}
}

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
	synced  bool
	ended   bool  // FIN delivered
	carry   int64 // lost bytes not yet reported in a chunk
	ooo     []segment
	oooSize int
	// peerAck: the peer acknowledged our bytes up to here (hasPeerAck).
	// A hole it covers is capture loss once data after it is here.
	peerAck    uint32
	hasPeerAck bool
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

// Synced reports whether the stream knows where its bytes start.
func (s *Stream) Synced() bool { return s.synced }

func after(a, b uint32) bool { return int32(a-b) > 0 }

// Push takes one segment. It returns the bytes deliverable from it now;
// call Next afterwards for buffered segments that it put in order.
// captured is the payload as captured; wireLen is its length on the wire
// (longer when the capture was truncated).
func (s *Stream) Push(seq uint32, syn, fin bool, captured []byte, wireLen int, ack uint32, ts time.Time) (Chunk, bool) {
	if syn {
		if !s.synced {
			s.next, s.synced = seq+1, true
		}
		seq++ // data on a SYN (TCP Fast Open) starts after it
		if wireLen == 0 && !fin {
			return Chunk{}, false // a bare SYN (or its repeat) carries nothing
		}
	}
	if !s.synced {
		if wireLen == 0 && !fin {
			return Chunk{}, false
		}
		// Picked up mid-stream: start where we are.
		s.next, s.synced = seq, true
	}
	if s.ended {
		return Chunk{}, false
	}
	if after(seq, s.next) {
		s.buffer(seq, captured, wireLen, ack, ts, fin)
		s.skipAckedHole()
		return Chunk{}, false
	}
	return s.deliver(seq, captured, wireLen, ack, ts, fin)
}

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
		if !s.SkipHole() {
			return // nothing held and still no room: drop it
		}
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

// Next returns a buffered segment that is now in order, if any.
func (s *Stream) Next() (Chunk, bool) {
	for len(s.ooo) > 0 && !s.ended && !after(s.ooo[0].seq, s.next) {
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
	if hole := int64(s.ooo[0].seq - s.next); int32(s.ooo[0].seq-s.next) > 0 {
		s.carry += hole
		s.budget.GapBytes += uint64(hole)
		s.next = s.ooo[0].seq
	}
	return true
}

// AckedTo tells the stream that its peer acknowledged bytes up to ack.
// Bytes acknowledged but never captured were lost by the capture, not by the
// network; but a packet captured out of order across the two directions
// (the ACK seen before the data it acknowledges) looks the same for a
// moment. So a hole is declared lost only once data after it is here too:
// then no reordering can fill it any more. It returns true when it declared
// a hole; call Next afterwards.
func (s *Stream) AckedTo(ack uint32) bool {
	if !s.synced || s.ended {
		return false
	}
	if !s.hasPeerAck || after(ack, s.peerAck) {
		s.peerAck, s.hasPeerAck = ack, true
	}
	return s.skipAckedHole()
}

// skipAckedHole skips the hole before the first buffered segment when the
// peer acknowledged all of it.
func (s *Stream) skipAckedHole() bool {
	if !s.hasPeerAck || len(s.ooo) == 0 || after(s.ooo[0].seq, s.peerAck) {
		return false
	}
	hole := int64(s.ooo[0].seq - s.next)
	if hole <= 0 {
		return false
	}
	s.carry += hole
	s.budget.GapBytes += uint64(hole)
	s.budget.AckGaps++
	s.next = s.ooo[0].seq
	return true
}

// Missing reports whether the peer acknowledged bytes this stream has not
// delivered: a hole not yet declared lost.
func (s *Stream) Missing() bool {
	return s.synced && s.hasPeerAck && after(s.peerAck, s.next+1)
}
