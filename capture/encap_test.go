package capture

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Hand-built outer headers: what a mirror target, a GENEVE appliance or a
// SPAN collector receives around the app's own packet.

// outer4 is an IPv4 header from 10.0.0.1 to 10.0.0.2 (the tunnel's
// endpoints, never the client's or server's) around payload.
func outer4(proto uint8, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0], b[8], b[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(payload)))
	copy(b[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	return append(b, payload...)
}

// outer6 is an IPv6 header from 2001:db8:ffff::1 to ::2 around payload.
func outer6(next uint8, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	b[0], b[6], b[7] = 0x60, next, 64
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	copy(b[8:], netip.MustParseAddr("2001:db8:ffff::1").AsSlice())
	copy(b[24:], netip.MustParseAddr("2001:db8:ffff::2").AsSlice())
	return append(b, payload...)
}

func udp(dport uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], 51234) // a flow hash, as VXLAN senders pick
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

func vxlanHdr(vni uint32, inner []byte) []byte {
	b := []byte{0x08, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	return append(b, inner...)
}

// geneveHdr with options of optWords 4-byte words (AWS's GWLB TLVs here
// are opaque bytes; the decoder skips them by the length).
func geneveHdr(vni uint32, proto uint16, optWords int, inner []byte) []byte {
	b := []byte{byte(optWords), 0, byte(proto >> 8), byte(proto), byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	for i := range optWords * 4 {
		b = append(b, byte(0xa0+i)) // option bytes: never read
	}
	return append(b, inner...)
}

// greHdr with the given flags and protocol; the optional words are filled
// in the order checksum, key, sequence number.
func greHdr(flags, proto uint16, key uint32, inner []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, flags)
	b = binary.BigEndian.AppendUint16(b, proto)
	if flags&greChecksum != 0 {
		b = append(b, 0, 0, 0, 0)
	}
	if flags&greKey != 0 {
		b = binary.BigEndian.AppendUint32(b, key)
	}
	if flags&greSeq != 0 {
		b = binary.BigEndian.AppendUint32(b, 77)
	}
	return append(b, inner...)
}

// erspan2Hdr: version 1, VLAN 0, session id.
func erspan2Hdr(session uint16, inner []byte) []byte {
	b := []byte{0x10, 0, byte(session>>8) & 0x03, byte(session), 0, 0, 0, 0}
	return append(b, inner...)
}

// erspan3Hdr: version 2, session id, frame type ft, and the platform
// subheader when o.
func erspan3Hdr(session uint16, ft uint8, o bool, inner []byte) []byte {
	b := []byte{0x20, 0, byte(session>>8) & 0x03, byte(session), 1, 2, 3, 4, 0, 0, ft << 2, 0}
	if o {
		b[11] |= 1
		b = append(b, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee)
	}
	return append(b, inner...)
}

// nflogFrame: family, version 0, resource id, then TLVs in the given byte
// order: a packet header, a prefix, and the payload.
func nflogFrame(order binary.AppendByteOrder, payload []byte) []byte {
	b := []byte{2, 0, 0, 1}
	tlv := func(typ uint16, v []byte) {
		b = order.AppendUint16(b, uint16(4+len(v)))
		b = order.AppendUint16(b, typ)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	tlv(1, []byte{0x08, 0x00, 3, 0})   // NFULA_PACKET_HDR
	tlv(10, []byte("xray-prefix\x00")) // NFULA_PREFIX
	tlv(nflogPayload, payload)
	return b
}

func TestDecodeTunnelsAndLinks(t *testing.T) {
	v4, v6 := ipv4Packet(t), ipv6Packet(t, false)
	eth4, eth6 := ether(0x0800, nil, v4), ether(0x86dd, nil, v6)
	vlan4 := ether(0x0800, []uint16{0x8100}, v4)
	pppoe := func(proto uint16, ip []byte) []byte {
		b := []byte{0x11, 0, 0x12, 0x34}
		b = binary.BigEndian.AppendUint16(b, uint16(2+len(ip)))
		b = binary.BigEndian.AppendUint16(b, proto)
		return append(b, ip...)
	}
	for _, tc := range []struct {
		name   string
		lt     layers.LinkType
		b      []byte
		v6     bool
		tunnel Tunnel
		vni    uint32
	}{
		{"vxlan", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(17, udp(4789, vxlanHdr(123456, eth4)))), false, TunnelVXLAN, 123456},
		{"vxlan inner ipv6", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(17, udp(4789, vxlanHdr(7, eth6)))), true, TunnelVXLAN, 7},
		{"vxlan inner vlan", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(17, udp(4789, vxlanHdr(7, vlan4)))), false, TunnelVXLAN, 7},
		{"vxlan over ipv6", layers.LinkTypeEthernet, ether(0x86dd, nil, outer6(17, udp(4789, vxlanHdr(9, eth4)))), false, TunnelVXLAN, 9},
		{"vxlan outer vlan, trailer", layers.LinkTypeEthernet,
			append(ether(0x0800, []uint16{0x8100}, outer4(17, udp(4789, vxlanHdr(1, eth4)))), 0xff, 0xff, 0xff, 0xff), false, TunnelVXLAN, 1},
		{"geneve ethernet", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(17, udp(6081, geneveHdr(42, 0x6558, 0, eth4)))), false, TunnelGENEVE, 42},
		{"geneve options, ipv4", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(17, udp(6081, geneveHdr(42, 0x0800, 5, v4)))), false, TunnelGENEVE, 42},
		{"geneve options, ipv6", layers.LinkTypeRaw, outer4(17, udp(6081, geneveHdr(0xffffff, 0x86dd, 63, v6))), true, TunnelGENEVE, 0xffffff},
		{"gre ip", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(47, greHdr(0, 0x0800, 0, v4))), false, TunnelGRE, 0},
		{"gre key checksum seq, ipv6", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(47, greHdr(greChecksum|greKey|greSeq, 0x86dd, 99, v6))), true, TunnelGRE, 99},
		{"gretap", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(47, greHdr(greKey, 0x6558, 5, eth4))), false, TunnelGRE, 5},
		{"ip6gretap", layers.LinkTypeEthernet, ether(0x86dd, nil, outer6(47, greHdr(0, 0x6558, 0, eth6))), true, TunnelGRE, 0},
		{"erspan type I", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(47, greHdr(0, 0x88be, 0, eth4))), false, TunnelERSPAN1, 0},
		{"erspan type II", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(47, greHdr(greSeq, 0x88be, 0, erspan2Hdr(0x3ff, eth4)))), false, TunnelERSPAN2, 0x3ff},
		{"erspan type III", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(47, greHdr(greSeq, 0x22eb, 0, erspan3Hdr(12, 0, false, eth6)))), true, TunnelERSPAN3, 12},
		{"erspan type III subheader", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(47, greHdr(greSeq, 0x22eb, 0, erspan3Hdr(12, 0, true, eth4)))), false, TunnelERSPAN3, 12},
		{"erspan type III ip frame", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(47, greHdr(greSeq, 0x22eb, 0, erspan3Hdr(3, 2, false, v4)))), false, TunnelERSPAN3, 3},
		{"vxlan in gre", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(47, greHdr(0, 0x0800, 0, outer4(17, udp(4789, vxlanHdr(8, eth4)))))), false, TunnelVXLAN, 8},
		{"pppoe", layers.LinkTypeEthernet, ether(0x8864, nil, pppoe(0x21, v4)), false, TunnelNone, 0},
		{"pppoe ipv6 padded", layers.LinkTypeEthernet, append(ether(0x8864, nil, pppoe(0x57, v6)), 0, 0, 0, 0), true, TunnelNone, 0},
		{"pppoe in vlan", layers.LinkTypeEthernet, ether(0x8864, []uint16{0x8100}, pppoe(0x21, v4)), false, TunnelNone, 0},
		{"ppp", linkPPP, append([]byte{0xff, 0x03, 0x00, 0x21}, v4...), false, TunnelNone, 0},
		{"ppp compressed", linkPPP, append([]byte{0x57}, v6...), true, TunnelNone, 0},
		{"ppp serial", linkPPPSerial, append([]byte{0xff, 0x03, 0x00, 0x57}, v6...), true, TunnelNone, 0},
		{"ppp serial, cisco framing", linkPPPSerial, append([]byte{0x0f, 0x00, 0x08, 0x00}, v4...), false, TunnelNone, 0},
		{"ppp ether", linkPPPoE, pppoe(0x21, v4), false, TunnelNone, 0},
		{"cisco hdlc", linkCHDLC, append([]byte{0x0f, 0x00, 0x08, 0x00}, v4...), false, TunnelNone, 0},
		{"cisco hdlc broadcast ipv6", linkCHDLC, append([]byte{0x8f, 0x00, 0x86, 0xdd}, v6...), true, TunnelNone, 0},
		{"nflog little-endian", linkNFLOG, nflogFrame(binary.LittleEndian, v4), false, TunnelNone, 0},
		{"nflog big-endian", linkNFLOG, nflogFrame(binary.BigEndian, v6), true, TunnelNone, 0},
		{"sll vxlan", layers.LinkTypeLinuxSLL, append([]byte{0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00}, outer4(17, udp(4789, vxlanHdr(3, eth4)))...), false, TunnelVXLAN, 3},
	} {
		p := Packet{Tunnel: TunnelERSPAN3, VNI: 1 << 30, Why: WhyTooDeep} // stale values Decode must reset
		if r := Decode(tc.lt, tc.b, time.Unix(7, 0), &p); r != OK {
			t.Errorf("%s: result %v (%s)", tc.name, r, p.Why)
			continue
		}
		wantSrc, wantDst := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.1")
		if tc.v6 {
			wantSrc, wantDst = netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::1")
		}
		if p.SrcIP != wantSrc || p.DstIP != wantDst || p.SrcPort != 40000 || p.DstPort != 8080 || p.Seq != 1000 || p.Ack != 2000 ||
			p.Flags != FlagPSH|FlagACK || string(p.Payload) != "GET / HTTP/1.1\r\n\r\n" || p.PayloadLen != 18 {
			t.Errorf("%s: %+v", tc.name, p)
		}
		if p.Tunnel != tc.tunnel || p.VNI != tc.vni || p.Why != WhyNone {
			t.Errorf("%s: tunnel %v VNI %d why %q, want %v %d", tc.name, p.Tunnel, p.VNI, p.Why, tc.tunnel, tc.vni)
		}
	}
}

