/* The `tern` command's subcommands (src/tools/): entry points, and the
 * interfaces the files of `tern bench` share (bench*.c).
 *
 * A subcommand gets argv starting at its own name and returns the process
 * exit status: 0 success, 1 failure, 2 usage error. */
#ifndef TERN_TOOLS_TOOLS_H
#define TERN_TOOLS_TOOLS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "util/addr.h"
#include "util/hist.h"

/* ---- entry points (one per src/tools/<name>.c) ---- */

int cmd_creds(int argc, char **argv); /* creds.c */
int cmd_bench(int argc, char **argv); /* bench.c; `tern bench peer` goes to cmd_bench_peer */
int cmd_scale(int argc, char **argv); /* scale.c */
int cmd_stats(int argc, char **argv); /* ctl.c */
int cmd_ctl(int argc, char **argv);   /* ctl.c */

/* scale.c, shared with `tern bench --server-pid`: a process's utime+stime
 * in clock ticks (0 when unreadable) and its VmRSS in kB (-1). */
uint64_t proc_cpu_ticks(long pid);
long proc_rss_kb(long pid);

/* ======================================================================
 * tern bench internals (bench.c options and report, bench_turn.c TURN
 * client, bench_flood.c generator loop, bench_peer.c peer and its control
 * query). See docs/BENCH.md for the user's view.
 * ====================================================================== */

/* Application payload of every bench datagram (inside ChannelData, a Send
 * indication, or alone with --raw), big endian:
 *   0..3   magic "TBN1"
 *   4..7   run id (random per generator run)
 *   8      phase: 0 warm-up (discarded everywhere), 1 measured
 *   9      reserved (0)
 *   10..11 allocation index (mod 65536)
 *   12..15 sequence number within the allocation (mod 2^32)
 *   16..23 send time, CLOCK_MONOTONIC ns of the generator
 *   24..   filler */
#define BENCH_MAGIC    "TBN1"
#define BENCH_HDR      24
#define BENCH_MIN_SIZE BENCH_HDR
/* ternd and the peer read datagrams into 2 KiB slots (net/udp.h), so the
 * payload plus the largest TURN framing (Send indication over IPv6: 48
 * bytes) stays below that. */
#define BENCH_MAX_SIZE   1900
#define BENCH_MAX_SIZES  8
#define BENCH_PHASE_WARM 0
#define BENCH_PHASE_MEAS 1

/* Control query (generator -> peer, straight, not through the relay):
 *   query: "TBNCH?" + run id (4)                                  10 bytes
 *   reply: "TBNCH=" + run id (4) + measured datagrams (8)
 *          + measured payload bytes (8) + warm-up datagrams (8)
 *          + datagrams of no known run (8)                        42 bytes
 * The peer answers from the socket the query reached, to its source; a run
 * it never saw is answered with zeros. Queries are never echoed or counted. */
#define BENCH_QUERY      "TBNCH?"
#define BENCH_REPLY      "TBNCH="
#define BENCH_CTL_PREFIX 6
#define BENCH_QUERY_LEN  10
#define BENCH_REPLY_LEN  42

struct bench_sink_count {
	uint64_t measured, bytes, warm, other;
};

enum bench_mode { BENCH_RTT, BENCH_ONEWAY };
/* What a run does: relay datagrams (bench_flood.c), or, over TCP,
 * open and close connections (--churn) or hold them (--idle; both
 * bench_churn.c). */
enum bench_kind { BENCH_FLOOD, BENCH_CHURN, BENCH_IDLE };
#define BENCH_MAX_SOURCES 256

struct bench_xprt;
struct stun_msg;

/* --transport tcp: receive buffer per allocation (frames are cut from it)
 * and the most a short write can leave pending (a burst's frames). */
#define BENCH_STREAM_BUF (256 << 10)
#define BENCH_PEND_BUF   (512 << 10)

