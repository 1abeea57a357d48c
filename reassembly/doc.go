// Package reassembly puts one direction of a TCP connection back in order.
//
// In: TCP segments of one direction (sequence number, flags, captured and
// announced payload length) in capture order, and the peer's
// acknowledgements (Stream.AckedTo).
// Out: Chunks of in-order bytes, each saying how many bytes were lost just
// before it (Gap) and whether the stream ends after it (FIN).
//
// Ownership: a chunk from Push aliases the payload passed to it (the capture
// buffer); a chunk from Next aliases the stream's own copy, valid until the
// next call on the stream. Only out-of-order segments are copied, and the
// copies are bounded per stream and in total (Budget).
//
// The in-order path does not allocate. A Stream is not safe for concurrent
// use; one goroutine owns all streams sharing a Budget.
package reassembly
