package httpparse

import (
	"bytes"
	"time"
)

// Kind says which side of the exchange a Parser reads.
type Kind uint8

const (
	Request Kind = iota
	Response
)

// Event reports what a call to Feed, Gap or Close reached. Several bits can
// be set at once: a bodiless message gives Headers|Done.
type Event uint8

const (
	// Headers: a header block was parsed; Message is valid until the next call.
	Headers Event = 1 << iota
	// Done: the message, body included, is complete.
	Done
	// Invalid: bytes that are not HTTP (or a message over a limit) were
	// dropped; the parser now looks for the next plausible start line.
	// With Headers, the start line was good but the header block or its
	// framing was not: the message exists (a server answers it, usually
	// with 400) but where it ends is unknowable.
	Invalid
	// Upgrade: 101 Switching Protocols or a successful CONNECT; the rest of
	// the stream is not HTTP and is ignored.
	Upgrade
	// Resynced: after Invalid or a gap, a plausible start line was found;
	// the next byte starts a message.
	Resynced
)

// Reason says why the parser reported Invalid.
type Reason uint8

const (
	ReasonNone Reason = iota
	ReasonStartLine
	ReasonHeaderLine
	ReasonTooLong
	ReasonTooManyHeaders
	ReasonContentLength
	ReasonTransferEncoding
	ReasonChunk
	ReasonTruncated
	ReasonBudget
	numReasons
)

var reasonNames = [numReasons]string{"none", "start_line", "header_line", "too_long",
	"too_many_headers", "content_length", "transfer_encoding", "chunk", "truncated", "buffer_budget"}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// NumReasons is the number of Reason values, for counter arrays.
const NumReasons = int(numReasons)

// Limits bound what the parser accepts and buffers.
type Limits struct {
	MaxLineBytes   int // start line, header line, chunk-size line
	MaxHeaderBytes int // whole header block, start line included
	MaxHeaders     int // header lines in one block
	// Budget, if set, bounds the buffers of all the parsers sharing it:
	// a thousand slow senders must not each hold a header block.
	Budget *Budget
}

// Budget is the memory all parsers sharing it may hold for split lines and
// header blocks. It is used by one goroutine.
type Budget struct {
	MaxBytes int
	used     int
	Refused  uint64 // messages dropped because the budget was spent
}

// Used reports the bytes held now.
func (b *Budget) Used() int { return b.used }

// keepCap is the buffer a parser keeps between messages without counting
// it as held for long: larger buffers are given back when a message ends.
const keepCap = 4096

// DefaultLimits are generous enough for real browsers and proxies (8 KiB
// cookies, long query strings) and small enough to bound a slowloris.
var DefaultLimits = Limits{MaxLineBytes: 16 << 10, MaxHeaderBytes: 64 << 10, MaxHeaders: 128}

// Message is what one request or response carries that a segment needs.
// Byte slices alias the parser's input; see the package documentation.
type Message struct {
	Start       time.Time // capture time of the packet holding the first byte
	StartOffset int64     // stream offset of the first byte

	Method, Target []byte // requests
	Status         int    // responses
	Major, Minor   uint8

	Host, UserAgent, XForwardedFor, TraceHeader             []byte
	HasHost, HasUserAgent, HasXForwardedFor, HasTraceHeader bool
	// TraceParent and TraceState: the W3C trace context headers, the
	// first line of each (a repeated traceparent is invalid per W3C; the
	// segmenter's parser judges the value).
	TraceParent, TraceState       []byte
	HasTraceParent, HasTraceState bool

	ContentLength int64 // -1 when the header is absent or overridden by Transfer-Encoding
	Chunked       bool
	CloseDelim    bool  // response body ends with the connection
	BodyBytes     int64 // body bytes seen or skipped by a gap, after de-chunking
	Gap           bool  // bytes of this message were lost but framing held

	// StatusLine: a response's status line was read (Status), absent or
	// malformed (Status 0). Quirks: what of the start line departed from
	// the RFC grammar and was accepted (docs/http-parsing.md).
	StatusLine StatusLine
	Quirks     Quirk
}

type state uint8

const (
	stStart state = iota
	stBodyLen
	stChunkSize
	stChunkData
	stChunkEnd
	stTrailers
	stBodyClose
	stResync
	stUpgraded
	stBare // a response without status line, to the close (lenient.go)
)

// Parser is an incremental parser for one direction of one connection.
type Parser struct {
	kind Kind
	lim  Limits

	st        state
	msg       Message
	remaining int64 // bytes left in a Content-Length body or a chunk
	offset    int64 // stream offset of the next byte fed

	hbuf      []byte // partial line or header block split across Feed calls
	hbufStale bool   // hbuf holds a block the caller has seen; reset it on next use
	inMessage bool   // the current message's first byte was seen
	// startChecked: the buffered block's start line is complete and plausible,
	// so a slow sender costs O(bytes), not O(bytes²), to buffer.
	startChecked bool

	atLineStart bool // resync: the byte before the next one fed was LF
	// strictNext: the next start line is not at a known message start (after
	// a resync, or after a request without version), so it is read by the
	// strict grammar only (lenient.go).
	strictNext bool
	reason     Reason
	headers    int

	next Expect // what the next final response answers
}

