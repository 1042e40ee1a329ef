/* Attack: malformed input. Truncated headers, lengths past the datagram,
 * attribute lengths that overflow, padding lies, duplicate attributes,
 * integrity over the wrong span, huge LIFETIME, channel numbers out of
 * range, ChannelData shorter than its length field, oversized datagrams,
 * answers and indications where requests belong, random bytes.
 *
 * Every case asserts its outcome: either the right error answer, or no
 * answer at all and the matching drop counter moved by exactly the number
 * of datagrams (read from the stats socket). "No answer" is exact, not a
 * timeout: after each batch a fence (a Binding request on the same socket,
 * hence the same worker and queue) is answered only once everything before
 * it was processed, and whatever arrived before the fence's answer is an
 * answer to the batch. A legitimate client's allocation relays ChannelData
 * both ways before and after every batch. */
#include "attack.h"

#include <errno.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/bytes.h"

#define LEGIT_CHANNEL 0x4001
#define B_CHANNEL     0x4002
#define WAIT_MS       2000

static struct at_srv S;
static struct turnc legit, A, B;
static struct peer P, P2; /* the legitimate client's peer; B's peer */
static union tern_addr legit_relay, b_relay;
static struct turnc_resp r;
static uint8_t buf[4096];
static uint8_t rx[65536];

/* ---- the legitimate client ---- */

static bool legit_relays(const char *when)
{
	unsigned ok = 0;
	for (unsigned i = 0; i < 10; i++) {
		char msg[160];
		int n = snprintf(msg, sizeof(msg), "legit %.100s %u", when, i);
		union tern_addr from;
		static struct turnc_data d;
		if (turnc_send_channel(&legit, LEGIT_CHANNEL, msg, (size_t)n, false) < 0)
			continue;
		int got = peer_recv(&P, rx, sizeof(rx), &from, WAIT_MS);
		if (got != n || memcmp(rx, msg, (size_t)n) != 0 || !addr_equal(&from, &legit_relay))
			continue;
		peer_send(&P, &legit_relay, msg, (size_t)n);
		if (turnc_recv(&legit, &d, WAIT_MS) == 1 && d.is_channel && d.channel == LEGIT_CHANNEL &&
		    d.len == (size_t)n && memcmp(d.data, msg, (size_t)n) == 0)
			ok++;
	}
	return tap_int(ok, 10, "%s: the legitimate allocation relays ChannelData both ways (10 round trips)",
	               when);
}

/* ---- batches ---- */

struct batch {
	const char *name;
	struct at_stats before;
	unsigned stray;
};

static void batch_begin(struct batch *b, const char *name)
{
	tap_diag("---- %s ----", name);
	b->name = name;
	b->stray = 0;
	if (at_stats_read(S.stats, &b->before) < 0)
		tap_check(false, "%s: read the counters", name);
}

/* Fence every socket the batch used, then check: `answers` answers came
 * (0 for pure garbage), dropped_malformed moved by `malformed`, the other
 * drop counters by `other` (no allocation, no channel, no permission). */
static void batch_end(struct batch *b, struct turnc *const *socks, unsigned nsocks, unsigned answers,
                      unsigned malformed, unsigned other)
{
	struct at_stats after;
	for (unsigned i = 0; i < nsocks; i++)
		if (!tap_check(at_fence(socks[i], &b->stray, 5000) == 0, "%s: the fence is answered",
		               b->name))
			return;
	if (at_stats_read(S.stats, &after) < 0) {
		tap_check(false, "%s: read the counters", b->name);
		return;
	}
	tap_int(b->stray, answers, "%s: %u answer(s), nothing else came back", b->name, answers);
	tap_int((long)(after.dropped_malformed - b->before.dropped_malformed), malformed,
	        "%s: dropped_malformed grew by %u", b->name, malformed);
	tap_int((long)(after.dropped - b->before.dropped), malformed + other,
	        "%s: dropped grew by %u (no other drop, none rate-limited)", b->name, malformed + other);
	tap_int((long)(after.relayed_to_peer - b->before.relayed_to_peer), 0,
	        "%s: nothing was relayed to a peer", b->name);
	tap_check(peer_drain(&P2, 0, NULL) == 0, "%s: B's peer received nothing", b->name);
	legit_relays(b->name);
}

static int send_raw(struct turnc *c, const void *p, size_t len)
{
	int rc = turnc_send_raw(c, p, len);
	if (rc < 0)
		tap_diag("send %zu bytes: %s", len, strerror(-rc));
	return rc;
}

/* Send a raw request and wait for its answer (retransmitted twice). */
static int ask(struct turnc *c, const uint8_t *msg, size_t len)
{
	for (int i = 0; i < 3; i++) {
		send_raw(c, msg, len);
		if (turnc_wait_answer(c, msg + 8, &r, 700) == 0)
			return r.cls == STUN_SUCCESS ? 0 : r.code;
	}
	return -ETIMEDOUT;
}

