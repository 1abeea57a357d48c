package emitter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xray-capture/xray-capture/xray"
)

// DefaultDaemonAddress is where the SDKs send when nothing is configured.
const DefaultDaemonAddress = "127.0.0.1:2000"

// DaemonAddress is the daemon's UDP address for segments and TCP address
// for sampling.
type DaemonAddress struct{ UDP, TCP string }

// ParseDaemonAddress reads an address in either form of
// AWS_XRAY_DAEMON_ADDRESS: "host:port" for both, or "tcp:host:port
// udp:host:port" in any order (docs/segments.md, Daemon address).
func ParseDaemonAddress(s string) (DaemonAddress, error) {
	fields := strings.Fields(s)
	switch len(fields) {
	case 1:
		if err := checkHostPort(fields[0]); err != nil {
			return DaemonAddress{}, fmt.Errorf("daemon address %q: %w; want host:port (127.0.0.1:2000, xray-daemon:2000, [::1]:2000) or \"tcp:host:port udp:host:port\"", s, err)
		}
		return DaemonAddress{UDP: fields[0], TCP: fields[0]}, nil
	case 2:
		var a DaemonAddress
		for _, f := range fields {
			proto, addr, ok := strings.Cut(f, ":")
			var dst *string
			switch {
			case ok && proto == "udp":
				dst = &a.UDP
			case ok && proto == "tcp":
				dst = &a.TCP
			default:
				return DaemonAddress{}, fmt.Errorf("daemon address %q: want \"tcp:host:port udp:host:port\"", s)
			}
			if *dst != "" {
				return DaemonAddress{}, fmt.Errorf("daemon address %q: %s given twice", s, proto)
			}
			if err := checkHostPort(addr); err != nil {
				return DaemonAddress{}, fmt.Errorf("daemon address %q: %w", s, err)
			}
			*dst = addr
		}
		return a, nil
	}
	return DaemonAddress{}, fmt.Errorf("daemon address %q: want host:port or \"tcp:host:port udp:host:port\"", s)
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("missing host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

// UDP sends each segment as one datagram to the daemon. Datagrams are
// batched and handed to the kernel with one sendmmsg call per batch: the
// send system call, not the pipeline, was most of a replay's CPU time.
// Emit flushes a full batch; the pipeline calls Flush when its input
// pauses (the end of a ring block, a quiet poll, the end of a file), so a
// segment waits at most that long.
type UDP struct {
	// fd is the socket, -1 while the daemon's name has never resolved: the
	// follow goroutine opens it then, while the owner sends.
	fd    atomic.Int32
	buf   []byte // the batch's datagrams, back to back
	ends  []int  // where each datagram in buf ends
	batch        // the system's way to send the batch

	// Sent counts datagrams the kernel took: UDP confirms no delivery.
	Sent, SendErrors, TooLarge uint64
	LastError                  error
	// Unreachable is set by Close when the daemon's address answered that
	// nothing listens (an ICMP port unreachable): some or all of what was
	// sent was lost. Live, later sends fail and count in SendErrors.
	Unreachable error
	// Moves counts the times the daemon's host name, looked up again,
	// pointed elsewhere and the socket followed it.
	Moves atomic.Uint64
	// Unresolved is why the daemon's host name did not resolve at start,
	// nil if it did: until it does, segments count in SendErrors (with
	// ErrUnresolved), and the socket opens when it resolves (Resolved).
	Unresolved error

	stopFollow context.CancelFunc // nil when the address is an IP
	followDone chan struct{}
}

// Resolved reports whether the socket is open: the daemon's name resolved,
// at start or since.
func (u *UDP) Resolved() bool { return u.fd.Load() >= 0 }

// udpBatch is the most datagrams one sendmmsg call takes here, and
// udpBatchBytes the most bytes batched before a flush.
const (
	udpBatch      = 64
	udpBatchBytes = 256 << 10
)

// NewUDP connects a UDP socket to addr (host:port).
//
// The socket stays out of Go's poller, non-blocking: a socket in an epoll
// set makes the kernel run the epoll callback, under a lock that disables
// interrupts, each time one of our sent datagrams is freed. That was
// about a third of the cost of a send; nothing here waits on the socket.
//
// A host name is looked up again every 30 s, and the socket follows the
// daemon when its address changes. A name that does not resolve at start
// is not an error (a daemon's Service may come up after the agent): see
// Unresolved.
func NewUDP(addr string) (*UDP, error) {
	return newUDP(addr, systemLookup, followEvery)
}

// ErrUnresolved is the send error of a segment while the daemon's host
// name has not resolved yet.
var ErrUnresolved = errors.New("the daemon's host name does not resolve yet")

func newUDP(addr string, lookup lookupFunc, every time.Duration) (*UDP, error) {
	u := &UDP{buf: make([]byte, 0, udpBatchBytes+len(xray.DaemonHeader)+xray.MaxDocumentBytes+4096),
		ends: make([]int, 0, udpBatch), batch: newBatch(udpBatch)}
	u.fd.Store(-1)
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("daemon address %s: %w", addr, err)
	}
	if net.ParseIP(host) != nil || strings.Contains(host, "%") {
		// An address: nothing to look up or follow.
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, fmt.Errorf("daemon address %s: %w", addr, err)
		}
		fd, err := dialUDP(ua)
		if err != nil {
			return nil, fmt.Errorf("daemon address %s: %w", addr, err)
		}
		u.fd.Store(int32(fd))
		return u, nil
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("daemon address %s: bad port %q", addr, portText)
	}
	lctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	addrs, err := lookup(lctx, host)
	cancel()
	current := netip.Addr{}
	if err == nil && len(addrs) == 0 {
		err = errors.New("no address")
	}
	if err != nil {
		if dnsErr := (*net.DNSError)(nil); !errors.As(err, &dnsErr) {
			err = fmt.Errorf("lookup %s: %w", host, err) // a DNSError names the host already
		}
		u.Unresolved = err
	} else {
		current = preferred(addrs)
		fd, err := dialUDP(net.UDPAddrFromAddrPort(netip.AddrPortFrom(current, uint16(port))))
		if err != nil {
			return nil, fmt.Errorf("daemon address %s: %w", addr, err)
		}
		u.fd.Store(int32(fd))
	}
	ctx, stop := context.WithCancel(context.Background())
	u.stopFollow, u.followDone = stop, make(chan struct{})
	go u.follow(ctx, host, uint16(port), current, lookup, every)
	return u, nil
}

