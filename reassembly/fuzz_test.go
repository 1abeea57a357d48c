package reassembly

import (
	"bytes"
	"testing"
	"time"
)

// FuzzStream cuts a known stream into segments and delivers them shuffled,
// duplicated and partly dropped, as ops says. Whatever happens, the bytes
// that come out are the stream's bytes at their true offsets, in order,
// gaps included, and the budget is fully returned.
func FuzzStream(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(5))
	f.Add([]byte{200, 3, 17, 90, 4, 4, 250, 1, 0, 9}, uint8(1))
	f.Fuzz(func(t *testing.T, ops []byte, segLen uint8) {
		const isn = 0xfffffff0 // wraps during the stream
		stream := make([]byte, 4096)
		for i := range stream {
			stream[i] = byte(i*7 + i/256)
		}
		size := int(segLen)%64 + 1
		type seg struct{ off, n int }
		var segs []seg
		for off := 0; off < len(stream); off += size {
			segs = append(segs, seg{off, min(size, len(stream)-off)})
		}
		// ops: swap, duplicate or drop segments.
		for i := 0; i+1 < len(ops); i += 2 {
			a, b := int(ops[i])%len(segs), int(ops[i+1])%len(segs)
			switch ops[i] % 3 {
			case 0:
				segs[a], segs[b] = segs[b], segs[a]
			case 1:
				segs = append(segs, segs[a])
			case 2:
				if len(segs) > 1 {
					segs = append(segs[:a], segs[a+1:]...)
				}
			}
		}
		b := &Budget{MaxBytes: 2048, MaxBytesPerStream: 1024, MaxSegments: 16}
		var s Stream
		s.Init(b)
		s.Push(isn, true, false, nil, 0, 0, time.Time{})
		pos := 0 // stream offset of the next byte out
		check := func(c Chunk) {
			pos += int(c.Gap)
			if int(c.Seq-(isn+1)) != pos {
				t.Fatalf("chunk at seq offset %d, expected %d", int(c.Seq-(isn+1)), pos)
			}
			if !bytes.Equal(c.Data, stream[pos:pos+len(c.Data)]) {
				t.Fatalf("wrong bytes at %d", pos)
			}
			pos += len(c.Data)
		}
		for _, g := range segs {
			data := stream[g.off : g.off+g.n]
			if c, ok := s.Push(isn+1+uint32(g.off), false, false, data, len(data), 0, time.Time{}); ok {
				check(c)
			}
			for c, ok := s.Next(); ok; c, ok = s.Next() {
				check(c)
			}
			if b.used > b.MaxBytes+size || s.oooSize > b.MaxBytesPerStream+size {
				t.Fatalf("holding %d bytes (stream %d) past the bounds", b.used, s.oooSize)
			}
		}
		for s.SkipHole() {
			for c, ok := s.Next(); ok; c, ok = s.Next() {
				check(c)
			}
		}
		s.Release()
		if b.used != 0 {
			t.Fatalf("%d bytes not returned to the budget", b.used)
		}
	})
}
