/* TURN core (src/turn/): Allocate (RFC 8656 §7.2, RFC 8656 / RFC 6156
 * address families, EVEN-PORT and RESERVATION-TOKEN, quotas and pools).
 *
 * Every expected value comes from the test's own view of the protocol (the
 * fake relay's addresses, the RFC's rules), never from the code under
 * test. Pure logic: nothing opens a socket. */
#include "test_turn_harness.h"

/* ---- Allocate (RFC 8656 §7.2) ---- */

static void test_allocate_success(void **state)
{
	struct client c;
	env_default();
	const struct stun_msg *m = setup_alloc(&c, "198.51.100.10:40000");
	assert_int_equal(F.open_calls, 1);
	assert_int_equal(F.open[0].family, AF_INET);
	assert_int_equal(F.open[0].flags, 0);
	assert_non_null(F.open[0].a);
	assert_addr_equal(xaddr(m, STUN_A_XOR_RELAYED_ADDRESS, 0), A("192.0.2.1:50000"));
	assert_null(find_nth(m, STUN_A_XOR_RELAYED_ADDRESS, 1));
	assert_int_equal(u32_of(m, STUN_A_LIFETIME), DEFAULT_LIFETIME);
	assert_addr_equal(xaddr(m, STUN_A_XOR_MAPPED_ADDRESS, 0), c.addr);
	assert_null(find(m, STUN_A_RESERVATION_TOKEN));
	assert_null(find(m, STUN_A_ADDRESS_ERROR_CODE));
	const struct turn_stats *st = turn_stats(T);
	assert_int_equal(st->allocs_live, 1);
	assert_int_equal(st->allocs_created, 1);
	assert_int_equal(turn_shared_total(SH), 1);
}

static const struct stun_msg *alloc_lifetime(struct client *c, uint32_t want)
{
	struct req q;
	struct stun_builder *b = req_init(&q, c, TURN_ALLOCATE);
	stun_add_transport(b, STUN_TRANSPORT_UDP);
	stun_add_u32(b, STUN_A_LIFETIME, want);
	return call(c, &q);
}

/* RFC 8656 §7.2: min(requested, maximum), but not below the default. */
static void test_allocate_lifetime(void **state)
{
	static const struct {
		uint32_t want, got;
	} cases[] = {{99999, MAX_LIFETIME},
	             {30, DEFAULT_LIFETIME},
	             {0, DEFAULT_LIFETIME},
	             {1200, 1200},
	             {MAX_LIFETIME, MAX_LIFETIME}};
	env_default();
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct client c;
		char addr[64];
		snprintf(addr, sizeof(addr), "198.51.100.%u:40000", 10 + i);
		client_init(&c, addr, "alice", "secret");
		client_login(&c);
		const struct stun_msg *m = alloc_lifetime(&c, cases[i].want);
		expect_code(m, 0);
		assert_int_equal(u32_of(m, STUN_A_LIFETIME), cases[i].got);
	}
}

static void test_allocate_mismatch_437(void **state)
{
	struct client c;
	env_default();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_allocate(&c), 437);
	assert_int_equal(F.open_calls, 1);
	assert_int_equal(turn_stats(T)->allocs_created, 1);
}

/* A retransmitted Allocate (same transaction, same bytes) gets the same
 * answer, byte for byte, and opens nothing more. */
static void test_allocate_retransmission(void **state)
{
	struct client c;
	struct req q;
	env_default();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	struct stun_builder *b = req_init(&q, &c, TURN_ALLOCATE);
	stun_add_transport(b, STUN_TRANSPORT_UDP);
	req_sign(&q, &c);
	int n = stun_build_finish(b);
	const struct stun_msg *m = deliver(&c, q.buf, (size_t)n);
	expect_code(m, 0);
	uint8_t first[512];
	size_t first_len = c.resp_len;
	memcpy(first, c.resp_buf, first_len);

	m = deliver(&c, q.buf, (size_t)n);
	assert_int_equal(c.resp_len, first_len);
	assert_memory_equal(c.resp_buf, first, first_len);
	assert_int_equal(F.open_calls, 1);
	assert_int_equal(turn_stats(T)->allocs_created, 1);
	assert_int_equal(turn_stats(T)->allocs_live, 1);
}

