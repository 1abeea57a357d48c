//go:build linux

package bpf

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

type frameSpec struct {
	v6, udp, hopByHop, vlan, fragment bool
	src, dst                          uint16
	syn, fin, rst                     bool
	payload                           string
	// zeroLen clears the IP length as the kernel does for BIG TCP;
	// with hopByHop, the IPv6 header carries a Jumbo Payload option.
	zeroLen bool
}

func buildFrame(t *testing.T, f frameSpec) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1},
		EthernetType: layers.EthernetTypeIPv4}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	if f.vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4})
		if f.v6 {
			ls[len(ls)-1].(*layers.Dot1Q).Type = layers.EthernetTypeIPv6
		}
	}
	var netLayer gopacket.NetworkLayer
	proto := layers.IPProtocolTCP
	if f.udp {
		proto = layers.IPProtocolUDP
	}
	if f.v6 {
		if !f.vlan {
			eth.EthernetType = layers.EthernetTypeIPv6
		}
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto,
			SrcIP: net.ParseIP("2001:db8::2"), DstIP: net.ParseIP("2001:db8::1")}
		netLayer = ip
		ls = append(ls, ip)
		if f.hopByHop {
			ip.NextHeader = layers.IPProtocolIPv6HopByHop
			hbh := &layers.IPv6HopByHop{}
			hbh.NextHeader = proto
			hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
			if f.zeroLen {
				hbh.Options[0].OptionType = 0xc2 // Jumbo Payload
			}
			ls = append(ls, hbh)
		}
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto,
			SrcIP: net.IP{192, 0, 2, 2}, DstIP: net.IP{192, 0, 2, 1}}
		if f.fragment {
			ip.FragOffset = 100
		}
		netLayer = ip
		ls = append(ls, ip)
	}
	if f.udp {
		u := &layers.UDP{SrcPort: layers.UDPPort(f.src), DstPort: layers.UDPPort(f.dst)}
		u.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, u)
	} else {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.src), DstPort: layers.TCPPort(f.dst), Seq: 1, Ack: 1,
			ACK: !f.syn, SYN: f.syn, FIN: f.fin, RST: f.rst, Window: 100}
		tcp.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, tcp)
	}
	ls = append(ls, gopacket.Payload(f.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if f.zeroLen {
		ip := b[14:]
		if f.vlan {
			ip = b[18:]
		}
		if !f.v6 {
			binary.BigEndian.PutUint16(ip[2:], 0)
		} else {
			if f.hopByHop {
				binary.BigEndian.PutUint32(ip[44:], uint32(len(ip)-40))
			}
			binary.BigEndian.PutUint16(ip[4:], 0)
		}
	}
	return b
}

func arpFrame(t *testing.T) []byte {
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: []byte{2, 0, 0, 0, 0, 2}, SourceProtAddress: []byte{192, 0, 2, 2},
			DstHwAddress: []byte{0, 0, 0, 0, 0, 0}, DstProtAddress: []byte{192, 0, 2, 1}})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// outer wraps a tunnel header and its inner frame (or packet) in an
