/* The ChannelData fast path (docs/FASTPATH.md): XDP, or TC ingress where XDP
 * cannot attach. Relays ChannelData of channels user space installed in
 * fp_client / fp_peer, and passes everything else to the stack untouched.
 *
 * Both programs share the parsing, the decision (mapping, validity, FIB) and
 * the header writing; only moving the payload differs (bpf_xdp_adjust_head
 * against bpf_skb_change_proto + bpf_skb_adjust_room). The payload is never
 * moved by us and never summed: the UDP checksum is updated from the words
 * that change (pseudo-header, UDP header, the 4-byte ChannelData header and
 * any ChannelData padding dropped).
 *
 * Nothing is touched before every check has passed and the FIB lookup has
 * found the egress neighbour: a packet this program passes is the packet the
 * driver gave it. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "fastpath_abi.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Sizes marked 1 are set by the loader before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct fp_client_key);
	__type(value, struct fp_client_val);
} fp_client SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct fp_peer_key);
	__type(value, struct fp_peer_val);
} fp_peer SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct fp_slot);
} fp_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct fp_ctl);
} fp_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FP_ST_N);
	__type(key, __u32);
	__type(value, __u64);
} fp_stats SEC(".maps");

#define ETH_LEN 14
#define IP4_LEN 20
#define IP6_LEN 40
#define UDP_LEN 8
#define CD_LEN  4
/* Ethernet + IPv6 + UDP + ChannelData: the most any path reads or writes. */
#define HDR_MAX (ETH_LEN + IP6_LEN + UDP_LEN + CD_LEN)
/* Offsets above this are refused so the verifier can bound packet pointers
 * (an XDP frame is one page; TC reads beyond the head with a helper). */
#define OFF_MAX 0xfff0

/* The two keys share their first 36 bytes (addresses, then ports): one
 * buffer serves both lookups, and then the FIB lookup (the stack is small). */
_Static_assert(__builtin_offsetof(struct fp_client_key, client_port) ==
                       __builtin_offsetof(struct fp_peer_key, peer_port) &&
                   __builtin_offsetof(struct fp_client_key, local_port) ==
                       __builtin_offsetof(struct fp_peer_key, relay_port) &&
                   __builtin_offsetof(struct fp_client_key, channel) == 36 &&
                   sizeof(struct fp_client_key) == 40 && sizeof(struct fp_peer_key) == 40,
               "fp_client_key and fp_peer_key must share their layout up to the ports");

/* The datagram as parsed: addresses IPv4-mapped, ports network order. */
struct fp_pkt {
	union {
		struct fp_client_key ck; /* ck.channel/pad set per lookup */
		struct fp_peer_key pk;
		struct bpf_fib_lookup fib; /* once the lookups are done */
	} u;
	__u32 sub;   /* sum of the complements of the old pseudo-header and UDP header words */
	__be16 csum; /* UDP checksum as received */
	__u16 ulen;  /* UDP length (header included), host order */
	__u16 l4;    /* offset of the UDP header in the frame */
	__u8 v6;     /* input family */
	__u8 tos;    /* IPv4 TOS or IPv6 traffic class */
	__u8 cd[4];  /* first 4 payload bytes, when ulen >= 12 */
};

/* The decision: what to write once the packet is ours. */
struct fp_out {
	const __u8 *src; /* 16 bytes, in the mapping's value */
	const __u8 *dst;
	__be16 sport, dport;
	__be16 channel; /* to_client: ChannelData channel */
	__u16 app_len;  /* application bytes */
	__u16 app_off;  /* offset of the application bytes in the input frame */
	__u16 new_off;  /* ... and in the output frame */
	__be16 csum;    /* output UDP checksum (0: none, IPv4 only) */
	__u8 v6;        /* output family */
	__u8 to_client; /* peer -> client: prepend ChannelData */
	__u8 tos;
	__u8 tx; /* leaves through the ingress device */
	__u8 dmac[6];
	__u8 smac[6];
	__u32 ifindex; /* egress */
	struct fp_slot *slot;
	__u64 now; /* the coarse clock, read once per packet */
};

static __always_inline void stat_add(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&fp_stats, &idx);

	if (c)
		*c += n;
}

static __always_inline int is_v4mapped(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff);
}

/* One's-complement arithmetic on 16-bit words kept in memory order: the sum
 * is byte-order independent, so no swapping is needed except for lone
 * bytes (csum_byte). */
