/* net/: event loop and UDP batches, on loopback only (127.0.0.1 / ::1). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "net/loop.h"
#include "net/tcp.h"
#include "net/udp.h"
#include "util/addr.h"

/* ---- helpers ---- */

static union tern_addr mkaddr(const char *ip, uint16_t port)
{
	union tern_addr a;
	assert_int_equal(addr_parse(&a, ip, port), 0);
	return a;
}

/* A nonblocking UDP socket on ip, port 0; skips the test when the address
 * family is unavailable (an IPv6-less container). */
static int open_or_skip(const char *ip, unsigned flags, int rcvbuf, union tern_addr *bound)
{
	union tern_addr a = mkaddr(ip, 0);
	int fd = udp_open(&a, flags | UDP_F_NONBLOCK, rcvbuf, 0, bound);
	if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)
		skip();
	assert_true(fd >= 0);
	return fd;
}

static void send_to(int fd, const union tern_addr *dst, const void *buf, size_t len)
{
	ssize_t n = sendto(fd, buf, len, 0, &dst->sa, addr_len(dst));
	assert_int_equal(n, (ssize_t)len);
}

/* Datagram k of a test: its length and its bytes, so order and content can
 * both be checked on arrival. */
static size_t pattern_len(unsigned k)
{
	return 8 + (k * 37) % 900;
}
static void pattern_fill(uint8_t *buf, unsigned k)
{
	for (size_t i = 0; i < pattern_len(k); i++)
		buf[i] = (uint8_t)(k * 31 + i);
}
static void pattern_check(const uint8_t *buf, size_t len, unsigned k)
{
	assert_int_equal(len, pattern_len(k));
	for (size_t i = 0; i < len; i++)
		assert_int_equal(buf[i], (uint8_t)(k * 31 + i));
}

/* One batch, waiting (bounded) for the socket to become readable first:
 * loopback delivery normally completes inside sendto, poll covers the rest. */
static int recv_wait(int fd, struct udp_rx *rx, unsigned max)
{
	int n = udp_recv_batch(fd, rx, max);
	if (n != 0)
		return n;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 2000) <= 0)
		return 0;
	return udp_recv_batch(fd, rx, max);
}

static struct udp_rx *rx_new(void)
{
	struct udp_rx *rx = malloc(sizeof *rx);
	assert_non_null(rx);
	udp_rx_init(rx);
	return rx;
}

/* ---- loop ---- */

struct evh {
	struct net_handler h;
	struct net_loop *loop;
	struct evh *other;
	unsigned calls;
	uint32_t last_events;
	int mode;
};

enum { EV_DRAIN, EV_DEL_OTHER, EV_READD_OTHER, EV_FREE_OTHER };

static int defer_done;
static struct evh *ev_ran;
static void defer_mark(void *p)
{
	defer_done++;
	free(p);
}

static void ev_fn(struct net_handler *h, uint32_t events)
{
	struct evh *e = (struct evh *)((char *)h - offsetof(struct evh, h));
	e->calls++;
	e->last_events = events;
	ev_ran = e;
	switch (e->mode) {
	case EV_DRAIN: {
		eventfd_t v;
		eventfd_read(h->fd, &v);
		break;
	}
	case EV_DEL_OTHER:
		assert_int_equal(loop_del(e->loop, &e->other->h), 0);
		break;
	case EV_READD_OTHER:
		assert_int_equal(loop_del(e->loop, &e->other->h), 0);
		assert_int_equal(loop_add(e->loop, &e->other->h, EPOLLIN), 0);
		break;
	case EV_FREE_OTHER:
		assert_int_equal(loop_del(e->loop, &e->other->h), 0);
		close(e->other->h.fd);
		assert_int_equal(loop_defer_free(e->loop, e->other, defer_mark), 0);
		assert_int_equal(defer_done, 0); /* not before the turn ends */
		break;
	}
}

static void evh_init(struct evh *e, struct net_loop *l, int mode)
{
	memset(e, 0, sizeof *e);
	e->h.fn = ev_fn;
	e->h.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(e->h.fd >= 0);
	e->loop = l;
	e->mode = mode;
}

