/* Test harness for the sans-I/O TURN core (src/turn/): a fake struct
 * turn_io that records what the core does, a real struct auth and peer
 * policy, a clock driven by hand, and a small STUN client that builds
 * requests with the stun/ codec, signs them and parses the answers.
 *
 * Nothing here opens a socket: relay "handles" are integers, relay
 * addresses (192.0.2.1 and 2001:db8::1, documentation ranges) and peer
 * addresses are values in memory only. Included by test_turn*.c. */
#ifndef TERN_TEST_TURN_HARNESS_H
#define TERN_TEST_TURN_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "stun/stun.h"
#include "turn/policy.h"
#include "turn/turn.h"
#include "util/log.h"

#define REALM    "example.org"
#define LISTENER 7
/* the server address clients write to on LISTENER (a documentation address) */
#define LOCAL_ADDR       "203.0.113.5:3478"
#define HANDLE0          100
#define MAX_HANDLES      512
#define MAX_SENT         512
#define T0_MS            5000123ULL /* deliberately not a multiple of 64 or 1000 */
#define WALL0            1700000000ULL
#define DEFAULT_LIFETIME 600
#define MAX_LIFETIME     3600
#define PERM_LIFETIME    300
#define CHAN_LIFETIME    600

/* ---- the fake turn_io ---- */

struct sent {
	int handle;          /* the client endpoint's id (LISTENER for UDP), or the relay handle */
	bool to_client;      /* send_client (else send_peer) */
	uint8_t transport;   /* the client endpoint's */
	uint32_t gen;        /* the client endpoint's */
	union tern_addr src; /* the endpoint's local address; family 0 to a peer */
	union tern_addr dst;
	uint8_t *buf; /* hdr || payload || pad, malloc'd */
	size_t len, hdrlen, paylen, pad;
};

struct opened {
	int handle, family;
	unsigned flags;
	struct turn_alloc *a;
};

struct fake {
	int next;    /* next handle handed out */
	int fail_rc; /* relay_open returns this while fail_count > 0 */
	unsigned fail_count;
	int fail_family; /* 0: any family fails; else only this one */
	struct opened open[MAX_HANDLES];
	unsigned nopen;      /* relay_open calls that succeeded */
	unsigned open_calls; /* all relay_open calls */
	int adopted[64];
	struct turn_alloc *adopt_alloc[64];
	unsigned nadopt;
	int closed[MAX_HANDLES];
	unsigned nclosed;
	bool live[MAX_HANDLES]; /* by handle - HANDLE0 */
	union tern_addr addr[MAX_HANDLES];
	struct turn_alloc *owner[MAX_HANDLES];
	unsigned bad; /* protocol violations seen by the fake */
	struct sent sent[MAX_SENT];
	unsigned nsent;
	uint64_t now, wall;
};

static struct fake F;
static struct turn *T;
static struct auth *AU;
static struct turn_shared *SH;
static struct peer_policy POL;
static struct turn_params P;
static struct turn_io IO;

static inline union tern_addr A(const char *s) {
	union tern_addr a;
	if (addr_parse(&a, s, 0) != 0)
		fail_msg("bad test address %s", s);
	return a;
}

static inline bool
handle_ok(int h)
{
	return h >= HANDLE0 && h < HANDLE0 + MAX_HANDLES;
}

static inline int fake_relay_open(void *ctx, struct turn_alloc *a, int family, unsigned flags,
                                  union tern_addr *addr, int *next, union tern_addr *next_addr)
{
	F.open_calls++;
	if (F.fail_count && (!F.fail_family || F.fail_family == family)) {
		F.fail_count--;
		return F.fail_rc;
	}
	if (family != AF_INET && family != AF_INET6)
		F.bad++;
	int h = F.next++;
	unsigned i = (unsigned)(h - HANDLE0);
	/* even ports, so port + 1 is free for a RESERVE_NEXT sibling */
	uint16_t port = (uint16_t)(50000 + 2 * i);
	F.addr[i] = A(family == AF_INET ? "192.0.2.1" : "2001:db8::1");
	addr_set_port(&F.addr[i], port);
	F.live[i] = true;
	F.owner[i] = a;
	*addr = F.addr[i];
	F.open[F.nopen++] = (struct opened){.handle = h, .family = family, .flags = flags, .a = a};
	if ((flags & TURN_RELAY_RESERVE_NEXT) && next) {
		int h2 = F.next++;
		unsigned j = (unsigned)(h2 - HANDLE0);
		F.addr[j] = F.addr[i];
		addr_set_port(&F.addr[j], (uint16_t)(port + 1));
		F.live[j] = true;
		*next = h2;
		*next_addr = F.addr[j];
	}
	return h;
}