static __always_inline __u32 csum_addr(__u32 acc, const __u8 *a, int v6)
{
	const __u16 *w = (const __u16 *)a;

	if (v6)
		acc += (__u32)w[0] + w[1] + w[2] + w[3] + w[4] + w[5];
	return acc + w[6] + w[7];
}

static __always_inline __u32 csum_addr_sub(__u32 acc, const __u8 *a, int v6)
{
	const __u16 *w = (const __u16 *)a;

	if (v6)
		acc += (__u32)(__u16)~w[0] + (__u16)~w[1] + (__u16)~w[2] + (__u16)~w[3] + (__u16)~w[4] +
		       (__u16)~w[5];
	return acc + (__u16)~w[6] + (__u16)~w[7];
}

static __always_inline __u16 csum_fold(__u32 acc)
{
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (__u16)acc;
}

/* Ethernet, IPv4 (IHL 5, unfragmented) or IPv6 (no extension header), UDP;
 * the IP length bounds the datagram (Ethernet padding may follow) and must
 * fit in the frame. data..end must hold the first HDR_MAX bytes or the
 * whole frame, whichever is shorter. 0: ours to consider; -1: pass. */
static __always_inline int fp_parse(void *data, void *end, __u32 frame_len, struct fp_pkt *p)
{
	struct ethhdr *eth = data;
	__u8 *ip = data + ETH_LEN;
	__u8 *udp;
	__u32 ulen;

	if ((void *)(eth + 1) > end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		__u16 tot, frag;

		if (ip + IP4_LEN + UDP_LEN > (__u8 *)end)
			return -1;
		if (ip[0] != 0x45 || ip[9] != IPPROTO_UDP)
			return -1;
		__builtin_memcpy(&frag, ip + 6, 2);
		if (frag & bpf_htons(0x3fff)) /* MF or an offset */
			return -1;
		{
			/* The new header gets a fresh checksum: never vouch for
			 * one the stack would have dropped. */
			const __u16 *w = (const __u16 *)ip;
			__u32 acc =
			    (__u32)w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7] + w[8] + w[9];

			if (csum_fold(acc) != 0xffff)
				return -1;
		}
		__builtin_memcpy(&tot, ip + 2, 2);
		tot = bpf_ntohs(tot);
		if (tot < IP4_LEN + UDP_LEN || ETH_LEN + (__u32)tot > frame_len)
			return -1;
		ulen = tot - IP4_LEN;
		p->v6 = 0;
		p->tos = ip[1];
		__builtin_memset(&p->u.ck, 0, 32);
		p->u.ck.client[10] = p->u.ck.client[11] = 0xff;
		p->u.ck.local[10] = p->u.ck.local[11] = 0xff;
		__builtin_memcpy(p->u.ck.client + 12, ip + 12, 4);
		__builtin_memcpy(p->u.ck.local + 12, ip + 16, 4);
		p->l4 = ETH_LEN + IP4_LEN;
		udp = ip + IP4_LEN;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		__u16 plen;

		if (ip + IP6_LEN + UDP_LEN > (__u8 *)end)
			return -1;
		if ((ip[0] >> 4) != 6 || ip[6] != IPPROTO_UDP)
			return -1;
		__builtin_memcpy(&plen, ip + 4, 2);
		plen = bpf_ntohs(plen);
		if (plen < UDP_LEN || ETH_LEN + IP6_LEN + (__u32)plen > frame_len)
			return -1;
		ulen = plen;
		p->v6 = 1;
		p->tos = (__u8)((ip[0] << 4) | (ip[1] >> 4));
		__builtin_memcpy(p->u.ck.client, ip + 8, 16);
		__builtin_memcpy(p->u.ck.local, ip + 24, 16);
		p->l4 = ETH_LEN + IP6_LEN;
		udp = ip + IP6_LEN;
	} else {
		return -1; /* VLAN, ARP, anything else */
	}
	{
		__u16 l;

		__builtin_memcpy(&l, udp + 4, 2);
		if (bpf_ntohs(l) != ulen) /* a UDP length short of the IP length: odd, pass */
			return -1;
	}
	p->ulen = ulen;
	__builtin_memcpy(&p->u.ck.client_port, udp, 2);
	__builtin_memcpy(&p->u.ck.local_port, udp + 2, 2);
	__builtin_memcpy(&p->csum, udp + 6, 2);
	{
		/* What leaves the checksum whatever the output: the old
		 * pseudo-header (the protocol word cancels) and UDP header. */
		__u16 l = (__u16)~bpf_htons((__u16)ulen);
		__u32 acc = (__u32)l + l;

		acc = csum_addr_sub(acc, p->u.ck.client, p->v6);
		acc = csum_addr_sub(acc, p->u.ck.local, p->v6);
		acc += (__u16)~p->u.ck.client_port + (__u16)~p->u.ck.local_port;
		p->sub = acc;
	}
	/* RFC 8200 §8.1: a zero UDP checksum is invalid over IPv6. */
	if (p->v6 && p->csum == 0)
		return -1;
	if (ulen >= UDP_LEN + CD_LEN) {
		if (udp + UDP_LEN + CD_LEN > (__u8 *)end)
			return -1;
		__builtin_memcpy(p->cd, udp + UDP_LEN, CD_LEN);
	}
	return 0;
}

