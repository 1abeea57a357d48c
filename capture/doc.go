// Package capture turns captured frames into TCP segments.
//
// In: frames from a Source, each with its link type and capture timestamp:
// a pcap or pcapng file (FileSource; classic pcap records are read in
// place from a 256 KiB buffer), a TPACKET_V3 AF_PACKET ring of our own
// (Live, Linux; frames are read in place from the mapped blocks, and
// BlockDone says when a block ends; several rings can share the packets
// in a fanout group, a connection to each, see StartFanout), or libpcap
// (Pcap, builds with the tag pcap).
// Out: Packet values (addresses, ports, sequence numbers, flags and the TCP
// payload) filled in place by Decode.
//
// Link types: Ethernet (VLAN/QinQ, MPLS, LLC/SNAP, PPPoE sessions), Linux
// SLL and SLL2, raw IP, BSD null/loop, PPP (and PPP_SERIAL, PPP_ETHER),
// Cisco HDLC and Linux NFLOG. Tunnels, for mirrored traffic: VXLAN (UDP
// 4789), GENEVE (UDP 6081, options skipped by length), GRE with IP or
// Ethernet, ERSPAN types I, II and III, nested up to four deep. A tunnelled
// segment's addresses and ports are the innermost packet's, never the
// tunnel's; Packet.Tunnel and Packet.VNI say which tunnel it came in. A
// broken header gives Malformed (or NotTCP) with its reason in Packet.Why.
//
// Ownership: a frame returned by Source.ReadFrame is owned by the source and
// valid until the next ReadFrame (a ring block goes back to the kernel
// then); Packet.Payload aliases that frame. Copy what must outlive the next
// read.
//
// Decode never allocates. Sources are not safe for concurrent use: one
// goroutine reads a source and drives the pipeline behind it.
package capture
