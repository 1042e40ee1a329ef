/* TURN/STUN protocol core (RFC 8656, RFC 8489 Binding, RFC 6156 families).
 *
 * Sans-I/O: this module never calls a socket function. One struct turn per
 * worker thread holds that worker's allocations, permissions, channels and
 * timers. The worker drives it with events:
 *   turn_set_time()   once per loop turn (the clock is not read here),
 *   turn_on_client()  a datagram from a client on a listening socket,
 *   turn_on_peer()    a datagram from a peer on an allocation's relay socket,
 *   turn_on_tick()    expiry of allocations, permissions, channels,
 * and everything that must go out is handed to io->send(), whose callee
 * queues it in its output batch and flushes at the end of the turn.
 * Relay sockets are opened/closed through io callbacks, only after an
 * authenticated Allocate.
 *
 * Ownership: the core borrows the datagram for the duration of the call; a
 * payload passed to io->send() points into it, so the caller must flush
 * before reusing its receive buffer. */
#ifndef TERN_TURN_TURN_H
#define TERN_TURN_TURN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "turn/policy.h"
#include "util/addr.h"

struct turn;
struct turn_alloc;
struct turn_shared;

/* Largest header the core hands to io->send() (a STUN response is built
 * whole in it; a Data indication header is 20 + 24 + 4 bytes). */
#define TURN_TX_HDR_MAX 512

enum turn_relay_flags {
	TURN_RELAY_EVEN = 1 << 0,         /* EVEN-PORT: relayed port must be even */
	TURN_RELAY_RESERVE_NEXT = 1 << 1, /* EVEN-PORT R=1: also open port+1 and hand it back */
	TURN_RELAY_DF = 1 << 2,           /* DONT-FRAGMENT: set DF on the relay socket */
};

/* The transports a client reaches the server over. */
enum turn_transport {
	TURN_T_UDP = 0,
	TURN_T_TCP = 1,
	TURN_T_TLS = 2,
	TURN_T_DTLS = 3,
};

/* Datagram transports lose and repeat messages: they need the
 * retransmission cache and carry spoofable sources (the unauthenticated-
 * answer rate limit); stream transports need neither, and pad ChannelData
 * to 4 bytes (RFC 8656 §12.5). */
static inline bool turn_transport_is_stream(uint8_t transport)
{
	return transport == TURN_T_TCP || transport == TURN_T_TLS;
}

/* A client endpoint: the client side of a 5-tuple, as the worker names it.
 * The core never sees a socket: it copies endpoints, compares them and
 * hands them back to io->send_client.
 *   id, gen    the worker's handle: for UDP the listener it came in on
 *              (gen 0); for a connection its fd-table slot and that slot's
 *              generation, so a handle to a closed connection can never
 *              name the next one.
 *   transport  enum turn_transport.
 *   local      the server address the client wrote to: answers leave from
 *              it (for a wildcard UDP listener learnt with IP_PKTINFO).
 *   remote     the client's address. */
struct turn_ep {
	uint32_t id;
	uint32_t gen;
	uint8_t transport;
	union tern_addr local;
	union tern_addr remote;
};

static inline bool turn_ep_equal(const struct turn_ep *a, const struct turn_ep *b)
{
	return a->id == b->id && a->gen == b->gen && a->transport == b->transport &&
	       addr_equal(&a->remote, &b->remote) && addr_equal(&a->local, &b->local);
}

/* What became of a datagram or frame handed to io->send_client/send_peer. */
enum turn_tx {
	TURN_TX_QUEUED = 0,  /* will leave at the end of the loop turn */
	TURN_TX_DROPPED = 1, /* not sent (output queue full): counted, like loss */
	TURN_TX_GONE = 2,    /* the connection is closed or closing */
};

/* A bound channel the io may relay in the kernel (the fast path,
 * docs/FASTPATH.md): ChannelData `num` from the client endpoint ep goes out
 * of relay socket `relay` (the allocation's, of the peer's family) to
 * peer, and the peer's datagrams to that socket come back to ep as
 * ChannelData `num`, until expires_ms (the core's clock): the earliest
 * expiry of the channel, its permission and the allocation. Offered only
 * for UDP clients of allocations without a max-bps limit, after every
 * check user space makes (authentication, permission, peer policy). */