// Expect describes the request a response answers, where that changes how
// the response is framed.
type Expect struct {
	Head    bool // no body, whatever the headers say
	Connect bool // a 2xx opens a tunnel
	HTTP09  bool // an HTTP/0.9 request: the answer may be a bare body
	// Waiting: a request the pairing is certain of waits for this answer,
	// which may then be read leniently: a bare body, or a malformed status
	// line (lenient.go).
	Waiting bool
}

// New returns a parser for requests or responses with the given limits.
func New(kind Kind, lim Limits) *Parser {
	p := &Parser{kind: kind, lim: lim}
	p.Reset()
	return p
}

// Reset forgets all state, as for a new connection, keeping the buffer.
func (p *Parser) Reset() {
	hb := p.hbuf[:0]
	*p = Parser{kind: p.kind, lim: p.lim, hbuf: hb, atLineStart: true}
	p.msg.ContentLength = -1
}

// ResetResync is Reset for a stream picked up in the middle: the first bytes
// may belong to a message whose start was not seen, or start one (a
// keep-alive connection picked up between messages), so the first line is
// taken if it is a plausible start line.
func (p *Parser) ResetResync() {
	p.Reset()
	p.st, p.strictNext = stResync, true
}

// Message returns the current message; valid after Headers until the next call.
func (p *Parser) Message() *Message { return &p.msg }

// InvalidReason says why the last Invalid event was reported.
func (p *Parser) InvalidReason() Reason { return p.reason }

// InMessage reports whether some bytes of a message have been seen and the
// message is not complete yet.
func (p *Parser) InMessage() bool { return p.inMessage }

// Resyncing reports whether the parser is skipping bytes to find a start
// line: what it consumes now belongs to no message it can read.
func (p *Parser) Resyncing() bool { return p.st == stResync }

// Offset is the stream offset of the next byte to be fed.
func (p *Parser) Offset() int64 { return p.offset }

// ExpectResponseTo tells a response parser about the request that the next
// response answers: whether it has a body (HEAD), opens a tunnel (CONNECT)
// or may be an HTTP/0.9 bare body. It applies to the next final response.
func (p *Parser) ExpectResponseTo(e Expect) { p.next = e }

// Feed parses b, which continues the stream. It returns how many bytes it
// consumed and what it reached. When the event is 0 all of b was consumed
// (or buffered) and more bytes are needed. Otherwise call Feed again with
// b[n:], also when b[n:] is empty and the event was Headers alone.
func (p *Parser) Feed(b []byte, ts time.Time) (n int, ev Event) {
	if p.hbufStale {
		p.hbuf, p.hbufStale = p.hbuf[:0], false
	}
	for {
		var k int
		switch p.st {
		case stStart:
			k, ev = p.feedStart(b[n:], ts)
		case stBodyLen, stChunkData:
			k, ev = p.feedCounted(b[n:])
		case stChunkSize:
			k, ev = p.feedChunkSize(b[n:])
		case stChunkEnd:
			k, ev = p.feedChunkEnd(b[n:])
		case stTrailers:
			k, ev = p.feedTrailers(b[n:])
		case stBodyClose:
			k = len(b) - n
			p.msg.BodyBytes += int64(k)
		case stResync:
			k, ev = p.feedResync(b[n:], ts)
		case stUpgraded:
			k = len(b) - n
		case stBare:
			k, ev = p.feedBare(b[n:], ts)
		}
		n += k
		p.offset += int64(k)
		if ev != 0 || n == len(b) {
			return n, ev
		}
	}
}

