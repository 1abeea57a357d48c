package capture

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// TCP flags, as in the header's low byte.
const (
	FlagFIN uint8 = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
)

// Packet is one decoded TCP segment.
type Packet struct {
	Timestamp        time.Time
	SrcIP, DstIP     netip.Addr
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Payload          []byte // captured payload, aliases the frame
	// PayloadLen is the payload length the IP header announces (for BIG
	// TCP's length 0, the frame's on the wire); more than len(Payload) when
	// the capture cut the frame short (snap length).
	PayloadLen int
	// Tunnel is the innermost encapsulation the segment came out of
	// (TunnelNone for a plain frame); then the addresses and ports above
	// are the inner packet's, never the tunnel's. VNI is that tunnel's
	// identifier: the VXLAN or GENEVE VNI, the GRE key, the ERSPAN session.
	Tunnel Tunnel
	VNI    uint32
	// Why says which header was wrong when Decode returns Malformed or
	// NotTCP for a reason of the encapsulations and link types below
	// (WhyNone elsewhere).
	Why Why

	depth uint8 // tunnels entered while decoding this frame
}

// Result says what Decode made of a frame.
type Result uint8

const (
	// OK: p holds a TCP segment.
	OK Result = iota
	// NotTCP: a well-formed frame that carries no TCP (ARP, UDP, ...).
	NotTCP
	// Fragment: an IP fragment; fragments are not reassembled.
	Fragment
	// Malformed: a frame too short or inconsistent to decode.
	Malformed
	// UnknownLink: a link type this decoder does not know.
	UnknownLink
)

// maxTunnels bounds the encapsulations entered in one frame (a VXLAN in a
// GRE in ...), so that a crafted frame cannot make the decoder recurse.
const maxTunnels = 4

// maxTags bounds the VLAN/MPLS/IPv6-extension headers walked in one frame.
const maxTags = 8

const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86dd
	etherVLAN  = 0x8100
	etherQinQ  = 0x88a8
	etherQinQ2 = 0x9100 // pre-standard QinQ
	etherMPLS  = 0x8847
	etherMPLSm = 0x8848
	etherTEB   = 0x6558 // transparent Ethernet bridging: an Ethernet frame follows
	etherPPPoE = 0x8864 // PPPoE session stage
	etherERSPN = 0x88be // ERSPAN type I and II
	etherERSP3 = 0x22eb // ERSPAN type III
)

// Decode fills p from a whole frame of the given link type. It never
// allocates.
func Decode(lt layers.LinkType, frame []byte, ts time.Time, p *Packet) Result {
	return decode(lt, frame, 0, ts, p)
}

// DecodeFrame is Decode for a frame the capture may have cut short: where
// the IP header gives no length (see decodeIPv4), the length comes from
// f.Length, not from the bytes captured.
func DecodeFrame(f Frame, p *Packet) Result {
	return decode(f.LinkType, f.Data, max(f.Length-len(f.Data), 0), f.Timestamp, p)
}

// cut, here and below, counts the frame's bytes the capture left out.
func decode(lt layers.LinkType, frame []byte, cut int, ts time.Time, p *Packet) Result {
	p.Timestamp = ts
	p.Tunnel, p.VNI, p.Why, p.depth = TunnelNone, 0, WhyNone, 0
	switch lt {
	case linkPPP, linkPPPSerial:
		return decodePPP(frame, cut, p)
	case linkPPPoE:
		return decodePPPoE(frame, cut, p)
	case linkCHDLC:
		return decodeCHDLC(frame, cut, p)
	case linkNFLOG:
		return decodeNFLOG(frame, cut, p)
	case layers.LinkTypeEthernet:
		return decodeEthernet(frame, cut, p)
	case layers.LinkTypeLinuxSLL:
		if len(frame) < 16 {
			return Malformed
		}
		return decodeEtherType(binary.BigEndian.Uint16(frame[14:16]), frame[16:], cut, p)
	case 276: // LINKTYPE_LINUX_SLL2, written by tcpdump -i any since libpcap 1.10
		if len(frame) < 20 {
			return Malformed
		}
		return decodeEtherType(binary.BigEndian.Uint16(frame[0:2]), frame[20:], cut, p)
	case layers.LinkTypeRaw, 12, 14: // DLT_RAW's several numbers across systems
		return decodeIP(frame, cut, p)
	case layers.LinkTypeIPv4:
		return decodeIPv4(frame, cut, p)
	case layers.LinkTypeIPv6:
		return decodeIPv6(frame, cut, p)
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		// 4-byte address family: host byte order of the capturing machine
		// for NULL, network order for LOOP. Values of both orders are tried.
		if len(frame) < 4 {
			return Malformed
		}
		af := binary.LittleEndian.Uint32(frame)
		if af > 0xffff {
			af = binary.BigEndian.Uint32(frame)
		}
		switch af {
		case 2:
			return decodeIPv4(frame[4:], cut, p)
		case 10, 24, 28, 30: // Linux, NetBSD/OpenBSD, FreeBSD, Darwin
			return decodeIPv6(frame[4:], cut, p)
		}
		return NotTCP
	}
	return UnknownLink
}