struct bench_cfg {
	union tern_addr server;
	union tern_addr peer; /* family 0 when not given */
	union tern_addr bind; /* local address of the generator's sockets */
	enum bench_mode mode;
	unsigned allocations;
	bool peers_shared;
	bool indications, raw, gso, live;
	bool tcp; /* --transport tcp or tls: each allocation over its own TCP connection */
	bool tls; /* --transport tls: TLS over that connection (tcp is set too) */
	/* --transport tls: the client SSL_CTX (bench_tls_init), the CA file to
	 * verify the server against (NULL: no verification), the SNI name
	 * (NULL: none), and --tls-resume (churn: resume an earlier session) */
	void *tls_ctx;
	const char *tls_ca, *tls_sni;
	bool tls_resume;
	int tls_max; /* --tls-max: highest version offered (TLS1_2_VERSION...; 0: 1.3) */
	unsigned threads;
	/* credentials as sent (REST ones already derived) */
	const char *username, *password;
	double pps; /* total offered datagrams/s; 0 = as fast as possible */
	double seconds, warmup, drain;
	unsigned sizes[BENCH_MAX_SIZES];
	unsigned nsizes;
	unsigned burst_us; /* 0 = even pacing */
	uint32_t run;
	unsigned lifetime; /* requested allocation lifetime, s */
	/* --churn / --idle */
	enum bench_kind kind;
	unsigned connections; /* churn: concurrent clients; idle: connections held */
	/* local addresses: connection i uses sources[i % nsources] (one entry,
	 * `bind`, unless --sources is given) */
	union tern_addr sources[BENCH_MAX_SOURCES];
	unsigned nsources;
	bool close_rst;  /* churn: end each cycle with a reset (SO_LINGER 0), not a FIN */
	double rate;     /* churn: cycles/s started over all clients; 0 = as fast as they complete */
	double timeout;  /* churn/idle: limit of one cycle or setup, s */
	unsigned window; /* idle: setups in flight at most */
	long server_pid; /* > 0: sample this process's CPU time and VmRSS */
	const struct bench_xprt *xprt; /* churn/idle: the clients' transport */
};

/* One allocation (or, with --raw, one plain socket) of the generator. */
struct bench_alloc {
	unsigned index;
	int fd; /* connected to the server */
	union tern_addr local, relayed, peer;
	uint16_t channel;
	/* long-term credentials state, learnt from the 401 */
	char realm[128];
	uint8_t nonce[128];
	size_t nonce_len;
	uint8_t key[16];
	bool have_key; /* key is MD5(username:realm:password) for this realm */
	/* Send-indication framing prebuilt by bench_frame_init: STUN header +
	 * XOR-PEER-ADDRESS + DATA attribute header; lengths and transaction id
	 * patched per datagram. */
	uint8_t ind_hdr[64];
	unsigned ind_hdr_len;
	uint32_t seq;
	/* Refresh of the allocation, permission and channel during long runs:
	 * the answers come back on the data path (bench_turn_answer). */
	uint64_t maint_due_ns, maint_sent_ns;
	unsigned maint_pending; /* bit 0 Refresh, bit 1 ChannelBind/CreatePermission */
	/* --transport tcp: bytes received and not yet cut into frames, and the
	 * tail of a frame the kernel did not take (sent before anything new) */
	uint8_t *sbuf, *pend;
	size_t slen, plen;
	/* --transport tls: the connection's SSL (its writes go to a memory BIO
	 * and leave through pend, so a burst's records still leave in one
	 * send) */
	void *ssl;
	uint8_t maint_txid[2][12];
};

/* Per-thread counters, owned by the thread; the thread publishes a copy
 * (relaxed atomics, no lock) for the live line. */
struct bench_stats {
	uint64_t sent;         /* measured datagrams handed to the kernel */
	uint64_t sent_warm;    /* the same during the warm-up */
	uint64_t send_blocked; /* not sent: socket buffer full (EAGAIN) */
	uint64_t send_failed;  /* not sent: another error */
	uint64_t received;     /* measured datagrams back (rtt mode) */
	uint64_t recv_warm;
	uint64_t bad;                    /* received datagrams that are no bench payload of this run */
	uint64_t recv_errors;            /* recvmmsg errors (ICMP unreachable...) */
	uint64_t maint_ok, maint_errors; /* refresh answers (long runs) */
	uint64_t wakeups, send_calls;
	struct hist rtt; /* measured round trips, ns */
};

