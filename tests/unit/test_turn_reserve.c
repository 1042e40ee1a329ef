/* TURN core (src/turn/): EVEN-PORT reservations (RFC 8656 §7.2) and the
 * quotas (issue 8, defect 7). A reserved port is a relay socket held open
 * for someone: it counts against its user's quota and the total quota until
 * it is redeemed or expires, and every expired one is closed on the next
 * sweep. The fake turn_io tracks which relay handles are open. */

/* TURN_RESERVATION_MS; internal.h's own struct req would clash with the
 * harness's request builder. */
#define req turn_req
#include "turn/internal.h"
#undef req
#include "test_turn_harness.h"

static unsigned handles_open(void)
{
	unsigned n = 0;
	for (int h = HANDLE0; h < F.next; h++)
		n += F.live[h - HANDLE0];
	return n;
}

static void take_token(const struct stun_msg *m, uint8_t token[8])
{
	const struct stun_attr *tk = find(m, STUN_A_RESERVATION_TOKEN);
	assert_non_null(tk);
	assert_int_equal(tk->len, 8);
	memcpy(token, tk->val, 8);
}

/* Allocate with EVEN-PORT R=1 and delete, over and over, from one user:
 * what stays open is bounded by the user's quota. */
static void churn(unsigned quota)
{
	struct opts o = {.user_quota = quota};
	struct client c;
	unsigned ok = 0;
	env_start(&o);
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	for (unsigned i = 0; i < 200; i++) {
		const struct stun_msg *m = alloc_with(&c, W_EVEN_R, NULL);
		int code = code_of(m);
		if (code == 0) {
			ok++;
			expect_code(do_refresh(&c, 0), 0);
		} else {
			expect_code(m, 486);
		}
		sent_clear();
	}
	if (handles_open() > quota)
		fail_msg("user-quota %u: %u of 200 EVEN-PORT R=1 cycles succeeded, %u relay handles open",
		         quota, ok, handles_open());
	/* a refused Allocate opened nothing */
	assert_int_equal(F.open_calls, ok);
}

static void test_reserve_churn_quota1(void **state)
{
	churn(1);
}

static void test_reserve_churn_quota2(void **state)
{
	churn(2);
	/* the one reservation made holds one of alice's two units */
	struct client d;
	client_init(&d, "198.51.100.11:40000", "alice", "secret");
	client_login(&d);
	expect_code(do_allocate(&d), 0);
	client_init(&d, "198.51.100.12:40000", "alice", "secret");
	client_login(&d);
	expect_code(do_allocate(&d), 486);
	/* until it expires */
	advance(TURN_RESERVATION_MS);
	expect_code(do_allocate(&d), 0);
	assert_int_equal(handles_open(), 2);
}

/* After the reservation lifetime, one sweep closes every expired
 * reservation, however many (the sweep closed 16 a second before). */
static void test_reserve_expire_all(void **state)
{
	struct opts o = {.nonce_lifetime = 7200};
	struct client c;
	env_start(&o);
	for (unsigned i = 0; i < 40; i++) {
		char addr[64];
		snprintf(addr, sizeof(addr), "198.51.100.%u:40000", 10 + i);
		client_init(&c, addr, "alice", "secret");
		client_login(&c);
		expect_code(alloc_with(&c, W_EVEN_R, NULL), 0);
		expect_code(do_refresh(&c, 0), 0);
		sent_clear();
	}
	assert_int_equal(handles_open(), 40);
	advance(TURN_RESERVATION_MS - 1);
	assert_int_equal(handles_open(), 40);
	advance(1000); /* the next sweep */
	if (handles_open() != 0)
		fail_msg("%u of 40 expired reservations still open after one sweep", handles_open());
	assert_int_equal(turn_shared_total(SH), 0);
}

/* A reservation holds one unit of its user's quota; redeeming it (by
 * anyone) gives that unit back, and the new allocation takes its own. */
