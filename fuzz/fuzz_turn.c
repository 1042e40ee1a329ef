/* The whole sans-I/O TURN core (src/turn/) fed arbitrary datagrams from
 * arbitrary addresses, from clients and from peers, under a fixed clock
 * that only the input advances.
 *
 * One input is one complete scenario: a fresh struct turn (and shared
 * quota/reservation state) is built for it and torn down after it, so every
 * crash replays from its file alone and libFuzzer can minimise it. State
 * deeper than one datagram is reached by the input itself: it is a list of
 * operations, and besides raw bytes the harness can sign a message with
 * valid long-term credentials (alice; bob, whose key only is known; a REST
 * user) and a valid nonce, or send a well-formed Allocate, CreatePermission,
 * ChannelBind, Refresh or Send, so Allocate/ChannelBind/Send/Data paths are
 * reached at once instead of after the fuzzer forges an HMAC.
 *
 * Input layout (every read past the end gives zeros):
 *   cfg0 cfg1                  configuration bits (see setup())
 *   then up to MAX_OPS operations, each an op byte followed by its fields:
 *   OP_RAW      client, len16, bytes          turn_on_client with raw bytes
 *   OP_BUILT    client, type, flags, extra, nattrs, attrs...   (see build_msg)
 *   OP_ALLOCATE client, flags [, lifetime32]  a signed, well-formed Allocate
 *   OP_REQ      client, kind, ...             signed Refresh / CreatePermission /
 *                                             ChannelBind / Send / Binding
 *   OP_CHANDATA client, chan, len, pad, bytes ChannelData from a client
 *   OP_PEER     relay, peer, len16, bytes     turn_on_peer on a live relay
 *   OP_TIME     step                          advance the clocks, run timers
 *   OP_CLOSE    client                        turn_on_client_closed (a TCP client's
 *                                             connection closes)
 * A client or peer selector below 0xF0 picks one of eight fixed addresses
 * (bit 3 of a client selector picks the listener, bit 4 the server address
 * it wrote to, bit 5 TCP instead of UDP: a connection endpoint of its own,
 * padded ChannelData, no retransmission cache, no unauthenticated-answer
 * limit); 0xF0..0xFF reads a raw
 * IPv4 (even) or IPv6 (odd) address and port from the input.
 *
 * The fake io records nothing but checks every call: sends go to a
 * listener or a live relay handle, with bounded header, padding and total
 * length; a payload is borrowed from the datagram being handled; what goes
 * to a client parses as STUN or ChannelData; what goes through a relay
 * goes to a peer the policy allows (the SSRF guarantee); handles are opened
 * for enabled families only, never closed twice, never leaked at the end.
 * After every operation the core's pools and counters are checked
 * against each other (it includes turn/internal.h, as unit tests may). */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/auth.h"
#include "fuzz.h"
#include "fuzz_turn.h"
#include "stun/stun.h"
#include "turn/internal.h"
#include "turn/policy.h"
#include "turn/turn.h"
#include "util/log.h"

#define REALM       "example.org"
#define T0_MS       5000123ULL
#define WALL0       1700000000ULL
#define LISTENER0   1
#define NLISTENERS  2
#define HANDLE0     100
#define CONN0       1000 /* TCP client endpoints: CONN0 + 0..3 */
#define MAX_HANDLES 256
#define MAX_OPS     64
#define MAX_DGRAM   4096
#define NCLIENTS    8
#define NPEERS      8

struct relay {
	bool live;
	bool reserved; /* RESERVE_NEXT sibling not adopted yet: no owner */
	int family;
	struct turn_alloc *owner;
	union tern_addr addr;
};

static struct {
	struct relay h[MAX_HANDLES];
	int next;
	unsigned open_calls, fail_every;
	const uint8_t *cur; /* the datagram being handled: payloads are borrowed from it */
	size_t curlen;
	/* who sent it: a client on a listener, or a peer to an allocation */
	const union tern_addr *from;
	const union tern_addr *local; /* the server address it was sent to */
	const struct turn_ep *ep;     /* the client endpoint it came from */
	int listener;
	struct turn_alloc *alloc;
	/* the key the harness signed it with (0: unsigned) */
	uint8_t key[32];
	size_t keylen;
	/* every key signed with in this input: a retransmission is answered
	 * from the cache, signed with the key of the earlier request */
	struct {
		uint8_t k[32];
		size_t len;
	} used[64];
	unsigned nused;
	uint8_t token[8];
	bool have_token;
	uint8_t last_txid[NCLIENTS][STUN_TXID_LEN];
	uint32_t txn;
	uint64_t now, wall;
} F;

/* FUZZ_TURN_TRACE=1: print what the core sends (checking seeds by hand). */
static bool TRACE;

static struct turn *T;
static struct turn_shared *SH;
static struct peer_policy POL;
static struct turn_params P;
static struct turn_io IO;
static struct auth *AUTHS[4]; /* by (sha256, rest): read-only, kept across inputs */
static const struct auth *AU;

static const char *const SECRETS[] = {"fuzz-secret"};
static const uint8_t BOB_KEY[16] = {0xb0, 0xb0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};

static union tern_addr CLIENTS[NCLIENTS], PEERS[NPEERS], RELAY4, RELAY6;
/* Two server addresses on each listener, as a wildcard listener has. */
static union tern_addr LOCALS[2];

