/* TURN core (src/turn/fast.c): which channels the io may relay in the
 * kernel fast path, with what expiry, and when they are taken back —
 * through a fake fast-path io that records every mapping. The program and
 * its loader are tested in test_bpf_fastpath.c and test_net_fastpath.c. */
#include "test_turn_harness.h"

#define PEER    "203.0.113.5:7000"
#define PEER_IP "203.0.113.5"
#define PEER2   "203.0.113.6:7000"
#define PEER6   "[2001:db8:1::5]:7000"

/* ---- the fake fast path ---- */

#define FM_MAX 64

struct fmap {
	bool live;
	int relay;
	uint16_t num;
	union tern_addr peer, remote, local;
	uint64_t expires;
	unsigned refreshes;
	struct turn_fast_counts counts; /* what "the kernel" relayed */
};

static struct fmap FM[FM_MAX];
static uint32_t fm_next;
static unsigned fm_live, fm_dels;
static int fm_fail; /* fast_set of a new mapping returns this when non-zero */

static int ff_set(void *ctx, const struct turn_fast *f, uint32_t *h)
{
	(void)ctx;
	if (*h) {
		struct fmap *m = &FM[*h];
		/* a refresh names the same channel, only the expiry moves */
		if (*h >= FM_MAX || !m->live || m->num != f->num || m->relay != f->relay ||
		    !addr_equal(&m->peer, f->peer) || !addr_equal(&m->remote, &f->ep->remote))
			F.bad++;
		m->expires = f->expires_ms;
		m->refreshes++;
		return 0;
	}
	if (fm_fail)
		return fm_fail;
	if (fm_next >= FM_MAX)
		return -ENOSPC;
	uint32_t i = fm_next++;
	FM[i] = (struct fmap){.live = true,
	                      .relay = f->relay,
	                      .num = f->num,
	                      .peer = *f->peer,
	                      .remote = f->ep->remote,
	                      .local = f->ep->local,
	                      .expires = f->expires_ms};
	fm_live++;
	*h = i;
	return 0;
}

static void add(struct turn_fast_counts *o, const struct turn_fast_counts *c)
{
	o->up_datagrams += c->up_datagrams;
	o->up_bytes += c->up_bytes;
	o->down_datagrams += c->down_datagrams;
	o->down_bytes += c->down_bytes;
}

static void ff_del(void *ctx, uint32_t h, const struct turn_fast *f, struct turn_fast_counts *out)
{
	(void)ctx;
	if (h == 0 || h >= FM_MAX || !FM[h].live || FM[h].num != f->num || !addr_equal(&FM[h].peer, f->peer)) {
		F.bad++;
		return;
	}
	FM[h].live = false;
	fm_live--;
	fm_dels++;
	add(out, &FM[h].counts);
}

static void ff_read(void *ctx, uint32_t h, struct turn_fast_counts *out)
{
	(void)ctx;
	if (h == 0 || h >= FM_MAX || !FM[h].live) {
		F.bad++;
		return;
	}
	add(out, &FM[h].counts);
}

static void env_fast(struct opts *o)
{
	o->nonce_lifetime = 7200;
	env_start(o);
	turn_free(T);
	memset(FM, 0, sizeof(FM));
	fm_next = 1;
	fm_live = fm_dels = 0;
	fm_fail = 0;
	IO.fast_set = ff_set;
	IO.fast_del = ff_del;
	IO.fast_read = ff_read;
	T = turn_new(&P, &IO, 0x5eed);
	assert_non_null(T);
	clock_set(T0_MS, WALL0);
}

static void env_fast_default(void)
{
	struct opts o = {0};
	env_fast(&o);
}

/* Teardown: every mapping the core installed is taken back. */
static int env_fast_stop(void **state)
{
	if (T) {
		turn_free(T);
		T = NULL;
	}
	assert_int_equal(fm_live, 0);
	return env_stop(state);
}

static struct fmap *only_mapping(void)
{
	struct fmap *found = NULL;
	for (uint32_t i = 1; i < fm_next; i++)
		if (FM[i].live) {
			if (found)
				fail_msg("more than one live mapping");
			found = &FM[i];
		}
	if (!found)
		fail_msg("no live mapping");
	return found;
}

