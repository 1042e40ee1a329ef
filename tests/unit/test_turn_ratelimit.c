/* TURN core (src/turn/): the rate limit on unauthenticated answers
 * (turn_params.unauth_bps / unauth_burst, ternd's unauth-rate-limit).
 *
 * An answer without MESSAGE-INTEGRITY goes to whatever source address the
 * request claimed, so it is the reflection an attacker can aim at a victim.
 * Per source (IPv4 address, IPv6 /64) and per worker, those answers are
 * bounded by a token bucket of unauth_burst bytes refilled at unauth_bps
 * bytes a second; a request over it is dropped unanswered and counted in
 * drop_ratelimit. Signed answers are never limited.
 *
 * Expected sizes come from the wire format: a 401 to an Allocate is
 * 20 (header) + 8 (ERROR-CODE, no reason) + 16 (REALM "example.org") +
 * 20 (16-character NONCE) = 64 bytes. Pure logic: the clock is the test's. */
#include "test_turn_harness.h"

#define CHALLENGE_LEN 64

/* Rebuild the core of an environment made by env_start() with the limit. */
static void env_limit(bool noauth, unsigned bps, unsigned burst)
{
	struct opts o = {.noauth = noauth};
	env_start(&o);
	turn_free(T);
	P.unauth_bps = bps;
	P.unauth_burst = burst;
	T = turn_new(&P, &IO, 0x5eed);
	assert_non_null(T);
	clock_set(T0_MS, WALL0);
}

/* An unauthenticated Allocate (28 bytes) from addr; returns the size of the
 * answer (0 when none) and checks that any answer is the 401 challenge. */
static size_t unauth_allocate(const union tern_addr *from)
{
	uint8_t buf[64];
	struct stun_builder b;
	uint8_t txid[STUN_TXID_LEN] = {0x72, 0x6c};
	uint32_t n = ++txid_counter;
	memcpy(txid + 4, &n, sizeof(n));
	stun_build_init(&b, buf, sizeof(buf), stun_type(TURN_ALLOCATE, STUN_REQUEST), txid);
	stun_add_transport(&b, STUN_TRANSPORT_UDP);
	int len = stun_build_finish(&b);
	assert_int_equal(len, 28);
	unsigned n0 = F.nsent;
	struct turn_ep ep = {
	    .id = LISTENER, .transport = TURN_T_UDP, .local = A(LOCAL_ADDR), .remote = *from};
	turn_on_client(T, &ep, buf, (size_t)len);
	assert_true(F.nsent <= n0 + 1);
	if (F.nsent == n0)
		return 0;
	struct stun_msg m;
	assert_int_equal(stun_parse(&m, F.sent[n0].buf, F.sent[n0].len), 0);
	expect_code(&m, 401);
	assert_addr_equal(F.sent[n0].dst, *from);
	size_t got = F.sent[n0].len;
	sent_clear();
	return got;
}

static size_t unauth_allocate_s(const char *from)
{
	union tern_addr a = A(from);
	return unauth_allocate(&a);
}

/* Send challenges from `from` until one is dropped; returns the bytes
 * answered (the burst actually granted). */
static size_t drain(const char *from)
{
	size_t total = 0, got;
	for (int i = 0; i < 100000 && (got = unauth_allocate_s(from)) > 0; i++)
		total += got;
	return total;
}

static void test_off_by_default(void **state)
{
	env_default(); /* unauth_bps 0 */
	for (int i = 0; i < 2000; i++)
		assert_int_equal(unauth_allocate_s("198.51.100.10:40000"), CHALLENGE_LEN);
	assert_int_equal(turn_stats(T)->drop_ratelimit, 0);
	assert_int_equal(turn_stats(T)->auth_challenge, 2000);
}

/* The burst, then nothing until the bucket refills, then exactly the
 * refill: a rate in bytes/s is a rate in milli-bytes per millisecond, so
 * asking every millisecond loses no fraction. */
