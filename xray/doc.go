// Package xray is the X-Ray segment document: its fields, its JSON
// encoding, its ids, the X-Amzn-Trace-Id header, and the daemon's datagram
// header.
//
// In: a Segment filled by its producer (segmenter's pairing). Out: the
// compact JSON document (AppendJSON), byte-for-byte reproducible.
//
// Ownership: a Segment's byte slices belong to whoever filled it; AppendJSON
// only reads them and appends to the caller's buffer. TraceHeader's Root and
// Parent alias the header bytes passed to ParseTraceHeader. Nothing here
// allocates unless the caller's buffer must grow, and nothing keeps state,
// apart from an IDGen, which is not safe for concurrent use. AppendJSON
// grows the buffer at most once when it has less room than the strings'
// lengths plus 640 bytes (more only for strings that need escapes), so a
// reused buffer stops allocating after its first document.
package xray
