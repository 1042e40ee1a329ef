/* net/ (src/net/udp.c) tests that need a network of their own: the
 * process moves into a new network namespace (unshare(2): as root, or in a
 * new user namespace where unprivileged ones are allowed) in which only lo
 * exists, and sets lo's MTU to Ethernet's 1500 bytes. Skipped where no
 * namespace can be made. Nothing here can reach another machine.
 *
 * - GSO above the path MTU (issue 8, item 8): the kernel refuses a
 *   UDP_SEGMENT message whose segments exceed the MTU, where the same
 *   datagrams sent one by one would be fragmented and delivered.
 * - PKTINFO (issue 8, item 2): a socket on a wildcard address learns the
 *   local address of each datagram and sends from a chosen one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "net/udp.h"

#define WAIT_MS 5000

static bool have_ns;

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int err = n == (ssize_t)strlen(text) ? 0 : -errno;
	close(fd);
	return err;
}

/* A private namespace with lo up at MTU 1500. */
static bool enter_ns(void)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	if (unshare(CLONE_NEWNET) < 0) {
		char map[64];
		if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
			return false;
		write_file("/proc/self/setgroups", "deny");
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
		if (write_file("/proc/self/uid_map", map) < 0)
			return false;
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
		if (write_file("/proc/self/gid_map", map) < 0)
			return false;
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ifr.ifr_mtu = 1500;
	bool ok = fd >= 0 && ioctl(fd, SIOCSIFMTU, &ifr) == 0;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ok = ok && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
	ifr.ifr_flags |= IFF_UP;
	ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int open_at(const char *ip, unsigned flags, union tern_addr *bound)
{
	union tern_addr a;
	assert_int_equal(addr_parse(&a, ip, 0), 0);
	int fd =
	    udp_open(&a, flags | (a.sa.sa_family == AF_INET6 ? UDP_F_V6ONLY : 0), 1 << 20, 1 << 20, bound);
	assert_true(fd >= 0);
	return fd;
}

/* Wait up to WAIT_MS for one datagram; its length, or -1. (A bound, not a
 * speed: on a loaded machine loopback delivery can lag.) */
static int recv_one(int fd, uint8_t *buf, size_t cap, union tern_addr *from)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, WAIT_MS) != 1)
		return -1;
	socklen_t len = sizeof(*from);
	ssize_t n = recvfrom(fd, buf, cap, MSG_DONTWAIT, &from->sa, &len);
	return (int)n;
}

static void add(struct udp_tx *tx, int fd, const union tern_addr *dst, const uint8_t *data, size_t len)
{
	struct udp_tx_entry *e = udp_tx_add(tx, fd, dst);
	e->iov[0] = (struct iovec){(void *)data, len};
	e->iovcnt = 1;
}

static void gso_over_mtu(const char *ip, size_t big)
{
	if (!have_ns)
		skip();
	static uint8_t a[2000], b[2000], buf[4000];
	union tern_addr raddr, from;
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	int r = open_at(ip, 0, &raddr);
	int s = open_at(ip, 0, NULL);
	struct udp_tx *tx = calloc(1, sizeof(*tx));
	assert_non_null(tx);
	udp_tx_init(tx, true);

	/* two datagrams over the MTU, one size, one destination: a GSO run */
	add(tx, s, &raddr, a, big);
	add(tx, s, &raddr, b, big);
	udp_tx_flush(tx);
	assert_int_equal(recv_one(r, buf, sizeof(buf), &from), (int)big);
	assert_memory_equal(buf, a, big);
	assert_int_equal(recv_one(r, buf, sizeof(buf), &from), (int)big);
	assert_memory_equal(buf, b, big);
	assert_int_equal(tx->stats.dropped, 0);
	assert_int_equal(tx->stats.sent, 2);
	assert_int_equal(tx->stats.gso_fallback, 2);
	assert_true(tx->gso); /* a size problem does not turn GSO off */

	/* the next run of that size is not merged at all */
	uint64_t gso_sends = tx->stats.gso_sends, calls = tx->stats.calls;
	add(tx, s, &raddr, a, big);
	add(tx, s, &raddr, b, big);
	udp_tx_flush(tx);
	assert_int_equal(recv_one(r, buf, sizeof(buf), &from), (int)big);
	assert_int_equal(recv_one(r, buf, sizeof(buf), &from), (int)big);
	assert_int_equal(tx->stats.gso_sends, gso_sends);
	assert_int_equal(tx->stats.calls, calls + 1);
	assert_int_equal(tx->stats.gso_fallback, 2);

	/* small datagrams still go as one GSO message */
	add(tx, s, &raddr, a, 100);
	add(tx, s, &raddr, b, 100);
	udp_tx_flush(tx);
	assert_int_equal(recv_one(r, buf, sizeof(buf), &from), 100);
	assert_int_equal(recv_one(r, buf, sizeof(buf), &from), 100);
	assert_int_equal(tx->stats.gso_sends, gso_sends + 1);
	assert_int_equal(tx->stats.dropped, 0);
	free(tx);
	close(r);
	close(s);
}

