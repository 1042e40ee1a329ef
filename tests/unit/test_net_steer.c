/* net/steer: the eBPF reuseport program on real sockets, loopback only
 * (127.0.0.1 / ::1). Needs root (or CAP_BPF + CAP_NET_ADMIN) and a build
 * with eBPF; otherwise every test skips and says why. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "net/steer.h"
#include "net/udp.h"
#include "util/addr.h"

#define NWORKERS 2
#define NFLOWS   64
#define NHEAVY   4
/* Room for every datagram a test leaves queued between drains. */
#define SERVER_RCVBUF (4 << 20)

struct group {
	int fd[NWORKERS];
	union tern_addr addr;
	uint64_t got[NWORKERS]; /* datagrams per worker socket */
};

struct flow {
	int fd;
	union tern_addr src;
	int worker; /* socket its datagrams landed on, -1 before the first */
	uint64_t sent, got;
};

static struct udp_rx *rx;

static int setup(void **state)
{
	rx = malloc(sizeof(*rx));
	if (!rx)
		return -1;
	udp_rx_init(rx);
	return 0;
}

static int teardown(void **state)
{
	free(rx);
	return 0;
}

static struct steer *steer_or_skip(void)
{
	struct steer *s = NULL;
	int rc = steer_new(NWORKERS, &s);
	if (rc < 0) {
		print_message("steer: skipped: %s\n", steer_strerror(rc));
		skip();
	}
	assert_non_null(s);
	return s;
}

/* NWORKERS SO_REUSEPORT sockets on ip (a kernel-chosen port): one group.
 * -errno when the address is unavailable (an IPv6-less container). */
static int group_open(struct group *g, const char *ip, bool v6only)
{
	union tern_addr a;
	unsigned flags = UDP_F_REUSEPORT | UDP_F_NONBLOCK | (v6only ? UDP_F_V6ONLY : 0);

	memset(g, 0, sizeof(*g));
	assert_int_equal(addr_parse(&a, ip, 0), 0);
	for (unsigned i = 0; i < NWORKERS; i++) {
		int fd = udp_open(i == 0 ? &a : &g->addr, flags, SERVER_RCVBUF, 0, i == 0 ? &g->addr : NULL);
		if (fd < 0) {
			while (i--)
				close(g->fd[i]);
			return fd;
		}
		g->fd[i] = fd;
	}
	return 0;
}

static void group_close(struct group *g)
{
	for (unsigned i = 0; i < NWORKERS; i++) {
		if (g->fd[i] >= 0)
			close(g->fd[i]);
		g->fd[i] = -1;
	}
}

static void flows_open(struct flow *f, unsigned n, const char *ip)
{
	union tern_addr a;
	assert_int_equal(addr_parse(&a, ip, 0), 0);
	for (unsigned i = 0; i < n; i++) {
		memset(&f[i], 0, sizeof(f[i]));
		f[i].fd = udp_open(&a, UDP_F_NONBLOCK, 0, 0, &f[i].src);
		assert_true(f[i].fd >= 0);
		f[i].worker = -1;
	}
}

static void flows_close(struct flow *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(f[i].fd);
}

static void flow_send(struct flow *f, uint32_t id, const struct group *g)
{
	uint32_t msg[2] = {id, (uint32_t)f->sent};
	ssize_t n = sendto(f->fd, msg, sizeof(msg), 0, &g->addr.sa, addr_len(&g->addr));
	assert_int_equal(n, (ssize_t)sizeof(msg));
	f->sent++;
}

/* ::ffff:a.b.c.d:port -> a.b.c.d:port (what a dual-stack socket reports). */
static void unmap(union tern_addr *a)
{
	if (a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->v6.sin6_addr)) {
		union tern_addr v4;
		memset(&v4, 0, sizeof(v4));
		v4.v4.sin_family = AF_INET;
		v4.v4.sin_port = a->v6.sin6_port;
		memcpy(&v4.v4.sin_addr, &a->v6.sin6_addr.s6_addr[12], 4);
		*a = v4;
	}
}

