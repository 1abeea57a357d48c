package segmenter

import "github.com/xray-capture/xray-capture/httpparse"

// What the segmenter does with start lines read leniently
// (docs/http-parsing.md): it counts them, lets a response parser read an
// answer leniently only when the request it answers is certain, and says
// in the segment when the answer had no readable status line.

// QuirkCounts counts messages by httpparse.Quirk, one per bit.
type QuirkCounts [httpparse.NumQuirks]uint64

func countQuirks(n *QuirkCounts, q httpparse.Quirk) {
	for i := range n {
		if q&httpparse.QuirkAt(i) != 0 {
			n[i]++
		}
	}
}

// expectation is what the response parser is told about the answer it is
// about to read, to the queue's head. A bare body or a malformed status
// line can be an answer only to a request the pairing is certain of (in
// step, no anchor awaiting confirmation): out of step, such bytes are what
// they look like, not HTTP.
func (t *Tracker) expectation(c *conn) httpparse.Expect {
	r := c.queue.front()
	e := r.expect
	e.Waiting = !r.uncertain && c.outOfStep == 0 && !c.confirm.active && !r.timedOut &&
		(c.ackless || after(c.respAck, r.seq)) // the server had the request (judgeResponse)
	return e
}

// statusLineAnnotation is the response_status_line annotation of an
// answer without a readable status line, and whether that is a fault: a
// malformed status line always (an HTTP client fails on it: Go's
// ReadResponse returns "malformed HTTP status code", and the SDKs record
// a failed call as a fault); no status line at all unless the request was
// HTTP/0.9, whose answer has none (RFC 1945 §6, Simple-Response).
func statusLineAnnotation(resp *httpparse.Message, r *pendingReq) (annotation string, fault bool) {
	switch resp.StatusLine {
	case httpparse.StatusLineMalformed:
		return "malformed", true
	case httpparse.StatusLineNone:
		return "none", !r.expect.HTTP09
	}
	return "", false
}