static void test_reserve_redeem_releases_unit(void **state)
{
	struct opts o = {.user_quota = 2};
	struct client a1, a2, a3, b1;
	uint8_t token[8];
	env_start(&o);
	client_init(&a1, "198.51.100.10:40000", "alice", "secret");
	client_login(&a1);
	const struct stun_msg *m = alloc_with(&a1, W_EVEN_R, NULL);
	expect_code(m, 0);
	take_token(m, token);
	client_init(&a2, "198.51.100.11:40000", "alice", "secret");
	client_login(&a2);
	expect_code(do_allocate(&a2), 486); /* allocation + reservation = 2 */
	assert_int_equal(turn_shared_total(SH), 1);

	client_init(&b1, "198.51.100.12:40000", "bob", "hunter2");
	client_login(&b1);
	expect_code(alloc_with(&b1, W_TOKEN, token), 0);
	assert_int_equal(turn_shared_total(SH), 2);
	expect_code(do_allocate(&a2), 0); /* alice's reservation unit is back */
	client_init(&a3, "198.51.100.13:40000", "alice", "secret");
	client_login(&a3);
	expect_code(do_allocate(&a3), 486);
	assert_int_equal(turn_shared_total(SH), 3);
}

/* The owner may redeem her own reservation even at her quota: the
 * reservation's unit passes to the allocation. */
static void test_reserve_redeem_own_at_quota(void **state)
{
	struct opts o = {.user_quota = 2};
	struct client a1, a2;
	uint8_t token[8];
	env_start(&o);
	client_init(&a1, "198.51.100.10:40000", "alice", "secret");
	client_login(&a1);
	const struct stun_msg *m = alloc_with(&a1, W_EVEN_R, NULL);
	expect_code(m, 0);
	take_token(m, token);
	client_init(&a2, "198.51.100.11:40000", "alice", "secret");
	client_login(&a2);
	expect_code(alloc_with(&a2, W_TOKEN, token), 0);
	assert_int_equal(turn_shared_total(SH), 2);
	assert_int_equal(handles_open(), 2);
}

/* A redeemer without quota gets 486 and the reservation stays usable. */
static void test_reserve_redeem_over_quota(void **state)
{
	struct opts o = {.user_quota = 2};
	struct client a1, b1, b2, b3;
	uint8_t token[8];
	env_start(&o);
	client_init(&a1, "198.51.100.10:40000", "alice", "secret");
	client_login(&a1);
	const struct stun_msg *m = alloc_with(&a1, W_EVEN_R, NULL);
	expect_code(m, 0);
	take_token(m, token);
	client_init(&b1, "198.51.100.11:40000", "bob", "hunter2");
	client_login(&b1);
	expect_code(do_allocate(&b1), 0);
	client_init(&b2, "198.51.100.12:40000", "bob", "hunter2");
	client_login(&b2);
	expect_code(do_allocate(&b2), 0);
	client_init(&b3, "198.51.100.13:40000", "bob", "hunter2");
	client_login(&b3);
	expect_code(alloc_with(&b3, W_TOKEN, token), 486);
	expect_code(do_refresh(&b2, 0), 0);
	expect_code(alloc_with(&b3, W_TOKEN, token), 0);
}

/* The total quota counts reservations too: 508 for the server. */
static void test_reserve_total_quota(void **state)
{
	struct opts o = {.total_quota = 2};
	struct client a1, b1;
	env_start(&o);
	client_init(&a1, "198.51.100.10:40000", "alice", "secret");
	client_login(&a1);
	expect_code(alloc_with(&a1, W_EVEN_R, NULL), 0);
	client_init(&b1, "198.51.100.11:40000", "bob", "hunter2");
	client_login(&b1);
	expect_code(do_allocate(&b1), 508);
	expect_code(alloc_with(&b1, W_EVEN_R, NULL), 508);
	assert_int_equal(F.open_calls, 1);
	expect_code(do_refresh(&a1, 0), 0);
	expect_code(alloc_with(&b1, W_EVEN_R, NULL), 508); /* the reservation still holds one */
	expect_code(do_allocate(&b1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_reserve_churn_quota1, env_stop),
	    cmocka_unit_test_teardown(test_reserve_churn_quota2, env_stop),
	    cmocka_unit_test_teardown(test_reserve_expire_all, env_stop),
	    cmocka_unit_test_teardown(test_reserve_redeem_releases_unit, env_stop),
	    cmocka_unit_test_teardown(test_reserve_redeem_own_at_quota, env_stop),
	    cmocka_unit_test_teardown(test_reserve_redeem_over_quota, env_stop),
	    cmocka_unit_test_teardown(test_reserve_total_quota, env_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
