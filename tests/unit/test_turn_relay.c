/* TURN core (src/turn/): Refresh (RFC 8656 §7.3), CreatePermission (§9),
 * ChannelBind (§11), the data path (§10, §12), max-bps, expiry and
 * teardown. Binding, authentication and Allocate are in test_turn.c.
 *
 * Peers are documentation addresses (203.0.113.0/24, 198.51.100.0/24,
 * 2001:db8::/32) and forbidden ones (loopback, private, metadata); all are
 * values handed to the fake turn_io: nothing is ever sent anywhere. */
#include "test_turn_harness.h"

#define PEER    "203.0.113.5:7000"
#define PEER_IP "203.0.113.5"
#define PEER2   "203.0.113.6:7000"
#define PEER6   "[2001:db8:1::5]:7000"

/* Tests that run the clock far keep their nonce valid throughout. */
static void env_relay(void)
{
	struct opts o = {.nonce_lifetime = 7200};
	env_start(&o);
}

static const struct sent *only_new(unsigned n0)
{
	if (F.nsent != n0 + 1)
		fail_msg("expected one datagram, got %u", F.nsent - n0);
	return &F.sent[n0];
}

/* ---- Refresh (RFC 8656 §7.3) ---- */

static void test_refresh_no_allocation(void **state)
{
	struct client c;
	env_relay();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	expect_code(do_refresh(&c, 600), 437);
	expect_code(do_refresh(&c, 0), 437);
	expect_code(do_refresh(&c, -1), 437);
}

static void test_refresh_lifetime(void **state)
{
	struct client c;
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	const struct stun_msg *m = do_refresh(&c, 1200);
	expect_code(m, 0);
	assert_int_equal(u32_of(m, STUN_A_LIFETIME), 1200);
	m = do_refresh(&c, 99999);
	expect_code(m, 0);
	assert_int_equal(u32_of(m, STUN_A_LIFETIME), MAX_LIFETIME);
	m = do_refresh(&c, 10);
	expect_code(m, 0);
	assert_int_equal(u32_of(m, STUN_A_LIFETIME), DEFAULT_LIFETIME);
	m = do_refresh(&c, -1);
	expect_code(m, 0);
	assert_int_equal(u32_of(m, STUN_A_LIFETIME), DEFAULT_LIFETIME);

	/* the last Refresh counts, also when it shortens */
	m = do_refresh(&c, MAX_LIFETIME);
	expect_code(m, 0);
	advance(100 * 1000);
	m = do_refresh(&c, 600);
	expect_code(m, 0);
	advance(599 * 1000);
	assert_false(was_closed(HANDLE0));
	advance(1000 + 64);
	assert_true(was_closed(HANDLE0));
	assert_int_equal(turn_stats(T)->allocs_expired, 1);

	/* a LIFETIME of the wrong size is malformed */
	setup_alloc(&c, "198.51.100.10:40001");
	struct req q;
	stun_add_attr(req_init(&q, &c, TURN_REFRESH), STUN_A_LIFETIME, "\0\0\0\0\0\0\0\x10", 8);
	expect_code(call(&c, &q), 400);
}

static void test_refresh_delete(void **state)
{
	struct client c;
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_perm(&c, PEER_IP, NULL), 0);
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	assert_int_equal(turn_stats(T)->perms_live, 1);
	assert_int_equal(turn_stats(T)->channels_live, 1);

	const struct stun_msg *m = do_refresh(&c, 0);
	expect_code(m, 0);
	assert_true(m->mi >= 0); /* signed with the allocation's key (verified by call) */
	assert_int_equal(u32_of(m, STUN_A_LIFETIME), 0);
	assert_int_equal(F.nclosed, 1);
	assert_int_equal(F.closed[0], HANDLE0);
	const struct turn_stats *st = turn_stats(T);
	assert_int_equal(st->allocs_live, 0);
	assert_int_equal(st->allocs_deleted, 1);
	assert_int_equal(st->allocs_expired, 0);
	assert_int_equal(st->perms_live, 0);
	assert_int_equal(st->channels_live, 0);
	assert_int_equal(turn_shared_total(SH), 0);

	expect_code(do_perm(&c, PEER_IP, NULL), 437);
	expect_code(do_bind(&c, 0x4000, PEER), 437);
	expect_code(do_refresh(&c, 0), 437); /* RFC 8656 §7.3: a retransmitted delete */
	/* the 5-tuple is free again */
	m = do_allocate(&c);
	expect_code(m, 0);
	assert_int_equal(F.nopen, 2);
}

