//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)

// Socket filter for xray-capture: keeps the TCP segments to or from the
// app's ports that can matter to HTTP (payload, SYN, FIN or RST) and drops
// everything else in the kernel. It reads headers relative to the network
// header, so it works on Ethernet, loopback and raw-IP devices alike.

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

SEC("socket")
int xray_capture_filter(struct __sk_buff *skb)
{
	// The kernel hands an AF_PACKET socket both copies of a loopback
	// packet; the incoming one is enough.
	if (skb->pkt_type == PACKET_OUTGOING && skb->ifindex == LOOPBACK_IFINDEX)
		return 0;

	__u16 proto = bpf_ntohs(skb->protocol);
	__u32 off = 0;

	// In-band VLAN tags (the stack usually moves them out of the packet,
	// but not on every path).
#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		__be16 inner;
		if (load(skb, off + 2, &inner, sizeof(inner)) < 0)
			return 0;
		proto = bpf_ntohs(inner);
		off += 4;
	}

	__u32 tcp_off, seg_len;
	if (proto == ETH_P_IP) {
		struct iphdr ip;
		if (load(skb, off, &ip, sizeof(ip)) < 0)
			return 0;
		if (ip.version != 4 || ip.protocol != IPPROTO_TCP || ip.ihl < 5)
			return 0;
		// A fragment past the first has no TCP header to read.
		if (bpf_ntohs(ip.frag_off) & 0x1fff)
			return 0;
		__u32 total = bpf_ntohs(ip.tot_len);
		if (total == 0)
			total = big_len(skb, off);
		if (total < ip.ihl * 4)
			return 0;
		tcp_off = off + ip.ihl * 4;
		seg_len = total - ip.ihl * 4;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;
		if (load(skb, off, &ip6, sizeof(ip6)) < 0)
			return 0;
		__u8 next = ip6.nexthdr;
		tcp_off = off + sizeof(ip6);
		seg_len = bpf_ntohs(ip6.payload_len);
		if (seg_len == 0)
			seg_len = big_len(skb, off) - sizeof(ip6);
#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT; i++) {
			if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING &&
			    next != IPPROTO_DSTOPTS && next != IPPROTO_AH)
				break;
			__u8 ext[2];
			if (load(skb, tcp_off, ext, sizeof(ext)) < 0)
				return 0;
			__u32 len = next == IPPROTO_AH ? (ext[1] + 2) * 4 : (ext[1] + 1) * 8;
			if (len > seg_len)
				return 0;
			next = ext[0];
			tcp_off += len;
			seg_len -= len;
		}
		if (next != IPPROTO_TCP)
			return 0;
	} else {
		return 0;
	}

	struct tcphdr tcp;
	if (load(skb, tcp_off, &tcp, sizeof(tcp)) < 0)
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
	// The number of bytes to keep: all of them (the kernel caps it at the
	// packet's length; skb->len would not count a link header already
	// pulled on some paths).
	return -1;
}