static inline int fake_relay_adopt(void *ctx, struct turn_alloc *a, int handle, union tern_addr *addr)
{
	if (!handle_ok(handle) || !F.live[handle - HANDLE0]) {
		F.bad++;
		return -EBADF;
	}
	F.adopted[F.nadopt] = handle;
	F.adopt_alloc[F.nadopt++] = a;
	F.owner[handle - HANDLE0] = a;
	*addr = F.addr[handle - HANDLE0];
	return 0;
}

static inline void fake_relay_close(void *ctx, int handle)
{
	/* closing twice or closing what was never opened is a core bug */
	if (!handle_ok(handle) || !F.live[handle - HANDLE0]) {
		F.bad++;
		return;
	}
	F.live[handle - HANDLE0] = false;
	F.closed[F.nclosed++] = handle;
}

/* What send_client/send_peer return (the fake's transport state). */
static enum turn_tx fake_tx_result = TURN_TX_QUEUED;

static inline struct sent *fake_record(int handle, const union tern_addr *src, const union tern_addr *dst,
                                       const uint8_t *hdr, size_t hdrlen, const uint8_t *payload,
                                       size_t paylen, size_t pad)
{
	if (hdrlen > TURN_TX_HDR_MAX || pad > 3)
		F.bad++;
	if (F.nsent >= MAX_SENT)
		fail_msg("too many datagrams recorded");
	struct sent *s = &F.sent[F.nsent++];
	memset(s, 0, sizeof(*s));
	s->handle = handle;
	if (src)
		s->src = *src;
	s->dst = *dst;
	s->len = hdrlen + paylen + pad;
	s->hdrlen = hdrlen;
	s->paylen = paylen;
	s->pad = pad;
	s->buf = malloc(s->len ? s->len : 1);
	assert_non_null(s->buf);
	if (hdrlen)
		memcpy(s->buf, hdr, hdrlen);
	if (paylen)
		memcpy(s->buf + hdrlen, payload, paylen);
	memset(s->buf + hdrlen + paylen, 0, pad);
	return s;
}

static inline enum turn_tx fake_send_client(void *ctx, const struct turn_ep *ep, const uint8_t *hdr,
                                            size_t hdrlen, const uint8_t *payload, size_t paylen, size_t pad)
{
	/* a UDP client is on the one listener; streams have their own ids */
	if (ep->transport > TURN_T_DTLS || (ep->transport == TURN_T_UDP && ep->id != LISTENER) ||
	    (ep->transport != TURN_T_UDP && ep->id == LISTENER) || (pad && (paylen + pad) % 4 != 0))
		F.bad++;
	struct sent *s = fake_record((int)ep->id, &ep->local, &ep->remote, hdr, hdrlen, payload, paylen, pad);
	s->to_client = true;
	s->transport = ep->transport;
	s->gen = ep->gen;
	return fake_tx_result;
}

static inline enum turn_tx fake_send_peer(void *ctx, int relay, const union tern_addr *peer,
                                          const uint8_t *payload, size_t len)
{
	if (!handle_ok(relay) || !F.live[relay - HANDLE0])
		F.bad++;
	fake_record(relay, NULL, peer, NULL, 0, payload, len, 0);
	return TURN_TX_QUEUED;
}

static inline void sent_clear(void)
{
	for (unsigned i = 0; i < F.nsent; i++)
		free(F.sent[i].buf);
	F.nsent = 0;
}

/* Datagrams sent through relay handles (to peers) since index `from`. */
static inline unsigned sent_to_peers(unsigned from)
{
	unsigned n = 0;
	for (unsigned i = from; i < F.nsent; i++)
		n += !F.sent[i].to_client;
	return n;
}

static inline bool was_closed(int h)
{
	for (unsigned i = 0; i < F.nclosed; i++)
		if (F.closed[i] == h)
			return true;
	return false;
}