/* A valid Binding request with one SOFTWARE attribute; returns its length. */
static size_t binding(uint8_t *p)
{
	size_t off = at_hdr(p, stun_type(STUN_BINDING, STUN_REQUEST), 0);
	off = at_attr(p, off, STUN_A_SOFTWARE, 6, "abcdef", 6);
	at_fix_len(p, off);
	return off;
}

/* ---- signed requests built by hand ---- */

/* Open c from 127.0.0.1 as bob and learn a nonce. */
static bool fresh(struct turnc *c, const char *what)
{
	if (turnc_open(c, &S.s.addr) < 0)
		return tap_check(false, "%s: open a client socket", what);
	turnc_set_creds(c, IT_USER2, IT_PASS2);
	return tap_check(turnc_learn_nonce(c) == 0, "%s: client learns REALM and NONCE from a 401", what);
}

/* q's attributes, then USERNAME REALM NONCE and a correct MESSAGE-INTEGRITY. */
static size_t build_signed(struct turnc *c, const struct turnc_req *q, uint8_t *out)
{
	uint8_t txid[STUN_TXID_LEN];
	turnc_random_txid(txid);
	int n = turnc_build(c, q, txid, true, out, sizeof(buf));
	if (n < 0) {
		tap_diag("turnc_build: %d", n);
		return 0;
	}
	return (size_t)n;
}

/* The same, but with the MESSAGE-INTEGRITY computed by the caller's rule:
 * span_len = bytes of message the HMAC covers (from the start), hdr_len =
 * the header length field value the HMAC sees. The attribute is added
 * after the credentials, and `trailer` (if any) after it. */
static size_t build_mi(struct turnc *c, const struct turnc_req *q, uint8_t *out, int mode)
{
	struct stun_builder b;
	uint8_t txid[STUN_TXID_LEN];
	turnc_random_txid(txid);
	stun_build_init(&b, out, sizeof(buf), stun_type(q->method, STUN_REQUEST), txid);
	for (unsigned i = 0; i < q->nattrs; i++) {
		if (q->attrs[i].xaddr)
			stun_add_xaddr(&b, q->attrs[i].type, &q->attrs[i].addr);
		else
			stun_add_attr(&b, q->attrs[i].type, q->attrs[i].val, q->attrs[i].len);
	}
	stun_add_attr(&b, STUN_A_USERNAME, c->user, strlen(c->user));
	stun_add_attr(&b, STUN_A_REALM, c->realm, strlen(c->realm));
	stun_add_attr(&b, STUN_A_NONCE, c->nonce, c->nonce_len);
	size_t before_mi = b.len;
	uint8_t *mi = stun_add_attr(&b, STUN_A_MESSAGE_INTEGRITY, NULL, 20);
	if (mode == 2)
		stun_add_attr(&b, STUN_A_SOFTWARE, "trailing", 8);
	int total = stun_build_finish(&b);
	uint8_t tmp[4096];
	memcpy(tmp, out, before_mi);
	if (mode == 1) /* length field as before MESSAGE-INTEGRITY was added */
		wr16(tmp + 2, (uint16_t)(before_mi - STUN_HEADER_LEN));
	else if (mode == 2) /* length field of the whole message, trailer included */
		wr16(tmp + 2, (uint16_t)(total - STUN_HEADER_LEN));
	/* mode 0: the right span (length through MESSAGE-INTEGRITY) */
	else
		wr16(tmp + 2, (uint16_t)(before_mi + 24 - STUN_HEADER_LEN));
	unsigned maclen = 20;
	HMAC(EVP_sha1(), c->key, (int)c->keylen, tmp, before_mi, mi, &maclen);
	return (size_t)total;
}

static void req_transport(struct turnc_req *q, uint8_t proto)
{
	uint8_t v[4] = {proto, 0, 0, 0};
	turnc_req_add(q, STUN_A_REQUESTED_TRANSPORT, v, 4);
}

/* ---- the cases ---- */

static void truncated_headers(void)
{
	struct batch b;
	struct turnc *socks[] = {&A};
	uint8_t full[64];
	size_t n = binding(full);
	batch_begin(&b, "truncated headers");
	for (size_t len = 0; len < STUN_HEADER_LEN; len++)
		send_raw(&A, full, len);
	/* ChannelData shorter than its own 4-byte header */
	static const uint8_t cd[3] = {0x40, 0x01, 0x00};
	for (size_t len = 1; len <= 3; len++)
		send_raw(&A, cd, len);
	/* a header whose attribute is cut in the middle */
	send_raw(&A, full, n - 3);
	batch_end(&b, socks, 1, 0, STUN_HEADER_LEN + 3 + 1, 0);
}

