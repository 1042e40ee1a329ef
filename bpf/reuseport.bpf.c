/* sk_reuseport steering for tern's UDP listeners (docs/STEERING.md).
 *
 * Runs in the kernel for each datagram that reaches a reuseport group the
 * loader attached it to. A known flow goes to the worker it was given; a
 * new flow goes to the least-loaded worker and stays there. Any failure
 * returns SK_PASS without a selection, so the kernel's own hash picks the
 * socket: steering fails open, the datagram is never dropped here. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "steer_abi.h"

/* Sizes marked 1 are set by the loader before load (nworkers known then). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STEER_ABI_MAX_FLOWS);
	__type(key, struct steer_flow_key);
	__type(value, __u32);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_ABI_MAX_PINNED);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct steer_flow_key);
	__type(value, __u32);
} pinned SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct steer_worker);
} workers SEC(".maps");

/* Socket cookie of every member of every attached group -> the group's
 * first slot in socks. md->sk is whichever member the lookup found. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u32);
} groups SEC(".maps");

/* Slot base + w holds worker w's socket of the group. One array serves all
 * groups; the kernel refuses a selection from another group (-EXDEV). */
struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} socks SEC(".maps");

static __always_inline int flow_key(struct sk_reuseport_md *md, struct steer_flow_key *k)
{
	void *data = (void *)(long)md->data;
	void *end = (void *)(long)md->data_end;
	__be16 ports[2];

	__builtin_memset(k, 0, sizeof(*k));
	/* For UDP, data starts at the UDP header (source port, dest port). */
	if (data + sizeof(ports) <= end)
		__builtin_memcpy(ports, data, sizeof(ports));
	else if (bpf_skb_load_bytes(md, 0, ports, sizeof(ports)) < 0)
		return -1;
	k->sport = ports[0];
	k->dport = ports[1];
	/* The IP source lies before data: read it relative to the network
	 * header (fixed offsets; IPv6 extension headers come after it). */
	if (md->eth_protocol == bpf_htons(ETH_P_IP)) {
		k->family = 4;
		return bpf_skb_load_bytes_relative(md, 12, k->addr, 4, BPF_HDR_START_NET) < 0 ? -1 : 0;
	}
	if (md->eth_protocol == bpf_htons(ETH_P_IPV6)) {
		k->family = 6;
		return bpf_skb_load_bytes_relative(md, 8, k->addr, 16, BPF_HDR_START_NET) < 0 ? -1 : 0;
	}
	return -1;
}

/* The least-loaded worker, ties (an idle start) to the one with fewer
 * flows; -1 if there is none. Global (not static) on purpose: the verifier
 * checks a global function once, on its own, where an inlined loop would
 * be walked again for every distinct state a caller reaches it with
 * (IPv4/IPv6, ...: 200k instructions instead of 10k). */
__noinline int steer_least_loaded(void)
{
	__u64 best_load = ~0ULL, best_flows = ~0ULL;
	int best = -1;

	for (__u32 i = 0; i < STEER_ABI_MAX_WORKERS; i++) {
		__u32 key = i;
		struct steer_worker *st = bpf_map_lookup_elem(&workers, &key);
		if (!st)
			break; /* past nworkers: the array is sized to it */
		__u64 load = st->load, nflows = st->flows;
		if (load < best_load || (load == best_load && nflows < best_flows)) {
			best_load = load;
			best_flows = nflows;
			best = (int)i;
		}
	}
	return best;
}

static __always_inline int assign(struct steer_flow_key *k, __u32 *worker)
{
	__u32 *w = bpf_map_lookup_elem(&pinned, k);

	/* A pinned flow whose LRU entry was evicted returns to its owner. */
	if (w) {
		*worker = *w;
	} else {
		int best = steer_least_loaded();
		if (best < 0)
			return -1;
		*worker = (__u32)best;
	}
	if (bpf_map_update_elem(&flows, k, worker, BPF_NOEXIST) < 0) {
		/* Another CPU inserted this flow first: follow it. Otherwise
		 * (no memory) leave the flow to the kernel hash, which keeps it
		 * on one socket until an insert succeeds. */
		w = bpf_map_lookup_elem(&flows, k);
		if (!w)
			return -1;
		*worker = *w;
		return 0;
	}
	struct steer_worker *st = bpf_map_lookup_elem(&workers, worker);
	if (st) {
		__sync_fetch_and_add(&st->flows, 1);
		__sync_fetch_and_add(&st->load, STEER_ABI_NEW_FLOW_LOAD);
	}
	return 0;
}

SEC("sk_reuseport")
int tern_steer(struct sk_reuseport_md *md)
{
	struct steer_flow_key k;
	__u32 worker, slot;

	if (md->ip_protocol != IPPROTO_UDP)
		return SK_PASS;
	__u64 cookie = bpf_get_socket_cookie(md->sk);
	__u32 *base = bpf_map_lookup_elem(&groups, &cookie);
	if (!base)
		return SK_PASS;
	if (flow_key(md, &k) < 0)
		return SK_PASS;

	__u32 *w = bpf_map_lookup_elem(&flows, &k);
	if (w)
		worker = *w;
	else if (assign(&k, &worker) < 0)
		return SK_PASS;

	struct steer_worker *st = bpf_map_lookup_elem(&workers, &worker);
	if (!st)
		return SK_PASS;
	__sync_fetch_and_add(&st->load, 1);
	slot = *base + worker;
	/* -ENOENT: that worker's socket is gone (closed, or never added). */
	if (bpf_sk_select_reuseport(md, &socks, &slot, 0) < 0)
		__sync_fetch_and_add(&st->fails, 1);
	return SK_PASS;
}

/* No GPL-only helper is used; the string only has to be one the kernel
 * accepts. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