/* ---- environment ---- */

struct opts {
	bool noauth, sha256, rest, no_v4, no_v6, allow_loopback, no_stun, fingerprint;
	unsigned user_quota, total_quota, max_allocs, max_perms, max_channels, nonce_lifetime;
	uint64_t max_bps;
	const char *software;
	uint16_t channel_max;
};

static const char *const SECRETS[] = {"first-secret", "second-secret"};

static inline void check_counters(void)
{
	const struct turn_stats *st = turn_stats(T);
	assert_int_equal(st->allocs_created - st->allocs_deleted, st->allocs_live);
	/* live counts are unsigned: an unbalanced decrement would wrap */
	assert_true(st->perms_live < 100000);
	assert_true(st->channels_live < 100000);
	assert_true(st->allocs_live < 100000);
	assert_int_equal(F.bad, 0);
}

static inline void clock_set(uint64_t now_ms, uint64_t wall_s)
{
	F.now = now_ms;
	F.wall = wall_s;
	turn_set_time(T, F.now, F.wall);
}

/* Move both clocks forward and run the timers, as a worker loop turn does. */
static inline void advance(uint64_t ms)
{
	F.now += ms;
	F.wall = WALL0 + (F.now - T0_MS) / 1000;
	turn_set_time(T, F.now, F.wall);
	turn_on_tick(T);
	check_counters();
}

static inline void env_start(const struct opts *o)
{
	static const struct auth_user users[] = {
	    {.name = "alice", .password = "secret"},
	    {.name = "bob", .password = "hunter2"},
	};
	memset(&F, 0, sizeof(F));
	F.next = HANDLE0;
	fake_tx_result = TURN_TX_QUEUED;
	AU = NULL;
	if (!o->noauth) {
		struct auth_params ap = {
		    .realm = REALM,
		    .users = users,
		    .nusers = 2,
		    .secrets = o->rest ? SECRETS : NULL,
		    .nsecrets = o->rest ? 2 : 0,
		    .nonce_lifetime = o->nonce_lifetime,
		    .sha256 = o->sha256,
		};
		AU = auth_new(&ap);
		assert_non_null(AU);
	}
	policy_init(&POL);
	POL.allow_loopback = o->allow_loopback;
	SH = turn_shared_new(o->user_quota, o->total_quota);
	assert_non_null(SH);
	P = (struct turn_params){
	    .auth = AU,
	    .policy = &POL,
	    .shared = SH,
	    .relay_v4 = !o->no_v4,
	    .relay_v6 = !o->no_v6,
	    .max_lifetime = MAX_LIFETIME,
	    .default_lifetime = DEFAULT_LIFETIME,
	    .permission_lifetime = PERM_LIFETIME,
	    .channel_lifetime = CHAN_LIFETIME,
	    .max_bps = o->max_bps,
	    .max_allocs = o->max_allocs,
	    .max_perms = o->max_perms,
	    .max_channels = o->max_channels,
	    .software = o->software,
	    .fingerprint = o->fingerprint,
	    .no_stun = o->no_stun,
	    .channel_max = o->channel_max,
	};
	IO = (struct turn_io){
	    .ctx = &F,
	    .relay_open = fake_relay_open,
	    .relay_adopt = fake_relay_adopt,
	    .relay_close = fake_relay_close,
	    .send_client = fake_send_client,
	    .send_peer = fake_send_peer,
	};
	tern_log_level = LOG_WARN;
	T = turn_new(&P, &IO, 0x5eed);
	assert_non_null(T);
	clock_set(T0_MS, WALL0);
}

static inline void env_default(void)
{
	struct opts o = {0};
	env_start(&o);
}

/* Teardown: turn_free must close every relay it has, turn_shared_free every
 * reserved one; afterwards no handle may still be open. */
static inline int env_stop(void **state)
{
	(void)state;
	if (T) {
		check_counters();
		turn_free(T);
		T = NULL;
	}
	turn_shared_free(SH, &IO);
	SH = NULL;
	policy_free(&POL);
	auth_free(AU);
	AU = NULL;
	sent_clear();
	for (int h = HANDLE0; h < F.next; h++)
		if (F.live[h - HANDLE0])
			fail_msg("relay handle %d left open", h);
	assert_int_equal(F.bad, 0);
	return 0;
}

