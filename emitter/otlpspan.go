package emitter

import (
	"bytes"
	"encoding/hex"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/xray-capture/xray-capture/xray"
)

// The protobuf encoding of an OpenTelemetry span, by hand
// (opentelemetry-proto, trace/v1/trace.proto and common/v1/common.proto):
// appended into the batch's buffer, it costs no allocation per span,
// where building the generated types would cost a dozen. Field numbers
// are those of the .proto files; the test decodes the output with the
// generated types of go.opentelemetry.io/proto/otlp.
const (
	spanTraceID      = 1
	spanSpanID       = 2
	spanTraceState   = 3
	spanParentSpanID = 4
	spanName         = 5
	spanKind         = 6
	spanStart        = 7
	spanEnd          = 8
	spanAttributes   = 9
	spanStatus       = 15
	spanFlags        = 16

	kindServer = 2 // SPAN_KIND_SERVER

	statusCode      = 3
	statusCodeError = 2 // STATUS_CODE_ERROR

	kvKey   = 1
	kvValue = 2

	anyString = 1
	anyBool   = 2
	anyInt    = 3
	anyArray  = 5

	arrayValues = 1

	// Span flags: the W3C trace flags (sampled) in the low byte; bit 8 says
	// bit 9 is known, bit 9 that the parent is remote.
	flagSampled      = 0x01
	flagHasIsRemote  = 0x100
	flagParentRemote = 0x200
)

// knownMethods are the methods OpenTelemetry's HTTP conventions name as
// such; any other is "_OTHER" with http.request.method_original.
var knownMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true, "QUERY": true}

// status5xx are the error.type values of the 5xx codes.
var status5xx = func() (t [100]string) {
	for i := range t {
		t[i] = strconv.Itoa(500 + i)
	}
	return t
}()

// spanEncoder appends spans; scratch buffers are its own, so that the
// encoding allocates nothing once warm. One per Emit goroutine.
type spanEncoder struct {
	addr  []byte // network.peer.address
	annot []string
}