static void test_burst_then_rate(void **state)
{
	env_limit(false, 1000, 0); /* burst 2 * 1000 */
	size_t burst = drain("198.51.100.10:40000");
	assert_int_equal(burst, (2000 / CHALLENGE_LEN) * CHALLENGE_LEN); /* 31 answers, 1984 bytes */
	uint64_t drops = turn_stats(T)->drop_ratelimit;
	assert_int_equal(drops, 1);
	/* the 32nd was dropped before any work: not even challenged */
	assert_int_equal(turn_stats(T)->auth_challenge, 31);
	assert_int_equal(turn_stats(T)->requests, 32);
	/* Still nothing at the same instant, from any port of that address. */
	assert_int_equal(unauth_allocate_s("198.51.100.10:40001"), 0);
	assert_int_equal(unauth_allocate_s("198.51.100.10:65535"), 0);
	assert_int_equal(turn_stats(T)->drop_ratelimit, drops + 2);

	/* 16 bytes left; 48 ms later there are 64. */
	advance(47);
	assert_int_equal(unauth_allocate_s("198.51.100.10:40000"), 0);
	advance(1);
	assert_int_equal(unauth_allocate_s("198.51.100.10:40000"), CHALLENGE_LEN);
	assert_int_equal(unauth_allocate_s("198.51.100.10:40000"), 0);

	/* Ten seconds of a request every millisecond: what is answered is the
	 * rate, within one answer (what was left in the bucket). */
	size_t total = 0;
	for (int ms = 0; ms < 10000; ms++) {
		advance(1);
		total += unauth_allocate_s("198.51.100.10:40000");
	}
	assert_true(total <= 10000);
	assert_true(total >= 10000 - CHALLENGE_LEN);
	assert_int_equal(turn_stats(T)->drop_ratelimit + turn_stats(T)->tx_client, turn_stats(T)->requests);
}

/* After a long silence the bucket is full again, never fuller. */
static void test_refill_capped(void **state)
{
	env_limit(false, 1000, 0);
	size_t first = drain("198.51.100.10:40000");
	advance(3600 * 1000);
	assert_int_equal(drain("198.51.100.10:40000"), first);
	advance(1000); /* half the burst */
	assert_int_equal(drain("198.51.100.10:40000"), (1000 + 2000 - first) / CHALLENGE_LEN * CHALLENGE_LEN);
}

static void test_explicit_and_minimum_burst(void **state)
{
	env_limit(false, 1000, 640);
	assert_int_equal(drain("198.51.100.10:40000"), 640);
	env_stop(NULL);
	/* A tiny rate still lets one answer of any size through after a refill. */
	env_limit(false, 10, 0);
	assert_int_equal(drain("198.51.100.10:40000"), (TURN_TX_HDR_MAX / CHALLENGE_LEN) * CHALLENGE_LEN);
}

/* Buckets are per source address (IPv4) or /64 (IPv6); ports do not matter,
 * and an IPv4-mapped IPv6 source is its IPv4 address. */
static void test_per_source(void **state)
{
	env_limit(false, 1000, 0);
	size_t burst = drain("198.51.100.10:40000");
	assert_int_equal(unauth_allocate_s("[::ffff:198.51.100.10]:1"), 0);
	/* Other addresses are untouched (these were checked not to share a
	 * bucket with 198.51.100.10 under the test's seed). */
	assert_int_equal(drain("198.51.100.11:40000"), burst);
	assert_int_equal(drain("203.0.113.10:40000"), burst);

	assert_int_equal(drain("[2001:db8:1:2::1]:40000"), burst);
	assert_int_equal(unauth_allocate_s("[2001:db8:1:2:ffff:ffff:ffff:ffff]:9"), 0); /* same /64 */
	assert_int_equal(drain("[2001:db8:1:3::1]:40000"), burst);                      /* next /64 */
}