/* Read everything queued on the group's sockets. Each datagram names its
 * flow; its source address must be that flow's, and every datagram of a
 * flow must land on one socket (stickiness). Returns datagrams read. */
static uint64_t drain(struct group *g, struct flow *f, unsigned nflows)
{
	uint64_t total = 0;

	for (unsigned w = 0; w < NWORKERS; w++) {
		if (g->fd[w] < 0)
			continue;
		int n;
		while ((n = udp_recv_batch(g->fd[w], rx, NET_BATCH)) > 0) {
			for (int i = 0; i < n; i++) {
				uint32_t msg[2];
				assert_int_equal(udp_rx_len(rx, (unsigned)i), sizeof(msg));
				memcpy(msg, udp_rx_data(rx, (unsigned)i), sizeof(msg));
				assert_true(msg[0] < nflows);
				struct flow *fl = &f[msg[0]];
				union tern_addr src = rx->src[i];
				unmap(&src);
				assert_true(addr_equal(&src, &fl->src));
				if (fl->worker < 0)
					fl->worker = (int)w;
				if (fl->worker != (int)w)
					fail_msg("flow %u (port %u) moved from worker %d to %u", msg[0],
					         addr_port(&fl->src), fl->worker, w);
				fl->got++;
				g->got[w]++;
			}
			total += (uint64_t)n;
		}
		assert_true(n == 0);
	}
	return total;
}

/* Drain until every datagram sent has arrived. Loopback delivers inside
 * sendto() almost always; the wait covers softirq work deferred to
 * ksoftirqd. A datagram that never comes fails the test (loopback with 4
 * MiB buffers drops nothing). */
static void drain_all(struct group *g, struct flow *f, unsigned nflows)
{
	uint64_t sent = 0, got = 0;
	for (unsigned i = 0; i < nflows; i++)
		sent += f[i].sent;
	for (int tries = 0; tries < 50; tries++) {
		drain(g, f, nflows);
		got = 0;
		for (unsigned i = 0; i < nflows; i++)
			got += f[i].got;
		if (got >= sent)
			break;
		poll(NULL, 0, 20);
	}
	assert_int_equal(got, sent);
}

static unsigned flows_on(const struct flow *f, unsigned nflows, int w)
{
	unsigned k = 0;
	for (unsigned i = 0; i < nflows; i++)
		k += f[i].worker == w;
	return k;
}

/* ---- tests ---- */

/* Two groups (listening addresses) on one program: every flow sticks to one
 * socket, flows spread over both workers, the program's counters match
 * what the sockets saw (so both groups were steered, not hashed). */
