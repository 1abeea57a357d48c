package segmenter

import (
	"testing"

	"github.com/xray-capture/xray-capture/httpparse"
)

const connectReq = "CONNECT origin.test:80 HTTP/1.1\r\nHost: origin.test:80\r\n\r\n"

func TestTunnelCarryingHTTPIsTraced(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 42301)
	c.send(true, connectReq, 0)
	c.send(false, "HTTP/1.1 200 Connection established\r\n\r\n", 0)
	c.send(true, req("/inside"), 0)
	c.send(false, resp(200, "in"), 0)
	c.send(true, req("/again")+req("/piped"), 0)
	c.send(false, resp(404, "")+resp(201, "x"), 0)
	check(t, sink, "/origin.test:80 200", "/inside 200 tunnel", "/again 404 tunnel", "/piped 201 tunnel")
	if tr.Stats.TunnelsHTTP != 1 || tr.Stats.Upgraded != 0 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func TestTunnelCarryingTLSStaysOpaque(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 42302)
	c.send(true, connectReq, 0)
	c.send(false, "HTTP/1.1 200 OK\r\n\r\n", 0)
	c.send(true, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03GET / HTTP/1.1\r\n\r\n", 0)
	c.send(false, "\x16\x03\x03\x00\x7a\x02\x00\x00\x76HTTP/1.1 200 OK\r\n\r\n", 0)
	check(t, sink, "/origin.test:80 200")
	if tr.Stats.Upgraded != 1 || tr.Stats.TunnelsHTTP != 0 || tr.Stats.UnpairedResponses != 0 ||
		tr.Stats.RequestParseErrors != [httpparse.NumReasons]uint64{} || tr.Stats.ResponseParseErrors != [httpparse.NumReasons]uint64{} {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func TestRefusedConnectThenRetried(t *testing.T) {
	// A proxy asks for credentials; the client asks again on the same
	// connection; then the tunnel carries HTTP.
	tr, sink := newTracker(t)
	c := newConv(t, tr, 42303)
	c.send(true, connectReq, 0)
	c.send(false, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\nauth", 0)
	c.send(true, "CONNECT origin.test:80 HTTP/1.1\r\nHost: origin.test:80\r\nProxy-Authorization: Basic eDp5\r\n\r\n", 0)
	c.send(false, "HTTP/1.1 200 OK\r\n\r\n", 0)
	c.send(true, req("/in"), 0)
	c.send(false, resp(204, ""), 0)
	check(t, sink, "/origin.test:80 407", "/origin.test:80 200", "/in 204 tunnel")
}

func TestTunnelWithEarlyDataIsOpaque(t *testing.T) {
	// The client sent into the tunnel before the answer: those bytes went
	// by unread, so the tunnel is not parsed (its responses would have no
	// requests).
	tr, sink := newTracker(t)
	c := newConv(t, tr, 42304)
	c.send(true, connectReq+req("/early"), 0)
	c.send(false, "HTTP/1.1 200 OK\r\n\r\n"+resp(200, "e"), 0)
	check(t, sink, "/origin.test:80 200")
	if tr.Stats.Upgraded != 1 || tr.Stats.UnpairedResponses != 0 {
		t.Errorf("stats %+v", tr.Stats)
	}
}