static void lengths_past_datagram(void)
{
	struct batch b;
	struct turnc *socks[] = {&A};
	uint8_t m[64];
	batch_begin(&b, "length fields past the datagram");
	unsigned sent = 0;
	static const uint16_t lens[] = {8, 100, 0xFFFC, 4 /* shorter than the datagram */, 2 /* not 4n */};
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t off = binding(m);
		wr16(m + 2, lens[i]);
		send_raw(&A, m, off);
		sent++;
	}
	/* the same with an Allocate and a bare header claiming a body */
	size_t off = at_hdr(m, stun_type(TURN_ALLOCATE, STUN_REQUEST), 8);
	send_raw(&A, m, off);
	/* wrong magic cookie */
	off = binding(m);
	m[7] ^= 0xFF;
	send_raw(&A, m, off);
	sent += 2;
	batch_end(&b, socks, 1, 0, sent, 0);
}

static void attribute_overflow(void)
{
	struct batch b;
	struct turnc *socks[] = {&A};
	uint8_t m[512];
	unsigned sent = 0;
	batch_begin(&b, "attribute length overflow");
	/* attribute length 0xFFFF in a 28-byte message */
	size_t off = binding(m);
	wr16(m + 22, 0xFFFF);
	send_raw(&A, m, off), sent++;
	/* one byte more than the message holds (7 + 1 padding > 8... 9 > 8) */
	off = binding(m);
	wr16(m + 22, 9);
	send_raw(&A, m, off), sent++;
	/* REQUESTED-TRANSPORT claiming 0xFFF0 bytes */
	off = at_hdr(m, stun_type(TURN_ALLOCATE, STUN_REQUEST), 0);
	off = at_attr(m, off, STUN_A_REQUESTED_TRANSPORT, 0xFFF0, "\x11\0\0\0", 4);
	at_fix_len(m, off);
	send_raw(&A, m, off), sent++;
	/* a lone attribute header at the end claiming a value */
	off = binding(m);
	off = at_attr(m, off, STUN_A_SOFTWARE, 0, NULL, 0);
	wr16(m + off - 2, 4);
	at_fix_len(m, off);
	send_raw(&A, m, off), sent++;
	/* more attributes than any message has (41 > 40) */
	off = at_hdr(m, stun_type(STUN_BINDING, STUN_REQUEST), 0);
	for (int i = 0; i < 41; i++)
		off = at_attr(m, off, STUN_A_SOFTWARE, 4, "abcd", 4);
	at_fix_len(m, off);
	send_raw(&A, m, off), sent++;
	batch_end(&b, socks, 1, 0, sent, 0);
}

static void padding_lies(void)
{
	struct batch b;
	struct turnc *socks[] = {&A};
	uint8_t m[128];
	batch_begin(&b, "padding lies");
	/* no padding after a 1-byte value: the message is 25 bytes */
	size_t off = at_hdr(m, stun_type(STUN_BINDING, STUN_REQUEST), 0);
	off = at_attr(m, off, STUN_A_SOFTWARE, 1, "x", 1);
	wr16(m + 2, 5);
	send_raw(&A, m, 25);
	/* padding bytes changed after FINGERPRINT was computed */
	struct stun_builder sb;
	uint8_t txid[STUN_TXID_LEN];
	turnc_random_txid(txid);
	stun_build_init(&sb, m, sizeof(m), stun_type(STUN_BINDING, STUN_REQUEST), txid);
	stun_add_attr(&sb, STUN_A_SOFTWARE, "x", 1);
	stun_add_fingerprint(&sb);
	int n = stun_build_finish(&sb);
	m[25] = 0xAA;
	send_raw(&A, m, (size_t)n);
	batch_end(&b, socks, 1, 0, 2, 0);

	/* Non-zero padding is allowed (RFC 8489 §14: its content is ignored). */
	off = at_hdr(m, stun_type(STUN_BINDING, STUN_REQUEST), 0);
	off = at_attr(m, off, STUN_A_SOFTWARE, 1, "x", 1);
	memset(m + 25, 0xFF, 3);
	at_fix_len(m, off);
	int rc = ask(&A, m, off);
	tap_check(rc == 0, "non-zero padding bytes are ignored: Binding answered (%s)", it_outcome(rc));
}

