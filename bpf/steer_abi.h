/* Layout shared by bpf/reuseport.bpf.c and its loader src/net/steer.c: map
 * keys and values, and the sizes the loader gives the maps. Both sides
 * compile this file, so it uses only fixed-width types. */
#ifndef TERN_BPF_STEER_ABI_H
#define TERN_BPF_STEER_ABI_H

#include <linux/types.h>

/* Workers one program can steer to (loop bound in the program). */
#define STEER_ABI_MAX_WORKERS 256
/* Reuseport groups (listening addresses) one program can serve. */
#define STEER_ABI_MAX_GROUPS 64
/* Flow -> worker entries (LRU). Preallocated by the kernel, ~80 B each. */
#define STEER_ABI_MAX_FLOWS 262144
/* Flows userspace pinned to a worker (allocations). Not preallocated. */
#define STEER_ABI_MAX_PINNED 262144
/* Load a new flow is presumed to bring before it has sent anything (in
 * decayed-packet units: ~32 datagrams/s under a halving each second).
 * Without it, a burst of new flows would all see the same least-loaded
 * worker and pile onto it before their packets show up in its load. */
#define STEER_ABI_NEW_FLOW_LOAD 64

/* A client flow as the program sees it: the client's address and port and
 * the listening port, in network byte order. IPv4 uses addr[0..3] and
 * leaves the rest zero (so does an IPv4 client of a dual-stack socket). */
struct steer_flow_key {
	__u8 addr[16];
	__be16 sport;
	__be16 dport;
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
};

/* One per worker, one cache line each: the program adds to them on every
 * packet from many CPUs, userspace halves load. */
struct steer_worker {
	__u64 load;  /* decayed datagram count plus new-flow credits */
	__u64 flows; /* flows assigned since start (never decreases) */
	__u64 fails; /* datagrams whose selection failed: kernel hash took them */
	__u64 pad[5];
};

#endif
