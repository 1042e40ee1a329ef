/* TURN core (src/turn/): Binding, framing and dropping, and
 * authentication (RFC 8489 §9.2.4). Allocate is in test_turn_alloc.c;
 * Refresh, permissions, channels and the data path in test_turn_relay.c.
 *
 * Every expected value comes from the test's own view of the protocol
 * (the client's key, the fake relay's addresses, the RFC's rules), never
 * from the code under test. Pure logic: nothing opens a socket. */
#include "test_turn_harness.h"

/* ---- Binding (RFC 8489) ---- */

static int binding(struct client *c, uint8_t *buf, size_t cap, bool fingerprint)
{
	struct stun_builder b;
	uint8_t txid[STUN_TXID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	txid[11] = (uint8_t)++txid_counter;
	stun_build_init(&b, buf, cap, stun_type(STUN_BINDING, STUN_REQUEST), txid);
	if (fingerprint)
		stun_add_fingerprint(&b);
	return stun_build_finish(&b);
}

static void test_binding_v4(void **state)
{
	struct client c;
	uint8_t buf[64];
	env_default();
	client_init(&c, "198.51.100.10:40000", NULL, NULL);
	int n = binding(&c, buf, sizeof(buf), false);
	const struct stun_msg *m = deliver(&c, buf, (size_t)n);
	expect_code(m, 0);
	assert_int_equal(m->method, STUN_BINDING);
	assert_addr_equal(xaddr(m, STUN_A_XOR_MAPPED_ADDRESS, 0), c.addr);
	assert_true(m->mi < 0 && m->mi256 < 0 && m->fp < 0);
	assert_int_equal(c.resp_len, 20 + 12);

	/* RFC 8489 §14.7: a request with FINGERPRINT gets one back */
	n = binding(&c, buf, sizeof(buf), true);
	m = deliver(&c, buf, (size_t)n);
	expect_code(m, 0);
	assert_true(m->fp >= 0);
	assert_int_equal(stun_check_fingerprint(m), 0);
	assert_int_equal(F.open_calls, 0);
}

static void test_binding_v6(void **state)
{
	struct client c;
	uint8_t buf[64];
	env_default();
	client_init(&c, "[2001:db8:5::7]:40001", NULL, NULL);
	int n = binding(&c, buf, sizeof(buf), false);
	const struct stun_msg *m = deliver(&c, buf, (size_t)n);
	expect_code(m, 0);
	assert_addr_equal(xaddr(m, STUN_A_XOR_MAPPED_ADDRESS, 0), c.addr);
	assert_int_equal(c.resp_len, 20 + 24);
}

static void test_binding_no_stun(void **state)
{
	struct client c;
	uint8_t buf[64];
	struct opts o = {.no_stun = true};
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", NULL, NULL);
	int n = binding(&c, buf, sizeof(buf), false);
	const struct stun_msg *m = deliver(&c, buf, (size_t)n);
	expect_code(m, 400);
	assert_int_equal(find(m, STUN_A_ERROR_CODE)->len, 4);
	assert_null(find(m, STUN_A_XOR_MAPPED_ADDRESS));
}

/* RFC 8489 §6.3.1, §14.9: unknown comprehension-required attributes are
 * listed in a 420; unknown comprehension-optional ones are ignored. */
static void test_unknown_attributes(void **state)
{
	struct client c;
	struct req q;
	static const uint8_t v[4] = {1, 2, 3, 4};
	env_default();
	client_init(&c, "198.51.100.10:40000", NULL, NULL);

	struct stun_builder *b = req_init(&q, &c, STUN_BINDING);
	stun_add_attr(b, 0x7777, v, sizeof(v));
	stun_add_attr(b, 0x0031, v, 2);
	const struct stun_msg *m = call(&c, &q);
	expect_code(m, 420);
	const struct stun_attr *u = find(m, STUN_A_UNKNOWN_ATTRIBUTES);
	assert_non_null(u);
	assert_int_equal(u->len, 4);
	uint16_t t1 = (uint16_t)(u->val[0] << 8 | u->val[1]), t2 = (uint16_t)(u->val[2] << 8 | u->val[3]);
	assert_true((t1 == 0x7777 && t2 == 0x0031) || (t1 == 0x0031 && t2 == 0x7777));

	b = req_init(&q, &c, STUN_BINDING);
	stun_add_attr(b, 0xC001, v, sizeof(v));
	stun_add_attr(b, 0x8FFF, v, 3);
	m = call(&c, &q);
	expect_code(m, 0);
	assert_addr_equal(xaddr(m, STUN_A_XOR_MAPPED_ADDRESS, 0), c.addr);
}

/* RFC 8489 §6.3: unknown attributes are looked at once the authentication
 * checks are done, so an authenticated request gets a signed 420 (a client
 * discards an unsigned answer to a signed request, §9.2.5) and an
 * unauthenticated one the 401 challenge. */
static void test_unknown_attributes_authenticated(void **state)
{
	struct client c;
	struct req q;
	static const uint8_t v[4] = {1, 2, 3, 4};
	env_default();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");

	c.no_sign = true;
	struct stun_builder *b = req_init(&q, &c, TURN_ALLOCATE);
	stun_add_transport(b, STUN_TRANSPORT_UDP);
	stun_add_attr(b, 0x7777, v, sizeof(v));
	const struct stun_msg *m = call(&c, &q);
	expect_code(m, 401);
	take_nonce(&c, m);
	client_key(&c);
	c.no_sign = false;

	b = req_init(&q, &c, TURN_ALLOCATE);
	stun_add_transport(b, STUN_TRANSPORT_UDP);
	stun_add_attr(b, 0x7777, v, sizeof(v));
	m = call(&c, &q);
	expect_code(m, 420);
	assert_true(m->mi >= 0); /* and call() verified it with alice's key */
	const struct stun_attr *u = find(m, STUN_A_UNKNOWN_ATTRIBUTES);
	assert_non_null(u);
	assert_int_equal(u->len, 2);
	assert_int_equal(u->val[0] << 8 | u->val[1], 0x7777);
	assert_int_equal(F.open_calls, 0);
	assert_int_equal(turn_stats(T)->allocs_live, 0);
}

/* ---- what is dropped without an answer ---- */

static void expect_dropped_malformed(struct client *c, const uint8_t *buf, size_t len)
{
	uint64_t before = turn_stats(T)->drop_malformed;
	deliver_none(c, buf, len);
	assert_int_equal(turn_stats(T)->drop_malformed, before + 1);
}

static void test_malformed(void **state)
{
	struct client c;
	uint8_t good[64], bad[64];
	env_default();
	client_init(&c, "198.51.100.10:40000", NULL, NULL);
	struct stun_builder b;
	static const uint8_t txid[STUN_TXID_LEN] = {9, 9, 9};
	stun_build_init(&b, good, sizeof(good), stun_type(STUN_BINDING, STUN_REQUEST), txid);
	stun_add_attr(&b, STUN_A_SOFTWARE, "abcdef", 6);
	int n = stun_build_finish(&b);
	assert_int_equal(n, 32);

	expect_dropped_malformed(&c, good, 0);             /* empty */
	expect_dropped_malformed(&c, good, 19);            /* shorter than a header */
	expect_dropped_malformed(&c, good, (size_t)n - 4); /* attribute cut */
	memcpy(bad, good, (size_t)n);
	bad[4] ^= 0x01; /* magic cookie */
	expect_dropped_malformed(&c, bad, (size_t)n);
	memcpy(bad, good, (size_t)n);
	bad[3] = 14; /* length not a multiple of 4 */
	expect_dropped_malformed(&c, bad, 34);
	memcpy(bad, good, (size_t)n);
	bad[3] = 16; /* length longer than the datagram */
	expect_dropped_malformed(&c, bad, (size_t)n);
	memcpy(bad, good, (size_t)n);
	bad[23] = 9; /* attribute length 9 runs past the message */
	expect_dropped_malformed(&c, bad, (size_t)n);
	memcpy(bad, good, (size_t)n);
	bad[0] |= 0x80; /* top bits of a STUN message must be 0 */
	expect_dropped_malformed(&c, bad, (size_t)n);

	/* Random bytes: never an answer; each counted as malformed, or (when
	 * the first byte makes it look like ChannelData) as without allocation. */
	uint32_t x = 0x12345678;
	uint64_t drops0 = turn_stats(T)->drop_malformed + turn_stats(T)->drop_no_alloc;
	for (int i = 0; i < 2000; i++) {
		uint8_t r[128];
		size_t len = (size_t)(i % 128);
		for (size_t k = 0; k < len; k++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			r[k] = (uint8_t)x;
		}
		deliver_none(&c, r, len);
	}
	assert_int_equal(turn_stats(T)->drop_malformed + turn_stats(T)->drop_no_alloc, drops0 + 2000);
	assert_int_equal(turn_stats(T)->requests, 0);
	assert_int_equal(F.open_calls, 0);
}

static void test_bad_fingerprint(void **state)
{
	struct client c;
	uint8_t buf[64];
	env_default();
	client_init(&c, "198.51.100.10:40000", NULL, NULL);
	struct stun_builder b;
	static const uint8_t txid[STUN_TXID_LEN] = {7};
	stun_build_init(&b, buf, sizeof(buf), stun_type(STUN_BINDING, STUN_REQUEST), txid);
	stun_add_attr(&b, STUN_A_SOFTWARE, "abcd", 4);
	stun_add_fingerprint(&b);
	int n = stun_build_finish(&b);
	assert_int_equal(n, 20 + 8 + 8);

	buf[n - 1] ^= 0x40; /* the CRC itself */
	expect_dropped_malformed(&c, buf, (size_t)n);
	buf[n - 1] ^= 0x40;
	buf[25] ^= 0x01; /* a byte it covers */
	expect_dropped_malformed(&c, buf, (size_t)n);
	buf[25] ^= 0x01;
	const struct stun_msg *m = deliver(&c, buf, (size_t)n);
	expect_code(m, 0);
}

/* A client sends only requests and indications: answers are dropped, and a
 * Binding indication (keepalive) is silently consumed. */
static void test_response_class_dropped(void **state)
{
	struct client c;
	struct req q;
	env_default();
	client_init(&c, "198.51.100.10:40000", NULL, NULL);
	static const enum stun_class cls[] = {STUN_SUCCESS, STUN_ERROR};
	for (unsigned i = 0; i < 2; i++) {
		struct stun_builder *b = req_init_cls(&q, &c, TURN_ALLOCATE, cls[i]);
		if (cls[i] == STUN_ERROR)
			stun_add_error(b, 401, NULL);
		expect_dropped_malformed(&c, q.buf, (size_t)stun_build_finish(b));
	}
	struct stun_builder *b = req_init_cls(&q, &c, STUN_BINDING, STUN_INDICATION);
	uint64_t before = turn_stats(T)->drop_malformed;
	deliver_none(&c, q.buf, (size_t)stun_build_finish(b));
	assert_int_equal(turn_stats(T)->drop_malformed, before);
	assert_int_equal(turn_stats(T)->requests, 0);
}

static void test_unknown_method(void **state)
{
	struct client c;
	struct req q;
	env_default();
	client_init(&c, "198.51.100.10:40000", NULL, NULL);
	req_init(&q, &c, TURN_DATA); /* an indication-only method, as a request */
	expect_code(call(&c, &q), 400);
	req_init(&q, &c, 0x0FF);
	expect_code(call(&c, &q), 400);
}

/* ---- authentication (RFC 8489 §9.2.4) ---- */

/* 401 without credentials: REALM and NONCE, nothing signed, no reason
 * phrase, and small (DESIGN: no amplification before authentication). */
static void test_auth_challenge(void **state)
{
	struct client c;
	struct req q;
	struct opts o = {.software = "tern-test"};
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	struct stun_builder *b = req_init(&q, &c, TURN_ALLOCATE);
	stun_add_transport(b, STUN_TRANSPORT_UDP);
	int reqlen = stun_build_finish(b);
	assert_int_equal(reqlen, 28);
	const struct stun_msg *m = call(&c, &q);

	expect_code(m, 401);
	assert_int_equal(find(m, STUN_A_ERROR_CODE)->len, 4);
	const struct stun_attr *r = find(m, STUN_A_REALM);
	assert_non_null(r);
	assert_int_equal(r->len, strlen(REALM));
	assert_memory_equal(r->val, REALM, r->len);
	const struct stun_attr *nonce = find(m, STUN_A_NONCE);
	assert_non_null(nonce);
	assert_true(nonce->len >= 8 && nonce->len <= AUTH_NONCE_MAX);
	for (unsigned i = 0; i < nonce->len; i++)
		assert_true(nonce->val[i] > 0x20 && nonce->val[i] < 0x7f);
	assert_true(m->mi < 0 && m->mi256 < 0);
	assert_null(find(m, STUN_A_USERNAME));
	assert_null(find(m, STUN_A_SOFTWARE));
	assert_null(find(m, STUN_A_PASSWORD_ALGORITHMS)); /* sha256 off */
	assert_true(c.resp_len <= 80);
	assert_true(c.resp_len * 10 < (size_t)reqlen * 27); /* ratio < 2.7 */

	const struct turn_stats *st = turn_stats(T);
	assert_int_equal(st->auth_challenge, 1);
	assert_int_equal(st->requests, 1);
	assert_int_equal(st->responses_err, 1);
	assert_int_equal(F.open_calls, 0);
	assert_int_equal(st->allocs_live, 0);

	/* Every challenge carries a usable nonce: a second one, too. */
	struct client c2 = c;
	client_login(&c2);
	expect_code(do_allocate(&c2), 0);
}

static void test_auth_challenge_sha256(void **state)
{
	struct client c;
	struct opts o = {.sha256 = true};
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	/* RFC 8489 §9.2: nonce cookie, and the algorithms offered */
	assert_true(c.nonce_len > 9);
	assert_memory_equal(c.nonce, "obMatJos2", 9);
	static const uint8_t algs[8] = {0, STUN_PWALG_SHA256, 0, 0, 0, STUN_PWALG_MD5, 0, 0};
	assert_int_equal(c.algs_len, sizeof(algs));
	assert_memory_equal(c.algs, algs, sizeof(algs));
	assert_true(c.resp.mi < 0 && c.resp.mi256 < 0);
}

/* The fingerprint option puts FINGERPRINT on every answer, authenticated
 * or not (RFC 8489 §14.7). */
static void test_fingerprint(void **state)
{
	struct client c;
	struct req q;
	struct opts o = {.fingerprint = true};
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	assert_true(c.resp.fp >= 0); /* the 401 of the login */
	const struct stun_msg *m = do_allocate(&c);
	expect_code(m, 0);
	assert_true(m->fp >= 0);
	assert_int_equal(stun_check_fingerprint(m), 0);

	c.no_sign = true;
	struct stun_builder *b = req_init(&q, &c, TURN_REFRESH);
	stun_add_fingerprint(b);
	m = call(&c, &q);
	expect_code(m, 401);
	assert_true(m->fp >= 0);
	assert_int_equal(stun_check_fingerprint(m), 0);
}

/* A request signed by hand with a chosen set of attributes. */
enum { NO_USER = 1, NO_REALM = 2, NO_NONCE = 4, SHORT_USERHASH = 8 };

static const struct stun_msg *call_partial(struct client *c, unsigned omit)
{
	struct req q;
	struct stun_builder *b = req_init(&q, c, TURN_ALLOCATE);
	stun_add_transport(b, STUN_TRANSPORT_UDP);
	if (omit & SHORT_USERHASH) {
		uint8_t h[31] = {0};
		stun_add_attr(b, STUN_A_USERHASH, h, sizeof(h));
	} else if (!(omit & NO_USER)) {
		stun_add_attr(b, STUN_A_USERNAME, c->user, strlen(c->user));
	}
	if (!(omit & NO_REALM))
		stun_add_attr(b, STUN_A_REALM, REALM, strlen(REALM));
	if (!(omit & NO_NONCE))
		stun_add_attr(b, STUN_A_NONCE, c->nonce, c->nonce_len);
	stun_add_integrity(b, c->key, c->keylen);
	c->no_sign = true;
	const struct stun_msg *m = call(c, &q);
	c->no_sign = false;
	return m;
}

/* MESSAGE-INTEGRITY without USERNAME/USERHASH, REALM or NONCE: 400, and
 * the answer SHOULD NOT carry REALM, NONCE or MESSAGE-INTEGRITY. */
static void test_auth_missing_attributes(void **state)
{
	struct client c;
	env_default();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	static const unsigned cases[] = {NO_USER, NO_REALM, NO_NONCE, NO_USER | NO_REALM | NO_NONCE,
	                                 SHORT_USERHASH};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct stun_msg *m = call_partial(&c, cases[i]);
		expect_code(m, 400);
		assert_null(find(m, STUN_A_NONCE));
		assert_null(find(m, STUN_A_REALM));
		assert_true(m->mi < 0 && m->mi256 < 0);
	}
	assert_int_equal(F.open_calls, 0);
	expect_code(call_partial(&c, 0), 0); /* the same request, complete */
}

