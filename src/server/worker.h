/* One worker: a thread, its loop, its listeners and its TURN core. Internal
 * to server/. */
#ifndef TERN_SERVER_WORKER_H
#define TERN_SERVER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <openssl/ssl.h>

#include "net/loop.h"
#include "net/udp.h"
#include "server/stats.h"
#include "turn/turn.h"
#include "util/siphash.h"
#include "ternd/config/config.h"

struct worker;

struct listener {
	struct net_handler h;
	struct worker *w;
	union tern_addr addr;
	bool wild;            /* bound to 0.0.0.0 / ::: learns each datagram's local address (PKTINFO) */
	uint32_t kdrops_seen; /* the socket's kernel drop counter when last read */
};

/* The worker's fd table: one slot per fd number. A relay socket registered
 * on this worker's loop is an active slot, and so is a connected client
 * socket (client-sockets=connected: alloc is its allocation, the handler
 * serves the client side). Slots are never freed while the
 * worker runs, so a stale event for a closed socket can never touch freed
 * memory. */
struct conn;

struct relay_sock {
	struct net_handler h;
	struct worker *w;
	struct turn_alloc *alloc;
	uint32_t kdrops_seen;
	bool active;
	bool pinned; /* its allocation's client flow is pinned in the eBPF steering map */
	/* A client connection on this fd (NULL: none). gen counts the
	 * connections this slot has held: with the fd it makes the endpoint
	 * handle (turn_ep id, gen), so a handle to a closed connection never
	 * names the next one on the same fd number. */
	struct conn *conn;
	uint32_t gen;
};

/* A TCP listening socket of this worker (SO_REUSEPORT: the kernel spreads
 * connections over the workers' accept loops). */
/* What a stream listener's connections start with: STUN or a ClientHello
 * (listening-port and tls-listening-port: the first byte decides), or a
 * PROXY protocol header first (tcp-proxy-port). */
enum tcp_kind { TCP_KIND_PLAIN, TCP_KIND_TLS, TCP_KIND_PROXY, TCP_KINDS };

struct tcp_listener {
	struct net_handler h;
	struct worker *w;
	union tern_addr addr;
	uint8_t kind; /* enum tcp_kind */
};

/* The port of a kind of stream listener on every listening address, or 0
 * when the configuration opens none. */
uint16_t worker_stream_port(const struct tern_config *cfg, enum tcp_kind kind);
/* Its name in logs: "tcp", "tls", "tcp-proxy". */
extern const char *const worker_stream_name[TCP_KINDS];

/* Relay sockets closed during a loop turn: closed for real after the
 * turn's flush (or an early flush when this many pile up), so that no
 * queued datagram can leave through a descriptor number the kernel has
 * handed to another socket meanwhile. */
#define WORKER_CLOSE_BATCH 256

struct steer;
struct tls_server;
struct dtls_sess;

struct server_shared {
	const struct tern_config *cfg;
	struct turn_params params; /* template: shared pointers filled in */
	union tern_addr relay_v4[CFG_MAX_ADDRS], relay_v6[CFG_MAX_ADDRS];
	unsigned nrelay_v4, nrelay_v6;
	bool gso;                /* UDP_SEGMENT sends (probed at start, gso option) */
	unsigned batch_delay_us; /* adaptive batching: longest pause, 0 = off */
	bool client_sockets;     /* client-sockets=connected: a connected UDP socket per allocation */
	struct steer *steer;     /* eBPF steering, or NULL (kernel hash); set before workers start */
	struct fastpath *fastpath; /* the kernel fast path, or NULL; opened before the workers' init */
	/* TCP connection limits: per worker (max-connections / workers), and
	 * per source (IPv4 address or IPv6 /64) over the whole server, counted
	 * in CONN_SRC_SLOTS shared counters keyed by SipHash (sources that
	 * collide share a counter: the bound per source always holds) */
	unsigned conn_cap, conn_cap_per_src, allocate_timeout_ms, handshake_timeout_ms, shutdown_timeout_ms;
	struct tls_server *tls; /* NULL: TLS off */
	_Atomic uint32_t *conn_per_src;
	struct sip_key conn_key;
};

