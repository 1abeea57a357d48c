//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)

// Socket filter for xray-capture: keeps the TCP segments to or from the
// app's ports that can matter to HTTP (payload, SYN, FIN or RST) and drops
// everything else in the kernel. It reads headers relative to the network
// header, so it works on Ethernet, loopback and raw-IP devices alike.
//
// Mirrored traffic (VPC Traffic Mirroring's VXLAN, a Gateway Load
// Balancer's GENEVE, a SPAN session's GRE or ERSPAN) is judged by its inner
// headers, one level deep: the outer addresses and ports are the tunnel's.

#include "uapi.h"
#include "bpf_helpers.h"
#include "bpf_endian.h"

char __license[] SEC("license") = "Dual BSD/GPL";

// ports[p] != 0: p is a server port of the app. Set from Go, so one object
// serves any list of ports.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} ports SEC(".maps");

#define LOOPBACK_IFINDEX 1 // the loopback device's index in every namespace
#define MAX_VLAN_TAGS 2    // QinQ
#define MAX_IPV6_EXT 6

#define VXLAN_PORT 4789
#define GENEVE_PORT 6081

#define GRE_CSUM 0x8000
#define GRE_ROUTING 0x4000
#define GRE_KEY 0x2000
#define GRE_SEQ 0x1000
#define GRE_VERSION 0x0007

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04

static __always_inline int port_wanted(__u16 port)
{
	__u32 key = port;
	__u8 *v = bpf_map_lookup_elem(&ports, &key);
	return v && *v;
}

static __always_inline int load(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	return bpf_skb_load_bytes_relative(skb, off, to, len, BPF_HDR_START_NET);
}

// The length of an IP packet at off whose header says 0: BIG TCP, where
// the kernel writes 0 for a GSO packet too long for the field and takes the
// length from the packet (iph_totlen), as the decoder does. skb->len counts
// the link header too, which a socket filter cannot measure: this may keep
// a packet with a few bytes too many, never drop one the decoder keeps.
// The header at off was loaded, so skb->len > off.
static __always_inline __u32 big_len(struct __sk_buff *skb, __u32 off)
{
	return skb->len - off;
}

// find_l4 walks VLAN tags and the IP header of the packet of EtherType
// proto at *off, and leaves *off at its layer-4 header, *l4 its protocol,
// *seg_len the length the IP header gives it. Returns 0 to drop.
static __always_inline int find_l4(struct __sk_buff *skb, __u16 proto, __u32 *off, __u8 *l4, __u32 *seg_len)
{
	__u32 o = *off;

	// In-band VLAN tags (the stack usually moves them out of the packet,
	// but not on every path, and never inside a tunnel).
#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		__be16 inner;
		if (load(skb, o + 2, &inner, sizeof(inner)) < 0)
			return 0;
		proto = bpf_ntohs(inner);
		o += 4;
	}

	if (proto == ETH_P_IP) {
		struct iphdr ip;
		if (load(skb, o, &ip, sizeof(ip)) < 0)
			return 0;
		if (ip.version != 4 || ip.ihl < 5)
			return 0;
		if (ip.protocol != IPPROTO_TCP && ip.protocol != IPPROTO_UDP && ip.protocol != IPPROTO_GRE)
			return 0;
		// A fragment past the first has no layer-4 header to read.
		if (bpf_ntohs(ip.frag_off) & 0x1fff)
			return 0;
		__u32 total = bpf_ntohs(ip.tot_len);
		if (total == 0)
			total = big_len(skb, o);
		if (total < ip.ihl * 4)
			return 0;
		*l4 = ip.protocol;
		*off = o + ip.ihl * 4;
		*seg_len = total - ip.ihl * 4;
		return 1;
	}
	if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;
		if (load(skb, o, &ip6, sizeof(ip6)) < 0)
			return 0;
		__u8 next = ip6.nexthdr;
		__u32 l4_off = o + sizeof(ip6);
		__u32 len = bpf_ntohs(ip6.payload_len);
		if (len == 0)
			len = big_len(skb, o) - sizeof(ip6);
#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT; i++) {
			if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING &&
			    next != IPPROTO_DSTOPTS && next != IPPROTO_AH)
				break;
			__u8 ext[2];
			if (load(skb, l4_off, ext, sizeof(ext)) < 0)
				return 0;
			__u32 n = next == IPPROTO_AH ? (ext[1] + 2) * 4 : (ext[1] + 1) * 8;
			if (n > len)
				return 0;
			next = ext[0];
			l4_off += n;
			len -= n;
		}
		if (next != IPPROTO_TCP && next != IPPROTO_UDP && next != IPPROTO_GRE)
			return 0;
		*l4 = next;
		*off = l4_off;
		*seg_len = len;
		return 1;
	}
	return 0;
}

// ether_at reads the EtherType of the Ethernet frame at *off and moves
// *off past its header.
static __always_inline int ether_at(struct __sk_buff *skb, __u32 *off, __u16 *proto)
{
	__be16 et;
	if (load(skb, *off + 12, &et, sizeof(et)) < 0)
		return 0;
	*proto = bpf_ntohs(et);
	*off += 14;
	return 1;
}