static union tern_addr addr_of(const char *s)
{
	union tern_addr a;
	if (addr_parse(&a, s, 0) != 0)
		abort();
	return a;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const clients[NCLIENTS] = {
	    "192.0.2.10:40000",   "192.0.2.10:40001", "198.51.100.7:5000",         "[2001:db8::5]:4000",
	    "[2001:db8::5]:4001", "127.0.0.1:3000",   "[::ffff:192.0.2.10]:40000", "203.0.113.9:1",
	};
	/* allowed by default; the server's own listening address; denied ranges
	 * (loopback, private, metadata, a mapped loopback) */
	static const char *const peers[NPEERS] = {
	    "203.0.113.50:6000", "203.0.113.50:6001", "[2001:db8:1::20]:7000", "192.0.2.1:3478",
	    "127.0.0.1:9",       "10.0.0.1:80",       "169.254.169.254:80",    "[::ffff:127.0.0.1]:9",
	};
	addr_parse(&LOCALS[0], "203.0.113.5:3478", 0);
	addr_parse(&LOCALS[1], "203.0.113.6:3478", 0);
	for (unsigned i = 0; i < NCLIENTS; i++)
		CLIENTS[i] = addr_of(clients[i]);
	for (unsigned i = 0; i < NPEERS; i++)
		PEERS[i] = addr_of(peers[i]);
	RELAY4 = addr_of("192.0.2.1");
	RELAY6 = addr_of("2001:db8::1");

	static const struct auth_user users[] = {
	    {.name = "alice", .password = "secret"},
	    {.name = "bob", .key = BOB_KEY},
	};
	for (unsigned v = 0; v < 4; v++) {
		struct auth_params ap = {
		    .realm = REALM,
		    .users = users,
		    .nusers = 2,
		    .secrets = (v & 2) ? SECRETS : NULL,
		    .nsecrets = (v & 2) ? 1 : 0,
		    .sha256 = (v & 1) != 0,
		};
		AUTHS[v] = auth_new(&ap);
		if (!AUTHS[v])
			abort();
	}
	TRACE = getenv("FUZZ_TURN_TRACE") != NULL;
	/* Format every log line (their arguments come from the wire) but
	 * write none. */
	log_open(NULL, false);
	tern_log_level = LOG_DEBUG;
	return 0;
}

/* ---- the unauthenticated-answer rate limit ---- */

#ifdef TURN_UNAUTH_SLOTS
/* turn_params.unauth_bps: whatever goes unsigned to one source (an IPv4
 * address, IPv4-mapped too, or an IPv6 /64) stays within burst + rate x
 * time since the first such answer. Sources sharing a bucket only make the
 * core stricter, so the bound holds per source. */
static struct {
	uint8_t key[9];
	uint64_t first_ms, bytes;
} ACCT[64];
static unsigned NACCT;

static void account_unsigned(const union tern_addr *to, size_t len)
{
	uint8_t key[9] = {0};
	if (!T->p.unauth_bps)
		return;
	if (to->sa.sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &to->v4.sin_addr, 4);
	} else if (IN6_IS_ADDR_V4MAPPED(&to->v6.sin6_addr)) {
		key[0] = 4;
		memcpy(key + 1, to->v6.sin6_addr.s6_addr + 12, 4);
	} else {
		key[0] = 6;
		memcpy(key + 1, to->v6.sin6_addr.s6_addr, 8);
	}
	unsigned i = 0;
	while (i < NACCT && memcmp(ACCT[i].key, key, sizeof(key)) != 0)
		i++;
	if (i == NACCT) {
		if (NACCT == 64)
			return;
		memcpy(ACCT[NACCT].key, key, sizeof(key));
		ACCT[NACCT].first_ms = F.now;
		ACCT[NACCT++].bytes = 0;
	}
	ACCT[i].bytes += len;
	uint64_t bound = T->p.unauth_burst + (T->p.unauth_bps * (F.now - ACCT[i].first_ms) + 999) / 1000;
	FUZZ_CHECK(ACCT[i].bytes <= bound);
}
#else
static void account_unsigned(const union tern_addr *to, size_t len)
{
}
#endif

/* ---- the fake io ---- */

static bool listener_ok(int h)
{
	return h >= LISTENER0 && h < LISTENER0 + NLISTENERS;
}

static struct relay *relay_at(int h)
{
	if (h < HANDLE0 || h >= HANDLE0 + MAX_HANDLES)
		return NULL;
	return &F.h[h - HANDLE0];
}

static bool family_enabled(int family)
{
	return family == AF_INET ? P.relay_v4 : family == AF_INET6 ? P.relay_v6 : false;
}

static int new_handle(int family, bool reserved, struct turn_alloc *owner)
{
	if (F.next >= HANDLE0 + MAX_HANDLES)
		return -ENOSPC;
	int h = F.next++;
	struct relay *r = relay_at(h);
	r->live = true;
	r->reserved = reserved;
	r->family = family;
	r->owner = owner;
	r->addr = family == AF_INET ? RELAY4 : RELAY6;
	addr_set_port(&r->addr, (uint16_t)(50000 + (h - HANDLE0)));
	return h;
}

static int fake_relay_open(void *ctx, struct turn_alloc *a, int family, unsigned flags, union tern_addr *addr,
                           int *next, union tern_addr *next_addr)
{
	FUZZ_CHECK(a != NULL);
	/* the core answers 440 before asking for a family that is off */
	FUZZ_CHECK(family_enabled(family));
	FUZZ_CHECK(!(flags & TURN_RELAY_RESERVE_NEXT) || next);
	if (F.fail_every && ++F.open_calls % F.fail_every == 0)
		return -ENOSPC;
	int h = new_handle(family, false, a);
	if (h < 0)
		return h;
	*addr = relay_at(h)->addr;
	if ((flags & TURN_RELAY_RESERVE_NEXT) && next) {
		int h2 = new_handle(family, true, NULL);
		if (h2 >= 0) {
			*next = h2;
			*next_addr = relay_at(h2)->addr;
		}
	}
	return h;
}

static int fake_relay_adopt(void *ctx, struct turn_alloc *a, int handle, union tern_addr *addr)
{
	struct relay *r = relay_at(handle);
	FUZZ_CHECK(a != NULL);
	/* only a reserved, unowned socket can be redeemed */
	FUZZ_CHECK(r && r->live && r->reserved && !r->owner);
	if (F.fail_every && ++F.open_calls % F.fail_every == 0)
		return -EBADF;
	r->reserved = false;
	r->owner = a;
	*addr = r->addr;
	return 0;
}

