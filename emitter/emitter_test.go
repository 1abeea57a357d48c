package emitter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xray-capture/xray-capture/internal/testutil"
	"github.com/xray-capture/xray-capture/xray"
)

func TestParseDaemonAddress(t *testing.T) { // docs/segments.md, Test vectors: TV-23
	for _, tc := range []struct {
		in       string
		udp, tcp string
		ok       bool
	}{
		{"127.0.0.1:3000", "127.0.0.1:3000", "127.0.0.1:3000", true},
		{"tcp:192.168.0.1:3000 udp:127.0.0.2:8080", "127.0.0.2:8080", "192.168.0.1:3000", true},
		{"udp:127.0.0.2:8080 tcp:192.168.0.1:3000", "127.0.0.2:8080", "192.168.0.1:3000", true},
		{"xray-daemon.local:2000", "xray-daemon.local:2000", "xray-daemon.local:2000", true},
		{"192.168.0.1", "", "", false},
		{"tcp:192.168.0.1:3000", "", "", false},
		{"udp:a:1 udp:b:2", "", "", false},
		{"127.0.0.2:8080 192.168.0.1:3000", "", "", false},
		{"127.0.0.1:0", "", "", false},
		{"", "", "", false},
	} {
		a, err := ParseDaemonAddress(tc.in)
		if (err == nil) != tc.ok || a.UDP != tc.udp || a.TCP != tc.tcp {
			t.Errorf("%q: %+v, %v", tc.in, a, err)
		}
	}
}

// openUDP connects an emitter to addr, closed when the test ends.
func openUDP(tb testing.TB, addr string) *UDP {
	tb.Helper()
	u, err := NewUDP(addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { u.Close() })
	return u
}

func segment(url string) *xray.Segment {
	s := &xray.Segment{Name: []byte("svc"), Method: []byte("GET"), URL: []byte(url),
		ClientIP: []byte("192.0.2.2"), HasResponse: true, Status: 200, ContentLength: -1, SDKVersion: "t",
		Start: time.Unix(1700000000, 0), End: time.Unix(1700000000, 1000)}
	copy(s.ID[:], "0123456789abcdef")
	copy(s.TraceID[:], "1-6553f100-0123456789abcdef01234567")
	return s
}

func TestUDPDatagrams(t *testing.T) {
	d := testutil.StartFakeDaemon(t)
	u := openUDP(t, d.Addr)
	u.Emit(segment("http://h/a"))
	u.Emit(segment("http://h/" + strings.Repeat("x", xray.MaxDocumentBytes))) // over the limit
	u.Emit(segment("http://h/b"))
	if u.Sent != 0 || u.Pending() != 2 {
		t.Fatalf("before the flush: sent %d, pending %d", u.Sent, u.Pending())
	}
	u.Flush()
	docs, bad := d.Wait(2, 2*time.Second)
	if len(docs) != 2 || len(bad) != 0 || u.Sent != 2 || u.TooLarge != 1 {
		t.Fatalf("docs %d bad %v sent %d too large %d", len(docs), bad, u.Sent, u.TooLarge)
	}
	if !bytes.Contains(docs[1], []byte(`"url":"http://h/b"`)) {
		t.Errorf("second document: %s", docs[1])
	}
}

func TestUDPBatchesKeepEveryDatagramInOrder(t *testing.T) {
	// More than two batches, with a document over the limit in the middle
	// of one: each segment is its own datagram, in order, none lost.
	d := testutil.StartFakeDaemon(t)
	u := openUDP(t, d.Addr)
	const n = 2*udpBatch + 7
	for i := range n {
		u.Emit(segment(fmt.Sprintf("http://h/%d", i)))
		if i == udpBatch+3 {
			u.Emit(segment("http://h/" + strings.Repeat("x", xray.MaxDocumentBytes)))
		}
	}
	if u.Sent != 2*udpBatch || u.Pending() != n-2*udpBatch {
		t.Errorf("full batches not sent on their own: sent %d, pending %d", u.Sent, u.Pending())
	}
	u.Flush()
	docs, bad := d.Wait(n, 5*time.Second)
	if len(docs) != n || len(bad) != 0 || u.Sent != n || u.TooLarge != 1 {
		t.Fatalf("docs %d bad %v sent %d too large %d", len(docs), bad, u.Sent, u.TooLarge)
	}
	for i, doc := range docs {
		if want := fmt.Sprintf(`"url":"http://h/%d"`, i); !bytes.Contains(doc, []byte(want)) {
			t.Fatalf("datagram %d: want %s in %s", i, want, doc)
		}
	}
	// AllocsPerRun counts the whole process's allocations: the fake
	// daemon, decoding what it receives, would count as well. A socket
	// that nobody reads takes the datagrams instead.
	quiet, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	u = openUDP(t, quiet.LocalAddr().String())
	if a := testing.AllocsPerRun(200, func() { u.Emit(segment0); u.Flush() }); a != 0 {
		t.Errorf("Emit and Flush: %v allocations", a)
	}
}