/* RFC 8656 §7.3: REQUESTED-ADDRESS-FAMILY not matching the allocation: 443. */
static void test_refresh_family(void **state)
{
	struct client c, d;
	struct req q;
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	stun_add_family(req_init(&q, &c, TURN_REFRESH), STUN_A_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
	expect_code(call(&c, &q), 443);
	stun_add_family(req_init(&q, &c, TURN_REFRESH), STUN_A_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV4);
	expect_code(call(&c, &q), 0);

	client_init(&d, "198.51.100.11:40000", "alice", "secret");
	client_login(&d);
	expect_code(alloc_with(&d, W_AAF6, NULL), 0);
	stun_add_family(req_init(&q, &d, TURN_REFRESH), STUN_A_REQUESTED_ADDRESS_FAMILY, STUN_FAMILY_IPV6);
	expect_code(call(&d, &q), 0);
	assert_int_equal(turn_stats(T)->allocs_live, 2);
}

/* ---- CreatePermission (RFC 8656 §9) ---- */

static void test_perm_missing_peer(void **state)
{
	struct client c;
	struct req q;
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	req_init(&q, &c, TURN_CREATE_PERMISSION);
	expect_code(call(&c, &q), 400);
	/* an XOR-PEER-ADDRESS that does not decode */
	stun_add_attr(req_init(&q, &c, TURN_CREATE_PERMISSION), STUN_A_XOR_PEER_ADDRESS, "\0\x01\0", 3);
	expect_code(call(&c, &q), 400);
	assert_int_equal(turn_stats(T)->perms_live, 0);
}

/* Forbidden peers (DESIGN: no relaying into internal networks): 403, no
 * permission installed, and nothing leaves through a relay socket. */
static void test_perm_forbidden_v4(void **state)
{
	static const char *const bad[] = {"127.0.0.1",       "10.0.0.1",   "169.254.169.254", "192.168.1.1",
	                                  "172.16.0.1",      "100.64.0.1", "0.0.0.0",         "224.0.0.1",
	                                  "255.255.255.255", "198.18.0.1", "240.0.0.1"};
	struct client c;
	uint8_t data[4] = {1, 2, 3, 4};
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct stun_msg *m = do_perm(&c, bad[i], NULL);
		if (code_of(m) != 403)
			fail_msg("%s: expected 403, got %d", bad[i], code_of(m));
		assert_true(m->mi >= 0);
	}
	assert_int_equal(turn_stats(T)->perms_live, 0);
	send_ind(&c, "127.0.0.1:9", data, sizeof(data), true);
	send_ind(&c, "169.254.169.254:80", data, sizeof(data), true);
	assert_int_equal(sent_to_peers(0), 0);
	assert_int_equal(turn_stats(T)->drop_policy, 2);
}

static void test_perm_forbidden_v6(void **state)
{
	static const char *const bad[] = {
	    "::ffff:127.0.0.1",       "64:ff9b::7f00:1", "::1",     "fe80::1", "fc00::1", "::ffff:10.0.0.1",
	    "::ffff:169.254.169.254", "2002:7f00:1::1",  "ff02::1", "::"};
	struct client c;
	env_relay();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	expect_code(alloc_with(&c, W_RAF6, NULL), 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct stun_msg *m = do_perm(&c, bad[i], NULL);
		if (code_of(m) != 403)
			fail_msg("%s: expected 403, got %d", bad[i], code_of(m));
	}
	expect_code(do_bind(&c, 0x4000, "[::ffff:127.0.0.1]:53"), 403);
	assert_int_equal(turn_stats(T)->perms_live, 0);
	assert_int_equal(turn_stats(T)->channels_live, 0);
	assert_int_equal(sent_to_peers(0), 0);
	expect_code(do_perm(&c, "2001:db8:1::5", NULL), 0);
}

static void test_perm_allow_loopback(void **state)
{
	struct client c;
	struct opts o = {.allow_loopback = true};
	env_start(&o);
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_perm(&c, "127.0.0.1", NULL), 0);
	expect_code(do_perm(&c, "10.0.0.1", NULL), 403); /* only loopback is opened */
}

static void test_perm_family_mismatch(void **state)
{
	struct client c, d;
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_perm(&c, "2001:db8:1::5", NULL), 443);
	expect_code(do_bind(&c, 0x4000, PEER6), 443);
	client_init(&d, "198.51.100.11:40000", "alice", "secret");
	client_login(&d);
	expect_code(alloc_with(&d, W_RAF6, NULL), 0);
	expect_code(do_perm(&d, PEER_IP, NULL), 443);
	assert_int_equal(turn_stats(T)->perms_live, 0);
}

/* One request, several peers: all are installed or none. */
static void test_perm_all_or_none(void **state)
{
	struct client c;
	uint8_t data[3] = {1, 2, 3};
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_perm(&c, PEER_IP, "198.51.100.99", "127.0.0.1", NULL), 403);
	expect_code(do_perm(&c, PEER_IP, "2001:db8:1::5", NULL), 443);
	assert_int_equal(turn_stats(T)->perms_live, 0);
	send_ind(&c, PEER, data, sizeof(data), true);
	assert_int_equal(turn_stats(T)->drop_no_perm, 1);
	assert_int_equal(sent_to_peers(0), 0);

	expect_code(do_perm(&c, PEER_IP, "198.51.100.99", NULL), 0);
	assert_int_equal(turn_stats(T)->perms_live, 2);
	send_ind(&c, PEER, data, sizeof(data), true);
	send_ind(&c, "198.51.100.99:1", data, sizeof(data), true);
	assert_int_equal(sent_to_peers(0), 2);
}