static void fake_relay_close(void *ctx, int handle)
{
	struct relay *r = relay_at(handle);
	/* closing twice, or what was never opened, is a core bug */
	FUZZ_CHECK(r && r->live);
	r->live = false;
	r->owner = NULL;
}

/* The fast path (turn/fast.c): a handle table; every set names a live relay
 * and a UDP endpoint, a refresh or a removal names a live handle, and by
 * teardown every mapping was taken back. */
#define FAST_MAX 4096
static bool fast_live[FAST_MAX];
static uint32_t fast_next, fast_nlive;

static int fake_fast_set(void *ctx, const struct turn_fast *f, uint32_t *h)
{
	(void)ctx;
	struct relay *r = relay_at(f->relay);
	FUZZ_CHECK(r && r->live && f->ep->transport == TURN_T_UDP);
	if (*h) {
		FUZZ_CHECK(*h < FAST_MAX && fast_live[*h]);
		return 0;
	}
	if (fast_next + 1 >= FAST_MAX || (fast_next & 7) == 7) {
		fast_next++; /* every 8th install is refused: the core must cope */
		return -ENOSPC;
	}
	*h = ++fast_next;
	fast_live[*h] = true;
	fast_nlive++;
	return 0;
}

static void fake_fast_del(void *ctx, uint32_t h, const struct turn_fast *f, struct turn_fast_counts *out)
{
	(void)ctx;
	(void)f;
	FUZZ_CHECK(h && h < FAST_MAX && fast_live[h]);
	fast_live[h] = false;
	fast_nlive--;
	out->up_datagrams++;
	out->up_bytes += 10;
}

static void fake_fast_read(void *ctx, uint32_t h, struct turn_fast_counts *out)
{
	(void)ctx;
	(void)out;
	FUZZ_CHECK(h && h < FAST_MAX && fast_live[h]);
}

static void check_to_client(const uint8_t *d, size_t len, size_t hdrlen, size_t paylen, bool stream)
{
	FUZZ_CHECK(len >= 4);
	if (stun_is_channeldata(d, len)) {
		/* RFC 8656 §12.5: header + payload, padded to 4 over TCP, not over UDP */
		uint16_t ch = (uint16_t)(d[0] << 8 | d[1]);
		FUZZ_CHECK(hdrlen == TURN_CHANNEL_HDR &&
		           len == hdrlen + paylen + (stream ? (4 - paylen % 4) % 4 : 0));
		FUZZ_CHECK(F.alloc); /* only what a peer sent goes to a client as data */
		FUZZ_CHECK(ch >= TURN_CHANNEL_MIN && ch <= T->p.channel_max);
		FUZZ_CHECK((size_t)(d[2] << 8 | d[3]) == paylen);
		if (TRACE)
			fprintf(stderr, "  -> client: ChannelData 0x%04x, %zu bytes\n", ch, paylen);
		return;
	}
	struct stun_msg m;
	FUZZ_CHECK(stun_parse(&m, d, len) == 0);
	if (m.cls == STUN_INDICATION) {
		FUZZ_CHECK(m.method == TURN_DATA && F.alloc);
		const struct stun_attr *pa = stun_find(&m, STUN_A_XOR_PEER_ADDRESS);
		const struct stun_attr *da = stun_find(&m, STUN_A_DATA);
		union tern_addr peer;
		FUZZ_CHECK(pa && da && stun_attr_xaddr(&m, pa, &peer) == 0 && da->len == paylen);
		if (TRACE)
			fprintf(stderr, "  -> client: Data indication, %zu bytes\n", paylen);
		return;
	}
	FUZZ_CHECK(m.cls == STUN_SUCCESS || m.cls == STUN_ERROR);
	FUZZ_CHECK(paylen == 0);
	/* answers go back where the request came from */
	FUZZ_CHECK(!F.alloc && F.from);
	bool signed_resp = m.mi >= 0 || m.mi256 >= 0;
	if (signed_resp) {
		/* signed with the key of the request, or (a retransmission answered
		 * from the cache) with the key of an earlier one */
		bool ok = m.mi256 >= 0 ? F.keylen && stun_check_integrity_sha256(&m, F.key, F.keylen) == 0
		                       : F.keylen && stun_check_integrity(&m, F.key, F.keylen) == 0;
		for (unsigned i = 0; !ok && i < F.nused; i++)
			ok = m.mi256 >= 0 ? stun_check_integrity_sha256(&m, F.used[i].k, F.used[i].len) == 0
			                  : stun_check_integrity(&m, F.used[i].k, F.used[i].len) == 0;
		FUZZ_CHECK(ok);
	} else {
		/* docs/ARCHITECTURE.md: unauthenticated answers carry no reason
		 * phrase and no SOFTWARE (amplification) */
		FUZZ_CHECK(!stun_find(&m, STUN_A_SOFTWARE));
		/* the per-source limit guards spoofable datagram sources only */
		if (!stream)
			account_unsigned(F.from, len);
	}
	/* with authentication on, TURN successes are always signed */
	if (AU && m.cls == STUN_SUCCESS && m.method != STUN_BINDING)
		FUZZ_CHECK(signed_resp);
	if (m.cls == STUN_ERROR) {
		const struct stun_attr *e = stun_find(&m, STUN_A_ERROR_CODE);
		int code;
		const uint8_t *reason;
		size_t rlen;
		FUZZ_CHECK(e && stun_attr_error(e, &code, &reason, &rlen) == 0);
		FUZZ_CHECK(signed_resp || rlen == 0);
		if (TRACE)
			fprintf(stderr, "  -> client: method 0x%03x error %d\n", m.method, code);
	} else if (TRACE) {
		fprintf(stderr, "  -> client: method 0x%03x success%s\n", m.method,
		        m.mi >= 0 || m.mi256 >= 0 ? " (signed)" : "");
	}
	if (m.fp >= 0)
		FUZZ_CHECK(stun_check_fingerprint(&m) == 0);
	const struct stun_attr *tok = stun_find(&m, STUN_A_RESERVATION_TOKEN);
	if (tok && tok->len == 8) {
		memcpy(F.token, tok->val, 8);
		F.have_token = true;
	}
}