struct turn_fast {
	const struct turn_ep *ep;
	int relay;
	const union tern_addr *peer;
	uint16_t num;
	uint64_t expires_ms;
};

/* What the kernel relayed for one offloaded channel. */
struct turn_fast_counts {
	uint64_t up_datagrams, up_bytes;     /* client -> peer (application bytes) */
	uint64_t down_datagrams, down_bytes; /* peer -> client */
};

/* Callbacks implemented by the worker (server/) and by unit-test fakes. */
struct turn_io {
	void *ctx;
	/* Open a relay socket of family (AF_INET/AF_INET6) for allocation a.
	 * On success returns a handle >= 0 and writes the address to advertise
	 * in XOR-RELAYED-ADDRESS (external-ip mapping already applied). With
	 * TURN_RELAY_RESERVE_NEXT, *next/next_addr receive a second socket on
	 * port+1 (kept by the core under a RESERVATION-TOKEN). -ENOSPC (or
	 * -EADDRINUSE) when no port is free: answered 508. */
	int (*relay_open)(void *ctx, struct turn_alloc *a, int family, unsigned flags, union tern_addr *addr,
	                  int *next, union tern_addr *next_addr);
	/* Take over a socket reserved earlier (maybe by another worker) for a;
	 * writes the address to advertise. 0 or -errno. */
	int (*relay_adopt)(void *ctx, struct turn_alloc *a, int handle, union tern_addr *addr);
	/* Close a relay socket (allocation deleted, reservation expired). */
	void (*relay_close)(void *ctx, int handle);
	/* Queue one message to the client endpoint ep (one datagram, or one
	 * frame of a stream): hdr (<= TURN_TX_HDR_MAX, copied), then payload
	 * (borrowed until the caller's flush), then pad zero bytes (0..3). It
	 * leaves from ep->local to ep->remote. */
	enum turn_tx (*send_client)(void *ctx, const struct turn_ep *ep, const uint8_t *hdr, size_t hdrlen,
	                            const uint8_t *payload, size_t paylen, size_t pad);
	/* Queue one datagram on relay socket `relay` to peer: payload borrowed
	 * until the caller's flush. */
	enum turn_tx (*send_peer)(void *ctx, int relay, const union tern_addr *peer, const uint8_t *payload,
	                          size_t len);
	/* The fast path, optional (fast_set NULL: none). fast_set offloads
	 * channel f when *handle is 0, and then writes the io's handle (never
	 * 0); with a handle it moves the expiry (a refresh). 0, or -errno: the
	 * channel stays in user space. fast_del stops offloading it (at once:
	 * from then on user space sees its datagrams) and adds what the kernel
	 * relayed to *out. fast_read adds the live counts to *out. */
	int (*fast_set)(void *ctx, const struct turn_fast *f, uint32_t *handle);
	void (*fast_del)(void *ctx, uint32_t handle, const struct turn_fast *f, struct turn_fast_counts *out);
	void (*fast_read)(void *ctx, uint32_t handle, struct turn_fast_counts *out);
};

struct turn_params {
	const struct auth *auth;          /* NULL: no authentication (no-auth) */
	const struct peer_policy *policy; /* required */
	struct turn_shared *shared;       /* required: quotas and reservations across workers */
	bool relay_v4, relay_v6;          /* which relay families exist */
	unsigned max_lifetime;            /* s, cap on LIFETIME */
	unsigned default_lifetime;        /* s, when LIFETIME is absent */
	unsigned permission_lifetime;     /* s (RFC 8656: 300) */
	unsigned channel_lifetime;        /* s (RFC 8656: 600) */
	uint64_t max_bps;                 /* bytes/s per allocation and direction, 0 = unlimited */
	unsigned max_allocs;              /* pool size of this worker */
	unsigned max_perms;               /* permissions per allocation */
	unsigned max_channels;            /* channels per allocation */
	const char *software;             /* SOFTWARE value, NULL to omit */
	bool fingerprint;                 /* FINGERPRINT on every response */
	bool no_stun;                     /* refuse Binding requests */
	/* Highest channel number accepted: RFC 8656 §12 allows 0x4000..0x4FFF;
	 * RFC 5766 clients (coturn's among them) use up to 0x7FFF. 0 = 0x7FFF. */
	uint16_t channel_max;
	/* Answers that carry no MESSAGE-INTEGRITY (401/438 challenges, other
	 * errors to unauthenticated requests, Binding results, everything when
	 * auth is NULL) go to an address nobody has proven to own: each source
	 * (IPv4 address, IPv6 /64) may be sent at most unauth_bps bytes per
	 * second by this worker, after a burst of unauth_burst bytes. Over it
	 * the request is dropped unanswered (drop_ratelimit). 0 = no limit;
	 * unauth_burst 0 = 2 * unauth_bps (never less than TURN_TX_HDR_MAX).
	 * The buckets live in a fixed direct-mapped table (TURN_UNAUTH_SLOTS
	 * in internal.h, keyed by a secret hash): sources that collide share
	 * one bucket, so the bound per source always holds. */
	unsigned unauth_bps;
	unsigned unauth_burst;
	/* Per-user traffic of finished allocations (prometheus-username-labels):
	 * each allocation takes a label from the shared registry
	 * (turn_shared_labels_on) at Allocate; 0 = off. */
	bool user_labels;
};