static void test_allocate_transport(void **state)
{
	struct client c;
	struct req q;
	env_default();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	req_init(&q, &c, TURN_ALLOCATE);
	expect_code(call(&c, &q), 400);
	stun_add_transport(req_init(&q, &c, TURN_ALLOCATE), STUN_TRANSPORT_TCP);
	expect_code(call(&c, &q), 442);
	stun_add_attr(req_init(&q, &c, TURN_ALLOCATE), STUN_A_REQUESTED_TRANSPORT, "\x11", 1);
	expect_code(call(&c, &q), 400);
	assert_int_equal(F.open_calls, 0);
	assert_int_equal(turn_stats(T)->allocs_live, 0);
}

/* RFC 8656 §7.2 steps 5-9. */
static void test_allocate_attribute_errors(void **state)
{
	static const uint8_t token[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	static const struct {
		unsigned what;
		int code;
	} cases[] = {
	    {W_TOKEN | W_EVEN, 400},  /* step 5 */
	    {W_TOKEN | W_RAF4, 400},  /* step 5 */
	    {W_TOKEN | W_AAF6, 400},  /* step 5 */
	    {W_RAF4 | W_AAF6, 400},   /* step 6 */
	    {W_RAF_BAD, 440},         /* step 7: not a family the server supports */
	    {W_EVEN_R | W_AAF6, 400}, /* step 8 */
	    {W_AAF4, 400},            /* step 9 */
	};
	struct client c;
	env_default();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct stun_msg *m = alloc_with(&c, cases[i].what, token);
		if (code_of(m) != cases[i].code)
			fail_msg("case %u: expected %d, got %d", i, cases[i].code, code_of(m));
	}
	assert_int_equal(F.open_calls, 0);
	assert_int_equal(turn_stats(T)->allocs_live, 0);
	assert_int_equal(turn_shared_total(SH), 0);
}

static void test_allocate_v6(void **state)
{
	struct client c;
	env_default();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	const struct stun_msg *m = alloc_with(&c, W_RAF6, NULL);
	expect_code(m, 0);
	assert_int_equal(F.open[0].family, AF_INET6);
	assert_addr_equal(xaddr(m, STUN_A_XOR_RELAYED_ADDRESS, 0), A("[2001:db8::1]:50000"));
	assert_null(find_nth(m, STUN_A_XOR_RELAYED_ADDRESS, 1));
}

static void test_allocate_family_disabled(void **state)
{
	struct client c;
	struct opts o = {.no_v6 = true};
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	expect_code(alloc_with(&c, W_RAF6, NULL), 440);
	assert_int_equal(F.open_calls, 0);
	expect_code(alloc_with(&c, W_RAF4, NULL), 0);

	/* and the other way round: no IPv4 relay, no RAF means IPv4: 440 */
	env_stop(NULL);
	struct opts o2 = {.no_v4 = true};
	env_start(&o2);
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	expect_code(do_allocate(&c), 440);
	expect_code(alloc_with(&c, W_RAF6, NULL), 0);
}

/* RFC 8656 §7.2 step 9: ADDITIONAL-ADDRESS-FAMILY IPv6 asks for both. */
static void test_allocate_dual(void **state)
{
	struct client c;
	env_default();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	const struct stun_msg *m = alloc_with(&c, W_AAF6, NULL);
	expect_code(m, 0);
	assert_int_equal(F.open_calls, 2);
	assert_int_equal(F.open[0].family, AF_INET);
	assert_int_equal(F.open[1].family, AF_INET6);
	assert_ptr_equal(F.open[0].a, F.open[1].a);
	assert_addr_equal(xaddr(m, STUN_A_XOR_RELAYED_ADDRESS, 0), A("192.0.2.1:50000"));
	assert_addr_equal(xaddr(m, STUN_A_XOR_RELAYED_ADDRESS, 1), A("[2001:db8::1]:50002"));
	assert_null(find(m, STUN_A_ADDRESS_ERROR_CODE));
	assert_int_equal(turn_stats(T)->allocs_live, 1);
}

static void expect_address_error(const struct stun_msg *m, uint8_t family, int code)
{
	const struct stun_attr *ae = find(m, STUN_A_ADDRESS_ERROR_CODE);
	assert_non_null(ae);
	assert_true(ae->len >= 4);
	assert_int_equal(ae->val[0], family);
	assert_int_equal((ae->val[2] & 7) * 100 + ae->val[3], code);
}

