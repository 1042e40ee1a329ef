/* TURN core (src/turn/): client endpoints. First the server side of the
 * 5-tuple (issue 8, item 2), then endpoints of stream transports (the
 * core's side of issue 9). The server side of the 5-tuple. A wildcard
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

/* ---- stream endpoints (TCP, TLS): the seam issue 9 builds on ---- */

static void stream_client(struct client *c, const char *addr, uint8_t transport, uint32_t conn, uint32_t gen)
{
	client_init(c, addr, "alice", "secret");
	c->transport = transport;
	c->conn = conn;
	c->gen = gen;
}

/* RFC 8656 §3.1: an allocation over TCP or TLS ends with its connection. */
static void test_stream_allocation_ends_with_connection(void **state)
{
	struct client c, other;
	env_default();
	stream_client(&c, "198.51.100.20:40000", TURN_T_TCP, 1000, 1);
	client_login(&c);
	expect_code(do_allocate(&c), 0);
	stream_client(&other, "198.51.100.21:40000", TURN_T_TLS, 1001, 1);
	client_login(&other);
	expect_code(do_allocate(&other), 0);
	assert_int_equal(turn_stats(T)->allocs_live, 2);

	struct turn_ep ep = client_ep(&c);
	unsigned n0 = F.nsent;
	turn_on_client_closed(T, &ep);
	assert_int_equal(F.nsent, n0); /* nothing is sent to a closed connection */
	assert_int_equal(turn_stats(T)->allocs_live, 1);
	assert_true(was_closed(relay_of(0)));
	assert_false(was_closed(relay_of(1)));
	turn_on_client_closed(T, &ep); /* twice: nothing more */
	assert_int_equal(turn_stats(T)->allocs_live, 1);
	check_counters();
}

/* A handle's generation is part of the endpoint: the next connection in
 * the same slot is not the old one's client. */
static void test_stream_generation(void **state)
{
	struct client c, next;
	env_default();
	stream_client(&c, "198.51.100.22:40000", TURN_T_TCP, 1000, 1);
	client_login(&c);
	expect_code(do_allocate(&c), 0);
	expect_code(do_bind(&c, 0x4001, "203.0.113.7:5000"), 0);
	next = c;
	next.gen = 2;
	expect_code(do_refresh(&next, 600), 437);
	uint64_t before = turn_stats(T)->drop_no_alloc;
	static const uint8_t payload[] = "data";
	unsigned n0 = F.nsent;
	chan_data(&next, 0x4001, payload, sizeof(payload) - 1, 0);
	assert_int_equal(sent_to_peers(n0), 0);
	assert_int_equal(turn_stats(T)->drop_no_alloc, before + 1);
	/* the old generation still works until its close */
	n0 = F.nsent;
	chan_data(&c, 0x4001, payload, sizeof(payload) - 1, 0);
	assert_int_equal(sent_to_peers(n0), 1);
	struct turn_ep ep = client_ep(&next);
	turn_on_client_closed(T, &ep); /* the new one closing leaves it alone */
	assert_int_equal(turn_stats(T)->allocs_live, 1);
}

/* RFC 8656 §12.5: over TCP and TLS, ChannelData is padded to a multiple
 * of 4 bytes; over UDP it is not. Data indications are padded anyway. */
static void test_stream_channeldata_padded(void **state)
{
	struct client u, t;
	env_default();
	setup_alloc(&u, "198.51.100.23:40000");
	stream_client(&t, "198.51.100.24:40000", TURN_T_TLS, 1002, 7);
	client_login(&t);
	expect_code(do_allocate(&t), 0);
	expect_code(do_bind(&u, 0x4001, "203.0.113.7:5000"), 0);
	expect_code(do_bind(&t, 0x4001, "203.0.113.7:5000"), 0);
	static const uint8_t five[5] = "12345";
	unsigned n0 = F.nsent;
	from_peer(relay_of(0), "203.0.113.7:5000", five, sizeof(five));
	from_peer(relay_of(1), "203.0.113.7:5000", five, sizeof(five));
	assert_int_equal(F.nsent, n0 + 2);
	assert_int_equal(F.sent[n0].transport, TURN_T_UDP);
	assert_int_equal(F.sent[n0].len, 4 + 5);
	assert_int_equal(F.sent[n0 + 1].transport, TURN_T_TLS);
	assert_int_equal(F.sent[n0 + 1].gen, 7);
	assert_int_equal(F.sent[n0 + 1].len, 4 + 8);
	assert_int_equal(F.sent[n0 + 1].pad, 3);
	/* the length field still says 5 */
	assert_int_equal(F.sent[n0 + 1].buf[2] << 8 | F.sent[n0 + 1].buf[3], 5);
	assert_memory_equal(F.sent[n0 + 1].buf + 9, "\0\0\0", 3);
}

