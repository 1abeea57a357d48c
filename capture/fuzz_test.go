package capture

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// FuzzDecode: no frame makes Decode panic, and an OK result always points
// inside the frame with consistent lengths.
func FuzzDecode(f *testing.F) {
	f.Add(uint16(layers.LinkTypeEthernet), ether(0x0800, []uint16{0x8100}, ipv4Packet(f)))
	f.Add(uint16(layers.LinkTypeEthernet), ether(0x86dd, nil, ipv6Packet(f, true)))
	f.Add(uint16(layers.LinkTypeLinuxSLL), append(make([]byte, 16), ipv4Packet(f)...))
	f.Add(uint16(layers.LinkTypeNull), append([]byte{2, 0, 0, 0}, ipv4Packet(f)...))
	f.Add(uint16(276), append(make([]byte, 20), ipv6Packet(f, false)...))
	f.Fuzz(func(t *testing.T, lt uint16, frame []byte) {
		var p Packet
		if Decode(layers.LinkType(lt), frame, time.Time{}, &p) == OK {
			if len(p.Payload) > p.PayloadLen || len(p.Payload) > len(frame) {
				t.Fatalf("payload %d bytes, announced %d, frame %d", len(p.Payload), p.PayloadLen, len(frame))
			}
		}
	})
}
