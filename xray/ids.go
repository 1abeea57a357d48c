package xray

import (
	crand "crypto/rand"
	"math/rand/v2"
	"time"
)

// IDGen fills b with random bytes for segment and trace ids.
type IDGen interface {
	Read(b []byte) (int, error)
}

// NewIDGen returns a ChaCha8 generator seeded from the operating system's
// CSPRNG: cryptographic-quality ids without a system call per id.
func NewIDGen() IDGen {
	var seed [32]byte
	crand.Read(seed[:])
	return rand.NewChaCha8(seed)
}

// NewSeededIDGen returns a deterministic generator, for tests and goldens.
func NewSeededIDGen(seed uint64) IDGen {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

func putHex(dst []byte, src []byte) {
	for i, c := range src {
		dst[2*i] = hexDigits[c>>4]
		dst[2*i+1] = hexDigits[c&0xf]
	}
}

// NewSegmentID writes 16 hex digits from 8 random bytes.
func NewSegmentID(random []byte, dst *[16]byte) {
	putHex(dst[:], random[:8])
}

// NewTraceID writes 1-<8 hex of start's epoch second>-<24 random hex>.
func NewTraceID(random []byte, start time.Time, dst *[35]byte) {
	dst[0], dst[1], dst[10] = '1', '-', '-'
	sec := uint32(start.Unix())
	for i := range 8 {
		dst[9-i] = hexDigits[sec&0xf]
		sec >>= 4
	}
	putHex(dst[11:], random[:12])
}