static void test_sticky_spread(void **state)
{
	struct steer *s = steer_or_skip();
	struct group ga, gb;
	static struct flow fa[NFLOWS], fb[NFLOWS];
	const char *ipb = "::1";

	assert_int_equal(group_open(&ga, "127.0.0.1", false), 0);
	if (group_open(&gb, ipb, true) < 0) {
		ipb = "127.0.0.1"; /* no IPv6 here: a second port instead */
		assert_int_equal(group_open(&gb, ipb, false), 0);
	}
	assert_int_equal(steer_attach(s, ga.fd, NWORKERS), 0);
	assert_int_equal(steer_attach(s, gb.fd, NWORKERS), 0);
	flows_open(fa, NFLOWS, "127.0.0.1");
	flows_open(fb, NFLOWS, ipb);

	for (unsigned round = 0; round < 16; round++) {
		for (unsigned i = 0; i < NFLOWS; i++) {
			flow_send(&fa[i], i, &ga);
			flow_send(&fb[i], i, &gb);
		}
		drain(&ga, fa, NFLOWS);
		drain(&gb, fb, NFLOWS);
	}
	drain_all(&ga, fa, NFLOWS);
	drain_all(&gb, fb, NFLOWS);

	print_message("steer: group A on 127.0.0.1, group B on %s\n", ipb);
	for (int w = 0; w < NWORKERS; w++) {
		print_message("steer: worker %d: %u + %u flows, %llu + %llu datagrams\n", w,
		              flows_on(fa, NFLOWS, w), flows_on(fb, NFLOWS, w), (unsigned long long)ga.got[w],
		              (unsigned long long)gb.got[w]);
		/* Balance is per worker over all groups (a worker serves all its
		 * sockets); one group alone may be lopsided, and is here: the
		 * sends alternate between groups, so do the assignments. */
		assert_true(flows_on(fa, NFLOWS, w) + flows_on(fb, NFLOWS, w) >= NFLOWS / 2);
	}

	struct steer_worker_stats st[NWORKERS];
	assert_int_equal(steer_stats(s, st, NWORKERS), NWORKERS);
	uint64_t nflows = 0, load = 0;
	for (int w = 0; w < NWORKERS; w++) {
		/* the program's flow count must match what the sockets saw */
		assert_int_equal(st[w].flows, flows_on(fa, NFLOWS, w) + flows_on(fb, NFLOWS, w));
		assert_int_equal(st[w].fails, 0);
		nflows += st[w].flows;
		load += st[w].load;
	}
	assert_int_equal(nflows, 2 * NFLOWS);
	assert_true(load >= 2 * NFLOWS * 16);
	steer_decay(s);
	assert_int_equal(steer_stats(s, st, NWORKERS), NWORKERS);
	assert_true(st[0].load + st[1].load <= load / 2 + NWORKERS);

	steer_free(s);
	/* detached: the kernel hash serves the groups again */
	for (unsigned i = 0; i < NFLOWS; i++)
		flow_send(&fa[i], i, &ga);
	memset(ga.got, 0, sizeof(ga.got));
	for (unsigned i = 0; i < NFLOWS; i++)
		fa[i].worker = -1;
	drain_all(&ga, fa, NFLOWS);

	flows_close(fa, NFLOWS);
	flows_close(fb, NFLOWS);
	group_close(&ga);
	group_close(&gb);
}

/* The skew scenario of the performance issue: 2 workers, 4 heavy flows
 * start first (staggered), then 60 light ones join while the heavy ones go
 * on. Heavy flows send every tick, light ones every LIGHT_PERIOD ticks, so
 * the heavy four carry ~60% of all datagrams. steer_decay() runs every
 * DECAY_TICKS ticks as the server's once-a-second timer would. */
#define TICKS         1000
#define HEAVY_STAGGER 25
#define LIGHT_START   (NHEAVY * HEAVY_STAGGER)
#define LIGHT_STAGGER 3
#define LIGHT_PERIOD  20
#define DECAY_TICKS   100
#define SKEW_ROUNDS   5

static double skew_round(bool ebpf)
{
	struct group g;
	static struct flow f[NFLOWS];
	struct steer *s = NULL;

	assert_int_equal(group_open(&g, "127.0.0.1", false), 0);
	flows_open(f, NFLOWS, "127.0.0.1");
	if (ebpf) {
		s = steer_or_skip();
		assert_int_equal(steer_attach(s, g.fd, NWORKERS), 0);
	}
	for (unsigned t = 0; t < TICKS; t++) {
		for (unsigned i = 0; i < NHEAVY; i++) {
			if (t >= i * HEAVY_STAGGER)
				flow_send(&f[i], i, &g);
		}
		for (unsigned i = NHEAVY; i < NFLOWS; i++) {
			unsigned start = LIGHT_START + (i - NHEAVY) * LIGHT_STAGGER;
			if (t >= start && (t - start) % LIGHT_PERIOD == 0)
				flow_send(&f[i], i, &g);
		}
		drain(&g, f, NFLOWS);
		if (s && t % DECAY_TICKS == DECAY_TICKS - 1)
			steer_decay(s);
	}
	drain_all(&g, f, NFLOWS);

	uint64_t total = g.got[0] + g.got[1], busy = g.got[0] > g.got[1] ? g.got[0] : g.got[1];
	unsigned heavy_on_0 = 0;
	for (unsigned i = 0; i < NHEAVY; i++)
		heavy_on_0 += f[i].worker == 0;
	double share = (double)busy / (double)total;
	print_message(
	    "steer: %-4s heavy split %u/%u, flows %u/%u, datagrams %llu/%llu: busier worker %.1f%%\n",
	    ebpf ? "ebpf" : "hash", heavy_on_0, NHEAVY - heavy_on_0, flows_on(f, NFLOWS, 0),
	    flows_on(f, NFLOWS, 1), (unsigned long long)g.got[0], (unsigned long long)g.got[1],
	    100.0 * share);
	if (s) {
		struct steer_worker_stats st[NWORKERS];
		assert_int_equal(steer_stats(s, st, NWORKERS), NWORKERS);
		assert_int_equal(st[0].flows + st[1].flows, NFLOWS);
		assert_int_equal(st[0].fails + st[1].fails, 0);
		steer_free(s);
	}
	flows_close(f, NFLOWS);
	group_close(&g);
	return share;
}