/* ---- a STUN/TURN client ---- */

struct client {
	union tern_addr addr;
	union tern_addr local; /* the server address it writes to (LOCAL_ADDR unless changed) */
	uint8_t transport;     /* enum turn_transport: UDP unless changed */
	uint32_t conn, gen;    /* a stream client's endpoint id and generation */
	const char *user, *pass;
	const char *realm; /* REALM sent and used for the key (default REALM) */
	bool userhash;     /* USERHASH instead of USERNAME */
	bool sha256;       /* PASSWORD-ALGORITHM SHA-256 + MESSAGE-INTEGRITY-SHA256 */
	bool no_sign;      /* send requests without credentials */
	char nonce[AUTH_NONCE_MAX + 1];
	size_t nonce_len;
	uint8_t algs[64]; /* PASSWORD-ALGORITHMS of the last challenge */
	size_t algs_len;
	uint8_t key[32];
	size_t keylen;
	uint8_t last_txid[STUN_TXID_LEN];
	uint8_t resp_buf[70000];
	size_t resp_len;
	struct stun_msg resp;
};

struct req {
	uint8_t buf[2048];
	struct stun_builder b;
};

static uint32_t txid_counter;

static inline void client_init(struct client *c, const char *addr, const char *user, const char *pass)
{
	memset(c, 0, sizeof(*c));
	c->addr = A(addr);
	c->local = A(LOCAL_ADDR);
	c->user = user;
	c->pass = pass;
	c->realm = REALM;
}

static inline void client_key(struct client *c)
{
	if (!c->user)
		return;
	if (c->sha256) {
		stun_key_sha256(c->user, strlen(c->user), c->realm, strlen(c->realm), c->pass,
		                strlen(c->pass), c->key);
		c->keylen = 32;
	} else {
		stun_key_md5(c->user, strlen(c->user), c->realm, strlen(c->realm), c->pass, strlen(c->pass),
		             c->key);
		c->keylen = 16;
	}
}

static inline struct stun_builder *req_init_cls(struct req *q, struct client *c, uint16_t method,
                                                enum stun_class cls)
{
	uint8_t txid[STUN_TXID_LEN] = {0x74, 0x65, 0x72, 0x6e};
	uint32_t n = ++txid_counter;
	memcpy(txid + 4, &n, sizeof(n));
	memcpy(txid + 8, "TEST", 4);
	stun_build_init(&q->b, q->buf, sizeof(q->buf), stun_type(method, cls), txid);
	return &q->b;
}

static inline struct stun_builder *req_init(struct req *q, struct client *c, uint16_t method)
{
	return req_init_cls(q, c, method, STUN_REQUEST);
}

/* Append the long-term credentials and the integrity attribute. */
static inline void req_sign(struct req *q, struct client *c)
{
	struct stun_builder *b = &q->b;
	if (c->userhash) {
		uint8_t h[32];
		stun_userhash(c->user, strlen(c->user), c->realm, strlen(c->realm), h);
		stun_add_attr(b, STUN_A_USERHASH, h, sizeof(h));
	} else {
		stun_add_attr(b, STUN_A_USERNAME, c->user, strlen(c->user));
	}
	stun_add_attr(b, STUN_A_REALM, c->realm, strlen(c->realm));
	stun_add_attr(b, STUN_A_NONCE, c->nonce, c->nonce_len);
	if (c->sha256) {
		static const uint8_t alg[4] = {0, STUN_PWALG_SHA256, 0, 0};
		stun_add_attr(b, STUN_A_PASSWORD_ALGORITHMS, c->algs, c->algs_len);
		stun_add_attr(b, STUN_A_PASSWORD_ALGORITHM, alg, sizeof(alg));
		stun_add_integrity_sha256(b, c->key, c->keylen);
	} else {
		stun_add_integrity(b, c->key, c->keylen);
	}
}

static inline const struct stun_attr *find(const struct stun_msg *m, uint16_t type)
{
	return stun_find(m, type);
}

/* The n-th (0-based) attribute of this type. */
static inline const struct stun_attr *find_nth(const struct stun_msg *m, uint16_t type, unsigned n)
{
	for (unsigned i = 0; i < m->nattrs; i++)
		if (m->attrs[i].type == type && n-- == 0)
			return &m->attrs[i];
	return NULL;
}