static void test_auth_stale_nonce(void **state)
{
	struct client c, c2;
	struct opts o = {.nonce_lifetime = 60};
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	char old[sizeof(c.nonce)];
	memcpy(old, c.nonce, sizeof(old));

	/* still valid at the end of its lifetime: Refresh without an
	 * allocation passes authentication and is answered 437, signed */
	advance(60 * 1000);
	expect_code(do_refresh(&c, -1), 437);
	assert_true(c.resp.mi >= 0);

	advance(1000);
	const struct stun_msg *m = do_allocate(&c);
	expect_code(m, 438);
	const struct stun_attr *n = find(m, STUN_A_NONCE);
	assert_non_null(n);
	assert_false(n->len == c.nonce_len && memcmp(n->val, old, n->len) == 0);
	assert_non_null(find(m, STUN_A_REALM));
	assert_int_equal(turn_stats(T)->stale_nonce, 1);
	assert_int_equal(F.open_calls, 0);

	/* the client retries with the nonce it was given */
	take_nonce(&c, m);
	expect_code(do_allocate(&c), 0);

	/* a nonce is bound to the client's transport address */
	c2 = c;
	c2.addr = A("198.51.100.11:40000");
	expect_code(do_allocate(&c2), 438);
	c2.addr = A("198.51.100.10:40002");
	expect_code(do_allocate(&c2), 438);
	assert_int_equal(turn_stats(T)->stale_nonce, 3);
	assert_int_equal(F.open_calls, 1);
}