static void test_allocate_dual_partial(void **state)
{
	struct client c;
	struct opts o = {.no_v6 = true};
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	const struct stun_msg *m = alloc_with(&c, W_AAF6, NULL);
	expect_code(m, 0);
	assert_addr_equal(xaddr(m, STUN_A_XOR_RELAYED_ADDRESS, 0), A("192.0.2.1:50000"));
	assert_null(find_nth(m, STUN_A_XOR_RELAYED_ADDRESS, 1));
	expect_address_error(m, STUN_FAMILY_IPV6, 440);
	assert_int_equal(F.open_calls, 1);

	/* IPv6 enabled but no port free for it: 508 for that family only */
	env_stop(NULL);
	env_default();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	F.fail_rc = -ENOSPC;
	F.fail_count = 1;
	F.fail_family = AF_INET6;
	m = alloc_with(&c, W_AAF6, NULL);
	expect_code(m, 0);
	assert_null(find_nth(m, STUN_A_XOR_RELAYED_ADDRESS, 1));
	expect_address_error(m, STUN_FAMILY_IPV6, 508);
}

/* coturn clients send ADDITIONAL-ADDRESS-FAMILY with the draft's number
 * (0x8032) and read ADDRESS-ERROR-CODE with the draft's (0x8033). */
static void test_allocate_dual_draft_numbers(void **state)
{
	struct client c;
	env_default();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	const struct stun_msg *m = alloc_with(&c, W_AAF6_DRAFT, NULL);
	expect_code(m, 0);
	assert_addr_equal(xaddr(m, STUN_A_XOR_RELAYED_ADDRESS, 1), A("[2001:db8::1]:50002"));

	env_stop(NULL);
	struct opts o = {.no_v6 = true};
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	m = alloc_with(&c, W_AAF6_DRAFT, NULL);
	expect_code(m, 0);
	assert_null(find(m, STUN_A_ADDRESS_ERROR_CODE));
	const struct stun_attr *ae = find(m, STUN_A_ADDRESS_ERROR_CODE_DRAFT);
	assert_non_null(ae);
	assert_int_equal(ae->val[0], STUN_FAMILY_IPV6);
	assert_int_equal((ae->val[2] & 7) * 100 + ae->val[3], 440);
	/* still exclusive with REQUESTED-ADDRESS-FAMILY (step 6) */
	client_init(&c, "198.51.100.10:40001", "alice", "secret");
	client_login(&c);
	expect_code(alloc_with(&c, W_AAF6_DRAFT | W_RAF4, NULL), 400);
}

static void test_allocate_flags(void **state)
{
	struct client c;
	env_default();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	const struct stun_msg *m = alloc_with(&c, W_EVEN, NULL);
	expect_code(m, 0);
	assert_int_equal(F.open[0].flags, TURN_RELAY_EVEN);
	assert_null(find(m, STUN_A_RESERVATION_TOKEN));
	assert_int_equal(F.next, HANDLE0 + 1); /* no second socket */

	client_init(&c, "198.51.100.10:40001", "alice", "secret");
	client_login(&c);
	expect_code(alloc_with(&c, W_DF, NULL), 0);
	assert_int_equal(F.open[1].flags, TURN_RELAY_DF);

	client_init(&c, "198.51.100.10:40002", "alice", "secret");
	client_login(&c);
	expect_code(alloc_with(&c, W_DF | W_EVEN, NULL), 0);
	assert_int_equal(F.open[2].flags, TURN_RELAY_DF | TURN_RELAY_EVEN);

	/* an EVEN-PORT of the wrong size is malformed */
	struct req q;
	client_init(&c, "198.51.100.10:40003", "alice", "secret");
	client_login(&c);
	struct stun_builder *b = req_init(&q, &c, TURN_ALLOCATE);
	stun_add_transport(b, STUN_TRANSPORT_UDP);
	stun_add_attr(b, STUN_A_EVEN_PORT, "\x80\0\0\0", 4);
	expect_code(call(&c, &q), 400);
	assert_int_equal(F.open_calls, 3);
}

/* EVEN-PORT R=1: the next port is kept under a RESERVATION-TOKEN, and a
 * later Allocate with the token adopts that very socket. */
