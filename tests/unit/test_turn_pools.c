/* TURN core (src/turn/): the per-worker permission and channel pools.
 *
 * One user must not be able to take every permission or channel of a
 * worker (issue 8, defect 6), and a request that runs out of room installs
 * nothing: CreatePermission all or none (RFC 8656 §9.2), a failed
 * ChannelBind leaves no permission behind (§11.2 installs it only with the
 * channel). Peers are documentation addresses handed to the fake turn_io. */

/* The pool caps (nperm_pool, nchan_pool) live in struct turn; internal.h's
 * own struct req would clash with the harness's request builder. */
#define req turn_req
#include "turn/internal.h"
#undef req
#include "test_turn_harness.h"

static const struct stun_msg *perm_many(struct client *c, unsigned first, unsigned n)
{
	struct req q;
	struct stun_builder *b = req_init(&q, c, TURN_CREATE_PERMISSION);
	for (unsigned i = 0; i < n; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "203.0.113.%u", first + i);
		union tern_addr a = A(ip);
		stun_add_xaddr(b, STUN_A_XOR_PEER_ADDRESS, &a);
	}
	return call(c, &q);
}

/* Everything one allocation may hold: 32 permissions, 32 channels.
 * Returns the number of requests that succeeded (1 + 32 at most). */
static unsigned fill_alloc(struct client *c)
{
	unsigned ok = 0;
	ok += code_of(perm_many(c, 1, 32)) == 0;
	for (unsigned i = 0; i < 32; i++) {
		char peer[32];
		snprintf(peer, sizeof(peer), "203.0.113.%u:5000", 1 + i);
		ok += code_of(do_bind(c, (uint16_t)(0x4000 + i), peer)) == 0;
	}
	sent_clear();
	return ok;
}

/* total-quota 20 and user-quota 10, as the audit ran it: the pools were
 * 2n + 64 = 104 permissions and n + 64 = 84 channels, and alice's four
 * allocations took them all, so bob's first permission got 508. */
static void test_pools_one_user_cannot_starve(void **state)
{
	struct opts o = {.user_quota = 10, .total_quota = 20, .max_allocs = 20, .nonce_lifetime = 7200};
	struct client a[4], b;
	unsigned alice_ok = 0;
	env_start(&o);
	for (unsigned i = 0; i < 4; i++) {
		char addr[64];
		snprintf(addr, sizeof(addr), "198.51.100.%u:40000", 10 + i);
		setup_alloc(&a[i], addr);
		alice_ok += fill_alloc(&a[i]);
	}
	client_init(&b, "198.51.100.50:40000", "bob", "hunter2");
	client_login(&b);
	expect_code(do_allocate(&b), 0);
	int perm = code_of(perm_many(&b, 101, 8));
	int bind = code_of(do_bind(&b, 0x4000, "203.0.113.200:5000"));
	if (perm || bind)
		fail_msg("bob after alice's 4 full allocations: CreatePermission %d, ChannelBind %d "
		         "(alice: %u of 132 requests succeeded)",
		         perm, bind, alice_ok);
	/* and alice got all she asked for: 4 x (1 + 32) requests */
	assert_int_equal(alice_ok, 4 * 33);
	const struct turn_stats *st = turn_stats(T);
	assert_int_equal(st->perms_live, 4 * 32 + 8 + 1);
	assert_int_equal(st->channels_live, 4 * 32 + 1);
}

/* A CreatePermission that finds the pool short installs none of its peers
 * (RFC 8656 §9.2: the request succeeds or fails as a whole). */
static void test_pools_perm_all_or_none(void **state)
{
	struct opts o = {.nonce_lifetime = 7200};
	struct client c;
	uint8_t data[4] = {1, 2, 3, 4};
	env_start(&o);
	T->nperm_pool = 3; /* internal cap, lowered as its comment allows */
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(perm_many(&c, 1, 5), 508);
	assert_int_equal(turn_stats(T)->perms_live, 0);
	send_ind(&c, "203.0.113.1:7000", data, sizeof(data), true);
	assert_int_equal(sent_to_peers(0), 0);
	/* what fits is installed */
	expect_code(perm_many(&c, 1, 3), 0);
	assert_int_equal(turn_stats(T)->perms_live, 3);
	expect_code(perm_many(&c, 4, 1), 508);
	/* refreshing known peers needs no room */
	expect_code(perm_many(&c, 1, 3), 0);
	assert_int_equal(turn_stats(T)->perms_live, 3);
}

/* A ChannelBind answered 508 leaves no permission for its peer: the peer
 * must not become reachable through a request that failed. */
static void test_pools_failed_bind_leaves_no_perm(void **state)
{
	struct opts o = {.nonce_lifetime = 7200};
	struct client c;
	uint8_t data[4] = {1, 2, 3, 4};
	env_start(&o);
	T->nchan_pool = 1;
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4000, "203.0.113.1:7000"), 0);
	assert_int_equal(turn_stats(T)->perms_live, 1);
	expect_code(do_bind(&c, 0x4001, "203.0.113.2:7000"), 508);
	assert_int_equal(turn_stats(T)->perms_live, 1);
	assert_int_equal(turn_stats(T)->channels_live, 1);
	unsigned n0 = F.nsent;
	send_ind(&c, "203.0.113.2:7000", data, sizeof(data), true);
	assert_int_equal(sent_to_peers(n0), 0);
	from_peer(relay_of(0), "203.0.113.2:7000", data, sizeof(data));
	assert_int_equal(F.nsent, n0);
	/* rebinding the bound channel still works: it needs no new entry */
	expect_code(do_bind(&c, 0x4000, "203.0.113.1:7000"), 0);
}

/* A ChannelBind that would need a new permission when none is left fails
 * without a channel either. */
static void test_pools_bind_without_perm_room(void **state)
{
	struct opts o = {.nonce_lifetime = 7200};
	struct client c;
	env_start(&o);
	T->nperm_pool = 0;
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4000, "203.0.113.1:7000"), 508);
	assert_int_equal(turn_stats(T)->perms_live, 0);
	assert_int_equal(turn_stats(T)->channels_live, 0);
}

/* Entries are reused, across more than one chunk: three rounds of nine
 * full allocations (288 permissions and channels live at once). */
static void test_pools_reuse(void **state)
{
	struct opts o = {.nonce_lifetime = 7200};
	struct client c[9];
	env_start(&o);
	T->nperm_pool = 300;
	T->nchan_pool = 300;
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned k = 0; k < 9; k++) {
			char addr[64];
			snprintf(addr, sizeof(addr), "198.51.100.10:%u", 41000 + 10 * round + k);
			setup_alloc(&c[k], addr);
			assert_int_equal(fill_alloc(&c[k]), 33);
		}
		assert_int_equal(turn_stats(T)->perms_live, 9 * 32);
		assert_int_equal(turn_stats(T)->channels_live, 9 * 32);
		for (unsigned k = 0; k < 9; k++)
			expect_code(do_refresh(&c[k], 0), 0);
		sent_clear();
	}
	assert_int_equal(turn_stats(T)->perms_live, 0);
	assert_int_equal(turn_stats(T)->channels_live, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_pools_one_user_cannot_starve, env_stop),
	    cmocka_unit_test_teardown(test_pools_perm_all_or_none, env_stop),
	    cmocka_unit_test_teardown(test_pools_failed_bind_leaves_no_perm, env_stop),
	    cmocka_unit_test_teardown(test_pools_bind_without_perm_room, env_stop),
	    cmocka_unit_test_teardown(test_pools_reuse, env_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