static void duplicate_attributes(void)
{
	uint8_t m[1024];
	struct turnc_req q;
	struct turnc K;
	int rc;

	tap_diag("---- duplicate attributes ----");
	/* RFC 8489 §14: only the first of duplicates is processed. */
	size_t off = at_hdr(m, stun_type(STUN_BINDING, STUN_REQUEST), 0);
	for (int i = 0; i < 30; i++)
		off = at_attr(m, off, STUN_A_SOFTWARE, 4, "abcd", 4);
	at_fix_len(m, off);
	rc = ask(&A, m, off);
	tap_check(rc == 0, "Binding with 30 SOFTWARE attributes is answered (%s)", it_outcome(rc));
	/* a second FINGERPRINT after a valid one is not part of the message */
	struct stun_builder sb;
	uint8_t txid[STUN_TXID_LEN];
	turnc_random_txid(txid);
	stun_build_init(&sb, m, sizeof(m), stun_type(STUN_BINDING, STUN_REQUEST), txid);
	stun_add_fingerprint(&sb);
	int n = stun_build_finish(&sb);
	off = at_attr(m, (size_t)n, STUN_A_FINGERPRINT, 4, "\xde\xad\xbe\xef", 4);
	at_fix_len(m, off);
	rc = ask(&A, m, off);
	tap_check(
	    rc == 0 && r.has_fingerprint && r.fingerprint_ok == 1,
	    "Binding with a valid FINGERPRINT and a bogus second one is answered, with FINGERPRINT (%s)",
	    it_outcome(rc));

	if (!fresh(&K, "duplicates"))
		return;
	/* REQUESTED-TRANSPORT TCP then UDP: the first decides (442). */
	turnc_req_init(&q, TURN_ALLOCATE);
	req_transport(&q, STUN_TRANSPORT_TCP);
	req_transport(&q, STUN_TRANSPORT_UDP);
	rc = ask(&K, m, build_signed(&K, &q, m));
	tap_int(rc, 442, "Allocate with REQUESTED-TRANSPORT TCP then UDP: the first counts (442)");
	/* UDP then TCP: allocated. */
	turnc_req_init(&q, TURN_ALLOCATE);
	req_transport(&q, STUN_TRANSPORT_UDP);
	req_transport(&q, STUN_TRANSPORT_TCP);
	rc = ask(&K, m, build_signed(&K, &q, m));
	tap_check(rc == 0 && r.nrelayed == 1 && r.integrity_ok == 1,
	          "Allocate with REQUESTED-TRANSPORT UDP then TCP: the first counts (%s)", it_outcome(rc));
	/* LIFETIME 700 then 0: refreshed to 700, not deleted. */
	turnc_req_init(&q, TURN_REFRESH);
	turnc_req_add_u32(&q, STUN_A_LIFETIME, 700);
	turnc_req_add_u32(&q, STUN_A_LIFETIME, 0);
	rc = ask(&K, m, build_signed(&K, &q, m));
	tap_check(rc == 0 && r.has_lifetime && r.lifetime == 700,
	          "Refresh with LIFETIME 700 then 0: refreshed for 700 s, not deleted (%s, lifetime %u)",
	          it_outcome(rc), r.lifetime);
	/* USERNAME alice then (from the credentials) bob, signed with bob's
	 * key: the first name is the one checked. */
	turnc_req_init(&q, TURN_REFRESH);
	turnc_req_add(&q, STUN_A_USERNAME, IT_USER, strlen(IT_USER));
	rc = ask(&K, m, build_signed(&K, &q, m));
	tap_int(rc, 401,
	        "Refresh with USERNAME alice then bob, signed with bob's key: the first counts (401)");
	/* XOR-PEER-ADDRESS 127.0.0.1 then the server's own listening address
	 * (always forbidden, and local: this test stays on loopback) */
	union tern_addr ok_peer = it_addr("127.0.0.1", 9), bad_peer = S.s.addr;
	turnc_req_init(&q, TURN_CHANNEL_BIND);
	turnc_req_add_u32(&q, STUN_A_CHANNEL_NUMBER, 0x4123u << 16);
	turnc_req_add_xaddr(&q, STUN_A_XOR_PEER_ADDRESS, &ok_peer);
	turnc_req_add_xaddr(&q, STUN_A_XOR_PEER_ADDRESS, &bad_peer);
	rc = ask(&K, m, build_signed(&K, &q, m));
	tap_check(rc == 0, "ChannelBind with two XOR-PEER-ADDRESS: the first (allowed) one counts (%s)",
	          it_outcome(rc));
	turnc_req_init(&q, TURN_CHANNEL_BIND);
	turnc_req_add_u32(&q, STUN_A_CHANNEL_NUMBER, 0x4124u << 16);
	turnc_req_add_xaddr(&q, STUN_A_XOR_PEER_ADDRESS, &bad_peer);
	turnc_req_add_xaddr(&q, STUN_A_XOR_PEER_ADDRESS, &ok_peer);
	rc = ask(&K, m, build_signed(&K, &q, m));
	tap_int(rc, 403,
	        "ChannelBind with the server's own address then 127.0.0.1: the first (forbidden) one "
	        "counts (403)");
	turnc_refresh(&K, 0, &r);
	turnc_close(&K);
}