/* Every unsigned answer counts: Binding results, 438, 400, 420. */
static void test_every_unsigned_answer(void **state)
{
	env_limit(false, 100, 0); /* burst: the 512-byte minimum */
	struct client c;
	struct req q;
	client_init(&c, "198.51.100.20:40000", "alice", "secret");
	client_login(&c); /* 64 */
	client_key(&c);
	/* Binding: 32 bytes each. */
	size_t sum = CHALLENGE_LEN;
	for (int i = 0; i < 5; i++) {
		req_init(&q, &c, STUN_BINDING);
		c.no_sign = true;
		int n = stun_build_finish(&q.b);
		const struct stun_msg *m = deliver(&c, q.buf, (size_t)n);
		expect_code(m, 0);
		sum += c.resp_len;
	}
	assert_int_equal(sum, 64 + 5 * 32);
	/* A stale nonce: 438 with a fresh one. */
	c.no_sign = false;
	memcpy(c.nonce, "AAAAAAAAAAAAAAAA", 16);
	const struct stun_msg *m = do_allocate(&c);
	expect_code(m, 438);
	sum += c.resp_len;
	/* Incomplete credentials: 400. */
	struct stun_builder *b = req_init(&q, &c, TURN_ALLOCATE);
	stun_add_transport(b, STUN_TRANSPORT_UDP);
	stun_add_integrity(b, c.key, c.keylen);
	int n = stun_build_finish(b);
	m = deliver(&c, q.buf, (size_t)n);
	expect_code(m, 400);
	sum += c.resp_len;
	/* Now drain the rest; the total never exceeds the burst. */
	while (unauth_allocate(&c.addr) > 0)
		sum += CHALLENGE_LEN;
	assert_true(sum <= 512);
	assert_true(sum > 512 - CHALLENGE_LEN);
	/* Binding is dropped now too. */
	uint64_t drops = turn_stats(T)->drop_ratelimit;
	req_init(&q, &c, STUN_BINDING);
	n = stun_build_finish(&q.b);
	deliver_none(&c, q.buf, (size_t)n);
	assert_int_equal(turn_stats(T)->drop_ratelimit, drops + 1);
}

/* Signed answers are not limited: a client with credentials keeps being
 * served from an address whose unsigned budget is spent. */
static void test_signed_answers_exempt(void **state)
{
	env_limit(false, 100, 0);
	struct client c;
	setup_alloc(&c, "198.51.100.30:40000"); /* the 401 took 64 of 512 */
	drain("198.51.100.30:40001");
	assert_int_equal(unauth_allocate(&c.addr), 0);
	for (int i = 0; i < 200; i++) {
		expect_code(do_refresh(&c, 600), 0);
		expect_code(do_perm(&c, "203.0.113.5", NULL), 0);
		expect_code(do_bind(&c, 0x4000, "203.0.113.5:9"), 0);
		sent_clear();
	}
	/* A signed request that fails authentication is answered unsigned:
	 * limited like any other. */
	struct client bad;
	client_init(&bad, "198.51.100.30:40002", "alice", "wrong");
	memcpy(bad.nonce, c.nonce, c.nonce_len);
	bad.nonce_len = c.nonce_len;
	client_key(&bad);
	struct req q;
	stun_add_transport(req_init(&q, &bad, TURN_ALLOCATE), STUN_TRANSPORT_UDP);
	req_sign(&q, &bad);
	int n = stun_build_finish(&q.b);
	uint64_t drops = turn_stats(T)->drop_ratelimit;
	deliver_none(&bad, q.buf, (size_t)n);
	assert_int_equal(turn_stats(T)->drop_ratelimit, drops + 1);
	expect_code(do_refresh(&c, 0), 0);
}