static void test_allocate_reservation(void **state)
{
	struct client c1, c2, c3;
	uint8_t token[8];
	env_default();
	client_init(&c1, "198.51.100.10:40000", "alice", "secret");
	client_login(&c1);
	const struct stun_msg *m = alloc_with(&c1, W_EVEN_R, NULL);
	expect_code(m, 0);
	assert_int_equal(F.open[0].flags, TURN_RELAY_EVEN | TURN_RELAY_RESERVE_NEXT);
	union tern_addr relayed = xaddr(m, STUN_A_XOR_RELAYED_ADDRESS, 0);
	assert_int_equal(addr_port(&relayed) % 2, 0);
	const struct stun_attr *tk = find(m, STUN_A_RESERVATION_TOKEN);
	assert_non_null(tk);
	assert_int_equal(tk->len, 8);
	memcpy(token, tk->val, 8);
	int reserved = HANDLE0 + 1; /* the sibling the fake opened */
	assert_true(F.live[reserved - HANDLE0]);

	client_init(&c2, "198.51.100.11:40000", "bob", "hunter2");
	client_login(&c2);
	m = alloc_with(&c2, W_TOKEN, token);
	expect_code(m, 0);
	assert_int_equal(F.nadopt, 1);
	assert_int_equal(F.adopted[0], reserved);
	assert_non_null(F.adopt_alloc[0]);
	assert_ptr_not_equal(F.adopt_alloc[0], F.open[0].a);
	union tern_addr second = xaddr(m, STUN_A_XOR_RELAYED_ADDRESS, 0);
	assert_addr_equal(second, F.addr[reserved - HANDLE0]);
	assert_int_equal(addr_port(&second), addr_port(&relayed) + 1);
	assert_int_equal(F.open_calls, 1);

	/* a token is good once; an unknown one never */
	client_init(&c3, "198.51.100.12:40000", "alice", "secret");
	client_login(&c3);
	expect_code(alloc_with(&c3, W_TOKEN, token), 508);
	token[0] ^= 0xff;
	expect_code(alloc_with(&c3, W_TOKEN, token), 508);
	assert_int_equal(F.nadopt, 1);
	assert_int_equal(turn_stats(T)->allocs_live, 2);
	assert_int_equal(turn_shared_total(SH), 2);

	/* deleting the adopting allocation closes the adopted socket */
	expect_code(do_refresh(&c2, 0), 0);
	assert_true(was_closed(reserved));
}

/* RFC 8656 §7.2: a reservation lasts about 30 s; then the socket is closed
 * and the token is refused. */
static void test_reservation_expiry(void **state)
{
	struct client c1, c2, c3;
	uint8_t tok1[8], tok2[8];
	env_default();
	client_init(&c1, "198.51.100.10:40000", "alice", "secret");
	client_login(&c1);
	const struct stun_msg *m = alloc_with(&c1, W_EVEN_R, NULL);
	expect_code(m, 0);
	memcpy(tok1, find(m, STUN_A_RESERVATION_TOKEN)->val, 8);
	client_init(&c2, "198.51.100.11:40000", "alice", "secret");
	client_login(&c2);
	m = alloc_with(&c2, W_EVEN_R, NULL);
	expect_code(m, 0);
	memcpy(tok2, find(m, STUN_A_RESERVATION_TOKEN)->val, 8);
	int r1 = HANDLE0 + 1, r2 = HANDLE0 + 3;

	advance(29 * 1000);
	assert_false(was_closed(r1));
	client_init(&c3, "198.51.100.12:40000", "bob", "hunter2");
	client_login(&c3);
	expect_code(alloc_with(&c3, W_TOKEN, tok1), 0);
	assert_int_equal(F.adopted[0], r1);

	advance(2 * 1000);
	assert_true(was_closed(r2));
	assert_false(was_closed(r1));
	client_init(&c3, "198.51.100.13:40000", "bob", "hunter2");
	client_login(&c3);
	expect_code(alloc_with(&c3, W_TOKEN, tok2), 508);
	assert_int_equal(F.nadopt, 1);
}

