// Package httpparse is an incremental HTTP/1.0 and HTTP/1.1 message parser
// for one direction of one TCP connection.
//
// In: byte slices of a reassembled stream, in order, as they arrive (Feed),
// plus notices of lost bytes (Gap) and of the end of the stream (Close).
// Out: events (Headers, Done, Invalid, Upgrade) and, after Headers, a
// *Message holding what an X-Ray segment needs: method, target, Host,
// User-Agent, X-Forwarded-For, X-Amzn-Trace-Id, status, Content-Length and
// the number of body bytes seen.
//
// Ownership: the byte slices in Message alias either the slice passed to
// Feed or the parser's own buffer for header blocks split across packets.
// They are valid only until the next call to Feed, Gap or Close; copy what
// you keep. The parser never modifies the caller's bytes.
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
