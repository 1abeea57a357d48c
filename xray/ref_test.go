package xray

// The encoder and id functions as they were before they were made faster
// (commit d657c36), with the document's optional members joined and
// strings escaped rune by rune: the reference that the differential and
// fuzz tests hold the current ones to. The output must not change by one
// byte for any input.

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"
)

func refAppendJSON(s *Segment, dst []byte) []byte {
	dst = append(dst, `{"name":`...)
	dst = refAppendString(dst, s.Name)
	dst = append(dst, `,"id":"`...)
	dst = append(dst, s.ID[:]...)
	dst = append(dst, `","trace_id":"`...)
	dst = append(dst, s.TraceID[:]...)
	dst = append(dst, `","start_time":`...)
	dst = refAppendTime(dst, s.Start)
	if s.InProgress {
		dst = append(dst, `,"in_progress":true`...)
	} else {
		dst = append(dst, `,"end_time":`...)
		dst = refAppendTime(dst, s.End)
	}
	if len(s.ParentID) > 0 {
		dst = append(dst, `,"parent_id":"`...)
		dst = append(dst, s.ParentID...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"http":{"request":{"method":`...)
	dst = refAppendString(dst, s.Method)
	dst = append(dst, `,"url":`...)
	dst = refAppendString(dst, s.URL)
	if s.HasUserAgent {
		dst = append(dst, `,"user_agent":`...)
		dst = refAppendString(dst, s.UserAgent)
	}
	dst = append(dst, `,"client_ip":`...)
	dst = refAppendString(dst, s.ClientIP)
	if s.XForwardedFor {
		dst = append(dst, `,"x_forwarded_for":true`...)
	}
	dst = append(dst, '}')
	if s.HasResponse {
		// Status 0 is an HTTP/0.9 answer, which has no status line.
		var members []string
		if s.Status > 0 {
			members = append(members, `"status":`+strconv.Itoa(s.Status))
		}
		if s.ContentLength >= 0 {
			members = append(members, `"content_length":`+strconv.FormatInt(s.ContentLength, 10))
		}
		dst = append(dst, `,"response":{`+strings.Join(members, ",")+`}`...)
	}
	dst = append(dst, '}')
	if s.Error {
		dst = append(dst, `,"error":true`...)
	}
	if s.Throttle {
		dst = append(dst, `,"throttle":true`...)
	}
	if s.Fault {
		dst = append(dst, `,"fault":true`...)
	}
	if s.Origin != "" {
		dst = append(dst, `,"origin":`...)
		dst = refAppendStr(dst, s.Origin)
	}
	dst = append(dst, `,"aws":{`...)
	if len(s.AWS) > 0 {
		dst = append(dst, s.AWS...)
		dst = append(dst, ',')
	}
	if len(s.Resource) > 0 {
		dst = append(dst, s.Resource...)
		dst = append(dst, ',')
	}
	dst = append(dst, `"xray":{"sdk":"`+SDKName+`","sdk_version":`...)
	dst = refAppendStr(dst, s.SDKVersion)
	if s.SamplingRule != "" {
		dst = append(dst, `,"sampling_rule_name":`...)
		dst = refAppendStr(dst, s.SamplingRule)
	}
	dst = append(dst, `}}`...)
	var annotations []string
	if s.Outcome != "" {
		annotations = append(annotations, `"capture_outcome":`+string(refAppendStr(nil, s.Outcome)))
	}
	if s.CaptureGap {
		annotations = append(annotations, `"capture_gap":true`)
	}
	if s.Resync {
		annotations = append(annotations, `"pairing":"ack-resync"`)
	}
	if s.Tunnelled {
		annotations = append(annotations, `"connect_tunnel":true`)
	}
	if s.StatusLine != "" {
		annotations = append(annotations, `"response_status_line":`+string(refAppendStr(nil, s.StatusLine)))
	}
	if len(annotations) > 0 {
		dst = append(dst, `,"annotations":{`+strings.Join(annotations, ",")+`}`...)
	}
	return append(dst, '}')
}

// appendTime writes epoch seconds with microsecond precision (docs/segments.md, Times).
func refAppendTime(dst []byte, t time.Time) []byte {
	us := t.UnixMicro()
	if sec := us / 1e6; sec >= 1e9 && sec < 1e10 {
		// Every date from 2001 to 2286: ten digits, written in place
		// (strconv's general path was a few percent of a replay).
		n := len(dst)
		dst = append(dst, "0000000000.000000"...)
		b := dst[n : n+17]
		frac := us % 1e6
		for i := 15; i > 10; i -= 2 {
			d := frac % 100 * 2
			b[i], b[i+1] = refDigitPairs[d], refDigitPairs[d+1]
			frac /= 100
		}
		for i := 8; i >= 0; i -= 2 {
			d := sec % 100 * 2
			b[i], b[i+1] = refDigitPairs[d], refDigitPairs[d+1]
			sec /= 100
		}
		return dst
	}
	dst = strconv.AppendInt(dst, us/1e6, 10)
	frac := us % 1e6
	dst = append(dst, '.',
		byte('0'+frac/100000), byte('0'+frac/10000%10), byte('0'+frac/1000%10),
		byte('0'+frac/100%10), byte('0'+frac/10%10), byte('0'+frac%10))
	return dst
}

// appendStr is appendString for a string, without copying it.
func refAppendStr(dst []byte, s string) []byte {
	return refAppendString(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
}

const refHexDigits = "0123456789abcdef"

// digitPairs holds "00" to "99", two bytes each.
const refDigitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// refAppendString is not the old code but the rules it follows, written
// the plain way, rune by rune (the old byte loop is still the encoder's
// slow path): quote and backslash escaped, \n \r \t, other controls and
// DEL as \u00XX, each byte of invalid UTF-8 as U+FFFD, the rest as is.
func refAppendString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, "\ufffd"...)
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r < 0x20 || r == 0x7f:
			dst = fmt.Appendf(dst, `\u%04x`, r)
		default:
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
	}
	return append(dst, '"')
}

func refPutHex(dst []byte, src []byte) {
	for i, c := range src {
		dst[2*i] = refHexDigits[c>>4]
		dst[2*i+1] = refHexDigits[c&0xf]
	}
}

// NewSegmentID writes 16 hex digits from 8 random bytes.
func refNewSegmentID(random []byte, dst *[16]byte) {
	refPutHex(dst[:], random[:8])
}

// NewTraceID writes 1-<8 hex of start's epoch second>-<24 random hex>.
func refNewTraceID(random []byte, start time.Time, dst *[35]byte) {
	dst[0], dst[1], dst[10] = '1', '-', '-'
	sec := uint32(start.Unix())
	for i := range 8 {
		dst[9-i] = refHexDigits[sec&0xf]
		sec >>= 4
	}
	refPutHex(dst[11:], random[:12])
}