// Ethernet, IPv4 (v6: IPv6) and, for UDP tunnels, UDP header to dport,
// as a mirror target receives them.
func outer(v6 bool, proto uint8, dport uint16, tunnel []byte) []byte {
	b := []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00}
	l4 := tunnel
	if proto == 17 {
		l4 = binary.BigEndian.AppendUint16([]byte{0xc3, 0x50}, dport)
		l4 = binary.BigEndian.AppendUint16(l4, uint16(8+len(tunnel)))
		l4 = append(append(l4, 0, 0), tunnel...)
	}
	if v6 {
		b[12], b[13] = 0x86, 0xdd
		ip := make([]byte, 40)
		ip[0], ip[6], ip[7] = 0x60, proto, 64
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[23], ip[39] = 1, 2
		return append(append(b, ip...), l4...)
	}
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	return append(append(b, ip...), l4...)
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// TestFilterTunnels: mirrored packets are kept or dropped by their inner
// headers, as if they had been captured plain.
func TestFilterTunnels(t *testing.T) {
	testutil.Privileged(t)
	f, err := NewFilter([]uint16{8080})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer f.Close()
	const get = "GET / HTTP/1.1\r\n\r\n"
	in := buildFrame(t, frameSpec{src: 40000, dst: 8080, payload: get})
	in6 := buildFrame(t, frameSpec{v6: true, src: 8080, dst: 40000, payload: "HTTP/1.1 200 OK\r\n\r\n"})
	inVLAN := buildFrame(t, frameSpec{vlan: true, src: 40000, dst: 8080, payload: get})
	other := buildFrame(t, frameSpec{src: 40000, dst: 8081, payload: get})
	ack := buildFrame(t, frameSpec{src: 40000, dst: 8080})
	vxlan := []byte{0x08, 0, 0, 0, 0, 0, 42, 0}
	geneve := func(optWords int, proto uint16) []byte {
		return append([]byte{byte(optWords), 0, byte(proto >> 8), byte(proto), 0, 0, 42, 0}, make([]byte, optWords*4)...)
	}
	gre := func(flags, proto uint16, words int) []byte {
		return append([]byte{byte(flags >> 8), byte(flags), byte(proto >> 8), byte(proto)}, make([]byte, words*4)...)
	}
	erspan2 := []byte{0x10, 0, 0, 5, 0, 0, 0, 0}
	erspan3 := func(ft uint8, o bool) []byte {
		b := []byte{0x20, 0, 0, 5, 0, 0, 0, 0, 0, 0, ft << 2, 0}
		if o {
			b[11] = 1
			b = append(b, make([]byte, 8)...)
		}
		return b
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		keep  bool
	}{
		{"vxlan", outer(false, 17, 4789, cat(vxlan, in)), true},
		{"vxlan inner ipv6", outer(false, 17, 4789, cat(vxlan, in6)), true},
		{"vxlan inner vlan", outer(false, 17, 4789, cat(vxlan, inVLAN)), true},
		{"vxlan over ipv6", outer(true, 17, 4789, cat(vxlan, in)), true},
		{"vxlan other port", outer(false, 17, 4789, cat(vxlan, other)), false},
		{"vxlan pure ack", outer(false, 17, 4789, cat(vxlan, ack)), false},
		{"vxlan without I flag", outer(false, 17, 4789, cat([]byte{0, 0, 0, 0, 0, 0, 42, 0}, in)), false},
		{"vxlan cut", outer(false, 17, 4789, cat(vxlan, in[:30])), false},
		{"udp other port", outer(false, 17, 4790, cat(vxlan, in)), false},
		{"geneve ethernet", outer(false, 17, 6081, cat(geneve(0, 0x6558), in)), true},
		{"geneve options, ipv4", outer(false, 17, 6081, cat(geneve(6, 0x0800), in[14:])), true},
		{"geneve ipv6", outer(true, 17, 6081, cat(geneve(1, 0x86dd), in6[14:])), true},
		{"geneve other port", outer(false, 17, 6081, cat(geneve(2, 0x6558), other)), false},
		{"geneve version 1", outer(false, 17, 6081, cat([]byte{0x40, 0, 0x65, 0x58, 0, 0, 1, 0}, in)), false},
		{"gre ip", outer(false, 47, 0, cat(gre(0, 0x0800, 0), in[14:])), true},
		{"gre key seq checksum", outer(false, 47, 0, cat(gre(0xb000, 0x86dd, 3), in6[14:])), true},
		{"gretap", outer(false, 47, 0, cat(gre(0x2000, 0x6558, 1), in)), true},
		{"gretap other port", outer(false, 47, 0, cat(gre(0x2000, 0x6558, 1), other)), false},
		{"gre routing", outer(false, 47, 0, cat(gre(0x4000, 0x0800, 0), in[14:])), false},
		{"erspan type I", outer(false, 47, 0, cat(gre(0, 0x88be, 0), in)), true},
		{"erspan type II", outer(true, 47, 0, cat(gre(0x1000, 0x88be, 1), erspan2, in)), true},
		{"erspan type III", outer(false, 47, 0, cat(gre(0x1000, 0x22eb, 1), erspan3(0, false), in6)), true},
		{"erspan type III subheader", outer(false, 47, 0, cat(gre(0x1000, 0x22eb, 1), erspan3(0, true), in)), true},
		{"erspan type III ip frame", outer(false, 47, 0, cat(gre(0x1000, 0x22eb, 1), erspan3(2, false), in6[14:])), true},
		{"erspan type III other port", outer(false, 47, 0, cat(gre(0x1000, 0x22eb, 1), erspan3(0, false), other)), false},
	} {
		ret, _, err := f.Program().Test(tc.frame)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if keep := ret != 0; keep != tc.keep {
			t.Errorf("%s: returned %d, want keep=%v", tc.name, ret, tc.keep)
		}
	}
}