/* 0 for a success response, the ERROR-CODE for an error response. */
static inline int code_of(const struct stun_msg *m)
{
	if (m->cls == STUN_SUCCESS) {
		assert_null(find(m, STUN_A_ERROR_CODE));
		return 0;
	}
	assert_int_equal(m->cls, STUN_ERROR);
	const struct stun_attr *e = find(m, STUN_A_ERROR_CODE);
	assert_non_null(e);
	int code;
	const uint8_t *reason;
	size_t rlen;
	assert_int_equal(stun_attr_error(e, &code, &reason, &rlen), 0);
	return code;
}

static inline void expect_code(const struct stun_msg *m, int code)
{
	int got = code_of(m);
	if (got != code)
		fail_msg("expected %d, got %d", code, got);
}

static inline union tern_addr xaddr(const struct stun_msg *m, uint16_t type, unsigned n)
{
	union tern_addr a;
	const struct stun_attr *at = find_nth(m, type, n);
	if (!at)
		fail_msg("attribute 0x%04x #%u missing", type, n);
	assert_int_equal(stun_attr_xaddr(m, at, &a), 0);
	return a;
}

static inline uint32_t u32_of(const struct stun_msg *m, uint16_t type)
{
	uint32_t v;
	const struct stun_attr *at = find(m, type);
	if (!at)
		fail_msg("attribute 0x%04x missing", type);
	assert_int_equal(stun_attr_u32(at, &v), 0);
	return v;
}

#define assert_addr_equal(a, b)                                                                              \
	do {                                                                                                 \
		union tern_addr a_ = (a), b_ = (b);                                                          \
		if (!addr_equal(&a_, &b_)) {                                                                 \
			char s1_[TERN_ADDRSTRLEN], s2_[TERN_ADDRSTRLEN];                                     \
			fail_msg("address %s != %s", addr_format(&a_, s1_, sizeof(s1_), true),               \
			         addr_format(&b_, s2_, sizeof(s2_), true));                                  \
		}                                                                                            \
	} while (0)

/* Feed raw bytes from c; expect exactly one answer to c on the listener and
 * parse it into c->resp (checking it answers this transaction). */
/* c's endpoint: the UDP listener, or its own connection. */
static inline struct turn_ep client_ep(const struct client *c)
{
	struct turn_ep ep = {.id = c->transport == TURN_T_UDP ? LISTENER : c->conn,
	                     .gen = c->gen,
	                     .transport = c->transport,
	                     .local = c->local,
	                     .remote = c->addr};
	return ep;
}

static inline const struct stun_msg *deliver(struct client *c, const uint8_t *buf, size_t len)
{
	unsigned n0 = F.nsent;
	struct turn_ep ep = client_ep(c);
	turn_on_client(T, &ep, buf, len);
	if (F.nsent != n0 + 1)
		fail_msg("expected one datagram, got %u", F.nsent - n0);
	const struct sent *s = &F.sent[n0];
	assert_true(s->to_client);
	assert_int_equal(s->handle, (int)ep.id);
	assert_int_equal(s->transport, ep.transport);
	assert_addr_equal(s->dst, c->addr);
	assert_addr_equal(s->src, c->local);
	assert_true(s->len <= sizeof(c->resp_buf));
	memcpy(c->resp_buf, s->buf, s->len);
	c->resp_len = s->len;
	assert_int_equal(stun_parse(&c->resp, c->resp_buf, c->resp_len), 0);
	assert_memory_equal(c->resp.txid, buf + 8, STUN_TXID_LEN);
	assert_int_equal(c->resp.method, stun_type_method((uint16_t)((buf[0] << 8) | buf[1])));
	check_counters();
	return &c->resp;
}

/* Feed raw bytes from c and expect no datagram at all. */
static inline void deliver_none(struct client *c, const uint8_t *buf, size_t len)
{
	unsigned n0 = F.nsent;
	struct turn_ep ep = client_ep(c);
	turn_on_client(T, &ep, buf, len);
	if (F.nsent != n0)
		fail_msg("expected no datagram, got %u", F.nsent - n0);
	check_counters();
}

