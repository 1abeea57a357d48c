package httpparse

import (
	"bytes"
	"time"
)

// Leniency (docs/http-parsing.md): where a message is known to start (the
// start of the stream, or right after a message whose end the framing
// rules fixed), the start line is read as servers read it, not as RFC 9112
// spells it: whatever the server answers, the caller saw an exchange. After
// a gap, garbage or an HTTP/0.9 request the start is not known, and the
// strict grammar keeps the search for the next start line out of body
// bytes. Where a message ends is still decided by the framing rules alone.

// Quirk is a departure from the RFC grammar that was accepted; a message
// carries a set of them (Message.Quirks).
type Quirk uint16

const (
	// QuirkMethod: a method with characters outside A-Z, '-' and '_'
	// (lower case, digits, other token characters).
	QuirkMethod Quirk = 1 << iota
	// QuirkWhitespace: start-line words separated by other than one SP
	// (runs, tabs), or leading or trailing whitespace.
	QuirkWhitespace
	// QuirkNoTarget: a request line without request-target.
	QuirkNoTarget
	// QuirkNoVersion: a request line without HTTP version: the request is
	// the line alone (HTTP/0.9, RFC 1945 Simple-Request).
	QuirkNoVersion
	// QuirkExtraWords: words the grammar has no room for (a space inside
	// the target, junk after the version); they are ignored.
	QuirkExtraWords
	// QuirkNoStatusLine: a response without status line (a bare body, as
	// an HTTP/0.9 server answers), running to the end of the connection.
	QuirkNoStatusLine
	// QuirkMalformedStatus: a status line without a readable three-digit
	// status code ("HTTP/1.1 2XX").
	QuirkMalformedStatus
	numQuirks = iota
)

var quirkNames = [numQuirks]string{"method", "whitespace", "no_target", "no_version", "extra_words",
	"no_status_line", "malformed_status_line"}

// NumQuirks is the number of Quirk bits, for counter arrays indexed by
// QuirkIndex.
const NumQuirks = numQuirks

// QuirkAt is the i-th Quirk bit.
func QuirkAt(i int) Quirk { return 1 << i }

func (q Quirk) String() string {
	for i := range numQuirks {
		if q == 1<<i {
			return quirkNames[i]
		}
	}
	return "unknown"
}

// StatusLine says what stood where a response's status line belongs.
type StatusLine uint8

const (
	StatusLineOK        StatusLine = iota // a status line with a status code
	StatusLineNone                        // none: the answer is a bare body (Status 0)
	StatusLineMalformed                   // "HTTP/" and no readable status code (Status 0)
)

func (s StatusLine) String() string {
	switch s {
	case StatusLineNone:
		return "none"
	case StatusLineMalformed:
		return "malformed"
	}
	return "ok"
}

// Interim reports whether the response is a 1xx interim one, which a final
// response follows. A response without a readable status line is final.
func (m *Message) Interim() bool { return m.StatusLine == StatusLineOK && m.Status < 200 }

// lenient reports whether the start line being read is at a known message
// start.
func (p *Parser) lenient() bool { return !p.strictNext }

// isWS is whitespace that RFC 9112 §3 lets a recipient take as the word
// separator of a request line: SP, HTAB, VT, FF and bare CR.
func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' }

// nextWord returns the first whitespace-delimited word of b and what
// follows it, and whether whitespace other than one SP came before it.
func nextWord(b []byte) (word, rest []byte, odd bool) {
	i := 0
	for i < len(b) && isWS(b[i]) {
		i++
	}
	odd = i > 1 || i == 1 && b[0] != ' '
	j := i
	for j < len(b) && !isWS(b[j]) {
		j++
	}
	return b[i:j], b[j:], odd
}

// maxMethod bounds a method token; the longest registered method,
// UPDATEREDIRECTREF, has 17 bytes.
const maxMethod = 32

// parseRequestLenient reads a request line as servers do (docs/http-parsing.md):
// words separated by whitespace runs; the first word, a token, is the
// method; a last word "HTTP/1.x" is the version, and a header block
// follows; without one the line is the whole request (HTTP/0.9). The
// target is the second word, unless it is the version. oneLine reports a
// request without version. A version of another major number is refused:
// another protocol's framing follows (the HTTP/2 preface).
func (p *Parser) parseRequestLenient(line []byte) (ok, oneLine bool) {
	if p.parseRequestCommon(line) {
		return true, false
	}
	return p.parseRequestWords(line)
}