static void test_loop_add_del_mod(void **state)
{
	struct net_loop *l = loop_new();
	assert_non_null(l);
	struct evh e;
	evh_init(&e, l, EV_DRAIN);
	assert_int_equal(loop_add(l, &e.h, EPOLLIN), 0);
	assert_int_not_equal(e.h.gen, 0);

	assert_int_equal(loop_run_once(l, 0), 0);
	eventfd_write(e.h.fd, 1);
	assert_int_equal(loop_run_once(l, 0), 1);
	assert_int_equal(e.calls, 1);
	assert_true(e.last_events & EPOLLIN);
	assert_int_equal(loop_run_once(l, 0), 0); /* drained */

	assert_int_equal(loop_mod(l, &e.h, EPOLLOUT), 0); /* an eventfd is always writable */
	assert_int_equal(loop_run_once(l, 0), 1);
	assert_true(e.last_events & EPOLLOUT);

	assert_int_equal(loop_del(l, &e.h), 0);
	assert_int_equal(e.h.gen, 0);
	eventfd_write(e.h.fd, 1);
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_int_equal(e.calls, 2);
	assert_int_equal(loop_del(l, &e.h), -ENOENT);
	assert_int_equal(loop_add(l, &(struct net_handler){.fd = -1}, EPOLLIN), -EBADF);

	close(e.h.fd);
	loop_free(l);
}

static void *waker(void *arg)
{
	loop_wake(arg);
	return NULL;
}

static void test_loop_wake(void **state)
{
	struct net_loop *l = loop_new();
	assert_non_null(l);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, waker, l), 0);
	pthread_join(t, NULL);
	/* Would block forever without the wake-up; it is not counted. */
	assert_int_equal(loop_run_once(l, -1), 0);
	/* Several wakes coalesce and are drained by one turn. */
	assert_int_equal(loop_wake(l), 0);
	assert_int_equal(loop_wake(l), 0);
	assert_int_equal(loop_run_once(l, -1), 0);
	assert_int_equal(loop_run_once(l, 0), 0);
	loop_free(l);
}

/* Both readable in one turn; whichever runs first deletes the other, whose
 * event is already in the turn's array and must be skipped. */
static void test_loop_del_during_dispatch(void **state)
{
	struct net_loop *l = loop_new();
	struct evh a, b;
	evh_init(&a, l, EV_DEL_OTHER);
	evh_init(&b, l, EV_DEL_OTHER);
	a.other = &b;
	b.other = &a;
	assert_int_equal(loop_add(l, &a.h, EPOLLIN), 0);
	assert_int_equal(loop_add(l, &b.h, EPOLLIN), 0);
	eventfd_write(a.h.fd, 1);
	eventfd_write(b.h.fd, 1);
	assert_int_equal(loop_run_once(l, 0), 1);
	assert_int_equal(a.calls + b.calls, 1);
	close(a.h.fd);
	close(b.h.fd);
	loop_free(l);
}

/* Deleted and added again in the same turn (what a pool reusing memory
 * does): the stale event fetched before the re-add is skipped, the next
 * turn delivers normally. */
static void test_loop_readd_during_dispatch(void **state)
{
	struct net_loop *l = loop_new();
	struct evh a, b;
	evh_init(&a, l, EV_READD_OTHER);
	evh_init(&b, l, EV_READD_OTHER);
	a.other = &b;
	b.other = &a;
	assert_int_equal(loop_add(l, &a.h, EPOLLIN), 0);
	assert_int_equal(loop_add(l, &b.h, EPOLLIN), 0);
	eventfd_write(a.h.fd, 1);
	eventfd_write(b.h.fd, 1);
	assert_int_equal(loop_run_once(l, 0), 1);
	assert_int_equal(a.calls + b.calls, 1);
	a.mode = b.mode = EV_DRAIN;
	assert_int_equal(loop_run_once(l, 0), 2);
	assert_int_equal(a.calls + b.calls, 3);
	close(a.h.fd);
	close(b.h.fd);
	loop_free(l);
}

/* Whichever handler runs first deletes the other and frees it through
 * loop_defer_free, while the other's stale event is still in the turn's
 * array: the loop reads that handler's stamp after the "free", which ASan
 * reports if the memory were released before the turn ends. */
