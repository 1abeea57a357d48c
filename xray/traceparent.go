package xray

// TraceParent is what an incoming W3C traceparent header says (W3C Trace
// Context Level 1, section 3.2). TraceID and ParentID alias the header.
type TraceParent struct {
	TraceID  []byte // 32 lowercase hex, not all zeros
	ParentID []byte // 16 lowercase hex, not all zeros
	Sampled  bool   // trace-flags bit 0
}

// ParseTraceParent parses the header as W3C Trace Context says a receiver
// must: version 00 is exactly 55 characters; a higher version (not ff) is
// read by the version 00 layout and may carry more after a '-'; ids and
// flags are lowercase hex, and all-zero ids are invalid. ok is false for
// anything else, and the request then starts a new trace.
func ParseTraceParent(h []byte) (tp TraceParent, ok bool) {
	if len(h) < 55 || !isHex(h[:2], 2) || h[2] != '-' || h[35] != '-' || h[52] != '-' {
		return TraceParent{}, false
	}
	switch {
	case h[0] == 'f' && h[1] == 'f':
		return TraceParent{}, false // forbidden version
	case h[0] == '0' && h[1] == '0':
		if len(h) != 55 {
			return TraceParent{}, false
		}
	default:
		// A future version: its fields may follow after a '-'.
		if len(h) > 55 && h[55] != '-' {
			return TraceParent{}, false
		}
	}
	tid, pid, flags := h[3:35], h[36:52], h[53:55]
	if !isHex(tid, 32) || !isHex(pid, 16) || !isHex(flags, 2) || allZeros(tid) || allZeros(pid) {
		return TraceParent{}, false
	}
	return TraceParent{TraceID: tid, ParentID: pid, Sampled: hexVal(flags[1])&1 == 1}, true
}

func allZeros(b []byte) bool {
	for _, c := range b {
		if c != '0' {
			return false
		}
	}
	return true
}

func hexVal(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// TraceContext is the trace a request continues, from X-Amzn-Trace-Id or
// traceparent. Root is an X-Ray trace id (35 bytes) or empty; Parent a
// segment id or empty. Root and Parent point into the Context itself or
// into the headers; Sampled is 1, 0, or -1 when no header decides.
type TraceContext struct {
	Root, Parent []byte
	Sampled      int8
	// FromTraceParent: Root and Parent came from traceparent, and the
	// incoming tracestate belongs to them.
	FromTraceParent bool
	root            [35]byte
}

// Resolve decides which incoming header a request continues
// (docs/otlp.md, Trace context): X-Amzn-Trace-Id when its Root is
// well-formed, else traceparent when valid, else neither (a new trace).
// X-Amzn-Trace-Id wins because in front of an X-Ray-traced service it is
// the header X-Ray's own load balancers and SDKs set and read; a
// traceparent that arrives beside it was most often made by a client that
// sends both for the same trace. Sampled=0|1 in X-Amzn-Trace-Id decides,
// as it does alone; without it, a valid traceparent's sampled flag does.
//
// hasTP says whether a traceparent came; xa is the parsed
// X-Amzn-Trace-Id (Sampled -1 and no Root when absent).
func (tc *TraceContext) Resolve(xa TraceHeader, tp []byte, hasTP bool) {
	// Without a valid traceparent, X-Amzn-Trace-Id is read as always: a
	// well-formed Parent stays even beside a malformed Root.
	tc.Root, tc.Parent, tc.Sampled, tc.FromTraceParent = xa.Root, xa.Parent, xa.Sampled, false
	var w TraceParent
	valid := false
	if hasTP {
		w, valid = ParseTraceParent(tp)
	}
	switch {
	case len(xa.Root) > 0:
	case valid:
		// The W3C id is the X-Ray id's 32 hex digits; X-Ray reads its
		// first 8 as the epoch seconds.
		tc.root[0], tc.root[1], tc.root[10] = '1', '-', '-'
		copy(tc.root[2:10], w.TraceID[:8])
		copy(tc.root[11:], w.TraceID[8:])
		tc.Root, tc.Parent, tc.FromTraceParent = tc.root[:], w.ParentID, true
	}
	if tc.Sampled < 0 && valid {
		tc.Sampled = 0
		if w.Sampled {
			tc.Sampled = 1
		}
	}
}
