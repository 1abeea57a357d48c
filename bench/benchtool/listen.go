//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xray-capture/xray-capture/internal/testutil"
	"github.com/xray-capture/xray-capture/xray"
)

// listen receives datagrams until SIGTERM or SIGINT, then writes a JSON
// summary: how many arrived, how many the daemon would reject, and how
// long after their end_time (the capture time of the packet that
// completed the response) the listener read them. The header is checked
// on every datagram as the daemon checks it (the daemon does not parse the
// body); the body is parsed as JSON on one datagram in 1,024.
//
// The listener shares the CPUs with the server being measured, so it is
// built to cost little: a socket outside Go's poller, drained 64
// datagrams per recvmmsg every millisecond. A socket that someone waits
// on (in an epoll set like Go's poller and the real daemon, or in a
// blocking read) makes the sender's kernel wake it or run the epoll
// callback for every datagram. The pause is a raw nanosleep: parking the
// goroutine on a timer cost the runtime's scheduler more than the reads,
// and a system call the runtime knows about keeps its monitor thread
// polling every 20 µs. (The goroutine stops a garbage collection for at
// most the pause; nothing else needs its thread.) Latency is measured at
// the read, so it includes up to a millisecond of the listener's pause:
// an overstatement, and cheaper than a kernel timestamp per datagram,
// which the sender's CPU would pay.
func listen(args []string) error {
	fs := flag.NewFlagSet("listen", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:2000", "UDP address (IPv4)")
	out := fs.String("out", "", "summary file (default stdout)")
	fs.Parse(args)
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil || !ap.Addr().Is4() {
		return &os.PathError{Op: "listen", Path: *addr, Err: syscall.EINVAL}
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return err
	}
	// 32 MiB of receive buffer, past net.core.rmem_max (as root), so that
	// a replay's bursts are not dropped while the listener pauses.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 32<<20)
	}
	var stopping atomic.Bool
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-stop; stopping.Store(true) }()

	res := receive(fd, &stopping)
	w := io.Writer(os.Stdout)
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	return json.NewEncoder(w).Encode(res)
}

const (
	listenBatch = 64
	// listenPause lets datagrams queue up between reads.
	listenPause = time.Millisecond
)

func receive(fd int, stopping *atomic.Bool) map[string]any {
	bufs := make([][]byte, listenBatch)
	iovs := make([]unix.Iovec, listenBatch)
	msgs := make([]unix.Mmsghdr, listenBatch)
	for i := range bufs {
		bufs[i] = make([]byte, 65536)
		iovs[i].Base = &bufs[i][0]
		iovs[i].SetLen(len(bufs[i]))
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.SetIovlen(1)
	}
	var n, bad int
	var lat []float64 // milliseconds
	pause := unix.NsecToTimespec(listenPause.Nanoseconds())
	for {
		// Read what is queued after the stop flag was set, then stop.
		last := stopping.Load()
		r, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), listenBatch, unix.MSG_DONTWAIT, 0, 0)
		got := int(r)
		if errno == unix.EAGAIN || errno == unix.EINTR {
			got = 0
		} else if errno != 0 {
			break
		}
		now := float64(time.Now().UnixNano()) / 1e6
		for i := range got {
			d := bufs[i][:msgs[i].Len]
			n++
			if !bytes.HasPrefix(d, []byte(xray.DaemonHeader)) || n%1024 == 0 {
				if _, err := testutil.CheckDatagram(d); err != nil {
					bad++
					continue
				}
			}
			if end, ok := numberAfter(d, `"end_time":`); ok {
				lat = append(lat, now-end*1e3)
			}
		}
		if got < listenBatch {
			if last {
				break
			}
			unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&pause)), 0, 0)
		}
	}
	slices.Sort(lat)
	return map[string]any{"datagrams": n, "rejected": bad, "latency_ms": map[string]float64{
		"p50": quantile(lat, 0.50), "p99": quantile(lat, 0.99), "max": quantile(lat, 1)}}
}

func numberAfter(b []byte, key string) (float64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	j := bytes.IndexAny(b, ",}")
	if j < 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(b[:j]), 64)
	return v, err == nil
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}