/* Feed raw bytes from c (data for a peer): no answer on the listener;
 * relayed datagrams are left for the caller to check. */
static inline void deliver_data(struct client *c, const uint8_t *buf, size_t len)
{
	unsigned n0 = F.nsent;
	struct turn_ep ep = client_ep(c);
	turn_on_client(T, &ep, buf, len);
	for (unsigned i = n0; i < F.nsent; i++)
		if (F.sent[i].to_client)
			fail_msg("unexpected answer to a Send indication or ChannelData");
	assert_true(F.nsent <= n0 + 1);
	check_counters();
}

/* Finish q (signed unless c->no_sign or c has no nonce yet), send it, and
 * return the parsed answer. Any integrity attribute in the answer must
 * verify with c's key; success answers to signed requests must carry one. */
static inline const struct stun_msg *call(struct client *c, struct req *q)
{
	bool signed_req = !c->no_sign && c->nonce_len && c->user;
	if (signed_req)
		req_sign(q, c);
	int len = stun_build_finish(&q->b);
	assert_true(len > 0);
	memcpy(c->last_txid, q->buf + 8, STUN_TXID_LEN);
	const struct stun_msg *m = deliver(c, q->buf, (size_t)len);
	if (m->mi >= 0)
		assert_int_equal(stun_check_integrity(m, c->key, c->keylen), 0);
	if (m->mi256 >= 0)
		assert_int_equal(stun_check_integrity_sha256(m, c->key, c->keylen), 0);
	if (signed_req && m->cls == STUN_SUCCESS)
		assert_true(m->mi >= 0 || m->mi256 >= 0);
	return m;
}

/* Take the NONCE (and PASSWORD-ALGORITHMS) of a 401/438 answer. */
static inline void take_nonce(struct client *c, const struct stun_msg *m)
{
	const struct stun_attr *n = find(m, STUN_A_NONCE);
	assert_non_null(n);
	assert_true(n->len <= AUTH_NONCE_MAX);
	memcpy(c->nonce, n->val, n->len);
	c->nonce[n->len] = 0;
	c->nonce_len = n->len;
	const struct stun_attr *al = find(m, STUN_A_PASSWORD_ALGORITHMS);
	c->algs_len = 0;
	if (al) {
		assert_true(al->len <= sizeof(c->algs));
		memcpy(c->algs, al->val, al->len);
		c->algs_len = al->len;
	}
}

/* The first leg of the long-term credential mechanism: an unsigned
 * request, answered 401 with REALM and NONCE. */
static inline void client_login(struct client *c)
{
	struct req q;
	bool was = c->no_sign;
	c->no_sign = true;
	struct stun_builder *b = req_init(&q, c, TURN_ALLOCATE);
	stun_add_transport(b, STUN_TRANSPORT_UDP);
	const struct stun_msg *m = call(c, &q);
	c->no_sign = was;
	expect_code(m, 401);
	take_nonce(c, m);
	client_key(c);
}

/* ---- request shorthands ---- */

static inline const struct stun_msg *do_allocate(struct client *c)
{
	struct req q;
	stun_add_transport(req_init(&q, c, TURN_ALLOCATE), STUN_TRANSPORT_UDP);
	return call(c, &q);
}

static inline const struct stun_msg *do_refresh(struct client *c, long lifetime)
{
	struct req q;
	struct stun_builder *b = req_init(&q, c, TURN_REFRESH);
	if (lifetime >= 0)
		stun_add_u32(b, STUN_A_LIFETIME, (uint32_t)lifetime);
	return call(c, &q);
}

/* CreatePermission for a NULL-terminated list of peers. */
static inline const struct stun_msg *do_perm(struct client *c, const char *peer, ...)
{
	struct req q;
	struct stun_builder *b = req_init(&q, c, TURN_CREATE_PERMISSION);
	va_list ap;
	va_start(ap, peer);
	for (const char *p = peer; p; p = va_arg(ap, const char *)) {
		union tern_addr a = A(p);
		stun_add_xaddr(b, STUN_A_XOR_PEER_ADDRESS, &a);
	}
	va_end(ap);
	return call(c, &q);
}

