/* TURN core (src/turn/): what must not leak to a client. The worker's table
 * keys must not be learnable from transaction ids (issue 8, item 3), an
 * unknown username must cost the same HMAC as a known one (item 10), and a
 * username must not be able to forge log lines (item 10).
 *
 * stun_check_integrity(_sha256) are wrapped at link time
 * (-Wl,--wrap, tests/CMakeLists.txt) to count the HMACs the core computes. */
#include "test_turn_harness.h"

#include <stdlib.h>
#include <unistd.h>

/* ---- counting the core's integrity checks ---- */

int __real_stun_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen);
int __real_stun_check_integrity_sha256(const struct stun_msg *m, const uint8_t *key, size_t keylen);
int __wrap_stun_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen);
int __wrap_stun_check_integrity_sha256(const struct stun_msg *m, const uint8_t *key, size_t keylen);

static unsigned hmacs;

int __wrap_stun_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen)
{
	hmacs++;
	return __real_stun_check_integrity(m, key, keylen);
}

int __wrap_stun_check_integrity_sha256(const struct stun_msg *m, const uint8_t *key, size_t keylen)
{
	hmacs++;
	return __real_stun_check_integrity_sha256(m, key, keylen);
}

/* A signed Allocate from c, delivered by hand: returns how many integrity
 * checks the core made for it and leaves the answer in c->resp. */
static unsigned hmacs_for_allocate(struct client *c)
{
	struct req q;
	stun_add_transport(req_init(&q, c, TURN_ALLOCATE), STUN_TRANSPORT_UDP);
	req_sign(&q, c);
	int len = stun_build_finish(&q.b);
	assert_true(len > 0);
	hmacs = 0;
	deliver(c, q.buf, (size_t)len);
	return hmacs;
}

/* RFC 8489 §9.2.4 answers an unknown user and a wrong password alike (401);
 * the work behind the answer must be alike too, or the time to the 401
 * tells an attacker which usernames exist. */
static void test_unknown_user_costs_an_hmac(void **state)
{
	struct client known, unknown;
	env_default();

	client_init(&known, "198.51.100.10:40000", "alice", "wrong-password");
	client_login(&known);
	unsigned k = hmacs_for_allocate(&known);
	expect_code(&known.resp, 401);

	client_init(&unknown, "198.51.100.11:40000", "mallory", "any-password");
	client_login(&unknown);
	unsigned u = hmacs_for_allocate(&unknown);
	expect_code(&unknown.resp, 401);

	assert_int_equal(k, 1);
	assert_int_equal(u, k);

	/* the same with SHA-256 credentials */
	struct opts o = {.sha256 = true};
	env_stop(NULL);
	env_start(&o);
	client_init(&known, "198.51.100.12:40000", "alice", "wrong-password");
	known.sha256 = true;
	client_login(&known);
	k = hmacs_for_allocate(&known);
	expect_code(&known.resp, 401);
	client_init(&unknown, "198.51.100.13:40000", "mallory", "any-password");
	unknown.sha256 = true;
	client_login(&unknown);
	u = hmacs_for_allocate(&unknown);
	expect_code(&unknown.resp, 401);
	assert_int_equal(k, 1);
	assert_int_equal(u, k);
}

/* ---- transaction ids of Data indications ---- */

/* Peer data for the allocation on handle h, without a channel: a Data
 * indication to the client. Returns its transaction id. */
static void data_txid(int h, uint8_t txid[STUN_TXID_LEN])
{
	static const uint8_t payload[] = "peer data";
	unsigned n0 = F.nsent;
	from_peer(h, "203.0.113.7:5000", payload, sizeof(payload));
	assert_int_equal(F.nsent, n0 + 1);
	struct stun_msg m;
	assert_int_equal(stun_parse(&m, F.sent[n0].buf, F.sent[n0].len), 0);
	assert_int_equal(m.method, TURN_DATA);
	assert_int_equal(m.cls, STUN_INDICATION);
	memcpy(txid, m.txid, STUN_TXID_LEN);
}

static uint64_t first8(const uint8_t *txid)
{
	uint64_t v;
	memcpy(&v, txid, 8);
	return v;
}

/* Issue 8, item 3: Data indications carried (allocation id ^ worker seed),
 * so two of them from allocations created one after the other differed by
 * a few low bits, and three revealed the seed that keyed every table of the
 * worker. Transaction ids must be unrelated to each other and to any id. */
