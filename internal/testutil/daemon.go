package testutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// FakeDaemon is a UDP listener on loopback that accepts datagrams exactly as
// the X-Ray daemon does (docs/segments.md, Daemon datagram): split at the first "\n", the
// header must be JSON with format "json" (any case) and the number version
// 1, and a body must follow. It goes further than the daemon in one way:
// the body must be one JSON object, since X-Ray rejects anything else later.
type FakeDaemon struct {
	Addr string

	conn *net.UDPConn
	mu   sync.Mutex
	docs []json.RawMessage
	bad  []string
	done chan struct{}
}

// StartFakeDaemon listens on 127.0.0.1 on a free port until the test ends.
func StartFakeDaemon(t testing.TB) *FakeDaemon {
	t.Helper()
	return StartFakeDaemonWith(t, func() (*net.UDPConn, error) {
		return net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	})
}

// StartFakeDaemonWith serves on the socket listen makes (in a network
// namespace, for instance).
func StartFakeDaemonWith(t testing.TB, listen func() (*net.UDPConn, error)) *FakeDaemon {
	t.Helper()
	conn, err := listen()
	if err != nil {
		t.Fatalf("fake daemon: %v", err)
	}
	_ = conn.SetReadBuffer(8 << 20)
	d := &FakeDaemon{Addr: conn.LocalAddr().String(), conn: conn, done: make(chan struct{})}
	go d.serve()
	t.Cleanup(func() {
		conn.Close()
		<-d.done
	})
	return d
}

func (d *FakeDaemon) serve() {
	defer close(d.done)
	buf := make([]byte, 64<<10+1)
	for {
		n, err := d.conn.Read(buf)
		if err != nil {
			return
		}
		doc, err := CheckDatagram(buf[:n])
		d.mu.Lock()
		if err != nil {
			d.bad = append(d.bad, err.Error())
		} else {
			d.docs = append(d.docs, doc)
		}
		d.mu.Unlock()
	}
}

// CheckDatagram validates one datagram and returns its document. The
// errors are worded as the daemon logs them, capitals included.
func CheckDatagram(b []byte) (json.RawMessage, error) {
	if len(b) > 65507 {
		return nil, errors.New("datagram over the UDP limit")
	}
	header, body, ok := bytes.Cut(b, []byte("\n"))
	if !ok || len(body) == 0 {
		//lint:ignore ST1005 the daemon's own words
		return nil, errors.New("Missing header or segment")
	}
	var h struct {
		Format  string          `json:"format"`
		Version json.RawMessage `json:"version"`
	}
	_ = json.Unmarshal(header, &h) // the daemon ignores parse errors too
	if !strings.EqualFold(h.Format, "json") || string(bytes.TrimSpace(h.Version)) != "1" {
		return nil, errors.New("Invalid header: " + string(header))
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, errors.New("body is not a JSON object: " + err.Error())
	}
	return json.RawMessage(append([]byte(nil), body...)), nil
}

// Docs returns the documents received so far.
func (d *FakeDaemon) Docs() []json.RawMessage {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]json.RawMessage(nil), d.docs...)
}

// Wait waits until n documents arrived or the timeout passed, and returns
// the documents and the rejected datagrams' reasons.
func (d *FakeDaemon) Wait(n int, timeout time.Duration) ([]json.RawMessage, []string) {
	deadline := time.Now().Add(timeout)
	for {
		d.mu.Lock()
		got := len(d.docs) + len(d.bad)
		d.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]json.RawMessage(nil), d.docs...), append([]string(nil), d.bad...)
}
