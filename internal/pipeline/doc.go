// Package pipeline assembles and runs xray-capture's pipelines, for a
// replay and for live capture alike: New wires them, in one place.
//
// In: Options, validated by the command (cmd/xray-capture): the source (a
// capture file, or live capture with an engine and a number of workers),
// the tracker's bounds and naming, the sampler, the segments' metadata and
// the sinks.
//
// Out: segments in the sinks (the daemon's UDP socket, JSON lines to a file
// or stdout, the --print view, the --summary table) and, while it runs and
// once at the end, every counter in a Box: a Snapshot per worker, summed
// for readers (the metrics endpoint, the stats and summary lines).
//
// Shape: one worker per source, each a goroutine that reads its source and
// drives its own Tracker, synchronously, into its sinks: frame, Decode,
// reassembly, parsing, pairing, segment. A replay has one worker; live
// capture one per ring (--workers), in a fanout group. The workers share
// the sampler (behind a lock when there are several), the JSON lines, the
// printer and the summary; each has its own daemon socket.
//
// Ownership: a frame belongs to its source until the next read (a ring
// block goes back to the kernel then); what a segment needs is copied out
// by the tracker. Counters are plain fields owned by each worker's
// goroutine, copied into the Box every 4,096 frames and whenever the ring
// is quiet; the Box is safe for concurrent use, a Pipeline is not, except
// for PrintSummary and ReopenOutput, which a signal handler may call while
// Run runs.
package pipeline