static void test_auth_bad_credentials(void **state)
{
	struct client c;
	env_default();

	client_init(&c, "198.51.100.10:40000", "mallory", "secret");
	client_login(&c);
	const struct stun_msg *m = do_allocate(&c);
	expect_code(m, 401);
	assert_non_null(find(m, STUN_A_REALM));
	assert_non_null(find(m, STUN_A_NONCE));
	assert_true(m->mi < 0 && m->mi256 < 0);

	client_init(&c, "198.51.100.10:40001", "alice", "wrong");
	client_login(&c);
	m = do_allocate(&c);
	expect_code(m, 401);
	assert_non_null(find(m, STUN_A_NONCE));
	assert_true(m->mi < 0);

	client_init(&c, "198.51.100.10:40002", "alice", "secret");
	client_login(&c);
	c.realm = "example.net"; /* REALM sent and key derived with it */
	client_key(&c);
	expect_code(do_allocate(&c), 401);

	/* the right key under a wrong REALM attribute is not accepted either */
	client_init(&c, "198.51.100.10:40003", "alice", "secret");
	client_login(&c);
	c.realm = "example.net";
	expect_code(do_allocate(&c), 401);

	assert_int_equal(turn_stats(T)->auth_fail, 4);
	/* by reason: who tried and why it failed */
	const struct turn_stats *st = turn_stats(T);
	assert_int_equal(st->auth_fail_by[TURN_AUTH_UNKNOWN], 1);   /* mallory */
	assert_int_equal(st->auth_fail_by[TURN_AUTH_INTEGRITY], 1); /* alice, wrong password */
	assert_int_equal(st->auth_fail_by[TURN_AUTH_REALM], 2);
	assert_int_equal(st->auth_fail_by[TURN_AUTH_INCOMPLETE] + st->auth_fail_by[TURN_AUTH_ALGORITHM], 0);
	/* every datagram came over UDP, every answer went back over it */
	assert_int_equal(st->client_rx_by[TURN_T_UDP], st->rx_client);
	assert_int_equal(st->client_tx_by[TURN_T_UDP], st->tx_client);
	assert_int_equal(st->client_rx_bytes_by[TURN_T_UDP], st->rx_client_bytes);
	assert_true(st->client_tx_bytes_by[TURN_T_UDP] >= 20 * st->tx_client);
	assert_int_equal(
	    st->client_rx_by[TURN_T_TCP] + st->client_rx_by[TURN_T_TLS] + st->client_rx_by[TURN_T_DTLS], 0);
	assert_int_equal(F.open_calls, 0);
	assert_int_equal(turn_stats(T)->allocs_live, 0);
}