static void integrity_span(void)
{
	uint8_t m[1024];
	struct turnc_req q;
	struct turnc K;
	struct at_stats before, after;
	int rc;

	tap_diag("---- integrity over the wrong span ----");
	if (!fresh(&K, "integrity") || at_stats_read(S.stats, &before) < 0)
		return;
	turnc_req_init(&q, TURN_ALLOCATE);
	req_transport(&q, STUN_TRANSPORT_UDP);
	rc = ask(&K, m, build_mi(&K, &q, m, 1));
	tap_int(rc, 401, "HMAC computed with the length field before MESSAGE-INTEGRITY: 401");
	rc = ask(&K, m, build_mi(&K, &q, m, 2));
	tap_int(rc, 401,
	        "HMAC computed with the length field of the whole message (a trailer after it): 401");
	size_t len = build_mi(&K, &q, m, 0);
	m[24] ^= 0x01; /* REQUESTED-TRANSPORT 17 -> 16 after signing */
	rc = ask(&K, m, len);
	tap_int(rc, 401, "a byte changed before MESSAGE-INTEGRITY after signing: 401");
	/* MESSAGE-INTEGRITY of 16 bytes (a truncated SHA-1 HMAC) */
	len = build_signed(&K, &q, m);
	size_t mi_off = len - 24;
	wr16(m + mi_off + 2, 16);
	wr16(m + 2, (uint16_t)(len - 4 - STUN_HEADER_LEN));
	rc = ask(&K, m, len - 4);
	tap_int(rc, 401, "a 16-byte MESSAGE-INTEGRITY: 401");
	if (at_stats_read(S.stats, &after) == 0)
		tap_int((long)(after.auth_failures - before.auth_failures), 4,
		        "each counted as an auth failure");

	/* The right span: accepted. A Refresh with LIFETIME 0 placed after
	 * MESSAGE-INTEGRITY is not part of the message (RFC 8489 §14.5). */
	rc = ask(&K, m, build_mi(&K, &q, m, 0));
	tap_check(rc == 0 && r.integrity_ok == 1,
	          "the correct HMAC (mode 0 of the same builder): allocated (%s)", it_outcome(rc));
	turnc_req_init(&q, TURN_REFRESH);
	turnc_req_add_u32(&q, STUN_A_LIFETIME, 900);
	len = build_signed(&K, &q, m);
	size_t off = at_attr(m, len, STUN_A_LIFETIME, 4, "\0\0\0\0", 4);
	at_fix_len(m, off);
	rc = ask(&K, m, off);
	tap_check(rc == 0 && r.has_lifetime && r.lifetime == 900,
	          "Refresh with LIFETIME 0 after MESSAGE-INTEGRITY: ignored, refreshed for 900 s (%s, %u)",
	          it_outcome(rc), r.lifetime);
	rc = turnc_refresh(&K, -1, &r);
	tap_check(rc == 0, "... the allocation is still there (%s)", it_outcome(rc));
	turnc_refresh(&K, 0, &r);
	turnc_close(&K);
}