// preferred is the address a name's answers connect to: the first IPv4
// one, as net.ResolveUDPAddr chooses, else the first.
func preferred(addrs []netip.Addr) netip.Addr {
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap()
		}
	}
	return addrs[0]
}

// dialUDP opens a non-blocking UDP socket connected to ua.
func dialUDP(ua *net.UDPAddr) (int, error) {
	family, sa, err := sockaddrOf(ua)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	unix.CloseOnExec(fd)
	if err = unix.SetNonblock(fd, true); err == nil {
		err = unix.Connect(fd, sa)
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	return fd, nil
}

func sockaddrOf(ua *net.UDPAddr) (int, unix.Sockaddr, error) {
	if ip4 := ua.IP.To4(); ip4 != nil {
		return unix.AF_INET, &unix.SockaddrInet4{Port: ua.Port, Addr: [4]byte(ip4)}, nil
	}
	ip6 := ua.IP.To16()
	if ip6 == nil {
		return 0, nil, fmt.Errorf("not an IP address: %v", ua.IP)
	}
	sa := &unix.SockaddrInet6{Port: ua.Port, Addr: [16]byte(ip6)}
	if ua.Zone != "" {
		// A zone names an interface or gives its index, as in Go's net.
		if ifi, err := net.InterfaceByName(ua.Zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		} else if idx, nerr := strconv.ParseUint(ua.Zone, 10, 32); nerr == nil {
			sa.ZoneId = uint32(idx)
		} else {
			return 0, nil, err
		}
	}
	return unix.AF_INET6, sa, nil
}

// Emit encodes s into the batch, and sends the batch when it is full.
func (u *UDP) Emit(s *xray.Segment) {
	start := len(u.buf)
	u.buf = append(u.buf, xray.DaemonHeader...)
	u.buf = s.AppendJSON(u.buf)
	if len(u.buf)-start-len(xray.DaemonHeader) > xray.MaxDocumentBytes {
		u.buf = u.buf[:start]
		u.TooLarge++
		return
	}
	u.ends = append(u.ends, len(u.buf))
	if len(u.ends) == udpBatch || len(u.buf) >= udpBatchBytes {
		u.Flush()
	}
}

// Pending is the number of datagrams batched and not yet sent.
func (u *UDP) Pending() int { return len(u.ends) }

// Flush sends the batched datagrams without waiting. A datagram the kernel
// refuses (EAGAIN when the socket buffer is full, ECONNREFUSED after the
// daemon's port answered unreachable) is counted in SendErrors; the rest of
// the batch still goes.
func (u *UDP) Flush() {
	if len(u.ends) == 0 {
		return
	}
	u.send()
	u.buf = u.buf[:0]
	u.ends = u.ends[:0]
}

// refused counts a datagram the kernel did not take.
func (u *UDP) refused(err error) {
	u.SendErrors++
	u.LastError = err
}

// Close sends what is batched, records whether the daemon's address said
// nothing listens there, and closes the socket.
func (u *UDP) Close() error {
	if u.stopFollow != nil {
		// Before the descriptor is closed: it must not be reused under a
		// reconnect.
		u.stopFollow()
		<-u.followDone
	}
	u.Flush()
	fd := int(u.fd.Load())
	if fd < 0 {
		return nil // the name never resolved: no socket
	}
	if u.Sent > 0 {
		u.checkReachable(fd)
	}
	return unix.Close(fd)
}

// checkReachable reads the error an ICMP answer left on the socket. On a
// local daemon address the answer to the first datagram comes back within
// microseconds; one further off may take longer, hence the short wait.
func (u *UDP) checkReachable(fd int) {
	for range 5 {
		if errno, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && errno != 0 {
			u.Unreachable = unix.Errno(errno)
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}