/* The limit of permissions per allocation: 508, and still all or none. */
static void test_perm_capacity(void **state)
{
	struct client c;
	struct opts o = {.max_perms = 2, .nonce_lifetime = 7200};
	env_start(&o);
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_perm(&c, "203.0.113.1", "203.0.113.2", "203.0.113.3", NULL), 508);
	assert_int_equal(turn_stats(T)->perms_live, 0);
	expect_code(do_perm(&c, "203.0.113.1", "203.0.113.2", NULL), 0);
	/* refreshing existing ones needs no room */
	expect_code(do_perm(&c, "203.0.113.2", "203.0.113.1", NULL), 0);
	expect_code(do_perm(&c, "203.0.113.3", NULL), 508);
	assert_int_equal(turn_stats(T)->perms_live, 2);
}

/* RFC 8656 §9: a permission lasts 300 s unless refreshed. */
static void test_perm_expiry(void **state)
{
	struct client c;
	uint8_t data[5] = {5, 4, 3, 2, 1};
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_perm(&c, PEER_IP, "203.0.113.7", NULL), 0);
	advance(200 * 1000);
	expect_code(do_perm(&c, "203.0.113.7", NULL), 0); /* refreshed: until 500 s */

	advance(99 * 1000);
	unsigned n0 = F.nsent;
	from_peer(HANDLE0, PEER, data, sizeof(data));
	assert_int_equal(F.nsent, n0 + 1);

	advance(2 * 1000); /* 301 s */
	n0 = F.nsent;
	from_peer(HANDLE0, PEER, data, sizeof(data));
	send_ind(&c, PEER, data, sizeof(data), true);
	assert_int_equal(F.nsent, n0);
	assert_int_equal(turn_stats(T)->drop_no_perm, 2);
	assert_int_equal(turn_stats(T)->perms_live, 1); /* the timer freed it */

	from_peer(HANDLE0, "203.0.113.7:1", data, sizeof(data));
	assert_int_equal(F.nsent, n0 + 1);
	advance(200 * 1000);
	from_peer(HANDLE0, "203.0.113.7:1", data, sizeof(data));
	assert_int_equal(F.nsent, n0 + 1);
	assert_int_equal(turn_stats(T)->perms_live, 0);
}

/* alloc.c: use sites check expiry themselves, so a timer that runs late
 * (clock moved, no turn_on_tick yet) never lets a stale entry relay. */
static void test_late_timer(void **state)
{
	struct client c;
	uint8_t data[4] = {1, 2, 3, 4};
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_refresh(&c, MAX_LIFETIME), 0);
	expect_code(do_perm(&c, "203.0.113.7", NULL), 0);
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	clock_set(F.now + PERM_LIFETIME * 1000 + 1, F.wall + PERM_LIFETIME + 1); /* no tick */
	unsigned n0 = F.nsent;
	from_peer(HANDLE0, "203.0.113.7:1", data, sizeof(data));
	send_ind(&c, "203.0.113.7:1", data, sizeof(data), true);
	assert_int_equal(F.nsent, n0);
	assert_int_equal(turn_stats(T)->drop_no_perm, 2);

	expect_code(do_perm(&c, PEER_IP, NULL), 0);
	/* the channel (bound at 0) ends at 600 s, the permission (300.001 s) lives on */
	clock_set(F.now + (CHAN_LIFETIME - PERM_LIFETIME) * 1000 - 1, F.wall + CHAN_LIFETIME - PERM_LIFETIME);
	n0 = F.nsent;
	chan_data(&c, 0x4000, data, sizeof(data), 0);
	assert_int_equal(F.nsent, n0);
	assert_int_equal(turn_stats(T)->drop_no_channel, 1);
	from_peer(HANDLE0, PEER, data, sizeof(data)); /* permission still valid: as a Data indication */
	const struct sent *s = only_new(n0);
	assert_int_equal(s->buf[0] & 0xC0, 0);
	turn_on_tick(T);
	check_counters();
}

/* ---- ChannelBind (RFC 8656 §11) ---- */

static void test_bind_missing(void **state)
{
	struct client c;
	struct req q;
	union tern_addr p = A(PEER);
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	stun_add_xaddr(req_init(&q, &c, TURN_CHANNEL_BIND), STUN_A_XOR_PEER_ADDRESS, &p);
	expect_code(call(&c, &q), 400);
	stun_add_channel(req_init(&q, &c, TURN_CHANNEL_BIND), 0x4000);
	expect_code(call(&c, &q), 400);
	struct stun_builder *b = req_init(&q, &c, TURN_CHANNEL_BIND);
	stun_add_attr(b, STUN_A_CHANNEL_NUMBER, "\x40\x00", 2);
	stun_add_xaddr(b, STUN_A_XOR_PEER_ADDRESS, &p);
	expect_code(call(&c, &q), 400);
	assert_int_equal(turn_stats(T)->channels_live, 0);
	assert_int_equal(turn_stats(T)->perms_live, 0);
}

/* RFC 8656 §11.2 / §12: 0x4000..0x4FFF; tern accepts RFC 5766's range up
 * to 0x7FFF by default (turn.h channel_max), the RFC 8656 one when strict. */
