package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// pcapReader reads classic pcap records in place from a large buffer:
// one copy from the kernel (or gzip) into the buffer and none after, where
// a record-by-record reader costs two reads and a copy per frame. A replay
// spends its time in the pipeline, not here.
type pcapReader struct {
	r          io.Reader
	buf        []byte
	start, end int // unread bytes are buf[start:end]
	bigEndian  bool
	nanoFactor uint32
	snaplen    uint32
	maxRecord  int
	linkType   layers.LinkType
	readErr    error // from r, once it has nothing more
}

const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d
	// pcapRecordMax is the longest record taken when the header declares a
	// smaller snap length: writers that do not truncate to the snap length
	// they declare exist, and tcpdump reads their records up to its own
	// maximum snap length.
	pcapRecordMax = 262144
	// pcapRecordLimit bounds a record whatever the header says, so that a
	// damaged length cannot make the reader allocate gigabytes.
	pcapRecordLimit = 16 << 20
	// pcapBufferSize: records are parsed just after the kernel copied
	// them in, so a buffer within the CPU's L2 cache (512 KiB on this
	// project's machines) is read back from there.
	pcapBufferSize = 256 << 10
)

func newPcapReader(r io.Reader, bufSize int) (*pcapReader, error) {
	p := &pcapReader{r: r, buf: make([]byte, bufSize)}
	if err := p.fill(24); err != nil {
		return nil, fmt.Errorf("file header: %w", err)
	}
	h := p.buf[p.start : p.start+24]
	switch {
	case binary.LittleEndian.Uint32(h) == pcapMagicMicro:
		p.nanoFactor = 1000
	case binary.LittleEndian.Uint32(h) == pcapMagicNano:
		p.nanoFactor = 1
	case binary.BigEndian.Uint32(h) == pcapMagicMicro:
		p.bigEndian, p.nanoFactor = true, 1000
	case binary.BigEndian.Uint32(h) == pcapMagicNano:
		p.bigEndian, p.nanoFactor = true, 1
	default:
		return nil, fmt.Errorf("unknown magic %x", h[:4])
	}
	if major, minor := p.u16(h[4:]), p.u16(h[6:]); major != 2 || minor != 4 {
		return nil, fmt.Errorf("unknown pcap version %d.%d", major, minor)
	}
	p.snaplen = p.u32(h[16:])
	p.linkType = layers.LinkType(p.u32(h[20:]))
	p.maxRecord = min(max(int(p.snaplen), pcapRecordMax), pcapRecordLimit)
	p.start += 24
	return p, nil
}

func (p *pcapReader) u32(b []byte) uint32 {
	if p.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (p *pcapReader) u16(b []byte) uint16 {
	if p.bigEndian {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

// fill makes at least n unread bytes available, moving what is unread to
// the front of the buffer (the previous frame's bytes are then gone) and
// growing it for a record longer than the buffer.
func (p *pcapReader) fill(n int) error {
	if p.end-p.start >= n {
		return nil
	}
	if p.start > 0 {
		p.end = copy(p.buf, p.buf[p.start:p.end])
		p.start = 0
	}
	if n > len(p.buf) {
		p.buf = append(p.buf[:p.end], make([]byte, n-p.end)...)
		p.buf = p.buf[:cap(p.buf)]
	}
	for p.end < n {
		if p.readErr != nil {
			if p.end == 0 && errors.Is(p.readErr, io.EOF) {
				return io.EOF
			}
			if errors.Is(p.readErr, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return p.readErr
		}
		k, err := p.r.Read(p.buf[p.end:])
		p.end += k
		if err != nil {
			p.readErr = err
		}
	}
	return nil
}

// next returns the next record; data aliases the buffer until the next call.
func (p *pcapReader) next() (data []byte, ts time.Time, wireLen int, err error) {
	if err := p.fill(16); err != nil {
		return nil, time.Time{}, 0, err
	}
	h := p.buf[p.start : p.start+16]
	ts = time.Unix(int64(p.u32(h)), int64(p.u32(h[4:])*p.nanoFactor))
	capLen, wire := int(p.u32(h[8:])), int(p.u32(h[12:]))
	if capLen > p.maxRecord {
		return nil, ts, 0, fmt.Errorf("capture length exceeds snap length: %d > %d", capLen, p.snaplen)
	}
	if capLen > wire {
		return nil, ts, 0, fmt.Errorf("capture length exceeds original packet length: %d > %d", capLen, wire)
	}
	if err := p.fill(16 + capLen); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, ts, 0, err
	}
	data = p.buf[p.start+16 : p.start+16+capLen : p.start+16+capLen]
	p.start += 16 + capLen
	return data, ts, wire, nil
}