struct bench_thread {
	unsigned id;
	const struct bench_cfg *cfg;
	struct bench_alloc **allocs;
	unsigned nallocs;
	double pps;     /* this thread's share */
	uint64_t t0_ns; /* common start: the warm-up begins */
	struct bench_stats st;
	/* published for the live line */
	_Atomic uint64_t pub_sent, pub_recv, pub_p50, pub_p99, pub_phase;
	struct bench_thread *all; /* every thread (the live line of thread 0 sums them) */
	unsigned nthreads;
	uint64_t meas_end_ns; /* when the measurement really ended (SIGINT may end it early) */
	int err;
};

/* Set by SIGINT/SIGTERM: the generator ends the measurement early and
 * reports; the peer stops. */
extern _Atomic int bench_stop;

uint64_t bench_now_ns(void);

/* bench_turn.c: open a's socket (connected to the server) and, unless
 * cfg->raw, Allocate (learning realm and nonce from the 401), then
 * CreatePermission and ChannelBind to a->peer (CreatePermission only with
 * indications). Requests are retransmitted (100 ms doubling, 5 tries). On
 * failure prints one line "tern bench: allocation N: ..." and returns
 * -errno or the STUN error code (> 0); 0 on success. */
int bench_setup(const struct bench_cfg *cfg, struct bench_alloc *a);
/* The request `method` of allocation a (LIFETIME when non-zero, and the
 * long-term credentials once a nonce is known) into buf. Its length, or
 * -ENOSPC. */
int bench_build_req(const struct bench_cfg *cfg, const struct bench_alloc *a, uint16_t method,
                    uint32_t lifetime, const uint8_t txid[12], uint8_t *buf, size_t cap);
/* The long-term credential flow (RFC 8489 §9.2), written once for the
 * blocking setup and the non-blocking modes: given the answer m to a
 * request sent with (had_auth) or without credentials, 0 for a success,
 * BENCH_AUTH_RETRY when a first 401 or a 438 (at most 3) taught a nonce (a
 * has it; send the request again), else the error code (> 0; 400 when
 * unreadable). The counters start at 0 for each request. */
#define BENCH_AUTH_RETRY (-1)
int bench_auth_answer(const struct bench_cfg *cfg, struct bench_alloc *a, const struct stun_msg *m,
                      bool had_auth, unsigned *auth_retries, unsigned *stale_retries);
/* Prebuild the Send-indication framing (after bench_setup). */
void bench_frame_init(const struct bench_cfg *cfg, struct bench_alloc *a);
/* Long runs: re-send Refresh and ChannelBind/CreatePermission every 120 s
 * (and again after 2 s without an answer). Called about once a second. */
void bench_turn_maint(const struct bench_cfg *cfg, struct bench_alloc *a, uint64_t now_ns,
                      struct bench_stats *st);
/* A STUN answer that arrived on the data path: 1 when it was ours
 * (consumed), 0 otherwise. A 438 updates the nonce and re-arms the refresh. */
int bench_turn_answer(const struct bench_cfg *cfg, struct bench_alloc *a, const uint8_t *buf, size_t len,
                      uint64_t now_ns, struct bench_stats *st);
/* Best effort: delete the allocation (Refresh, LIFETIME 0), close the socket. */
void bench_teardown(const struct bench_cfg *cfg, struct bench_alloc *a);

/* ---- --churn and --idle (bench_churn.c, bench_xprt.c) ---- */

/* A client connection as the churn and idle modes see it, through a table
 * of transport operations (HAProxy's xprt_ops, nginx's ngx_connection_t
 * send/recv): plain TCP now; TLS plugs in as another table, its state in
 * `tls` and its handshake in ready(). Every operation is non-blocking. */
