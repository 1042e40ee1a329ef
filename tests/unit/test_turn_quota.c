/* TURN core (src/turn/): whom the per-user quota counts (issue 8).
 *
 * RFC 8656 §7.2 step 10: the allocation quota SHOULD be based on the
 * username used to authenticate. A username is a user in full, however
 * long (defect 10b); a TURN REST username "expiry:user" is the user part,
 * whatever the expiry (defect 10c, as coturn counts it). */
#include "test_turn_harness.h"

/* A client with REST credentials for user (NULL: timestamp only) valid
 * ttl seconds from WALL0. */
struct rest_client {
	struct client c;
	char user[1024], pass[64];
};

static void rest_client(struct rest_client *r, const char *addr, const char *user, uint64_t ttl)
{
	assert_int_equal(auth_rest_credentials(SECRETS[0], user, WALL0, ttl, r->user, sizeof(r->user),
	                                       r->pass, sizeof(r->pass)),
	                 0);
	client_init(&r->c, addr, r->user, r->pass);
	client_login(&r->c);
}

/* Two users whose names share their first 128 bytes are two users. */
static void test_quota_long_names_distinct(void **state)
{
	struct opts o = {.rest = true, .user_quota = 1};
	struct rest_client r1, r2;
	char u1[200], u2[200];
	env_start(&o);
	memset(u1, 'x', 150);
	memcpy(u2, u1, 150);
	u1[150] = 'A';
	u2[150] = 'B';
	u1[151] = u2[151] = 0;
	rest_client(&r1, "198.51.100.10:40000", u1, 3600);
	rest_client(&r2, "198.51.100.11:40000", u2, 3600);
	assert_true(strlen(r1.user) > 128 && memcmp(r1.user, r2.user, 128) == 0);
	expect_code(do_allocate(&r1.c), 0);
	expect_code(do_allocate(&r2.c), 0);
	/* each is still held to its own quota */
	struct rest_client r3;
	rest_client(&r3, "198.51.100.12:40000", u1, 3600);
	expect_code(do_allocate(&r3.c), 486);
	assert_int_equal(turn_shared_total(SH), 2);
}

/* The longest USERNAME RFC 8489 §14.3 lets a client send (508 bytes). */
static void test_quota_longest_name(void **state)
{
	struct opts o = {.rest = true, .user_quota = 1};
	struct rest_client r1, r2;
	char u[600];
	env_start(&o);
	memset(u, 'y', 497);
	u[497] = 0;
	rest_client(&r1, "198.51.100.10:40000", u, 3600);
	assert_int_equal(strlen(r1.user), 508);
	expect_code(do_allocate(&r1.c), 0);
	rest_client(&r2, "198.51.100.11:40000", u, 3600);
	expect_code(do_allocate(&r2.c), 486);
	expect_code(do_refresh(&r1.c, 0), 0);
	expect_code(do_allocate(&r2.c), 0);
}

/* A REST user holding several credentials (other expiries) is one user:
 * coturn counts the user part after ':'. */
static void test_quota_rest_user_part(void **state)
{
	struct opts o = {.rest = true, .user_quota = 1};
	struct rest_client c1, c2, d1;
	env_start(&o);
	rest_client(&c1, "198.51.100.10:40000", "carol", 3600);
	rest_client(&c2, "198.51.100.11:40000", "carol", 7200);
	assert_string_not_equal(c1.user, c2.user);
	expect_code(do_allocate(&c1.c), 0);
	expect_code(do_allocate(&c2.c), 486);
	/* another user is not affected */
	rest_client(&d1, "198.51.100.12:40000", "dave", 3600);
	expect_code(do_allocate(&d1.c), 0);
	/* the unit comes back when carol's allocation goes */
	expect_code(do_refresh(&c1.c, 0), 0);
	expect_code(do_allocate(&c2.c), 0);
	assert_int_equal(turn_shared_total(SH), 2);
}

/* A REST username that is only a timestamp has no user part: the whole
 * string is its key, so two of them are two quotas (as in coturn). The
 * same holds for "expiry:" with an empty user part. */
static void test_quota_rest_no_user_part(void **state)
{
	struct opts o = {.rest = true, .user_quota = 1};
	struct rest_client t1, t2, t3;
	env_start(&o);
	rest_client(&t1, "198.51.100.10:40000", NULL, 3600);
	rest_client(&t2, "198.51.100.11:40000", NULL, 7200);
	assert_null(strchr(t1.user, ':'));
	expect_code(do_allocate(&t1.c), 0);
	expect_code(do_allocate(&t2.c), 0);
	rest_client(&t3, "198.51.100.12:40000", NULL, 3600);
	expect_code(do_allocate(&t3.c), 486); /* the same string as t1 */
	assert_int_equal(turn_shared_total(SH), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_quota_long_names_distinct, env_stop),
	    cmocka_unit_test_teardown(test_quota_longest_name, env_stop),
	    cmocka_unit_test_teardown(test_quota_rest_user_part, env_stop),
	    cmocka_unit_test_teardown(test_quota_rest_no_user_part, env_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