static void test_bind_range(void **state)
{
	struct client c;
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	static const uint16_t bad[] = {0x0000, 0x0001, 0x3FFF, 0x8000, 0xFFFF};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_code(do_bind(&c, bad[i], PEER), 400);
	assert_int_equal(turn_stats(T)->channels_live, 0);
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	expect_code(do_bind(&c, 0x4FFF, PEER2), 0);
	expect_code(do_bind(&c, 0x5000, "203.0.113.7:1"), 0);
	expect_code(do_bind(&c, 0x7FFF, "203.0.113.8:1"), 0);
	assert_int_equal(turn_stats(T)->channels_live, 4);
	uint8_t data[3] = {1, 2, 3};
	unsigned n0 = F.nsent;
	chan_data(&c, 0x7FFF, data, sizeof(data), 1);
	assert_addr_equal(only_new(n0)->dst, A("203.0.113.8:1"));
}

static void test_bind_range_strict(void **state)
{
	struct client c;
	struct opts o = {.channel_max = TURN_CHANNEL_MAX, .nonce_lifetime = 7200};
	env_start(&o);
	setup_alloc(&c, "198.51.100.10:40000");
	static const uint16_t bad[] = {0x3FFF, 0x5000, 0x7FFF, 0x8000};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_code(do_bind(&c, bad[i], PEER), 400);
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	expect_code(do_bind(&c, 0x4FFF, PEER2), 0);
	/* ChannelData outside the range is not ChannelData */
	uint8_t buf[8];
	uint64_t mal = turn_stats(T)->drop_malformed;
	stun_channeldata_hdr(buf, 0x5000, 4);
	memset(buf + 4, 0, 4);
	deliver_none(&c, buf, 8);
	stun_channeldata_hdr(buf, 0x7FFF, 4);
	deliver_none(&c, buf, 8);
	assert_int_equal(turn_stats(T)->drop_malformed, mal + 2);
}

static void test_bind_conflicts(void **state)
{
	struct client c;
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4001, PEER), 0);
	expect_code(do_bind(&c, 0x4001, PEER2), 400);              /* number bound to another peer */
	expect_code(do_bind(&c, 0x4001, "203.0.113.5:7001"), 400); /* same IP, other port */
	expect_code(do_bind(&c, 0x4002, PEER), 400);               /* peer bound to another number */
	expect_code(do_bind(&c, 0x4001, PEER), 0);                 /* the same pair: a refresh */
	assert_int_equal(turn_stats(T)->channels_live, 1);
	expect_code(do_bind(&c, 0x4002, PEER2), 0);
	assert_int_equal(turn_stats(T)->channels_live, 2);
	expect_code(do_bind(&c, 0x4003, "127.0.0.1:53"), 403);
	assert_int_equal(turn_stats(T)->channels_live, 2);
}

/* RFC 8656 §11.2: ChannelBind installs or refreshes the permission. */
static void test_bind_installs_permission(void **state)
{
	struct client c;
	uint8_t data[2] = {0xAB, 0xCD};
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	assert_int_equal(turn_stats(T)->perms_live, 1);
	unsigned n0 = F.nsent;
	send_ind(&c, "203.0.113.5:9999", data, sizeof(data), true); /* permission is per IP */
	const struct sent *s = only_new(n0);
	assert_int_equal(s->handle, HANDLE0);
	assert_addr_equal(s->dst, A("203.0.113.5:9999"));
}

/* RFC 8656 §11 / internal.h: an expired channel number is held for 5 more
 * minutes before it can be bound to another peer. */
static void test_bind_hold(void **state)
{
	struct client c;
	uint8_t data[4] = {9, 8, 7, 6};
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_refresh(&c, MAX_LIFETIME), 0);
	expect_code(do_bind(&c, 0x4001, PEER), 0);

	advance(CHAN_LIFETIME * 1000 - 1000);
	expect_code(do_perm(&c, PEER_IP, NULL), 0); /* keep the permission: only the channel lapses */
	unsigned n0 = F.nsent;
	chan_data(&c, 0x4001, data, sizeof(data), 0);
	assert_int_equal(F.nsent, n0 + 1);

	advance(1000 + 64);
	n0 = F.nsent;
	chan_data(&c, 0x4001, data, sizeof(data), 0);
	assert_int_equal(F.nsent, n0);
	assert_int_equal(turn_stats(T)->drop_no_channel, 1);
	/* peer data now comes as a Data indication, not on the channel */
	from_peer(HANDLE0, PEER, data, sizeof(data));
	const struct sent *s = only_new(n0);
	assert_int_not_equal(s->buf[0] & 0xC0, 0x40);

	expect_code(do_bind(&c, 0x4001, PEER2), 400);
	advance(298 * 1000);
	expect_code(do_bind(&c, 0x4001, PEER2), 400);
	advance(2 * 1000);
	assert_int_equal(turn_stats(T)->channels_live, 0);
	expect_code(do_bind(&c, 0x4001, PEER2), 0);
	n0 = F.nsent;
	chan_data(&c, 0x4001, data, sizeof(data), 0);
	s = only_new(n0);
	assert_addr_equal(s->dst, A(PEER2));
}

