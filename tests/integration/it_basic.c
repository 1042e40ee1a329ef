/* Basic STUN/TURN behaviour: Binding, the long-term auth flow, Allocate,
 * Refresh, the errors of RFC 8656 §7.2 and RFC 8489 §6.3, stale nonces,
 * FINGERPRINT, SHA-256 integrity, malformed input, clean shutdown. */
#include "it.h"

#include <errno.h>
#include <string.h>

#include "util/bytes.h"

static struct turnc_resp r, r2;

static void test_binding(const struct srv *s)
{
	struct turnc c;
	int rc;

	if (turnc_open(&c, &s->addr) == 0) {
		rc = turnc_binding(&c, &r);
		tap_check(rc == 0 && r.cls == STUN_SUCCESS, "IPv4 Binding: %s", it_outcome(rc));
		tap_addr(&r.mapped, &c.local, "IPv4 Binding: XOR-MAPPED-ADDRESS is our socket address");
		turnc_close(&c);
	}
	if (turnc_open(&c, &s->addr6) == 0) {
		rc = turnc_binding(&c, &r);
		tap_check(rc == 0 && r.cls == STUN_SUCCESS, "IPv6 Binding: %s", it_outcome(rc));
		tap_addr(&r.mapped, &c.local, "IPv6 Binding: XOR-MAPPED-ADDRESS is our socket address");
		turnc_close(&c);
	} else {
		tap_check(false, "open an IPv6 client socket to %s", it_fmt(&s->addr6));
	}
}

static void test_auth(const struct srv *s)
{
	struct turnc c;
	struct turnc_req q;
	uint8_t tr[4] = {STUN_TRANSPORT_UDP, 0, 0, 0};
	int rc;

	if (it_client(&c, s, AF_INET) < 0)
		return;
	turnc_req_init(&q, TURN_ALLOCATE);
	turnc_req_add(&q, STUN_A_REQUESTED_TRANSPORT, tr, sizeof(tr));
	q.no_auth = true;
	rc = turnc_request(&c, &q, &r);
	tap_int(rc, 401, "unauthenticated Allocate is answered 401");
	tap_check(r.has_realm && r.has_nonce, "the 401 carries REALM and NONCE");
	const struct stun_attr *realm = stun_find(&r.msg, STUN_A_REALM);
	tap_check(realm && realm->len == strlen(IT_REALM) && memcmp(realm->val, IT_REALM, realm->len) == 0,
	          "REALM is the configured realm '%s'", IT_REALM);
	it_check_tern(r.len <= 3 * r.req_len, "the 401 (%zu bytes) is at most 3x the request (%zu bytes)",
	              r.len, r.req_len);
	tap_check(r.msg.mi < 0 && r.msg.mi256 < 0, "the 401 has no MESSAGE-INTEGRITY");
	turnc_close(&c);

	if (turnc_open(&c, &s->addr) == 0) {
		turnc_set_creds(&c, IT_USER, "wrong-password");
		rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		tap_int(rc, 401, "Allocate with a wrong password is answered 401");
		tap_int(r.seen_401, 1, "... after the first 401 challenge");
		turnc_close(&c);
	}
	if (turnc_open(&c, &s->addr) == 0) {
		turnc_set_creds(&c, "mallory", IT_PASS);
		rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		tap_int(rc, 401, "Allocate by an unknown user is answered 401");
		turnc_close(&c);
	}
	/* A MESSAGE-INTEGRITY computed with another key must not pass. */
	if (it_client(&c, s, AF_INET) == 0 && turnc_learn_nonce(&c) == 0) {
		uint8_t txid[STUN_TXID_LEN], buf[512];
		c.key[0] ^= 0xff;
		turnc_random_txid(txid);
		turnc_req_init(&q, TURN_ALLOCATE);
		turnc_req_add(&q, STUN_A_REQUESTED_TRANSPORT, tr, sizeof(tr));
		int n = turnc_build(&c, &q, txid, true, buf, sizeof(buf));
		if (n > 0)
			turnc_send_raw(&c, buf, (size_t)n);
		rc = turnc_wait_answer(&c, txid, &r, 2000);
		tap_check(rc == 0 && r.cls == STUN_ERROR && r.code == 401,
		          "Allocate with a corrupted MESSAGE-INTEGRITY is answered 401 (%s)",
		          rc == 0 ? it_outcome(r.code) : it_outcome(rc));
		turnc_close(&c);
	}
}

