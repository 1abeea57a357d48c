package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// Tunnel names the encapsulation a decoded segment came out of.
type Tunnel uint8

const (
	TunnelNone    Tunnel = iota
	TunnelVXLAN          // UDP port 4789 (RFC 7348); AWS VPC Traffic Mirroring
	TunnelGENEVE         // UDP port 6081 (RFC 8926); AWS Gateway Load Balancer
	TunnelGRE            // GRE (RFC 2784/2890) carrying IP or Ethernet (0x6558)
	TunnelERSPAN1        // GRE 0x88be without a sequence number: Ethernet follows
	TunnelERSPAN2        // GRE 0x88be, ERSPAN version 1 header
	TunnelERSPAN3        // GRE 0x22eb, ERSPAN version 2 header
)

var tunnelNames = [...]string{"none", "vxlan", "geneve", "gre", "erspan1", "erspan2", "erspan3"}

func (t Tunnel) String() string {
	if int(t) < len(tunnelNames) {
		return tunnelNames[t]
	}
	return "unknown"
}

// The UDP ports of the tunnels decoded: IANA's, which AWS uses.
const (
	PortVXLAN  = 4789
	PortGENEVE = 6081
)

// Link types beyond the ones gopacket names as we use them.
const (
	linkPPP       = layers.LinkType(9)   // PPP, perhaps with HDLC-like address and control
	linkPPPSerial = layers.LinkType(50)  // PPP in HDLC-like or Cisco HDLC framing
	linkPPPoE     = layers.LinkType(51)  // PPPoE session header, then PPP
	linkCHDLC     = layers.LinkType(104) // Cisco HDLC
	linkNFLOG     = layers.LinkType(239) // Linux NFLOG: a header and TLVs
)

// Why is the reason behind a Malformed or NotTCP result of the tunnel and
// link-layer decoders. It is set on the Packet, so that a test, or a
// counter by reason, can tell one broken header from another.
type Why uint8

const (
	WhyNone Why = iota
	WhyTooDeep
	WhyUDPShort
	WhyVXLANShort
	WhyVXLANFlags
	WhyGENEVEShort
	WhyGENEVEVersion
	WhyGREShort
	WhyGREFlags
	WhyGREVersion
	WhyGREProto
	WhyERSPANShort
	WhyERSPANVersion
	WhyERSPANFrame
	WhyPPPShort
	WhyPPPProto
	WhyPPPoEShort
	WhyPPPoEHeader
	WhyHDLCShort
	WhyHDLCAddress
	WhyNFLOGShort
	WhyNFLOGVersion
	WhyNFLOGTLV
	WhyNFLOGNoPayload
	whyCount
)

var whyText = [whyCount]string{
	WhyNone:           "",
	WhyTooDeep:        "tunnels nested more than 4 deep",
	WhyUDPShort:       "UDP header of a tunnel truncated",
	WhyVXLANShort:     "VXLAN header truncated",
	WhyVXLANFlags:     "VXLAN header without the I flag (no valid VNI)",
	WhyGENEVEShort:    "GENEVE header or options truncated",
	WhyGENEVEVersion:  "GENEVE version other than 0",
	WhyGREShort:       "GRE header truncated",
	WhyGREFlags:       "GRE header with routing or reserved flags",
	WhyGREVersion:     "GRE version 1 (PPTP) is not decoded",
	WhyGREProto:       "GRE payload of a protocol other than IP, Ethernet or ERSPAN",
	WhyERSPANShort:    "ERSPAN header truncated",
	WhyERSPANVersion:  "ERSPAN header of the wrong version for its GRE protocol",
	WhyERSPANFrame:    "ERSPAN type III frame type other than Ethernet or IP",
	WhyPPPShort:       "PPP header truncated",
	WhyPPPProto:       "PPP protocol other than IPv4 or IPv6",
	WhyPPPoEShort:     "PPPoE header truncated",
	WhyPPPoEHeader:    "PPPoE header not version 1, type 1, session data",
	WhyHDLCShort:      "Cisco HDLC header truncated",
	WhyHDLCAddress:    "Cisco HDLC address neither 0x0f nor 0x8f",
	WhyNFLOGShort:     "NFLOG header truncated",
	WhyNFLOGVersion:   "NFLOG version other than 0",
	WhyNFLOGTLV:       "NFLOG TLV length shorter than its header or past the frame",
	WhyNFLOGNoPayload: "NFLOG record without a payload TLV",
}

func (w Why) String() string {
	if w < whyCount {
		return whyText[w]
	}
	return "unknown reason"
}

func malformed(p *Packet, w Why) Result {
	p.Why = w
	return Malformed
}

func notTCP(p *Packet, w Why) Result {
	p.Why = w
	return NotTCP
}

