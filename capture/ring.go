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

// DefaultRing is 16 MiB in 64 blocks of 256 KiB. The kernel hands a block
// over when it is full or after the block timeout, so on a quiet host each
// block may carry a few packets only: the number of blocks, not their
// size, sets how long the reader may stall before the kernel drops (64
// blocks of 2 ms: 128 ms at the least; at 100 MB/s of captured traffic,
// 160 ms). The 2 ms timeout bounds how long a segment waits for its block:
// beside nginx + wrk, segments reached the daemon 1.7 ms after their last
// packet at the median (3 ms with 4 ms blocks).
var DefaultRing = RingConfig{BlockSize: 256 << 10, Blocks: 64, BlockTimeout: 2 * time.Millisecond, PollTimeout: 100 * time.Millisecond}
