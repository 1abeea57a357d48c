package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// encap wraps every Ethernet frame of a capture in a tunnel, as a mirror
// source sends it to 198.51.100.1 from 198.51.100.2, keeping each frame's
// timestamp: what test/make-encap-captures.sh does for the tunnel devices
// this kernel does not have. The headers are built here by hand from the
// RFCs (GENEVE 8926, GRE 2784/2890) and the ERSPAN draft
// (draft-foschiano-erspan), not by the code under test.
func encap(args []string) error {
	fs := flag.NewFlagSet("encap", flag.ExitOnError)
	in := fs.String("in", "", "input pcap of Ethernet frames")
	out := fs.String("out", "", "output pcap")
	kind := fs.String("kind", "", "geneve, gretap, erspan1, erspan2 or erspan3")
	fs.Parse(args)
	var wrap func(frame []byte, i int) (proto uint8, payload []byte)
	switch *kind {
	case "geneve":
		// AWS Gateway Load Balancer style: Ethernet payload and three
		// options of class 0x0108 (AWS), 12 bytes each, skipped by length.
		wrap = func(frame []byte, i int) (uint8, []byte) {
			h := []byte{9, 0, 0x65, 0x58, 0, 0x01, 0x23, 0}
			for typ := byte(1); typ <= 3; typ++ {
				h = append(h, 0x01, 0x08, typ, 2, 0, 0, 0, typ, 0, 0, 0, byte(i))
			}
			return 17, udp(6081, append(h, frame...))
		}
	case "gretap":
		wrap = func(frame []byte, i int) (uint8, []byte) {
			return 47, append([]byte{0x20, 0, 0x65, 0x58, 0, 0, 0, 7}, frame...) // key 7
		}
	case "erspan1":
		wrap = func(frame []byte, i int) (uint8, []byte) {
			return 47, append([]byte{0, 0, 0x88, 0xbe}, frame...)
		}
	case "erspan2":
		wrap = func(frame []byte, i int) (uint8, []byte) {
			h := binary.BigEndian.AppendUint32([]byte{0x10, 0, 0x88, 0xbe}, uint32(i)) // S, sequence number
			h = append(h, 0x10, 0, 0x00, 0x05, 0, 0, 0, 0)                             // version 1, session 5
			return 47, append(h, frame...)
		}
	case "erspan3":
		wrap = func(frame []byte, i int) (uint8, []byte) {
			h := binary.BigEndian.AppendUint32([]byte{0x10, 0, 0x22, 0xeb}, uint32(i))
			// Version 2, session 5, a timestamp, frame type 0 (Ethernet),
			// and the O flag with its 8-byte platform subheader.
			h = append(h, 0x20, 0, 0x00, 0x05, 0, 0, 0, byte(i), 0, 0, 0x00, 0x01)
			h = append(h, 0x0c, 0, 0, 0, 0, 0, 0, 0)
			return 47, append(h, frame...)
		}
	default:
		return fmt.Errorf("encap: unknown kind %q", *kind)
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return err
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		return fmt.Errorf("encap: %s is not Ethernet", *in)
	}
	o, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer o.Close()
	w := pcapgo.NewWriter(o)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	for i := 0; ; i++ {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return o.Close()
		}
		if err != nil {
			return err
		}
		proto, payload := wrap(data, i)
		frame := ipv4(proto, payload)
		ci.CaptureLength, ci.Length = len(frame), len(frame)
		if err := w.WritePacket(ci, frame); err != nil {
			return err
		}
	}
}

func udp(dport uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16([]byte{0xd4, 0x31}, dport)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	return append(append(b, 0, 0), payload...) // no checksum, as tunnels send
}

// ipv4 puts an Ethernet and IPv4 header (with its checksum) around
// payload.
func ipv4(proto uint8, payload []byte) []byte {
	b := []byte{0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00}
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0, 198, 51, 100, 2, 198, 51, 100, 1}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(payload)))
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	return append(append(b, ip...), payload...)
}