static void test_loop_defer_free(void **state)
{
	struct net_loop *l = loop_new();
	struct evh *a = malloc(sizeof *a), *b = malloc(sizeof *b);
	evh_init(a, l, EV_FREE_OTHER);
	evh_init(b, l, EV_FREE_OTHER);
	a->other = b;
	b->other = a;
	assert_int_equal(loop_add(l, &a->h, EPOLLIN), 0);
	assert_int_equal(loop_add(l, &b->h, EPOLLIN), 0);
	eventfd_write(a->h.fd, 1);
	eventfd_write(b->h.fd, 1);
	defer_done = 0;
	ev_ran = NULL;
	assert_int_equal(loop_run_once(l, 0), 1);
	assert_int_equal(defer_done, 1);
	struct evh *survivor = ev_ran;
	assert_true(survivor == a || survivor == b);
	assert_int_equal(loop_del(l, &survivor->h), 0);
	close(survivor->h.fd);
	free(survivor);

	/* Outside a turn: queued, run at the end of the next one. */
	defer_done = 0;
	assert_int_equal(loop_defer_free(l, malloc(1), defer_mark), 0);
	assert_int_equal(defer_done, 0);
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_int_equal(defer_done, 1);

	/* More than the initial queue; loop_free runs what is pending. */
	defer_done = 0;
	for (int i = 0; i < 300; i++)
		assert_int_equal(loop_defer_free(l, malloc(16), defer_mark), 0);
	loop_free(l);
	assert_int_equal(defer_done, 300);
}

static void test_clock(void **state)
{
	uint64_t a = net_now_ms(), b = net_now_ms();
	assert_true(b >= a);
	assert_true(net_wall_s() > 1600000000u); /* any sane clock is past 2020 */
}

/* ---- udp_open ---- */

static void test_udp_open_v4(void **state)
{
	union tern_addr bound;
	int fd = open_or_skip("127.0.0.1", 0, 0, &bound);
	assert_int_equal(bound.sa.sa_family, AF_INET);
	assert_int_not_equal(addr_port(&bound), 0);
	union tern_addr lo = mkaddr("127.0.0.1", 0);
	assert_true(addr_equal_ip(&bound, &lo));
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);

	/* Without UDP_F_NONBLOCK the socket blocks (batches use MSG_DONTWAIT). */
	union tern_addr a = mkaddr("127.0.0.1", 0);
	fd = udp_open(&a, 0, 0, 0, NULL);
	assert_true(fd >= 0);
	assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
	struct udp_rx *rx = rx_new();
	assert_int_equal(udp_recv_batch(fd, rx, NET_BATCH), 0);
	free(rx);
	close(fd);
}

static void test_udp_open_v6(void **state)
{
	union tern_addr bound;
	int fd = open_or_skip("::1", UDP_F_V6ONLY, 0, &bound);
	assert_int_equal(bound.sa.sa_family, AF_INET6);
	assert_int_not_equal(addr_port(&bound), 0);
	union tern_addr lo = mkaddr("::1", 0);
	assert_true(addr_equal_ip(&bound, &lo));
	int v = -1;
	socklen_t len = sizeof v;
	assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len), 0);
	assert_int_equal(v, 1);
	close(fd);
	/* Binding a specific IPv6 address makes the kernel set the option
	 * anyway; a v4-mapped loopback address shows the flag's effect: only a
	 * dual-stack socket may bind it. */
	union tern_addr mapped = mkaddr("::ffff:127.0.0.1", 0);
	fd = udp_open(&mapped, 0, 0, 0, &bound);
	assert_true(fd >= 0);
	assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len), 0);
	assert_int_equal(v, 0);
	close(fd);
	assert_int_equal(udp_open(&mapped, UDP_F_V6ONLY, 0, 0, NULL), -EINVAL);
}

static void test_udp_open_options(void **state)
{
	union tern_addr a = mkaddr("127.0.0.1", 0);
	int fd = udp_open(&a, UDP_F_FREEBIND, 4096, 4096, NULL);
	assert_true(fd >= 0);
	int v = 0;
	socklen_t len = sizeof v;
	assert_int_equal(getsockopt(fd, IPPROTO_IP, IP_FREEBIND, &v, &len), 0);
	assert_int_equal(v, 1);
	/* The kernel doubles the request for its own overhead. */
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len), 0);
	assert_int_equal(v, 2 * 4096);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len), 0);
	assert_int_equal(v, 2 * 4096);
	close(fd);

	union tern_addr bad = {0};
	bad.sa.sa_family = AF_UNIX;
	assert_int_equal(udp_open(&bad, 0, 0, 0, NULL), -EAFNOSUPPORT);
}

static void test_udp_reuseport(void **state)
{
	union tern_addr bound, b2;
	int a = open_or_skip("127.0.0.1", UDP_F_REUSEPORT, 0, &bound);
	int b = udp_open(&bound, UDP_F_REUSEPORT, 0, 0, &b2);
	assert_true(b >= 0);
	assert_true(addr_equal(&bound, &b2));
	assert_int_equal(udp_open(&bound, 0, 0, 0, NULL), -EADDRINUSE);
	close(a);
	close(b);
}

