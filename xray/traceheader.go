package xray

import "bytes"

// TraceHeader is what an incoming X-Amzn-Trace-Id says. Root and Parent
// alias the header bytes.
type TraceHeader struct {
	Root, Parent []byte
	Sampled      int8 // 1, 0, or -1 when absent or anything else ("?" included)
}

// ParseTraceHeader parses the header as the Go SDK does (docs/segments.md,
// Trace header): parts split on ';' and trimmed, parts without '=' skipped, the value
// is everything after the first '=', keys are case-sensitive, the last
// duplicate wins. Root and Parent are kept only when well-formed, so that a
// malformed Root starts a new trace instead of producing a segment X-Ray
// rejects.
func ParseTraceHeader(h []byte) TraceHeader {
	th := TraceHeader{Sampled: -1}
	for len(h) > 0 {
		var part []byte
		if i := bytes.IndexByte(h, ';'); i >= 0 {
			part, h = h[:i], h[i+1:]
		} else {
			part, h = h, nil
		}
		part = bytes.TrimSpace(part)
		eq := bytes.IndexByte(part, '=')
		if eq < 0 {
			continue
		}
		key, val := part[:eq], part[eq+1:]
		switch string(key) {
		case "Root":
			th.Root = val
		case "Parent":
			th.Parent = val
		case "Sampled":
			switch string(val) {
			case "1":
				th.Sampled = 1
			case "0":
				th.Sampled = 0
			default:
				th.Sampled = -1
			}
		}
	}
	if !validTraceID(th.Root) {
		th.Root = nil
	}
	if !isHex(th.Parent, 16) {
		th.Parent = nil
	}
	return th
}

// validTraceID checks "1-" + 8 hex + "-" + 24 hex.
func validTraceID(b []byte) bool {
	return len(b) == 35 && b[0] == '1' && b[1] == '-' && b[10] == '-' &&
		isHex(b[2:10], 8) && isHex(b[11:], 24)
}

// isHex checks for exactly n lowercase hex digits: X-Ray ids are lowercase,
// and an upper-case id would not join its trace.
func isHex(b []byte, n int) bool {
	if len(b) != n {
		return false
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