static void huge_lifetime(void)
{
	struct turnc K;
	struct turnc_alloc_opts o = TURNC_ALLOC_DEFAULT;
	uint8_t m[1024];
	struct turnc_req q;
	int rc;

	tap_diag("---- huge LIFETIME ----");
	if (!fresh(&K, "lifetime"))
		return;
	o.lifetime = 0xFFFFFFFFu;
	rc = turnc_allocate(&K, &o, &r);
	tap_check(rc == 0 && r.has_lifetime && r.lifetime == 3600,
	          "Allocate with LIFETIME 0xFFFFFFFF: capped at max-allocate-lifetime 3600 (%s, %u)",
	          it_outcome(rc), r.lifetime);
	rc = turnc_refresh(&K, 0xFFFFFFFFu, &r);
	tap_check(rc == 0 && r.has_lifetime && r.lifetime == 3600,
	          "Refresh with LIFETIME 0xFFFFFFFF: capped at 3600 (%s, %u)", it_outcome(rc), r.lifetime);
	rc = turnc_refresh(&K, 0x80000000u, &r);
	tap_check(rc == 0 && r.has_lifetime && r.lifetime == 3600,
	          "Refresh with LIFETIME 2^31 (negative as a signed int): capped at 3600 (%s, %u)",
	          it_outcome(rc), r.lifetime);
	turnc_req_init(&q, TURN_REFRESH);
	turnc_req_add(&q, STUN_A_LIFETIME, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	rc = ask(&K, m, build_signed(&K, &q, m));
	tap_int(rc, 400, "Refresh with an 8-byte LIFETIME: 400");
	rc = turnc_refresh(&K, 1, &r);
	tap_check(rc == 0 && r.has_lifetime && r.lifetime == 600,
	          "Refresh with LIFETIME 1: raised to the default 600 (%s, %u)", it_outcome(rc), r.lifetime);
	turnc_refresh(&K, 0, &r);
	turnc_close(&K);
}

static void channel_numbers(void)
{
	uint8_t m[1024];
	struct turnc_req q;
	union tern_addr peer = P2.addr;
	int rc;

	tap_diag("---- channel numbers out of range ----");
	static const uint16_t bad[] = {0x0000, 0x0001, 0x3FFF, 0x8000, 0xBFFF, 0xFFFF};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = turnc_channel_bind(&B, bad[i], &peer, &r);
		tap_int(rc, 400, "ChannelBind to channel 0x%04x: 400", bad[i]);
	}
	turnc_req_init(&q, TURN_CHANNEL_BIND);
	turnc_req_add(&q, STUN_A_CHANNEL_NUMBER, "\x40\x10", 2);
	turnc_req_add_xaddr(&q, STUN_A_XOR_PEER_ADDRESS, &peer);
	rc = ask(&B, m, build_signed(&B, &q, m));
	tap_int(rc, 400, "ChannelBind with a 2-byte CHANNEL-NUMBER: 400");
	turnc_req_init(&q, TURN_CHANNEL_BIND);
	turnc_req_add_u32(&q, STUN_A_CHANNEL_NUMBER, 0x4010u << 16);
	rc = ask(&B, m, build_signed(&B, &q, m));
	tap_int(rc, 400, "ChannelBind without XOR-PEER-ADDRESS: 400");
	rc = turnc_channel_bind(&B, 0x7FFF, &peer, &r);
	tap_int(rc, 400, "0x7FFF (in range) cannot be bound to B's peer, already on 0x%04x: 400", B_CHANNEL);

	struct batch b;
	struct turnc *socks[] = {&B};
	uint8_t cd[64];
	batch_begin(&b, "ChannelData on channels out of range or unbound");
	static const uint16_t nums[] = {0x3FFF, 0x8000, 0xC000, 0xFFFF};
	for (unsigned i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		stun_channeldata_hdr(cd, nums[i], 8);
		memcpy(cd + 4, "outrange", 8);
		send_raw(&B, cd, 12);
	}
	stun_channeldata_hdr(cd, 0x4FFF, 8); /* in range, not bound */
	memcpy(cd + 4, "unbound!", 8);
	send_raw(&B, cd, 12);
	batch_end(&b, socks, 1, 0, 4, 1);
}

static void channeldata_short(void)
{
	struct batch b;
	struct turnc *socks[] = {&B};
	static uint8_t cd[4096];
	union tern_addr from;

	batch_begin(&b, "ChannelData shorter than its length field");
	memset(cd, 0x5A, sizeof(cd));
	stun_channeldata_hdr(cd, B_CHANNEL, 100);
	send_raw(&B, cd, 4 + 50);
	stun_channeldata_hdr(cd, B_CHANNEL, 0xFFFF);
	send_raw(&B, cd, 4);
	stun_channeldata_hdr(cd, B_CHANNEL, 5);
	send_raw(&B, cd, 4 + 4);
	send_raw(&B, cd, 3);
	batch_end(&b, socks, 1, 0, 4, 0);

	/* Longer than its length is allowed over UDP (padding): exactly the
	 * declared bytes reach the peer. */
	stun_channeldata_hdr(cd, B_CHANNEL, 5);
	memcpy(cd + 4, "hello\0\0\0", 8);
	send_raw(&B, cd, 12);
	int n = peer_recv(&P2, rx, sizeof(rx), &from, WAIT_MS);
	tap_check(n == 5 && memcmp(rx, "hello", 5) == 0 && addr_equal(&from, &b_relay),
	          "ChannelData of length 5 padded to 8: the peer gets exactly 5 bytes (%d)", n);
	stun_channeldata_hdr(cd, B_CHANNEL, 7);
	memcpy(cd + 4, "seven!!", 7);
	send_raw(&B, cd, 4 + 7 + 100);
	n = peer_recv(&P2, rx, sizeof(rx), &from, WAIT_MS);
	tap_check(n == 7 && memcmp(rx, "seven!!", 7) == 0,
	          "ChannelData of length 7 with 100 extra bytes: the peer gets exactly 7 bytes (%d)", n);

	/* Larger than the server's receive slot: relayed intact or dropped and
	 * counted, never cut. */
	struct at_stats before, after;
	at_stats_read(S.stats, &before);
	stun_channeldata_hdr(cd, B_CHANNEL, 3996);
	send_raw(&B, cd, 4000);
	unsigned stray = 0;
	at_fence(&B, &stray, 5000);
	at_stats_read(S.stats, &after);
	n = peer_recv(&P2, rx, sizeof(rx), NULL, 300);
	bool dropped = n == -ETIMEDOUT && after.dropped_malformed == before.dropped_malformed + 1;
	tap_check(n == 3996 || dropped,
	          "a 4000-byte ChannelData is relayed whole or dropped and counted (%s)",
	          n == 3996 ? "relayed"
	          : dropped ? "dropped"
	                    : "neither");
}

