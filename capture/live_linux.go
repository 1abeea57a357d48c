//go:build linux

package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// Live reads frames from an AF_PACKET TPACKET_V3 ring.
type Live struct {
	tp        *afpacket.TPacket
	iface     string
	linkTypes map[int]layers.LinkType // by interface index, looked up once
}

// OpenLive opens a ring on iface ("" for every interface). The socket
// receives every packet until a filter is attached; attach one at once (the
// few packets queued before it are dropped by the pipeline's own checks).
func OpenLive(iface string, rc RingConfig) (*Live, error) {
	if iface != "" {
		if _, err := net.InterfaceByName(iface); err != nil {
			return nil, fmt.Errorf("interface %q: %w", iface, err)
		}
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(iface),
		afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptFrameSize(1<<16),
		afpacket.OptBlockSize(rc.BlockSize),
		afpacket.OptNumBlocks(rc.Blocks),
		afpacket.OptBlockTimeout(rc.BlockTimeout),
		afpacket.OptPollTimeout(rc.PollTimeout),
		afpacket.OptAddVLANHeader(true),
	)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("open AF_PACKET socket: %w (needs CAP_NET_RAW or root)", err)
		}
		return nil, fmt.Errorf("open AF_PACKET ring: %w", err)
	}
	return &Live{tp: tp, iface: iface, linkTypes: map[int]layers.LinkType{}}, nil
}

// AttachEBPF attaches a loaded socket filter program.
func (l *Live) AttachEBPF(progFD int) error {
	if err := l.tp.SetEBPF(int32(progFD)); err != nil {
		return fmt.Errorf("attach eBPF socket filter: %w", err)
	}
	return nil
}

// AttachClassic attaches a classic BPF filter.
func (l *Live) AttachClassic(prog []bpf.RawInstruction) error {
	if err := l.tp.SetBPF(prog); err != nil {
		return fmt.Errorf("attach classic BPF filter: %w", err)
	}
	return nil
}

// ReadFrame returns the next frame; its Data is valid until the next call.
func (l *Live) ReadFrame() (Frame, error) {
	data, ci, err := l.tp.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, afpacket.ErrTimeout) {
			return Frame{}, ErrTimeout
		}
		return Frame{}, err
	}
	lt, ok := l.linkTypes[ci.InterfaceIndex]
	if !ok {
		lt = linkTypeOf(ci.InterfaceIndex)
		l.linkTypes[ci.InterfaceIndex] = lt
	}
	return Frame{Data: data, Timestamp: ci.Timestamp, Length: ci.Length, LinkType: lt}, nil
}

// linkTypeOf maps a device's ARPHRD type to the framing AF_PACKET SOCK_RAW
// gives: a link header for Ethernet-like devices (loopback included), none
// for raw-IP devices (tun, WireGuard, ipip).
func linkTypeOf(ifindex int) layers.LinkType {
	iface, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return layers.LinkTypeEthernet
	}
	b, err := os.ReadFile("/sys/class/net/" + iface.Name + "/type")
	if err != nil {
		return layers.LinkTypeEthernet
	}
	switch t, _ := strconv.Atoi(strings.TrimSpace(string(b))); t {
	case 65534, 778, 776, 768, 769: // ARPHRD_NONE, IPGRE, SIT, TUNNEL, TUNNEL6
		return layers.LinkTypeRaw
	}
	return layers.LinkTypeEthernet
}

// Stats reads the kernel's counters, summed since the socket opened.
func (l *Live) Stats() (KernelStats, error) {
	_, v3, err := l.tp.SocketStats()
	if err != nil {
		return KernelStats{}, err
	}
	return KernelStats{Packets: uint64(v3.Packets()), Drops: uint64(v3.Drops()), Freezes: uint64(v3.QueueFreezes())}, nil
}

// Close closes the socket and unmaps the ring.
func (l *Live) Close() error {
	l.tp.Close()
	return nil
}