// appendSpan appends the Span message of s (without its field tag and
// length) to b: the OpenTelemetry HTTP server span (docs/otlp.md).
func (e *spanEncoder) appendSpan(b []byte, s *xray.Segment) []byte {
	// The ids are lowercase hex, made so or checked by xray.TraceContext:
	// hex.Decode cannot fail on them.
	var tid [16]byte
	hex.Decode(tid[:4], s.TraceID[2:10])
	hex.Decode(tid[4:], s.TraceID[11:35])
	var sid [8]byte
	hex.Decode(sid[:], s.ID[:])
	b = protowire.AppendTag(b, spanTraceID, protowire.BytesType)
	b = protowire.AppendBytes(b, tid[:])
	b = protowire.AppendTag(b, spanSpanID, protowire.BytesType)
	b = protowire.AppendBytes(b, sid[:])
	if len(s.TraceState) > 0 {
		b = protowire.AppendTag(b, spanTraceState, protowire.BytesType)
		b = protowire.AppendBytes(b, s.TraceState)
	}
	flags := uint32(flagSampled | flagHasIsRemote)
	if len(s.ParentID) == 16 {
		var pid [8]byte
		hex.Decode(pid[:], s.ParentID)
		b = protowire.AppendTag(b, spanParentSpanID, protowire.BytesType)
		b = protowire.AppendBytes(b, pid[:])
		flags |= flagParentRemote
	}
	// The name is the method: no route is known from packets.
	method := s.Method
	known := knownMethods[string(method)]
	b = protowire.AppendTag(b, spanName, protowire.BytesType)
	if known {
		b = protowire.AppendBytes(b, method)
	} else {
		b = protowire.AppendString(b, "HTTP")
	}
	b = protowire.AppendTag(b, spanKind, protowire.VarintType)
	b = protowire.AppendVarint(b, kindServer)
	b = protowire.AppendTag(b, spanStart, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, uint64(s.Start.UnixNano()))
	b = protowire.AppendTag(b, spanEnd, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, uint64(s.End.UnixNano()))

	// Attributes.
	if known {
		b = appendKVBytes(b, "http.request.method", method)
	} else {
		b = appendKVString(b, "http.request.method", "_OTHER")
		b = appendKVBytes(b, "http.request.method_original", method)
	}
	scheme, host, port, path := splitURL(s.URL)
	b = appendKVBytes(b, "url.scheme", scheme)
	if len(path) > 0 {
		b = appendKVBytes(b, "url.path", path)
	}
	if len(host) > 0 {
		b = appendKVBytes(b, "server.address", host)
	}
	if port > 0 {
		b = appendKVInt(b, "server.port", int64(port))
	}
	b = appendKVBytes(b, "client.address", s.ClientIP)
	if s.Peer.IsValid() {
		// client_ip is the connection's client, formatted once per
		// connection, unless a proxy named another.
		peer := s.ClientIP
		if s.XForwardedFor {
			e.addr = s.Peer.Addr().AppendTo(e.addr[:0])
			peer = e.addr
		}
		b = appendKVBytes(b, "network.peer.address", peer)
		b = appendKVInt(b, "network.peer.port", int64(s.Peer.Port()))
	}
	if s.HasUserAgent {
		b = appendKVBytes(b, "user_agent.original", s.UserAgent)
	}
	if s.HasResponse && s.Status > 0 {
		b = appendKVInt(b, "http.response.status_code", int64(s.Status))
	}
	if s.HasResponse && s.ContentLength >= 0 {
		b = appendKVInt(b, "http.response.body.size", s.ContentLength)
	}
	// What the daemon's segment says as annotations, under our namespace;
	// aws.xray.annotations asks the X-Ray exporter to index them.
	e.annot = e.annot[:0]
	outcome := s.Outcome
	if s.InProgress {
		outcome = "in_progress"
	}
	if outcome != "" {
		b = appendKVString(b, "xray_capture.outcome", outcome)
		e.annot = append(e.annot, "xray_capture.outcome")
	}
	if s.CaptureGap {
		b = appendKVBool(b, "xray_capture.capture_gap", true)
		e.annot = append(e.annot, "xray_capture.capture_gap")
	}
	if s.Resync {
		b = appendKVString(b, "xray_capture.pairing", "ack-resync")
		e.annot = append(e.annot, "xray_capture.pairing")
	}
	if s.Tunnelled {
		b = appendKVBool(b, "xray_capture.connect_tunnel", true)
		e.annot = append(e.annot, "xray_capture.connect_tunnel")
	}
	if s.StatusLine != "" {
		b = appendKVString(b, "xray_capture.response_status_line", s.StatusLine)
		e.annot = append(e.annot, "xray_capture.response_status_line")
	}
	if s.SamplingRule != "" {
		b = appendKVString(b, "xray_capture.sampling_rule", s.SamplingRule)
	}
	if len(e.annot) > 0 {
		b = appendKVStrings(b, "aws.xray.annotations", e.annot)
	}
	// A server span's status is ERROR for a fault (5xx, or no answer):
	// a 4xx is the client's error and leaves it unset.
	if s.Fault {
		errType := "_OTHER"
		switch {
		case s.Status >= 500 && s.Status < 600:
			errType = status5xx[s.Status-500] // made once: no allocation
		case outcome != "":
			errType = outcome
		case s.StatusLine == "none":
			errType = "response_status_line_none"
		case s.StatusLine == "malformed":
			errType = "response_status_line_malformed"
		}
		b = appendKVString(b, "error.type", errType)
		b = protowire.AppendTag(b, spanStatus, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(protowire.SizeTag(statusCode)+protowire.SizeVarint(statusCodeError)))
		b = protowire.AppendTag(b, statusCode, protowire.VarintType)
		b = protowire.AppendVarint(b, statusCodeError)
	}
	b = protowire.AppendTag(b, spanFlags, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, flags)
}