static void test_auth_success_signed(void **state)
{
	struct client c;
	struct opts o = {.software = "tern-test"};
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	const struct stun_msg *m = do_allocate(&c);
	expect_code(m, 0);
	assert_true(m->mi >= 0);
	assert_true(m->mi256 < 0);
	/* the check is real: another key does not verify */
	uint8_t other[16];
	stun_key_md5("alice", 5, REALM, strlen(REALM), "secreT", 6, other);
	assert_int_equal(stun_check_integrity(m, other, sizeof(other)), -EBADMSG);
	const struct stun_attr *sw = find(m, STUN_A_SOFTWARE);
	assert_non_null(sw);
	assert_int_equal(sw->len, 9);
	assert_memory_equal(sw->val, "tern-test", 9);

	/* an authenticated error answer is signed and has its reason phrase */
	m = do_allocate(&c);
	expect_code(m, 437);
	assert_true(m->mi >= 0);
	const struct stun_attr *e = find(m, STUN_A_ERROR_CODE);
	assert_int_equal(e->len, 4 + strlen("Allocation Mismatch"));
	assert_memory_equal(e->val + 4, "Allocation Mismatch", e->len - 4);
}

static void test_auth_sha256(void **state)
{
	struct client c;
	struct opts o = {.sha256 = true};
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	c.sha256 = true;
	client_login(&c);
	assert_int_equal(c.keylen, 32);
	const struct stun_msg *m = do_allocate(&c);
	expect_code(m, 0);
	/* answered with the same mechanism, MESSAGE-INTEGRITY-SHA256 */
	assert_true(m->mi256 >= 0);
	assert_true(m->mi < 0);
	uint8_t md5key[16];
	stun_key_md5("alice", 5, REALM, strlen(REALM), "secret", 6, md5key);
	assert_int_equal(stun_check_integrity_sha256(m, md5key, sizeof(md5key)), -EBADMSG);

	/* a client that knows only MD5 (neither attribute): still accepted */
	struct client d;
	client_init(&d, "198.51.100.10:40001", "alice", "secret");
	client_login(&d);
	m = do_allocate(&d);
	expect_code(m, 0);
	assert_true(m->mi >= 0 && m->mi256 < 0);
}

