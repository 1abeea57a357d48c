package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"
)

// pcapBytes writes a classic pcap file by hand: the reader is checked
// against the format, not against another reader.
func pcapBytes(order binary.ByteOrder, nano bool, snaplen uint32, records [][]byte) []byte {
	var b bytes.Buffer
	magic := uint32(pcapMagicMicro)
	if nano {
		magic = pcapMagicNano
	}
	h := make([]byte, 24)
	order.PutUint32(h, magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], snaplen)
	order.PutUint32(h[20:], 1)
	b.Write(h)
	for i, r := range records {
		rh := make([]byte, 16)
		order.PutUint32(rh, uint32(1700000000+i))
		order.PutUint32(rh[4:], 500)
		order.PutUint32(rh[8:], uint32(len(r)))
		order.PutUint32(rh[12:], uint32(len(r)+10))
		b.Write(rh)
		b.Write(r)
	}
	return b.Bytes()
}

func TestPcapReaderRecords(t *testing.T) {
	// Records that straddle a small buffer's end, and one longer than the
	// whole buffer, read through a reader that returns a byte at a time.
	var records [][]byte
	for i := range 40 {
		r := bytes.Repeat([]byte{byte(i)}, 7+i*13)
		if i == 20 {
			r = bytes.Repeat([]byte{0xee}, 3000)
		}
		records = append(records, r)
	}
	for _, tc := range []struct {
		name  string
		order binary.ByteOrder
		nano  bool
	}{{"little-endian µs", binary.LittleEndian, false}, {"big-endian ns", binary.BigEndian, true}} {
		file := pcapBytes(tc.order, tc.nano, 65535, records)
		p, err := newPcapReader(iotest.OneByteReader(bytes.NewReader(file)), 512)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if p.linkType != 1 {
			t.Errorf("%s: link type %d", tc.name, p.linkType)
		}
		frac := 500 * time.Microsecond
		if tc.nano {
			frac = 500 * time.Nanosecond
		}
		for i, want := range records {
			data, ts, wire, err := p.next()
			if err != nil {
				t.Fatalf("%s: record %d: %v", tc.name, i, err)
			}
			if !bytes.Equal(data, want) || wire != len(want)+10 || !ts.Equal(time.Unix(int64(1700000000+i), 0).Add(frac)) {
				t.Fatalf("%s: record %d: %d bytes, wire %d, time %v", tc.name, i, len(data), wire, ts)
			}
		}
		if _, _, _, err := p.next(); err != io.EOF {
			t.Errorf("%s: at the end: %v, want io.EOF", tc.name, err)
		}
	}
}

func TestPcapReaderDamage(t *testing.T) {
	good := pcapBytes(binary.LittleEndian, false, 65535, [][]byte{[]byte("abcdef"), []byte("ghijkl")})
	read := func(b []byte) error {
		p, err := newPcapReader(bytes.NewReader(b), 64)
		if err != nil {
			return err
		}
		for {
			if _, _, _, err := p.next(); err != nil {
				return err
			}
		}
	}
	if err := read(good); err != io.EOF {
		t.Errorf("good file: %v", err)
	}
	for cut := 25; cut < len(good); cut++ {
		if cut == 24+16+6 {
			continue // a record boundary: a clean end
		}
		if err := read(good[:cut]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
	huge := pcapBytes(binary.LittleEndian, false, 65535, [][]byte{[]byte("x")})
	binary.LittleEndian.PutUint32(huge[24+8:], 1<<30)
	binary.LittleEndian.PutUint32(huge[24+12:], 1<<30)
	if err := read(huge); err == nil || err.Error() != "capture length exceeds snap length: 1073741824 > 65535" {
		t.Errorf("huge record: %v", err)
	}
	longer := pcapBytes(binary.LittleEndian, false, 65535, [][]byte{[]byte("x")})
	binary.LittleEndian.PutUint32(longer[24+12:], 0)
	if err := read(longer); err == nil || err.Error() != "capture length exceeds original packet length: 1 > 0" {
		t.Errorf("record longer than the packet: %v", err)
	}
	if _, err := newPcapReader(bytes.NewReader(good[:20]), 64); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short header: %v", err)
	}
	bad := append([]byte(nil), good...)
	bad[4] = 3
	if _, err := newPcapReader(bytes.NewReader(bad), 64); err == nil || err.Error() != "unknown pcap version 3.4" {
		t.Errorf("version 3.4: %v", err)
	}
}

func TestPcapReaderDoesNotAlloc(t *testing.T) {
	records := make([][]byte, 1000)
	for i := range records {
		records[i] = make([]byte, 60+i%200)
	}
	file := pcapBytes(binary.LittleEndian, false, 65535, records)
	r := bytes.NewReader(file)
	p, err := newPcapReader(r, 4096)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(500, func() {
		if _, _, _, err := p.next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per record", allocs)
	}
}