static void test_bind_refresh(void **state)
{
	struct client c;
	uint8_t data[1] = {0x42};
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_refresh(&c, MAX_LIFETIME), 0);
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	advance(500 * 1000);
	expect_code(do_bind(&c, 0x4000, PEER), 0); /* channel and permission refreshed */
	advance(200 * 1000);                       /* 700 s: past the first binding's life */
	unsigned n0 = F.nsent;
	chan_data(&c, 0x4000, data, sizeof(data), 0);
	const struct sent *s = only_new(n0);
	assert_addr_equal(s->dst, A(PEER));
	assert_int_equal(turn_stats(T)->channels_live, 1);
}

/* ---- data path ---- */

static const size_t odd_lengths[] = {1, 2, 3, 4, 5, 7, 100, 1199};

static void test_send_indication(void **state)
{
	struct client c, d;
	uint8_t data[1200];
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_perm(&c, PEER_IP, NULL), 0);
	for (unsigned i = 0; i < sizeof(odd_lengths) / sizeof(odd_lengths[0]); i++) {
		size_t n = odd_lengths[i];
		fill(data, n, (uint8_t)i);
		unsigned n0 = F.nsent;
		send_ind(&c, PEER, data, n, true);
		const struct sent *s = only_new(n0);
		assert_int_equal(s->handle, HANDLE0);
		assert_addr_equal(s->dst, A(PEER));
		assert_int_equal(s->len, n);
		assert_memory_equal(s->buf, data, n);
	}
	assert_int_equal(turn_stats(T)->relayed_to_peer, sizeof(odd_lengths) / sizeof(odd_lengths[0]));

	/* a dual allocation sends to an IPv6 peer from its IPv6 relay */
	client_init(&d, "198.51.100.11:40000", "alice", "secret");
	client_login(&d);
	expect_code(alloc_with(&d, W_AAF6, NULL), 0);
	int h6 = F.open[2].handle;
	assert_int_equal(F.open[2].family, AF_INET6);
	expect_code(do_perm(&d, "2001:db8:1::5", PEER_IP, NULL), 0);
	unsigned n0 = F.nsent;
	send_ind(&d, PEER6, data, 3, true);
	const struct sent *s = only_new(n0);
	assert_int_equal(s->handle, h6);
	assert_addr_equal(s->dst, A(PEER6));
	send_ind(&d, PEER, data, 3, true);
	s = only_new(n0 + 1);
	assert_int_equal(s->handle, F.open[1].handle);
}

static void test_send_drops(void **state)
{
	struct client c, other;
	uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_perm(&c, PEER_IP, NULL), 0);
	const struct turn_stats *st = turn_stats(T);
	unsigned n0 = F.nsent;

	send_ind(&c, "203.0.113.9:7000", data, sizeof(data), true); /* no permission */
	assert_int_equal(st->drop_no_perm, 1);
	send_ind(&c, "127.0.0.1:7000", data, sizeof(data), true); /* forbidden */
	assert_int_equal(st->drop_policy, 1);
	uint64_t mal = st->drop_malformed;
	send_ind(&c, PEER, data, sizeof(data), false); /* no DATA (RFC 8656 §10.2) */
	send_ind(&c, NULL, data, sizeof(data), true);  /* no XOR-PEER-ADDRESS */
	assert_int_equal(st->drop_malformed, mal + 2);
	send_ind(&c, PEER6, data, sizeof(data), true); /* a family the allocation lacks */
	client_init(&other, "198.51.100.11:40000", NULL, NULL);
	send_ind(&other, PEER, data, sizeof(data), true); /* no allocation */
	assert_int_equal(st->drop_no_alloc, 1);
	assert_int_equal(F.nsent, n0);
	assert_int_equal(st->relayed_to_peer, 0);
}

static void test_channel_data_to_peer(void **state)
{
	struct client c;
	uint8_t data[1200];
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	expect_code(do_bind(&c, 0x4FFF, PEER2), 0);
	for (unsigned i = 0; i < sizeof(odd_lengths) / sizeof(odd_lengths[0]); i++) {
		size_t n = odd_lengths[i];
		fill(data, n, (uint8_t)(i + 50));
		/* unpadded, padded to 4 (RFC 8656 §12.5), and with extra bytes */
		size_t pads[3] = {0, (4 - n % 4) % 4, 8};
		for (unsigned k = 0; k < 3; k++) {
			unsigned n0 = F.nsent;
			chan_data(&c, k == 2 ? 0x4FFF : 0x4000, data, n, pads[k]);
			const struct sent *s = only_new(n0);
			assert_int_equal(s->handle, HANDLE0);
			assert_addr_equal(s->dst, A(k == 2 ? PEER2 : PEER));
			assert_int_equal(s->len, n);
			assert_memory_equal(s->buf, data, n);
		}
	}
}