/* Request signed by hand with PASSWORD-ALGORITHMS / PASSWORD-ALGORITHM as given. */
static const struct stun_msg *call_algs(struct client *c, const uint8_t *algs, size_t algs_len, int alg)
{
	struct req q;
	struct stun_builder *b = req_init(&q, c, TURN_ALLOCATE);
	stun_add_transport(b, STUN_TRANSPORT_UDP);
	stun_add_attr(b, STUN_A_USERNAME, c->user, strlen(c->user));
	stun_add_attr(b, STUN_A_REALM, REALM, strlen(REALM));
	stun_add_attr(b, STUN_A_NONCE, c->nonce, c->nonce_len);
	if (algs)
		stun_add_attr(b, STUN_A_PASSWORD_ALGORITHMS, algs, algs_len);
	if (alg >= 0) {
		uint8_t v[4] = {(uint8_t)(alg >> 8), (uint8_t)alg, 0, 0};
		stun_add_attr(b, STUN_A_PASSWORD_ALGORITHM, v, sizeof(v));
	}
	stun_add_integrity_sha256(b, c->key, c->keylen);
	c->no_sign = true;
	const struct stun_msg *m = call(c, &q);
	c->no_sign = false;
	return m;
}

/* RFC 8489 §9.2.4, nonce with the password-algorithms bit: unless both
 * attributes are present, the list is the one sent with the nonce, and the
 * chosen algorithm is in it, the answer is 400 (bid-down protection). */