// Gap tells the parser that n bytes of the stream were lost at this point.
// It returns inStep when the parser stayed in step: the gap fell inside a
// body whose length is known (or ends with the connection), so the message
// goes on and carries Gap; done when the gap took the body's last bytes, so
// the message is complete now. done without inStep: the gap took the last
// bytes of a Content-Length body and more; the message is complete (with
// Gap), but whole messages may have followed it in the gap, and the parser
// looks for the next start line. Otherwise the parser drops the message,
// looks for the next start line, and returns false: whole messages may
// have been in the gap.
func (p *Parser) Gap(n int64) (inStep, done bool) {
	if p.hbufStale {
		p.hbuf, p.hbufStale = p.hbuf[:0], false
	}
	p.offset += n
	switch p.st {
	case stBodyLen, stChunkData:
		if n <= p.remaining {
			p.remaining -= n
			p.msg.BodyBytes += n
			p.msg.Gap = true
			if p.remaining == 0 && p.st == stBodyLen {
				p.finish()
				return true, true
			}
			if p.remaining == 0 {
				p.st = stChunkEnd
			}
			return true, false
		}
		if p.st == stBodyLen {
			// The body ended in the gap: the message is complete. What
			// follows it is not known; a gap running past it by fewer bytes
			// than a whole message ends inside the next one, so the next
			// line is no start line.
			over := n - p.remaining
			p.msg.BodyBytes += p.remaining
			p.remaining = 0
			p.msg.Gap = true
			p.finish()
			p.toResync(over >= p.smallestMessage())
			return false, true
		}
	case stBodyClose:
		p.msg.BodyBytes += n
		p.msg.Gap = true
		return true, false
	case stUpgraded:
		return true, false
	}
	// The gap may have ended on a message boundary: the next line is a
	// candidate start line.
	p.toResync(true)
	return false, false
}

// smallestMessage is the fewest bytes a whole message of the parser's kind
// can take: a status line "HTTP/1.1 200" and two line ends; for requests, a
// one-letter method and a target with two line ends. A gap shorter than
// that cannot hide one.
func (p *Parser) smallestMessage() int64 {
	if p.kind == Response {
		return int64(len("HTTP/1.1 200\n\n"))
	}
	return int64(len("G /\n\n"))
}

// Close tells the parser the stream ended. A body delimited by the end of
// the connection completes (Done); a message cut short is Invalid with
// ReasonTruncated.
func (p *Parser) Close() Event {
	if p.hbufStale {
		p.hbuf, p.hbufStale = p.hbuf[:0], false
	}
	switch {
	case p.st == stBodyClose:
		p.finish()
		return Done
	case p.st == stBare:
		// No status line came to the end: the bytes were the answer.
		p.msg.BodyBytes += p.remaining
		p.hbuf, p.remaining = p.hbuf[:0], 0
		p.finish()
		return Done
	case p.inMessage && p.st != stResync && p.st != stUpgraded:
		p.reason = ReasonTruncated
		p.toResync(false)
		return Invalid
	}
	return 0
}

// HintMessageStart tells a parser that is looking for a start line (after
// a gap or garbage) that a message may begin at the next byte fed, even in
// the middle of a line: a body ends without a line break, so the next
// status line often begins mid-line. It does nothing in any other state.
func (p *Parser) HintMessageStart() {
	if p.st == stResync {
		p.hbuf = p.hbuf[:0]
		p.atLineStart = true
	}
}

func (p *Parser) toResync(atLineStart bool) {
	p.st, p.strictNext = stResync, true
	p.hbuf = p.hbuf[:0]
	p.inMessage = false
	p.atLineStart = atLineStart
}

func (p *Parser) invalid(r Reason) Event {
	p.reason = r
	p.toResync(false)
	return Invalid
}

// finish ends the current message and readies the parser for the next.
func (p *Parser) finish() {
	p.st, p.strictNext = stStart, false
	p.inMessage = false
	p.atLineStart = true
	if cap(p.hbuf) > keepCap && !p.hbufStale {
		p.Release()
	}
}

var lineFeed = []byte{'\n'}

// appendBuf appends b to hbuf, charging any growth to the budget. It
// refuses when the budget is spent.
func (p *Parser) appendBuf(b []byte) bool {
	need := len(p.hbuf) + len(b)
	if need > cap(p.hbuf) {
		bud := p.lim.Budget
		grown := max(need, 2*cap(p.hbuf), 512)
		if bud != nil {
			if bud.used+grown-cap(p.hbuf) > bud.MaxBytes {
				bud.Refused++
				return false
			}
			bud.used += grown - cap(p.hbuf)
		}
		nb := make([]byte, len(p.hbuf), grown)
		copy(nb, p.hbuf)
		p.hbuf = nb
	}
	p.hbuf = append(p.hbuf, b...)
	return true
}

// Holding reports the buffer capacity the parser holds against its budget.
func (p *Parser) Holding() int { return cap(p.hbuf) }

// Drop abandons a message whose start line or header block is being
// buffered, and gives its buffer back: a bound makes room by evicting the
// oldest partial header blocks. The parser looks for the next start line.
func (p *Parser) Drop() {
	p.reason = ReasonBudget
	p.toResync(false)
	p.Release()
}

// Shrink gives back a buffer grown past a few KiB, as when a connection
// ends, keeping a small one for the next user.
func (p *Parser) Shrink() {
	if cap(p.hbuf) > keepCap {
		p.Release()
	}
}

// Release gives the parser's buffer back (to the budget, if any). The
// parser stays usable; it allocates again when it needs to.
func (p *Parser) Release() {
	if p.lim.Budget != nil {
		p.lim.Budget.used -= cap(p.hbuf)
	}
	p.hbuf, p.hbufStale = nil, false
}

