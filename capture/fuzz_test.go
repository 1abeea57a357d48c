package capture

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// FuzzDecode: no frame makes DecodeFrame panic, and an OK result always
// points inside the frame with consistent lengths, cut short or not.
func FuzzDecode(f *testing.F) {
	f.Add(uint16(layers.LinkTypeEthernet), ether(0x0800, []uint16{0x8100}, ipv4Packet(f)), uint16(0))
	f.Add(uint16(layers.LinkTypeEthernet), ether(0x86dd, nil, ipv6Packet(f, true)), uint16(0))
	f.Add(uint16(layers.LinkTypeLinuxSLL), append(make([]byte, 16), ipv4Packet(f)...), uint16(0))
	f.Add(uint16(layers.LinkTypeNull), append([]byte{2, 0, 0, 0}, ipv4Packet(f)...), uint16(0))
	f.Add(uint16(276), append(make([]byte, 20), ipv6Packet(f, false)...), uint16(0))
	f.Add(uint16(layers.LinkTypeRaw), zeroLength(ipv4Packet(f)), uint16(1000))
	f.Add(uint16(layers.LinkTypeRaw), jumbo(f), uint16(1000))
	// Tunnels and the link types of mirrored and captured-elsewhere traffic.
	eth4 := ether(0x0800, nil, ipv4Packet(f))
	f.Add(uint16(layers.LinkTypeEthernet), ether(0x0800, nil, outer4(17, udp(4789, vxlanHdr(5, eth4)))), uint16(0))
	f.Add(uint16(layers.LinkTypeEthernet), ether(0x86dd, nil, outer6(17, udp(6081, geneveHdr(5, 0x0800, 2, ipv4Packet(f))))), uint16(4))
	f.Add(uint16(layers.LinkTypeRaw), outer4(47, greHdr(greChecksum|greKey|greSeq, 0x6558, 9, eth4)), uint16(0))
	f.Add(uint16(layers.LinkTypeRaw), outer4(47, greHdr(0, 0x88be, 0, eth4)), uint16(0))
	f.Add(uint16(layers.LinkTypeRaw), outer4(47, greHdr(greSeq, 0x88be, 0, erspan2Hdr(3, eth4))), uint16(0))
	f.Add(uint16(layers.LinkTypeRaw), outer4(47, greHdr(greSeq, 0x22eb, 0, erspan3Hdr(3, 0, true, eth4))), uint16(0))
	f.Add(uint16(layers.LinkTypeRaw), outer4(47, greHdr(0, 0x0800, 0, outer4(17, udp(4789, vxlanHdr(1, eth4))))), uint16(0))
	f.Add(uint16(linkNFLOG), nflogFrame(binary.LittleEndian, ipv4Packet(f)), uint16(0))
	f.Add(uint16(linkNFLOG), nflogFrame(binary.BigEndian, ipv6Packet(f, false)), uint16(0))
	f.Add(uint16(linkPPP), append([]byte{0xff, 0x03, 0x00, 0x21}, ipv4Packet(f)...), uint16(0))
	f.Add(uint16(linkPPPoE), append([]byte{0x11, 0, 0, 1, 0, 2 + 58, 0, 0x21}, ipv4Packet(f)...), uint16(0))
	f.Add(uint16(linkCHDLC), append([]byte{0x0f, 0x00, 0x08, 0x00}, ipv4Packet(f)...), uint16(0))
	f.Fuzz(func(t *testing.T, lt uint16, frame []byte, cut uint16) {
		var p Packet
		fr := Frame{Data: frame, Length: len(frame) + int(cut), LinkType: layers.LinkType(lt)}
		if DecodeFrame(fr, &p) == OK {
			if len(p.Payload) > p.PayloadLen || len(p.Payload) > len(frame) || p.Why != WhyNone {
				t.Fatalf("payload %d bytes, announced %d, frame %d, reason %q", len(p.Payload), p.PayloadLen, len(frame), p.Why)
			}
		}
	})
}
