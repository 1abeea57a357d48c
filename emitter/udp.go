package emitter

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/xray-capture/xray-capture/segmenter"
)

// Header is the daemon's header line, newline included.
const Header = `{"format":"json","version":1}` + "\n"

// MaxDocumentBytes is X-Ray's limit on one document (Part A: size).
const MaxDocumentBytes = 64000

// DefaultDaemonAddress is where the SDKs send when nothing is configured.
const DefaultDaemonAddress = "127.0.0.1:2000"

// DaemonAddress is the daemon's UDP address for segments and TCP address
// for sampling.
type DaemonAddress struct{ UDP, TCP string }

// ParseDaemonAddress reads an address in either form of
// AWS_XRAY_DAEMON_ADDRESS: "host:port" for both, or "tcp:host:port
// udp:host:port" in any order (xray-spec Part B §6.2, TV-23).
func ParseDaemonAddress(s string) (DaemonAddress, error) {
	fields := strings.Fields(s)
	switch len(fields) {
	case 1:
		if err := checkHostPort(fields[0]); err != nil {
			return DaemonAddress{}, fmt.Errorf("daemon address %q: %w", s, err)
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

// UDP sends each segment as one datagram to the daemon.
type UDP struct {
	conn *net.UDPConn
	fd   int
	buf  []byte

	Sent, SendErrors, TooLarge uint64
	LastError                  error
}

// NewUDP connects a UDP socket to addr (host:port).
func NewUDP(addr string) (*UDP, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("daemon address %s: %w", addr, err)
	}
	conn, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, fmt.Errorf("daemon address %s: %w", addr, err)
	}
	u := &UDP{conn: conn, fd: -1, buf: make([]byte, 0, 4096)}
	rc, err := conn.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) { u.fd = int(fd) })
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("daemon socket: %w", err)
	}
	return u, nil
}

// Emit encodes s and sends it without waiting.
func (u *UDP) Emit(s *segmenter.Segment) {
	u.buf = append(u.buf[:0], Header...)
	u.buf = s.AppendJSON(u.buf)
	if len(u.buf)-len(Header) > MaxDocumentBytes {
		u.TooLarge++
		return
	}
	// The fd is non-blocking (Go's runtime sets it so); writing it directly
	// returns EAGAIN instead of parking the capture goroutine.
	if _, err := unix.Write(u.fd, u.buf); err != nil {
		u.SendErrors++
		u.LastError = err
		return
	}
	u.Sent++
}

// Close closes the socket.
func (u *UDP) Close() error { return u.conn.Close() }