static void not_requests(void)
{
	struct batch b;
	struct turnc *socks[] = {&A, &B};
	uint8_t m[128];
	size_t off;

	batch_begin(&b, "answers, indications and Send indications that cannot be relayed");
	/* answers sent to the server */
	off = at_hdr(m, stun_type(STUN_BINDING, STUN_SUCCESS), 0);
	send_raw(&A, m, off);
	off = at_hdr(m, stun_type(TURN_ALLOCATE, STUN_ERROR), 0);
	off = at_attr(m, off, STUN_A_ERROR_CODE, 4, "\0\0\x04\x01", 4);
	at_fix_len(m, off);
	send_raw(&A, m, off);
	/* indications that are not Send: ignored, no answer, not counted */
	off = at_hdr(m, stun_type(STUN_BINDING, STUN_INDICATION), 0);
	send_raw(&A, m, off);
	off = at_hdr(m, stun_type(TURN_DATA, STUN_INDICATION), 0);
	send_raw(&A, m, off);
	/* Send without an allocation: dropped (no allocation) */
	union tern_addr peer = P2.addr;
	turnc_send(&A, &peer, "x", 1);
	/* Send on B's allocation without DATA, without XOR-PEER-ADDRESS, with
	 * an address of family 3 */
	struct stun_builder sb;
	uint8_t txid[STUN_TXID_LEN];
	turnc_random_txid(txid);
	stun_build_init(&sb, m, sizeof(m), stun_type(TURN_SEND, STUN_INDICATION), txid);
	stun_add_xaddr(&sb, STUN_A_XOR_PEER_ADDRESS, &peer);
	send_raw(&B, m, (size_t)stun_build_finish(&sb));
	stun_build_init(&sb, m, sizeof(m), stun_type(TURN_SEND, STUN_INDICATION), txid);
	stun_add_attr(&sb, STUN_A_DATA, "data", 4);
	send_raw(&B, m, (size_t)stun_build_finish(&sb));
	stun_build_init(&sb, m, sizeof(m), stun_type(TURN_SEND, STUN_INDICATION), txid);
	stun_add_attr(&sb, STUN_A_XOR_PEER_ADDRESS, "\x00\x03\x12\x34\x01\x02\x03\x04", 8);
	stun_add_attr(&sb, STUN_A_DATA, "data", 4);
	send_raw(&B, m, (size_t)stun_build_finish(&sb));
	batch_end(&b, socks, 2, 0, 2 + 3, 1);

	/* A bad FINGERPRINT means "not STUN": dropped. */
	batch_begin(&b, "a wrong FINGERPRINT");
	turnc_random_txid(txid);
	stun_build_init(&sb, m, sizeof(m), stun_type(STUN_BINDING, STUN_REQUEST), txid);
	stun_add_fingerprint(&sb);
	int n = stun_build_finish(&sb);
	m[n - 1] ^= 1;
	send_raw(&A, m, (size_t)n);
	struct turnc *a_only[] = {&A};
	batch_end(&b, a_only, 1, 0, 1, 0);

	/* Unknown comprehension-required attribute: 420 listing it. */
	off = binding(m);
	off = at_attr(m, off, 0x0031, 4, "abcd", 4);
	at_fix_len(m, off);
	int rc = ask(&A, m, off);
	tap_check(rc == 420 && r.nunknown == 1 && r.unknown[0] == 0x0031,
	          "Binding with unknown comprehension-required 0x0031: 420 listing it (%s)", it_outcome(rc));
	/* Unknown method: 400. */
	off = at_hdr(m, stun_type(0x0FF, STUN_REQUEST), 0);
	rc = ask(&A, m, off);
	tap_int(rc, 400, "a request of unknown method 0x0FF: 400");
}