/* The UDP checksum of the output from the input's: remove the old
 * pseudo-header and UDP header words and the ChannelData header (and
 * padding) dropped, add the new ones. The protocol word is in both
 * pseudo-headers and cancels. */
static __always_inline __be16 fp_csum(const struct fp_pkt *p, const struct fp_out *o, __u32 tail, __u32 pad_n)
{
	__u16 new_ulen = bpf_htons(UDP_LEN + (o->to_client ? CD_LEN : 0) + o->app_len);
	__u32 acc = (__u32)(__u16)~p->csum + p->sub;
	__u16 res;

	acc = csum_addr(acc, o->src, o->v6);
	acc = csum_addr(acc, o->dst, o->v6);
	acc += new_ulen;
	acc += (__u32)o->sport + o->dport + new_ulen;
	if (o->to_client) {
		acc += (__u32)o->channel + bpf_htons(o->app_len);
	} else {
		const __u16 *cd = (const __u16 *)p->cd;

		acc += (__u16)~cd[0] + (__u16)~cd[1];
		if (pad_n) {
			/* tail: the datagram's last 4 bytes, b0 first, as a number;
			 * the padding is its last pad_n bytes. They start at UDP
			 * offset ulen - 4: on a word boundary when ulen is even,
			 * else one byte in. Summed as big-endian words, then
			 * turned into memory order (the sum commutes with the
			 * byte swap). */
			__u32 v = tail & ((1u << (pad_n * 8)) - 1);
			__u32 s;

			if (p->ulen & 1)
				s = (v >> 24) + ((v >> 8) & 0xffff) + ((v & 0xff) << 8);
			else
				s = (v >> 16) + (v & 0xffff);
			acc += (__u16)~bpf_htons(csum_fold(s));
		}
	}
	res = (__u16)~csum_fold(acc);
	/* RFC 768: a computed zero is sent as all ones. */
	return res ? res : 0xffff;
}

/* Mapping, validity and FIB. 0: relay as *o; otherwise pass (counted).
 * Reads the ChannelData padding with a helper in TC (it may lie beyond the
 * linear head), directly in XDP. */
/* Loopback is the first device of every network namespace. */
#define FP_LOOPBACK_IFINDEX 1

