package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Frame is one captured frame. Data is owned by the source.
type Frame struct {
	Data      []byte
	Timestamp time.Time
	Length    int // length on the wire; more than len(Data) when truncated
	LinkType  layers.LinkType
}

// Source yields frames until io.EOF.
type Source interface {
	ReadFrame() (Frame, error)
	Close() error
}

// ErrNotCapture says a file is neither pcap nor pcapng.
var ErrNotCapture = errors.New("not a pcap or pcapng file")

// FileSource reads a pcap or pcapng file, gzipped or not.
type FileSource struct {
	f        *os.File
	pcap     *pcapReader
	ng       *pcapgo.NgReader
	linkType layers.LinkType
	ngTypes  []layers.LinkType // per pcapng interface, looked up once
}

// pcapng's section header block type, also its file magic.
var ngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// OpenFile opens a capture file and reads its header.
func OpenFile(path string) (*FileSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s, err := newFileSource(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func newFileSource(f *os.File) (*FileSource, error) {
	// A plain file, the usual case, is read straight into the record
	// reader's buffer: its magic is read in place, not through a bufio
	// reader whose megabyte would be allocated and filled for four bytes.
	// Gzip, pcapng and what cannot be read at an offset (a pipe) go
	// through bufio.
	var head [4]byte
	var r io.Reader = f
	var err error
	magic := head[:]
	if n, _ := f.ReadAt(head[:], 0); n < len(head) || isGzip(magic) || bytes.Equal(magic, ngMagic) {
		br := bufio.NewReaderSize(f, 1<<20)
		magic, err = br.Peek(4)
		// After the peek, a plain file is read straight into the record
		// reader's buffer, not through bufio's.
		r = io.MultiReader(io.LimitReader(br, int64(br.Buffered())), f)
		if isGzip(magic) {
			zr, zerr := gzip.NewReader(br)
			if zerr != nil {
				return nil, fmt.Errorf("%w: bad gzip: %v", ErrNotCapture, zerr)
			}
			zb := bufio.NewReaderSize(zr, 1<<20)
			r = zb
			magic, err = zb.Peek(4)
		}
	}
	if err != nil {
		if len(magic) == 0 {
			return nil, fmt.Errorf("%w: file is empty", ErrNotCapture)
		}
		return nil, fmt.Errorf("%w: only %d bytes", ErrNotCapture, len(magic))
	}
	s := &FileSource{f: f}
	if bytes.Equal(magic, ngMagic) {
		s.ng, err = pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("%w: pcapng: %v", ErrNotCapture, err)
		}
		s.linkType = s.ng.LinkType()
		return s, nil
	}
	s.pcap, err = newPcapReader(r, pcapBufferSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotCapture, err)
	}
	s.linkType = s.pcap.linkType
	return s, nil
}

func isGzip(magic []byte) bool { return len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b }

// ReadFrame returns the next frame, or io.EOF at the end of the file. A file
// cut in the middle of a record gives io.ErrUnexpectedEOF.
func (s *FileSource) ReadFrame() (Frame, error) {
	var data []byte
	var ci gopacket.CaptureInfo
	var err error
	lt := s.linkType
	if s.ng != nil {
		data, ci, err = s.ng.ZeroCopyReadPacketData()
		if err == nil {
			lt = s.ngLinkType(ci.InterfaceIndex)
		}
	} else {
		data, ci.Timestamp, ci.Length, err = s.pcap.next()
		ci.CaptureLength = len(data)
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(data) == 0 && ci.CaptureLength == 0 {
			return Frame{}, io.EOF
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, fmt.Errorf("truncated capture record: %w", io.ErrUnexpectedEOF)
		}
		return Frame{}, err
	}
	return Frame{Data: data, Timestamp: ci.Timestamp, Length: ci.Length, LinkType: lt}, nil
}

func (s *FileSource) ngLinkType(i int) layers.LinkType {
	for len(s.ngTypes) <= i {
		iface, err := s.ng.Interface(len(s.ngTypes))
		if err != nil {
			return s.linkType
		}
		s.ngTypes = append(s.ngTypes, iface.LinkType)
	}
	return s.ngTypes[i]
}

// Close closes the file.
func (s *FileSource) Close() error { return s.f.Close() }
