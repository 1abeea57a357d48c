// Package httpparse is an incremental HTTP/1.0 and HTTP/1.1 message parser
// for one direction of one TCP connection.
//
// In: byte slices of a reassembled stream, in order, as they arrive (Feed),
// plus notices of lost bytes (Gap) and of the end of the stream (Close).
// Out: events (Headers, Done, Invalid, Upgrade) and, after Headers, a
// *Message holding what an X-Ray segment needs: method, target, Host,
// User-Agent, X-Forwarded-For, X-Amzn-Trace-Id, traceparent, tracestate,
// status, Content-Length and the number of body bytes seen. Of a repeated
// header the first line is kept.
//
// Ownership: the byte slices in Message alias either the slice passed to
// Feed or the parser's own buffer for header blocks split across packets.
// They are valid only until the next call to Feed, Gap or Close; copy what
// you keep. The parser never modifies the caller's bytes.
//
// Leniency (lenient.go, docs/http-parsing.md): where a message is known to
// start (the start of a stream, or right after a message whose end the
// framing fixed) a start line is read as servers read it: any method token,
// whitespace runs, a missing target, a missing version (the line is then the
// whole request, HTTP/0.9). A response parser told that a certain request
// waits (Expect.Waiting) also takes an answer without status line (a bare
// body to the close, Message.StatusLine none) or with a malformed one
// (Headers|Done|Invalid). Elsewhere (after a gap, garbage, or a line without
// version) only the strict grammar starts a message, so that the search
// never takes body bytes for one. Framing (Content-Length, chunked, the
// smuggling rules) is never lenient. Message.Quirks says what was accepted.
//
// Bounds: the start line, the header block, the number of headers and the
// chunk-size line are limited (Limits); a message over a limit is Invalid and
// the parser resynchronises on the next plausible start line. The parser
// keeps at most Limits.MaxHeaderBytes of its own buffer.
//
// A Parser is not safe for concurrent use; use one per TCP direction.
// It does no I/O, starts no goroutine and does not allocate once its header
// buffer has grown to the size of the largest split header block seen.
package httpparse