// segment0 is built once, so AllocsPerRun counts only the sending.
var segment0 = segment("http://h/zero")

// The daemon socket is opened without Go's net package: IPv6 daemon
// addresses must work as well, and names must resolve.
func TestUDPToIPv6AndNamedDaemon(t *testing.T) {
	for _, c := range []struct{ network, listen, host string }{
		{"udp6", "::1", "[::1]"},
		{"udp4", "127.0.0.1", "localhost"},
	} {
		l, err := net.ListenUDP(c.network, &net.UDPAddr{IP: net.ParseIP(c.listen)})
		if err != nil {
			t.Fatalf("%s: %v", c.listen, err)
		}
		defer l.Close()
		u := openUDP(t, fmt.Sprintf("%s:%d", c.host, l.LocalAddr().(*net.UDPAddr).Port))
		u.Emit(segment("http://h/v6"))
		u.Flush()
		if u.Sent != 1 || u.SendErrors != 0 {
			t.Fatalf("%s: sent %d, errors %d (%v)", c.host, u.Sent, u.SendErrors, u.LastError)
		}
		l.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 65536)
		n, err := l.Read(buf)
		if err != nil {
			t.Fatalf("%s: %v", c.host, err)
		}
		if _, err := testutil.CheckDatagram(buf[:n]); err != nil {
			t.Errorf("%s: %v", c.host, err)
		}
	}
	if _, err := NewUDP("[fe80::1%no-such-interface]:2000"); err == nil {
		t.Error("a zone naming no interface was accepted")
	}
	// A link-local daemon's zone, as a name or as an index (loopback's is
	// 1 in every network namespace), picks the same interface.
	for _, zone := range []string{"lo", "1"} {
		_, sa, err := sockaddrOf(&net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: 2000, Zone: zone})
		if err != nil {
			t.Errorf("zone %s: %v", zone, err)
		} else if id := sa.(*unix.SockaddrInet6).ZoneId; id != 1 {
			t.Errorf("zone %s: interface %d, want 1", zone, id)
		}
	}
}

func TestUDPWithoutDaemonCountsAndGoesOn(t *testing.T) {
	// A port nobody listens on: the kernel answers with ICMP, and the next
	// send reports the refusal. Nothing blocks.
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().String()
	l.Close()
	u := openUDP(t, addr)
	start := time.Now()
	for range 100 {
		u.Emit(segment("http://h/a"))
	}
	u.Flush()
	if u.SendErrors == 0 || u.Sent+u.SendErrors != 100 {
		t.Errorf("sent %d errors %d", u.Sent, u.SendErrors)
	}
	if time.Since(start) > time.Second {
		t.Errorf("sending to an absent daemon took %v", time.Since(start))
	}
}

func TestCheckDatagramAsTheDaemon(t *testing.T) { // docs/segments.md, Test vectors: TV-22
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"{\"format\": \"json\", \"version\": 1}\n{}", true},
		{"{\"format\":\"JSON\",\"version\":1}\n{}", true},
		{"{\"format\":\"json\",\"version\":1}\r\n{}", true},
		{"{\"format\":\"json\",\"version\":2}\n{}", false},
		{"{\"format\":\"json\",\"version\":\"1\"}\n{}", false},
		{"{}", false},
		{"{\"format\":\"json\",\"version\":1}\n", false},
	} {
		if _, err := testutil.CheckDatagram([]byte(tc.in)); (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.in, err)
		}
	}
	if _, err := testutil.CheckDatagram([]byte(xray.DaemonHeader + "{}")); err != nil {
		t.Errorf("our header: %v", err)
	}
}