// Broken tunnel and link headers: each a counted result with its reason,
// never a panic, never a packet.
func TestDecodeTunnelRejects(t *testing.T) {
	v4 := ipv4Packet(t)
	eth4 := ether(0x0800, nil, v4)
	vx := func(inner []byte) []byte { return ether(0x0800, nil, outer4(17, udp(4789, inner))) }
	gv := func(inner []byte) []byte { return ether(0x0800, nil, outer4(17, udp(6081, inner))) }
	gr := func(inner []byte) []byte { return ether(0x0800, nil, outer4(47, inner)) }
	noI := vxlanHdr(1, eth4)
	noI[0] = 0
	geneveV1 := geneveHdr(1, 0x6558, 0, eth4)
	geneveV1[0] |= 0x40
	geneveShortOpts := geneveHdr(1, 0x6558, 2, nil)[:12]
	erspanV2in88be := erspan3Hdr(1, 0, false, eth4)
	nest := eth4
	for range maxTunnels + 1 {
		nest = ether(0x0800, nil, outer4(17, udp(4789, vxlanHdr(1, nest))))
	}
	badTLV := nflogFrame(binary.LittleEndian, v4)
	badTLV[4] = 2 // a TLV shorter than its own header
	noPayload := nflogFrame(binary.LittleEndian, v4)[:4+8+16]
	for _, tc := range []struct {
		name string
		lt   layers.LinkType
		b    []byte
		want Result
		why  Why
	}{
		{"udp other port", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(17, udp(53, eth4))), NotTCP, WhyNone},
		{"udp cut before the port", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(17, []byte{1, 2})), NotTCP, WhyNone},
		{"udp header cut", layers.LinkTypeEthernet, ether(0x0800, nil, outer4(17, udp(4789, nil)[:6])), Malformed, WhyUDPShort},
		{"vxlan header cut", layers.LinkTypeEthernet, vx(vxlanHdr(1, nil)[:5]), Malformed, WhyVXLANShort},
		{"vxlan without I flag", layers.LinkTypeEthernet, vx(noI), Malformed, WhyVXLANFlags},
		{"vxlan inner ethernet cut", layers.LinkTypeEthernet, vx(vxlanHdr(1, eth4[:10])), Malformed, WhyNone},
		{"vxlan inner arp", layers.LinkTypeEthernet, vx(vxlanHdr(1, ether(0x0806, nil, make([]byte, 28)))), NotTCP, WhyNone},
		{"vxlan fragment", layers.LinkTypeEthernet, func() []byte {
			b := vx(vxlanHdr(1, eth4))
			b[14+6] = 0x20 // outer MF
			return b
		}(), Fragment, WhyNone},
		{"geneve header cut", layers.LinkTypeEthernet, gv(geneveHdr(1, 0x6558, 0, nil)[:7]), Malformed, WhyGENEVEShort},
		{"geneve options cut", layers.LinkTypeEthernet, gv(geneveShortOpts), Malformed, WhyGENEVEShort},
		{"geneve version 1", layers.LinkTypeEthernet, gv(geneveV1), Malformed, WhyGENEVEVersion},
		{"geneve unknown protocol", layers.LinkTypeEthernet, gv(geneveHdr(1, 0x1234, 0, v4)), NotTCP, WhyNone},
		{"gre header cut", layers.LinkTypeEthernet, gr([]byte{0, 0, 8}), Malformed, WhyGREShort},
		{"gre optional words cut", layers.LinkTypeEthernet, gr(greHdr(greChecksum|greKey|greSeq, 0x0800, 1, nil)[:10]), Malformed, WhyGREShort},
		{"gre routing", layers.LinkTypeEthernet, gr(greHdr(greRouting, 0x0800, 0, v4)), Malformed, WhyGREFlags},
		{"gre version 1", layers.LinkTypeEthernet, gr(greHdr(greKey|1, 0x880b, 0, v4)), NotTCP, WhyGREVersion},
		{"gre unknown protocol", layers.LinkTypeEthernet, gr(greHdr(0, 0x0806, 0, v4)), NotTCP, WhyGREProto},
		{"erspan II cut", layers.LinkTypeEthernet, gr(greHdr(greSeq, 0x88be, 0, erspan2Hdr(1, nil)[:5])), Malformed, WhyERSPANShort},
		{"erspan II wrong version", layers.LinkTypeEthernet, gr(greHdr(greSeq, 0x88be, 0, erspanV2in88be)), Malformed, WhyERSPANVersion},
		{"erspan III cut", layers.LinkTypeEthernet, gr(greHdr(greSeq, 0x22eb, 0, erspan3Hdr(1, 0, false, nil)[:11])), Malformed, WhyERSPANShort},
		{"erspan III subheader cut", layers.LinkTypeEthernet, gr(greHdr(greSeq, 0x22eb, 0, erspan3Hdr(1, 0, true, nil)[:16])), Malformed, WhyERSPANShort},
		{"erspan III wrong version", layers.LinkTypeEthernet, gr(greHdr(greSeq, 0x22eb, 0, erspan2Hdr(1, eth4))), Malformed, WhyERSPANVersion},
		{"erspan III frame type", layers.LinkTypeEthernet, gr(greHdr(greSeq, 0x22eb, 0, erspan3Hdr(1, 7, false, eth4))), NotTCP, WhyERSPANFrame},
		{"tunnels too deep", layers.LinkTypeEthernet, nest, Malformed, WhyTooDeep},
		{"pppoe cut", layers.LinkTypeEthernet, ether(0x8864, nil, []byte{0x11, 0, 0, 1, 0}), Malformed, WhyPPPoEShort},
		{"pppoe discovery code", layers.LinkTypeEthernet, ether(0x8864, nil, []byte{0x11, 0x09, 0, 1, 0, 2, 0, 0x21}), Malformed, WhyPPPoEHeader},
		{"pppoe lcp", linkPPPoE, []byte{0x11, 0, 0, 1, 0, 6, 0xc0, 0x21, 1, 1, 0, 4}, NotTCP, WhyPPPProto},
		{"pppoe length under the protocol", linkPPPoE, append([]byte{0x11, 0, 0, 1, 0, 1, 0, 0x21}, v4...), Malformed, WhyPPPoEShort},
		{"ppp empty", linkPPP, []byte{0xff, 0x03}, Malformed, WhyPPPShort},
		{"ppp protocol cut", linkPPP, []byte{0xff, 0x03, 0x00}, Malformed, WhyPPPShort},
		{"ppp ipcp", linkPPP, []byte{0x80, 0x21, 1, 1, 0, 4}, NotTCP, WhyPPPProto},
		{"cisco hdlc cut", linkCHDLC, []byte{0x0f, 0}, Malformed, WhyHDLCShort},
		{"cisco hdlc address", linkCHDLC, append([]byte{0x01, 0x00, 0x08, 0x00}, v4...), Malformed, WhyHDLCAddress},
		{"cisco hdlc slarp", linkCHDLC, []byte{0x8f, 0x00, 0x80, 0x35, 0, 0, 0, 0}, NotTCP, WhyNone},
		{"nflog cut", linkNFLOG, []byte{2, 0}, Malformed, WhyNFLOGShort},
		{"nflog version", linkNFLOG, []byte{2, 1, 0, 0}, Malformed, WhyNFLOGVersion},
		{"nflog tlv length", linkNFLOG, badTLV, Malformed, WhyNFLOGTLV},
		{"nflog tlv past the end", linkNFLOG, []byte{2, 0, 0, 0, 64, 0, 1, 0, 0, 0}, Malformed, WhyNFLOGTLV},
		{"nflog no payload", linkNFLOG, noPayload, NotTCP, WhyNFLOGNoPayload},
	} {
		var p Packet
		r := Decode(tc.lt, tc.b, time.Time{}, &p)
		if r != tc.want || p.Why != tc.why {
			t.Errorf("%s: %v %q, want %v %q", tc.name, r, p.Why, tc.want, tc.why)
		}
		// Every prefix of a broken frame is decoded without a panic, and
		// never into a packet the whole frame is not.
		for n := range len(tc.b) {
			if Decode(tc.lt, tc.b[:n], time.Time{}, &p) == OK && r != OK {
				t.Errorf("%s: the first %d bytes decode, the whole frame does not", tc.name, n)
			}
		}
	}
}

// A tunnel cut by the snap length: the inner segment is there, its payload
// short by what the capture left out.
func TestDecodeTunnelSnaplen(t *testing.T) {
	frame := ether(0x0800, nil, outer4(17, udp(4789, vxlanHdr(1, ether(0x0800, nil, ipv4Packet(t))))))
	var p Packet
	f := Frame{Data: frame[:len(frame)-8], Length: len(frame), LinkType: layers.LinkTypeEthernet}
	if r := DecodeFrame(f, &p); r != OK || len(p.Payload) != 10 || p.PayloadLen != 18 {
		t.Errorf("%v: %d of %d payload bytes, want 10 of 18", r, len(p.Payload), p.PayloadLen)
	}
}

func TestWhyStrings(t *testing.T) {
	for w := WhyNone + 1; w < whyCount; w++ {
		if w.String() == "" {
			t.Errorf("reason %d has no text", w)
		}
	}
	if TunnelERSPAN3.String() != "erspan3" || Tunnel(200).String() != "unknown" || Why(200).String() != "unknown reason" {
		t.Error("names")
	}
}