static void test_allocate(const struct srv *s)
{
	struct turnc c;
	int rc;
	union tern_addr relay_ip = it_addr("127.0.0.1", 0);

	if (it_client(&c, s, AF_INET) < 0)
		return;
	rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
	tap_check(rc == 0, "authenticated Allocate succeeds (%s)", it_outcome(rc));
	tap_int(r.seen_401, 1, "... after one 401 challenge");
	tap_int(r.nrelayed, 1, "one XOR-RELAYED-ADDRESS");
	tap_check(r.nrelayed == 1 && addr_equal_ip(&r.relayed[0], &relay_ip),
	          "relayed address is the relay ip (%s)", it_fmt(&r.relayed[0]));
	uint16_t port = addr_port(&r.relayed[0]);
	tap_check(port >= s->min_port && port <= s->max_port,
	          "relayed port %u is within --min-port..--max-port", port);
	tap_check(r.has_lifetime && r.lifetime == 600, "LIFETIME is the default 600 (got %u)", r.lifetime);
	tap_addr(&r.mapped, &c.local, "Allocate success carries XOR-MAPPED-ADDRESS of the client");
	tap_int(r.integrity_ok, 1, "success response has a valid MESSAGE-INTEGRITY");
	union tern_addr first_relay = r.relayed[0];

	/* RFC 8656 §7.2: a 5-tuple may hold only one allocation. */
	rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
	tap_int(rc, 437, "second Allocate on the same 5-tuple (new transaction) is answered 437");

	struct turnc_alloc_opts o;
	rc = turnc_refresh(&c, 1000, &r);
	tap_check(rc == 0 && r.has_lifetime && r.lifetime == 1000,
	          "Refresh with LIFETIME 1000: %s, lifetime %u", it_outcome(rc), r.lifetime);
	rc = turnc_refresh(&c, 100000, &r);
	tap_check(rc == 0 && r.has_lifetime && r.lifetime == 1800,
	          "Refresh with LIFETIME 100000 is capped at --max-allocate-lifetime 1800: %s, lifetime %u",
	          it_outcome(rc), r.lifetime);
	rc = turnc_refresh(&c, -1, &r);
	tap_check(rc == 0 && r.has_lifetime && r.lifetime == 600, "Refresh without LIFETIME: %s, lifetime %u",
	          it_outcome(rc), r.lifetime);

	union tern_addr peer = it_addr("127.0.0.1", 9);
	rc = turnc_permission(&c, &peer, 1, &r);
	tap_check(rc == 0, "CreatePermission on the live allocation: %s", it_outcome(rc));

	rc = turnc_refresh(&c, 0, &r);
	tap_check(rc == 0, "Refresh with LIFETIME 0 (delete): %s", it_outcome(rc));
	tap_check(r.has_lifetime && r.lifetime == 0, "... answers LIFETIME 0");
	/* RFC 8656 §7.3: a desired lifetime of zero deletes the allocation (coturn
	 * keeps it a little longer). */
	rc = turnc_permission(&c, &peer, 1, &r);
	it_check_tern(rc == 437, "CreatePermission after delete is answered 437 (%s)", it_outcome(rc));
	rc = turnc_refresh(&c, 600, &r);
	it_check_tern(rc == 437, "Refresh after delete is answered 437 (%s)", it_outcome(rc));

	/* The 5-tuple is free again. */
	rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
	it_check_tern(rc == 0, "a new Allocate on the same 5-tuple after delete succeeds: %s",
	              it_outcome(rc));
	tap_diag("first relay %s, second %s", it_fmt(&first_relay), it_fmt(&r.relayed[0]));
	turnc_refresh(&c, 0, &r);
	turnc_close(&c);

	/* Requested lifetime above the maximum is capped. */
	if (it_client(&c, s, AF_INET) == 0) {
		o = TURNC_ALLOC_DEFAULT;
		o.lifetime = 100000;
		rc = turnc_allocate(&c, &o, &r);
		tap_check(rc == 0 && r.lifetime == 1800,
		          "Allocate with LIFETIME 100000 gets --max-allocate-lifetime 1800: %s, lifetime %u",
		          it_outcome(rc), r.lifetime);
		turnc_refresh(&c, 0, &r);
		turnc_close(&c);
	}

	/* IPv6 client transport, IPv4 relay (the default family). */
	if (it_client(&c, s, AF_INET6) == 0) {
		rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		tap_check(rc == 0 && r.nrelayed == 1 && r.relayed[0].sa.sa_family == AF_INET,
		          "Allocate over IPv6 gets an IPv4 relay by default: %s", it_outcome(rc));
		tap_addr(&r.mapped, &c.local, "... and XOR-MAPPED-ADDRESS is our IPv6 address");
		turnc_refresh(&c, 0, &r);
		turnc_close(&c);
	}
}

