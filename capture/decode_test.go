package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
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
	eth4 := ether(0x0800, nil, ipv4Packet(t))
	frames := [][]byte{ether(0x0800, []uint16{0x8100}, ipv4Packet(t)), ether(0x86dd, nil, ipv6Packet(t, true)),
		ether(0x0800, nil, outer4(17, udp(4789, vxlanHdr(1, eth4)))),
		ether(0x0800, nil, outer4(17, udp(6081, geneveHdr(1, 0x6558, 3, eth4)))),
		ether(0x0800, nil, outer4(47, greHdr(greSeq, 0x22eb, 0, erspan3Hdr(1, 0, true, eth4))))}
	big := Frame{Data: ether(0x0800, nil, zeroLength(ipv4Packet(t))), Length: 100000, LinkType: layers.LinkTypeEthernet}
	nflog := nflogFrame(binary.LittleEndian, ipv4Packet(t))
	var p Packet
	ts := time.Unix(1, 0)
	for _, f := range frames {
		if r := Decode(layers.LinkTypeEthernet, f, ts, &p); r != OK {
			t.Fatalf("warm-up frame: %v", r)
		}
	}
	n := testing.AllocsPerRun(1000, func() {
		for _, f := range frames {
			Decode(layers.LinkTypeEthernet, f, ts, &p)
		}
		DecodeFrame(big, &p)
		Decode(linkNFLOG, nflog, ts, &p)
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

// zeroLength clears the length field of the IP packet at ip, as the kernel
// leaves it on a BIG TCP packet too long for it; an IPv6 one may carry a
// Jumbo Payload option instead (see jumbo).
func zeroLength(ip []byte) []byte {
	ip = append([]byte(nil), ip...)
	if ip[0]>>4 == 4 {
		binary.BigEndian.PutUint16(ip[2:], 0)
	} else {
		binary.BigEndian.PutUint16(ip[4:], 0)
	}
	return ip
}

// jumbo is an IPv6 packet as BIG TCP sends it on kernels that still add a
// hop-by-hop Jumbo Payload option (RFC 2675) holding the length.
func jumbo(t testing.TB) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6HopByHop,
		SrcIP: net.ParseIP("2001:db8::2"), DstIP: net.ParseIP("2001:db8::1")}
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolTCP
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 0xc2, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	b := zeroLength(serialize(t, ip, hbh, tcpLayer(ip), gopacket.Payload("GET / HTTP/1.1\r\n\r\n")))
	binary.BigEndian.PutUint32(b[44:], uint32(len(b)-40))
	return b
}

// runClassic runs ClassicFilter's program on an Ethernet frame as the kernel
// would for an incoming packet. x/net/bpf's VM knows none of the kernel's
// extensions but the length, so network-relative loads become loads past
// the Ethernet header and the packet type and interface become constants.
// Nor does it check the program as the kernel does: bpf's live test
// attaches it.
func runClassic(t *testing.T, ports []uint16, frame []byte) bool {
	t.Helper()
	raw, err := ClassicFilter(ports)
	if err != nil {
		t.Fatal(err)
	}
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("classic filter does not disassemble")
	}
	abs := func(off uint32) uint32 {
		if k := int32(off) - skfNetOff; k >= 0 && k < 0x10000 {
			return uint32(14 + k)
		}
		return off
	}
	for i, ins := range prog {
		switch ins := ins.(type) {
		case bpf.LoadExtension:
			switch ins.Num {
			case bpf.ExtType:
				prog[i] = bpf.LoadConstant{Dst: bpf.RegA, Val: 0} // PACKET_HOST
			case bpf.ExtInterfaceIndex:
				prog[i] = bpf.LoadConstant{Dst: bpf.RegA, Val: 2}
			}
		case bpf.LoadAbsolute:
			ins.Off = abs(ins.Off)
			prog[i] = ins
		case bpf.LoadIndirect:
			ins.Off = abs(ins.Off)
			prog[i] = ins
		}
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatal(err)
	}
	return n != 0
}

