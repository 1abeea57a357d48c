//go:build linux

package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Live reads frames from an AF_PACKET TPACKET_V3 ring of our own: frames
// are read in place from the mapped blocks (no copy, no lock, no
// allocation), and the reader knows where a block ends, which is when the
// pipeline flushes what it batched (see BlockDone).
type Live struct {
	fd          int
	file        *os.File        // the socket in Go's poller: waiting parks the goroutine, not a thread
	rc          syscall.RawConn // of file
	ring        []byte
	blocks      int
	blkSize     int
	pollTimeout time.Duration
	ifindex     int

	cur     int    // block being read
	left    uint32 // frames left in it
	next    uint32 // offset of the next frame in it
	holding bool   // the block is ours until released
	bound   bool

	packets, drops, freezes uint64 // summed: each read of PACKET_STATISTICS resets them
}

// Offsets in struct tpacket_block_desc and struct tpacket3_hdr
// (linux/if_packet.h); the sockaddr_ll follows the frame header at
// TPACKET_ALIGN(sizeof(struct tpacket3_hdr)).
const (
	blockStatusOff   = 8
	blockNumPktsOff  = 12
	blockFirstPktOff = 16
	frameNextOff     = 0
	frameSecOff      = 4
	frameNsecOff     = 8
	frameSnaplenOff  = 12
	frameLenOff      = 16
	frameMacOff      = 24
	frameSllOff      = 48
	sllHatypeOff     = frameSllOff + 8
)

// interfaceNames lists the interfaces that exist, for an error message.
func interfaceNames() string {
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) == 0 {
		return "none found"
	}
	names := make([]string, len(ifs))
	for i, ifc := range ifs {
		names[i] = ifc.Name
	}
	return "there are: " + strings.Join(names, ", ")
}

// OpenLive opens a ring on iface ("" for every interface). The socket
// receives nothing until a filter is attached, so no unfiltered packet
// reaches the pipeline.
func OpenLive(iface string, rc RingConfig) (*Live, error) {
	ifindex := 0
	if iface != "" {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return nil, fmt.Errorf("interface %q: no such interface here (%s); leave --interface out to capture on all", iface, interfaceNames())
		}
		ifindex = ifc.Index
	}
	if rc.BlockSize <= 0 || rc.BlockSize%os.Getpagesize() != 0 || rc.Blocks <= 0 {
		return nil, fmt.Errorf("ring: block size %d must be a positive multiple of the page size, blocks %d positive", rc.BlockSize, rc.Blocks)
	}
	// Protocol 0: no packet is queued until bind, after the filter.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("open AF_PACKET socket: %w (needs CAP_NET_RAW or root)", err)
		}
		return nil, fmt.Errorf("open AF_PACKET socket: %w", err)
	}
	l := &Live{fd: fd, blocks: rc.Blocks, blkSize: rc.BlockSize, pollTimeout: rc.PollTimeout, ifindex: ifindex}
	if err := l.setUpRing(rc); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open AF_PACKET ring: %w", err)
	}
	// Waiting for a block in a blocking poll(2) kept a thread in a system
	// call, which the runtime's monitor kept taking the P back from: a
	// fifth of the agent's CPU went to that churn. In the poller, a
	// wait parks the goroutine until the kernel signals a block.
	if err := unix.SetNonblock(fd, true); err != nil {
		l.Close()
		return nil, fmt.Errorf("open AF_PACKET ring: %w", err)
	}
	l.file = os.NewFile(uintptr(fd), "AF_PACKET")
	if l.rc, err = l.file.SyscallConn(); err != nil {
		l.Close()
		return nil, fmt.Errorf("open AF_PACKET ring: %w", err)
	}
	return l, nil
}