static void test_data_txids_are_unrelated(void **state)
{
	struct client c[3];
	uint8_t txid[3][2][STUN_TXID_LEN];
	char addr[64];
	env_default();
	for (unsigned i = 0; i < 3; i++) {
		snprintf(addr, sizeof(addr), "198.51.100.%u:40000", 20 + i);
		setup_alloc(&c[i], addr);
		expect_code(do_perm(&c[i], "203.0.113.7:1", NULL), 0);
	}
	for (unsigned i = 0; i < 3; i++)
		for (unsigned k = 0; k < 2; k++)
			data_txid(relay_of(i), txid[i][k]);

	for (unsigned i = 0; i < 3; i++) {
		/* two indications of one allocation share nothing */
		assert_true(first8(txid[i][0]) != first8(txid[i][1]));
		for (unsigned j = i + 1; j < 3; j++) {
			/* XOR of two allocations' ids is not a small number (it was
			 * id_i ^ id_j, at most a few bits) */
			uint64_t x = first8(txid[i][0]) ^ first8(txid[j][0]);
			assert_true(x > 0xffffffffULL);
			assert_memory_not_equal(txid[i][0], txid[j][0], STUN_TXID_LEN);
		}
	}
	/* and many of them are all distinct */
	enum { N = 200 };
	static uint8_t many[N][STUN_TXID_LEN];
	for (unsigned i = 0; i < N; i++) {
		data_txid(relay_of(i % 3), many[i]);
		sent_clear();
	}
	for (unsigned i = 0; i < N; i++)
		for (unsigned j = i + 1; j < N; j++)
			assert_memory_not_equal(many[i], many[j], STUN_TXID_LEN);
}

/* Seed 0 (what ternd passes) draws the keys from getrandom: two cores then
 * give different transaction ids for the same events. */
static void test_random_keys_per_core(void **state)
{
	uint8_t a[STUN_TXID_LEN], b[STUN_TXID_LEN];
	struct client c;
	for (unsigned round = 0; round < 2; round++) {
		env_default();
		turn_free(T);
		T = turn_new(&P, &IO, 0);
		assert_non_null(T);
		clock_set(T0_MS, WALL0);
		setup_alloc(&c, "198.51.100.30:40000");
		expect_code(do_perm(&c, "203.0.113.7:1", NULL), 0);
		data_txid(relay_of(0), round ? b : a);
		if (round == 0)
			env_stop(NULL);
	}
	assert_memory_not_equal(a, b, STUN_TXID_LEN);
}

/* ---- log lines ---- */

/* Issue 8, item 10: a REST username's user part is the client's choice; it
 * was logged raw, so a newline in it wrote a line of the client's making
 * into the operator's log. */
static void test_username_cannot_forge_log_lines(void **state)
{
	char path[] = "/tmp/tern-test-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct opts o = {.rest = true};
	env_start(&o);
	assert_int_equal(log_open(path, false), 0);
	tern_log_level = LOG_INFO;

	char user[256], pass[64];
	assert_int_equal(auth_rest_credentials(SECRETS[0], "eve\nFORGED ERROR root logged in\\\"", WALL0,
	                                       3600, user, sizeof(user), pass, sizeof(pass)),
	                 0);
	struct client c;
	client_init(&c, "198.51.100.40:40000", user, pass);
	client_login(&c);
	expect_code(do_allocate(&c), 0);
	tern_log_level = LOG_WARN;
	log_close();

	char text[4096];
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	unlink(path);
	text[n] = 0;
	/* one line, ending the text, and the name shown escaped */
	assert_non_null(strstr(text, "alloc "));
	assert_non_null(strchr(text, '\n'));
	assert_int_equal(strchr(text, '\n') - text, (long)n - 1);
	assert_null(strstr(text, "\nFORGED"));
	assert_non_null(strstr(text, "eve\\x0aFORGED ERROR root logged in\\x5c\\x22"));
}

static void test_log_escape(void **state)
{
	char out[32];
	assert_string_equal(log_escape(out, sizeof(out), "plain name", 10, 100), "plain name");
	assert_string_equal(log_escape(out, sizeof(out), "a\nb\x7f\"\\", 6, 100), "a\\x0ab\\x7f\\x22\\x5c");
	assert_string_equal(log_escape(out, sizeof(out), "\x00z", 2, 100), "\\x00z");
	/* at most max_in bytes, then "..." */
	assert_string_equal(log_escape(out, sizeof(out), "abcdef", 6, 3), "abc...");
	/* never past the output buffer: cut with "..." */
	char small[8];
	assert_string_equal(log_escape(small, sizeof(small), "abcdefghij", 10, 100), "abcd...");
	assert_string_equal(log_escape(small, sizeof(small), "\n\n\n", 3, 100), "\\x0a...");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_unknown_user_costs_an_hmac, env_stop),
	    cmocka_unit_test_teardown(test_data_txids_are_unrelated, env_stop),
	    cmocka_unit_test_teardown(test_random_keys_per_core, env_stop),
	    cmocka_unit_test_teardown(test_username_cannot_forge_log_lines, env_stop),
	    cmocka_unit_test(test_log_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
