package httpparse

// What a CONNECT tunnel needs from the parsers: the tunnel may carry plain
// HTTP (a forward proxy's traffic), parsed as a new run of messages, or
// anything else, left alone.

// Upgraded reports whether the parser stopped at a protocol switch: a
// CONNECT request, a 101 or a successful CONNECT's response. What it is fed
// then is consumed unread.
func (p *Parser) Upgraded() bool { return p.st == stUpgraded }

// ResumeAfterTunnel makes a parser stopped by a CONNECT parse again from
// the next byte: the tunnel carries HTTP, or the CONNECT was refused and the
// connection goes on.
func (p *Parser) ResumeAfterTunnel() {
	if p.st == stUpgraded {
		p.st, p.inMessage, p.atLineStart, p.strictNext = stStart, false, true, false
		p.next = Expect{}
	}
}

// LooksLikeRequest reports whether b, the first bytes a client sent into a
// tunnel, can begin an HTTP/1.x request as far as they go: a method token
// then a space. A TLS record (0x16) or another binary protocol cannot.
func LooksLikeRequest(b []byte) bool {
	for i, c := range b {
		if c == ' ' {
			return i > 0
		}
		if i >= 32 || !isTokenChar(c) {
			return false
		}
	}
	return len(b) > 0
}