static void fake_send(bool to_client, bool stream, int handle, const union tern_addr *src,
                      const union tern_addr *dst, const uint8_t *hdr, size_t hdrlen, const uint8_t *payload,
                      size_t paylen, size_t pad)
{
	static uint8_t d[STUN_MAX_MSG + TURN_TX_HDR_MAX];

	FUZZ_CHECK(dst && (dst->sa.sa_family == AF_INET || dst->sa.sa_family == AF_INET6));
	FUZZ_CHECK(hdrlen <= TURN_TX_HDR_MAX && pad <= 3);
	FUZZ_CHECK(hdrlen == 0 || hdr);
	FUZZ_CHECK(paylen == 0 || payload);
	/* (an empty datagram is legal UDP: a Send with an empty DATA relays one) */
	FUZZ_CHECK(hdrlen + paylen + pad <= STUN_MAX_MSG);
	if (paylen) {
		/* borrowed from the datagram in hand, never from elsewhere */
		FUZZ_CHECK(payload >= F.cur && payload + paylen <= F.cur + F.curlen);
	}
	fuzz_touch(hdr, hdrlen);
	fuzz_touch(payload, paylen);
	if (to_client) {
		if (F.alloc) {
			/* data from a peer: to the allocation's client, only with a
			 * permission for the peer's IP (RFC 8656 §10.3) */
			FUZZ_CHECK((uint32_t)handle == F.alloc->ep.id &&
			           addr_equal(dst, &F.alloc->ep.remote));
			FUZZ_CHECK(src && addr_equal(src, &F.alloc->ep.local));
			FUZZ_CHECK(perm_find(T, F.alloc, F.from));
		} else {
			FUZZ_CHECK(F.from && F.ep && (uint32_t)handle == F.ep->id && addr_equal(dst, F.from));
			/* answers leave from the address the client wrote to */
			FUZZ_CHECK(src && F.local && addr_equal(src, F.local));
		}
		if (hdrlen)
			memcpy(d, hdr, hdrlen);
		if (paylen)
			memcpy(d + hdrlen, payload, paylen);
		memset(d + hdrlen + paylen, 0, pad);
		check_to_client(d, hdrlen + paylen + pad, hdrlen, paylen, stream);
		return;
	}
	struct relay *r = relay_at(handle);
	FUZZ_CHECK(r && r->live && !r->reserved && r->owner);
	FUZZ_CHECK(hdrlen == 0 && pad == 0 && src == NULL);
	FUZZ_CHECK(dst->sa.sa_family == r->family);
	/* never relay into a forbidden place, whatever the client sent */
	FUZZ_CHECK(policy_peer_allowed(&POL, dst));
	/* only for the allocation of the client that sent it, and only to a
	 * peer it has a live permission for (RFC 8656 §9, §10.2, §12.4) */
	FUZZ_CHECK(!F.alloc && F.from);
	FUZZ_CHECK(F.ep && r->owner == alloc_lookup(T, F.ep));
	FUZZ_CHECK(perm_find(T, r->owner, dst));
	if (TRACE) {
		char a[TERN_ADDRSTRLEN];
		fprintf(stderr, "  -> peer %s via relay %d: %zu bytes\n",
		        addr_format(dst, a, sizeof(a), true), handle, paylen);
	}
}

static enum turn_tx fake_send_client(void *ctx, const struct turn_ep *ep, const uint8_t *hdr, size_t hdrlen,
                                     const uint8_t *payload, size_t paylen, size_t pad)
{
	FUZZ_CHECK(ep && (ep->transport == TURN_T_UDP ? listener_ok((int)ep->id)
	                                              : ep->transport == TURN_T_TCP && ep->id >= CONN0));
	fake_send(true, turn_transport_is_stream(ep->transport), (int)ep->id, &ep->local, &ep->remote, hdr,
	          hdrlen, payload, paylen, pad);
	return TURN_TX_QUEUED;
}

static enum turn_tx fake_send_peer(void *ctx, int relay, const union tern_addr *peer, const uint8_t *payload,
                                   size_t len)
{
	FUZZ_CHECK(!listener_ok(relay));
	fake_send(false, false, relay, NULL, peer, NULL, 0, payload, len, 0);
	return TURN_TX_QUEUED;
}

/* ---- invariants ---- */

static void check_core(void)
{
	const struct turn_stats *st = turn_stats(T);
	unsigned live = 0, perms = 0, chans = 0;

	FUZZ_CHECK(st->allocs_created - st->allocs_deleted == st->allocs_live);
	for (size_t i = 0; i < T->used_allocs; i++) {
		struct turn_alloc *a = &T->pool[i];
		unsigned np = 0, nc = 0;
		if (!a->live)
			continue;
		live++;
		FUZZ_CHECK(alloc_lookup(T, &a->ep) == a);
		FUZZ_CHECK(a->nrelay >= 1 && a->nrelay <= 2);
		for (unsigned k = 0; k < a->nrelay; k++) {
			struct relay *r = relay_at(a->relay[k]);
			FUZZ_CHECK(r && r->live && r->owner == a);
		}
		for (struct turn_perm *p = a->perms; p; p = p->next)
			np++;
		for (struct turn_chan *c = a->chans; c; c = c->next) {
			FUZZ_CHECK(c->num >= TURN_CHANNEL_MIN && c->num <= T->p.channel_max);
			nc++;
		}
		FUZZ_CHECK(np == a->nperms && np <= T->p.max_perms);
		FUZZ_CHECK(nc == a->nchans && nc <= T->p.max_channels);
		/* the allocation's timer covers its expiry */
		FUZZ_CHECK(timer_armed(&a->timer));
		perms += np;
		chans += nc;
	}
	FUZZ_CHECK(live == st->allocs_live);
	FUZZ_CHECK(perms == st->perms_live);
	FUZZ_CHECK(chans == st->channels_live);
	FUZZ_CHECK(perms <= T->used_perms && T->used_perms <= T->nperm_pool);
	FUZZ_CHECK(chans <= T->used_chans && T->used_chans <= T->nchan_pool);
	FUZZ_CHECK(turn_shared_total(SH) == live);
	/* every owned relay belongs to a live allocation */
	for (int h = HANDLE0; h < F.next; h++) {
		struct relay *r = relay_at(h);
		if (r->live && r->owner)
			FUZZ_CHECK(r->owner->live);
	}
}

