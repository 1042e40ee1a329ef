#include "turnc.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int peer_open(struct peer *p, const char *ip, uint16_t port)
{
	union tern_addr a;
	socklen_t alen;
	int one = 1, rcvbuf = 4 << 20;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	if (addr_parse(&a, ip, port) < 0)
		return -EINVAL;
	p->fd = socket(a.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return -errno;
	if (a.sa.sa_family == AF_INET6)
		setsockopt(p->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Bursts of a few thousand datagrams must not be lost in our own buffer. */
	setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(p->fd, &a.sa, addr_len(&a)) < 0)
		goto fail;
	alen = sizeof(p->addr);
	if (getsockname(p->fd, &p->addr.sa, &alen) < 0)
		goto fail;
	return 0;
fail:;
	int err = -errno;
	close(p->fd);
	p->fd = -1;
	return err;
}

void peer_close(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

int peer_send(struct peer *p, const union tern_addr *to, const void *buf, size_t len)
{
	ssize_t n = sendto(p->fd, buf, len, 0, &to->sa, addr_len(to));
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

int peer_recv(struct peer *p, void *buf, size_t cap, union tern_addr *from, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	for (;;) {
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
		int64_t left = deadline - it_now_ms();
		if (left < 0)
			left = 0;
		int rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return -ETIMEDOUT;
		union tern_addr tmp;
		socklen_t alen = sizeof(tmp);
		ssize_t n = recvfrom(p->fd, buf, cap, MSG_DONTWAIT, &tmp.sa, &alen);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (from)
			*from = tmp;
		return (int)n;
	}
}

unsigned peer_echo(struct peer *p, unsigned n, int timeout_ms, const union tern_addr *expect_from,
                   unsigned *foreign)
{
	static uint8_t buf[65536];
	unsigned echoed = 0;
	for (unsigned i = 0; i < n; i++) {
		union tern_addr from;
		int len = peer_recv(p, buf, sizeof(buf), &from, timeout_ms);
		if (len < 0)
			break;
		if (expect_from && !addr_equal(&from, expect_from)) {
			if (foreign)
				(*foreign)++;
			continue;
		}
		if (peer_send(p, &from, buf, (size_t)len) == 0)
			echoed++;
	}
	return echoed;
}

unsigned peer_drain(struct peer *p, int timeout_ms, size_t *bytes)
{
	static uint8_t buf[65536];
	unsigned count = 0;
	int64_t deadline = it_now_ms() + timeout_ms;
	if (bytes)
		*bytes = 0;
	for (;;) {
		int64_t left = deadline - it_now_ms();
		if (left < 0)
			left = 0;
		int n = peer_recv(p, buf, sizeof(buf), NULL, (int)left);
		if (n < 0)
			break;
		count++;
		if (bytes)
			*bytes += (size_t)n;
	}
	return count;
}