func (l *Live) setUpRing(rc RingConfig) error {
	if err := unix.SetsockoptInt(l.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("TPACKET_V3: %w", err)
	}
	const frameSize = 1 << 11 // only a hint in V3: frames are packed in blocks
	req := unix.TpacketReq3{
		Block_size:     uint32(rc.BlockSize),
		Block_nr:       uint32(rc.Blocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(rc.BlockSize / frameSize * rc.Blocks),
		Retire_blk_tov: uint32(max(1, rc.BlockTimeout/time.Millisecond)),
	}
	if err := unix.SetsockoptTpacketReq3(l.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("PACKET_RX_RING: %w", err)
	}
	ring, err := unix.Mmap(l.fd, 0, rc.BlockSize*rc.Blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	l.ring = ring
	return nil
}

// AttachEBPF attaches a loaded socket filter program and starts the capture.
func (l *Live) AttachEBPF(progFD int) error {
	if err := unix.SetsockoptInt(l.fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, progFD); err != nil {
		return fmt.Errorf("attach eBPF socket filter: %w", err)
	}
	return l.bind()
}

// AttachClassic attaches a classic BPF filter and starts the capture.
func (l *Live) AttachClassic(prog []bpf.RawInstruction) error {
	if len(prog) == 0 {
		return errors.New("attach classic BPF filter: empty program")
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	if err := unix.SetsockoptSockFprog(l.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attach classic BPF filter: %w", err)
	}
	return l.bind()
}

func (l *Live) bind() error {
	if l.bound {
		return nil
	}
	sa := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: l.ifindex}
	if err := unix.Bind(l.fd, &sa); err != nil {
		return fmt.Errorf("bind AF_PACKET socket: %w", err)
	}
	l.bound = true
	return nil
}

// fanoutMode: spread by a hash of the flow, which is the same in both
// directions, so a connection stays with one socket and the pipeline
// behind it; reassemble fragments first, so that they hash like the rest
// of their flow.
const fanoutMode = unix.PACKET_FANOUT_HASH | unix.PACKET_FANOUT_FLAG_DEFRAG

// StartFanout makes the socket the first of a new fanout group and returns
// the group's id, for the other sockets' JoinFanout. The kernel picks an
// id no group in the network namespace has, so that two agents on a host
// never share a group (process ids can repeat across containers). The
// socket must be started (a filter attached).
func (l *Live) StartFanout() (uint16, error) {
	if !l.bound {
		return 0, errors.New("start fanout group: attach a filter first")
	}
	arg := (fanoutMode | unix.PACKET_FANOUT_FLAG_UNIQUEID) << 16
	if err := unix.SetsockoptInt(l.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, arg); err != nil {
		return 0, fmt.Errorf("start fanout group: %w", err)
	}
	v, err := unix.GetsockoptInt(l.fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
	if err != nil {
		return 0, fmt.Errorf("fanout group id: %w", err)
	}
	return uint16(v), nil
}

// JoinFanout puts the socket in the fanout group a StartFanout made. The
// socket must be started (a filter attached).
func (l *Live) JoinFanout(id uint16) error {
	if !l.bound {
		return errors.New("join fanout group: attach a filter first")
	}
	if err := unix.SetsockoptInt(l.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(id)|fanoutMode<<16); err != nil {
		return fmt.Errorf("join fanout group %d: %w", id, err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// blockStatus is the block's status word, which the kernel writes; read
// and written atomically because it hands the block between the two.
func (l *Live) blockStatus(b int) *uint32 {
	return (*uint32)(unsafe.Pointer(&l.ring[b*l.blkSize+blockStatusOff]))
}

// ReadFrame returns the next frame; its Data points into the ring and is
// valid until the next call. It returns ErrTimeout when no block came
// within the poll timeout.
func (l *Live) ReadFrame() (Frame, error) {
	for l.left == 0 {
		if l.holding {
			// Hand the block back and move on.
			atomic.StoreUint32(l.blockStatus(l.cur), unix.TP_STATUS_KERNEL)
			l.holding = false
			l.cur = (l.cur + 1) % l.blocks
		}
		if err := l.waitBlock(); err != nil {
			return Frame{}, err
		}
	}
	base := l.cur * l.blkSize
	h := l.ring[base+int(l.next):]
	next := binary.NativeEndian.Uint32(h[frameNextOff:])
	sec := binary.NativeEndian.Uint32(h[frameSecOff:])
	nsec := binary.NativeEndian.Uint32(h[frameNsecOff:])
	snaplen := binary.NativeEndian.Uint32(h[frameSnaplenOff:])
	wireLen := binary.NativeEndian.Uint32(h[frameLenOff:])
	mac := binary.NativeEndian.Uint16(h[frameMacOff:])
	hatype := binary.NativeEndian.Uint16(h[sllHatypeOff:])
	l.left--
	l.next += next
	return Frame{
		Data:      h[mac : uint32(mac)+snaplen : uint32(mac)+snaplen],
		Timestamp: time.Unix(int64(sec), int64(nsec)),
		Length:    int(wireLen),
		LinkType:  linkTypeOf(hatype),
	}, nil
}

// waitBlock waits for the current block to be handed to us, or for the
// poll timeout.
func (l *Live) waitBlock() error {
	status := l.blockStatus(l.cur)
	for atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
		// One clock read per wait, not per packet.
		if err := l.file.SetReadDeadline(time.Now().Add(l.pollTimeout)); err != nil {
			return fmt.Errorf("ring deadline: %w", err)
		}
		var sockErr error
		woken := false
		err := l.rc.Read(func(fd uintptr) bool {
			if atomic.LoadUint32(status)&unix.TP_STATUS_USER != 0 {
				return true
			}
			if woken {
				// Woken without a block: the socket may have an error
				// (its interface went away).
				if e, _ := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR); e != 0 {
					sockErr = unix.Errno(e)
					return true
				}
			}
			woken = true
			return false
		})
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return ErrTimeout
		case err != nil:
			return fmt.Errorf("wait for the ring: %w", err)
		case sockErr != nil:
			return fmt.Errorf("capture socket: %w", sockErr)
		}
	}
	base := l.cur * l.blkSize
	l.left = binary.NativeEndian.Uint32(l.ring[base+blockNumPktsOff:])
	l.next = binary.NativeEndian.Uint32(l.ring[base+blockFirstPktOff:])
	l.holding = true
	return nil
}

// BlockDone reports that the frames read so far end a block: the next
// ReadFrame may wait for the kernel. A pipeline that batches its output
// flushes it here, so nothing waits on a quiet host longer than a block's
// timeout.
func (l *Live) BlockDone() bool { return l.left == 0 }

// linkTypeOf maps a device's ARPHRD type to the framing AF_PACKET SOCK_RAW
// gives: a link header for Ethernet-like devices (loopback included), none
// for raw-IP devices (tun, WireGuard, ipip).
func linkTypeOf(hatype uint16) layers.LinkType {
	switch hatype {
	case unix.ARPHRD_NONE, unix.ARPHRD_IPGRE, unix.ARPHRD_SIT, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6:
		return layers.LinkTypeRaw
	}
	return layers.LinkTypeEthernet
}

// Stats reads the kernel's counters, summed since the socket opened.
func (l *Live) Stats() (KernelStats, error) {
	st, err := unix.GetsockoptTpacketStatsV3(l.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return KernelStats{}, fmt.Errorf("PACKET_STATISTICS: %w", err)
	}
	// The kernel counts drops in tp_packets too.
	l.packets += uint64(st.Packets)
	l.drops += uint64(st.Drops)
	l.freezes += uint64(st.Freeze_q_cnt)
	return KernelStats{Packets: l.packets, Drops: l.drops, Freezes: l.freezes}, nil
}

// Close closes the socket and unmaps the ring.
func (l *Live) Close() error {
	var errs []error
	if l.ring != nil {
		errs = append(errs, unix.Munmap(l.ring))
		l.ring = nil
	}
	if l.file != nil {
		errs = append(errs, l.file.Close())
	} else {
		errs = append(errs, unix.Close(l.fd))
	}
	return errors.Join(errs...)
}