static void random_garbage(void)
{
	struct batch b;
	struct turnc R;
	uint8_t m[1500];
	uint64_t x = 0x9E3779B97F4A7C15ULL ^ (uint64_t)it_now_ms();

	if (turnc_open(&R, &S.s.addr) < 0) {
		tap_check(false, "random: open a socket");
		return;
	}
	batch_begin(&b, "5000 random datagrams");
	unsigned stun_looking = 0;
	for (unsigned i = 0; i < 5000; i++) {
		size_t len = (size_t)(x % 600);
		for (size_t k = 0; k < len; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			m[k] = (uint8_t)x;
		}
		/* Every tenth carries a STUN header with a good cookie and length
		 * over random attributes. */
		if (i % 10 == 0 && len >= 20) {
			m[0] &= 0x3F;
			m[0] &= ~0x01; /* request or indication class */
			m[1] &= ~0x10;
			len &= ~(size_t)3;
			wr16(m + 2, (uint16_t)(len - 20));
			wr32(m + 4, STUN_MAGIC_COOKIE);
			stun_looking++;
		}
		send_raw(&R, m, len);
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (i % 200 == 199)
			at_fence(&R, &b.stray, 5000); /* keep the server's queue short */
	}
	/* The STUN-looking ones are requests (class bits cleared): the few
	 * whose random attributes happen to parse are answered (400, 401,
	 * 420, 437...); everything else is dropped and counted. */
	struct at_stats after;
	at_fence(&R, &b.stray, 5000);
	at_stats_read(S.stats, &after);
	uint64_t dropped = after.dropped - b.before.dropped;
	tap_diag("random: %u STUN-looking, %u answers, %llu dropped", stun_looking, b.stray,
	         (unsigned long long)dropped);
	tap_int((long)(dropped + b.stray), 5000,
	        "random: every datagram was either dropped and counted or answered (%llu + %u)",
	        (unsigned long long)dropped, b.stray);
	tap_int((long)(after.relayed_to_peer - b.before.relayed_to_peer), 0, "random: nothing relayed");
	tap_int((long)(after.allocations_created - b.before.allocations_created), 0,
	        "random: nothing allocated");
	tap_int((long)(after.dropped_ratelimit - b.before.dropped_ratelimit), 0,
	        "random: nothing rate-limited");
	legit_relays("after random datagrams");
	turnc_close(&R);
}

static bool setup(void)
{
	static const char *const args[] = {IT_AUTH_ARGS, "--allow-loopback-peers", NULL};
	if (!tap_check(at_srv_start(&S, 16, args) == 0, "server starts with a stats socket"))
		return false;
	if (peer_open(&P, "127.0.0.1", 0) < 0 || peer_open(&P2, "127.0.0.1", 0) < 0)
		return tap_check(false, "peer sockets");
	if (it_client_alloc(&legit, &S.s, AF_INET, &r) < 0)
		return false;
	legit_relay = r.relayed[0];
	int rc = turnc_channel_bind(&legit, LEGIT_CHANNEL, &P.addr, &r);
	if (!tap_check(rc == 0, "legitimate client binds channel 0x%04x to its peer (%s)", LEGIT_CHANNEL,
	               it_outcome(rc)))
		return false;
	if (turnc_open(&A, &S.s.addr) < 0)
		return tap_check(false, "attacker socket A");
	if (turnc_open(&B, &S.s.addr) < 0)
		return tap_check(false, "attacker socket B");
	turnc_set_creds(&B, IT_USER2, IT_PASS2);
	rc = turnc_allocate(&B, &TURNC_ALLOC_DEFAULT, &r);
	b_relay = r.relayed[0];
	if (!tap_check(rc == 0, "attacker B (bob) allocates (%s)", it_outcome(rc)))
		return false;
	rc = turnc_channel_bind(&B, B_CHANNEL, &P2.addr, &r);
	return tap_check(rc == 0, "attacker B binds channel 0x%04x (%s)", B_CHANNEL, it_outcome(rc));
}

int main(int argc, char **argv)
{
	at_setup(argc, argv, "malformed input", 240);
	if (setup() && legit_relays("before any attack")) {
		truncated_headers();
		lengths_past_datagram();
		attribute_overflow();
		padding_lies();
		duplicate_attributes();
		integrity_span();
		huge_lifetime();
		channel_numbers();
		channeldata_short();
		not_requests();
		random_garbage();
		legit_relays("at the end");
		struct at_stats st;
		if (at_stats_read(S.stats, &st) == 0) {
			tap_int((long)st.dropped_ratelimit, 0,
			        "no answer was rate-limited during the whole test");
			tap_int((long)(st.allocations_created - st.allocations_deleted), (long)st.allocations,
			        "allocations created - deleted = live (%llu - %llu)",
			        (unsigned long long)st.allocations_created,
			        (unsigned long long)st.allocations_deleted);
		}
	}
	tap_check(srv_alive(&S.s), "server still running");
	turnc_close(&legit);
	turnc_close(&A);
	turnc_close(&B);
	at_srv_stop(&S);
	return tap_done();
}
