package capture

import (
	"errors"
	"time"
)

// ErrTimeout is returned by a live source's ReadFrame when no packet came
// within its poll interval, so that the reader can look up from the loop.
var ErrTimeout = errors.New("no packet within the poll interval")

// KernelStats are a live socket's counters (PACKET_STATISTICS), summed
// since it opened.
type KernelStats struct {
	Packets, Drops, Freezes uint64
}

// RingConfig sizes the AF_PACKET TPACKET_V3 ring.
type RingConfig struct {
	BlockSize    int           // bytes, a multiple of the page size
	Blocks       int           // number of blocks
	BlockTimeout time.Duration // a block is handed over at the latest after this
	PollTimeout  time.Duration // ReadFrame returns ErrTimeout after this
}

// DefaultRing is 32 MiB: at 1,500-byte packets, a few tens of thousands of
// packets of slack before the kernel drops; blocks retire within 4 ms so
// that segments leave soon after their last packet.
var DefaultRing = RingConfig{BlockSize: 1 << 20, Blocks: 32, BlockTimeout: 4 * time.Millisecond, PollTimeout: 100 * time.Millisecond}
