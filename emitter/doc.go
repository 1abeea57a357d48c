// Package emitter sends finished segments out: as UDP datagrams to the X-Ray
// daemon, as OpenTelemetry spans over OTLP/HTTP or OTLP/gRPC, or as JSON
// lines to a file or stdout.
//
// In: *xray.Segment values from a Tracker's goroutine (Emit).
// Out: one datagram per segment, `{"format":"json","version":1}` + "\n" +
// the compact JSON document (docs/segments.md, Daemon datagram); or one JSON
// document per line.
//
// Ownership: Emit encodes the segment into the emitter's own buffer before
// returning and keeps nothing of it. A UDP emitter belongs to one
// goroutine (each --workers pipeline has its own socket); JSONLines,
// Printer and Summary lock, because the pipelines share them.
//
// UDP batches: Emit encodes into the batch and sends it when 64 datagrams
// or 256 KiB are waiting; the caller calls Flush when its input pauses (the
// live pump at the end of every ring block and on quiet polls, so a
// segment waits at most a block's timeout). On Linux a batch is one
// sendmmsg call. UDP never blocks the pipeline: the socket is written
// without waiting, and a full socket buffer, an absent daemon or a refused
// datagram is counted in SendErrors. A document over 64,000 bytes is not
// sent and is counted in TooLarge. A daemon given by host name is looked
// up again every 30 s by a goroutine of the emitter's own, which
// reconnects the socket when the name moved (Moves); Close stops it first.
// A name that does not resolve at start is no error (Unresolved says why):
// there is no socket until the goroutine's lookup succeeds, and segments
// meanwhile count in SendErrors with ErrUnresolved.
//
// OTLP (docs/otlp.md): each pipeline goroutine's OTLPSink encodes spans by
// hand (protowire) into its own batch, allocation-free, and hands full
// batches to the OTLP exporter's bounded queue without waiting (a full
// queue drops the batch, counted). The exporter's one goroutine gathers
// requests, gzips, POSTs (or calls Export over gRPC with the same bytes)
// and retries; it owns the request buffers. OTLP is
// safe for concurrent use; an OTLPSink is not.
//
// JSON lines are gathered like a batch and written on Flush or at 1 MiB.
// A write that fails loses the lines it carried, counted in Lost; the next
// write tries again. Redirect moves the output to a reopened file.
package emitter