/* An allocation's traffic as coturn counts a session's: datagrams and
 * bytes received from and sent to its client and its peers. */
enum turn_traffic {
	TURN_TRAFFIC_RCVP, /* from the client */
	TURN_TRAFFIC_RCVB,
	TURN_TRAFFIC_SENTP, /* to the client */
	TURN_TRAFFIC_SENTB,
	TURN_TRAFFIC_PEER_RCVP, /* from peers */
	TURN_TRAFFIC_PEER_RCVB,
	TURN_TRAFFIC_PEER_SENTP, /* to peers */
	TURN_TRAFFIC_PEER_SENTB,
	TURN_TRAFFIC_N,
};

#define TURN_LIFE_NB 9

/* Why a request failed authentication (turn_stats.auth_fail_by). */
enum turn_auth_fail {
	TURN_AUTH_INCOMPLETE = 0, /* USERNAME/REALM/NONCE missing: 400 */
	TURN_AUTH_ALGORITHM = 1,  /* PASSWORD-ALGORITHM(S) missing, altered or unknown: 400 */
	TURN_AUTH_REALM = 2,      /* another realm: 401 */
	TURN_AUTH_UNKNOWN = 3,    /* no such user (or no key for the algorithm): 401 */
	TURN_AUTH_INTEGRITY = 4,  /* wrong MESSAGE-INTEGRITY(-SHA256): a wrong password: 401 */
};

/* Counters of one worker (plain integers: one writer; other threads read
 * them with relaxed atomic loads, metrics/metrics.h). */
struct turn_stats {
	uint64_t rx_client, rx_peer; /* datagrams in */
	uint64_t tx_client, tx_peer; /* datagrams out (queued) */
	uint64_t tx_dropped;         /* refused by the transport (a full output queue, a closed connection) */
	uint64_t rx_client_bytes, rx_peer_bytes;
	uint64_t relayed_to_peer, relayed_to_client;
	uint64_t drop_malformed;  /* not STUN / ChannelData, bad framing */
	uint64_t drop_no_alloc;   /* ChannelData / indication without allocation */
	uint64_t drop_no_channel; /* ChannelData on an unbound channel */
	uint64_t drop_no_perm;    /* peer or Send without permission */
	uint64_t drop_bps;        /* over max-bps */
	uint64_t drop_policy;     /* Send to a forbidden peer */
	uint64_t requests, responses_err;
	uint64_t auth_challenge; /* 401 without credentials */
	uint64_t auth_fail;      /* wrong credentials, unknown user */
	/* auth_fail by reason (enum turn_auth_fail) */
	uint64_t auth_fail_by[5];
	/* from and to clients, by enum turn_transport: datagrams (frames on a
	 * stream) and bytes */
	uint64_t client_rx_by[4], client_rx_bytes_by[4], client_tx_by[4], client_tx_bytes_by[4];
	uint64_t stale_nonce;
	uint64_t allocs_created, allocs_deleted, allocs_expired;
	uint64_t allocs_live;
	uint64_t perms_live, channels_live;
	uint64_t quota_rejects;
	uint64_t redirected;             /* Allocates answered 300 ALTERNATE-SERVER */
	uint64_t drain_refused;          /* Allocates answered 403 while draining */
	uint64_t allocs_kicked;          /* deleted by turn_kick_user (tern ctl kick) */
	uint64_t perms_revoked;          /* permissions ended by a reload's stricter peer policy */
	uint64_t drop_ratelimit;         /* unauthenticated answer over unauth_bps: not sent */
	uint64_t allocs_by_transport[4]; /* live, by enum turn_transport of the client */
	/* fast path: channels offloaded now, offloads made, offloads the io refused */
	uint64_t fast_live, fast_installs, fast_install_fail;
	/* Binding requests, and their success and error answers */
	uint64_t binding_req, binding_ok, binding_err;
	/* requests without credentials that call for a 401: answered, or
	 * dropped by the unauthenticated-answer rate limit */
	uint64_t challenge_sent, challenge_dropped;
	/* traffic of finished allocations (added when one ends; coturn's
	 * turn_total_traffic_*): TURN_TRAFFIC_* */
	uint64_t finished[TURN_TRAFFIC_N];
	/* allocation lifetimes (ms, at deletion): TURN_LIFE_BOUNDS buckets,
	 * then the sum (metrics/metrics.h) */
	uint64_t life_hist[TURN_LIFE_NB + 2];
};