// decodeTunnel decodes a UDP or GRE payload b of an IP packet that says it
// holds wire bytes. UDP to a port other than the tunnels' is NotTCP, as
// before tunnels were decoded. The inner packet's addresses and ports
// replace the outer ones: the outer never stand for client or server.
func decodeTunnel(proto uint8, b []byte, wire, cut int, p *Packet) Result {
	if len(b) > wire {
		b, cut = b[:wire], 0 // the outer frame's padding is no inner byte
	}
	var dport uint16
	if proto == 17 {
		if len(b) < 4 {
			return NotTCP // no port to tell a tunnel by
		}
		dport = binary.BigEndian.Uint16(b[2:4])
		if dport != PortVXLAN && dport != PortGENEVE {
			return NotTCP
		}
		if len(b) < 8 {
			return malformed(p, WhyUDPShort)
		}
	}
	if p.depth >= maxTunnels {
		return malformed(p, WhyTooDeep)
	}
	p.depth++
	switch {
	case proto != 17:
		return decodeGRE(b, cut, p)
	case dport == PortVXLAN:
		return decodeVXLAN(b[8:], cut, p)
	}
	return decodeGENEVE(b[8:], cut, p)
}

// vni reads a VXLAN or GENEVE header's 24-bit network identifier.
func vni(h []byte) uint32 { return uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6]) }

// decodeVXLAN: 8 bytes (flags with I set, 24 reserved bits, VNI, 8
// reserved bits), then an Ethernet frame.
func decodeVXLAN(b []byte, cut int, p *Packet) Result {
	if len(b) < 8 {
		return malformed(p, WhyVXLANShort)
	}
	if b[0]&0x08 == 0 {
		return malformed(p, WhyVXLANFlags)
	}
	p.Tunnel, p.VNI = TunnelVXLAN, vni(b)
	return decodeEthernet(b[8:], cut, p)
}

// decodeGENEVE: 8 bytes (version and options length in 4-byte words,
// flags, protocol type, VNI), options skipped by their length (AWS's
// Gateway Load Balancer puts its flow cookie there), then a frame of the
// protocol type: Ethernet (0x6558) or an EtherType such as IPv4.
func decodeGENEVE(b []byte, cut int, p *Packet) Result {
	if len(b) < 8 {
		return malformed(p, WhyGENEVEShort)
	}
	if b[0]>>6 != 0 {
		return malformed(p, WhyGENEVEVersion)
	}
	n := 8 + int(b[0]&0x3f)*4
	if len(b) < n {
		return malformed(p, WhyGENEVEShort)
	}
	p.Tunnel, p.VNI = TunnelGENEVE, vni(b)
	if et := binary.BigEndian.Uint16(b[2:4]); et != etherTEB {
		return decodeEtherType(et, b[n:], cut, p)
	}
	return decodeEthernet(b[n:], cut, p)
}

// GRE flags (RFC 2784, RFC 2890; routing from RFC 1701).
const (
	greChecksum = 0x8000
	greRouting  = 0x4000
	greKey      = 0x2000
	greSeq      = 0x1000
	greReserved = 0x0ff8 // strict source route, recursion, reserved0
	greVersion  = 0x0007
)

// decodeGRE: flags and version, protocol type, then the optional checksum,
// key and sequence number words, then the payload by protocol type. ERSPAN
// rides on GRE: type I (0x88be, no sequence number) is a bare Ethernet
// frame, type II (0x88be with a sequence number) an 8-byte header with
// version 1, type III (0x22eb) a 12-byte header with version 2 and perhaps
// an 8-byte platform subheader.
func decodeGRE(b []byte, cut int, p *Packet) Result {
	if len(b) < 4 {
		return malformed(p, WhyGREShort)
	}
	flags := binary.BigEndian.Uint16(b[0:2])
	if flags&greVersion != 0 {
		return notTCP(p, WhyGREVersion)
	}
	if flags&(greRouting|greReserved) != 0 {
		return malformed(p, WhyGREFlags)
	}
	et := binary.BigEndian.Uint16(b[2:4])
	n := 4
	if flags&greChecksum != 0 {
		n += 4
	}
	var key uint32
	if flags&greKey != 0 {
		if len(b) >= n+4 {
			key = binary.BigEndian.Uint32(b[n:])
		}
		n += 4
	}
	if flags&greSeq != 0 {
		n += 4
	}
	if len(b) < n {
		return malformed(p, WhyGREShort)
	}
	b = b[n:]
	switch et {
	case etherTEB:
		p.Tunnel, p.VNI = TunnelGRE, key
		return decodeEthernet(b, cut, p)
	case etherERSPN:
		if flags&greSeq == 0 {
			p.Tunnel, p.VNI = TunnelERSPAN1, 0
			return decodeEthernet(b, cut, p)
		}
		if len(b) < 8 {
			return malformed(p, WhyERSPANShort)
		}
		if b[0]>>4 != 1 {
			return malformed(p, WhyERSPANVersion)
		}
		p.Tunnel, p.VNI = TunnelERSPAN2, uint32(binary.BigEndian.Uint16(b[2:4])&0x3ff)
		return decodeEthernet(b[8:], cut, p)
	case etherERSP3:
		if len(b) < 12 {
			return malformed(p, WhyERSPANShort)
		}
		if b[0]>>4 != 2 {
			return malformed(p, WhyERSPANVersion)
		}
		p.Tunnel, p.VNI = TunnelERSPAN3, uint32(binary.BigEndian.Uint16(b[2:4])&0x3ff)
		frame := (b[10] >> 2) & 0x1f
		n := 12
		if b[11]&1 != 0 { // O: a platform-specific subheader follows
			n += 8
		}
		if len(b) < n {
			return malformed(p, WhyERSPANShort)
		}
		switch frame {
		case 0:
			return decodeEthernet(b[n:], cut, p)
		case 2:
			return decodeIP(b[n:], cut, p)
		}
		return notTCP(p, WhyERSPANFrame)
	case etherIPv4, etherIPv6, etherMPLS, etherMPLSm:
		p.Tunnel, p.VNI = TunnelGRE, key
		return decodeEtherType(et, b, cut, p)
	}
	return notTCP(p, WhyGREProto)
}