// parseRequestWords is parseRequestLenient for any line.
func (p *Parser) parseRequestWords(line []byte) (ok, oneLine bool) {
	var q Quirk
	if len(line) > 0 && isWS(line[0]) {
		q |= QuirkWhitespace
	}
	method, rest, _ := nextWord(line)
	if len(method) == 0 || len(method) > maxMethod || !isToken(method) {
		return false, false
	}
	if !isMethod(method) {
		q |= QuirkMethod
	}
	var words [3][]byte // target, version, one more
	nw := 0
	for {
		w, r, odd := nextWord(rest)
		if odd {
			q |= QuirkWhitespace
		}
		if len(w) == 0 {
			if len(rest) > 0 {
				q |= QuirkWhitespace // trailing whitespace
			}
			break
		}
		if nw < len(words) {
			words[nw] = w
		}
		nw++
		rest = r
	}
	var major, minor uint8
	var last []byte
	if nw > 0 {
		last = words[min(nw, len(words))-1]
		if nw > len(words) {
			last = lastWord(line)
		}
	}
	hasVersion := nw > 0 && len(last) == 8 && equalFold(last[:5], "HTTP/") && last[6] == '.' &&
		isDigit(last[5]) && isDigit(last[7])
	if hasVersion {
		major, minor = last[5]-'0', last[7]-'0'
		if major != 1 {
			return false, false
		}
	}
	var target []byte
	switch {
	case hasVersion && nw == 1:
		q |= QuirkNoTarget
	case hasVersion:
		target = words[0]
		if nw > 2 {
			q |= QuirkExtraWords
		}
	case nw == 0:
		q |= QuirkNoTarget | QuirkNoVersion
	default:
		target = words[0]
		q |= QuirkNoVersion
		if nw > 1 {
			q |= QuirkExtraWords
		}
	}
	p.msg.Method, p.msg.Target, p.msg.Major, p.msg.Minor = method, target, major, minor
	p.msg.Quirks = q
	return true, !hasVersion
}

// parseRequestCommon reads the line almost every client sends,
// "METHOD SP target SP HTTP/1.x" with an upper-case method and single
// spaces, to what parseRequestLenient makes of it, at a table look-up a
// byte of the target instead of a word scan. It returns false, having
// kept nothing, for any other line.
func (p *Parser) parseRequestCommon(line []byte) bool {
	sp := 0
	for sp < len(line) && sp <= maxMethod && isMethodChar(line[sp]) {
		sp++
	}
	const ver = len(" HTTP/1.1")
	if sp == 0 || sp > maxMethod || len(line) < sp+2+ver || line[sp] != ' ' {
		return false
	}
	v := line[len(line)-ver:]
	if v[0] != ' ' || !equalFold(v[1:6], "HTTP/") || v[6] != '1' || v[7] != '.' || !isDigit(v[8]) {
		return false
	}
	target := line[sp+1 : len(line)-ver]
	for _, c := range target {
		if wsTable[c] {
			return false
		}
	}
	p.msg.Method, p.msg.Target, p.msg.Major, p.msg.Minor = line[:sp], target, 1, v[8]-'0'
	p.msg.Quirks = 0
	return true
}

// wsTable holds the bytes isWS accepts.
var wsTable = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isWS(byte(c))
	}
	return t
}()

