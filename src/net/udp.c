#include "net/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <unistd.h>

/* EINTR on a nonblocking send is rare (a signal during the copy); a few
 * retries cover it without any chance of spinning. */
#define TX_EINTR_RETRIES 3

static int set_int(int fd, int level, int name, int v)
{
	if (setsockopt(fd, level, name, &v, sizeof v) < 0)
		return -errno;
	return 0;
}

static int set_buf(int fd, int force_name, int name, int bytes)
{
	if (bytes <= 0)
		return 0;
	/* The FORCE variant needs CAP_NET_ADMIN; without it fall back. */
	if (set_int(fd, SOL_SOCKET, force_name, bytes) == 0)
		return 0;
	return set_int(fd, SOL_SOCKET, name, bytes);
}

int udp_open(const union tern_addr *addr, unsigned flags, int rcvbuf, int sndbuf, union tern_addr *bound)
{
	int family = addr->sa.sa_family;
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;

	int type = SOCK_DGRAM | SOCK_CLOEXEC;
	if (flags & UDP_F_NONBLOCK)
		type |= SOCK_NONBLOCK;
	int fd = socket(family, type, 0);
	if (fd < 0)
		return -errno;

	int err = 0;
	if ((flags & UDP_F_REUSEPORT) && (err = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
		goto fail;
	if (family == AF_INET6 &&
	    (err = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, (flags & UDP_F_V6ONLY) ? 1 : 0)) < 0)
		goto fail;
	if (flags & UDP_F_FREEBIND) {
		err = family == AF_INET6 ? set_int(fd, IPPROTO_IPV6, IPV6_FREEBIND, 1)
		                         : set_int(fd, IPPROTO_IP, IP_FREEBIND, 1);
		if (err < 0)
			goto fail;
	}
	if ((err = set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf)) < 0)
		goto fail;
	if ((err = set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf)) < 0)
		goto fail;
	if (bind(fd, &addr->sa, addr_len(addr)) < 0) {
		err = -errno;
		goto fail;
	}
	if (bound) {
		union tern_addr a;
		socklen_t len = sizeof a;
		if (getsockname(fd, &a.sa, &len) < 0) {
			err = -errno;
			goto fail;
		}
		if ((err = addr_from_sockaddr(bound, &a.sa, len)) < 0)
			goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

void udp_rx_init(struct udp_rx *rx)
{
	memset(rx->msg, 0, sizeof rx->msg);
	rx->count = 0;
	for (unsigned i = 0; i < NET_BATCH; i++) {
		rx->iov[i] = (struct iovec){.iov_base = rx->buf[i], .iov_len = NET_RX_SLOT};
		rx->msg[i].msg_hdr.msg_name = &rx->src[i];
		rx->msg[i].msg_hdr.msg_namelen = sizeof rx->src[i];
		rx->msg[i].msg_hdr.msg_iov = &rx->iov[i];
		rx->msg[i].msg_hdr.msg_iovlen = 1;
	}
}

int udp_recv_batch(int fd, struct udp_rx *rx, unsigned max)
{
	rx->count = 0;
	if (max > NET_BATCH)
		max = NET_BATCH;
	if (max == 0)
		return 0;
	/* The kernel overwrites msg_namelen with the sender's length; a
	 * shorter value left from an IPv4 sender would truncate an IPv6 one. */
	for (unsigned i = 0; i < max; i++)
		rx->msg[i].msg_hdr.msg_namelen = sizeof rx->src[i];
	int n = recvmmsg(fd, rx->msg, max, MSG_DONTWAIT, NULL);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
	rx->count = (unsigned)n;
	return n;
}

void udp_tx_init(struct udp_tx *tx)
{
	memset(tx->msg, 0, sizeof tx->msg);
	memset(&tx->stats, 0, sizeof tx->stats);
	tx->count = 0;
	/* msg[i] always describes e[i], so the pointers are wired once. */
	for (unsigned i = 0; i < NET_BATCH; i++)
		tx->msg[i].msg_hdr.msg_iov = tx->e[i].iov;
}

struct udp_tx_entry *udp_tx_add(struct udp_tx *tx, int fd, const union tern_addr *dst)
{
	if (tx->count == NET_BATCH)
		udp_tx_flush(tx);
	struct udp_tx_entry *e = &tx->e[tx->count++];
	e->fd = fd;
	if (dst)
		e->dst = *dst;
	else
		e->dst.sa.sa_family = AF_UNSPEC;
	e->iovcnt = 0;
	return e;
}

/* Send e[i..end), all on one fd. */
static void tx_run(struct udp_tx *tx, unsigned i, unsigned end)
{
	int fd = tx->e[i].fd;
	unsigned eintr = 0;
	while (i < end) {
		int n = sendmmsg(fd, &tx->msg[i], end - i, MSG_DONTWAIT);
		tx->stats.calls++;
		if (n > 0) {
			tx->stats.sent += (unsigned)n;
			i += (unsigned)n;
			continue;
		}
		if (n < 0 && errno == EINTR && eintr++ < TX_EINTR_RETRIES)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			tx->stats.dropped += end - i;
			return;
		}
		/* The error belongs to msg[i] alone (bad or unreachable
		 * destination, too big...): drop it, the others may pass. */
		tx->stats.dropped++;
		i++;
	}
}

void udp_tx_flush(struct udp_tx *tx)
{
	unsigned i = 0;
	while (i < tx->count) {
		unsigned end = i;
		for (; end < tx->count && tx->e[end].fd == tx->e[i].fd; end++) {
			struct udp_tx_entry *e = &tx->e[end];
			struct msghdr *h = &tx->msg[end].msg_hdr;
			if (e->dst.sa.sa_family == AF_UNSPEC) {
				h->msg_name = NULL;
				h->msg_namelen = 0;
			} else {
				h->msg_name = &e->dst;
				h->msg_namelen = addr_len(&e->dst);
			}
			h->msg_iovlen = e->iovcnt;
		}
		tx_run(tx, i, end);
		i = end;
	}
	tx->count = 0;
}

int udp_set_dont_fragment(int fd, int family, bool df)
{
	int v4 = df ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT;
	if (family == AF_INET)
		return set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, v4);
	if (family != AF_INET6)
		return -EAFNOSUPPORT;
	int err = set_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, df ? IPV6_PMTUDISC_DO : IPV6_PMTUDISC_DONT);
	if (err < 0)
		return err;
	/* A v6-only socket never sends IPv4; anywhere else v4-mapped
	 * destinations follow the IPv4 setting. */
	return set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, v4);
}

bool udp_probe_gso(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	/* Any segment size works for the probe; 1200 is a typical QUIC/RTP one. */
	bool ok = set_int(fd, SOL_UDP, UDP_SEGMENT, 1200) == 0;
	close(fd);
	return ok;
}