static void test_skew(void **state)
{
	double hash[SKEW_ROUNDS], ebpf[SKEW_ROUNDS], hsum = 0, esum = 0, emax = 0;

	steer_free(steer_or_skip()); /* skip before any output when eBPF is unavailable */
	for (unsigned r = 0; r < SKEW_ROUNDS; r++) {
		hash[r] = skew_round(false);
		ebpf[r] = skew_round(true);
		hsum += hash[r];
		esum += ebpf[r];
		if (ebpf[r] > emax)
			emax = ebpf[r];
	}
	print_message("steer: skew (2 workers, 4 heavy + 60 light): busier worker carries %.1f%% with ebpf "
	              "(max %.1f%%), %.1f%% with the kernel hash (mean of %d rounds)\n",
	              100.0 * esum / SKEW_ROUNDS, 100.0 * emax, 100.0 * hsum / SKEW_ROUNDS, SKEW_ROUNDS);
	for (unsigned r = 0; r < SKEW_ROUNDS; r++)
		assert_true(ebpf[r] <= 0.60);
}

/* steer_pin places a flow before its first datagram: proof that the program,
 * not the kernel hash, chose the socket (8 flows on a chosen worker by
 * chance: 1 in 256). Also through a dual-stack socket bound to an
 * IPv4-mapped address, where the pin names the client as ::ffff:a.b.c.d. */
static void pin_group(struct steer *s, struct group *g, const char *client_ip, bool mapped)
{
	static struct flow f[16];

	flows_open(f, 16, client_ip);
	for (unsigned i = 0; i < 16; i++) {
		union tern_addr c = f[i].src;
		if (mapped) {
			char buf[TERN_ADDRSTRLEN], ip[TERN_ADDRSTRLEN + 8];
			snprintf(ip, sizeof(ip), "::ffff:%s", addr_format(&c, buf, sizeof(buf), false));
			assert_int_equal(addr_parse(&c, ip, addr_port(&f[i].src)), 0);
		}
		assert_int_equal(steer_pin(s, &c, addr_port(&g->addr), i < 8 ? 1 : 0), 0);
	}
	for (unsigned k = 0; k < 4; k++) {
		for (unsigned i = 0; i < 16; i++)
			flow_send(&f[i], i, g);
	}
	drain_all(g, f, 16);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(f[i].worker, i < 8 ? 1 : 0);
	/* the pin named the client either way; unpinned, a flow keeps its
	 * worker (LRU entry) */
	assert_int_equal(steer_unpin(s, &f[0].src, addr_port(&g->addr)), 0);
	flow_send(&f[0], 0, g);
	drain_all(g, f, 16);
	flows_close(f, 16);
}

static void test_pin(void **state)
{
	struct steer *s = steer_or_skip();
	struct group g4, gm;
	union tern_addr bad;

	assert_int_equal(group_open(&g4, "127.0.0.1", false), 0);
	assert_int_equal(steer_attach(s, g4.fd, NWORKERS), 0);
	pin_group(s, &g4, "127.0.0.1", false);
	assert_int_equal(steer_unpin(s, &g4.addr, 1), -ENOENT);
	assert_int_equal(steer_pin(s, &g4.addr, 1, NWORKERS), -EINVAL);
	memset(&bad, 0, sizeof(bad));
	assert_int_equal(steer_pin(s, &bad, 1, 0), -EAFNOSUPPORT);

	if (group_open(&gm, "::ffff:127.0.0.1", false) == 0) {
		unmap(&gm.addr); /* the IPv4 clients send to 127.0.0.1:port */
		assert_int_equal(steer_attach(s, gm.fd, NWORKERS), 0);
		pin_group(s, &gm, "127.0.0.1", true);
		group_close(&gm);
	} else {
		print_message("steer: no IPv6 here, dual-stack pin not tested\n");
	}
	steer_free(s);
	group_close(&g4);
}

