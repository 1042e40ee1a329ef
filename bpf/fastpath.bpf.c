/* The ChannelData fast path (docs/FASTPATH.md): XDP, or TC ingress where XDP
 * cannot attach. Relays ChannelData of channels user space installed in
 * fp_client / fp_peer, and passes everything else to the stack untouched.
 * SKELETON: the program bodies are being written; they pass everything. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "fastpath_abi.h"

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

SEC("xdp")
int tern_fp_xdp(struct xdp_md *ctx __attribute__((unused)))
{
	return XDP_PASS;
}

SEC("tc")
int tern_fp_tc(struct __sk_buff *skb __attribute__((unused)))
{
	return TC_ACT_OK;
}

SEC("xdp")
int tern_fp_pass(struct xdp_md *ctx __attribute__((unused)))
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