// An IP length of 0 is how the kernel marks a TCP packet longer than the
// field holds (BIG TCP): the decoder measures it from the frame's length on
// the wire, and the classic filter keeps it, so that a live capture and a
// replay of its pcap see the same segments.
func TestDecodeZeroIPLength(t *testing.T) {
	v4, v6, v6hbh := ipv4Packet(t), ipv6Packet(t, false), ipv6Packet(t, true)
	ack := func(ip []byte) []byte { return ip[:len(ip)-18] } // drop the payload
	for _, tc := range []struct {
		name     string
		ip       []byte
		cut      int // bytes the capture left out
		want     Result
		wire     int  // PayloadLen
		cbpfKeep bool // the classic filter's verdict on the whole frame
	}{
		{"ipv4", v4, 0, OK, 18, true},
		{"ipv6", v6, 0, OK, 18, true},
		{"ipv6 hop-by-hop", v6hbh, 0, OK, 18, true},
		{"ipv4 length 0", zeroLength(v4), 0, OK, 18, true},
		{"ipv4 length 0, cut short", zeroLength(v4), 8, OK, 18, true},
		{"ipv6 length 0", zeroLength(v6), 0, OK, 18, true},
		{"ipv6 length 0, cut short", zeroLength(v6), 8, OK, 18, true},
		{"ipv6 jumbo option", jumbo(t), 0, OK, 18, true},
		{"ipv6 jumbo option, cut short", jumbo(t), 8, OK, 18, true},
		// The filter counts the Ethernet header as IP bytes here (it cannot
		// see where the link header ends): it keeps, the decoder finds no
		// payload. The kernel never sends such a packet: it writes 0 only
		// past 64 KiB.
		{"ipv4 length 0, no payload", zeroLength(ack(v4)), 0, OK, 0, true},
		{"ipv4 length 0, no tcp header", zeroLength(v4[:30]), 0, Malformed, 0, false},
		{"ipv4 length 0, cut in the tcp header", zeroLength(v4), len(v4) - 30, Malformed, 0, true},
	} {
		frame := ether(0x0800, nil, tc.ip)
		if tc.ip[0]>>4 == 6 {
			frame = ether(0x86dd, nil, tc.ip)
		}
		var p Packet
		f := Frame{Data: frame[:len(frame)-tc.cut], Length: len(frame), LinkType: layers.LinkTypeEthernet}
		if r := DecodeFrame(f, &p); r != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, r, tc.want)
		} else if r == OK && (p.PayloadLen != tc.wire || len(p.Payload) != max(tc.wire-tc.cut, 0) || p.DstPort != 8080) {
			t.Errorf("%s: payload %d of %d bytes, port %d; want %d of %d", tc.name, len(p.Payload), p.PayloadLen, p.DstPort, tc.wire-tc.cut, tc.wire)
		}
		// The filter runs on the whole packet, before the capture cuts it.
		if keep := runClassic(t, []uint16{8080}, frame); keep != tc.cbpfKeep {
			t.Errorf("%s: classic filter keep=%v, want %v", tc.name, keep, tc.cbpfKeep)
		}
	}
}

// The classic filter keeps every tunnel packet, whatever its inner ports:
// it cannot walk the inner headers; the decoder and tracker select them.
func TestClassicFilterTunnels(t *testing.T) {
	eth4 := ether(0x0800, nil, ipv4Packet(t))
	other := append([]byte(nil), eth4...)
	binary.BigEndian.PutUint16(other[14+20+2:], 9999)
	for _, tc := range []struct {
		name  string
		frame []byte
		keep  bool
	}{
		{"vxlan", ether(0x0800, nil, outer4(17, udp(4789, vxlanHdr(1, eth4)))), true},
		{"vxlan inner other port", ether(0x0800, nil, outer4(17, udp(4789, vxlanHdr(1, other)))), true},
		{"vxlan over ipv6", ether(0x86dd, nil, outer6(17, udp(4789, vxlanHdr(1, eth4)))), true},
		{"geneve", ether(0x0800, nil, outer4(17, udp(6081, geneveHdr(1, 0x6558, 2, eth4)))), true},
		{"geneve over ipv6", ether(0x86dd, nil, outer6(17, udp(6081, geneveHdr(1, 0x6558, 2, eth4)))), true},
		{"gre", ether(0x0800, nil, outer4(47, greHdr(0, 0x6558, 0, eth4))), true},
		{"ip6gre", ether(0x86dd, nil, outer6(47, greHdr(0, 0x6558, 0, eth4))), true},
		{"udp other port", ether(0x0800, nil, outer4(17, udp(53, vxlanHdr(1, eth4)))), false},
		{"udp over ipv6 other port", ether(0x86dd, nil, outer6(17, udp(4790, vxlanHdr(1, eth4)))), false},
		{"udp later fragment", func() []byte {
			b := ether(0x0800, nil, outer4(17, udp(4789, vxlanHdr(1, eth4))))
			b[14+7] = 8 // offset 64
			return b
		}(), false},
		{"plain tcp", eth4, true},
		{"plain tcp other port", other, false},
	} {
		if keep := runClassic(t, []uint16{8080}, tc.frame); keep != tc.keep {
			t.Errorf("%s: keep=%v, want %v", tc.name, keep, tc.keep)
		}
	}
}

// The most ports ClassicFilter takes still fit its jumps.
func TestClassicFilterManyPorts(t *testing.T) {
	ports := make([]uint16, 100)
	for i := range ports {
		ports[i] = uint16(8081 - len(ports) + i) // 8080 last
	}
	v4 := ether(0x0800, nil, ipv4Packet(t))
	other := append([]byte(nil), v4...)
	binary.BigEndian.PutUint16(other[14+20+2:], 9999)
	if !runClassic(t, ports, v4) || runClassic(t, ports, other) {
		t.Error("wrong verdicts with 100 ports")
	}
}