func (p *Parser) beginMessage(ts time.Time, offset int64) {
	p.msg = Message{Start: ts, StartOffset: offset, ContentLength: -1}
	p.inMessage = true
	p.startChecked = false
	p.headers = 0
}

// feedStart collects a header block and parses it.
func (p *Parser) feedStart(b []byte, ts time.Time) (int, Event) {
	n := 0
	if !p.inMessage {
		// RFC 9112 §2.2: empty lines before a request line are ignored.
		for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
			n++
		}
		if n == len(b) {
			return n, 0
		}
		p.beginMessage(ts, p.offset+int64(n))
		b = b[n:]
		if p.mayBeBare() && !p.plausiblePrefix(b[:min(len(b), 5)]) {
			return n, p.beginBare()
		}
	}
	// parsed: p.msg holds the start line parsed from b's first line, which
	// is the block's first line if the block lies in b alone.
	parsed := false
	if !p.startChecked {
		joined := len(p.hbuf) > 0
		if ev, used := p.tryOneLine(b); ev != 0 {
			return n + used, ev
		}
		parsed = p.startChecked && !joined
	}
	// The start line is judged first, so that garbage is not buffered and
	// the bytes after a bad first line go to the resync scan, however the
	// stream was cut into Feed calls.
	if !p.startChecked {
		if ev := p.checkStartLine(b); ev != 0 {
			return n, ev
		}
	}
	limit := p.lim.MaxHeaderBytes
	var end int
	// lines: where the block's lines end, found by the scan for its end
	// and used again to parse it, when the block lies in b alone.
	var lines lineEnds
	if len(p.hbuf) == 0 {
		end = blockEndLines(b, &lines)
	} else {
		end = blockEndSplit(p.hbuf, b)
	}
	if end < 0 && len(p.hbuf)+len(b) <= limit {
		if !p.appendBuf(b) {
			return n, p.invalid(ReasonBudget)
		}
		return n + len(b), 0
	}
	if end < 0 || len(p.hbuf)+end > limit {
		// Over the limit: the first limit bytes of the message are dropped
		// and the scan resumes there, in the middle of a line.
		return n + limit - len(p.hbuf), p.invalid(ReasonTooLong)
	}
	block := b[:end]
	if len(p.hbuf) > 0 {
		if !p.appendBuf(block) {
			return n, p.invalid(ReasonBudget)
		}
		block = p.hbuf
		p.hbufStale = true
	}
	lp := &lines
	if len(p.hbuf) > 0 {
		lp = nil // the block was joined: lines holds offsets in b
	}
	ev := p.parseBlock(block, parsed && len(p.hbuf) == 0, lp)
	if ev&Invalid != 0 {
		p.atLineStart = true // the block is consumed whole; a line starts next
	}
	return n + end, ev
}

// checkStartLine judges the start line as far as it has arrived: hbuf, then
// b. It returns Invalid (nothing of b consumed) for a line that cannot start
// a message or is too long, and marks a complete good line as checked.
func (p *Parser) checkStartLine(b []byte) Event {
	lf := bytes.IndexByte(b, '\n')
	if lf < 0 {
		var tmp [40]byte
		head := append(tmp[:0], p.hbuf[:min(len(p.hbuf), 33)]...)
		head = append(head, b[:min(len(b), 33-len(head))]...)
		if !p.plausibleHead(head) {
			if p.mayBeBare() {
				return p.beginBare()
			}
			return p.invalid(ReasonStartLine)
		}
		if len(p.hbuf)+len(b) > p.lim.MaxLineBytes {
			return p.invalid(ReasonTooLong)
		}
		return 0
	}
	if len(p.hbuf)+lf > p.lim.MaxLineBytes {
		if p.mayBeBare() {
			return p.beginBare()
		}
		return p.invalid(ReasonTooLong)
	}
	line := b[:lf]
	have := len(p.hbuf)
	if have > 0 {
		// Join the line in hbuf's spare room, then give the room back.
		if !p.appendBuf(line) {
			return p.invalid(ReasonBudget)
		}
		line = p.hbuf
	}
	ok := p.plausibleLine(trimCR(line))
	p.hbuf = p.hbuf[:have]
	if !ok {
		if p.mayBeBare() {
			return p.beginBare()
		}
		return p.invalid(ReasonStartLine)
	}
	p.startChecked = true
	return 0
}

// parse09 accepts "METHOD /target" with a method that HTTP/0.9 clients send.
func (p *Parser) parse09(line []byte) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return false
	}
	m, target := line[:sp], line[sp+1:]
	if len(target) == 0 || target[0] != '/' || bytes.IndexByte(target, ' ') >= 0 {
		return false
	}
	switch string(m) {
	case "GET", "HEAD", "POST":
	default:
		return false
	}
	p.msg.Method, p.msg.Target, p.msg.Major, p.msg.Minor = m, target, 0, 9
	p.msg.Quirks = QuirkNoVersion
	return true
}