static void test_gso_over_mtu_v4(void **state)
{
	gso_over_mtu("127.0.0.1", 1480); /* 1480 + 28 > 1500 */
}

static void test_gso_over_mtu_v6(void **state)
{
	gso_over_mtu("::1", 1460); /* 1460 + 48 > 1500 */
}

/* A wildcard socket with UDP_F_PKTINFO: each datagram's local address,
 * and an answer that leaves from it (not from the kernel's first choice). */
static void pktinfo(const char *wild, const char *to_ip, const char *client_ip)
{
	if (!have_ns)
		skip();
	union tern_addr saddr, caddr, to, local, from;
	int s = open_at(wild, UDP_F_PKTINFO, &saddr);
	int c = open_at(client_ip, 0, &caddr);
	assert_int_equal(addr_parse(&to, to_ip, addr_port(&saddr)), 0);
	assert_int_equal(sendto(c, "ping", 4, 0, &to.sa, addr_len(&to)), 4);

	struct udp_rx *rx = calloc(1, sizeof(*rx));
	assert_non_null(rx);
	udp_rx_init(rx);
	struct pollfd p = {.fd = s, .events = POLLIN};
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_int_equal(udp_recv_batch(s, rx, NET_BATCH), 1);
	assert_int_equal(udp_rx_local(rx, 0, addr_port(&saddr), &local), 0);
	assert_true(addr_equal(&local, &to));

	struct udp_tx *tx = calloc(1, sizeof(*tx));
	assert_non_null(tx);
	udp_tx_init(tx, true);
	for (unsigned k = 0; k < 2; k++) {
		struct udp_tx_entry *e = udp_tx_add(tx, s, &rx->src[0]);
		e->src = local;
		e->iov[0] = (struct iovec){(void *)"pong", 4};
		e->iovcnt = 1;
	}
	udp_tx_flush(tx); /* two equal datagrams: GSO and PKTINFO together */
	uint8_t buf[16];
	for (unsigned k = 0; k < 2; k++) {
		assert_int_equal(recv_one(c, buf, sizeof(buf), &from), 4);
		assert_true(addr_equal(&from, &to));
	}
	assert_int_equal(tx->stats.dropped, 0);

	/* without a source the kernel picks one: not the address written to */
	struct udp_tx_entry *e = udp_tx_add(tx, s, &rx->src[0]);
	e->iov[0] = (struct iovec){(void *)"pong", 4};
	e->iovcnt = 1;
	udp_tx_flush(tx);
	assert_int_equal(recv_one(c, buf, sizeof(buf), &from), 4);
	assert_false(addr_equal_ip(&from, &to));

	/* a socket without the option reports no local address */
	int plain = open_at(wild, 0, &saddr);
	assert_int_equal(addr_parse(&to, to_ip, addr_port(&saddr)), 0);
	assert_int_equal(sendto(c, "ping", 4, 0, &to.sa, addr_len(&to)), 4);
	p.fd = plain;
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_int_equal(udp_recv_batch(plain, rx, NET_BATCH), 1);
	assert_int_equal(udp_rx_local(rx, 0, addr_port(&saddr), &local), -ENOENT);
	free(rx);
	free(tx);
	close(plain);
	close(s);
	close(c);
}

static void test_pktinfo_v4(void **state)
{
	pktinfo("0.0.0.0", "127.0.0.2", "127.0.0.1");
}

static void test_pktinfo_v6(void **state)
{
	if (!have_ns)
		skip();
	/* a second IPv6 address on lo, inside this namespace only */
	if (system("ip -6 addr add 2001:db8::2/128 dev lo nodad 2>/dev/null") != 0)
		skip();
	/* usable once a datagram sent to it arrives: a nodad address stops
	 * being tentative (bind works) a moment before its local route is in */
	union tern_addr a;
	assert_int_equal(addr_parse(&a, "2001:db8::2", 0), 0);
	bool usable = false;
	for (int i = 0; i < 150 && !usable; i++) {
		union tern_addr b;
		int r = udp_open(&a, UDP_F_V6ONLY, 0, 0, &b);
		int c = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct pollfd p = {.fd = r, .events = POLLIN};
		usable = r >= 0 && c >= 0 && sendto(c, "?", 1, 0, &b.sa, addr_len(&b)) == 1 &&
		         poll(&p, 1, 20) == 1;
		if (r >= 0)
			close(r);
		if (c >= 0)
			close(c);
		if (!usable)
			usleep(10000);
	}
	assert_true(usable);
	pktinfo("::", "2001:db8::2", "::1");
}

int main(void)
{
	have_ns = enter_ns();
	if (!have_ns)
		fprintf(stderr, "# no network namespace (needs root or user namespaces): tests skipped\n");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gso_over_mtu_v4),
	    cmocka_unit_test(test_gso_over_mtu_v6),
	    cmocka_unit_test(test_pktinfo_v4),
	    cmocka_unit_test(test_pktinfo_v6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