struct worker {
	unsigned id;
	pthread_t thread;
	bool started;
	volatile bool stop;
	volatile bool dump;
	struct worker_req *req; /* posted by worker_call (atomic) */
	struct server_shared *sh;
	struct net_loop *loop;
	struct listener listeners[CFG_MAX_ADDRS * 2];
	unsigned nlisteners;
	struct tcp_listener tlisteners[CFG_MAX_ADDRS * TCP_KINDS];
	unsigned ntlisteners;
	/* client connections (server/conn.c): all of them, those with output
	 * queued this turn, those closed this turn (freed after the flush) */
	struct conn *conns, *out_pending, *dead;
	struct conn *rd_again; /* to read again next turn (conn_read_again) */
	struct conn *failed;   /* a write failed this turn: closed at its end */
	uint64_t turn_seq;     /* loop turns: one read per connection per turn */
	bool draining;         /* shutting down: connections only write what is queued */
	SSL_CTX *tls_ctx;      /* reference to the TLS context of generation tls_gen */
	uint8_t *frame;        /* one frame made contiguous for a TLS record (CONN_IN_MAX) */
	uint32_t tls_gen;
	int reserve_fd; /* given up to accept and drop a connection when out of fds */
	/* DTLS (server/dtls.c): sockets on tls-listening-port, sessions by
	 * 5-tuple (buckets) and by endpoint id (slots, with generations) */
	struct listener dlisteners[CFG_MAX_ADDRS * 2];
	unsigned ndlisteners;
	struct dtls_sess **dslots, **dbuckets, *dsess, *dfailed;
	uint32_t *dgens, *dfree;
	unsigned dslot_cap, nfree;
	struct sip_key dkey;
	SSL_CTX *dtls_ctx;
	uint32_t dtls_gen;
	/* copies of datagrams queued on the UDP batch (DTLS records): reset
	 * at each flush */
	uint8_t *arena;
	size_t arena_len;
	struct turn *turn;
	/* Receive batches of this loop turn: queued sends borrow their payloads,
	 * so a batch is reused only after the flush at the end of the turn (or
	 * an early flush when all RX_POOL batches are in use). */
	struct udp_rx *rxpool[4];
	unsigned rxused;
	struct udp_tx *tx;
	uint8_t (*hdr)[TURN_TX_HDR_MAX]; /* NET_TX_BATCH header copies for tx entries */
	struct relay_sock *relays;       /* indexed by fd */
	unsigned nrelays;                /* size of relays[] */
	int closing[WORKER_CLOSE_BATCH]; /* closed by the core this turn, not yet close(2)d */
	unsigned nclosing;
	/* client-sockets=connected: while a connected client socket's
	 * datagrams or its allocation's peer datagrams are handled, answers to
	 * that client leave through it (-1: none) */
	int tx_csock;
	const union tern_addr *tx_cremote;
	uint64_t csock_live, csock_fail, csock_rx;
	unsigned next_relay; /* round robin over relay addresses */
	uint64_t rng;
	bool time_stale;
	uint64_t now_us; /* this loop turn's monotonic clock */
	/* adaptive batching */
	uint64_t win_start, win_count, rate_per_ms;
	/* engine counters */
	uint64_t rx_batches, rx_datagrams, rx_trunc, relay_open_fail, pauses;
	uint64_t rx_no_local; /* datagrams on a wildcard listener without PKTINFO (dropped) */
	/* TCP: connections accepted, closed, live; accepts refused for lack of
	 * descriptors or memory; frames too long or not STUN/ChannelData
	 * (connection closed); client data dropped on a full output queue */
	uint64_t tcp_accepted, tcp_closed, tcp_live, tcp_accept_fail, tcp_bad_frame, tcp_out_dropped;
	uint64_t tcp_refused;  /* over max-connections or max-connections-per-ip: closed at once */
	uint64_t tcp_timeouts; /* closed for holding no allocation after max-allocate-timeout */
	/* TLS: handshakes done (of which resumed), failed, timed out; TLS
	 * connections live; ClientHellos refused because TLS is off */
	uint64_t tls_handshakes, tls_resumed, tls_hs_fail, tls_hs_timeouts, tls_live, tls_refused;
	uint64_t tls_half_open, tls_hs_busy; /* handshakes in progress; refused at TLS_HALF_OPEN_MAX */
	/* DTLS: sessions live, of which in their handshake; handshakes done,
	 * failed, timed out; HelloVerifyRequests sent; ClientHellos refused
	 * at the limits; datagrams dropped (not DTLS, no session, bad);
	 * messages too long for one record */
	uint64_t dtls_live, dtls_half_open, dtls_handshakes, dtls_hs_fail, dtls_hs_timeouts,
	    dtls_hello_verify, dtls_refused, dtls_dropped, dtls_too_big;
	uint64_t dtls_restarts; /* sessions replaced by a new handshake from the same 5-tuple */
	/* PROXY protocol: headers taken (of which LOCAL or without a usable
	 * address), connections closed for a bad or missing header */
	uint64_t proxy_headers, proxy_local, proxy_bad;
	uint64_t kernel_drops;    /* receive-queue overflows (SK_MEMINFO_DROPS) */
	uint64_t drops_polled_us; /* listeners' drop counters last read */
	/* eBPF steering: client flows pinned to this worker (live), pin failures */
	uint64_t steer_pinned, steer_pin_fail;
	/* histograms (server/stats.h): datagrams per receive batch, TLS
	 * handshake time (ms) */
	uint64_t batch_hist[METRIC_HIST_WORDS(STATS_BATCH_NB)];
	uint64_t tls_hs_hist[METRIC_HIST_WORDS(STATS_TLS_NB)];
	/* Counters above are written by this worker only and read by other
	 * threads: a worker starts on a cache line of its own (the array of
	 * workers is allocated aligned), so no two workers write one line. */
} __attribute__((aligned(64)));

