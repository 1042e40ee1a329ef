/* TURN core (src/turn/): ALTERNATE-SERVER redirection and draining
 * (issue 10).
 *
 * RFC 8489 §10: a server redirects a request with 300 (Try Alternate) and an
 * ALTERNATE-SERVER attribute. tern follows coturn's options: the alternates
 * of the client's transport (or alternate-server's), round robin among
 * those of the client's address family, never the server itself, and none
 * at all while the server finds itself in the list, until it drains.
 * Draining refuses what cannot be redirected with 403; existing allocations
 * go on. */
#include "test_turn_harness.h"

static void set_alts(enum turn_alt_kind k, const char *a0, const char *a1, const char *a2)
{
	union tern_addr a[3];
	unsigned n = 0;
	for (const char *s = a0; s && n < 3; s = n == 1 ? a1 : a2)
		a[n++] = A(s);
	assert_int_equal(turn_shared_set_alternates(SH, k, a, n), 0);
}

/* The ALTERNATE-SERVER of a 300 answer. */
static union tern_addr alternate_of(const struct stun_msg *m)
{
	expect_code(m, 300);
	const struct stun_attr *at = find(m, STUN_A_ALTERNATE_SERVER);
	assert_non_null(at);
	union tern_addr a;
	assert_int_equal(stun_attr_addr(at, &a), 0);
	return a;
}

static const struct stun_msg *unsigned_allocate(struct client *c)
{
	bool was = c->no_sign;
	c->no_sign = true;
	const struct stun_msg *m = do_allocate(c);
	c->no_sign = was;
	return m;
}

static void assert_addr(const union tern_addr *got, const char *want)
{
	union tern_addr w = A(want);
	if (!addr_equal(got, &w)) {
		char s[TERN_ADDRSTRLEN];
		fail_msg("got %s, expected %s", addr_format(got, s, sizeof(s), true), want);
	}
}

/* Without alternates nothing changes; draining refuses new allocations
 * (403, after authentication) and keeps the existing ones. */
static void test_drain_without_alternates(void **state)
{
	struct client old, c;
	env_default();
	setup_alloc(&old, "198.51.100.1:5000");
	turn_shared_set_draining(SH, true);
	assert_true(turn_shared_draining(SH));

	client_init(&c, "198.51.100.2:5000", "alice", "secret");
	expect_code(unsigned_allocate(&c), 401); /* no alternate: the challenge as ever */
	client_login(&c);
	expect_code(do_allocate(&c), 403);
	assert_int_equal(turn_stats(T)->drain_refused, 1);
	assert_int_equal(turn_shared_total(SH), 1);

	/* the existing allocation refreshes, and a repeated Allocate on it is 437 */
	expect_code(do_refresh(&old, 600), 0);
	expect_code(do_allocate(&old), 437);
	expect_code(do_perm(&old, "192.0.2.9:1000", NULL), 0);

	turn_shared_set_draining(SH, false);
	expect_code(do_allocate(&c), 0);
}

/* alternate-server: an unsigned Allocate gets 300 at once (no challenge),
 * round robin over the servers of the client's family. */
static void test_redirect_round_robin(void **state)
{
	struct client c4, c6;
	env_default();
	set_alts(TURN_ALT_ANY, "192.0.2.10:3478", "[2001:db8::10]:3479", "192.0.2.11:3480");
	client_init(&c4, "198.51.100.1:5000", "alice", "secret");
	const char *want[] = {"192.0.2.10:3478", "192.0.2.11:3480", "192.0.2.10:3478", "192.0.2.11:3480"};
	for (unsigned i = 0; i < 4; i++) {
		const struct stun_msg *m = unsigned_allocate(&c4);
		union tern_addr a = alternate_of(m);
		assert_addr(&a, want[i]);
		assert_true(m->mi < 0 && m->mi256 < 0); /* unsigned: the request was */
		assert_null(find(m, STUN_A_NONCE));
	}
	/* an IPv6 client that wrote to an IPv6 address: the IPv6 server */
	client_init(&c6, "[2001:db8:1::1]:5000", "alice", "secret");
	c6.local = A("[2001:db8:ff::5]:3478");
	union tern_addr a = alternate_of(unsigned_allocate(&c6));
	assert_addr(&a, "[2001:db8::10]:3479");
	assert_int_equal(turn_stats(T)->redirected, 5);
	assert_int_equal(turn_shared_total(SH), 0);
	/* Binding and the other requests are not redirected */
	struct req q;
	req_init(&q, &c4, STUN_BINDING);
	expect_code(call(&c4, &q), 0);
}

/* A signed Allocate (a client that already has a nonce) is redirected after
 * its check, with a signed answer (call() verifies the integrity). */
static void test_redirect_signed(void **state)
{
	struct client c, bad;
	env_default();
	client_init(&c, "198.51.100.1:5000", "alice", "secret");
	client_login(&c);
	client_init(&bad, "198.51.100.2:5000", "alice", "wrong");
	client_login(&bad);
	set_alts(TURN_ALT_ANY, "192.0.2.10:3478", NULL, NULL);
	const struct stun_msg *m = do_allocate(&c);
	union tern_addr a = alternate_of(m);
	assert_addr(&a, "192.0.2.10:3478");
	assert_true(m->mi >= 0 || m->mi256 >= 0);
	/* a wrong password is refused before anyone is redirected */
	expect_code(do_allocate(&bad), 401);
}

/* No redirect to itself: a server in its own list serves everyone until it
 * drains, then sends them to the others. */