static void test_allocate_relay_failure(void **state)
{
	struct client c;
	env_default();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	F.fail_rc = -ENOSPC;
	F.fail_count = 1;
	expect_code(do_allocate(&c), 508);
	F.fail_rc = -EADDRINUSE;
	F.fail_count = 1;
	expect_code(do_allocate(&c), 508);
	assert_int_equal(F.nopen, 0);
	assert_int_equal(turn_stats(T)->allocs_live, 0);
	assert_int_equal(turn_shared_total(SH), 0); /* quota given back */
	expect_code(do_allocate(&c), 0);
	assert_int_equal(turn_shared_total(SH), 1);
}

static void test_allocate_user_quota(void **state)
{
	struct client a1, a2, a3, b1;
	struct opts o = {.user_quota = 2};
	env_start(&o);
	setup_alloc(&a1, "198.51.100.10:40000");
	setup_alloc(&a2, "198.51.100.11:40000");
	client_init(&a3, "198.51.100.12:40000", "alice", "secret");
	client_login(&a3);
	expect_code(do_allocate(&a3), 486);
	assert_int_equal(turn_stats(T)->quota_rejects, 1);
	assert_int_equal(F.open_calls, 2);
	/* another user is not affected */
	client_init(&b1, "198.51.100.13:40000", "bob", "hunter2");
	client_login(&b1);
	expect_code(do_allocate(&b1), 0);
	/* deleting one of alice's gives her quota back */
	expect_code(do_refresh(&a1, 0), 0);
	expect_code(do_allocate(&a3), 0);
	assert_int_equal(turn_shared_total(SH), 3);
}

static void test_allocate_total_quota(void **state)
{
	struct client a1, b1, a2;
	struct opts o = {.total_quota = 2};
	env_start(&o);
	setup_alloc(&a1, "198.51.100.10:40000");
	client_init(&b1, "198.51.100.11:40000", "bob", "hunter2");
	client_login(&b1);
	expect_code(do_allocate(&b1), 0);
	client_init(&a2, "198.51.100.12:40000", "alice", "secret");
	client_login(&a2);
	expect_code(do_allocate(&a2), 508);
	assert_int_equal(F.open_calls, 2);
	expect_code(do_refresh(&b1, 0), 0);
	expect_code(do_allocate(&a2), 0);
}

static void test_allocate_pool_limit(void **state)
{
	struct client c[3];
	struct opts o = {.max_allocs = 2};
	env_start(&o);
	setup_alloc(&c[0], "198.51.100.10:40000");
	setup_alloc(&c[1], "198.51.100.11:40000");
	client_init(&c[2], "198.51.100.12:40000", "alice", "secret");
	client_login(&c[2]);
	expect_code(do_allocate(&c[2]), 508);
	assert_int_equal(F.open_calls, 2);
	assert_int_equal(turn_shared_total(SH), 2); /* the rejected one holds no quota */
	expect_code(do_refresh(&c[0], 0), 0);
	expect_code(do_allocate(&c[2]), 0);
	assert_int_equal(turn_stats(T)->allocs_live, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_allocate_success, env_stop),
	    cmocka_unit_test_teardown(test_allocate_lifetime, env_stop),
	    cmocka_unit_test_teardown(test_allocate_mismatch_437, env_stop),
	    cmocka_unit_test_teardown(test_allocate_retransmission, env_stop),
	    cmocka_unit_test_teardown(test_allocate_transport, env_stop),
	    cmocka_unit_test_teardown(test_allocate_attribute_errors, env_stop),
	    cmocka_unit_test_teardown(test_allocate_v6, env_stop),
	    cmocka_unit_test_teardown(test_allocate_family_disabled, env_stop),
	    cmocka_unit_test_teardown(test_allocate_dual, env_stop),
	    cmocka_unit_test_teardown(test_allocate_dual_partial, env_stop),
	    cmocka_unit_test_teardown(test_allocate_dual_draft_numbers, env_stop),
	    cmocka_unit_test_teardown(test_allocate_flags, env_stop),
	    cmocka_unit_test_teardown(test_allocate_reservation, env_stop),
	    cmocka_unit_test_teardown(test_reservation_expiry, env_stop),
	    cmocka_unit_test_teardown(test_allocate_relay_failure, env_stop),
	    cmocka_unit_test_teardown(test_allocate_user_quota, env_stop),
	    cmocka_unit_test_teardown(test_allocate_total_quota, env_stop),
	    cmocka_unit_test_teardown(test_allocate_pool_limit, env_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