/* ---- receive ---- */

static void recv_in_order(const char *ip)
{
	union tern_addr raddr, saddr;
	int r = open_or_skip(ip, 0, 0, &raddr);
	int s = open_or_skip(ip, 0, 0, &saddr);
	enum { N = 10 };
	uint8_t buf[1024];
	for (unsigned k = 0; k < N; k++) {
		pattern_fill(buf, k);
		send_to(s, &raddr, buf, pattern_len(k));
	}
	struct udp_rx *rx = rx_new();
	unsigned got = 0;
	while (got < N) {
		int n = recv_wait(r, rx, NET_BATCH);
		assert_true(n > 0);
		assert_int_equal(rx->count, (unsigned)n);
		for (unsigned i = 0; i < (unsigned)n; i++, got++) {
			assert_false(udp_rx_trunc(rx, i));
			assert_true(addr_equal(&rx->src[i], &saddr));
			pattern_check(udp_rx_data(rx, i), udp_rx_len(rx, i), got);
		}
	}
	assert_int_equal(udp_recv_batch(r, rx, NET_BATCH), 0);
	free(rx);
	close(r);
	close(s);
}

static void test_recv_batch_v4(void **state)
{
	recv_in_order("127.0.0.1");
}
static void test_recv_batch_v6(void **state)
{
	recv_in_order("::1");
}

static void test_recv_empty(void **state)
{
	int r = open_or_skip("127.0.0.1", 0, 0, NULL);
	struct udp_rx *rx = rx_new();
	rx->count = 7;
	assert_int_equal(udp_recv_batch(r, rx, NET_BATCH), 0);
	assert_int_equal(rx->count, 0);
	assert_int_equal(udp_recv_batch(r, rx, 0), 0);
	free(rx);
	close(r);
}

static void test_recv_trunc(void **state)
{
	union tern_addr raddr;
	int r = open_or_skip("127.0.0.1", 0, 0, &raddr);
	int s = open_or_skip("127.0.0.1", 0, 0, NULL);
	static uint8_t big[NET_RX_SLOT + 1000];
	memset(big, 0xab, sizeof big);
	send_to(s, &raddr, big, sizeof big);
	send_to(s, &raddr, big, 100);
	struct udp_rx *rx = rx_new();
	unsigned got = 0;
	while (got < 2) {
		int n = recv_wait(r, rx, NET_BATCH);
		assert_true(n > 0);
		for (unsigned i = 0; i < (unsigned)n; i++, got++) {
			if (got == 0) {
				assert_true(udp_rx_trunc(rx, i));
				assert_true(udp_rx_len(rx, i) <= NET_RX_SLOT);
			} else {
				assert_false(udp_rx_trunc(rx, i));
				assert_int_equal(udp_rx_len(rx, i), 100);
			}
		}
	}
	free(rx);
	close(r);
	close(s);
}

/* More than one batch waiting: each call takes at most NET_BATCH (or max),
 * and repeated calls return everything, in order. */
static void test_recv_many(void **state)
{
	union tern_addr raddr;
	int r = open_or_skip("127.0.0.1", 0, 1 << 20, &raddr);
	int s = open_or_skip("127.0.0.1", 0, 0, NULL);
	enum { N = 2 * NET_BATCH + 22 };
	uint8_t buf[1024];
	for (unsigned k = 0; k < N; k++) {
		pattern_fill(buf, k);
		send_to(s, &raddr, buf, pattern_len(k));
	}
	struct udp_rx *rx = rx_new();
	unsigned got = 0, calls = 0;
	int n = recv_wait(r, rx, 5);
	assert_true(n > 0 && n <= 5);
	for (unsigned i = 0; i < (unsigned)n; i++, got++)
		pattern_check(udp_rx_data(rx, i), udp_rx_len(rx, i), got);
	while (got < N) {
		n = recv_wait(r, rx, 1000); /* clamped to NET_BATCH */
		assert_true(n > 0 && n <= NET_BATCH);
		calls++;
		for (unsigned i = 0; i < (unsigned)n; i++, got++)
			pattern_check(udp_rx_data(rx, i), udp_rx_len(rx, i), got);
	}
	assert_true(calls >= 3);
	assert_int_equal(udp_recv_batch(r, rx, NET_BATCH), 0);
	free(rx);
	close(r);
	close(s);
}