static void test_retransmit(const struct srv *s)
{
	struct turnc c;
	struct turnc_req q;
	uint8_t tr[4] = {STUN_TRANSPORT_UDP, 0, 0, 0};
	uint8_t txid[STUN_TXID_LEN], buf[512];

	if (it_client(&c, s, AF_INET) < 0)
		return;
	if (!tap_check(turnc_learn_nonce(&c) == 0, "learn REALM/NONCE from a 401"))
		goto out;
	turnc_req_init(&q, TURN_ALLOCATE);
	turnc_req_add(&q, STUN_A_REQUESTED_TRANSPORT, tr, sizeof(tr));
	turnc_random_txid(txid);
	int n = turnc_build(&c, &q, txid, true, buf, sizeof(buf));
	if (!tap_check(n > 0, "build an authenticated Allocate"))
		goto out;
	turnc_send_raw(&c, buf, (size_t)n);
	int rc = turnc_wait_answer(&c, txid, &r, 2000);
	tap_check(rc == 0 && r.cls == STUN_SUCCESS, "Allocate succeeds (%s)",
	          rc == 0 ? it_outcome(r.code) : it_outcome(rc));
	/* RFC 8656 §7.2: a retransmitted Allocate (same transaction id) gets the
	 * same success answer, not 437. */
	turnc_send_raw(&c, buf, (size_t)n);
	rc = turnc_wait_answer(&c, txid, &r2, 2000);
	tap_check(rc == 0 && r2.cls == STUN_SUCCESS,
	          "retransmitted Allocate (same txid) gets a success answer (%s)",
	          rc == 0 ? it_outcome(r2.code) : it_outcome(rc));
	tap_check(r.nrelayed == 1 && r2.nrelayed == 1 && addr_equal(&r.relayed[0], &r2.relayed[0]),
	          "... with the same XOR-RELAYED-ADDRESS (%s, %s)", it_fmt(&r.relayed[0]),
	          it_fmt(&r2.relayed[0]));
	turnc_refresh(&c, 0, &r);
out:
	turnc_close(&c);
}

static void test_errors(const struct srv *s)
{
	struct turnc c;
	struct turnc_alloc_opts o;
	struct turnc_req q;
	int rc;

	if (it_client(&c, s, AF_INET) < 0)
		return;
	o = TURNC_ALLOC_DEFAULT;
	o.transport = 132; /* SCTP */
	rc = turnc_allocate(&c, &o, &r);
	it_check_tern(rc == 442, "REQUESTED-TRANSPORT 132 (SCTP) is answered 442 (%s)", it_outcome(rc));
	/* RFC 8656 §7.2: 442 when the transport is not supported; RFC 6062 §5.1:
	 * a server that supports TCP relaying answers 400 when the control
	 * connection is not TCP/TLS. Either is right depending on TCP support. */
	o.transport = STUN_TRANSPORT_TCP;
	rc = turnc_allocate(&c, &o, &r);
	tap_check(rc == 442 || rc == 400, "REQUESTED-TRANSPORT TCP over UDP is answered 442 or 400 (%s)",
	          it_outcome(rc));
	o = TURNC_ALLOC_DEFAULT;
	o.transport = -1;
	rc = turnc_allocate(&c, &o, &r);
	tap_int(rc, 400, "Allocate without REQUESTED-TRANSPORT is answered 400");

	/* RFC 8489 §6.3.1: an unknown comprehension-required attribute gets 420
	 * listing it in UNKNOWN-ATTRIBUTES. */
	uint8_t tr[4] = {STUN_TRANSPORT_UDP, 0, 0, 0}, junk[4] = {1, 2, 3, 4};
	turnc_req_init(&q, TURN_ALLOCATE);
	turnc_req_add(&q, STUN_A_REQUESTED_TRANSPORT, tr, sizeof(tr));
	turnc_req_add(&q, 0x7f31, junk, sizeof(junk));
	rc = turnc_request(&c, &q, &r);
	tap_int(rc, 420, "Allocate with unknown comprehension-required attribute 0x7f31 is answered 420");
	tap_check(r.nunknown >= 1 && r.unknown[0] == 0x7f31,
	          "UNKNOWN-ATTRIBUTES lists 0x7f31 (got %u types, first 0x%04x)", r.nunknown,
	          r.nunknown ? r.unknown[0] : 0);
	turnc_req_init(&q, STUN_BINDING);
	turnc_req_add(&q, 0x7f31, junk, sizeof(junk));
	q.no_auth = true;
	rc = turnc_request(&c, &q, &r);
	tap_int(rc, 420, "Binding with unknown comprehension-required attribute is answered 420");

	/* An unknown comprehension-optional attribute is ignored. */
	turnc_req_init(&q, TURN_ALLOCATE);
	turnc_req_add(&q, STUN_A_REQUESTED_TRANSPORT, tr, sizeof(tr));
	turnc_req_add(&q, 0xc0de, junk, sizeof(junk));
	rc = turnc_request(&c, &q, &r);
	tap_check(rc == 0, "Allocate with unknown comprehension-optional attribute 0xc0de succeeds: %s",
	          it_outcome(rc));
	turnc_refresh(&c, 0, &r);

	/* Requests without an allocation. */
	turnc_close(&c);
	if (it_client(&c, s, AF_INET) < 0)
		return;
	union tern_addr peer = it_addr("127.0.0.1", 9);
	rc = turnc_refresh(&c, 600, &r);
	tap_int(rc, 437, "Refresh without an allocation is answered 437");
	rc = turnc_permission(&c, &peer, 1, &r);
	it_check_tern(rc == 437, "CreatePermission without an allocation is answered 437 (%s)",
	              it_outcome(rc));
	rc = turnc_channel_bind(&c, 0x4000, &peer, &r);
	it_check_tern(rc == 437, "ChannelBind without an allocation is answered 437 (%s)", it_outcome(rc));
	turnc_close(&c);
}