/* ---- setup ---- */

static void setup(uint8_t c0, uint8_t c1)
{
	memset(&F, 0, sizeof(F));
	F.next = HANDLE0;
	F.now = T0_MS;
	F.wall = WALL0;
	F.fail_every = (c1 & C1_OPEN_FAILS) ? 3 : 0;
	AU = (c0 & C0_NOAUTH) ? NULL : AUTHS[c0 & (C0_SHA256 | C0_REST)];

	policy_init(&POL);
	POL.allow_loopback = (c1 & C1_LOOPBACK) != 0;
	if (c1 & C1_RANGES) {
		struct tern_cidr c;
		if (cidr_parse(&c, "10.0.0.0/8") == 0)
			policy_allow(&POL, &c);
		if (cidr_parse(&c, "203.0.113.128/25") == 0)
			policy_deny(&POL, &c);
	}
	union tern_addr own = addr_of("192.0.2.1:3478");
	policy_add_own(&POL, &own);
	own = addr_of("[2001:db8::1]:3478");
	policy_add_own(&POL, &own);
	policy_add_own(&POL, &RELAY4);
	policy_add_own(&POL, &RELAY6);

	SH = turn_shared_new((c1 & C1_QUOTA) ? 1 : 0, (c1 & C1_QUOTA) ? 3 : 0);
	FUZZ_CHECK(SH);
	/* A small pool with large per-allocation limits; the shared
	 * permission and channel pools hold n times those limits, so their
	 * caps are lowered below (as internal.h allows) to run out first. */
	unsigned pool = (c1 & C1_SMALL_POOL) ? 2 : 8;
	unsigned lim = (c1 & C1_SMALL_LIMITS) ? 2 : (c1 & C1_SMALL_POOL) ? 40 : 6;
	P = (struct turn_params){
	    .auth = AU,
	    .policy = &POL,
	    .shared = SH,
	    .relay_v4 = !(c0 & C0_NO_V4),
	    .relay_v6 = !(c0 & C0_NO_V6),
	    .max_lifetime = 3600,
	    .default_lifetime = 600,
	    .permission_lifetime = 300,
	    .channel_lifetime = 600,
	    .max_bps = (c1 & C1_MAX_BPS) ? 500 : 0,
	    .max_allocs = pool,
	    .max_perms = lim,
	    .max_channels = lim,
	    .software = (c0 & C0_SOFTWARE) ? "tern fuzz" : NULL,
	    .fingerprint = (c0 & C0_FINGERPRINT) != 0,
	    .no_stun = (c1 & C1_NO_STUN) != 0,
	    .channel_max = (c0 & C0_STRICT_CHAN) ? TURN_CHANNEL_MAX : 0,
	};
	IO = (struct turn_io){
	    .relay_open = fake_relay_open,
	    .relay_adopt = fake_relay_adopt,
	    .relay_close = fake_relay_close,
	    .send_client = fake_send_client,
	    .send_peer = fake_send_peer,
	    .fast_set = fake_fast_set,
	    .fast_del = fake_fast_del,
	    .fast_read = fake_fast_read,
	};
	memset(fast_live, 0, sizeof(fast_live));
	fast_next = fast_nlive = 0;
#ifdef TURN_UNAUTH_SLOTS
	/* the limits bit also limits unsigned answers: 200 bytes/s, the
	 * smallest burst (TURN_TX_HDR_MAX) */
	P.unauth_bps = (c1 & C1_QUOTA) ? 200 : 0;
	NACCT = 0;
#endif
	T = turn_new(&P, &IO, 0x5eed);
	FUZZ_CHECK(T);
	if (c1 & C1_SMALL_POOL) {
		/* fewer than one CreatePermission's peers can need: all or none */
		T->nperm_pool = 5;
		T->nchan_pool = 3;
	}
	turn_set_time(T, F.now, F.wall);
}

static void teardown(void)
{
	check_core();
	turn_free(T);
	T = NULL;
	turn_shared_free(SH, &IO);
	SH = NULL;
	policy_free(&POL);
	/* every channel the kernel was given was taken back */
	FUZZ_CHECK(fast_nlive == 0);
	/* every relay socket the core opened was closed */
	for (int h = HANDLE0; h < F.next; h++)
		FUZZ_CHECK(!relay_at(h)->live);
}

/* ---- inputs ---- */

static unsigned pick(struct fz *f, const union tern_addr *table, unsigned n, union tern_addr *out)
{
	uint8_t s = fz_u8(f);
	if (s < 0xF0) {
		*out = table[s % n];
		return s;
	}
	memset(out, 0, sizeof(*out));
	if (s & 1) {
		size_t got;
		const uint8_t *ip = fz_bytes(f, 16, &got);
		out->v6.sin6_family = AF_INET6;
		memcpy(&out->v6.sin6_addr, ip, got);
		out->v6.sin6_port = htons(fz_u16(f));
	} else {
		size_t got;
		const uint8_t *ip = fz_bytes(f, 4, &got);
		out->v4.sin_family = AF_INET;
		memcpy(&out->v4.sin_addr, ip, got);
		out->v4.sin_port = htons(fz_u16(f));
	}
	return s;
}

