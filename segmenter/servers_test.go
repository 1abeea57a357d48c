package segmenter

import (
	"net/netip"
	"testing"
)

// elsewhereFor says that connections to one server address are another
// agent's.
type elsewhereFor netip.Addr

func (e elsewhereFor) Elsewhere(_, server netip.Addr) bool { return server == netip.Addr(e) }

// TestServersElsewhereAreNotTracked: a connection whose server is another
// agent's is not tracked, its packets counted; the others are traced.
func TestServersElsewhereAreNotTracked(t *testing.T) {
	tr, sink := newTrackerWith(t, func(c *Config) { c.Servers = elsewhereFor(serverIP) })
	c := newConv(t, tr, 42401)
	c.send(true, req("/elsewhere"), 0)
	c.send(false, resp(200, "a"), 0)
	check(t, sink)
	if tr.Stats.Connections != 0 || tr.Stats.RemoteServer != 4 {
		t.Errorf("connections %d, remote server packets %d; want 0 and 4 (SYN, SYN-ACK, request, response)",
			tr.Stats.Connections, tr.Stats.RemoteServer)
	}

	tr, sink = newTrackerWith(t, func(c *Config) { c.Servers = elsewhereFor(netip.MustParseAddr("10.99.0.1")) })
	c = newConv(t, tr, 42402)
	c.send(true, req("/here"), 0)
	c.send(false, resp(200, "a"), 0)
	check(t, sink, "/here 200")
	if tr.Stats.RemoteServer != 0 {
		t.Errorf("remote server packets %d, want 0", tr.Stats.RemoteServer)
	}
}