static inline const struct stun_msg *do_bind(struct client *c, uint16_t num, const char *peer)
{
	struct req q;
	struct stun_builder *b = req_init(&q, c, TURN_CHANNEL_BIND);
	union tern_addr a = A(peer);
	stun_add_channel(b, num);
	stun_add_xaddr(b, STUN_A_XOR_PEER_ADDRESS, &a);
	return call(c, &q);
}

/* An authenticated client (alice) with an allocation of the default lifetime. */
static inline const struct stun_msg *setup_alloc(struct client *c, const char *addr)
{
	client_init(c, addr, "alice", "secret");
	client_login(c);
	const struct stun_msg *m = do_allocate(c);
	expect_code(m, 0);
	return m;
}

/* Allocate with optional attributes (W_* flags). */
enum {
	W_TOKEN = 1,
	W_EVEN = 2,
	W_EVEN_R = 4,
	W_RAF4 = 8,
	W_RAF6 = 16,
	W_AAF4 = 32,
	W_AAF6 = 64,
	W_DF = 128,
	W_RAF_BAD = 256,
	W_AAF6_DRAFT = 512, /* the SSODA draft's number, 0x8032 */
};

static inline const struct stun_msg *alloc_with(struct client *c, unsigned what, const uint8_t *token)
{
	struct req q;
	struct stun_builder *b = req_init(&q, c, TURN_ALLOCATE);
	stun_add_transport(b, STUN_TRANSPORT_UDP);
	if (what & W_TOKEN)
		stun_add_attr(b, STUN_A_RESERVATION_TOKEN, token, 8);
	if (what & (W_EVEN | W_EVEN_R)) {
		uint8_t v = (what & W_EVEN_R) ? 0x80 : 0;
		stun_add_attr(b, STUN_A_EVEN_PORT, &v, 1);
	}
	if (what & W_RAF4)
		stun_add_family(b, STUN_A_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV4);
	if (what & W_RAF6)
		stun_add_family(b, STUN_A_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
	if (what & W_RAF_BAD)
		stun_add_family(b, STUN_A_REQUESTED_ADDRESS_FAMILY, 0x03);
	if (what & W_AAF4)
		stun_add_family(b, STUN_A_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV4);
	if (what & W_AAF6)
		stun_add_family(b, STUN_A_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
	if (what & W_AAF6_DRAFT)
		stun_add_family(b, STUN_A_ADDITIONAL_ADDRESS_FAMILY_DRAFT, STUN_FAMILY_IPV6);
	if (what & W_DF)
		stun_add_attr(b, STUN_A_DONT_FRAGMENT, NULL, 0);
	return call(c, &q);
}

/* Send indication (no answer expected). */
static inline void send_ind(struct client *c, const char *peer, const uint8_t *data, size_t len,
                            bool with_data)
{
	struct req q;
	struct stun_builder *b = req_init_cls(&q, c, TURN_SEND, STUN_INDICATION);
	if (peer) {
		union tern_addr a = A(peer);
		stun_add_xaddr(b, STUN_A_XOR_PEER_ADDRESS, &a);
	}
	if (with_data)
		stun_add_attr(b, STUN_A_DATA, data, len);
	int n = stun_build_finish(b);
	assert_true(n > 0);
	deliver_data(c, q.buf, (size_t)n);
}

/* ChannelData from the client: 4-byte header, data, then `pad` extra bytes. */
static inline void chan_data(struct client *c, uint16_t num, const uint8_t *data, size_t len, size_t pad)
{
	uint8_t buf[2048];
	assert_true(4 + len + pad <= sizeof(buf));
	stun_channeldata_hdr(buf, num, (uint16_t)len);
	memcpy(buf + 4, data, len);
	memset(buf + 4 + len, 0xEE, pad);
	deliver_data(c, buf, 4 + len + pad);
}

/* The relay handle of the allocation of client c (the n-th relay_open). */
static inline int relay_of(unsigned nth)
{
	return F.open[nth].handle;
}

/* A datagram from peer on relay handle h (the allocation relay_open saw). */
static inline void from_peer(int h, const char *peer, const uint8_t *data, size_t len)
{
	union tern_addr p = A(peer);
	assert_true(handle_ok(h));
	turn_on_peer(T, F.owner[h - HANDLE0], h, &p, data, len);
	check_counters();
}

static inline void fill(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + 7 * i);
}

#endif