// blockEnd returns the index just after the empty line that ends a header
// block in b, or -1. Bare LF line ends are accepted (RFC 9112 §2.2).
func blockEnd(b []byte) int { return blockEndLines(b, nil) }

// lineEnds holds the offsets of a header block's line feeds, in order, the
// empty line's last; n past len(lf) means they did not all fit.
type lineEnds struct {
	lf [32]int32
	n  int
}

func (l *lineEnds) add(i int) {
	if l != nil {
		if l.n < len(l.lf) {
			l.lf[l.n] = int32(i)
		}
		l.n++
	}
}

// blockEndLines is blockEnd, noting each line feed in lines (if not nil),
// so that parsing the block need not look for them again.
func blockEndLines(b []byte, lines *lineEnds) int {
	i := 0
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		lines.add(i - 1)
		if i < len(b) && b[i] == '\n' {
			lines.add(i)
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			lines.add(i + 1)
			return i + 2
		}
	}
}

// blockEndSplit finds the end of a header block that began in head and
// continues in b; it returns the index in b just after the end, or -1.
func blockEndSplit(head, b []byte) int {
	if len(b) == 0 {
		return -1
	}
	h := len(head)
	switch {
	case h >= 1 && head[h-1] == '\n' && b[0] == '\n':
		return 1
	case h >= 1 && head[h-1] == '\n' && b[0] == '\r' && len(b) > 1 && b[1] == '\n':
		return 2
	case h >= 2 && head[h-2] == '\n' && head[h-1] == '\r' && b[0] == '\n':
		return 1
	}
	// Anything else ends inside b: "...\r" + "\n\r\n" is found there too,
	// since blockEnd looks after every LF.
	return blockEnd(b)
}

func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

// parseBlock parses a complete header block (start line to empty line).
// parsed says that p.msg already holds its start line, parsed in place
// (fields aliasing block) and good: a start line costs as much to parse as
// the rest of a small block.
//
// lines, if not nil, holds the line feeds of block (blockEndLines).
func (p *Parser) parseBlock(block []byte, parsed bool, lines *lineEnds) Event {
	if lines != nil && lines.n > len(lines.lf) {
		lines = nil
	}
	var lf int
	if lines != nil {
		lf = int(lines.lf[0])
	} else {
		lf = bytes.IndexByte(block, '\n')
	}
	start := trimCR(block[:lf])
	if len(start) > p.lim.MaxLineBytes {
		return p.invalid(ReasonTooLong)
	}
	// A line without version or a malformed status line ended its message
	// at the line (tryOneLine); here only lines a header block follows.
	ok, oneLine := true, false
	if !parsed {
		ok, oneLine = p.startLine(start)
	}
	if !ok || oneLine || p.msg.StatusLine != StatusLineOK {
		return p.invalid(ReasonStartLine)
	}
	var fr framing
	pos := lf + 1
	for k := 1; pos < len(block); k++ {
		if lines != nil {
			lf = int(lines.lf[k])
		} else {
			lf = pos + bytes.IndexByte(block[pos:], '\n')
		}
		line := trimCR(block[pos:lf])
		pos = lf + 1
		if len(line) == 0 {
			break
		}
		if len(line) > p.lim.MaxLineBytes {
			return Headers | p.invalid(ReasonTooLong)
		}
		p.headers++
		if p.headers > p.lim.MaxHeaders {
			return Headers | p.invalid(ReasonTooManyHeaders)
		}
		if r := p.header(line, &fr); r != ReasonNone {
			return Headers | p.invalid(r)
		}
	}
	return p.frame(&fr)
}

// framing collects the headers that decide where the body ends.
type framing struct {
	contentLength int64 // -1 none
	hasCL         bool
	hasTE         bool
	chunkedLast   bool
	lastFraming   bool // the previous header line was a framing header
}

func (p *Parser) parseRequestLine(line []byte) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || sp > 32 || !isMethod(line[:sp]) {
		return false
	}
	rest := line[sp+1:]
	sp2 := bytes.LastIndexByte(rest, ' ')
	if sp2 <= 0 {
		return false // HTTP/0.9 or garbage: no version
	}
	target, ver := rest[:sp2], rest[sp2+1:]
	if bytes.IndexByte(target, ' ') >= 0 || !parseVersion(ver, &p.msg.Major, &p.msg.Minor) {
		return false
	}
	p.msg.Method, p.msg.Target = line[:sp], target
	return true
}

