/* Layout shared by bpf/fastpath.bpf.c (the XDP/TC ChannelData fast path)
 * and its loader src/net/fastpath.c: map keys and values, counters, and the
 * names of maps and programs. Both sides compile this file, so it uses only
 * fixed-width types. docs/FASTPATH.md explains the design.
 *
 * Addresses are 16 bytes, network order; IPv4 is written IPv4-mapped
 * (::ffff:a.b.c.d), so one key type serves both families and cross-family
 * channels. Ports and channel numbers are network order. */
#ifndef TERN_BPF_FASTPATH_ABI_H
#define TERN_BPF_FASTPATH_ABI_H

#include <linux/types.h>

/* Program and map names (the loader finds them by name). */
#define FP_ABI_PROG_XDP  "tern_fp_xdp"  /* SEC("xdp") */
#define FP_ABI_PROG_TC   "tern_fp_tc"   /* SEC("tc"): TC ingress (clsact) */
#define FP_ABI_PROG_PASS "tern_fp_pass" /* SEC("xdp"): returns XDP_PASS (a redirect target on veth) */

/* client -> peer: a UDP datagram from client:client_port to
 * local:local_port (the listening address the client wrote to) whose
 * payload is ChannelData with this channel number. Map "fp_client". */
struct fp_client_key {
	__u8 client[16];
	__u8 local[16];
	__be16 client_port;
	__be16 local_port;
	__be16 channel;
	__u16 pad; /* zero */
};

/* ...becomes a UDP datagram from relay:relay_port (the relay socket's bound
 * address, not the advertised external one) to peer:peer_port carrying the
 * ChannelData's application data (padding dropped). */
struct fp_client_val {
	__u8 relay[16];
	__u8 peer[16];
	__be16 relay_port;
	__be16 peer_port;
	__u32 slot; /* index into "fp_slots" */
	__u32 gen;  /* must equal fp_slots[slot].gen, else the entry is stale: pass */
	__u32 pad;
};

/* peer -> client: a UDP datagram from peer:peer_port to relay:relay_port.
 * Map "fp_peer". */
struct fp_peer_key {
	__u8 peer[16];
	__u8 relay[16];
	__be16 peer_port;
	__be16 relay_port;
	__u32 pad; /* zero */
};

/* ...becomes ChannelData (channel, length = the datagram's payload length,
 * no padding: UDP) from local:local_port to client:client_port. */
struct fp_peer_val {
	__u8 client[16];
	__u8 local[16];
	__be16 client_port;
	__be16 local_port;
	__be16 channel;
	__u16 pad;
	__u32 slot;
	__u32 gen;
};

/* One per mapping (a channel: both directions), one cache line. Map
 * "fp_slots": BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE; user space writes gen
 * and expires_ns through its mapping of the array, the program adds to the
 * counters with atomic adds. */
struct fp_slot {
	/* Relay only while bpf_ktime_get_coarse_ns() < expires_ns (the earliest
	 * of the channel's, its permission's and its allocation's expiry, in
	 * CLOCK_MONOTONIC_COARSE ns). 0: free. */
	__u64 expires_ns;
	__u32 gen;
	__u32 flags; /* reserved, zero */
	__u64 up_packets, up_bytes;     /* client -> peer: datagrams, application bytes */
	__u64 down_packets, down_bytes; /* peer -> client */
	__u64 last_ns;                  /* coarse ns of the last datagram relayed either way */
	__u64 pad;
};

/* Map "fp_ctl": BPF_MAP_TYPE_ARRAY of one entry, BPF_F_MMAPABLE. ternd
 * moves alive_until_ns forward every second; once it lapses (ternd
 * stopped, hung or crashed with a program still attached) the program
 * passes everything to the stack: nothing is relayed by an orphan. */
struct fp_ctl {
	__u64 alive_until_ns; /* CLOCK_MONOTONIC_COARSE ns */
	__u64 pad[7];
};

/* Map "fp_stats": BPF_MAP_TYPE_PERCPU_ARRAY of __u64, FP_ST_N entries.
 * Only datagrams that matched a mapping key, or that look like ChannelData,
 * are counted: other traffic on the interface costs one lookup and no
 * counter. */
enum fp_stat {
	FP_ST_TO_PEER = 0,       /* ChannelData relayed client -> peer */
	FP_ST_TO_PEER_BYTES,     /* application bytes of those */
	FP_ST_TO_CLIENT,         /* peer datagrams relayed as ChannelData */
	FP_ST_TO_CLIENT_BYTES,   /* application bytes of those */
	FP_ST_TX,                /* of the relayed: left where they came in (XDP_TX / same device) */
	FP_ST_PASS_UNMAPPED,     /* looked like ChannelData, no mapping (not offloaded, not a listener) */
	FP_ST_PASS_EXPIRED,      /* mapping found, slot expired or stale */
	FP_ST_PASS_STALE,        /* ternd's heartbeat lapsed: everything passes */
	FP_ST_PASS_MALFORMED,    /* mapped key, ChannelData length wrong */
	FP_ST_PASS_NO_NEIGH,     /* FIB: neighbour not resolved */
	FP_ST_PASS_MTU,          /* FIB: would exceed the egress MTU */
	FP_ST_PASS_FIB,          /* FIB: no route, blackhole, forwarding off, other */
	FP_ST_PASS_CSUM,         /* IPv4 zero UDP checksum into IPv6: cannot be computed here */
	FP_ST_ERR,               /* a helper failed after the decision (adjust head/room, ...) */
	FP_ST_N,
};

#endif
