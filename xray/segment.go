package xray

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Segment is one X-Ray segment document, the fields of docs/segments.md (Fields sent).
// Byte slices point into the Tracker's buffers (see the package doc).
type Segment struct {
	Name     []byte
	ID       [16]byte // lowercase hex
	TraceID  [35]byte // 1-XXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXX
	ParentID []byte   // 16 hex or empty
	// TraceState: the incoming W3C tracestate when traceparent gave the
	// trace (OTLP only; the daemon's document has no place for it).
	TraceState []byte
	// Peer: the connection's client end (OTLP's network.peer.*; the X-Ray
	// document has only client_ip).
	Peer netip.AddrPort

	Start, End time.Time
	// InProgress: the request had no end when the capture stopped; the
	// document has "in_progress":true and no end_time.
	InProgress bool
	// NotSampled: a request the sampler (or its trace header) did not
	// sample, built only for the views (--print, --summary); never sent.
	NotSampled bool

	Method, URL, UserAgent, ClientIP []byte
	HasUserAgent                     bool // the header was sent, maybe empty: user_agent is then ""
	XForwardedFor                    bool

	HasResponse   bool
	Status        int
	ContentLength int64 // -1: not sent

	Error, Throttle, Fault bool

	Origin       string
	SDKVersion   string
	SamplingRule string
	AWS          []byte // pre-encoded members of "aws" besides "xray" (plugins), without braces
	// Resource is pre-encoded members of "aws" for the connection's
	// server (a Kubernetes pod's "eks"), after AWS; nil for none.
	Resource []byte

	Outcome    string // capture_outcome annotation: reset, closed, timeout; "" for none
	CaptureGap bool   // capture_gap annotation
	Resync     bool   // annotation pairing: ack-resync (paired at an ACK anchor)
	Tunnelled  bool   // annotation connect_tunnel: sent inside a CONNECT tunnel
	// StatusLine: annotation response_status_line, "none" (the answer had
	// no status line) or "malformed" (no readable status code); "" when
	// the status line was read.
	StatusLine string
}

// SDKName is the "aws.xray.sdk" value of every segment.
const SDKName = "xray-capture"

// maxFixed bounds the bytes of a document besides its strings, ParentID,
// AWS and Resource: every key, flag and annotation, both times and both
// integers at their longest (TestMaxFixed).
const maxFixed = 640

// AppendJSON appends the compact JSON document of s to dst. Keys come in a
// fixed order, so output is byte-for-byte reproducible.
func (s *Segment) AppendJSON(dst []byte) []byte {
	// One reservation for the whole document when its strings need no
	// escapes (the usual case), so no append below reallocates.
	dst = slices.Grow(dst, maxFixed+len(s.Name)+len(s.ParentID)+len(s.Method)+len(s.URL)+len(s.UserAgent)+
		len(s.ClientIP)+len(s.Origin)+len(s.AWS)+len(s.Resource)+len(s.SDKVersion)+len(s.SamplingRule)+
		len(s.Outcome)+len(s.StatusLine))
	// Constant pieces are merged with the quotes around the strings
	// beside them: each append of a constant is a copy.
	dst = append(dst, `{"name":"`...)
	dst = appendChars(dst, s.Name)
	dst = append(dst, `","id":"`...)
	dst = append(dst, s.ID[:]...)
	dst = append(dst, `","trace_id":"`...)
	dst = append(dst, s.TraceID[:]...)
	dst = append(dst, `","start_time":`...)
	dst = appendTime(dst, s.Start)
	if s.InProgress {
		dst = append(dst, `,"in_progress":true`...)
	} else {
		dst = append(dst, `,"end_time":`...)
		dst = appendTime(dst, s.End)
	}
	if len(s.ParentID) > 0 {
		dst = append(dst, `,"parent_id":"`...)
		dst = append(dst, s.ParentID...)
		dst = append(dst, `","http":{"request":{"method":"`...)
	} else {
		dst = append(dst, `,"http":{"request":{"method":"`...)
	}
	dst = appendChars(dst, s.Method)
	dst = append(dst, `","url":"`...)
	dst = appendChars(dst, s.URL)
	if s.HasUserAgent {
		dst = append(dst, `","user_agent":"`...)
		dst = appendChars(dst, s.UserAgent)
	}
	dst = append(dst, `","client_ip":"`...)
	dst = appendChars(dst, s.ClientIP)
	if s.XForwardedFor {
		dst = append(dst, `","x_forwarded_for":true}`...)
	} else {
		dst = append(dst, `"}`...)
	}
	if s.HasResponse {
		// Status 0 is an HTTP/0.9 answer, which has no status line.
		if s.Status > 0 {
			dst = append(dst, `,"response":{"status":`...)
			dst = appendInt(dst, int64(s.Status))
			if s.ContentLength >= 0 {
				dst = append(dst, `,"content_length":`...)
				dst = appendInt(dst, s.ContentLength)
			}
		} else {
			dst = append(dst, `,"response":{`...)
			if s.ContentLength >= 0 {
				dst = append(dst, `"content_length":`...)
				dst = appendInt(dst, s.ContentLength)
			}
		}
		dst = append(dst, `}}`...)
	} else {
		dst = append(dst, '}')
	}
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
		dst = append(dst, `,"origin":"`...)
		dst = appendCharsStr(dst, s.Origin)
		dst = append(dst, '"')
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
	dst = append(dst, `"xray":{"sdk":"`+SDKName+`","sdk_version":"`...)
	dst = appendCharsStr(dst, s.SDKVersion)
	if s.SamplingRule != "" {
		dst = append(dst, `","sampling_rule_name":"`...)
		dst = appendCharsStr(dst, s.SamplingRule)
	}
	if s.Outcome == "" && !s.CaptureGap && !s.Resync && !s.Tunnelled && s.StatusLine == "" {
		return append(dst, `"}}}`...)
	}
	dst = append(dst, `"}},"annotations":{`...)
	sep := false
	if s.Outcome != "" {
		dst = append(dst, `"capture_outcome":"`...)
		dst = appendCharsStr(dst, s.Outcome)
		dst = append(dst, '"')
		sep = true
	}
	if s.CaptureGap {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"capture_gap":true`...)
		sep = true
	}
	if s.Resync {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"pairing":"ack-resync"`...)
		sep = true
	}
	if s.Tunnelled {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"connect_tunnel":true`...)
		sep = true
	}
	if s.StatusLine != "" {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"response_status_line":"`...)
		dst = appendCharsStr(dst, s.StatusLine)
		dst = append(dst, '"')
	}
	return append(dst, `}}`...)
}