func TestJSONLines(t *testing.T) {
	var b bytes.Buffer
	j := NewJSONLines(&b)
	j.Emit(segment("http://h/a"))
	j.Emit(segment("http://h/b"))
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `{"name":"svc"`) || j.Written != 2 {
		t.Errorf("output %q", b.String())
	}
}

func TestDaemonRestartedAndSlow(t *testing.T) {
	// Restarted: the socket stays connected; sends fail while the daemon is
	// away and go through again once it is back, without a restart of ours.
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().(*net.UDPAddr)
	u := openUDP(t, addr.String())
	u.Emit(segment("http://h/before"))
	u.Flush()
	l.Close()
	for range 10 {
		u.Emit(segment("http://h/away"))
		u.Flush()
	}
	if u.SendErrors == 0 {
		t.Error("no send error while the daemon was away")
	}
	l, err = net.ListenUDP("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sent := u.Sent
	u.Emit(segment("http://h/after"))
	u.Flush()
	buf := make([]byte, 65536)
	l.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := l.Read(buf)
	if err != nil || u.Sent != sent+1 || !bytes.Contains(buf[:n], []byte("/after")) {
		t.Errorf("after the restart: %v, sent %d→%d", err, sent, u.Sent)
	}

	// Slow: a daemon that does not read. The socket buffer fills; sends are
	// counted as errors and never wait.
	slow, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.SetReadBuffer(4096)
	v := openUDP(t, slow.LocalAddr().String())
	start := time.Now()
	for range 200000 {
		v.Emit(segment("http://h/flood"))
	}
	v.Flush()
	took := time.Since(start)
	t.Logf("200,000 sends to a daemon that does not read: %v, sent %d, errors %d (%v)", took, v.Sent, v.SendErrors, v.LastError)
	if v.Sent+v.SendErrors != 200000 || took > 10*time.Second {
		t.Errorf("sent %d errors %d in %v", v.Sent, v.SendErrors, took)
	}
}

// BenchmarkUDPEmit encodes and sends segments in sendmmsg batches to a
// listener on loopback that drains them: the kernel's cost per datagram
// (send, loopback delivery, waking the reader) is most of it.
func BenchmarkUDPEmit(b *testing.B) {
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	l.SetReadBuffer(8 << 20)
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, err := l.Read(buf); err != nil {
				return
			}
		}
	}()
	u := openUDP(b, l.LocalAddr().String())
	s := segment("http://shop.example/api/items")
	b.ReportAllocs()
	for b.Loop() {
		u.Emit(s)
	}
	u.Flush()
	if u.SendErrors > 0 {
		b.Logf("%d send errors (%v)", u.SendErrors, u.LastError)
	}
}

// A few datagrams to a port nobody listens on all leave before the ICMP
// answer: Close finds it, so that a replay does not claim them delivered.
func TestUDPCloseFindsNoDaemon(t *testing.T) {
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().String()
	l.Close()
	u, err := NewUDP(addr)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		u.Emit(segment("http://h/a"))
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(u.Unreachable, unix.ECONNREFUSED) {
		t.Errorf("sent %d, errors %d, unreachable %v: want connection refused", u.Sent, u.SendErrors, u.Unreachable)
	}

	daemon, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer daemon.Close()
	if u, err = NewUDP(daemon.LocalAddr().String()); err != nil {
		t.Fatal(err)
	}
	u.Emit(segment("http://h/a"))
	u.Close()
	if u.Unreachable != nil || u.Sent != 1 {
		t.Errorf("with a daemon: sent %d, unreachable %v", u.Sent, u.Unreachable)
	}
}