struct client {
	union tern_addr addr;
	const union tern_addr *local;
	bool tcp; /* a connection of its own instead of the UDP listener */
	int listener;
	unsigned idx; /* for the retransmission txid */
};

static void pick_client(struct fz *f, struct client *c)
{
	unsigned s = pick(f, CLIENTS, NCLIENTS, &c->addr);
	c->listener = LISTENER0 + (int)((s >> 3) & 1);
	c->local = &LOCALS[(s >> 4) & 1];
	c->tcp = (s >> 5) & 1;
	c->idx = s % NCLIENTS;
}

/* The endpoint of a client: the UDP listener, or its TCP connection (one
 * per client address, listener and server address). */
static struct turn_ep client_ep(const struct client *c)
{
	struct turn_ep ep = {.id = (uint32_t)c->listener,
	                     .gen = 0,
	                     .transport = TURN_T_UDP,
	                     .local = *c->local,
	                     .remote = c->addr};
	if (c->tcp) {
		ep.id = CONN0 + (uint32_t)(c->listener * 2 + (c->local == &LOCALS[1]));
		ep.gen = 1;
		ep.transport = TURN_T_TCP;
	}
	return ep;
}

/* Hand one datagram to the core from an exact-size copy, so a read past
 * its end is caught by ASan. */
static void deliver(const struct client *c, const uint8_t *buf, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	FUZZ_CHECK(copy);
	memcpy(copy, buf, len);
	F.cur = copy;
	F.curlen = len;
	F.from = &c->addr;
	F.listener = c->listener;
	F.local = c->local;
	struct turn_ep ep = client_ep(c);
	F.ep = &ep;
	turn_on_client(T, &ep, copy, len);
	F.ep = NULL;
	F.cur = NULL;
	F.curlen = 0;
	F.from = NULL;
	F.local = NULL;
	F.keylen = 0;
	free(copy);
}

static void op_raw(struct fz *f)
{
	struct client c;
	size_t len;
	pick_client(f, &c);
	const uint8_t *b = fz_bytes(f, fz_u16(f) % MAX_DGRAM, &len);
	deliver(&c, b, len);
}

static void txid_for(const struct client *c, bool retransmit, uint8_t txid[STUN_TXID_LEN])
{
	if (!retransmit) {
		uint32_t n = ++F.txn;
		memset(F.last_txid[c->idx], 0, STUN_TXID_LEN);
		memcpy(F.last_txid[c->idx], "fz", 2);
		memcpy(F.last_txid[c->idx] + 4, &n, sizeof(n));
	}
	memcpy(txid, F.last_txid[c->idx], STUN_TXID_LEN);
}

/* Append credentials and the integrity attribute as a client would. */
static void sign(struct stun_builder *b, const struct client *c, uint8_t flags, uint8_t extra)
{
	char user[96], pass[64];
	const uint8_t *md5key = NULL;
	uint8_t key[32];
	size_t keylen = 16;
	unsigned who = (flags >> S_USER_SHIFT) & 3;
	bool sha = (flags & S_SHA256) != 0;

	switch (who) {
	case 0:
		snprintf(user, sizeof(user), "alice");
		snprintf(pass, sizeof(pass), "secret");
		break;
	case 1:
		snprintf(user, sizeof(user), "bob");
		pass[0] = 0;
		md5key = BOB_KEY;
		break;
	case 2:
		if (auth_rest_credentials(SECRETS[0], "carol", F.wall, 3600, user, sizeof(user), pass,
		                          sizeof(pass)) < 0)
			return;
		break;
	default:
		snprintf(user, sizeof(user), "mallory");
		snprintf(pass, sizeof(pass), "guess");
		break;
	}
	if (sha) {
		stun_key_sha256(user, strlen(user), REALM, strlen(REALM), pass, strlen(pass), key);
		keylen = 32;
	} else if (md5key) {
		memcpy(key, md5key, 16);
	} else {
		stun_key_md5(user, strlen(user), REALM, strlen(REALM), pass, strlen(pass), key);
	}
	if (flags & S_WRONG_KEY)
		key[0] ^= 0x80;
	memcpy(F.key, key, keylen);
	F.keylen = keylen;
	bool known = false;
	for (unsigned i = 0; i < F.nused && !known; i++)
		known = F.used[i].len == keylen && memcmp(F.used[i].k, key, keylen) == 0;
	if (!known) {
		unsigned i = F.nused < 64 ? F.nused++ : F.txn % 64;
		memcpy(F.used[i].k, key, keylen);
		F.used[i].len = keylen;
	}

	if (flags & S_USERHASH) {
		uint8_t h[32];
		stun_userhash(user, strlen(user), REALM, strlen(REALM), h);
		stun_add_attr(b, STUN_A_USERHASH, h, sizeof(h));
	} else {
		stun_add_attr(b, STUN_A_USERNAME, user, strlen(user));
	}
	stun_add_attr(b, STUN_A_REALM, REALM, strlen(REALM));
	char nonce[AUTH_NONCE_MAX];
	int n = -1;
	if (AU) {
		uint64_t when = (extra & X_STALE) ? F.wall - 100000 : F.wall;
		union tern_addr other = CLIENTS[(c->idx + 1) % NCLIENTS];
		n = auth_nonce_new(AU, (extra & X_FOREIGN) ? &other : &c->addr, when, nonce, sizeof(nonce));
	}
	if (n < 0) {
		memcpy(nonce, "no-auth-nonce", 13);
		n = 13;
	}
	stun_add_attr(b, STUN_A_NONCE, nonce, (size_t)n);
	if (sha) {
		static const uint8_t algs[8] = {0, STUN_PWALG_SHA256, 0, 0, 0, STUN_PWALG_MD5, 0, 0};
		static const uint8_t alg[4] = {0, STUN_PWALG_SHA256, 0, 0};
		if (!(extra & X_NO_ALGS)) {
			stun_add_attr(b, STUN_A_PASSWORD_ALGORITHMS, algs, sizeof(algs));
			stun_add_attr(b, STUN_A_PASSWORD_ALGORITHM, alg, sizeof(alg));
		}
		if (extra & X_TRUNC_MI256) {
			/* RFC 8489 §14.6: a truncated HMAC (16..32 bytes) is legal; the
			 * builder writes 32, so reserve 16 and fill them here. The
			 * header length already ends after the attribute. */
			uint8_t *v = stun_add_attr(b, STUN_A_MESSAGE_INTEGRITY_SHA256, NULL, 16);
			uint8_t mac[EVP_MAX_MD_SIZE];
			unsigned maclen = 0;
			if (v && HMAC(EVP_sha256(), key, (int)keylen, b->buf, (size_t)(v - 4 - b->buf), mac,
			              &maclen))
				memcpy(v, mac, 16);
		} else {
			stun_add_integrity_sha256(b, key, keylen);
		}
	} else {
		stun_add_integrity(b, key, keylen);
	}
	if (extra & X_AFTER_MI)
		stun_add_u32(b, STUN_A_LIFETIME, 0); /* must be ignored (RFC 8489 §14.5) */
}