/* Malformed datagrams must be dropped (or answered with an error), never
 * crash the server: afterwards it still answers. */
static void test_malformed(struct srv *s)
{
	struct turnc c;
	uint8_t b[256];
	unsigned sent = 0;

	if (it_client(&c, s, AF_INET) < 0)
		return;
	memset(b, 0, sizeof(b));
	turnc_send_raw(&c, b, 1);
	turnc_send_raw(&c, b, 19);
	sent += 2;
	/* Binding header claiming 64 bytes of attributes with none present. */
	wr16(b, 0x0001);
	wr16(b + 2, 64);
	wr32(b + 4, STUN_MAGIC_COOKIE);
	turnc_send_raw(&c, b, 20);
	/* Length not a multiple of 4. */
	wr16(b + 2, 5);
	turnc_send_raw(&c, b, 25);
	/* Attribute whose length runs past the end. */
	wr16(b + 2, 8);
	wr16(b + 20, STUN_A_SOFTWARE);
	wr16(b + 22, 0xfff0);
	turnc_send_raw(&c, b, 28);
	/* Wrong magic cookie (an Allocate: a Binding without the cookie is a
	 * legitimate RFC 3489 request that servers may answer). */
	wr16(b, 0x0003);
	wr16(b + 2, 0);
	wr32(b + 4, 0xdeadbeef);
	turnc_send_raw(&c, b, 20);
	sent += 4;
	/* ChannelData shorter than its header, and on an unbound channel. */
	b[0] = 0x40;
	b[1] = 0x00;
	turnc_send_raw(&c, b, 3);
	wr16(b + 2, 200);
	turnc_send_raw(&c, b, 12);
	wr16(b + 2, 4);
	turnc_send_raw(&c, b, 8);
	sent += 3;
	/* Random bytes starting like STUN and like ChannelData. */
	for (unsigned i = 0; i < 64; i++) {
		turnc_random_txid(b);
		turnc_random_txid(b + 12);
		b[0] &= 0x7f;
		turnc_send_raw(&c, b, 24 + i);
		sent++;
	}
	/* Every answer to garbage must still be a well-formed STUN error. */
	unsigned answers = 0, bad = 0;
	while (turnc_wait_any(&c, &r, 300) == 0) {
		answers++;
		if (r.cls != STUN_ERROR) {
			bad++;
			tap_diag("answer to garbage: method 0x%03x class %d, %zu bytes, mapped %s", r.method,
			         r.cls, r.len, it_fmt(&r.mapped));
		}
	}
	tap_diag("%u malformed datagrams sent, %u answered", sent, answers);
	it_check_tern(bad == 0, "no malformed datagram got a success answer (%u did)", bad);
	tap_check(srv_alive(s), "server still running after malformed input");
	int rc = turnc_binding(&c, &r);
	tap_check(rc == 0, "server still answers Binding after malformed input: %s", it_outcome(rc));
	turnc_close(&c);
}