/* ---- installation ---- */

static void test_install_after_bind_only(void **state)
{
	struct client c;
	env_fast_default();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_perm(&c, PEER_IP, NULL), 0);
	assert_int_equal(fm_live, 0); /* a permission alone relays no ChannelData */
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	struct fmap *m = only_mapping();
	assert_int_equal(m->num, 0x4000);
	assert_int_equal(m->relay, relay_of(0));
	assert_addr_equal(m->peer, A(PEER));
	assert_addr_equal(m->remote, A("198.51.100.10:40000"));
	assert_addr_equal(m->local, A(LOCAL_ADDR));
	/* the earliest of channel (600 s), permission (300 s), allocation (600 s) */
	assert_int_equal(m->expires, F.now + PERM_LIFETIME * 1000);
	assert_int_equal(turn_stats(T)->fast_live, 1);
	assert_int_equal(turn_stats(T)->fast_installs, 1);
}

/* A refused ChannelBind (forbidden peer, conflict) installs nothing. */
static void test_refused_bind_installs_nothing(void **state)
{
	struct client c;
	env_fast_default();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4000, "127.0.0.1:7000"), 403);
	expect_code(do_bind(&c, 0x4000, "10.1.2.3:7000"), 403);
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	expect_code(do_bind(&c, 0x4000, PEER2), 400); /* number bound to another peer */
	expect_code(do_bind(&c, 0x4001, PEER), 400);  /* peer bound to another number */
	assert_int_equal(fm_next, 2);
	assert_int_equal(only_mapping()->num, 0x4000);
}

static void test_refresh_moves_expiry(void **state)
{
	struct client c;
	env_fast_default();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	uint64_t t0 = F.now;
	advance(100 * 1000);
	expect_code(do_perm(&c, PEER_IP, NULL), 0); /* permission to t0 + 400 s */
	struct fmap *m = only_mapping();
	assert_int_equal(m->expires, t0 + 400 * 1000);
	assert_int_equal(m->refreshes, 1);
	advance(250 * 1000); /* t0 + 350 s */
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	/* channel to t0 + 950 s, permission to t0 + 650 s: the allocation
	 * (t0 + 600 s) now ends first */
	assert_int_equal(m->expires, t0 + DEFAULT_LIFETIME * 1000);
	expect_code(do_refresh(&c, DEFAULT_LIFETIME), 0);
	assert_int_equal(m->expires, t0 + 650 * 1000);
	assert_int_equal(fm_next, 2); /* refreshed in place, never re-installed */
	assert_int_equal(turn_stats(T)->fast_installs, 1);
}

/* ---- taking back ---- */

static void test_permission_expiry_takes_back(void **state)
{
	struct client c;
	uint8_t data[3] = {1, 2, 3};
	env_fast_default();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_refresh(&c, MAX_LIFETIME), 0);
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	advance(PERM_LIFETIME * 1000 - 1000);
	assert_int_equal(fm_live, 1);
	advance(1000 + 64);
	assert_int_equal(fm_live, 0);
	assert_int_equal(turn_stats(T)->fast_live, 0);
	/* user space applies its rules again: no permission, no relaying */
	unsigned n0 = F.nsent;
	chan_data(&c, 0x4000, data, sizeof(data), 0);
	assert_int_equal(F.nsent, n0);
	assert_int_equal(turn_stats(T)->drop_no_perm, 1);
	/* a new permission puts the still-bound channel back */
	expect_code(do_perm(&c, PEER_IP, NULL), 0);
	assert_int_equal(fm_live, 1);
	assert_int_equal(turn_stats(T)->fast_installs, 2);
}

/* The channel is taken back when it expires, not when its 5-minute hold
 * ends. */
