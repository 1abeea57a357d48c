package httpparse

import (
	"testing"
	"time"
)

type fuzzMsg struct {
	method, target, host, ua, xff, trace string
	status                               int
	cl, body                             int64
	ev                                   Event
}

// feedSplit feeds b in pieces cut at the given points and records every
// message and event.
// A response parser expects answers to e.
func feedSplit(kind Kind, e Expect, b []byte, cuts []int, close bool) []fuzzMsg {
	p := New(kind, Limits{MaxLineBytes: 256, MaxHeaderBytes: 1024, MaxHeaders: 16})
	p.ExpectResponseTo(e)
	var out []fuzzMsg
	last := 0
	pieces := [][]byte{}
	for _, c := range cuts {
		if c > last && c < len(b) {
			pieces = append(pieces, b[last:c])
			last = c
		}
	}
	pieces = append(pieces, b[last:])
	for _, piece := range pieces {
		for {
			n, ev := p.Feed(piece, time.Time{})
			piece = piece[n:]
			switch {
			case ev&Headers != 0:
				m := p.Message()
				out = append(out, fuzzMsg{string(m.Method), string(m.Target), string(m.Host), string(m.UserAgent),
					string(m.XForwardedFor), string(m.TraceHeader), m.Status, m.ContentLength, m.BodyBytes, ev &^ Resynced})
			case ev&(Done|Upgrade) != 0:
				// A later call: the byte slices are no longer valid (package
				// doc), the numbers are.
				m := p.Message()
				out = append(out, fuzzMsg{status: m.Status, cl: m.ContentLength, body: m.BodyBytes, ev: ev &^ Resynced})
				p.ExpectResponseTo(e)
			case ev&Invalid != 0:
				// Without Headers the message is not meaningful: only the event is.
				out = append(out, fuzzMsg{ev: Invalid})
			}
			if len(p.hbuf) > 1024+256 {
				panic("parser buffered more than its limits")
			}
			if ev == 0 || len(piece) == 0 {
				break
			}
		}
	}
	if close {
		if ev := p.Close(); ev != 0 {
			out = append(out, fuzzMsg{ev: ev})
		}
	}
	return out
}

// FuzzFeed checks that the parser never panics, never buffers beyond its
// limits, and is split-invariant: any cut of the input into Feed calls gives
// the same messages as one call.
func FuzzFeed(f *testing.F) {
	for _, tt := range parseTests {
		f.Add([]byte(tt.raw), tt.kind == Response, uint16(7), uint16(31))
	}
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nGARBAGE\r\nGET /b HTTP/1.1\r\n\r\n"), false, uint16(3), uint16(40))
	for _, tt := range lenientRequests {
		f.Add([]byte(tt.raw+next), false, uint16(5), uint16(9))
	}
	f.Add([]byte("hello\r\nHTTP/1.1 204 No Content\r\n\r\n"), true, uint16(9), uint16(11))
	f.Add([]byte("HTTP/1.1 2XX OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"), true, uint16(3), uint16(21))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n\r\n"), true, uint16(50), uint16(52))
	f.Fuzz(func(t *testing.T, data []byte, response bool, cut1, cut2 uint16) {
		kind := Request
		if response {
			kind = Response
		}
		// The low bit of cut2 has a response answer a request the pairing
		// is certain of, which lets it be bare or malformed (lenient.go).
		e := Expect{Waiting: cut2&1 == 1}
		whole := feedSplit(kind, e, data, nil, true)
		split := feedSplit(kind, e, data, []int{int(cut1) % (len(data) + 1), int(cut2) % (len(data) + 1)}, true)
		if len(whole) != len(split) {
			t.Fatalf("whole gives %d events, split at %d/%d gives %d:\n%+v\n%+v", len(whole), cut1, cut2, len(split), whole, split)
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("event %d: whole %+v, split %+v", i, whole[i], split[i])
			}
		}
	})
}