// splitURL cuts the segment's URL ("http://host[:port]/path", or an
// absolute target as sent) into its scheme, host, port (the scheme's
// default when none is written; 0 if unreadable) and path. The pieces
// alias u.
func splitURL(u []byte) (scheme, host []byte, port int, path []byte) {
	rest := u
	scheme = httpScheme
	for i := 0; i+2 < len(u); i++ {
		if u[i] == ':' && u[i+1] == '/' && u[i+2] == '/' {
			scheme, rest = u[:i], u[i+3:]
			break
		}
	}
	hostport := rest
	for i, c := range rest {
		if c == '/' {
			hostport, path = rest[:i], rest[i:]
			break
		}
	}
	host = hostport
	portText := []byte(nil)
	if len(hostport) > 0 && hostport[0] == '[' {
		for i, c := range hostport {
			if c == ']' {
				host = hostport[1:i]
				if i+1 < len(hostport) && hostport[i+1] == ':' {
					portText = hostport[i+2:]
				}
				break
			}
		}
	} else {
		for i := len(hostport) - 1; i >= 0; i-- {
			if hostport[i] == ':' {
				host, portText = hostport[:i], hostport[i+1:]
				break
			}
		}
	}
	switch {
	case len(portText) > 0:
		port = atoiPort(portText)
	case bytes.EqualFold(scheme, []byte("https")):
		port = 443
	default:
		port = 80
	}
	return scheme, host, port, path
}

var httpScheme = []byte("http") // shared, never written: no allocation per span

func atoiPort(b []byte) int {
	if len(b) > 5 {
		return 0
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0
	}
	return n
}

// The KeyValue helpers append field 9 (attributes) of a Span, or field 1
// of a Resource: both are "repeated KeyValue" with the same tag number
// layout, so the caller's field number is passed where it differs.

func appendKVBytes(b []byte, key string, v []byte) []byte {
	return appendKVBytesField(b, spanAttributes, key, v)
}

func appendKVBytesField(b []byte, field protowire.Number, key string, v []byte) []byte {
	anyLen := protowire.SizeTag(anyString) + protowire.SizeBytes(len(v))
	b = appendKVHead(b, field, key, anyLen)
	b = protowire.AppendTag(b, anyString, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendKVString(b []byte, key, v string) []byte {
	anyLen := protowire.SizeTag(anyString) + protowire.SizeBytes(len(v))
	b = appendKVHead(b, spanAttributes, key, anyLen)
	b = protowire.AppendTag(b, anyString, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendKVInt(b []byte, key string, v int64) []byte {
	anyLen := protowire.SizeTag(anyInt) + protowire.SizeVarint(uint64(v))
	b = appendKVHead(b, spanAttributes, key, anyLen)
	b = protowire.AppendTag(b, anyInt, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func appendKVBool(b []byte, key string, v bool) []byte {
	anyLen := protowire.SizeTag(anyBool) + 1
	b = appendKVHead(b, spanAttributes, key, anyLen)
	b = protowire.AppendTag(b, anyBool, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeBool(v))
}

func appendKVStrings(b []byte, key string, vs []string) []byte {
	arrLen := 0
	for _, v := range vs {
		n := protowire.SizeTag(anyString) + protowire.SizeBytes(len(v))
		arrLen += protowire.SizeTag(arrayValues) + protowire.SizeBytes(n)
	}
	anyLen := protowire.SizeTag(anyArray) + protowire.SizeBytes(arrLen)
	b = appendKVHead(b, spanAttributes, key, anyLen)
	b = protowire.AppendTag(b, anyArray, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(arrLen))
	for _, v := range vs {
		b = protowire.AppendTag(b, arrayValues, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(protowire.SizeTag(anyString)+protowire.SizeBytes(len(v))))
		b = protowire.AppendTag(b, anyString, protowire.BytesType)
		b = protowire.AppendString(b, v)
	}
	return b
}

// appendKVHead appends the KeyValue's tag, length, key and the tag and
// length of its AnyValue, whose encoding (anyLen bytes) follows.
func appendKVHead(b []byte, field protowire.Number, key string, anyLen int) []byte {
	kvLen := protowire.SizeTag(kvKey) + protowire.SizeBytes(len(key)) + protowire.SizeTag(kvValue) + protowire.SizeBytes(anyLen)
	b = protowire.AppendTag(b, field, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(kvLen))
	b = protowire.AppendTag(b, kvKey, protowire.BytesType)
	b = protowire.AppendString(b, key)
	b = protowire.AppendTag(b, kvValue, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(anyLen))
}