static void test_channel_expiry_takes_back(void **state)
{
	struct client c;
	env_fast_default();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_refresh(&c, MAX_LIFETIME), 0);
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	advance(290 * 1000);
	expect_code(do_perm(&c, PEER_IP, NULL), 0);
	advance(299 * 1000);
	expect_code(do_perm(&c, PEER_IP, NULL), 0); /* 589 s: permission beyond the channel */
	assert_int_equal(fm_live, 1);
	assert_int_equal(only_mapping()->expires, T0_MS + CHAN_LIFETIME * 1000);
	advance(11 * 1000 + 64); /* 600 s: the channel ended */
	assert_int_equal(fm_live, 0);
	assert_int_equal(turn_stats(T)->channels_live, 1); /* held, not offloaded */
}

/* A timer that runs once, long after both the channel's expiry and its
 * hold: the channel is taken back from the kernel before its entry is
 * freed (a freed entry kept its mapping, and its handle, before). */
static void test_late_timer_takes_back_first(void **state)
{
	struct client c;
	env_fast_default();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_refresh(&c, MAX_LIFETIME), 0);
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	assert_int_equal(fm_live, 1);
	F.now += (CHAN_LIFETIME + 300 + 10) * 1000ull; /* no tick in between */
	advance(0);
	assert_int_equal(turn_stats(T)->channels_live, 0);
	assert_int_equal(fm_live, 0);
	assert_int_equal(fm_dels, 1);
	assert_int_equal(turn_stats(T)->fast_live, 0);
	/* the freed entry comes back for a new channel: offloaded afresh */
	expect_code(do_bind(&c, 0x4001, PEER), 0);
	assert_int_equal(fm_live, 1);
	assert_int_equal(turn_stats(T)->fast_installs, 2);
}

static void test_delete_returns_counts(void **state)
{
	struct client c;
	env_fast_default();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	struct fmap *m = only_mapping();
	m->counts = (struct turn_fast_counts){.up_datagrams = 5, .up_bytes = 500, .down_datagrams = 7,
	                                      .down_bytes = 700};
	expect_code(do_refresh(&c, 0), 0);
	assert_int_equal(fm_live, 0);
	assert_int_equal(fm_dels, 1);
	/* the kernel's datagrams are the finished session's traffic */
	const struct turn_stats *st = turn_stats(T);
	assert_int_equal(st->finished[TURN_TRAFFIC_PEER_SENTP], 5);
	assert_int_equal(st->finished[TURN_TRAFFIC_PEER_SENTB], 500);
	/* from peers: only what the kernel relayed (no peer datagram reached
	 * user space here); to the client: those beside the answers */
	assert_int_equal(st->finished[TURN_TRAFFIC_PEER_RCVP], 7);
	assert_int_equal(st->finished[TURN_TRAFFIC_PEER_RCVB], 700);
	assert_true(st->finished[TURN_TRAFFIC_SENTP] >= 7 + 2);
	/* and not user-space datagrams */
	assert_int_equal(st->relayed_to_peer, 0);
	assert_int_equal(st->relayed_to_client, 0);
}

static void info_cb(void *ctx, const struct turn_alloc_info *i)
{
	*(struct turn_alloc_info *)ctx = *i;
}

static void test_sessions_show_live_counts(void **state)
{
	struct client c;
	uint8_t data[10] = {0};
	env_fast_default();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	only_mapping()->counts = (struct turn_fast_counts){.up_datagrams = 3, .up_bytes = 30};
	chan_data(&c, 0x4000, data, sizeof(data), 0); /* one more through user space */
	struct turn_alloc_info i;
	assert_int_equal(turn_foreach_alloc(T, NULL, info_cb, &i), 1);
	assert_int_equal(i.to_peer_datagrams, 4);
	assert_int_equal(i.to_peer_bytes, 40);
}

/* ---- what is never offloaded ---- */

static void test_max_bps_not_offloaded(void **state)
{
	struct client c;
	struct opts o = {.max_bps = 100000};
	env_fast(&o);
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	assert_int_equal(fm_next, 1);
	assert_int_equal(turn_stats(T)->fast_install_fail, 0);
}

static void test_stream_client_not_offloaded(void **state)
{
	struct client c;
	env_fast_default();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	c.transport = TURN_T_TCP;
	c.conn = 9;
	c.gen = 1;
	client_login(&c);
	expect_code(do_allocate(&c), 0);
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	assert_int_equal(fm_next, 1);
}