/* One receive batch of n datagrams: counted, and its size observed. */
static inline void worker_count_batch(struct worker *w, unsigned n)
{
	w->rx_batches++;
	w->rx_datagrams += n;
	metric_hist_add(w->batch_hist, stats_batch_bounds, STATS_BATCH_NB, n);
}

/* Queue fd to be closed after this turn's flush (docs/ARCHITECTURE.md:
 * close after the flush). */
void worker_close_later(struct worker *w, int fd);
/* Queue a copy of one datagram (kept until the flush) on fd to dst, from
 * src when not NULL (a wildcard socket's local address). */
void worker_queue_copy(struct worker *w, int fd, const union tern_addr *src, const union tern_addr *dst,
                       const uint8_t *data, size_t len);
#define WORKER_ARENA (256 << 10)
#define DTLS_BUCKETS 4096

/* A request of the main thread (the control socket), served by the worker
 * between two loop turns, where its core may be read and changed. */
enum worker_req_kind {
	WREQ_SESSIONS, /* one line per live allocation into out (of user only, unless NULL) */
	WREQ_KICK,     /* delete every allocation of user */
	WREQ_PARAMS,   /* reload: take params (turn_set_params) */
};
struct worker_req {
	enum worker_req_kind kind;
	const char *user;
	bool json;      /* SESSIONS: JSON objects, comma-separated, instead of text lines */
	FILE *out;      /* SESSIONS */
	const struct turn_params *params; /* PARAMS */
	int rc;                           /* PARAMS: turn_set_params's */
	unsigned count; /* the answer: allocations listed or deleted */
	int done;       /* set by the worker (atomic) */
};
/* Serve r on w (the main thread; one request at a time per worker) and
 * wait for it: true when served, false when w did not take it within
 * timeout_ms (then it never will). */
bool worker_call(struct worker *w, struct worker_req *r, int timeout_ms);

/* Create the worker and bind its listening sockets. 0 or -errno. */
int worker_init(struct worker *w, unsigned id, struct server_shared *sh);
int worker_start(struct worker *w);
/* Ask to stop (any thread) and join. */
void worker_stop(struct worker *w);
void worker_free(struct worker *w);

#endif