/* Without authentication every answer is unsigned, so every answer counts. */
static void test_noauth_limited(void **state)
{
	env_limit(true, 1000, 0);
	struct client c;
	unsigned answered = 0;
	client_init(&c, "198.51.100.40:40000", NULL, NULL);
	for (int i = 0; i < 200; i++) {
		struct req q;
		stun_add_transport(req_init(&q, &c, TURN_ALLOCATE), STUN_TRANSPORT_UDP);
		int n = stun_build_finish(&q.b);
		unsigned n0 = F.nsent;
		struct turn_ep ep = client_ep(&c);
		turn_on_client(T, &ep, q.buf, (size_t)n);
		answered += F.nsent - n0;
		sent_clear();
	}
	/* the first is a success (the allocation), the rest 437 (one per 5-tuple) */
	assert_true(answered >= 2000 / 60 && answered < 2000 / 20);
	assert_int_equal(answered + turn_stats(T)->drop_ratelimit, 200);
}

/* A source whose budget cannot pay even the smallest error is dropped
 * before any work: with no-auth, no allocation is made whose answer would
 * be thrown away. */
static void test_spent_source_gets_no_work(void **state)
{
	env_limit(true, 100, 0); /* burst 512 */
	struct client c;
	client_init(&c, "198.51.100.60:40000", NULL, NULL);
	unsigned bindings = 0;
	for (int i = 0; i < 100; i++) {
		struct req q;
		req_init(&q, &c, STUN_BINDING);
		int n = stun_build_finish(&q.b);
		unsigned n0 = F.nsent;
		struct turn_ep ep = client_ep(&c);
		turn_on_client(T, &ep, q.buf, (size_t)n);
		bindings += F.nsent - n0;
		sent_clear();
	}
	assert_int_equal(bindings, 512 / 32);
	uint64_t drops = turn_stats(T)->drop_ratelimit;
	client_init(&c, "198.51.100.60:40001", NULL, NULL);
	struct req q;
	stun_add_transport(req_init(&q, &c, TURN_ALLOCATE), STUN_TRANSPORT_UDP);
	int n = stun_build_finish(&q.b);
	deliver_none(&c, q.buf, (size_t)n);
	assert_int_equal(turn_stats(T)->drop_ratelimit, drops + 1);
	assert_int_equal(F.open_calls, 0);
	assert_int_equal(turn_stats(T)->allocs_created, 0);
	/* refilled: served */
	advance(1000);
	const struct stun_msg *m = do_allocate(&c);
	expect_code(m, 0);
	assert_int_equal(F.open_calls, 1);
}

/* Sources whose hashes collide share one bucket: the bound per source
 * holds whatever the attacker does, at the price of neighbours sharing.
 * Find collisions with a drained source by probing many others. */
static void test_collisions_share(void **state)
{
	env_limit(false, 1000, 0);
	size_t burst = drain("198.51.100.50:40000");
	unsigned shared = 0;
	char ip[64];
	for (unsigned i = 0; i < 60000; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.%u:5000", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		if (unauth_allocate_s(ip) == 0)
			shared++;
	}
	/* 60000 sources over 8192 buckets: each bucket got ~7 answers
	 * (~470 bytes of its 2000), so a drop means the drained bucket. */
	assert_true(shared >= 1);
	assert_true(shared < 40);
	/* Bound for the drained address and its neighbours: nothing more until
	 * the refill, then the refill only. */
	assert_int_equal(unauth_allocate_s("198.51.100.50:40000"), 0);
	advance(1000);
	assert_true(drain("198.51.100.50:40000") <= 1000 + burst % CHALLENGE_LEN + 2000 - burst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_off_by_default, env_stop),
	    cmocka_unit_test_teardown(test_burst_then_rate, env_stop),
	    cmocka_unit_test_teardown(test_refill_capped, env_stop),
	    cmocka_unit_test_teardown(test_explicit_and_minimum_burst, env_stop),
	    cmocka_unit_test_teardown(test_per_source, env_stop),
	    cmocka_unit_test_teardown(test_every_unsigned_answer, env_stop),
	    cmocka_unit_test_teardown(test_signed_answers_exempt, env_stop),
	    cmocka_unit_test_teardown(test_noauth_limited, env_stop),
	    cmocka_unit_test_teardown(test_spent_source_gets_no_work, env_stop),
	    cmocka_unit_test_teardown(test_collisions_share, env_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
