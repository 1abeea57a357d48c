package xray

import (
	crand "crypto/rand"
	"encoding/binary"
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

// hexPairs holds the two lowercase hex digits of each byte as one
// little-endian uint16, for one load and one store a byte.
var hexPairs = func() (t [256]uint16) {
	for i := range t {
		t[i] = uint16(hexDigits[i>>4]) | uint16(hexDigits[i&0xf])<<8
	}
	return t
}()

func putHex(dst []byte, src []byte) {
	for i, c := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], hexPairs[c])
	}
}

// NewSegmentID writes 16 hex digits from 8 random bytes.
func NewSegmentID(random []byte, dst *[16]byte) {
	putHex(dst[:], random[:8])
}

// NewTraceID writes 1-<8 hex of start's epoch second>-<24 random hex>.
func NewTraceID(random []byte, start time.Time, dst *[35]byte) {
	dst[0], dst[1], dst[10] = '1', '-', '-'
	var sec [4]byte
	binary.BigEndian.PutUint32(sec[:], uint32(start.Unix()))
	putHex(dst[2:10], sec[:])
	putHex(dst[11:], random[:12])
}