// appendTime writes epoch seconds with microsecond precision (docs/segments.md, Times).
func appendTime(dst []byte, t time.Time) []byte {
	if sec := t.Unix(); sec >= 1e9 && sec < 1e10 {
		// Every date from 2001 to 2286: ten digits, a dot and six, in
		// place, two digits a store, in 32-bit arithmetic. (A time whose
		// UnixMicro wraps into this range takes the path below, which
		// writes the same digits.)
		n := len(dst)
		dst = append(dst, "0000000000.000000"...)
		b := dst[n : n+17]
		hi, lo := uint32(sec/1e8), uint32(sec%1e8)
		put2(b[0:], hi)
		a, c := lo/10000, lo%10000
		put2(b[2:], a/100)
		put2(b[4:], a%100)
		put2(b[6:], c/100)
		put2(b[8:], c%100)
		us := uint32(t.Nanosecond()) / 1000
		a, c = us/10000, us%10000
		put2(b[11:], a)
		put2(b[13:], c/100)
		put2(b[15:], c%100)
		return dst
	}
	us := t.UnixMicro()
	dst = strconv.AppendInt(dst, us/1e6, 10)
	frac := us % 1e6
	dst = append(dst, '.',
		byte('0'+frac/100000), byte('0'+frac/10000%10), byte('0'+frac/1000%10),
		byte('0'+frac/100%10), byte('0'+frac/10%10), byte('0'+frac%10))
	return dst
}

// put2 writes d, below 100, as two digits in one store.
func put2(b []byte, d uint32) {
	binary.LittleEndian.PutUint16(b, digitPairs16[d])
}

// appendInt writes v in decimal; a status or a small length without
// strconv's general path.
func appendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 100 && v < 1000:
		d := uint32(v)
		n := len(dst)
		dst = append(dst, "000"...)
		dst[n] = byte('0' + d/100)
		put2(dst[n+1:], d%100)
		return dst
	case v >= 0 && v < 10:
		return append(dst, byte('0'+v))
	}
	return strconv.AppendInt(dst, v, 10)
}

// appendCharsStr is appendChars for a string, without copying it.
func appendCharsStr(dst []byte, s string) []byte {
	return appendChars(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
}

const hexDigits = "0123456789abcdef"

// digitPairs16 holds "00" to "99", each two bytes as one little-endian
// uint16, for one store.
var digitPairs16 = func() (t [100]uint16) {
	for i := range t {
		t[i] = uint16('0'+i/10) | uint16('0'+i%10)<<8
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special tells whether a word of eight bytes holds one to escape: below
// 0x20, '"', '\\', or at or above 0x7f. Each test is exact as to whether
// such a byte is there (a borrow or carry only arises beside one).
func special(w uint64) bool {
	q := w ^ (ones * '"')
	b := w ^ (ones * '\\')
	return ((w-ones*0x20)&^w|(q-ones)&^q|(b-ones)&^b|w|(w+ones))&highs != 0
}

// plain tells whether all of s goes into a JSON string as it is, eight
// bytes a test: whole words, then the last eight bytes again, so that no
// byte is tested alone; a short string is read in overlapping halves.
func plain(s []byte) bool {
	n := len(s)
	switch {
	case n >= 8:
		for i := 0; i+8 <= n; i += 8 {
			if special(binary.LittleEndian.Uint64(s[i:])) {
				return false
			}
		}
		return !special(binary.LittleEndian.Uint64(s[n-8:]))
	case n >= 4:
		return !special(uint64(binary.LittleEndian.Uint32(s)) | uint64(binary.LittleEndian.Uint32(s[n-4:]))<<32)
	case n > 0:
		// 'a' fills the bytes the string has not.
		return !special(uint64(s[0]) | uint64(s[n>>1])<<8 | uint64(s[n-1])<<16 | 0x6161616161000000)
	}
	return true
}

// appendChars writes the characters of a JSON string, without its quotes.
// Bytes that are not valid UTF-8 become U+FFFD, so that the document is
// valid JSON whatever the wire carried.
func appendChars(dst []byte, s []byte) []byte {
	// Names, URLs and addresses are plain ASCII: a scan and one copy.
	if plain(s) {
		return append(dst, s...)
	}
	i, start := 0, 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// CutUTF8 cuts b to at most n bytes without splitting a UTF-8 sequence.
func CutUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	b = b[:n]
	i := len(b) - 1
	for i > 0 && len(b)-i < utf8.UTFMax && !utf8.RuneStart(b[i]) {
		i--
	}
	if !utf8.FullRune(b[i:]) {
		b = b[:i]
	}
	return b
}