// TestUDPFollowsAMovingName: a daemon address given by name is looked up
// again, and the socket follows the name to its new address; a failed
// lookup keeps the old one.
func TestUDPFollowsAMovingName(t *testing.T) {
	first, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	port := first.LocalAddr().(*net.UDPAddr).Port
	second, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	var answer atomic.Pointer[[]netip.Addr]
	answer.Store(&[]netip.Addr{netip.MustParseAddr("127.0.0.1")})
	lookup := func(context.Context, string) ([]netip.Addr, error) {
		if a := answer.Load(); a != nil {
			return *a, nil
		}
		return nil, errors.New("resolver down")
	}
	u, err := newUDP(net.JoinHostPort("localhost", strconv.Itoa(port)), lookup, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	receives := func(l *net.UDPConn, url string) bool {
		u.Emit(segment(url))
		u.Flush()
		l.SetReadDeadline(time.Now().Add(time.Second))
		b := make([]byte, 65536)
		n, err := l.Read(b)
		return err == nil && strings.Contains(string(b[:n]), url)
	}
	if !receives(first, "http://h/before") {
		t.Fatal("the first address got nothing")
	}
	answer.Store(nil)
	time.Sleep(30 * time.Millisecond) // lookups fail meanwhile: the address stays
	if !receives(first, "http://h/resolver-down") {
		t.Fatal("a failed lookup moved the socket")
	}
	answer.Store(&[]netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.2")})
	deadline := time.Now().Add(5 * time.Second)
	for u.Moves.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if u.Moves.Load() != 1 || !receives(second, "http://h/after") {
		t.Fatalf("moves %d: the socket did not follow the name", u.Moves.Load())
	}
}

// TestUDPWaitsForAName: a daemon name that does not resolve at start (its
// Service not created yet) is no error: segments count as send errors
// meanwhile, and go to the daemon once the name resolves.
func TestUDPWaitsForAName(t *testing.T) {
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.LocalAddr().(*net.UDPAddr).Port
	var answer atomic.Pointer[[]netip.Addr]
	var lookups atomic.Int32
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		lookups.Add(1)
		if a := answer.Load(); a != nil {
			return *a, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	u, err := newUDP(net.JoinHostPort("xray-daemon.xray", strconv.Itoa(port)), lookup, 5*time.Millisecond)
	if err != nil {
		t.Fatalf("an unresolved name failed the start: %v", err)
	}
	defer u.Close()
	if u.Unresolved == nil || !strings.Contains(u.Unresolved.Error(), "xray-daemon.xray: no such host") || u.Resolved() {
		t.Fatalf("Unresolved %v, Resolved %v: want the lookup's error", u.Unresolved, u.Resolved())
	}
	for i := range 3 {
		u.Emit(segment(fmt.Sprintf("http://h/early-%d", i)))
	}
	u.Flush()
	if u.Sent != 0 || u.SendErrors != 3 || !errors.Is(u.LastError, ErrUnresolved) {
		t.Fatalf("sent %d, send errors %d (%v): want 3 errors", u.Sent, u.SendErrors, u.LastError)
	}
	// Still nothing after a few failed lookups.
	for lookups.Load() < 4 {
		time.Sleep(time.Millisecond)
	}
	if u.Resolved() {
		t.Fatal("resolved without an answer")
	}
	answer.Store(&[]netip.Addr{netip.MustParseAddr("127.0.0.1")})
	deadline := time.Now().Add(5 * time.Second)
	for !u.Resolved() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !u.Resolved() {
		t.Fatal("the name resolved, the emitter did not follow")
	}
	u.Emit(segment("http://h/late"))
	u.Flush()
	l.SetReadDeadline(time.Now().Add(time.Second))
	b := make([]byte, 65536)
	n, err := l.Read(b)
	if err != nil || !strings.Contains(string(b[:n]), "http://h/late") {
		t.Fatalf("the daemon got %q, %v", b[:n], err)
	}
	if u.Sent != 1 || u.SendErrors != 3 {
		t.Errorf("sent %d, send errors %d: want 1 and the 3 from before", u.Sent, u.SendErrors)
	}
}

// TestUDPUnresolvedCloses: an emitter whose name never resolved closes
// cleanly, its follower stopped.
func TestUDPUnresolvedCloses(t *testing.T) {
	lookup := func(context.Context, string) ([]netip.Addr, error) { return nil, errors.New("no such host") }
	u, err := newUDP("nowhere.invalid:2000", lookup, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	u.Emit(segment("http://h/x"))
	if err := u.Close(); err != nil || u.SendErrors != 1 {
		t.Fatalf("close: %v, send errors %d", err, u.SendErrors)
	}
}
