package segmenter

import (
	"fmt"
	"testing"

	"github.com/xray-capture/xray-capture/capture"
)

// checkInvariants verifies what pairing.go promises of every connection,
// and that the table and its LRU list agree. Tests run it after every
// packet.
func checkInvariants(tr *Tracker) error {
	n := 0
	for c := tr.oldest; c != nil; c = c.newer {
		n++
		if tr.conns[c.key] != c {
			return fmt.Errorf("connection %v on the LRU list is not in the table", c.key)
		}
		if c.newer != nil && c.newer.lastSeen.Before(c.lastSeen) {
			return fmt.Errorf("LRU list out of order at %v", c.key)
		}
		if err := checkConn(tr, c); err != nil {
			return fmt.Errorf("connection %d→%d: %w", c.clientPort, c.serverPort, err)
		}
	}
	if n != len(tr.conns) {
		return fmt.Errorf("%d connections on the LRU list, %d in the table", n, len(tr.conns))
	}
	return nil
}

func checkConn(tr *Tracker, c *conn) error {
	q := &c.queue
	if q.n < 0 || q.n > len(q.ring) || q.n > tr.cfg.MaxPending {
		return fmt.Errorf("queue length %d (ring %d, bound %d)", q.n, len(q.ring), tr.cfg.MaxPending)
	}
	seenUncertain, seenUntimed := false, false
	for i := range q.len() {
		r := q.at(i)
		if r.uncertain {
			seenUncertain = true
			if c.outOfStep == 0 {
				return fmt.Errorf("request %d uncertain on a connection in step", i)
			}
		} else if seenUncertain {
			return fmt.Errorf("certain request %d queued after an uncertain one", i)
		}
		if !r.timedOut {
			seenUntimed = true
		} else if seenUntimed {
			return fmt.Errorf("request %d timed out after a younger one that did not", i)
		}
		if i > 0 && !q.at(i-1).uncertain && !r.uncertain && !after(r.seq, q.at(i-1).seq) {
			return fmt.Errorf("request %d (seq %d) not after request %d (seq %d)", i, r.seq, i-1, q.at(i-1).seq)
		}
		if r.sampled && r.deferSample {
			return fmt.Errorf("request %d both sampled and waiting for sampling", i)
		}
	}
	if c.confirm.active && c.outOfStep != 0 {
		return fmt.Errorf("an anchor awaits confirmation on a connection out of step")
	}
	if len(c.held) > 0 && !c.confirm.active || len(c.held) > maxHeld {
		return fmt.Errorf("%d exchanges held (anchor active %v)", len(c.held), c.confirm.active)
	}
	if c.answer == answerPaired {
		if q.len() == 0 {
			return fmt.Errorf("a response is paired with an empty queue")
		}
		if q.front().uncertain {
			return fmt.Errorf("a response is paired with an uncertain request")
		}
	}
	return nil
}

// handle gives p to tr and fails t when an invariant breaks.
func handle(t testing.TB, tr *Tracker, p *capture.Packet) {
	t.Helper()
	tr.HandlePacket(p)
	if err := checkInvariants(tr); err != nil {
		t.Fatalf("after packet %d→%d seq %d ack %d len %d flags %#x: %v",
			p.SrcPort, p.DstPort, p.Seq, p.Ack, p.PayloadLen, p.Flags, err)
	}
}
