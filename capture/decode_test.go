package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func tcpLayer(payloadNet gopacket.NetworkLayer) *layers.TCP {
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 8080, Seq: 1000, Ack: 2000, PSH: true, ACK: true, Window: 512}
	tcp.SetNetworkLayerForChecksum(payloadNet)
	return tcp
}

func ipv4Packet(t testing.TB) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IP{192, 0, 2, 2}, DstIP: net.IP{192, 0, 2, 1}}
	return serialize(t, ip, tcpLayer(ip), gopacket.Payload("GET / HTTP/1.1\r\n\r\n"))
}

func ipv6Packet(t testing.TB, hopByHop bool) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
		SrcIP: net.ParseIP("2001:db8::2"), DstIP: net.ParseIP("2001:db8::1")}
	if !hopByHop {
		return serialize(t, ip, tcpLayer(ip), gopacket.Payload("GET / HTTP/1.1\r\n\r\n"))
	}
	ip.NextHeader = layers.IPProtocolIPv6HopByHop
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolTCP
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	return serialize(t, ip, hbh, tcpLayer(ip), gopacket.Payload("GET / HTTP/1.1\r\n\r\n"))
}

func ether(et uint16, tags []uint16, payload []byte) []byte {
	b := make([]byte, 12, 64)
	for _, tag := range tags {
		b = binary.BigEndian.AppendUint16(b, tag)
		b = binary.BigEndian.AppendUint16(b, 5) // VLAN id 5
	}
	b = binary.BigEndian.AppendUint16(b, et)
	return append(b, payload...)
}

func TestDecodeLinkTypes(t *testing.T) {
	v4, v6, v6hbh := ipv4Packet(t), ipv6Packet(t, false), ipv6Packet(t, true)
	sll := make([]byte, 16)
	binary.BigEndian.PutUint16(sll[14:], 0x0800)
	sll2 := make([]byte, 20)
	binary.BigEndian.PutUint16(sll2[0:], 0x86dd)
	null4 := binary.LittleEndian.AppendUint32(nil, 2)
	loop6 := binary.BigEndian.AppendUint32(nil, 30)
	mpls := []byte{0, 0, 0x11, 64} // label 1, bottom of stack
	snap := []byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00}
	padded := append(ether(0x0800, nil, v4), make([]byte, 20)...) // Ethernet trailer
	llc := ether(uint16(len(snap)+len(v4)), nil, append(snap, v4...))

	for _, tc := range []struct {
		name string
		lt   layers.LinkType
		b    []byte
		v6   bool
	}{
		{"ethernet ipv4", layers.LinkTypeEthernet, ether(0x0800, nil, v4), false},
		{"ethernet ipv6", layers.LinkTypeEthernet, ether(0x86dd, nil, v6), true},
		{"ipv6 hop-by-hop", layers.LinkTypeEthernet, ether(0x86dd, nil, v6hbh), true},
		{"vlan", layers.LinkTypeEthernet, ether(0x0800, []uint16{0x8100}, v4), false},
		{"qinq", layers.LinkTypeEthernet, ether(0x0800, []uint16{0x88a8, 0x8100}, v4), false},
		{"mpls", layers.LinkTypeEthernet, ether(0x8847, nil, append(mpls, v4...)), false},
		{"llc snap", layers.LinkTypeEthernet, llc, false},
		{"ethernet trailer", layers.LinkTypeEthernet, padded, false},
		{"linux sll", layers.LinkTypeLinuxSLL, append(sll, v4...), false},
		{"linux sll2", 276, append(sll2, v6...), true},
		{"raw", layers.LinkTypeRaw, v4, false},
		{"raw 12", 12, v6, true},
		{"ipv4 linktype", layers.LinkTypeIPv4, v4, false},
		{"null", layers.LinkTypeNull, append(null4, v4...), false},
		{"loop ipv6 darwin", layers.LinkTypeLoop, append(loop6, v6...), true},
	} {
		var p Packet
		if r := Decode(tc.lt, tc.b, time.Unix(7, 0), &p); r != OK {
			t.Errorf("%s: result %v", tc.name, r)
			continue
		}
		wantSrc := netip.MustParseAddr("192.0.2.2")
		if tc.v6 {
			wantSrc = netip.MustParseAddr("2001:db8::2")
		}
		if p.SrcIP != wantSrc || p.SrcPort != 40000 || p.DstPort != 8080 || p.Seq != 1000 || p.Ack != 2000 ||
			p.Flags != FlagPSH|FlagACK || string(p.Payload) != "GET / HTTP/1.1\r\n\r\n" || p.PayloadLen != 18 {
			t.Errorf("%s: %+v", tc.name, p)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	v4 := ipv4Packet(t)
	frag := append([]byte(nil), v4...)
	frag[6] |= 0x20 // more fragments
	udp := append([]byte(nil), v4...)
	udp[9] = 17
	arp := ether(0x0806, nil, make([]byte, 28))
	truncated := v4[:30]
	badOffset := append([]byte(nil), v4...)
	badOffset[20+12] = 0x20 // data offset 8 bytes
	for _, tc := range []struct {
		name string
		lt   layers.LinkType
		b    []byte
		want Result
	}{
		{"fragment", layers.LinkTypeRaw, frag, Fragment},
		{"udp", layers.LinkTypeRaw, udp, NotTCP},
		{"arp", layers.LinkTypeEthernet, arp, NotTCP},
		{"truncated", layers.LinkTypeRaw, truncated, Malformed},
		{"bad tcp offset", layers.LinkTypeRaw, badOffset, Malformed},
		{"empty", layers.LinkTypeEthernet, nil, Malformed},
		{"short sll", layers.LinkTypeLinuxSLL, make([]byte, 10), Malformed},
		{"unknown link", 147, v4, UnknownLink},
		{"vlan loop", layers.LinkTypeEthernet, ether(0x8100, []uint16{0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100}, nil), Malformed},
	} {
		var p Packet
		if r := Decode(tc.lt, tc.b, time.Time{}, &p); r != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, r, tc.want)
		}
	}
}

func TestSnaplenTruncation(t *testing.T) {
	v4 := ipv4Packet(t)
	var p Packet
	if r := Decode(layers.LinkTypeRaw, v4[:len(v4)-8], time.Time{}, &p); r != OK {
		t.Fatal(r)
	}
	if len(p.Payload) != 10 || p.PayloadLen != 18 {
		t.Errorf("captured %d of %d payload bytes, want 10 of 18", len(p.Payload), p.PayloadLen)
	}
}

func TestDecodeDoesNotAlloc(t *testing.T) {
	frames := [][]byte{ether(0x0800, []uint16{0x8100}, ipv4Packet(t)), ether(0x86dd, nil, ipv6Packet(t, true))}
	var p Packet
	ts := time.Unix(1, 0)
	n := testing.AllocsPerRun(1000, func() {
		for _, f := range frames {
			Decode(layers.LinkTypeEthernet, f, ts, &p)
		}
	})
	if n != 0 {
		t.Errorf("Decode allocates %.1f times", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	f := ether(0x0800, nil, ipv4Packet(b))
	var p Packet
	ts := time.Unix(1, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		Decode(layers.LinkTypeEthernet, f, ts, &p)
	}
}