func (p *Parser) parseStatusLine(line []byte) bool {
	if len(line) < 12 || !parseVersion(line[:8], &p.msg.Major, &p.msg.Minor) || line[8] != ' ' {
		return false
	}
	d := line[9:12]
	if d[0] < '1' || d[0] > '9' || d[1] < '0' || d[1] > '9' || d[2] < '0' || d[2] > '9' {
		return false
	}
	if len(line) > 12 && line[12] != ' ' {
		return false
	}
	p.msg.Status = int(d[0]-'0')*100 + int(d[1]-'0')*10 + int(d[2]-'0')
	return true
}

// parseVersion accepts "HTTP/d.d"; the name's case is tolerated because
// servers in the wild send "http/1.1" and clients accept it.
func parseVersion(v []byte, major, minor *uint8) bool {
	if len(v) != 8 || !equalFold(v[:5], "HTTP/") || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return false
	}
	*major, *minor = v[5]-'0', v[7]-'0'
	return *major == 1
}

// plausiblePrefix reports whether b could be the beginning of a start line.
func (p *Parser) plausiblePrefix(b []byte) bool {
	if p.kind == Response {
		const h = "HTTP/"
		n := min(len(b), len(h))
		return equalFold(b[:n], h[:n])
	}
	for i, c := range b {
		if c == ' ' {
			return i > 0
		}
		if i >= 32 || !isMethodChar(c) {
			return false
		}
	}
	return true
}

// plausibleStartLine checks a whole start line without keeping anything.
func (p *Parser) plausibleStartLine(line []byte) bool {
	saved := p.msg
	var ok bool
	if p.kind == Request {
		ok = p.parseRequestLine(line)
	} else {
		ok = p.parseStatusLine(line)
	}
	p.msg = saved
	return ok
}

func (p *Parser) header(line []byte, fr *framing) Reason {
	if line[0] == ' ' || line[0] == '\t' {
		// obs-fold continues the previous value. None of the values we
		// extract is worth unfolding, but a folded framing header is
		// ambiguous between servers, so it is refused.
		if fr.lastFraming {
			return ReasonHeaderLine
		}
		return ReasonNone
	}
	// The name is what comes before the first colon. It is not checked to
	// be a token: only the names below are acted on, and equalFold matches
	// them byte for byte but for letters' case, so a name that matches is
	// a token. A name with other bytes is ignored as servers' rejection of
	// it answers the request, unless it is a framing header with
	// whitespace before the colon ("Content-Length : 5"), which servers
	// read differently: that makes the framing unknown.
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return ReasonHeaderLine
	}
	name := line[:colon]
	fr.lastFraming = false
	if c := name[len(name)-1]; c == ' ' || c == '\t' {
		t := trimRightOWS(name)
		if equalFold(t, "content-length") || equalFold(t, "transfer-encoding") {
			return ReasonHeaderLine
		}
		return ReasonNone
	}
	value := TrimOWS(line[colon+1:])
	switch len(name) {
	case 4:
		if equalFold(name, "host") && !p.msg.HasHost {
			p.msg.Host, p.msg.HasHost = value, true
		}
	case 10:
		if equalFold(name, "user-agent") && !p.msg.HasUserAgent {
			p.msg.UserAgent, p.msg.HasUserAgent = value, true
		}
		if equalFold(name, "tracestate") && !p.msg.HasTraceState {
			p.msg.TraceState, p.msg.HasTraceState = value, true
		}
	case 11:
		if equalFold(name, "traceparent") && !p.msg.HasTraceParent {
			p.msg.TraceParent, p.msg.HasTraceParent = value, true
		}
	case 14:
		if equalFold(name, "content-length") {
			fr.lastFraming = true
			return fr.addContentLength(value)
		}
	case 15:
		if equalFold(name, "x-forwarded-for") && !p.msg.HasXForwardedFor {
			p.msg.XForwardedFor, p.msg.HasXForwardedFor = value, true
		}
		if equalFold(name, "x-amzn-trace-id") {
			// Go's Header.Get: the first line wins.
			if !p.msg.HasTraceHeader {
				p.msg.TraceHeader, p.msg.HasTraceHeader = value, true
			}
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			fr.lastFraming = true
			fr.addTransferEncoding(value)
		}
	}
	return ReasonNone
}

// addContentLength applies RFC 9112 §6.3: a list of identical values is one
// value; differing values or a non-number make the framing unrecoverable.
func (fr *framing) addContentLength(v []byte) Reason {
	for len(v) > 0 {
		var item []byte
		if c := bytes.IndexByte(v, ','); c >= 0 {
			item, v = v[:c], v[c+1:]
		} else {
			item, v = v, nil
		}
		n, ok := parseDecimal(TrimOWS(item))
		if !ok {
			return ReasonContentLength
		}
		if fr.hasCL && n != fr.contentLength {
			return ReasonContentLength
		}
		fr.hasCL, fr.contentLength = true, n
	}
	if !fr.hasCL {
		return ReasonContentLength // empty value
	}
	return ReasonNone
}