static void test_channel_data_drops(void **state)
{
	struct client c, other;
	uint8_t data[16] = {0};
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	const struct turn_stats *st = turn_stats(T);
	unsigned n0 = F.nsent;

	chan_data(&c, 0x4001, data, 4, 0);
	assert_int_equal(st->drop_no_channel, 1);

	uint8_t buf[20];
	stun_channeldata_hdr(buf, 0x4000, 100); /* claims more than the datagram has */
	memset(buf + 4, 0, 16);
	uint64_t mal = st->drop_malformed;
	deliver_none(&c, buf, sizeof(buf));
	deliver_none(&c, buf, 3); /* shorter than a header */
	assert_int_equal(st->drop_malformed, mal + 2);
	stun_channeldata_hdr(buf, 0x5000, 4); /* in range by default, but unbound */
	deliver_none(&c, buf, 8);
	assert_int_equal(st->drop_no_channel, 2);

	client_init(&other, "198.51.100.11:40000", NULL, NULL);
	chan_data(&other, 0x4000, data, 4, 0);
	assert_int_equal(st->drop_no_alloc, 1);

	/* the channel outlives its permission unless that is refreshed: the
	 * permission check still applies (RFC 8656 §9) */
	advance((PERM_LIFETIME + 1) * 1000);
	chan_data(&c, 0x4000, data, 4, 0);
	assert_int_equal(st->drop_no_perm, 1);
	assert_int_equal(F.nsent, n0);
}

static void test_peer_to_client_channel(void **state)
{
	struct client c;
	uint8_t data[1200];
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4ABC, PEER), 0);
	for (unsigned i = 0; i < sizeof(odd_lengths) / sizeof(odd_lengths[0]); i++) {
		size_t n = odd_lengths[i];
		fill(data, n, (uint8_t)(i + 100));
		unsigned n0 = F.nsent;
		from_peer(HANDLE0, PEER, data, n);
		const struct sent *s = only_new(n0);
		assert_int_equal(s->handle, LISTENER);
		assert_addr_equal(s->dst, c.addr);
		/* RFC 8656 §12.4: channel number, length, data (no padding over UDP) */
		assert_int_equal(s->len, 4 + n);
		assert_int_equal(s->buf[0], 0x4A);
		assert_int_equal(s->buf[1], 0xBC);
		assert_int_equal(s->buf[2], (uint8_t)(n >> 8));
		assert_int_equal(s->buf[3], (uint8_t)n);
		assert_memory_equal(s->buf + 4, data, n);
	}
	assert_int_equal(turn_stats(T)->relayed_to_client, sizeof(odd_lengths) / sizeof(odd_lengths[0]));

	/* the channel is bound to a transport address: another port of the
	 * same IP (permitted) is relayed as a Data indication */
	unsigned n0 = F.nsent;
	from_peer(HANDLE0, "203.0.113.5:7001", data, 3);
	const struct sent *s = only_new(n0);
	struct stun_msg m;
	assert_int_equal(stun_parse(&m, s->buf, s->len), 0);
	assert_int_equal(m.method, TURN_DATA);
}

static void check_data_indication(const struct sent *s, const struct client *c, const char *peer,
                                  const uint8_t *data, size_t n)
{
	struct stun_msg m;
	union tern_addr pa = A(peer);
	size_t xlen = pa.sa.sa_family == AF_INET ? 12 : 24;
	assert_int_equal(s->handle, LISTENER);
	assert_addr_equal(s->dst, c->addr);
	assert_int_equal(s->len, 20 + xlen + 4 + ((n + 3) & ~(size_t)3));
	assert_int_equal((s->buf[2] << 8 | s->buf[3]), s->len - 20);
	assert_int_equal(stun_parse(&m, s->buf, s->len), 0);
	assert_int_equal(m.cls, STUN_INDICATION);
	assert_int_equal(m.method, TURN_DATA);
	assert_addr_equal(xaddr(&m, STUN_A_XOR_PEER_ADDRESS, 0), pa);
	const struct stun_attr *d = find(&m, STUN_A_DATA);
	assert_non_null(d);
	assert_int_equal(d->len, n);
	assert_memory_equal(d->val, data, n);
	for (size_t i = 20 + xlen + 4 + n; i < s->len; i++)
		assert_int_equal(s->buf[i], 0); /* padding */
	assert_true(m.mi < 0 && m.fp < 0);
}

static void test_peer_to_client_data_indication(void **state)
{
	struct client c;
	uint8_t data[1200];
	env_relay();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	expect_code(alloc_with(&c, W_AAF6, NULL), 0);
	expect_code(do_perm(&c, PEER_IP, "2001:db8:1::5", NULL), 0);
	int h4 = F.open[0].handle, h6 = F.open[1].handle;
	uint8_t txids[2 * 8][STUN_TXID_LEN];
	unsigned ntx = 0;
	for (unsigned i = 0; i < sizeof(odd_lengths) / sizeof(odd_lengths[0]); i++) {
		size_t n = odd_lengths[i];
		fill(data, n, (uint8_t)(i + 200));
		unsigned n0 = F.nsent;
		from_peer(h4, PEER, data, n);
		check_data_indication(only_new(n0), &c, PEER, data, n);
		memcpy(txids[ntx++], F.sent[n0].buf + 8, STUN_TXID_LEN);
		from_peer(h6, PEER6, data, n);
		check_data_indication(only_new(n0 + 1), &c, PEER6, data, n);
		memcpy(txids[ntx++], F.sent[n0 + 1].buf + 8, STUN_TXID_LEN);
	}
	/* every indication has its own transaction id */
	for (unsigned i = 0; i < ntx; i++)
		for (unsigned j = i + 1; j < ntx; j++)
			assert_memory_not_equal(txids[i], txids[j], STUN_TXID_LEN);
}