func decodeEthernet(b []byte, cut int, p *Packet) Result {
	if len(b) < 14 {
		return Malformed
	}
	et := binary.BigEndian.Uint16(b[12:14])
	if et < 0x0600 {
		// IEEE 802.3 length field: LLC, perhaps with a SNAP header.
		b = b[14:]
		if len(b) < 8 {
			return Malformed
		}
		if b[0] != 0xaa || b[1] != 0xaa || b[2] != 0x03 {
			return NotTCP
		}
		return decodeEtherType(binary.BigEndian.Uint16(b[6:8]), b[8:], cut, p)
	}
	return decodeEtherType(et, b[14:], cut, p)
}

func decodeEtherType(et uint16, b []byte, cut int, p *Packet) Result {
	for range maxTags {
		switch et {
		case etherIPv4:
			return decodeIPv4(b, cut, p)
		case etherIPv6:
			return decodeIPv6(b, cut, p)
		case etherVLAN, etherQinQ, etherQinQ2:
			if len(b) < 4 {
				return Malformed
			}
			et, b = binary.BigEndian.Uint16(b[2:4]), b[4:]
		case etherPPPoE:
			return decodePPPoE(b, cut, p)
		case etherMPLS, etherMPLSm:
			for range maxTags {
				if len(b) < 4 {
					return Malformed
				}
				bottom := b[2]&1 != 0
				b = b[4:]
				if bottom {
					return decodeIP(b, cut, p)
				}
			}
			return Malformed
		default:
			return NotTCP
		}
	}
	return Malformed
}

func decodeIP(b []byte, cut int, p *Packet) Result {
	if len(b) == 0 {
		return Malformed
	}
	switch b[0] >> 4 {
	case 4:
		return decodeIPv4(b, cut, p)
	case 6:
		return decodeIPv6(b, cut, p)
	}
	return NotTCP
}

func decodeIPv4(b []byte, cut int, p *Packet) Result {
	if len(b) < 20 || b[0]>>4 != 4 {
		return Malformed
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total == 0 {
		// BIG TCP: a GSO packet too long for the field gets 0, and the
		// kernel takes the length from the packet (iph_totlen), as tcpdump
		// does. A pcap keeps no GSO flag, so any 0 is taken that way.
		total = len(b) + cut
	}
	if ihl < 20 || total < ihl || len(b) < ihl {
		return Malformed
	}
	proto := b[9]
	if proto != 6 && proto != 17 && proto != 47 {
		return NotTCP
	}
	if frag := binary.BigEndian.Uint16(b[6:8]); frag&0x3fff != 0 {
		return Fragment // MF set or a non-zero offset
	}
	if proto != 6 {
		return decodeTunnel(proto, b[ihl:], total-ihl, cut, p)
	}
	p.SrcIP = netip.AddrFrom4([4]byte(b[12:16]))
	p.DstIP = netip.AddrFrom4([4]byte(b[16:20]))
	// total bounds the segment: Ethernet pads short frames.
	return decodeTCP(b[ihl:], total-ihl, p)
}

func decodeIPv6(b []byte, cut int, p *Packet) Result {
	if len(b) < 40 || b[0]>>4 != 6 {
		return Malformed
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	next := b[6]
	// Set before the extension headers are walked, and again by an inner
	// packet: the addresses are always the innermost IP header's.
	p.SrcIP = netip.AddrFrom16([16]byte(b[8:24]))
	p.DstIP = netip.AddrFrom16([16]byte(b[24:40]))
	b = b[40:]
	if plen == 0 {
		// BIG TCP, as for IPv4. Kernels that add a hop-by-hop Jumbo
		// Payload option put this same length in it.
		plen = len(b) + cut
	}
	for range maxTags {
		switch next {
		case 6:
			return decodeTCP(b, plen, p)
		case 17, 47: // UDP, GRE: perhaps a tunnel
			return decodeTunnel(next, b, plen, cut, p)
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < 8 {
				return Malformed
			}
			n := (int(b[1]) + 1) * 8
			if len(b) < n || plen < n {
				return Malformed
			}
			next, b, plen = b[0], b[n:], plen-n
		case 51: // authentication header
			if len(b) < 8 {
				return Malformed
			}
			n := (int(b[1]) + 2) * 4
			if len(b) < n || plen < n {
				return Malformed
			}
			next, b, plen = b[0], b[n:], plen-n
		case 44:
			return Fragment
		default:
			return NotTCP
		}
	}
	return Malformed
}

// decodeTCP reads a TCP header; wire is the segment length from the IP header.
func decodeTCP(b []byte, wire int, p *Packet) Result {
	if len(b) < 20 {
		return Malformed
	}
	off := int(b[12]>>4) * 4
	if off < 20 || len(b) < off || wire < off {
		return Malformed
	}
	p.SrcPort = binary.BigEndian.Uint16(b[0:2])
	p.DstPort = binary.BigEndian.Uint16(b[2:4])
	p.Seq = binary.BigEndian.Uint32(b[4:8])
	p.Ack = binary.BigEndian.Uint32(b[8:12])
	p.Flags = b[13] & 0x1f
	if len(b) > wire {
		b = b[:wire] // link-layer padding or trailer
	}
	p.Payload = b[off:]
	p.PayloadLen = wire - off
	return OK
}
