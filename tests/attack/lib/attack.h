/* Helpers of the attack suite (tests/attack/at_*.c) and the soak test, on
 * top of the integration tests' turnc library (tests/integration/lib/):
 *
 *  - the server's counters, read from its stats socket (--stats-socket),
 *  - the server's resident memory and open descriptors, from /proc,
 *  - a "fence": a request whose answer proves the server has processed
 *    everything sent before it on the same socket (same 5-tuple, same
 *    worker, same queue), so that "no answer came" and "the counter moved
 *    by exactly N" are exact statements, not waits for things to settle,
 *  - running a test inside a private network namespace (as it_policy does).
 *
 * Return convention as in tern: 0 or a positive value, -errno on failure. */
#ifndef TERN_ATTACK_H
#define TERN_ATTACK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "it.h"

/* ---- counters (the stats socket's JSON, summed over workers) ---- */

struct at_stats {
	uint64_t rx_client, rx_peer, relayed_to_peer, relayed_to_client;
	uint64_t dropped, dropped_malformed, dropped_policy, dropped_ratelimit;
	uint64_t kernel_drops, tx_drops;
	uint64_t allocations, allocations_created, allocations_deleted, allocations_expired;
	uint64_t auth_failures;
	uint64_t allocations_total; /* server-wide (not per worker) */
	uint64_t tcp_accepted, tcp_closed, tcp_connections, tcp_refused, tcp_timeouts, tcp_bad_frames;
	uint64_t tls_handshakes, tls_resumed, tls_handshake_failures, tls_handshake_timeouts, tls_connections,
	    tls_refused;
	unsigned workers;
};

/* The start of an attack test's main(): srv_setup(), then against coturn
 * (which has no stats socket) one skipped check named `what` and exit 0,
 * else tap_watchdog(watchdog_s). */
void at_setup(int argc, char **argv, const char *what, unsigned watchdog_s);

/* Read the counters from the unix socket at path. 0, or -errno (also when
 * a field is missing: the server is too old for these tests). */
int at_stats_read(const char *path, struct at_stats *st);
/* The JSON text of the last successful read (for diagnostics). */
const char *at_stats_last_json(void);

/* A server started with a stats socket in its own temp directory. */
struct at_srv {
	struct srv s;
	char stats[128]; /* socket path */
	char dir[64];    /* temp dir holding it */
};

/* srv_start() with "--stats-socket PATH" added (args is NULL-terminated, as
 * for srv_start). Returns 0 or -errno; on error the log tail was printed. */
int at_srv_start(struct at_srv *a, unsigned relay_ports, const char *const *args);
/* Stop (reporting a clean exit as a check) and remove the temp dir. */
void at_srv_stop(struct at_srv *a);

/* ---- the server process ---- */

/* VmRSS of pid in KiB, or -errno. */
long at_rss_kb(pid_t pid);
/* VmHWM (peak VmRSS) of pid in KiB, or -errno; reset it to VmRSS (Linux
 * 4.0: clear_refs 5). 0 or -errno. */
long at_hwm_kb(pid_t pid);
int at_hwm_reset(pid_t pid);
/* Number of open descriptors of pid (entries of /proc/pid/fd), or -errno. */
long at_fd_count(pid_t pid);
/* One Binding round trip on c's socket. ternd closes a deleted allocation's
 * relay socket at the end of the loop turn that deleted it, after that
 * turn's answers have left (docs/ARCHITECTURE.md, close after the flush):
 * the answer to a later request on the same 5-tuple comes from a later turn
 * of the same worker, so descriptors counted after it are exact. */
void at_settle(struct turnc *c);
/* True when pid runs with AddressSanitizer (libasan mapped). Its allocator
 * keeps freed memory in a quarantine (256 MiB by default), so resident
 * memory grows with every malloc/free pair, leak or not: memory flatness is
 * asserted on release builds only (ASan finds leaks itself, at exit). */
bool at_asan(pid_t pid);
/* A memory-flatness check: ok when grew_kb <= slack_kb; under ASan (above)
 * reported as a skip, with the numbers. Returns the check's outcome (true
 * when skipped). */
bool at_check_rss(pid_t pid, long grew_kb, long slack_kb, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- raw traffic ---- */

/* Send a Binding request on c and wait (up to timeout_ms) for its answer.
 * Every other datagram that arrives first is counted in *stray (if not
 * NULL): with the fence sent after a batch, *stray is exactly the number of
 * answers the batch provoked. 0, or -ETIMEDOUT. */
int at_fence(struct turnc *c, unsigned *stray, int timeout_ms);

/* Build a STUN message header (type, length field, cookie, random txid)
 * into buf (20 bytes); returns 20. */
size_t at_hdr(uint8_t *buf, uint16_t type, uint16_t length);
/* Append a raw attribute at buf[off] (type, length field, value, zero
 * padding to 4); returns the new offset. The length field is `len` as given:
 * the caller may lie with it. */
size_t at_attr(uint8_t *buf, size_t off, uint16_t type, uint16_t len, const void *val, size_t vlen);
/* Set the header length field to off - 20. */
void at_fix_len(uint8_t *buf, size_t off);

#endif