static void test_redirect_not_to_self(void **state)
{
	struct client c, d;
	env_default();
	set_alts(TURN_ALT_ANY, LOCAL_ADDR, "192.0.2.20:3478", NULL);
	client_init(&c, "198.51.100.1:5000", "alice", "secret");
	client_login(&c);
	expect_code(do_allocate(&c), 0);
	assert_int_equal(turn_stats(T)->redirected, 0);

	turn_shared_set_draining(SH, true);
	client_init(&d, "198.51.100.2:5000", "alice", "secret");
	for (unsigned i = 0; i < 3; i++) {
		union tern_addr a = alternate_of(unsigned_allocate(&d));
		assert_addr(&a, "192.0.2.20:3478");
	}
	/* only itself in the list for that family: refused */
	set_alts(TURN_ALT_ANY, LOCAL_ADDR, "[2001:db8::20]:3478", NULL);
	expect_code(unsigned_allocate(&d), 401);
	client_login(&d);
	expect_code(do_allocate(&d), 403);
	expect_code(do_refresh(&c, 600), 0);
}

/* Draining with an alternate: a signed Allocate (a client challenged by
 * this node just before the drain) is served here, not sent on with a
 * nonce the alternate would refuse (438); unsigned ones are sent on. */
static void test_drain_serves_signed(void **state)
{
	struct client c, d;
	env_default();
	set_alts(TURN_ALT_ANY, LOCAL_ADDR, "192.0.2.20:3478", NULL);
	client_init(&c, "198.51.100.1:5000", "alice", "secret");
	client_login(&c);
	turn_shared_set_draining(SH, true);
	expect_code(do_allocate(&c), 0);
	client_init(&d, "198.51.100.2:5000", "alice", "secret");
	union tern_addr a = alternate_of(unsigned_allocate(&d));
	assert_addr(&a, "192.0.2.20:3478");
	assert_int_equal(turn_stats(T)->drain_refused, 0);
}

/* Behind NAT the lists hold the public address (external-ip): that is the
 * server too, on the port its client wrote to. */
static void test_redirect_not_to_self_behind_nat(void **state)
{
	struct client c, d;
	env_default();
	union tern_addr pub = A("198.51.100.77:0");
	assert_int_equal(turn_shared_set_self(SH, &pub, 1), 0);
	set_alts(TURN_ALT_ANY, "198.51.100.77:3478", "192.0.2.20:3478", NULL);
	client_init(&c, "198.51.100.1:5000", "alice", "secret");
	client_login(&c);
	expect_code(do_allocate(&c), 0); /* LOCAL_ADDR 203.0.113.5:3478 is 198.51.100.77:3478 outside */
	turn_shared_set_draining(SH, true);
	client_init(&d, "198.51.100.2:5000", "alice", "secret");
	for (unsigned i = 0; i < 3; i++) {
		union tern_addr a = alternate_of(unsigned_allocate(&d));
		assert_addr(&a, "192.0.2.20:3478");
	}
	/* the public address on another port is another server */
	turn_shared_set_draining(SH, false);
	set_alts(TURN_ALT_ANY, "198.51.100.77:3479", NULL, NULL);
	union tern_addr a = alternate_of(unsigned_allocate(&d));
	assert_addr(&a, "198.51.100.77:3479");
}

/* coturn's precedence: udp-, tcp-, tls-alternate-server before
 * alternate-server; DTLS takes UDP's list, else TLS's. */
static void test_redirect_per_transport(void **state)
{
	static const struct {
		uint8_t transport;
		const char *want;
	} cases[] = {
	    {TURN_T_UDP, "192.0.2.1:3478"},
	    {TURN_T_TCP, "192.0.2.2:3478"},
	    {TURN_T_TLS, "192.0.2.3:5349"},
	    {TURN_T_DTLS, "192.0.2.1:3478"},
	};
	env_default();
	set_alts(TURN_ALT_ANY, "192.0.2.9:3478", NULL, NULL);
	set_alts(TURN_ALT_UDP, "192.0.2.1:3478", NULL, NULL);
	set_alts(TURN_ALT_TCP, "192.0.2.2:3478", NULL, NULL);
	set_alts(TURN_ALT_TLS, "192.0.2.3:5349", NULL, NULL);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct client c;
		client_init(&c, "198.51.100.1:5000", "alice", "secret");
		c.transport = cases[i].transport;
		c.conn = 3 + i;
		union tern_addr a = alternate_of(unsigned_allocate(&c));
		assert_addr(&a, cases[i].want);
	}
	/* DTLS without a UDP list: TLS's; TCP without its own: the common one */
	set_alts(TURN_ALT_UDP, NULL, NULL, NULL);
	set_alts(TURN_ALT_TCP, NULL, NULL, NULL);
	struct client c;
	client_init(&c, "198.51.100.1:5000", "alice", "secret");
	c.transport = TURN_T_DTLS;
	union tern_addr a = alternate_of(unsigned_allocate(&c));
	assert_addr(&a, "192.0.2.3:5349");
	c.transport = TURN_T_TCP;
	c.conn = 9;
	a = alternate_of(unsigned_allocate(&c));
	assert_addr(&a, "192.0.2.9:3478");
	c.transport = TURN_T_UDP;
	a = alternate_of(unsigned_allocate(&c));
	assert_addr(&a, "192.0.2.9:3478");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_drain_without_alternates, env_stop),
	    cmocka_unit_test_teardown(test_redirect_round_robin, env_stop),
	    cmocka_unit_test_teardown(test_redirect_signed, env_stop),
	    cmocka_unit_test_teardown(test_redirect_not_to_self, env_stop),
	    cmocka_unit_test_teardown(test_redirect_per_transport, env_stop),
	    cmocka_unit_test_teardown(test_redirect_not_to_self_behind_nat, env_stop),
	    cmocka_unit_test_teardown(test_drain_serves_signed, env_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
