/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The few Linux UAPI definitions socket_filter.c uses, copied from
 * linux/bpf.h, if_packet.h, if_ether.h, in.h, in6.h, ip.h, ipv6.h and tcp.h
 * of Linux 6.1 (Debian's linux-libc-dev 6.1.187), under their licence above.
 *
 * Why not the system headers: they include the build host's asm/ headers,
 * whose bitfield order is the host's, not the BPF target's. Here the
 * compiler's __BYTE_ORDER__ picks it, so one source builds the bpfel and
 * the bpfeb object on any machine.
 */
#pragma once

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u16 __sum16;
typedef __u32 __wsum;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define __LITTLE_ENDIAN_BITFIELD
#elif __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define __BIG_ENDIAN_BITFIELD
#else
#error "unknown byte order"
#endif

/* linux/bpf.h */
#define BPF_MAP_TYPE_ARRAY 2 /* enum bpf_map_type */
#define BPF_HDR_START_NET 1  /* enum bpf_hdr_start_off */

/* Up to the last field the filter reads; the verifier checks every access
 * against the kernel's own definition. */
struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
};

/* linux/if_packet.h */
#define PACKET_OUTGOING 4

/* linux/if_ether.h */
#define ETH_P_IP 0x0800
#define ETH_P_8021Q 0x8100
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021AD 0x88A8
#define ETH_P_TEB 0x6558     /* transparent Ethernet bridging */
#define ETH_P_ERSPAN 0x88BE  /* ERSPAN type I and II */
#define ETH_P_ERSPAN2 0x22EB /* ERSPAN type III */

/* linux/in.h, linux/in6.h */
#define IPPROTO_HOPOPTS 0
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_GRE 47
#define IPPROTO_ROUTING 43
#define IPPROTO_AH 51
#define IPPROTO_DSTOPTS 60

/* linux/ip.h */
struct iphdr {
#if defined(__LITTLE_ENDIAN_BITFIELD)
	__u8	ihl:4,
		version:4;
#else
	__u8	version:4,
		ihl:4;
#endif
	__u8	tos;
	__be16	tot_len;
	__be16	id;
	__be16	frag_off;
	__u8	ttl;
	__u8	protocol;
	__sum16	check;
	__be32	saddr;
	__be32	daddr;
};

/* linux/in6.h */
struct in6_addr {
	union {
		__u8	u6_addr8[16];
		__be16	u6_addr16[8];
		__be32	u6_addr32[4];
	} in6_u;
};

/* linux/ipv6.h */
struct ipv6hdr {
#if defined(__LITTLE_ENDIAN_BITFIELD)
	__u8	priority:4,
		version:4;
#else
	__u8	version:4,
		priority:4;
#endif
	__u8	flow_lbl[3];
	__be16	payload_len;
	__u8	nexthdr;
	__u8	hop_limit;
	struct in6_addr saddr;
	struct in6_addr daddr;
};

/* linux/tcp.h */
struct tcphdr {
	__be16	source;
	__be16	dest;
	__be32	seq;
	__be32	ack_seq;
#if defined(__LITTLE_ENDIAN_BITFIELD)
	__u16	res1:4,
		doff:4,
		fin:1,
		syn:1,
		rst:1,
		psh:1,
		ack:1,
		urg:1,
		ece:1,
		cwr:1;
#else
	__u16	doff:4,
		res1:4,
		cwr:1,
		ece:1,
		urg:1,
		ack:1,
		psh:1,
		rst:1,
		syn:1,
		fin:1;
#endif
	__be16	window;
	__sum16	check;
	__be16	urg_ptr;
};
