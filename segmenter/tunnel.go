package segmenter

import "github.com/xray-capture/xray-capture/httpparse"

// A forward proxy's CONNECT opens a tunnel. When it carries plain HTTP, the
// exchanges inside are traced like any other, annotated connect_tunnel; TLS
// or any other protocol inside stays opaque (the connection is counted as
// upgraded and no longer parsed). The client speaks first in both HTTP and
// TLS, so its first bytes decide.

type tunnelState uint8

const (
	tunnelNone tunnelState = iota
	tunnelOpen             // a CONNECT was answered 2xx; the client's first bytes decide
	tunnelHTTP             // the tunnel carries HTTP: parsed, its segments annotated
)

// onConnectAnswered follows the final response to a CONNECT request.
func (t *Tracker) onConnectAnswered(c *conn, opened bool) {
	switch {
	case !opened:
		// Refused (407 then a CONNECT with credentials, typically): the
		// connection goes on as HTTP. Client bytes sent before the answer
		// went by unread and may have held requests.
		if c.tunnelEarlyData {
			t.markOutOfStep(c, lossRequestInvalid)
		}
		c.tunnelEarlyData = false
		c.req.ResumeAfterTunnel()
	case c.tunnelEarlyData:
		// The client did not wait for the answer: its first bytes went by
		// unread, and what they were is not known.
		t.upgrade(c)
	default:
		c.tunnel = tunnelOpen
		c.req.ResumeAfterTunnel()
		c.resp.ResumeAfterTunnel()
	}
}

// tunnelClientBytes decides an open tunnel on the client's first bytes; it
// reports false when the tunnel is opaque.
func (t *Tracker) tunnelClientBytes(c *conn, b []byte) bool {
	if httpparse.LooksLikeRequest(b[:min(len(b), 33)]) {
		c.tunnel = tunnelHTTP
		t.Stats.TunnelsHTTP++
		return true
	}
	t.upgrade(c)
	return false
}

// upgrade stops parsing c: what follows is not HTTP.
func (t *Tracker) upgrade(c *conn) {
	c.upgraded = true
	c.tunnel = tunnelNone
	t.Stats.Upgraded++
}