static void test_refused_offload_stays_in_user_space(void **state)
{
	struct client c;
	uint8_t data[4] = {4, 3, 2, 1};
	env_fast_default();
	fm_fail = -ENOSPC;
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4000, PEER), 0); /* the bind itself succeeds */
	assert_int_equal(turn_stats(T)->fast_install_fail, 1);
	assert_int_equal(turn_stats(T)->fast_live, 0);
	unsigned n0 = F.nsent;
	chan_data(&c, 0x4000, data, sizeof(data), 0);
	assert_int_equal(F.nsent, n0 + 1);
	assert_addr_equal(F.sent[n0].dst, A(PEER));
	/* room again: the next refresh offloads it */
	fm_fail = 0;
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	assert_int_equal(fm_live, 1);
}

/* A reload whose policy denies the peer ends its permission, and the
 * kernel stops relaying at once; a reload that sets max-bps takes every
 * channel back. */
static void test_reload_takes_back(void **state)
{
	struct client c;
	env_fast_default();
	setup_alloc(&c, "198.51.100.10:40000");
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	expect_code(do_bind(&c, 0x4001, PEER2), 0);
	assert_int_equal(fm_live, 2);
	struct peer_policy strict;
	policy_init(&strict);
	struct tern_cidr deny;
	assert_int_equal(cidr_parse(&deny, PEER_IP "/32"), 0);
	assert_int_equal(policy_deny(&strict, &deny), 0);
	struct turn_params p = P;
	p.policy = &strict;
	assert_int_equal(turn_set_params(T, &p), 0);
	assert_int_equal(fm_live, 1);
	assert_addr_equal(only_mapping()->peer, A(PEER2));
	p.max_bps = 1000;
	assert_int_equal(turn_set_params(T, &p), 0);
	assert_int_equal(fm_live, 0);
	p.policy = &POL;
	p.max_bps = 0;
	assert_int_equal(turn_set_params(T, &p), 0);
	policy_free(&strict);
	assert_int_equal(fm_live, 1); /* PEER2 again; PEER's permission ended */
}

/* A dual allocation: each channel goes out of the relay of its peer's
 * family. */
static void test_dual_relay_by_family(void **state)
{
	struct client c;
	env_fast_default();
	client_init(&c, "198.51.100.10:40000", "alice", "secret");
	client_login(&c);
	expect_code(alloc_with(&c, W_AAF6, NULL), 0);
	expect_code(do_bind(&c, 0x4000, PEER), 0);
	expect_code(do_bind(&c, 0x4001, PEER6), 0);
	assert_int_equal(fm_live, 2);
	for (uint32_t i = 1; i < fm_next; i++) {
		int want = FM[i].peer.sa.sa_family == AF_INET ? relay_of(0) : relay_of(1);
		assert_int_equal(F.open[FM[i].peer.sa.sa_family == AF_INET ? 0 : 1].family,
		                 FM[i].peer.sa.sa_family);
		assert_int_equal(FM[i].relay, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_install_after_bind_only, env_fast_stop),
	    cmocka_unit_test_teardown(test_refused_bind_installs_nothing, env_fast_stop),
	    cmocka_unit_test_teardown(test_refresh_moves_expiry, env_fast_stop),
	    cmocka_unit_test_teardown(test_permission_expiry_takes_back, env_fast_stop),
	    cmocka_unit_test_teardown(test_channel_expiry_takes_back, env_fast_stop),
	    cmocka_unit_test_teardown(test_late_timer_takes_back_first, env_fast_stop),
	    cmocka_unit_test_teardown(test_delete_returns_counts, env_fast_stop),
	    cmocka_unit_test_teardown(test_sessions_show_live_counts, env_fast_stop),
	    cmocka_unit_test_teardown(test_max_bps_not_offloaded, env_fast_stop),
	    cmocka_unit_test_teardown(test_stream_client_not_offloaded, env_fast_stop),
	    cmocka_unit_test_teardown(test_refused_offload_stays_in_user_space, env_fast_stop),
	    cmocka_unit_test_teardown(test_reload_takes_back, env_fast_stop),
	    cmocka_unit_test_teardown(test_dual_relay_by_family, env_fast_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