// tunnel finds the packet inside a UDP (VXLAN, GENEVE) or GRE (GRE,
// gretap, ERSPAN I, II, III) payload at *off, as capture.Decode does:
// *proto and *off become the inner packet's EtherType and offset.
// Returns 0 for anything else: UDP to other ports, GRE it does not know.
static __always_inline int tunnel(struct __sk_buff *skb, __u8 l4, __u32 *off, __u16 *proto)
{
	__u32 o = *off;
	if (l4 == IPPROTO_UDP) {
		__u8 h[12]; // UDP, then the first 4 bytes of VXLAN or GENEVE
		if (load(skb, o, h, sizeof(h)) < 0)
			return 0;
		__u16 dport = (__u16)h[2] << 8 | h[3];
		if (dport == VXLAN_PORT) {
			if (!(h[8] & 0x08)) // the I flag: a valid VNI
				return 0;
			*off = o + 16;
			return ether_at(skb, off, proto);
		}
		if (dport == GENEVE_PORT) {
			if (h[8] >> 6) // version 0 only
				return 0;
			*off = o + 16 + (h[8] & 0x3f) * 4; // options skipped by length
			*proto = (__u16)h[10] << 8 | h[11];
			if (*proto == ETH_P_TEB)
				return ether_at(skb, off, proto);
			return 1;
		}
		return 0;
	}
	// GRE
	__u8 h[4];
	if (load(skb, o, h, sizeof(h)) < 0)
		return 0;
	__u16 flags = (__u16)h[0] << 8 | h[1];
	__u16 et = (__u16)h[2] << 8 | h[3];
	if (flags & (GRE_VERSION | GRE_ROUTING))
		return 0;
	o += 4;
	if (flags & GRE_CSUM)
		o += 4;
	if (flags & GRE_KEY)
		o += 4;
	if (flags & GRE_SEQ)
		o += 4;
	*off = o;
	switch (et) {
	case ETH_P_IP:
	case ETH_P_IPV6:
		*proto = et;
		return 1;
	case ETH_P_TEB:
		return ether_at(skb, off, proto);
	case ETH_P_ERSPAN:
		if (flags & GRE_SEQ) // type II: an 8-byte header
			*off = o + 8;
		return ether_at(skb, off, proto);
	case ETH_P_ERSPAN2: {
		__u8 e[12];
		if (load(skb, o, e, sizeof(e)) < 0)
			return 0;
		*off = o + 12 + (e[11] & 1) * 8; // O: a platform subheader
		__u8 ft = (e[10] >> 2) & 0x1f;
		if (ft == 0)
			return ether_at(skb, off, proto);
		if (ft != 2)
			return 0;
		__u8 v;
		if (load(skb, *off, &v, 1) < 0)
			return 0;
		*proto = v >> 4 == 6 ? ETH_P_IPV6 : ETH_P_IP;
		return 1;
	}
	}
	return 0;
}

// tcp_verdict: the number of bytes to keep for the TCP segment at off.
static __always_inline int tcp_verdict(struct __sk_buff *skb, __u32 off, __u32 seg_len)
{
	struct tcphdr tcp;
	if (load(skb, off, &tcp, sizeof(tcp)) < 0)
		return 0;
	if (!port_wanted(bpf_ntohs(tcp.dest)) && !port_wanted(bpf_ntohs(tcp.source)))
		return 0;
	__u32 doff = tcp.doff * 4;
	if (doff < sizeof(tcp) || doff > seg_len)
		return 0;
	__u8 flags = ((__u8 *)&tcp)[13];
	// A pure ACK carries nothing the pipeline needs.
	if (seg_len == doff && !(flags & (TCP_SYN | TCP_FIN | TCP_RST)))
		return 0;
	// All of it (the kernel caps it at the packet's length; skb->len would
	// not count a link header already pulled on some paths).
	return -1;
}

SEC("socket")
int xray_capture_filter(struct __sk_buff *skb)
{
	// The kernel hands an AF_PACKET socket both copies of a loopback
	// packet; the incoming one is enough.
	if (skb->pkt_type == PACKET_OUTGOING && skb->ifindex == LOOPBACK_IFINDEX)
		return 0;

	__u16 proto = bpf_ntohs(skb->protocol);
	__u32 off = 0, seg_len = 0;
	__u8 l4 = 0;
	if (!find_l4(skb, proto, &off, &l4, &seg_len))
		return 0;
	if (l4 == IPPROTO_TCP)
		return tcp_verdict(skb, off, seg_len);
	// Mirrored: the inner packet decides, one tunnel deep (the decoder
	// takes more; a tunnel in a tunnel is dropped here).
	if (!tunnel(skb, l4, &off, &proto))
		return 0;
	if (!find_l4(skb, proto, &off, &l4, &seg_len) || l4 != IPPROTO_TCP)
		return 0;
	return tcp_verdict(skb, off, seg_len);
}