static __always_inline int fp_decide(void *ctx, int xdp, void *data, void *end, struct fp_pkt *p,
                                     __u32 ifindex, struct fp_out *o)
{
	struct bpf_fib_lookup *fib = &p->u.fib;
	struct fp_ctl *ctl;
	struct fp_slot *slot;
	__u32 zero = 0, slot_idx, gen, pad_n = 0;
	__u32 tail = 0;
	__u64 now;
	int is_cd = 0, rc;

	if (p->ulen >= UDP_LEN + CD_LEN && p->cd[0] >= 0x40 && p->cd[0] <= 0x7f) {
		struct fp_client_val *cv;

		is_cd = 1;
		__builtin_memcpy(&p->u.ck.channel, p->cd, 2);
		p->u.ck.pad = 0;
		cv = bpf_map_lookup_elem(&fp_client, &p->u.ck);
		if (cv) {
			__u16 len;
			__u32 plen = p->ulen - UDP_LEN;

			__builtin_memcpy(&len, p->cd + 2, 2);
			len = bpf_ntohs(len);
			/* RFC 8656 §12.5: padding to 4 may follow the data over UDP. */
			if (plen < CD_LEN + (__u32)len || plen > CD_LEN + (__u32)len + 3) {
				stat_add(FP_ST_PASS_MALFORMED, 1);
				return -1;
			}
			pad_n = plen - CD_LEN - len;
			o->src = cv->relay;
			o->dst = cv->peer;
			o->sport = cv->relay_port;
			o->dport = cv->peer_port;
			o->to_client = 0;
			o->channel = 0;
			o->app_len = len;
			o->app_off = p->l4 + UDP_LEN + CD_LEN;
			slot_idx = cv->slot;
			gen = cv->gen;
			goto found;
		}
	}
	{
		struct fp_peer_val *pv;

		p->u.pk.pad = 0;
		pv = bpf_map_lookup_elem(&fp_peer, &p->u.pk);
		if (!pv) {
			if (is_cd)
				stat_add(FP_ST_PASS_UNMAPPED, 1);
			return -1;
		}
		o->src = pv->local;
		o->dst = pv->client;
		o->sport = pv->local_port;
		o->dport = pv->client_port;
		o->to_client = 1;
		o->channel = pv->channel;
		o->app_len = p->ulen - UDP_LEN;
		o->app_off = p->l4 + UDP_LEN;
		slot_idx = pv->slot;
		gen = pv->gen;
	}
found:
	now = bpf_ktime_get_coarse_ns();
	/* An orphaned program (ternd gone) relays nothing. */
	ctl = bpf_map_lookup_elem(&fp_ctl, &zero);
	if (!ctl || ctl->alive_until_ns <= now) {
		stat_add(FP_ST_PASS_STALE, 1);
		return -1;
	}
	slot = bpf_map_lookup_elem(&fp_slots, &slot_idx);
	if (!slot || slot->gen != gen || now >= slot->expires_ns) {
		stat_add(FP_ST_PASS_EXPIRED, 1);
		return -1;
	}
	o->slot = slot;
	o->now = now;
	o->v6 = !is_v4mapped(o->dst);
	if (o->v6 == is_v4mapped(o->src)) {
		stat_add(FP_ST_PASS_FIB, 1); /* a mixed-family mapping: cannot be sent */
		return -1;
	}
	/* RFC 8200 §8.1: IPv6 needs a checksum, and one over the payload
	 * cannot be made without summing it. */
	if (!p->v6 && p->csum == 0 && o->v6) {
		stat_add(FP_ST_PASS_CSUM, 1);
		return -1;
	}
	o->tos = p->tos;
	/* A peer datagram near 64 KiB would not fit once 4 bytes are added. */
	if ((__u32)o->app_len + UDP_LEN + CD_LEN + IP4_LEN > 0xffff) {
		stat_add(FP_ST_PASS_MTU, 1);
		return -1;
	}
	o->new_off = ETH_LEN + (o->v6 ? IP6_LEN : IP4_LEN) + UDP_LEN + (o->to_client ? CD_LEN : 0);

	/* The keys are dead: their bytes become the FIB query. */
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->l4_protocol = IPPROTO_UDP;
	fib->sport = o->sport;
	fib->dport = o->dport;
	/* The relay sends these datagrams from its own address: look the route
	 * up as for a packet this host sends (input from loopback, as the
	 * kernel's output route lookup does; ip rules by source apply), not as
	 * a packet routed from the ingress device, which would need forwarding
	 * switched on there and make the host a router between its
	 * interfaces. The kernel still asks for forwarding on the device
	 * named: the loader switches it on for loopback only. */
	fib->ifindex = FP_LOOPBACK_IFINDEX;
	fib->tot_len = o->new_off - ETH_LEN + o->app_len;
	if (o->v6) {
		fib->family = AF_INET6;
		__builtin_memcpy(fib->ipv6_src, o->src, 16);
		__builtin_memcpy(fib->ipv6_dst, o->dst, 16);
	} else {
		fib->family = AF_INET;
		fib->tos = o->tos;
		__builtin_memcpy(&fib->ipv4_src, o->src + 12, 4);
		__builtin_memcpy(&fib->ipv4_dst, o->dst + 12, 4);
	}
	rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
			stat_add(FP_ST_PASS_NO_NEIGH, 1);
		else if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
			stat_add(FP_ST_PASS_MTU, 1);
		else
			stat_add(FP_ST_PASS_FIB, 1);
		return -1;
	}
	o->ifindex = fib->ifindex;
	o->tx = fib->ifindex == ifindex;
	__builtin_memcpy(o->dmac, fib->dmac, 6);
	__builtin_memcpy(o->smac, fib->smac, 6);

	if (p->csum == 0) {
		o->csum = 0; /* IPv4 in and out: no checksum stays none */
		return 0;
	}
	if (pad_n) {
		/* The last 4 bytes of the datagram; the payload is at least 4
		 * bytes (the ChannelData header), so they start in it. */
		__u32 off = (__u32)p->l4 + p->ulen - 4;

		if (off > OFF_MAX) {
			stat_add(FP_ST_ERR, 1);
			return -1;
		}
		if (xdp) {
			__u8 *b = data + off;

			if (b + 4 > (__u8 *)end) {
				stat_add(FP_ST_ERR, 1);
				return -1;
			}
			__builtin_memcpy(&tail, b, 4);
		} else if (bpf_skb_load_bytes(ctx, off, &tail, 4) < 0) {
			stat_add(FP_ST_ERR, 1);
			return -1;
		}
		tail = bpf_ntohl(tail);
	}
	o->csum = fp_csum(p, o, tail, pad_n & 3);
	return 0;
}

