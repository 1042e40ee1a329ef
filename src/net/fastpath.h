/* Loader and map owner of the kernel fast path (bpf/fastpath.bpf.c,
 * docs/FASTPATH.md): loads the embedded program with libbpf, attaches it to
 * interfaces (native XDP, generic XDP or TC ingress), keeps ternd's
 * heartbeat, and installs and removes channel mappings. Knows nothing of
 * TURN: a mapping is two address rewrites and a channel number.
 *
 * Fails open: every error leaves the user-space path carrying the traffic.
 * One struct fastpath per process, made before the workers start and freed
 * after they stop. Mapping calls are made by worker w on its own slots only
 * (no lock: each worker owns a disjoint slot range); fastpath_stats and
 * fastpath_heartbeat may run on any thread. */
#ifndef TERN_NET_FASTPATH_H
#define TERN_NET_FASTPATH_H

#include <stdbool.h>
#include <stdint.h>

#include "util/addr.h"

enum fastpath_mode {
	FASTPATH_OFF = 0,
	FASTPATH_AUTO,        /* native XDP, else generic XDP, else TC: per interface */
	FASTPATH_XDP,         /* native XDP, else generic XDP */
	FASTPATH_XDP_NATIVE,  /* native XDP only (driver mode) */
	FASTPATH_XDP_GENERIC, /* generic (skb) XDP only */
	FASTPATH_TC,          /* TC ingress (clsact) only */
};

/* How it attached to one interface. */
enum fastpath_attach {
	FASTPATH_ATT_NONE = 0,
	FASTPATH_ATT_XDP_NATIVE,
	FASTPATH_ATT_XDP_GENERIC,
	FASTPATH_ATT_TC,
};

#define FASTPATH_MAX_IFS 32

struct fastpath_opts {
	enum fastpath_mode mode;
	/* Interfaces by name; nifs 0: those that hold one of addrs (a wildcard
	 * address: every interface that is up, loopback excluded). */
	const char *ifnames[FASTPATH_MAX_IFS];
	unsigned nifs;
	const union tern_addr *addrs; /* listening and relay addresses */
	unsigned naddrs;
	unsigned max_mappings; /* channels offloaded at once, whole process */
	unsigned nworkers;     /* slots are split evenly between workers */
	/* Tests only: fail as if the kernel refused the program (fail-open). */
	bool force_fail;
};

/* One offloaded channel: client:port wrote ChannelData `channel` to
 * local:port (the listening address); relay is the relay socket's bound
 * address and port; peer the channel's peer. Families may differ. */
struct fastpath_mapping {
	union tern_addr client, local, relay, peer;
	uint16_t channel; /* host order */
};

/* What the program relayed for one mapping. */
struct fastpath_counts {
	uint64_t up_packets, up_bytes;     /* client -> peer */
	uint64_t down_packets, down_bytes; /* peer -> client */
	uint64_t last_ns;                  /* CLOCK_MONOTONIC_COARSE, 0: never */
};

struct fastpath;

/* Load, size the maps, attach per o->mode to every interface. 0 and *out
 * when attached to at least one interface; -errno otherwise, after one log
 * line that names the cause (nothing stays attached). */
int fastpath_open(const struct fastpath_opts *o, struct fastpath **out);
/* Detach from every interface, free maps and programs. NULL is fine. */
void fastpath_close(struct fastpath *fp);

/* Interfaces attached: names and modes (for logs and tern stats). */
unsigned fastpath_nifs(const struct fastpath *fp);
const char *fastpath_ifname(const struct fastpath *fp, unsigned i);
enum fastpath_attach fastpath_if_mode(const struct fastpath *fp, unsigned i);
const char *fastpath_attach_name(enum fastpath_attach a);

/* ternd is alive until now + the grace the loader keeps (a few seconds):
 * call at least once a second. */
void fastpath_heartbeat(struct fastpath *fp);

/* Install a mapping for worker w, relaying until expires_ns
 * (CLOCK_MONOTONIC_COARSE ns). 0 and *slot; -ENOSPC when w's slots are all
 * used, -errno when the kernel refuses the map update (nothing installed). */
int fastpath_map_add(struct fastpath *fp, unsigned w, const struct fastpath_mapping *m, uint64_t expires_ns,
                     uint32_t *slot);
/* Move the expiry of an installed mapping (a refresh): no syscall. */
void fastpath_map_expire(struct fastpath *fp, uint32_t slot, uint64_t expires_ns);
/* Remove: the program stops relaying it at once; out (may be NULL)
 * receives its final counters; the slot returns to worker w. */
void fastpath_map_del(struct fastpath *fp, unsigned w, uint32_t slot, const struct fastpath_mapping *m,
                      struct fastpath_counts *out);
/* The counters of an installed mapping (no syscall). */
void fastpath_map_read(const struct fastpath *fp, uint32_t slot, struct fastpath_counts *out);

/* The program's counters summed over CPUs (bpf/fastpath_abi.h enum fp_stat,
 * FASTPATH_STATS of them). 0 or -errno. */
#define FASTPATH_STATS 14
int fastpath_stats(const struct fastpath *fp, uint64_t out[FASTPATH_STATS]);
/* The kernel's accounting of the program (run time and runs, over all
 * attached programs), non-zero only while sysctl kernel.bpf_stats_enabled=1.
 * 0 or -errno. */
int fastpath_prog_stats(const struct fastpath *fp, uint64_t *run_ns, uint64_t *run_cnt);

/* CLOCK_MONOTONIC_COARSE in ns: the program's clock. */
uint64_t fastpath_now_ns(void);

/* A one-line reason for an error of fastpath_open. */
const char *fastpath_strerror(int err);

#endif