/* One attribute from the input; types 0xFFF0.. are harness shorthands. */
static void add_fuzz_attr(struct fz *f, struct stun_builder *b)
{
	uint16_t type = fz_u16(f);
	union tern_addr a;
	size_t len;
	const uint8_t *v;

	switch (type) {
	case FA_PEER:
		pick(f, PEERS, NPEERS, &a);
		stun_add_xaddr(b, STUN_A_XOR_PEER_ADDRESS, &a);
		return;
	case FA_CHANNEL:
		stun_add_channel(b, fz_u16(f));
		return;
	case FA_TOKEN:
		stun_add_attr(b, STUN_A_RESERVATION_TOKEN, F.token, sizeof(F.token));
		return;
	case FA_TRANSPORT:
		stun_add_transport(b, STUN_TRANSPORT_UDP);
		return;
	case FA_LIFETIME:
		stun_add_u32(b, STUN_A_LIFETIME, fz_u32(f));
		return;
	case FA_DATA:
		v = fz_bytes(f, fz_u16(f) % MAX_DGRAM, &len);
		stun_add_attr(b, STUN_A_DATA, v, len);
		return;
	default:
		v = fz_bytes(f, fz_u8(f), &len);
		stun_add_attr(b, type, v, len);
		return;
	}
}

static void finish_and_deliver(const struct client *c, struct stun_builder *b, uint8_t flags, uint8_t extra)
{
	if (flags & S_SIGN)
		sign(b, c, flags, extra);
	if (flags & S_FINGERPRINT)
		stun_add_fingerprint(b);
	int len = stun_build_finish(b);
	if (len > 0)
		deliver(c, b->buf, (size_t)len);
}

static void op_built(struct fz *f)
{
	static uint8_t buf[8192];
	struct client c;
	struct stun_builder b;
	uint8_t txid[STUN_TXID_LEN];

	pick_client(f, &c);
	uint8_t t = fz_u8(f), flags = fz_u8(f), extra = fz_u8(f);
	uint16_t method = (uint16_t)((t & 0x0F) | ((t & 0x40) ? 0x800 : 0));
	enum stun_class cls = (enum stun_class)((t >> 4) & 3);
	txid_for(&c, (flags & S_RETRANSMIT) != 0, txid);
	stun_build_init(&b, buf, sizeof(buf), stun_type(method, cls), txid);
	unsigned n = fz_u8(f) % 16;
	for (unsigned i = 0; i < n; i++)
		add_fuzz_attr(f, &b);
	finish_and_deliver(&c, &b, flags, extra);
}