static void test_peer_without_permission(void **state)
{
	struct client c;
	uint8_t data[10] = {0};
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_perm(&c, PEER_IP, NULL), 0);
	unsigned n0 = F.nsent;
	from_peer(HANDLE0, "203.0.113.6:7000", data, sizeof(data));
	from_peer(HANDLE0, "198.51.100.10:40000", data, sizeof(data)); /* even the client's own address */
	assert_int_equal(F.nsent, n0);
	assert_int_equal(turn_stats(T)->drop_no_perm, 2);
	assert_int_equal(turn_stats(T)->rx_peer, 2);
}

/* A Data indication must stay a well-formed STUN message: when the peer's
 * datagram is too big for the 16-bit length field, it is not relayed with
 * a wrapped length. */
static void test_data_indication_too_large(void **state)
{
	struct client c;
	static uint8_t big[65527];
	env_relay();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	expect_code(alloc_with(&c, W_AAF6, NULL), 0);
	expect_code(do_perm(&c, "2001:db8:1::5", NULL), 0);
	int h6 = F.open[1].handle;
	fill(big, sizeof(big), 3);

	static const size_t sizes[] = {65000, 65500, 65504, 65505, 65507, 65527};
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned n0 = F.nsent;
		from_peer(h6, PEER6, big, sizes[i]);
		for (unsigned k = n0; k < F.nsent; k++) {
			const struct sent *s = &F.sent[k];
			if ((size_t)(s->buf[2] << 8 | s->buf[3]) != s->len - 20)
				fail_msg("payload %zu: length field %u for a %zu-byte message", sizes[i],
				         s->buf[2] << 8 | s->buf[3], s->len);
		}
		if (sizes[i] == 65000) /* one that fits is relayed */
			check_data_indication(only_new(n0), &c, PEER6, big, sizes[i]);
	}
}

/* max-bps: a token bucket of one second's worth per allocation and
 * direction. */
static void test_max_bps(void **state)
{
	struct client c;
	uint8_t data[500];
	struct opts o = {.max_bps = 1000, .nonce_lifetime = 7200};
	env_start(&o);
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	fill(data, sizeof(data), 1);
	const struct turn_stats *st = turn_stats(T);

	unsigned n0 = F.nsent;
	for (int i = 0; i < 10; i++)
		send_ind(&c, PEER, data, sizeof(data), true);
	assert_int_equal(sent_to_peers(n0), 2);
	assert_int_equal(st->drop_bps, 8);

	advance(1000);
	n0 = F.nsent;
	for (int i = 0; i < 10; i++)
		chan_data(&c, 0x4000, data, sizeof(data), 0);
	assert_int_equal(sent_to_peers(n0), 2);
	assert_int_equal(st->drop_bps, 16);

	advance(500); /* half a second: one more */
	n0 = F.nsent;
	for (int i = 0; i < 3; i++)
		chan_data(&c, 0x4000, data, sizeof(data), 0);
	assert_int_equal(sent_to_peers(n0), 1);

	/* the other direction has its own bucket */
	n0 = F.nsent;
	for (int i = 0; i < 10; i++)
		from_peer(HANDLE0, PEER, data, sizeof(data));
	assert_int_equal(F.nsent - n0, 2);
	assert_int_equal(st->relayed_to_client, 2);
}

/* ---- expiry and teardown ---- */

static void test_allocation_expiry(void **state)
{
	struct client c, d;
	env_relay();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_perm(&c, PEER_IP, NULL), 0);
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	setup_alloc(&d, "198.51.100.11:40000");

	advance(500 * 1000);
	expect_code(do_refresh(&d, -1), 0); /* d: 600 s from now */
	advance(99 * 1000);
	assert_int_equal(F.nclosed, 0);
	advance(1000);
	assert_int_equal(F.nclosed, 1);
	assert_int_equal(F.closed[0], HANDLE0);
	const struct turn_stats *st = turn_stats(T);
	assert_int_equal(st->allocs_expired, 1);
	assert_int_equal(st->allocs_live, 1);
	assert_int_equal(st->channels_live, 0);
	assert_int_equal(st->perms_live, 0);
	assert_int_equal(turn_shared_total(SH), 1);
	expect_code(do_perm(&c, PEER_IP, NULL), 437);

	advance(499 * 1000);
	assert_false(was_closed(HANDLE0 + 1));
	advance(1000);
	assert_true(was_closed(HANDLE0 + 1));
	assert_int_equal(st->allocs_expired, 2);
	assert_int_equal(st->allocs_live, 0);
	assert_int_equal(turn_shared_total(SH), 0);
}

/* allocs_created - allocs_deleted == allocs_live through a mixed run (the
 * harness checks it after every event; this run exercises every path). */
