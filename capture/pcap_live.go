//go:build pcap

package capture

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// Pcap is a live source through libpcap, for systems where AF_PACKET rings
// or BPF programs are not allowed. It exists in builds with the tag pcap.
type Pcap struct {
	h  *pcap.Handle
	lt layers.LinkType
}

// OpenPcap captures on iface ("" for every interface) with a kernel filter
// like the classic one: TCP of the ports and every tunnel packet (VXLAN,
// GENEVE, GRE), not the outgoing copy of loopback packets.
func OpenPcap(iface string, ports []uint16, rc RingConfig) (*Pcap, error) {
	if iface == "" {
		iface = "any"
	}
	in, err := pcap.NewInactiveHandle(iface)
	if err != nil {
		return nil, fmt.Errorf("libpcap on %s: %w", iface, err)
	}
	defer in.CleanUp()
	// Immediate mode makes libpcap use TPACKET_V2, whose frames are each
	// as large as the snap length: with 262,144 a 16 MiB buffer held 64
	// packets and a small burst overflowed it (kernel drops in the
	// end-to-end test). 65,600 covers the largest loopback packet (MTU
	// 65,536 plus a link header) and holds four times the packets.
	for _, set := range []error{
		in.SetSnapLen(65600),
		in.SetTimeout(rc.PollTimeout),
		in.SetBufferSize(rc.BlockSize * rc.Blocks),
		in.SetImmediateMode(true),
	} {
		if set != nil {
			return nil, fmt.Errorf("libpcap on %s: %w", iface, set)
		}
	}
	h, err := in.Activate()
	if err != nil {
		return nil, fmt.Errorf("libpcap on %s: %w (needs CAP_NET_RAW or root)", iface, err)
	}
	var ps []string
	for _, p := range ports {
		ps = append(ps, fmt.Sprintf("port %d", p))
	}
	// Tunnels go to user space whole, as with the classic filter: the
	// decoder finds the inner packet and the tracker its ports.
	filter := fmt.Sprintf("((tcp and (%s)) or udp dst port %d or udp dst port %d or ip proto 47 or ip6 proto 47)",
		strings.Join(ps, " or "), PortVXLAN, PortGENEVE)
	if iface == "any" {
		filter += " and not (outbound and ifindex 1)"
	}
	if err := h.SetBPFFilter(filter); err != nil {
		h.Close()
		return nil, fmt.Errorf("libpcap filter %q: %w", filter, err)
	}
	return &Pcap{h: h, lt: h.LinkType()}, nil
}

// ReadFrame returns the next frame, valid until the next call.
func (p *Pcap) ReadFrame() (Frame, error) {
	data, ci, err := p.h.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, pcap.NextErrorTimeoutExpired) {
			return Frame{}, ErrTimeout
		}
		return Frame{}, err
	}
	return Frame{Data: data, Timestamp: ci.Timestamp, Length: ci.Length, LinkType: p.lt}, nil
}

// BlockDone is always true: libpcap does not say where its buffer ends, so
// a pipeline that batches its output flushes after every frame.
func (p *Pcap) BlockDone() bool { return true }

// Stats returns libpcap's counters.
func (p *Pcap) Stats() (KernelStats, error) {
	s, err := p.h.Stats()
	if err != nil {
		return KernelStats{}, err
	}
	return KernelStats{Packets: uint64(s.PacketsReceived), Drops: uint64(s.PacketsDropped + s.PacketsIfDropped)}, nil
}

// Close closes the handle.
func (p *Pcap) Close() error {
	p.h.Close()
	return nil
}