/* ---- transmit ---- */

/* Receive want datagrams on r; check datagram k carries byte tag[k] after
 * a 2-byte "H:" header and a 1-byte trailer, and came from src[k]. */
static void expect_tagged(int r, unsigned want, const uint8_t *tag, const union tern_addr *src)
{
	struct udp_rx *rx = rx_new();
	unsigned got = 0;
	while (got < want) {
		int n = recv_wait(r, rx, NET_BATCH);
		assert_true(n > 0);
		for (unsigned i = 0; i < (unsigned)n; i++, got++) {
			assert_true(got < want);
			const uint8_t *d = udp_rx_data(rx, i);
			assert_int_equal(udp_rx_len(rx, i), 4);
			assert_memory_equal(d, "H:", 2);
			assert_int_equal(d[2], tag[got]);
			assert_int_equal(d[3], '.');
			assert_true(addr_equal(&rx->src[i], &src[got]));
		}
	}
	assert_int_equal(udp_recv_batch(r, rx, NET_BATCH), 0);
	free(rx);
}

static uint8_t tags[2 * NET_TX_BATCH];

static void add_tagged(struct udp_tx *tx, int fd, const union tern_addr *dst, unsigned k)
{
	static const char hdr[] = "H:", trl[] = ".";
	tags[k] = (uint8_t)('a' + k % 26);
	struct udp_tx_entry *e = udp_tx_add(tx, fd, dst);
	assert_int_equal(e->iovcnt, 0);
	e->iov[0] = (struct iovec){(void *)hdr, 2};
	e->iov[1] = (struct iovec){&tags[k], 1};
	e->iov[2] = (struct iovec){(void *)trl, 1};
	e->iovcnt = 3;
}

/* s1 s1 s2 s2 s1: grouped by fd (s1's three, then s2's two), two sendmmsg
 * calls, order kept within each fd. */
static void test_tx_runs(void **state)
{
	union tern_addr raddr, a1, a2;
	int r = open_or_skip("127.0.0.1", 0, 0, &raddr);
	int s1 = open_or_skip("127.0.0.1", 0, 0, &a1);
	int s2 = open_or_skip("127.0.0.1", 0, 0, &a2);
	struct udp_tx *tx = malloc(sizeof *tx);
	udp_tx_init(tx, false);
	assert_int_equal(udp_tx_room(tx), NET_TX_BATCH);
	const int fds[] = {s1, s1, s2, s2, s1};
	for (unsigned k = 0; k < 5; k++)
		add_tagged(tx, fds[k], &raddr, k);
	assert_int_equal(udp_tx_room(tx), NET_TX_BATCH - 5);
	udp_tx_flush(tx);
	assert_int_equal(tx->count, 0);
	assert_int_equal(tx->stats.sent, 5);
	assert_int_equal(tx->stats.dropped, 0);
	assert_int_equal(tx->stats.calls, 2);
	const uint8_t want[] = {tags[0], tags[1], tags[4], tags[2], tags[3]};
	const union tern_addr src[] = {a1, a1, a1, a2, a2};
	expect_tagged(r, 5, want, src);

	udp_tx_flush(tx); /* empty: no call */
	assert_int_equal(tx->stats.calls, 2);
	free(tx);
	close(r);
	close(s1);
	close(s2);
}

/* An IPv6 destination on an IPv4 socket fails (EAFNOSUPPORT) for that one
 * datagram, at the head of a run and in its middle (a partial sendmmsg);
 * it is counted as dropped and everything after it still goes out. */
static void test_tx_drop_one(void **state)
{
	union tern_addr raddr, saddr;
	int r = open_or_skip("127.0.0.1", 0, 0, &raddr);
	int s = open_or_skip("127.0.0.1", 0, 0, &saddr);
	union tern_addr v6 = mkaddr("::1", 9);
	struct udp_tx *tx = malloc(sizeof *tx);
	udp_tx_init(tx, false);
	const union tern_addr *dst[] = {&v6, &raddr, &v6, &raddr, &raddr};
	for (unsigned k = 0; k < 5; k++)
		add_tagged(tx, s, dst[k], k);
	udp_tx_flush(tx);
	assert_int_equal(tx->stats.sent, 3);
	assert_int_equal(tx->stats.dropped, 2);
	assert_int_equal(tx->count, 0);
	const uint8_t want[] = {tags[1], tags[3], tags[4]};
	const union tern_addr src[] = {saddr, saddr, saddr};
	expect_tagged(r, 3, want, src);
	free(tx);
	close(r);
	close(s);
}