static void test_auth_password_algorithms(void **state)
{
	struct client c;
	struct opts o = {.sha256 = true};
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	c.sha256 = true;
	client_login(&c);
	static const uint8_t only_md5[4] = {0, STUN_PWALG_MD5, 0, 0};
	static const uint8_t reversed[8] = {0, STUN_PWALG_MD5, 0, 0, 0, STUN_PWALG_SHA256, 0, 0};

	expect_code(call_algs(&c, only_md5, sizeof(only_md5), STUN_PWALG_MD5), 400);
	expect_code(call_algs(&c, reversed, sizeof(reversed), STUN_PWALG_SHA256), 400);
	expect_code(call_algs(&c, NULL, 0, STUN_PWALG_SHA256), 400); /* ALGORITHM alone */
	expect_code(call_algs(&c, c.algs, c.algs_len, -1), 400);     /* ALGORITHMS alone */
	expect_code(call_algs(&c, c.algs, c.algs_len, 0x0003), 400); /* not in the list */
	assert_int_equal(F.open_calls, 0);
	assert_int_equal(turn_stats(T)->auth_fail_by[TURN_AUTH_ALGORITHM], 5);
	expect_code(call_algs(&c, c.algs, c.algs_len, STUN_PWALG_SHA256), 0);

	/* MD5 chosen from the list: the MD5 key */
	struct client d;
	client_init(&d, "198.51.100.10:40001", "alice", "secret");
	client_login(&d);
	expect_code(call_algs(&d, d.algs, d.algs_len, STUN_PWALG_MD5), 0);
}

