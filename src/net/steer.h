/* eBPF steering of SO_REUSEPORT groups (steering=ebpf, docs/STEERING.md).
 *
 * One program serves every listening address: a new client flow goes to
 * the least-loaded worker (decayed datagram count, ties to fewer flows) and
 * stays on it (flow -> worker LRU map). It fails open: when it cannot load
 * the caller keeps the kernel's reuseport hash, and when the program cannot
 * select a socket for a datagram the kernel hash takes that datagram.
 *
 * Threads: steer_new / steer_attach / steer_free from one thread (start and
 * stop); steer_decay, steer_stats, steer_pin and steer_unpin from any
 * thread once attached. Sockets are borrowed: steer never closes them.
 *
 * Returns: 0 (or a count) on success, -errno on failure. -EOPNOTSUPP means
 * tern was built without eBPF (no clang or libbpf-dev at configure time). */
#ifndef TERN_NET_STEER_H
#define TERN_NET_STEER_H

#include <stdbool.h>
#include <stdint.h>

#include "util/addr.h"

/* Workers per program, and reuseport groups (listening addresses). */
#define STEER_MAX_WORKERS 256
#define STEER_MAX_GROUPS  64

struct steer;

/* True when this binary carries the eBPF program (it may still fail to
 * load: no privilege, old kernel). */
bool steer_built(void);

/* Load the program and its maps for nworkers workers (1..STEER_MAX_WORKERS).
 * Needs CAP_BPF + CAP_NET_ADMIN (or root). On failure *out is NULL and the
 * caller goes on with the kernel hash; steer_strerror() words the reason. */
int steer_new(unsigned nworkers, struct steer **out);

/* Steer one reuseport group: fds[i] is worker i's socket on one listening
 * address, n == nworkers, all already bound (SO_REUSEPORT) so the group is
 * complete. Fills the group's socket slots, then attaches the program
 * (SO_ATTACH_REUSEPORT_EBPF). Up to STEER_MAX_GROUPS groups; a failed
 * attach leaves that group on the kernel hash and the others steered. */
int steer_attach(struct steer *s, const int *fds, unsigned n);

/* Halve every worker's load: load becomes a rate (about 2 s of datagrams
 * when called once a second). Lock-free, no syscall. */
void steer_decay(struct steer *s);

struct steer_worker_stats {
	uint64_t load;  /* decayed datagrams + new-flow credits: what "least" compares */
	uint64_t flows; /* flows assigned to this worker since start */
	uint64_t fails; /* datagrams the program could not place (kernel hash took them) */
};
/* Copy min(n, nworkers) workers' counters into out; returns that count. */
int steer_stats(struct steer *s, struct steer_worker_stats *out, unsigned n);

/* Keep client's flow to the listening port local_port on worker, even if
 * the flow table evicts it (a worker calls this once it owns an allocation
 * for the flow; steer_unpin when the allocation ends). An IPv4-mapped
 * client counts as IPv4, as the program sees it. */
int steer_pin(struct steer *s, const union tern_addr *client, uint16_t local_port, unsigned worker);
int steer_unpin(struct steer *s, const union tern_addr *client, uint16_t local_port);

/* Detach the program from every group whose socket is still open, and
 * free everything. Traffic goes on with the kernel hash. NULL is a no-op. */
void steer_free(struct steer *s);

/* One phrase for a steer_new / steer_attach error, for the log line. */
const char *steer_strerror(int err);

#endif