func TestFilterVerdicts(t *testing.T) {
	testutil.Privileged(t)
	f, err := NewFilter([]uint16{8080, 9000})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer f.Close()
	const get = "GET / HTTP/1.1\r\n\r\n"
	truncated := buildFrame(t, frameSpec{dst: 8080, payload: get})[:14+20+10]
	for _, tc := range []struct {
		name  string
		frame []byte
		keep  bool
	}{
		{"ipv4 to the port", buildFrame(t, frameSpec{src: 40000, dst: 8080, payload: get}), true},
		{"ipv4 from the port", buildFrame(t, frameSpec{src: 8080, dst: 40000, payload: "HTTP/1.1 200 OK\r\n\r\n"}), true},
		{"ipv4 second port", buildFrame(t, frameSpec{src: 40000, dst: 9000, payload: get}), true},
		{"ipv6 to the port", buildFrame(t, frameSpec{v6: true, src: 40000, dst: 8080, payload: get}), true},
		{"ipv6 from the port", buildFrame(t, frameSpec{v6: true, src: 8080, dst: 40000, payload: "x"}), true},
		{"ipv6 hop-by-hop", buildFrame(t, frameSpec{v6: true, hopByHop: true, src: 40000, dst: 8080, payload: get}), true},
		{"vlan tag", buildFrame(t, frameSpec{vlan: true, src: 40000, dst: 8080, payload: get}), true},
		{"vlan tag ipv6", buildFrame(t, frameSpec{vlan: true, v6: true, src: 40000, dst: 8080, payload: get}), true},
		{"syn", buildFrame(t, frameSpec{src: 40000, dst: 8080, syn: true}), true},
		{"fin", buildFrame(t, frameSpec{src: 40000, dst: 8080, fin: true}), true},
		{"rst", buildFrame(t, frameSpec{src: 8080, dst: 40000, rst: true}), true},
		{"other port", buildFrame(t, frameSpec{src: 40000, dst: 8081, payload: get}), false},
		{"ipv6 other port", buildFrame(t, frameSpec{v6: true, src: 40000, dst: 443, payload: get}), false},
		{"udp to the port", buildFrame(t, frameSpec{udp: true, src: 40000, dst: 8080, payload: get}), false},
		{"arp", arpFrame(t), false},
		{"pure ack", buildFrame(t, frameSpec{src: 40000, dst: 8080}), false},
		{"truncated", truncated, false},
		{"later fragment", buildFrame(t, frameSpec{fragment: true, src: 40000, dst: 8080, payload: get}), false},
		// BIG TCP: an IP length of 0 means the packet's length.
		{"ipv4 length 0", buildFrame(t, frameSpec{zeroLen: true, src: 40000, dst: 8080, payload: get}), true},
		{"ipv4 length 0 vlan", buildFrame(t, frameSpec{zeroLen: true, vlan: true, src: 8080, dst: 40000, payload: "x"}), true},
		{"ipv6 length 0", buildFrame(t, frameSpec{zeroLen: true, v6: true, src: 40000, dst: 8080, payload: get}), true},
		{"ipv6 jumbo option", buildFrame(t, frameSpec{zeroLen: true, v6: true, hopByHop: true, src: 40000, dst: 8080, payload: get}), true},
		{"ipv4 length 0 other port", buildFrame(t, frameSpec{zeroLen: true, src: 40000, dst: 8081, payload: get}), false},
		// (Not IPv4: gopacket pads that frame to 60 bytes, and the padding
		// would count as payload, for the decoder too.)
		{"ipv6 length 0 pure ack", buildFrame(t, frameSpec{zeroLen: true, v6: true, src: 40000, dst: 8080}), false},
	} {
		ret, _, err := f.Program().Test(tc.frame)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if keep := ret != 0; keep != tc.keep {
			t.Errorf("%s: returned %d, want keep=%v", tc.name, ret, tc.keep)
		}
		if tc.keep && ret != ^uint32(0) {
			t.Errorf("%s: keeps %d bytes, want all", tc.name, ret)
		}
	}
}