func (fr *framing) addTransferEncoding(v []byte) {
	fr.hasTE = true
	for len(v) > 0 {
		var item []byte
		if c := bytes.IndexByte(v, ','); c >= 0 {
			item, v = v[:c], v[c+1:]
		} else {
			item, v = v, nil
		}
		item = TrimOWS(item)
		if len(item) == 0 {
			continue
		}
		fr.chunkedLast = equalFold(item, "chunked")
	}
}

// parseDecimal parses a non-negative Content-Length; leading zeros are fine.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		// 18 digits keep the value below 2^62; anything larger is a lie.
		for len(b) > 18 && b[0] == '0' {
			b = b[1:]
		}
		if len(b) == 0 || len(b) > 18 {
			return 0, false
		}
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// frame decides, from the parsed headers, how the body is delimited.
func (p *Parser) frame(fr *framing) Event {
	m := &p.msg
	if !fr.hasTE && fr.hasCL {
		m.ContentLength = fr.contentLength
	}
	if p.kind == Request {
		switch {
		case string(m.Method) == "CONNECT":
			// What follows is the tunnel (or, if refused, the connection
			// usually closes); either way it is not ours to parse.
			p.st = stUpgraded
			return Headers | Done
		case fr.hasTE && !fr.chunkedLast:
			// RFC 9112 §6.3: the server answers 400 and closes; the body
			// length is unknowable.
			return Headers | p.invalid(ReasonTransferEncoding)
		case fr.hasTE:
			m.Chunked = true
			p.st = stChunkSize
			return Headers
		case m.ContentLength > 0:
			p.st, p.remaining = stBodyLen, m.ContentLength
			return Headers
		}
		p.finish()
		return Headers | Done
	}

	noBody, connect := p.next.Head, p.next.Connect
	switch {
	case m.Status == 101:
		p.st = stUpgraded
		return Headers | Done | Upgrade
	case m.Status < 200:
		// Informational: the final response is still to come.
		p.finish()
		return Headers | Done
	}
	p.next = Expect{}
	switch {
	case connect && m.Status < 300:
		p.st = stUpgraded
		return Headers | Done | Upgrade
	case noBody || m.Status == 204 || m.Status == 304:
		p.finish()
		return Headers | Done
	case fr.hasTE && fr.chunkedLast:
		m.Chunked = true
		p.st = stChunkSize
		return Headers
	case fr.hasTE:
		m.CloseDelim = true
		p.st = stBodyClose
		return Headers
	case fr.hasCL:
		if m.ContentLength == 0 {
			p.finish()
			return Headers | Done
		}
		p.st, p.remaining = stBodyLen, m.ContentLength
		return Headers
	}
	m.CloseDelim = true
	p.st = stBodyClose
	return Headers
}

// feedCounted consumes a Content-Length body or chunk data.
func (p *Parser) feedCounted(b []byte) (int, Event) {
	k := int64(len(b))
	if k > p.remaining {
		k = p.remaining
	}
	p.remaining -= k
	p.msg.BodyBytes += k
	if p.remaining > 0 {
		return int(k), 0
	}
	if p.st == stChunkData {
		p.st = stChunkEnd
		return int(k), 0
	}
	p.finish()
	return int(k), Done
}

// line returns the next complete line (without CR LF), joining bytes kept
// from earlier calls. ok is false when b ended first; then all of b is kept.
func (p *Parser) line(b []byte) (line []byte, used int, ok bool, ev Event) {
	lf := bytes.IndexByte(b, '\n')
	if lf < 0 {
		if len(p.hbuf)+len(b) > p.lim.MaxLineBytes {
			return nil, len(b), false, p.invalid(ReasonTooLong)
		}
		if !p.appendBuf(b) {
			return nil, len(b), false, p.invalid(ReasonBudget)
		}
		return nil, len(b), false, 0
	}
	if len(p.hbuf) == 0 {
		line = b[:lf]
	} else {
		if len(p.hbuf)+lf > p.lim.MaxLineBytes {
			return nil, lf + 1, false, p.invalid(ReasonTooLong)
		}
		if !p.appendBuf(b[:lf]) {
			return nil, lf + 1, false, p.invalid(ReasonBudget)
		}
		line = p.hbuf
		p.hbufStale = true
	}
	if len(line) > p.lim.MaxLineBytes {
		return nil, lf + 1, false, p.invalid(ReasonTooLong)
	}
	return trimCR(line), lf + 1, true, 0
}

// endLine drops a line taken from hbuf once it has been used.
func (p *Parser) endLine() {
	if p.hbufStale {
		p.hbuf, p.hbufStale = p.hbuf[:0], false
	}
}

