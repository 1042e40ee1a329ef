/* tern bench: client transports of the connection modes (--churn,
 * --idle). Plain TCP here; a TLS table would wrap the same socket and run
 * its handshake in ready(). See struct bench_xprt in tools.h. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools/tools.h"

static int tcp_open(struct bench_xconn *x, const union tern_addr *src, const union tern_addr *dst)
{
	int one = 1, err;
	x->tls = NULL;
	x->fd = socket(dst->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0)
		return -errno;
	/* Answers are written as soon as they are built: no Nagle delay
	 * between a request and the next one. */
	(void)setsockopt(x->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (src->sa.sa_family) {
		/* The port is chosen at connect() for the whole 4-tuple, not at
		 * bind() for the address alone: an address then serves ~28k
		 * connections per server port instead of ~28k in all, and loopback
		 * TIME_WAIT ports are reused (tcp_tw_reuse). */
		(void)setsockopt(x->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(x->fd, &src->sa, addr_len(src)) < 0) {
			err = -errno;
			goto fail;
		}
	}
	if (connect(x->fd, &dst->sa, addr_len(dst)) < 0 && errno != EINPROGRESS) {
		err = -errno;
		goto fail;
	}
	return 0;
fail:
	close(x->fd);
	x->fd = -1;
	return err;
}

static int tcp_ready(struct bench_xconn *x, uint32_t *events)
{
	(void)x;
	(void)events;
	return 1;
}

static ssize_t tcp_recv(struct bench_xconn *x, void *buf, size_t cap)
{
	ssize_t n = recv(x->fd, buf, cap, MSG_DONTWAIT);
	if (n >= 0)
		return n;
	return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

static ssize_t tcp_send(struct bench_xconn *x, const void *buf, size_t len)
{
	ssize_t n = send(x->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n >= 0)
		return n;
	return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

static void tcp_close(struct bench_xconn *x, bool abort)
{
	if (x->fd < 0)
		return;
	if (abort) {
		struct linger l = {.l_onoff = 1, .l_linger = 0};
		(void)setsockopt(x->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(x->fd);
	x->fd = -1;
}

const struct bench_xprt bench_xprt_tcp = {
    .name = "tcp",
    .open = tcp_open,
    .ready = tcp_ready,
    .recv = tcp_recv,
    .send = tcp_send,
    .close = tcp_close,
};