struct bench_xconn {
	int fd;
	void *tls; /* the transport's own state (NULL for TCP): an SSL */
	/* TLS: the SSL_CTX; the session to resume (kept across close when
	 * resume is set: the latest resumable one); whether the last
	 * handshake resumed one */
	void *ctx, *sess;
	const char *sni;     /* NULL: no SNI */
	const char *version; /* of the last handshake ("TLSv1.3"), NULL before */
	bool resume, resumed;
};

struct bench_xprt {
	const char *name; /* "tcp": the JSON's client_transport */
	/* Start connecting from src (port 0; family 0 = any local address) to
	 * dst; x->fd is then the socket to watch. 0 (connection under way or
	 * made) or -errno (-EADDRNOTAVAIL: no local port left). */
	int (*open)(struct bench_xconn *x, const union tern_addr *src, const union tern_addr *dst);
	/* Drive the connection up until data can flow (TLS: the handshake):
	 * 1 ready, 0 not yet (wait for *events, EPOLLIN/EPOLLOUT, and call
	 * again), -errno failed. TCP answers 1 at once: an early send sees
	 * -EAGAIN while the handshake is under way, and its error if it failed. */
	int (*ready)(struct bench_xconn *x, uint32_t *events);
	/* Bytes received (> 0), 0 at the peer's orderly close, -EAGAIN, -errno. */
	ssize_t (*recv)(struct bench_xconn *x, void *buf, size_t cap);
	/* Bytes taken (> 0, maybe fewer than len), -EAGAIN, -errno. */
	ssize_t (*send)(struct bench_xconn *x, const void *buf, size_t len);
	/* Close and free; abort: a reset (TCP: SO_LINGER 0, no TIME_WAIT
	 * left behind) instead of an orderly close. x->fd is -1 after. */
	void (*close)(struct bench_xconn *x, bool abort);
};

extern const struct bench_xprt bench_xprt_tcp;
/* TLS over the same socket: ready() runs the handshake (non-blocking);
 * each send() is one SSL_write, so one TLS record per frame as coturn's
 * clients expect; recv() returns decrypted bytes. */
extern const struct bench_xprt bench_xprt_tls;

/* --transport tls: make cfg->tls_ctx (TLS 1.2 and 1.3, verification
 * against cfg->tls_ca or none). idle: buffers are released between
 * reads (many connections held). 0 or -1 (one line printed). */
int bench_tls_init(struct bench_cfg *cfg);
/* Free the session a connection kept for resumption. */
void bench_tls_forget(struct bench_xconn *x);

/* The datagram modes over TLS (bench_turn.c, bench_flood.c): a blocking
 * handshake on fd (connected, blocking; at most timeout_ms) whose SSL then
 * writes into a memory BIO: *ssl, 0 or -errno / -EPROTO (a line printed
 * with the reason). */
int bench_tls_handshake(const struct bench_cfg *cfg, int fd, unsigned index, int timeout_ms, void **ssl);
/* Encrypt buf as one TLS record and append the ciphertext to
 * pend[*plen..cap): 0, -ENOSPC (nothing appended), -EPROTO. */
int bench_tls_seal(void *ssl, const void *buf, size_t len, uint8_t *pend, size_t *plen, size_t cap);
/* Decrypted bytes into buf: > 0, 0 at the server's close, -EAGAIN, -errno. */
ssize_t bench_tls_read(void *ssl, void *buf, size_t cap);
void bench_tls_free(void *ssl);

/* The whole --churn or --idle run (cfg->kind): connections, the report
 * (one JSON line on stdout). Returns the exit status. */
int bench_churn_run(const struct bench_cfg *cfg);

/* bench_flood.c: the generator loop of one thread; returns NULL. */
void *bench_thread_run(void *arg);

/* bench_peer.c */
int cmd_bench_peer(int argc, char **argv);
/* Ask the sink at `peer` for run's counts (retried, about 1.5 s at most).
 * 0 or -ETIMEDOUT / -errno. */
int bench_query_sink(const union tern_addr *peer, uint32_t run, struct bench_sink_count *out);

#endif