static void op_allocate(struct fz *f)
{
	uint8_t buf[1024];
	struct client c;
	struct stun_builder b;
	uint8_t txid[STUN_TXID_LEN];

	pick_client(f, &c);
	uint8_t fl = fz_u8(f);
	txid_for(&c, false, txid);
	stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_ALLOCATE, STUN_REQUEST), txid);
	stun_add_transport(&b, STUN_TRANSPORT_UDP);
	if (fl & (A_EVEN | A_RESERVE)) {
		uint8_t v = (fl & A_RESERVE) ? 0x80 : 0;
		stun_add_attr(&b, STUN_A_EVEN_PORT, &v, 1);
	}
	if (fl & A_RAF6)
		stun_add_family(&b, STUN_A_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
	if (fl & A_AAF6)
		stun_add_family(&b, STUN_A_ADDITIONAL_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
	if (fl & A_DF)
		stun_add_attr(&b, STUN_A_DONT_FRAGMENT, NULL, 0);
	if (fl & A_TOKEN)
		stun_add_attr(&b, STUN_A_RESERVATION_TOKEN, F.token, sizeof(F.token));
	if (fl & A_LIFETIME)
		stun_add_u32(&b, STUN_A_LIFETIME, fz_u32(f));
	finish_and_deliver(&c, &b, S_SIGN | ((fl & A_SHA256) ? S_SHA256 : 0), 0);
}

static void op_req(struct fz *f)
{
	uint8_t buf[4096];
	struct client c;
	struct stun_builder b;
	uint8_t txid[STUN_TXID_LEN];
	union tern_addr peer;
	size_t len;

	pick_client(f, &c);
	uint8_t kind = fz_u8(f);
	uint8_t flags = S_SIGN | ((kind & 0x80) ? S_SHA256 : 0);
	txid_for(&c, false, txid);
	switch ((kind & 7) % 5) {
	case R_REFRESH: /* Refresh, maybe with a lifetime (0 deletes) */
		stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_REFRESH, STUN_REQUEST), txid);
		if (kind & 0x40)
			stun_add_u32(&b, STUN_A_LIFETIME, fz_u32(f));
		break;
	case R_PERMISSION: /* CreatePermission for 1..4 peers */
		stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_CREATE_PERMISSION, STUN_REQUEST), txid);
		for (unsigned i = 0, n = 1 + ((kind >> 3) & 3); i < n; i++) {
			pick(f, PEERS, NPEERS, &peer);
			stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &peer);
		}
		break;
	case R_CHANNEL_BIND: /* ChannelBind: 0x4000 + a byte, or a raw number */
		stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_CHANNEL_BIND, STUN_REQUEST), txid);
		stun_add_channel(&b, (kind & 0x40) ? fz_u16(f) : (uint16_t)(TURN_CHANNEL_MIN + fz_u8(f)));
		pick(f, PEERS, NPEERS, &peer);
		stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &peer);
		break;
	case R_SEND: /* Send indication: never signed */
		stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_SEND, STUN_INDICATION), txid);
		pick(f, PEERS, NPEERS, &peer);
		stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, &peer);
		const uint8_t *d = fz_bytes(f, fz_u8(f), &len);
		stun_add_attr(&b, STUN_A_DATA, d, len);
		flags = (kind & 0x40) ? S_FINGERPRINT : 0;
		break;
	default:
		stun_build_init(&b, buf, sizeof(buf), stun_type(STUN_BINDING, STUN_REQUEST), txid);
		flags = (kind & 0x40) ? S_FINGERPRINT : 0;
		break;
	}
	finish_and_deliver(&c, &b, flags, 0);
}

static void op_chandata(struct fz *f)
{
	uint8_t buf[4 + 1024 + 3];
	struct client c;
	size_t len;

	pick_client(f, &c);
	uint8_t s = fz_u8(f);
	uint16_t ch = (s & 0x80) ? fz_u16(f) : (uint16_t)(TURN_CHANNEL_MIN + (s & 0x7F));
	const uint8_t *d = fz_bytes(f, fz_u8(f) * 4u, &len);
	unsigned pad = fz_u8(f) & 3;
	stun_channeldata_hdr(buf, ch, (uint16_t)len);
	memcpy(buf + 4, d, len);
	memset(buf + 4 + len, 0, pad);
	deliver(&c, buf, 4 + len + pad);
}

static void op_peer(struct fz *f)
{
	int owned[MAX_HANDLES];
	unsigned n = 0;
	union tern_addr peer;
	size_t len;

	for (int h = HANDLE0; h < F.next; h++)
		if (relay_at(h)->live && relay_at(h)->owner)
			owned[n++] = h;
	uint8_t s = fz_u8(f);
	pick(f, PEERS, NPEERS, &peer);
	const uint8_t *b = fz_bytes(f, fz_u16(f) % MAX_DGRAM, &len);
	if (n == 0)
		return;
	int h = owned[s % n];
	/* the worker only hands a relay socket datagrams of its own family */
	if (peer.sa.sa_family != relay_at(h)->family)
		return;
	uint8_t *copy = malloc(len ? len : 1);
	FUZZ_CHECK(copy);
	memcpy(copy, b, len);
	F.cur = copy;
	F.curlen = len;
	F.from = &peer;
	F.alloc = relay_at(h)->owner;
	turn_on_peer(T, relay_at(h)->owner, h, &peer, copy, len);
	F.cur = NULL;
	F.curlen = 0;
	F.from = NULL;
	F.alloc = NULL;
	free(copy);
}

/* The client's connection closes: its allocation, if any, is gone, and
 * nothing is sent. (On a UDP endpoint the event means the same.) */
static void op_close(struct fz *f)
{
	struct client c;
	pick_client(f, &c);
	struct turn_ep ep = client_ep(&c);
	turn_on_client_closed(T, &ep);
	FUZZ_CHECK(alloc_lookup(T, &ep) == NULL);
}

static void op_time(struct fz *f)
{
	uint8_t s = fz_u8(f);
	/* small steps (timer wheel ticks) or big ones (lifetimes, nonces) */
	uint64_t ms = s < 0x80 ? (uint64_t)s * 16 : (uint64_t)(s - 0x7F) * (s - 0x7F) * 1000;
	F.now += ms;
	F.wall = WALL0 + (F.now - T0_MS) / 1000;
	turn_set_time(T, F.now, F.wall);
	turn_on_tick(T);
	int to = turn_next_timeout(T, 1000);
	FUZZ_CHECK(to >= 0 && to <= 1000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	if (!AUTHS[0])
		LLVMFuzzerInitialize(NULL, NULL);
	uint8_t c0 = fz_u8(&f), c1 = fz_u8(&f);
	setup(c0, c1);
	for (unsigned i = 0; i < MAX_OPS && f.n; i++) {
		uint8_t op = fz_u8(&f) % OP_COUNT;
		if (TRACE)
			fprintf(stderr, "op %u: %s\n", i,
			        (const char *const[]){"raw", "built", "allocate", "req", "chandata", "peer",
			                              "time", "close"}[op]);
		switch (op) {
		case OP_RAW:
			op_raw(&f);
			break;
		case OP_BUILT:
			op_built(&f);
			break;
		case OP_ALLOCATE:
			op_allocate(&f);
			break;
		case OP_REQ:
			op_req(&f);
			break;
		case OP_CHANDATA:
			op_chandata(&f);
			break;
		case OP_PEER:
			op_peer(&f);
			break;
		case OP_CLOSE:
			op_close(&f);
			break;
		default:
			op_time(&f);
			break;
		}
		check_core();
	}
	teardown();
	return 0;
}
