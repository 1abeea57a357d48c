// Package capture turns captured frames into TCP segments.
//
// In: frames from a Source (a pcap or pcapng file here; live AF_PACKET
// rings later), each with its link type and capture timestamp.
// Out: Packet values (addresses, ports, sequence numbers, flags and the TCP
// payload) filled in place by Decode.
//
// Ownership: a frame returned by Source.ReadFrame is owned by the source and
// valid until the next ReadFrame; Packet.Payload aliases that frame. Copy
// what must outlive the next read.
//
// Decode never allocates. Sources are not safe for concurrent use: one
// goroutine reads a source and drives the pipeline behind it.
package capture