// decodePPP: PPP's optional address and control bytes (0xff 0x03), then
// its protocol field, one byte when compressed (odd) or two. A Cisco HDLC
// frame may come under PPP_SERIAL's link type too.
func decodePPP(b []byte, cut int, p *Packet) Result {
	if len(b) >= 1 && (b[0] == 0x0f || b[0] == 0x8f) {
		return decodeCHDLC(b, cut, p)
	}
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
		b = b[2:]
	}
	if len(b) < 1 {
		return malformed(p, WhyPPPShort)
	}
	proto, n := uint16(b[0]), 1
	if b[0]&1 == 0 {
		if len(b) < 2 {
			return malformed(p, WhyPPPShort)
		}
		proto, n = binary.BigEndian.Uint16(b), 2
	}
	return decodePPPProto(proto, b[n:], cut, p)
}

func decodePPPProto(proto uint16, b []byte, cut int, p *Packet) Result {
	switch proto {
	case 0x21:
		return decodeIPv4(b, cut, p)
	case 0x57:
		return decodeIPv6(b, cut, p)
	}
	return notTCP(p, WhyPPPProto) // LCP, IPCP, ... and protocols not decoded
}

// decodePPPoE: the session stage's 6 bytes (version and type 1, code 0,
// session id, payload length), then PPP's two-byte protocol field.
func decodePPPoE(b []byte, cut int, p *Packet) Result {
	if len(b) < 8 {
		return malformed(p, WhyPPPoEShort)
	}
	if b[0] != 0x11 || b[1] != 0 {
		return malformed(p, WhyPPPoEHeader)
	}
	if n := int(binary.BigEndian.Uint16(b[4:6])); len(b)-6 > n {
		b, cut = b[:6+n], 0 // Ethernet padding
	}
	if len(b) < 8 {
		return malformed(p, WhyPPPoEShort)
	}
	return decodePPPProto(binary.BigEndian.Uint16(b[6:8]), b[8:], cut, p)
}

// decodeCHDLC: address (0x0f unicast, 0x8f broadcast), control, and an
// EtherType.
func decodeCHDLC(b []byte, cut int, p *Packet) Result {
	if len(b) < 4 {
		return malformed(p, WhyHDLCShort)
	}
	if b[0] != 0x0f && b[0] != 0x8f {
		return malformed(p, WhyHDLCAddress)
	}
	return decodeEtherType(binary.BigEndian.Uint16(b[2:4]), b[4:], cut, p)
}

// nflogPayload is NFULA_PAYLOAD: the packet from its network header.
const nflogPayload = 9

// decodeNFLOG: a 4-byte header (address family, version 0, resource id),
// then TLVs of a length (the 4-byte TLV header included) and a type, each
// padded to 4 bytes. Length and type are in the capturing host's byte
// order, which the file does not record: the first TLV's type (a small
// number) tells it.
func decodeNFLOG(b []byte, cut int, p *Packet) Result {
	if len(b) < 4 {
		return malformed(p, WhyNFLOGShort)
	}
	if b[1] != 0 {
		return malformed(p, WhyNFLOGVersion)
	}
	var order binary.ByteOrder = binary.LittleEndian
	if len(b) >= 8 && b[6] == 0 && b[7] != 0 {
		order = binary.BigEndian
	}
	for off := 4; off+4 <= len(b); {
		n := int(order.Uint16(b[off:]))
		typ := order.Uint16(b[off+2:]) & 0x3fff // without the nested and byte-order flags
		if n < 4 {
			return malformed(p, WhyNFLOGTLV)
		}
		if typ == nflogPayload {
			if off+n > len(b) {
				return decodeIP(b[off+4:], cut, p) // cut by the snap length
			}
			return decodeIP(b[off+4:off+n], 0, p)
		}
		if off+n > len(b) {
			return malformed(p, WhyNFLOGTLV)
		}
		off += (n + 3) &^ 3
	}
	return notTCP(p, WhyNFLOGNoPayload)
}
