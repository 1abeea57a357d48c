// Package segmenter turns decoded TCP segments into X-Ray segments.
//
// In: capture.Packet values, in capture order, from one goroutine.
// Out: *xray.Segment values handed to a Sink, one per HTTP exchange whose
// request and response were paired with certainty, and one per request that
// got no answer (docs/segments.md, Unanswered requests).
//
// Inside, a Tracker keeps a bounded table of connections. Each connection
// has a reassembly.Stream and an httpparse.Parser per direction and a FIFO
// of pending requests: the i-th final response closes the i-th request
// (HTTP/1.1 pipelining). Which side is the server comes from the configured
// ports. Time comes only from packet timestamps, so a replay is
// deterministic. Every request or response that cannot be paired with
// certainty is counted in Stats under a named reason, never mis-paired: a
// loss that may have swallowed whole messages stops pairing on that
// connection, and a response is never paired with a request the server had
// not received (its ACK number says so).
//
// Names come from the Namer per request; Config.Resources, when set, adds
// the facts of the connection's server (a Kubernetes pod's "eks") and its
// origin to each segment.
//
// Ownership: the xray.Segment passed to Sink.Emit and its byte slices belong to
// the Tracker and are reused after Emit returns; a sink encodes or copies
// it before returning. A Tracker is not safe for concurrent use.
package segmenter
