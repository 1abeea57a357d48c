//go:build linux

// An external test package: capture imports bpf.
package bpf_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	xbpf "golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/xray-capture/xray-capture/bpf"
	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/internal/testutil"
)

// A live capture keeps what a full capture decodes to, BIG TCP included: on
// a loopback that builds GSO packets past 64 KiB (IP length 0), the eBPF
// and the classic filter pass the very segments, with the same lengths,
// that an unfiltered ring gives the decoder (what tcpdump -i lo records:
// no outgoing copy).
func TestFiltersKeepBigTCP(t *testing.T) {
	testutil.Privileged(t)
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor)
	if major < 6 || major == 6 && minor < 3 {
		t.Skip("BIG TCP over IPv4 needs Linux 6.3")
	}
	f, err := bpf.NewFilter([]uint16{8080})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer f.Close()
	classic, err := capture.ClassicFilter([]uint16{8080})
	if err != nil {
		t.Fatal(err)
	}
	// Everything but the outgoing copy of a loopback packet.
	all, err := xbpf.Assemble([]xbpf.Instruction{
		xbpf.LoadExtension{Num: xbpf.ExtType},
		xbpf.JumpIf{Cond: xbpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 1},
		xbpf.RetConstant{Val: 0xffffffff},
		xbpf.RetConstant{Val: 0},
	})
	if err != nil {
		t.Fatal(err)
	}

	ns := testutil.NewNetNS(t)
	// Nothing reads the rings until the exchanges are over, and a block is
	// retired at each timeout however little it holds: many blocks and a
	// long timeout, so that a slow exchange on a loaded machine cannot fill
	// a ring (a block must still hold one 185 kB GSO frame).
	rc := capture.RingConfig{BlockSize: 256 << 10, Blocks: 128, BlockTimeout: 100 * time.Millisecond, PollTimeout: 300 * time.Millisecond}
	var full, viaEBPF, viaClassic *capture.Live
	err = ns.Do(func() error {
		if err := setBigTCP(185000); err != nil {
			return err
		}
		open := func(attach func(*capture.Live) error) (*capture.Live, error) {
			l, err := capture.OpenLive("lo", rc)
			if err != nil {
				return nil, err
			}
			if err := attach(l); err != nil {
				l.Close()
				return nil, err
			}
			return l, nil
		}
		if full, err = open(func(l *capture.Live) error { return l.AttachClassic(all) }); err != nil {
			return err
		}
		if viaEBPF, err = open(func(l *capture.Live) error { return l.AttachEBPF(f.FD()) }); err != nil {
			return err
		}
		if viaClassic, err = open(func(l *capture.Live) error { return l.AttachClassic(classic) }); err != nil {
			return err
		}
		for _, addr := range []string{"127.0.0.1:8080", "[::1]:8080"} {
			if err := exchange(addr, 300000); err != nil {
				return err
			}
		}
		return nil
	})
	for _, l := range []*capture.Live{full, viaEBPF, viaClassic} {
		if l != nil {
			defer l.Close()
		}
	}
	if err != nil {
		t.Fatal(err)
	}

	for name, l := range map[string]*capture.Live{"full": full, "eBPF": viaEBPF, "classic": viaClassic} {
		defer func() {
			// A ring that dropped proves nothing either way: say so.
			if st, err := l.Stats(); err == nil && st.Drops > 0 && t.Failed() {
				t.Logf("the %s ring dropped %d packets", name, st.Drops)
			}
		}()
	}
	want, big := segments(t, full)
	if big[4] == 0 || big[6] == 0 {
		t.Fatalf("no BIG TCP packet (IP length 0) captured: %d IPv4, %d IPv6", big[4], big[6])
	}
	for name, l := range map[string]*capture.Live{"eBPF": viaEBPF, "classic": viaClassic} {
		got, _ := segments(t, l)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s filter: segments differ from the full capture's (-full +filtered):\n%s", name, diff)
		}
	}
}

type segment struct {
	Src, Dst   uint16
	Seq        uint32
	PayloadLen int
}

// segments reads l until it is quiet and returns the segments to or from
// port 8080 worth keeping (payload, SYN, FIN or RST), and how many IPv4
// and IPv6 packets had an IP length of 0.
func segments(t *testing.T, l *capture.Live) ([]segment, map[int]int) {
	t.Helper()
	var segs []segment
	big := map[int]int{}
	for {
		fr, err := l.ReadFrame()
		if errors.Is(err, capture.ErrTimeout) {
			return segs, big
		}
		if err != nil {
			t.Fatal(err)
		}
		var p capture.Packet
		if capture.DecodeFrame(fr, &p) != capture.OK || p.SrcPort != 8080 && p.DstPort != 8080 {
			continue
		}
		if ip := fr.Data[14:]; p.SrcIP.Is4() && binary.BigEndian.Uint16(ip[2:]) == 0 {
			big[4]++
		} else if p.SrcIP.Is6() && binary.BigEndian.Uint16(ip[4:]) == 0 {
			big[6]++
		}
		if p.PayloadLen > 0 || p.Flags&(capture.FlagSYN|capture.FlagFIN|capture.FlagRST) != 0 {
			segs = append(segs, segment{p.SrcPort, p.DstPort, p.Seq, p.PayloadLen})
		}
	}
}

// exchange sends n bytes to a server at addr, which sends them back.
func exchange(addr string, n int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.CopyN(c, c, int64(n))
		done <- err
	}()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(make([]byte, n)); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
		return err
	}
	return <-done
}

// setBigTCP lets lo build GSO packets of size bytes for IPv6 and IPv4, with
// the RTM_NEWLINK that iproute2 before 6.3 cannot send for IPv4.
func setBigTCP(size uint32) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	le := binary.NativeEndian
	msg := make([]byte, unix.SizeofNlMsghdr, 64)
	le.PutUint16(msg[4:], unix.RTM_NEWLINK)
	le.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	msg = append(msg, make([]byte, unix.SizeofIfInfomsg)...)
	le.PutUint32(msg[unix.SizeofNlMsghdr+4:], 1) // lo
	for _, attr := range []uint16{unix.IFLA_GSO_MAX_SIZE, unix.IFLA_GRO_MAX_SIZE, unix.IFLA_GSO_IPV4_MAX_SIZE, unix.IFLA_GRO_IPV4_MAX_SIZE} {
		msg = le.AppendUint16(msg, 8)
		msg = le.AppendUint16(msg, attr)
		msg = le.AppendUint32(msg, size)
	}
	le.PutUint32(msg, uint32(len(msg)))
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("RTM_NEWLINK: %w", err)
	}
	ack := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, ack, 0)
	if err != nil || n < unix.SizeofNlMsghdr+4 {
		return fmt.Errorf("RTM_NEWLINK ack: %d bytes, %v", n, err)
	}
	if e := int32(le.Uint32(ack[unix.SizeofNlMsghdr:])); e != 0 {
		return fmt.Errorf("RTM_NEWLINK: %w", unix.Errno(-e))
	}
	return nil
}