/* Writes Ethernet, IP, UDP (and ChannelData) in front of the payload, which
 * now starts at o->new_off. -1 if the frame is too short (cannot happen
 * after a successful move; the caller drops). */
static __always_inline int fp_write(void *data, void *end, const struct fp_out *o)
{
	struct ethhdr *eth = data;
	__u8 *ip = data + ETH_LEN;
	__u8 *udp;
	__u16 ulen = UDP_LEN + (o->to_client ? CD_LEN : 0) + o->app_len;

	if (o->v6) {
		if (ip + IP6_LEN + UDP_LEN + CD_LEN > (__u8 *)end && o->to_client)
			return -1;
		if (ip + IP6_LEN + UDP_LEN > (__u8 *)end)
			return -1;
		eth->h_proto = bpf_htons(ETH_P_IPV6);
		ip[0] = 0x60 | (o->tos >> 4);
		ip[1] = (__u8)(o->tos << 4);
		ip[2] = 0;
		ip[3] = 0;
		*(__u16 *)(ip + 4) = bpf_htons(ulen);
		ip[6] = IPPROTO_UDP;
		ip[7] = 64;
		__builtin_memcpy(ip + 8, o->src, 16);
		__builtin_memcpy(ip + 24, o->dst, 16);
		udp = ip + IP6_LEN;
	} else {
		__u16 w[10];
		__u32 acc = 0;

		if (ip + IP4_LEN + UDP_LEN + CD_LEN > (__u8 *)end && o->to_client)
			return -1;
		if (ip + IP4_LEN + UDP_LEN > (__u8 *)end)
			return -1;
		eth->h_proto = bpf_htons(ETH_P_IP);
		w[0] = bpf_htons(0x4500 | o->tos);
		w[1] = bpf_htons(IP4_LEN + ulen);
		w[2] = 0; /* id: DF set (RFC 6864) */
		w[3] = bpf_htons(0x4000);
		w[4] = bpf_htons((64 << 8) | IPPROTO_UDP);
		w[5] = 0;
		__builtin_memcpy(&w[6], o->src + 12, 4);
		__builtin_memcpy(&w[8], o->dst + 12, 4);
		acc = (__u32)w[0] + w[1] + w[3] + w[4] + w[6] + w[7] + w[8] + w[9];
		w[5] = (__u16)~csum_fold(acc);
		__builtin_memcpy(ip, w, IP4_LEN);
		udp = ip + IP4_LEN;
	}
	__builtin_memcpy(eth->h_dest, o->dmac, 6);
	__builtin_memcpy(eth->h_source, o->smac, 6);
	*(__be16 *)udp = o->sport;
	*(__be16 *)(udp + 2) = o->dport;
	*(__u16 *)(udp + 4) = bpf_htons(ulen);
	*(__be16 *)(udp + 6) = o->csum;
	if (o->to_client) {
		if (udp + UDP_LEN + CD_LEN > (__u8 *)end)
			return -1;
		*(__be16 *)(udp + 8) = o->channel;
		*(__u16 *)(udp + 10) = bpf_htons(o->app_len);
	}
	return 0;
}

