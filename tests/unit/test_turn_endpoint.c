/* TURN core (src/turn/): the server side of the 5-tuple. A wildcard
 * listener serves every address of the host, so the core is told which
 * local address each datagram was sent to; answers and relayed data leave
 * from it, and it is part of the allocation's 5-tuple (RFC 8656 §2: the
 * 5-tuple holds the server's IP address and port). Issue 8, item 2. */
#include "test_turn_harness.h"

#define LOCAL_B "203.0.113.6:3478"

/* The peer's datagram on handle h reaches the client from `local`. */
static void expect_peer_data_from(int h, const char *client, const char *local)
{
	static const uint8_t payload[] = "from the peer";
	unsigned n0 = F.nsent;
	from_peer(h, "203.0.113.7:5000", payload, sizeof(payload));
	assert_int_equal(F.nsent, n0 + 1);
	assert_int_equal(F.sent[n0].handle, LISTENER);
	assert_addr_equal(F.sent[n0].dst, A(client));
	assert_addr_equal(F.sent[n0].src, A(local));
}

/* One client address writing to two addresses of the server has two
 * 5-tuples: two allocations, each answered and served from its own
 * address. */
static void test_two_local_addresses_two_allocations(void **state)
{
	struct client a, b;
	env_default();
	setup_alloc(&a, "198.51.100.10:40000");
	client_init(&b, "198.51.100.10:40000", "alice", "secret");
	b.local = A(LOCAL_B);
	client_login(&b); /* deliver() checks the 401 comes from LOCAL_B */
	expect_code(do_allocate(&b), 0);
	assert_int_equal(turn_stats(T)->allocs_live, 2);
	assert_int_equal(F.nopen, 2);

	expect_code(do_perm(&a, "203.0.113.7:1", NULL), 0);
	expect_code(do_perm(&b, "203.0.113.7:1", NULL), 0);
	expect_peer_data_from(relay_of(0), "198.51.100.10:40000", LOCAL_ADDR);
	expect_peer_data_from(relay_of(1), "198.51.100.10:40000", LOCAL_B);

	/* ChannelData too */
	expect_code(do_bind(&b, 0x4001, "203.0.113.7:5000"), 0);
	static const uint8_t payload[] = "chan";
	unsigned n0 = F.nsent;
	from_peer(relay_of(1), "203.0.113.7:5000", payload, sizeof(payload));
	assert_int_equal(F.nsent, n0 + 1);
	assert_addr_equal(F.sent[n0].src, A(LOCAL_B));
	assert_int_equal(F.sent[n0].hdrlen, 4);

	/* deleting one leaves the other */
	expect_code(do_refresh(&a, 0), 0);
	assert_int_equal(turn_stats(T)->allocs_live, 1);
	expect_peer_data_from(relay_of(1), "198.51.100.10:40000", LOCAL_B);
}

/* A retransmitted request is answered from the cache, from the address it
 * was sent to. */
static void test_retransmission_from_local(void **state)
{
	struct client b;
	env_default();
	client_init(&b, "198.51.100.11:40000", "alice", "secret");
	b.local = A(LOCAL_B);
	client_login(&b);
	struct req q;
	stun_add_transport(req_init(&q, &b, TURN_ALLOCATE), STUN_TRANSPORT_UDP);
	req_sign(&q, &b);
	int len = stun_build_finish(&q.b);
	assert_true(len > 0);
	expect_code(deliver(&b, q.buf, (size_t)len), 0);
	expect_code(deliver(&b, q.buf, (size_t)len), 0); /* checks the source again */
	assert_int_equal(F.nopen, 1);
}

/* Data from the client to the wrong local address is not its allocation's. */
static void test_data_needs_the_same_local(void **state)
{
	struct client a;
	env_default();
	setup_alloc(&a, "198.51.100.12:40000");
	expect_code(do_bind(&a, 0x4002, "203.0.113.7:5000"), 0);
	static const uint8_t payload[] = "to the peer";
	unsigned n0 = F.nsent;
	chan_data(&a, 0x4002, payload, sizeof(payload), 0);
	assert_int_equal(sent_to_peers(n0), 1);
	a.local = A(LOCAL_B);
	uint64_t before = turn_stats(T)->drop_no_alloc;
	n0 = F.nsent;
	chan_data(&a, 0x4002, payload, sizeof(payload), 0);
	assert_int_equal(sent_to_peers(n0), 0);
	assert_int_equal(turn_stats(T)->drop_no_alloc, before + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_two_local_addresses_two_allocations, env_stop),
	    cmocka_unit_test_teardown(test_retransmission_from_local, env_stop),
	    cmocka_unit_test_teardown(test_data_needs_the_same_local, env_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
