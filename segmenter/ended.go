package segmenter

import (
	"time"

	"github.com/xray-capture/xray-capture/capture"
)

// endedTable remembers where the last connections ended by FIN or RST
// began and ended, per direction, so that a retransmission captured after
// the end (duplication, reordering, a late copy from a second tap) is
// known for what it is. Without it, such a packet has no connection and
// would open one mid-stream, and a request already traced would be traced
// again. The table is a fixed array, a lossy cache: an entry overwritten
// early only costs that protection for one connection.
type endedTable struct {
	slots [endedSlots]endedConn
}

const (
	endedSlots = 1024 // power of two
	endedProbe = 4    // slots tried per key
	// endedFor is how long an end is remembered, in packet time: Linux's
	// TIME_WAIT, after which the four-tuple may be used again.
	endedFor = 60 * time.Second
)

type endedConn struct {
	key      connKey
	at       time.Time // zero: the slot is free
	up, down seqRange
	haveUp   bool
	haveDown bool
	_        [2]byte
}

// seqRange is the sequence space one side used: [start, end).
type seqRange struct{ start, end uint32 }

func (r seqRange) holds(seq uint32, n int) bool {
	return !after(r.start, seq) && !after(seq+uint32(n), r.end)
}

func (e *endedTable) slot(k *connKey, i int) *endedConn {
	h := uint32(2166136261)
	for _, b := range k.client {
		h = (h ^ uint32(b)) * 16777619
	}
	for _, b := range k.server {
		h = (h ^ uint32(b)) * 16777619
	}
	h = (h ^ uint32(k.clientPort)) * 16777619
	h = (h ^ uint32(k.serverPort)) * 16777619
	return &e.slots[(int(h)+i)&(endedSlots-1)]
}

// remember records how c ended, at now.
func (e *endedTable) remember(c *conn, now time.Time) {
	var victim *endedConn
	for i := range endedProbe {
		s := e.slot(&c.key, i)
		if s.key == c.key || s.at.IsZero() {
			victim = s
			break
		}
		if victim == nil || s.at.Before(victim.at) {
			victim = s
		}
	}
	*victim = endedConn{key: c.key, at: now}
	if c.up.Synced() {
		victim.up, victim.haveUp = seqRange{c.up.Start(), c.up.Delivered()}, true
	}
	if c.down.Synced() {
		victim.down, victim.haveDown = seqRange{c.down.Start(), c.down.Delivered()}, true
	}
}

// retransmitted reports whether p, which has no connection, carries bytes
// of a connection on its four-tuple that ended less than endedFor ago.
// Anything else (a SYN, bytes past the end: the four-tuple used again)
// forgets the end.
func (e *endedTable) retransmitted(k *connKey, p *capture.Packet, toServer bool, now time.Time) bool {
	for i := range endedProbe {
		s := e.slot(k, i)
		if s.key != *k || s.at.IsZero() {
			continue
		}
		old := now.Sub(s.at) > endedFor
		if !old && p.Flags&capture.FlagSYN == 0 && p.PayloadLen > 0 &&
			(toServer && s.haveUp && s.up.holds(p.Seq, p.PayloadLen) ||
				!toServer && s.haveDown && s.down.holds(p.Seq, p.PayloadLen)) {
			return true
		}
		s.at = time.Time{}
		return false
	}
	return false
}