/* Fail open: a worker's socket closes while its flows keep sending; the
 * program cannot select it, counts a fail, and the kernel hash delivers the
 * datagram to the socket that is left. Nothing is lost. */
static void test_fail_open(void **state)
{
	struct steer *s = steer_or_skip();
	struct group g;
	static struct flow f[NFLOWS];

	assert_int_equal(group_open(&g, "127.0.0.1", false), 0);
	assert_int_equal(steer_attach(s, g.fd, NWORKERS), 0);
	flows_open(f, NFLOWS, "127.0.0.1");
	for (unsigned i = 0; i < NFLOWS; i++)
		flow_send(&f[i], i, &g);
	drain_all(&g, f, NFLOWS);
	unsigned on1 = flows_on(f, NFLOWS, 1);
	assert_true(on1 > 0);

	close(g.fd[1]);
	g.fd[1] = -1;
	for (unsigned i = 0; i < NFLOWS; i++)
		f[i].worker = -1;
	for (unsigned i = 0; i < NFLOWS; i++)
		flow_send(&f[i], i, &g);
	drain_all(&g, f, NFLOWS);
	assert_int_equal(flows_on(f, NFLOWS, 0), NFLOWS);

	struct steer_worker_stats st[NWORKERS];
	assert_int_equal(steer_stats(s, st, NWORKERS), NWORKERS);
	assert_int_equal(st[1].fails, on1);
	assert_int_equal(st[0].fails, 0);
	steer_free(s);
	flows_close(f, NFLOWS);
	group_close(&g);
}

/* Bad input is refused and leaves the program usable; a socket outside any
 * reuseport group cannot join (the kernel refuses it into the sockarray). */
static void test_errors(void **state)
{
	struct steer *s = NULL;
	union tern_addr a;
	struct group g;

	s = steer_or_skip();
	struct steer *t = s;
	assert_int_equal(steer_new(0, &t), -EINVAL);
	assert_null(t);
	assert_int_equal(steer_new(STEER_MAX_WORKERS + 1, &t), -EINVAL);
	assert_int_equal(group_open(&g, "127.0.0.1", false), 0);
	assert_int_equal(steer_attach(s, g.fd, 1), -EINVAL);

	assert_int_equal(addr_parse(&a, "127.0.0.1", 0), 0);
	int plain[NWORKERS];
	plain[0] = udp_open(&a, UDP_F_NONBLOCK, 0, 0, NULL);
	plain[1] = udp_open(&a, UDP_F_NONBLOCK, 0, 0, NULL);
	assert_true(plain[0] >= 0 && plain[1] >= 0);
	int rc = steer_attach(s, plain, NWORKERS);
	print_message("steer: attach of sockets without SO_REUSEPORT: %s\n", steer_strerror(rc));
	assert_true(rc < 0);
	close(plain[0]);
	close(plain[1]);

	/* the rolled-back attempt left the slots free for a real group */
	assert_int_equal(steer_attach(s, g.fd, NWORKERS), 0);
	/* a socket can serve one steering program only */
	assert_int_equal(steer_attach(s, g.fd, NWORKERS), -EBUSY);
	steer_free(s);
	steer_free(NULL);
	group_close(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_errors), cmocka_unit_test(test_sticky_spread),
	    cmocka_unit_test(test_pin),    cmocka_unit_test(test_fail_open),
	    cmocka_unit_test(test_skew),
	};
	if (!steer_built())
		print_message("steer: built without eBPF: every test skips\n");
	return cmocka_run_group_tests(tests, setup, teardown);
}