static void test_stale_nonce(void)
{
	struct srv s;
	struct turnc c;
	int rc;
	const char *args[] = {IT_AUTH_ARGS, "--stale-nonce=1", "--fingerprint", NULL};

	tap_diag("server 2: --stale-nonce=1 --fingerprint");
	if (!tap_check(srv_start(&s, 8, args) == 0, "server with --stale-nonce=1 starts"))
		return;
	if (turnc_open(&c, &s.addr) == 0) {
		rc = turnc_binding(&c, &r);
		tap_check(
		    rc == 0 && r.fingerprint_ok == 1,
		    "with --fingerprint, a Binding response (request without FINGERPRINT) carries a valid "
		    "FINGERPRINT (%s)",
		    r.fingerprint_ok < 0 ? "absent"
		    : r.fingerprint_ok   ? "valid"
		                         : "bad");
		turnc_close(&c);
	}
	if (it_client(&c, &s, AF_INET) == 0) {
		c.fingerprint = true;
		rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		tap_check(rc == 0, "Allocate with FINGERPRINT in the request: %s", it_outcome(rc));
		tap_check(r.fingerprint_ok == 1, "Allocate response carries a valid FINGERPRINT (%s)",
		          r.fingerprint_ok < 0 ? "absent"
		          : r.fingerprint_ok   ? "valid"
		                               : "bad");
		/* A protocol timer, not a speed assertion: the nonce expires after 1 s. */
		it_sleep_ms(2500);
		struct turnc_req q;
		turnc_req_init(&q, TURN_REFRESH);
		turnc_req_add_u32(&q, STUN_A_LIFETIME, 600);
		q.no_retry = true;
		rc = turnc_request(&c, &q, &r);
		tap_int(rc, 438, "Refresh with an expired nonce is answered 438 Stale Nonce");
		tap_check(r.has_nonce, "the 438 carries a new NONCE");
		rc = turnc_refresh(&c, 600, &r);
		tap_check(rc == 0 && r.seen_438 == 1,
		          "Refresh retried with the new nonce succeeds (%s, %u x 438)", it_outcome(rc),
		          r.seen_438);
		turnc_refresh(&c, 0, &r);
		turnc_close(&c);
	}
	srv_stop_check(&s);
}

static void test_sha256(void)
{
	struct srv s;
	struct turnc c;
	int rc;
	const char *args[] = {IT_AUTH_ARGS, "--sha256", NULL};

	if (srv_is_coturn()) {
		tap_skip("coturn has no --sha256", "MESSAGE-INTEGRITY-SHA256 and USERHASH");
		return;
	}
	tap_diag("server 3: --sha256");
	if (!tap_check(srv_start(&s, 8, args) == 0, "server with --sha256 starts"))
		return;
	if (it_client(&c, &s, AF_INET) == 0) {
		c.want_sha256 = true;
		rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		tap_check(rc == 0, "Allocate with PASSWORD-ALGORITHM SHA-256: %s", it_outcome(rc));
		tap_check(c.using_sha256, "the 401 offered SHA-256 in PASSWORD-ALGORITHMS");
		tap_check(r.msg.mi256 >= 0 && r.integrity_ok == 1,
		          "success carries a valid MESSAGE-INTEGRITY-SHA256");
		turnc_refresh(&c, 0, &r);
		turnc_close(&c);
	}
	if (it_client(&c, &s, AF_INET) == 0) {
		c.want_sha256 = true;
		c.want_userhash = true;
		rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		tap_check(rc == 0, "Allocate with USERHASH instead of USERNAME: %s", it_outcome(rc));
		turnc_refresh(&c, 0, &r);
		turnc_close(&c);
	}
	if (it_client(&c, &s, AF_INET) == 0) {
		/* A client that ignores PASSWORD-ALGORITHMS still gets in with MD5. */
		rc = turnc_allocate(&c, &TURNC_ALLOC_DEFAULT, &r);
		tap_check(rc == 0 && r.msg.mi >= 0 && r.integrity_ok == 1,
		          "MD5 MESSAGE-INTEGRITY still accepted with --sha256: %s", it_outcome(rc));
		turnc_refresh(&c, 0, &r);
		turnc_close(&c);
	}
	srv_stop_check(&s);
}

int main(int argc, char **argv)
{
	struct srv s;
	const char *args[] = {IT_AUTH_ARGS, "--max-allocate-lifetime", "1800", "--allow-loopback-peers",
	                      NULL};

	srv_setup(argc, argv);
	tap_watchdog(240);
	if (tap_check(srv_start(&s, 0, args) == 0, "server starts and answers Binding")) {
		test_binding(&s);
		test_auth(&s);
		test_allocate(&s);
		test_retransmit(&s);
		test_errors(&s);
		test_malformed(&s);
		srv_stop_check(&s);
	}
	test_stale_nonce();
	test_sha256();
	return tap_done();
}
