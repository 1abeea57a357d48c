package capture

import (
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
	f.Fuzz(func(t *testing.T, lt uint16, frame []byte, cut uint16) {
		var p Packet
		fr := Frame{Data: frame, Length: len(frame) + int(cut), LinkType: layers.LinkType(lt)}
		if DecodeFrame(fr, &p) == OK {
			if len(p.Payload) > p.PayloadLen || len(p.Payload) > len(frame) {
				t.Fatalf("payload %d bytes, announced %d, frame %d", len(p.Payload), p.PayloadLen, len(frame))
			}
		}
	})
}