func (p *Parser) feedChunkSize(b []byte) (int, Event) {
	line, used, ok, ev := p.line(b)
	if !ok {
		return used, ev
	}
	size, valid := parseChunkSize(line)
	p.endLine()
	if !valid {
		return used, p.invalid(ReasonChunk)
	}
	if size == 0 {
		p.st = stTrailers
	} else {
		p.st, p.remaining = stChunkData, size
	}
	return used, 0
}

// parseChunkSize reads the hex size before any chunk extension. At most 15
// hex digits keep the size below 2^60 (net/http allows 16 but then overflows
// int64 for half of them).
func parseChunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = TrimOWS(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

func (p *Parser) feedChunkEnd(b []byte) (int, Event) {
	line, used, ok, ev := p.line(b)
	if !ok {
		return used, ev
	}
	empty := len(line) == 0
	p.endLine()
	if !empty {
		return used, p.invalid(ReasonChunk)
	}
	p.st = stChunkSize
	return used, 0
}

func (p *Parser) feedTrailers(b []byte) (int, Event) {
	line, used, ok, ev := p.line(b)
	if !ok {
		return used, ev
	}
	empty := len(line) == 0
	p.endLine()
	if empty {
		p.finish()
		return used, Done
	}
	p.headers++
	if p.headers > p.lim.MaxHeaders {
		return used, p.invalid(ReasonTooManyHeaders)
	}
	return used, 0
}

// feedResync skips bytes until a line that starts a plausible message.
func (p *Parser) feedResync(b []byte, ts time.Time) (int, Event) {
	i := 0
	if len(p.hbuf) > 0 {
		// A candidate line began in an earlier call.
		lf := bytes.IndexByte(b, '\n')
		if lf < 0 {
			if len(p.hbuf)+len(b) > p.lim.MaxLineBytes {
				p.hbuf = p.hbuf[:0]
				return len(b), 0
			}
			if !p.appendBuf(b) || !p.plausiblePrefix(p.hbuf) {
				p.hbuf = p.hbuf[:0]
			}
			return len(b), 0
		}
		if len(p.hbuf)+lf <= p.lim.MaxLineBytes && p.appendBuf(b[:lf]) {
			if p.plausibleStartLine(trimCR(p.hbuf)) && p.appendBuf(lineFeed) {
				// The message began before this call; its header block goes
				// on in hbuf (restored with the line's LF).
				start, off := p.msg.Start, p.msg.StartOffset
				p.st = stStart
				p.beginMessage(start, off)
				p.startChecked = true
				return lf + 1, Resynced
			}
		}
		p.hbuf = p.hbuf[:0]
		i = lf + 1
		p.atLineStart = true
	}
	for i < len(b) {
		if !p.atLineStart {
			lf := bytes.IndexByte(b[i:], '\n')
			if lf < 0 {
				return len(b), 0
			}
			i += lf + 1
			p.atLineStart = true
			continue
		}
		rest := b[i:]
		lf := bytes.IndexByte(rest, '\n')
		if lf < 0 {
			if len(rest) <= p.lim.MaxLineBytes && p.plausiblePrefix(rest) && p.appendBuf(rest) {
				// Remember where this candidate began, for its Start.
				p.msg.Start, p.msg.StartOffset = ts, p.offset+int64(i)
			}
			p.atLineStart = false
			return len(b), 0
		}
		if p.plausibleStartLine(trimCR(rest[:lf])) {
			p.st = stStart
			return i, Resynced
		}
		if len(trimCR(rest[:lf])) == 0 {
			// Empty lines may precede a message.
			i += lf + 1
			continue
		}
		i += lf + 1
	}
	return i, 0
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTokenChar(c) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool { return tokenTable[c] }

// isMethod is stricter than the token grammar: every registered method is
// upper case, and insisting on it keeps resynchronisation from taking body
// bytes such as "abcdGET /x HTTP/1.1" for a request line.
func isMethod(b []byte) bool {
	for _, c := range b {
		if !isMethodChar(c) {
			return false
		}
	}
	return len(b) > 0
}

func isMethodChar(c byte) bool { return c >= 'A' && c <= 'Z' || c == '-' || c == '_' }

var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// equalFold compares ASCII case-insensitively without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if c|0x20 != d|0x20 || (c|0x20 < 'a' || c|0x20 > 'z') && c != d {
			return false
		}
	}
	return true
}

// TrimOWS removes optional whitespace (spaces and tabs, RFC 9110 §5.6.3)
// from both ends. A loop, not bytes.Trim: the cutset version was a tenth
// of a replay's parsing time.
func TrimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return trimRightOWS(b)
}

func trimRightOWS(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// PathOf is a request target without its query or fragment.
func PathOf(target []byte) []byte {
	for i, c := range target {
		if c == '?' || c == '#' {
			return target[:i]
		}
	}
	return target
}