/* Allocation lifetime histogram bounds (ms). */
extern const uint64_t turn_life_bounds[TURN_LIFE_NB];

/* Shared across workers: total and per-user allocation counts, and relay
 * port reservations (RESERVATION-TOKEN). A reservation counts against its
 * user's quota and the total like an allocation until it is redeemed or
 * expires. Touched only by Allocate, allocation deletion and the
 * once-a-second reservation sweep, under a mutex. */
struct turn_shared *turn_shared_new(unsigned user_quota, unsigned total_quota);
void turn_shared_free(struct turn_shared *s, const struct turn_io *io);
/* Draining: new allocations are redirected to an alternate server (300)
 * when one is configured for the client's transport and family, refused
 * (403) otherwise; existing allocations go on as before. */
void turn_shared_set_draining(struct turn_shared *s, bool on);
bool turn_shared_draining(const struct turn_shared *s);

/* ALTERNATE-SERVER lists (RFC 8489 §10), coturn's options: kind ANY is
 * alternate-server, the others take precedence for their transports
 * (DTLS: UDP's, else TLS's). Copied; may be replaced at run time. */
#define TURN_MAX_ALTERNATES 16
enum turn_alt_kind { TURN_ALT_ANY, TURN_ALT_UDP, TURN_ALT_TCP, TURN_ALT_TLS, TURN_ALT_KINDS };
int turn_shared_set_alternates(struct turn_shared *s, enum turn_alt_kind k, const union tern_addr *a,
                               unsigned n);
/* The server's public addresses (external-ip, port ignored): an alternate
 * at one of them on the port the client wrote to counts as the server
 * itself (behind NAT the client writes to a private address). */
int turn_shared_set_self(struct turn_shared *s, const union tern_addr *a, unsigned n);
/* Where a new allocation of a client on transport that wrote to local goes
 * instead: round robin over the servers of local's family in its list,
 * never local itself; none while local is in the list, unless draining.
 * True and *out, or false (serve it here). */
bool turn_shared_alternate(struct turn_shared *s, uint8_t transport, const union tern_addr *local,
                           union tern_addr *out);

/* Reload: new quotas apply to new allocations; existing ones are kept
 * even above them. */
void turn_shared_set_quotas(struct turn_shared *s, unsigned user_quota, unsigned total_quota);
/* Allocations held on the whole server (reservations not included). */
unsigned turn_shared_total(const struct turn_shared *s);

/* seed 0: the core's secret keys (hash tables, rate-limit buckets,
 * transaction ids) come from getrandom(2), as servers want. A non-zero
 * seed derives them from it instead, for reproducible tests and fuzzing.
 * NULL when out of memory or without randomness. */
struct turn *turn_new(const struct turn_params *p, const struct turn_io *io, uint64_t seed);
/* Reload: what a new configuration may change at run time (auth, policy,
 * lifetimes, max_bps, unauthenticated-answer limit, SOFTWARE, FINGERPRINT,
 * no_stun, channel_max); pool sizes, shared and relay families stay. The
 * worker calls it between loop turns; existing allocations keep their
 * lifetimes, permissions and channels, except permissions for peers the
 * new policy denies, which end at once. 0, or -ENOMEM (nothing changed). */