static void test_counters(void **state)
{
	struct client c[6];
	env_relay();
	tern_log_level = LOG_DEBUG; /* the log lines' formatting runs too */
	for (unsigned i = 0; i < 6; i++) {
		char addr[64];
		snprintf(addr, sizeof(addr), "198.51.100.%u:40000", 10 + i);
		setup_alloc(&c[i], addr);
	}
	F.fail_rc = -ENOSPC;
	F.fail_count = 1;
	struct client e;
	client_init(&e, "198.51.100.50:40000", "alice", "secret");
	client_login(&e);
	expect_code(do_allocate(&e), 508);
	expect_code(do_refresh(&c[0], 0), 0);
	expect_code(do_refresh(&c[1], MAX_LIFETIME), 0);
	advance(DEFAULT_LIFETIME * 1000 + 100);
	const struct turn_stats *st = turn_stats(T);
	assert_int_equal(st->allocs_live, 1);
	assert_int_equal(st->allocs_expired, 4);
	assert_int_equal(st->allocs_created - st->allocs_deleted, 1);
}

static void test_turn_free_closes_relays(void **state)
{
	struct client a, b, r;
	env_relay();
	setup_alloc(&a, "198.51.100.10:40000");
	expect_code(do_perm(&a, PEER_IP, NULL), 0);
	expect_code(do_bind(&a, 0x4000, PEER), 0);
	client_init(&b, "198.51.100.11:40000", "alice", "secret");
	client_login(&b);
	expect_code(alloc_with(&b, W_AAF6, NULL), 0);
	client_init(&r, "198.51.100.12:40000", "alice", "secret");
	client_login(&r);
	expect_code(alloc_with(&r, W_EVEN_R, NULL), 0);
	assert_int_equal(F.next, HANDLE0 + 5); /* 100; 101+102 dual; 103 + reserved 104 */

	turn_free(T);
	T = NULL;
	for (int h = HANDLE0; h < HANDLE0 + 4; h++)
		if (!was_closed(h))
			fail_msg("relay %d not closed by turn_free", h);
	assert_true(F.live[4]); /* the reservation belongs to turn_shared (closed by env_stop) */
	assert_int_equal(F.nclosed, 4);
}

static void test_next_timeout(void **state)
{
	struct client c;
	env_relay();
	assert_int_equal(turn_next_timeout(T, 1000), 1000);
	setup_alloc(&c, "198.51.100.10:40000");
	int ms = turn_next_timeout(T, 1000);
	assert_true(ms > 0 && ms <= 64);
	assert_int_equal(turn_next_timeout(T, 10), ms < 10 ? ms : 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_refresh_no_allocation, env_stop),
	    cmocka_unit_test_teardown(test_refresh_lifetime, env_stop),
	    cmocka_unit_test_teardown(test_refresh_delete, env_stop),
	    cmocka_unit_test_teardown(test_refresh_family, env_stop),
	    cmocka_unit_test_teardown(test_perm_missing_peer, env_stop),
	    cmocka_unit_test_teardown(test_perm_forbidden_v4, env_stop),
	    cmocka_unit_test_teardown(test_perm_forbidden_v6, env_stop),
	    cmocka_unit_test_teardown(test_perm_allow_loopback, env_stop),
	    cmocka_unit_test_teardown(test_perm_family_mismatch, env_stop),
	    cmocka_unit_test_teardown(test_perm_all_or_none, env_stop),
	    cmocka_unit_test_teardown(test_perm_capacity, env_stop),
	    cmocka_unit_test_teardown(test_perm_expiry, env_stop),
	    cmocka_unit_test_teardown(test_late_timer, env_stop),
	    cmocka_unit_test_teardown(test_bind_missing, env_stop),
	    cmocka_unit_test_teardown(test_bind_range, env_stop),
	    cmocka_unit_test_teardown(test_bind_range_strict, env_stop),
	    cmocka_unit_test_teardown(test_bind_conflicts, env_stop),
	    cmocka_unit_test_teardown(test_bind_installs_permission, env_stop),
	    cmocka_unit_test_teardown(test_bind_hold, env_stop),
	    cmocka_unit_test_teardown(test_bind_refresh, env_stop),
	    cmocka_unit_test_teardown(test_send_indication, env_stop),
	    cmocka_unit_test_teardown(test_send_drops, env_stop),
	    cmocka_unit_test_teardown(test_channel_data_to_peer, env_stop),
	    cmocka_unit_test_teardown(test_channel_data_drops, env_stop),
	    cmocka_unit_test_teardown(test_peer_to_client_channel, env_stop),
	    cmocka_unit_test_teardown(test_peer_to_client_data_indication, env_stop),
	    cmocka_unit_test_teardown(test_peer_without_permission, env_stop),
	    cmocka_unit_test_teardown(test_data_indication_too_large, env_stop),
	    cmocka_unit_test_teardown(test_max_bps, env_stop),
	    cmocka_unit_test_teardown(test_allocation_expiry, env_stop),
	    cmocka_unit_test_teardown(test_counters, env_stop),
	    cmocka_unit_test_teardown(test_turn_free_closes_relays, env_stop),
	    cmocka_unit_test_teardown(test_next_timeout, env_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