static void test_auth_userhash(void **state)
{
	struct client c;
	struct opts o = {.sha256 = true};
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", "bob", "hunter2");
	c.userhash = true;
	client_login(&c);
	expect_code(do_allocate(&c), 0);
	assert_null(find(&c.resp, STUN_A_USERNAME));

	client_init(&c, "198.51.100.10:40001", "nobody", "hunter2");
	c.userhash = true;
	client_login(&c);
	expect_code(do_allocate(&c), 401);
}

static void test_auth_rest(void **state)
{
	struct client c;
	char user[128], pass[64];
	struct opts o = {.rest = true};
	env_start(&o);

	/* a username signed with either configured secret (rotation) works */
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(auth_rest_credentials(SECRETS[i], "carol", WALL0, 3600, user, sizeof(user),
		                                       pass, sizeof(pass)),
		                 0);
		char addr[64];
		snprintf(addr, sizeof(addr), "198.51.100.%u:40000", 20 + i);
		client_init(&c, addr, user, pass);
		client_login(&c);
		expect_code(do_allocate(&c), 0);
	}
	/* another secret, or an expired timestamp: 401 */
	assert_int_equal(auth_rest_credentials("not-configured", "carol", WALL0, 3600, user, sizeof(user),
	                                       pass, sizeof(pass)),
	                 0);
	client_init(&c, "198.51.100.30:40000", user, pass);
	client_login(&c);
	expect_code(do_allocate(&c), 401);
	assert_int_equal(auth_rest_credentials(SECRETS[0], "carol", WALL0 - 7200, 3600, user, sizeof(user),
	                                       pass, sizeof(pass)),
	                 0);
	client_init(&c, "198.51.100.31:40000", user, pass);
	client_login(&c);
	expect_code(do_allocate(&c), 401);
	assert_int_equal(turn_stats(T)->allocs_live, 2);
	/* static users still work next to REST secrets */
	client_init(&c, "198.51.100.32:40000", "alice", "secret");
	client_login(&c);
	expect_code(do_allocate(&c), 0);
}