int turn_set_params(struct turn *t, const struct turn_params *p);
/* Deletes every allocation (relay sockets closed through io). */
void turn_free(struct turn *t);

/* The clock for this loop turn: monotonic milliseconds and wall seconds. */
void turn_set_time(struct turn *t, uint64_t now_ms, uint64_t wall_s);

/* One datagram (UDP, DTLS) or one whole frame (TCP, TLS: a STUN message or
 * ChannelData, padding included) from the client endpoint ep. Everything
 * for this client goes back through io->send_client with an endpoint equal
 * to ep. */
void turn_on_client(struct turn *t, const struct turn_ep *ep, const uint8_t *buf, size_t len);

/* The connection of endpoint ep is closed (TCP, TLS, DTLS): RFC 8656 §3.1,
 * an allocation on it ends with it. Nothing is sent. */
void turn_on_client_closed(struct turn *t, const struct turn_ep *ep);

/* A datagram from peer on relay socket `handle` of allocation a (the
 * allocation io->relay_open was given). */
void turn_on_peer(struct turn *t, struct turn_alloc *a, int handle, const union tern_addr *peer,
                  const uint8_t *buf, size_t len);

/* True when endpoint ep holds an allocation (for connection timeouts). */
bool turn_ep_has_allocation(struct turn *t, const struct turn_ep *ep);

/* The client endpoint of allocation a. Valid from io->relay_open /
 * relay_adopt on. */
const struct turn_ep *turn_alloc_client(const struct turn_alloc *a);

/* One word of the io's own per allocation (the worker keeps the allocation's
 * connected client socket there): 0 when the allocation is created, never
 * read by the core. */
intptr_t *turn_alloc_io_data(struct turn_alloc *a);

/* Expire what is due. Cheap when nothing is: call once per loop turn. */
void turn_on_tick(struct turn *t);
/* Milliseconds until the next timer is due (for the loop's epoll timeout),
 * capped at max_ms. */
int turn_next_timeout(const struct turn *t, int max_ms);

const struct turn_stats *turn_stats(const struct turn *t);

/* Username labels: a server-wide, append-only registry of at most cap user
 * names (the user part of a REST username); allocations of users beyond
 * it count under TURN_LABEL_OTHER. Off until turn_shared_labels_on. */
#define TURN_LABEL_OTHER "_other"
void turn_shared_labels_on(struct turn_shared *s, unsigned cap);
/* Labels registered so far (a reader on any thread: names 0..n-1 stay). */
unsigned turn_shared_nlabels(const struct turn_shared *s);
unsigned turn_shared_labels_cap(const struct turn_shared *s);
const char *turn_shared_label(const struct turn_shared *s, unsigned i);
/* This worker's finished traffic of label i (i == cap: the others), as
 * TURN_TRAFFIC_N counters; NULL when user labels are off. */
const uint64_t *turn_user_traffic(const struct turn *t, unsigned i);
/* A live allocation as the control socket shows it (valid during the
 * callback only). */
struct turn_alloc_info {
	const struct turn_ep *ep;
	const uint8_t *user; /* the name its quota counts (a REST username's user part); NULL without auth */
	size_t user_len;
	union tern_addr relayed[2];
	unsigned nrelayed;
	uint64_t age_ms, expires_in_ms;
	uint64_t to_peer_bytes, to_peer_datagrams;     /* relayed from the client */
	uint64_t to_client_bytes, to_client_datagrams; /* relayed from peers */
	unsigned nperms, nchans;
};
/* fn for every live allocation (of user only, when not NULL); how many.
 * Called by the owning worker between loop turns. */
unsigned turn_foreach_alloc(struct turn *t, const char *user,
                            void (*fn)(void *ctx, const struct turn_alloc_info *i), void *ctx);
/* Delete every allocation of user (as quotas name users): how many. Its
 * relay sockets close through io; a stream client's connection stays until
 * max-allocate-timeout, as after a Refresh to 0. */
unsigned turn_kick_user(struct turn *t, const char *user);

#endif