static __always_inline void fp_account(const struct fp_out *o)
{
	struct fp_slot *s = o->slot;

	if (o->to_client) {
		stat_add(FP_ST_TO_CLIENT, 1);
		stat_add(FP_ST_TO_CLIENT_BYTES, o->app_len);
		__sync_fetch_and_add(&s->down_packets, 1);
		__sync_fetch_and_add(&s->down_bytes, o->app_len);
	} else {
		stat_add(FP_ST_TO_PEER, 1);
		stat_add(FP_ST_TO_PEER_BYTES, o->app_len);
		__sync_fetch_and_add(&s->up_packets, 1);
		__sync_fetch_and_add(&s->up_bytes, o->app_len);
	}
	if (o->tx)
		stat_add(FP_ST_TX, 1);
	s->last_ns = o->now;
}

SEC("xdp")
int tern_fp_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct fp_pkt p;
	struct fp_out o;
	__u32 len, new_len;

	if (fp_parse(data, end, (__u32)(end - data), &p) < 0)
		return XDP_PASS;
	if (fp_decide(ctx, 1, data, end, &p, ctx->ingress_ifindex, &o) < 0)
		return XDP_PASS;
	/* The payload stays; the frame's start moves to where the new
	 * headers begin. */
	if (bpf_xdp_adjust_head(ctx, (int)o.app_off - (int)o.new_off) < 0) {
		stat_add(FP_ST_ERR, 1);
		return XDP_PASS; /* nothing changed yet */
	}
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	len = (__u32)(end - data);
	new_len = (__u32)o.new_off + o.app_len;
	/* Drop ChannelData padding and Ethernet padding. */
	if (len > new_len && bpf_xdp_adjust_tail(ctx, (int)new_len - (int)len) < 0)
		goto err_drop;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (fp_write(data, end, &o) < 0)
		goto err_drop;
	fp_account(&o);
	if (o.tx)
		return XDP_TX;
	return bpf_redirect(o.ifindex, 0);
err_drop:
	stat_add(FP_ST_ERR, 1);
	return XDP_DROP;
}

SEC("tc")
int tern_fp_tc(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct fp_pkt p;
	struct fp_out o;
	int in_v6;

	/* Offloaded VLAN tags and aggregated (GRO) packets are not ours. */
	if (skb->vlan_present || skb->gso_size)
		return TC_ACT_OK;
	if (data + HDR_MAX > end && skb->len > (__u32)(end - data)) {
		if (bpf_skb_pull_data(skb, skb->len < HDR_MAX ? skb->len : HDR_MAX) < 0)
			return TC_ACT_OK;
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
	}
	if (fp_parse(data, end, skb->len, &p) < 0)
		return TC_ACT_OK;
	if (fp_decide(skb, 0, data, end, &p, skb->ifindex, &o) < 0)
		return TC_ACT_OK;
	in_v6 = p.v6;
	/* Cross-family: the kernel swaps 20 bytes after the MAC header and
	 * sets skb->protocol; then 4 bytes (the ChannelData header) go or
	 * come right after the new IP header. */
	if (in_v6 != o.v6) {
		if (bpf_skb_change_proto(skb, o.v6 ? bpf_htons(ETH_P_IPV6) : bpf_htons(ETH_P_IP), 0) < 0) {
			stat_add(FP_ST_ERR, 1);
			return TC_ACT_OK; /* nothing changed yet */
		}
	}
	if (bpf_skb_adjust_room(skb, o.to_client ? CD_LEN : -CD_LEN, BPF_ADJ_ROOM_NET, 0) < 0) {
		stat_add(FP_ST_ERR, 1);
		if (in_v6 != o.v6)
			return TC_ACT_SHOT;
		return TC_ACT_OK;
	}
	{
		__u32 new_len = (__u32)o.new_off + o.app_len;

		if (skb->len > new_len && bpf_skb_change_tail(skb, new_len, 0) < 0)
			goto err_drop;
	}
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	if (fp_write(data, end, &o) < 0)
		goto err_drop;
	fp_account(&o);
	return bpf_redirect(o.ifindex, 0);
err_drop:
	stat_add(FP_ST_ERR, 1);
	return TC_ACT_SHOT;
}

SEC("xdp")
int tern_fp_pass(struct xdp_md *ctx __attribute__((unused)))
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