/* A receiver whose buffer overflows: udp_kernel_drops() counts exactly
 * the datagrams the kernel threw away (sent - received), and 0 before. */
static void test_kernel_drops(void **state)
{
	union tern_addr raddr, saddr;
	int r = open_or_skip("127.0.0.1", 0, 4096, &raddr); /* tiny: a few datagrams fit */
	int s = open_or_skip("127.0.0.1", 0, 0, &saddr);
	assert_int_equal(udp_kernel_drops(r), 0);
	static const uint8_t payload[200];
	const unsigned sent = 200;
	for (unsigned k = 0; k < sent; k++)
		send_to(s, &raddr, payload, sizeof payload);
	struct udp_rx *rx = rx_new();
	unsigned got = 0;
	int n;
	while ((n = udp_recv_batch(r, rx, NET_BATCH)) > 0)
		got += (unsigned)n;
	assert_true(got > 0);
	assert_true(got < sent);
	assert_int_equal(udp_kernel_drops(r), (int64_t)(sent - got));
	assert_true(udp_kernel_drops(-1) < 0);
	free(rx);
	close(r);
	close(s);
}

/* dst NULL: a connected socket, no msg_name. */
static void test_tx_connected(void **state)
{
	union tern_addr raddr, saddr;
	int r = open_or_skip("127.0.0.1", 0, 0, &raddr);
	int s = open_or_skip("127.0.0.1", 0, 0, &saddr);
	assert_int_equal(connect(s, &raddr.sa, addr_len(&raddr)), 0);
	struct udp_tx *tx = malloc(sizeof *tx);
	udp_tx_init(tx, false);
	add_tagged(tx, s, NULL, 0);
	add_tagged(tx, s, NULL, 1);
	udp_tx_flush(tx);
	assert_int_equal(tx->stats.sent, 2);
	assert_int_equal(tx->stats.calls, 1);
	const union tern_addr src[] = {saddr, saddr};
	expect_tagged(r, 2, tags, src);
	free(tx);
	close(r);
	close(s);
}

/* Adding to a full batch flushes it first instead of failing. */
/* A connected client socket beside a listener (client-sockets=connected):
 * quiet between bind and connect (it takes none of the listener's
 * datagrams), then it gets exactly its client's, and the listener keeps
 * everyone else's. */