func lastWord(b []byte) []byte {
	j := len(b)
	for j > 0 && isWS(b[j-1]) {
		j--
	}
	i := j
	for i > 0 && !isWS(b[i-1]) {
		i--
	}
	return b[i:j]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseStatusLenient reads a status line that parseStatusLine refused, at
// a known message start with a request waiting: "HTTP/" and a version word,
// whitespace, then a word of three digits, the status code. Without a
// readable code it is malformed (ok, StatusLineMalformed): still the
// answer, as the client saw it, but not one whose framing can be trusted.
func (p *Parser) parseStatusLenient(line []byte) (ok bool) {
	ver, rest, _ := nextWord(line)
	if len(ver) < 5 || !equalFold(ver[:5], "HTTP/") {
		return false
	}
	p.msg.Major, p.msg.Minor = 1, 1
	if len(ver) == 8 && ver[6] == '.' && isDigit(ver[5]) && isDigit(ver[7]) {
		p.msg.Major, p.msg.Minor = ver[5]-'0', ver[7]-'0'
	}
	code, _, odd := nextWord(rest)
	if len(code) == 3 && code[0] >= '1' && code[0] <= '9' && isDigit(code[1]) && isDigit(code[2]) {
		p.msg.Status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
		if odd {
			p.msg.Quirks |= QuirkWhitespace
		}
		return true
	}
	p.msg.Status, p.msg.StatusLine = 0, StatusLineMalformed
	p.msg.Quirks |= QuirkMalformedStatus
	return true
}

// mayBeBare reports whether the response starting now may come without a
// status line: an HTTP/0.9 request, or a request certainly in step
// (Expect.Waiting), at a known message start.
func (p *Parser) mayBeBare() bool {
	return p.kind == Response && (p.next.HTTP09 || p.next.Waiting && p.lenient())
}

// beginBare starts a response that has no status line: a bare body that
// runs to the end of the connection (HTTP/0.9). It stays a candidate:
// a status line found at a line start later refutes it (feedBare).
func (p *Parser) beginBare() Event {
	p.next = Expect{}
	p.msg.StatusLine, p.msg.Status = StatusLineNone, 0
	p.msg.Quirks |= QuirkNoStatusLine
	p.msg.CloseDelim = true
	// Bytes already buffered as a start line are body; they are counted
	// with the next ones, so that Headers reads the same however the
	// stream was cut.
	p.remaining = int64(len(p.hbuf))
	p.hbuf = p.hbuf[:0]
	p.st = stBare
	p.atLineStart = false // the first line is not a status line
	return Headers
}

// feedBare consumes a bare answer, looking at each line start for a status
// line (feedResync's strict search, which also sees one split across Feed
// calls): one there means these bytes were not an answer (a body that
// overran its length, say), so the message is dropped as Invalid and the
// parser stands at that status line (Resynced). Otherwise the answer runs
// to the end of the connection (Close gives Done).
func (p *Parser) feedBare(b []byte, ts time.Time) (int, Event) {
	start, off := p.msg.Start, p.msg.StartOffset
	p.msg.BodyBytes += p.remaining
	p.remaining = 0
	p.st = stResync
	k, ev := p.feedResync(b, ts)
	if ev&Resynced != 0 {
		if !p.startChecked {
			p.inMessage = false // the status line starts at k; feedStart begins it
		}
		p.reason = ReasonStartLine
		p.strictNext = true
		return k, Invalid | Resynced
	}
	p.st = stBare
	p.msg.Start, p.msg.StartOffset = start, off
	p.msg.BodyBytes += int64(k)
	return k, 0
}

// tryOneLine handles a start line that completes in b (joined to hbuf)
// and ends its message by itself: a request without version (the line is
// the request), or a malformed status line, which answers the request
// waiting but leaves where the stream goes on unknown (Headers|Done|Invalid;
// the parser then looks for the next start line).
func (p *Parser) tryOneLine(b []byte) (Event, int) {
	lf := bytes.IndexByte(b, '\n')
	if lf < 0 || len(p.hbuf)+lf > p.lim.MaxLineBytes {
		return 0, 0
	}
	line := b[:lf]
	if len(p.hbuf) > 0 {
		if !p.appendBuf(line) {
			return 0, 0
		}
		line = p.hbuf
		p.hbufStale = true
	}
	ok, oneLine := p.startLine(trimCR(line))
	switch {
	case ok && oneLine && p.kind == Request:
		p.finish()
		p.strictNext = true // the line may have been a broken line of a header block
		return Headers | Done, lf + 1
	case ok && p.msg.StatusLine == StatusLineMalformed:
		p.next = Expect{}
		p.reason = ReasonStartLine
		p.toResync(true)
		return Headers | Done | Invalid, lf + 1
	}
	if len(p.hbuf) > 0 {
		p.hbuf, p.hbufStale = p.hbuf[:len(p.hbuf)-lf], false
	}
	// A good line is checked: checkStartLine would parse it again to find
	// what was just found.
	p.startChecked = ok
	return 0, 0
}

// plausibleHead reports whether b, the part of a start line that has
// arrived, can begin one: strictly (plausiblePrefix), or at a known
// message start, for a request, a method token (after optional
// whitespace) then whitespace.
func (p *Parser) plausibleHead(b []byte) bool {
	if p.kind == Response || !p.lenient() {
		return p.plausiblePrefix(b)
	}
	i := 0
	for i < len(b) && isWS(b[i]) {
		i++
	}
	for j, c := range b[i:] {
		if isWS(c) {
			return j > 0
		}
		if j >= maxMethod || !isTokenChar(c) {
			return false
		}
	}
	return true
}

// plausibleLine checks a whole start line as startLine reads it, keeping
// nothing.
func (p *Parser) plausibleLine(line []byte) bool {
	saved := p.msg
	ok, _ := p.startLine(line)
	p.msg = saved
	return ok
}

// startLine parses a complete start line; for a request, oneLine reports
// that the line is the whole request (no version).
func (p *Parser) startLine(line []byte) (ok, oneLine bool) {
	if p.kind == Request {
		if p.lenient() {
			return p.parseRequestLenient(line)
		}
		if p.parseRequestLine(line) {
			return true, false
		}
		return p.parse09(line), true
	}
	if p.parseStatusLine(line) {
		return true, false
	}
	return p.lenient() && p.next.Waiting && p.parseStatusLenient(line), false
}