/* Only datagram transports retransmit (RFC 8489 §6.2.2): over TCP the same
 * transaction id twice is two requests, not one answered from the cache. */
static void test_stream_no_retransmission_cache(void **state)
{
	struct client c;
	env_default();
	for (unsigned k = 0; k < 2; k++) {
		if (k == 0)
			client_init(&c, "198.51.100.25:40000", "alice", "secret");
		else
			stream_client(&c, "198.51.100.26:40000", TURN_T_TCP, 1003, 1);
		client_login(&c);
		struct req q;
		stun_add_transport(req_init(&q, &c, TURN_ALLOCATE), STUN_TRANSPORT_UDP);
		req_sign(&q, &c);
		int len = stun_build_finish(&q.b);
		assert_true(len > 0);
		expect_code(deliver(&c, q.buf, (size_t)len), 0);
		/* UDP: the cached success again; TCP: 437, the 5-tuple has one */
		expect_code(deliver(&c, q.buf, (size_t)len), k == 0 ? 0 : 437);
	}
	assert_int_equal(turn_stats(T)->allocs_live, 2);
}

/* The per-source limit on unauthenticated answers guards against spoofed
 * datagram sources; a stream's source is proven: it does not apply. */
static void test_stream_no_unauth_limit(void **state)
{
	env_default();
	turn_free(T);
	P.unauth_bps = 100; /* burst 512: a few answers */
	T = turn_new(&P, &IO, 0x5eed);
	assert_non_null(T);
	clock_set(T0_MS, WALL0);
	for (unsigned k = 0; k < 2; k++) {
		struct client c;
		unsigned answered = 0;
		client_init(&c, k ? "198.51.100.28:40000" : "198.51.100.27:40000", NULL, NULL);
		if (k) {
			c.transport = TURN_T_TCP;
			c.conn = 1004;
		}
		for (int i = 0; i < 100; i++) {
			struct req q;
			req_init(&q, &c, STUN_BINDING);
			int n = stun_build_finish(&q.b);
			struct turn_ep ep = client_ep(&c);
			unsigned n0 = F.nsent;
			turn_on_client(T, &ep, q.buf, (size_t)n);
			answered += F.nsent - n0;
			sent_clear();
		}
		if (k == 0)
			assert_true(answered < 50);
		else
			assert_int_equal(answered, 100);
	}
}

/* A message the transport could not take (full output queue, closed
 * connection) is counted, and data so refused is not counted as relayed. */
static void test_send_refused_counted(void **state)
{
	struct client t;
	env_default();
	stream_client(&t, "198.51.100.29:40000", TURN_T_TCP, 1005, 1);
	client_login(&t);
	expect_code(do_allocate(&t), 0);
	expect_code(do_perm(&t, "203.0.113.7:1", NULL), 0);
	const struct turn_stats *st = turn_stats(T);
	uint64_t relayed = st->relayed_to_client, dropped = st->tx_dropped;
	static const uint8_t payload[] = "x";
	fake_tx_result = TURN_TX_DROPPED;
	from_peer(relay_of(0), "203.0.113.7:5000", payload, 1);
	fake_tx_result = TURN_TX_GONE;
	from_peer(relay_of(0), "203.0.113.7:5000", payload, 1);
	fake_tx_result = TURN_TX_QUEUED;
	assert_int_equal(st->relayed_to_client, relayed);
	assert_int_equal(st->tx_dropped, dropped + 2);
	from_peer(relay_of(0), "203.0.113.7:5000", payload, 1);
	assert_int_equal(st->relayed_to_client, relayed + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_two_local_addresses_two_allocations, env_stop),
	    cmocka_unit_test_teardown(test_retransmission_from_local, env_stop),
	    cmocka_unit_test_teardown(test_data_needs_the_same_local, env_stop),
	    cmocka_unit_test_teardown(test_stream_allocation_ends_with_connection, env_stop),
	    cmocka_unit_test_teardown(test_stream_generation, env_stop),
	    cmocka_unit_test_teardown(test_stream_channeldata_padded, env_stop),
	    cmocka_unit_test_teardown(test_stream_no_retransmission_cache, env_stop),
	    cmocka_unit_test_teardown(test_stream_no_unauth_limit, env_stop),
	    cmocka_unit_test_teardown(test_send_refused_counted, env_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