static void test_connected_beside_listener(void **state)
{
	(void)state;
	static struct udp_rx rx;
	udp_rx_init(&rx);
	union tern_addr la, ca, oa;
	int lst = open_or_skip("127.0.0.1", UDP_F_REUSEPORT | UDP_F_REUSEADDR, 0, &la);
	int client = open_or_skip("127.0.0.1", 0, 0, &ca);
	int other = open_or_skip("127.0.0.1", 0, 0, &oa);
	int cs = udp_open(&la, UDP_F_REUSEADDR | UDP_F_QUIET | UDP_F_NONBLOCK, 0, 0, NULL);
	assert_true(cs >= 0);

	/* bound, not yet connected: what it would win is dropped, not taken */
	send_to(other, &la, "early", 5);
	assert_int_equal(udp_recv_batch(cs, &rx, NET_BATCH), 0);

	assert_int_equal(udp_connect(cs, &ca), 0);
	send_to(client, &la, "mine", 4);
	send_to(other, &la, "theirs", 6);
	assert_int_equal(recv_wait(cs, &rx, NET_BATCH), 1);
	assert_int_equal(udp_rx_len(&rx, 0), 4);
	assert_memory_equal(udp_rx_data(&rx, 0), "mine", 4);
	assert_true(addr_equal(&rx.src[0], &ca));
	/* the listener has the other client's, and nothing of the connected one's */
	int n = recv_wait(lst, &rx, NET_BATCH);
	assert_true(n >= 1);
	assert_true(addr_equal(&rx.src[n - 1], &oa));
	assert_int_equal(udp_rx_len(&rx, (unsigned)n - 1), 6);
	for (int i = 0; i < n; i++)
		assert_false(addr_equal(&rx.src[i], &ca));

	/* and the answer through the connected socket comes from the listener's address */
	assert_int_equal(send(cs, "back", 4, 0), 4);
	union tern_addr from;
	socklen_t fl = sizeof(from);
	char b[16];
	struct pollfd p = {.fd = client, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(recvfrom(client, b, sizeof(b), 0, &from.sa, &fl), 4);
	assert_true(addr_equal(&from, &la));
	close(cs);
	close(lst);
	close(client);
	close(other);
}

static void test_tx_full(void **state)
{
	union tern_addr raddr, saddr;
	int r = open_or_skip("127.0.0.1", 0, 1 << 20, &raddr);
	int s = open_or_skip("127.0.0.1", 0, 0, &saddr);
	struct udp_tx *tx = malloc(sizeof *tx);
	udp_tx_init(tx, false);
	union tern_addr src[NET_TX_BATCH + 1];
	for (unsigned k = 0; k < NET_TX_BATCH + 1; k++) {
		add_tagged(tx, s, &raddr, k);
		src[k] = saddr;
	}
	assert_int_equal(tx->count, 1);
	assert_int_equal(tx->stats.sent, NET_TX_BATCH);
	assert_int_equal(udp_tx_room(tx), NET_TX_BATCH - 1);
	udp_tx_flush(tx);
	assert_int_equal(tx->stats.sent, NET_TX_BATCH + 1);
	expect_tagged(r, NET_TX_BATCH + 1, tags, src);
	free(tx);
	close(r);
	close(s);
}

/* GSO: a run of same-size datagrams to one destination leaves as one
 * UDP_SEGMENT message (the last may be shorter) and arrives as separate
 * datagrams; a larger one, or another destination, ends the run. */
static void test_tx_gso(void **state)
{
	if (!udp_probe_gso())
		skip();
	union tern_addr r1a, r2a, sa;
	int r1 = open_or_skip("127.0.0.1", 0, 1 << 20, &r1a);
	int r2 = open_or_skip("127.0.0.1", 0, 1 << 20, &r2a);
	int s = open_or_skip("127.0.0.1", 0, 0, &sa);
	struct udp_tx *tx = malloc(sizeof *tx);
	udp_tx_init(tx, true);
	/* r1 x10 (4 bytes each), r2 x3, r1 x1: s's group is all 14, in order */
	for (unsigned k = 0; k < 10; k++)
		add_tagged(tx, s, &r1a, k);
	for (unsigned k = 10; k < 13; k++)
		add_tagged(tx, s, &r2a, k);
	add_tagged(tx, s, &r1a, 13);
	udp_tx_flush(tx);
	assert_int_equal(tx->stats.sent, 14);
	assert_int_equal(tx->stats.dropped, 0);
	assert_int_equal(tx->stats.calls, 1);
	assert_int_equal(tx->stats.gso_sends, 2); /* r1 x10 and r2 x3 */
	assert_int_equal(tx->stats.gso_segments, 13);
	uint8_t want1[11];
	union tern_addr src1[11], src2[3];
	for (unsigned k = 0; k < 10; k++)
		want1[k] = tags[k];
	want1[10] = tags[13];
	for (unsigned k = 0; k < 11; k++)
		src1[k] = sa;
	for (unsigned k = 0; k < 3; k++)
		src2[k] = sa;
	expect_tagged(r1, 11, want1, src1);
	expect_tagged(r2, 3, &tags[10], src2);

	/* A shorter datagram ends a run and rides in it; a larger one starts a
	 * new message. Sizes 5 5 3 | 5: two messages, contents intact. */
	static const uint8_t five[5] = "ABCDE", three[3] = "xyz";
	const uint8_t *data[] = {five, five, three, five};
	const size_t lens[] = {5, 5, 3, 5};
	for (unsigned k = 0; k < 4; k++) {
		struct udp_tx_entry *e = udp_tx_add(tx, s, &r1a);
		e->iov[0] = (struct iovec){(void *)data[k], lens[k]};
		e->iovcnt = 1;
	}
	uint64_t sends = tx->stats.gso_sends;
	udp_tx_flush(tx);
	assert_int_equal(tx->stats.gso_sends, sends + 1);
	struct udp_rx *rx = rx_new();
	unsigned got = 0;
	while (got < 4) {
		int n = recv_wait(r1, rx, NET_BATCH);
		assert_true(n > 0);
		for (unsigned i = 0; i < (unsigned)n; i++, got++) {
			assert_int_equal(udp_rx_len(rx, i), lens[got]);
			assert_memory_equal(udp_rx_data(rx, i), data[got], lens[got]);
		}
	}
	free(rx);
	free(tx);
	close(r1);
	close(r2);
	close(s);
}

/* ---- options ---- */

static int getint(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof v;
	assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

static void test_dont_fragment(void **state)
{
	int fd = open_or_skip("127.0.0.1", 0, 0, NULL);
	assert_int_equal(udp_set_dont_fragment(fd, AF_INET, true), 0);
	assert_int_equal(getint(fd, IPPROTO_IP, IP_MTU_DISCOVER), IP_PMTUDISC_DO);
	assert_int_equal(udp_set_dont_fragment(fd, AF_INET, false), 0);
	assert_int_equal(getint(fd, IPPROTO_IP, IP_MTU_DISCOVER), IP_PMTUDISC_DONT);
	assert_int_equal(udp_set_dont_fragment(fd, AF_UNIX, true), -EAFNOSUPPORT);
	close(fd);

	fd = open_or_skip("::1", UDP_F_V6ONLY, 0, NULL);
	assert_int_equal(udp_set_dont_fragment(fd, AF_INET6, true), 0);
	assert_int_equal(getint(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER), IPV6_PMTUDISC_DO);
	assert_int_equal(getint(fd, IPPROTO_IP, IP_MTU_DISCOVER), IP_PMTUDISC_DO);
	assert_int_equal(udp_set_dont_fragment(fd, AF_INET6, false), 0);
	assert_int_equal(getint(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER), IPV6_PMTUDISC_DONT);
	close(fd);
}

static void test_probe_gso(void **state)
{
	/* The answer depends on the kernel; the probe must not leak its fd. */
	int before = dup(0);
	close(before);
	(void)udp_probe_gso();
	int after = dup(0);
	close(after);
	assert_int_equal(after, before);
}

/* ---- tcp_listen / tcp_accept ---- */

static int sockopt_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);
	assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

/* An accepted connection has TCP_NODELAY and keepalive (after
 * TCP_KEEPALIVE_IDLE_S) although tcp_accept sets no option itself: they
 * come from the listening socket. */
static void test_tcp_accept_options(void **state)
{
	union tern_addr a = mkaddr("127.0.0.1", 0), bound, peer, local;
	int lfd = tcp_listen(&a, 0, NULL, &bound);
	assert_true(lfd >= 0);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(cfd >= 0);
	assert_int_equal(connect(cfd, &bound.sa, addr_len(&bound)), 0);
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 2000), 1);
	int fd = tcp_accept(lfd, &peer, &local);
	assert_true(fd >= 0);
	assert_true(addr_equal_ip(&local, &bound));
	assert_int_equal(addr_port(&local), addr_port(&bound));
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_not_equal(sockopt_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
	assert_int_not_equal(sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
	assert_int_equal(sockopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), TCP_KEEPALIVE_IDLE_S);
	assert_int_equal(sockopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), TCP_KEEPALIVE_INTVL_S);
	assert_int_equal(sockopt_int(fd, IPPROTO_TCP, TCP_KEEPCNT), TCP_KEEPALIVE_CNT);
	assert_int_equal(tcp_accept(lfd, &peer, &local), -EAGAIN);
	close(fd);
	close(cfd);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loop_add_del_mod),
	    cmocka_unit_test(test_loop_wake),
	    cmocka_unit_test(test_loop_del_during_dispatch),
	    cmocka_unit_test(test_loop_readd_during_dispatch),
	    cmocka_unit_test(test_loop_defer_free),
	    cmocka_unit_test(test_clock),
	    cmocka_unit_test(test_udp_open_v4),
	    cmocka_unit_test(test_udp_open_v6),
	    cmocka_unit_test(test_udp_open_options),
	    cmocka_unit_test(test_udp_reuseport),
	    cmocka_unit_test(test_recv_batch_v4),
	    cmocka_unit_test(test_recv_batch_v6),
	    cmocka_unit_test(test_recv_empty),
	    cmocka_unit_test(test_recv_trunc),
	    cmocka_unit_test(test_recv_many),
	    cmocka_unit_test(test_tx_runs),
	    cmocka_unit_test(test_tx_drop_one),
	    cmocka_unit_test(test_connected_beside_listener),
	    cmocka_unit_test(test_tx_connected),
	    cmocka_unit_test(test_tx_full),
	    cmocka_unit_test(test_tx_gso),
	    cmocka_unit_test(test_kernel_drops),
	    cmocka_unit_test(test_dont_fragment),
	    cmocka_unit_test(test_probe_gso),
	    cmocka_unit_test(test_tcp_accept_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