/* RFC 8656 §5: requests on an allocation must use the username that
 * created it: 441 otherwise (answered by an authenticated, signed error). */
static void test_auth_wrong_user_441(void **state)
{
	struct client alice, bob;
	env_default();
	setup_alloc(&alice, "198.51.100.10:40000");
	client_init(&bob, "198.51.100.10:40000", "bob", "hunter2");
	client_login(&bob);
	const struct stun_msg *m = do_refresh(&bob, 1200);
	expect_code(m, 441);
	assert_true(m->mi >= 0); /* verified with bob's key by call() */
	expect_code(do_perm(&bob, "203.0.113.5", NULL), 441);
	expect_code(do_bind(&bob, 0x4000, "203.0.113.5:1000"), 441);
	expect_code(do_refresh(&bob, 0), 441);
	assert_int_equal(turn_stats(T)->allocs_live, 1);
	assert_int_equal(turn_stats(T)->perms_live, 0);
	/* its owner still can */
	m = do_refresh(&alice, 1200);
	expect_code(m, 0);
	assert_int_equal(u32_of(m, STUN_A_LIFETIME), 1200);
}

static void test_noauth(void **state)
{
	struct client c;
	struct opts o = {.noauth = true};
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", NULL, NULL);
	const struct stun_msg *m = do_allocate(&c);
	expect_code(m, 0);
	assert_true(m->mi < 0 && m->mi256 < 0);
	assert_addr_equal(xaddr(m, STUN_A_XOR_RELAYED_ADDRESS, 0), F.addr[0]);
	expect_code(do_perm(&c, "203.0.113.5", NULL), 0);
	expect_code(do_refresh(&c, 0), 0);
	assert_int_equal(turn_stats(T)->allocs_live, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_binding_v4, env_stop),
	    cmocka_unit_test_teardown(test_binding_v6, env_stop),
	    cmocka_unit_test_teardown(test_binding_no_stun, env_stop),
	    cmocka_unit_test_teardown(test_unknown_attributes, env_stop),
	    cmocka_unit_test_teardown(test_unknown_attributes_authenticated, env_stop),
	    cmocka_unit_test_teardown(test_malformed, env_stop),
	    cmocka_unit_test_teardown(test_bad_fingerprint, env_stop),
	    cmocka_unit_test_teardown(test_response_class_dropped, env_stop),
	    cmocka_unit_test_teardown(test_unknown_method, env_stop),
	    cmocka_unit_test_teardown(test_auth_challenge, env_stop),
	    cmocka_unit_test_teardown(test_auth_challenge_sha256, env_stop),
	    cmocka_unit_test_teardown(test_fingerprint, env_stop),
	    cmocka_unit_test_teardown(test_auth_missing_attributes, env_stop),
	    cmocka_unit_test_teardown(test_auth_stale_nonce, env_stop),
	    cmocka_unit_test_teardown(test_auth_bad_credentials, env_stop),
	    cmocka_unit_test_teardown(test_auth_success_signed, env_stop),
	    cmocka_unit_test_teardown(test_auth_sha256, env_stop),
	    cmocka_unit_test_teardown(test_auth_password_algorithms, env_stop),
	    cmocka_unit_test_teardown(test_auth_userhash, env_stop),
	    cmocka_unit_test_teardown(test_auth_rest, env_stop),
	    cmocka_unit_test_teardown(test_auth_wrong_user_441, env_stop),
	    cmocka_unit_test_teardown(test_noauth, env_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
